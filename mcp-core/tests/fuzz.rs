//! The properties the fuzz targets (`fuzz/fuzz_targets/{codec,sse}.rs`) check, as proptests in the
//! default suite: arbitrary bytes never panic, every outcome is a well-formed JSON-RPC message or
//! a clear error, and memory stays bounded by the limits, not by the input.

use mcp_core::JsonRpcMessage;
use mcp_core::codec::{CodecConfig, DecodeError, LineDecoder, decode, encode};
use mcp_core::sse::{SseLimits, SseParser};
use proptest::prelude::*;

/// An outcome re-encodes to one line that decodes to the same message (same encoding again).
fn assert_well_formed(outcome: Result<JsonRpcMessage, DecodeError>) -> Result<(), TestCaseError> {
    let message = match outcome {
        Ok(m) => m,
        Err(e) => {
            let code = e.code();
            let response = e.into_response();
            prop_assert_eq!(response.error.code, code);
            JsonRpcMessage::Error(response)
        }
    };
    let mut line = Vec::new();
    encode(&message, &mut line);
    prop_assert_eq!(line.last(), Some(&b'\n'));
    prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    let again = decode(&line[..line.len() - 1], &CodecConfig::default());
    prop_assert!(
        again.is_ok(),
        "{} does not decode",
        String::from_utf8_lossy(&line)
    );
    let mut line_again = Vec::new();
    encode(&again.expect("checked"), &mut line_again);
    prop_assert_eq!(line_again, line);
    Ok(())
}

/// Bytes that are sometimes JSON-RPC: fragments of messages mixed with noise.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::sample::select(vec![
        &b"{"[..],
        b"}",
        b"[",
        b"]",
        b"\"jsonrpc\":\"2.0\"",
        b"\"id\":",
        b"1",
        b"-0.5e3",
        b"\"x\"",
        b"\"method\":\"tools/call\"",
        b"\"params\":",
        b"\"result\":{}",
        b"\"error\":{\"code\":-32600,\"message\":\"m\"}",
        b",",
        b":",
        b"null",
        b"\\u0000",
        b"\"\\ud800\"",
        b"\n",
        b"\r",
        b" ",
        b"\xff",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|p| p.concat())
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..512), jsonish()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_never_panics_and_answers_well_formed(bytes in bytes()) {
        assert_well_formed(decode(&bytes, &CodecConfig::default()))?;
    }

    #[test]
    fn the_line_decoder_stays_within_its_limits(
        stream in prop::collection::vec(bytes(), 1..12),
        max in 8usize..128,
        chunk in 1usize..96,
    ) {
        let stream = stream.concat();
        let config = CodecConfig::default().with_max_message_size(max);
        let mut decoder = LineDecoder::new(config);
        let mut outcomes = 0;
        for part in stream.chunks(chunk) {
            decoder.push(part);
            while let Some(outcome) = decoder.decode_next() {
                outcomes += 1;
                assert_well_formed(outcome)?;
            }
            // What is held is one unfinished line within the limit, whatever came before.
            prop_assert!(decoder.buffered_len() <= max + 1, "{} buffered", decoder.buffered_len());
            prop_assert!(
                decoder.buffer_capacity() <= 2 * (max + 2 + chunk),
                "capacity {} for limit {max}, chunks of {chunk}",
                decoder.buffer_capacity()
            );
        }
        while let Some(outcome) = decoder.finish() {
            outcomes += 1;
            assert_well_formed(outcome)?;
        }
        // At most one outcome per line.
        prop_assert!(outcomes <= stream.iter().filter(|&&b| b == b'\n').count() + 1);
    }

    #[test]
    fn the_sse_parser_never_panics_and_bounds_events(
        stream in prop::collection::vec(
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..64),
                prop::sample::select(vec![
                    b"data: x\n".to_vec(), b"data:\n".to_vec(), b"\n".to_vec(), b"\r\n".to_vec(),
                    b"\r".to_vec(), b": keep-alive\n".to_vec(), b"id: 7\n".to_vec(),
                    b"retry: 100\n".to_vec(), b"retry: x\n".to_vec(), b"event: message\n".to_vec(),
                    b"data: {\"jsonrpc\":\"2.0\"}\n\n".to_vec(), b"\xc3".to_vec(),
                ]),
            ],
            0..40,
        ),
        chunk in 1usize..64,
        max_event_size in 4usize..256,
        max_comment_lines in 1usize..8,
    ) {
        let stream = stream.concat();
        let mut parser = SseParser::new(SseLimits { max_event_size, max_comment_lines });
        let mut failed = None;
        for part in stream.chunks(chunk) {
            match parser.push(part) {
                Ok(events) => {
                    prop_assert!(failed.is_none(), "a failed parser stays failed");
                    for event in events {
                        prop_assert!(event.data.len() <= max_event_size);
                        prop_assert!(event.id.as_ref().is_none_or(|id| !id.contains('\0')));
                    }
                }
                Err(e) => {
                    if let Some(before) = &failed {
                        prop_assert_eq!(before, &e);
                    }
                    failed = Some(e);
                }
            }
        }
    }
}
