//! The JSON-RPC codec on arbitrary bytes: `decode` of a whole message, and `LineDecoder` on the
//! bytes cut in chunks (the first byte picks the chunk size) with a small size limit.
//!
//! Checks: no panic; every outcome (a message, or the error response for bad input) encodes to
//! one line that decodes to the same message; the decoder holds at most one line within the
//! limit and its buffer does not grow with the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_core::JsonRpcMessage;
use mcp_core::codec::{CodecConfig, DecodeError, LineDecoder, decode, encode};

const MAX: usize = 256;

fn check(outcome: Result<JsonRpcMessage, DecodeError>) {
    let message = match outcome {
        Ok(m) => m,
        Err(e) => JsonRpcMessage::Error(e.into_response()),
    };
    let mut line = Vec::new();
    encode(&message, &mut line);
    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    let again = decode(&line[..line.len() - 1], &CodecConfig::default())
        .expect("an encoded message decodes");
    let mut line_again = Vec::new();
    encode(&again, &mut line_again);
    assert_eq!(line, line_again);
}

fuzz_target!(|data: &[u8]| {
    check(decode(data, &CodecConfig::default()));

    let (head, rest) = data.split_first().map_or((0, data), |(h, r)| (*h, r));
    let chunk = usize::from(head % 64) + 1;
    let mut decoder = LineDecoder::new(CodecConfig::default().with_max_message_size(MAX));
    for part in rest.chunks(chunk) {
        decoder.push(part);
        while let Some(outcome) = decoder.decode_next() {
            check(outcome);
        }
        assert!(decoder.buffered_len() <= MAX + 1);
        assert!(decoder.buffer_capacity() <= 2 * (MAX + 2 + chunk));
    }
    while let Some(outcome) = decoder.finish() {
        check(outcome);
    }
});
