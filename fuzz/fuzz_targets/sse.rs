//! The SSE parser on arbitrary bytes, cut in chunks (the first byte picks the chunk size), with
//! small limits.
//!
//! Checks: no panic; no event larger than the limit; once failed, the parser stays failed with
//! the same error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_core::sse::{SseLimits, SseParser};

const MAX_EVENT: usize = 512;

fuzz_target!(|data: &[u8]| {
    let (head, rest) = data.split_first().map_or((0, data), |(h, r)| (*h, r));
    let chunk = usize::from(head % 32) + 1;
    let mut parser = SseParser::new(SseLimits {
        max_event_size: MAX_EVENT,
        max_comment_lines: 16,
    });
    let mut failed = None;
    for part in rest.chunks(chunk) {
        match parser.push(part) {
            Ok(events) => {
                assert!(failed.is_none(), "a failed parser stays failed");
                for event in events {
                    assert!(event.data.len() <= MAX_EVENT);
                }
            }
            Err(e) => {
                if let Some(before) = &failed {
                    assert_eq!(before, &e);
                }
                failed = Some(e);
            }
        }
    }
});
