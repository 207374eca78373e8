//! Benchmarks of the newline-delimited JSON codec: decoding and encoding a `tools/call` request
//! and its result, small and with a 64 KiB text payload.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcp_core::codec::{LineDecoder, encode};
use mcp_core::jsonrpc::{JsonRpcMessage, JsonRpcRequest, JsonRpcResponse, RequestId};
use mcp_core::messages::ClientRequest;
use mcp_core::types::{CallToolResult, ContentBlock};
use serde_json::json;

/// About `len` bytes of text with the escapes real text needs (quotes, newlines, non-ASCII).
fn text(len: usize) -> String {
    let sentence = "The quick brown fox \"jumps\" over the lazy dog, naïvely.\n";
    sentence.repeat(len / sentence.len() + 1)[..len].to_owned()
}

/// A `tools/call` request and its `CallToolResult`-shaped response, each carrying `text`.
fn messages(text: &str) -> [(&'static str, JsonRpcMessage); 2] {
    let request = JsonRpcRequest::new(
        42,
        "tools/call",
        &json!({
            "name": "summarize",
            "arguments": { "text": text, "maxWords": 100 },
            "_meta": { "progressToken": "tok-1" },
        }),
    )
    .expect("request");
    let response = JsonRpcResponse::new(
        RequestId::Number(42),
        &json!({
            "content": [{ "type": "text", "text": text }],
            "isError": false,
        }),
    )
    .expect("response");
    [("request", request.into()), ("result", response.into())]
}

fn bench_codec(c: &mut Criterion) {
    for (size, text) in [("small", text(32)), ("64KiB", text(64 * 1024))] {
        for (kind, msg) in messages(&text) {
            let mut line = Vec::new();
            encode(&msg, &mut line);

            let mut group = c.benchmark_group(format!("codec/{kind}/{size}"));
            group.throughput(Throughput::Bytes(line.len() as u64));

            group.bench_function("decode", |b| {
                let mut decoder = LineDecoder::default();
                b.iter(|| {
                    decoder.push(black_box(&line));
                    let msg = decoder.decode_next().expect("a line").expect("a message");
                    black_box(msg)
                });
            });

            group.bench_function("decode_4KiB_chunks", |b| {
                let mut decoder = LineDecoder::default();
                b.iter(|| {
                    let mut decoded = None;
                    for chunk in black_box(&line).chunks(4096) {
                        decoder.push(chunk);
                        if let Some(outcome) = decoder.decode_next() {
                            decoded = Some(outcome.expect("a message"));
                        }
                    }
                    black_box(decoded.expect("a line"))
                });
            });

            // What a server or client does with the line: the envelope, then the typed payload.
            group.bench_function("decode_typed", |b| {
                let mut decoder = LineDecoder::default();
                b.iter(|| {
                    decoder.push(black_box(&line));
                    match decoder.decode_next().expect("a line").expect("a message") {
                        JsonRpcMessage::Request(r) => {
                            let typed = ClientRequest::parse(&r.method, r.params.as_deref());
                            black_box(typed.expect("tools/call params"));
                        }
                        JsonRpcMessage::Response(r) => {
                            black_box(r.result::<CallToolResult>().expect("a CallToolResult"));
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                });
            });

            if kind == "result" {
                // From the typed result a handler returns to the bytes on the wire.
                let typed = CallToolResult::success(vec![ContentBlock::text(text.clone())]);
                group.bench_function("encode_typed", |b| {
                    let mut out = Vec::with_capacity(line.len());
                    b.iter(|| {
                        out.clear();
                        let response =
                            JsonRpcResponse::new(RequestId::Number(42), black_box(&typed))
                                .expect("serializes");
                        encode(&JsonRpcMessage::Response(response), &mut out);
                        black_box(out.len())
                    });
                });
            }

            group.bench_function("encode", |b| {
                let mut out = Vec::with_capacity(line.len());
                b.iter(|| {
                    out.clear();
                    encode(black_box(&msg), &mut out);
                    black_box(out.len())
                });
            });

            group.finish();
        }
    }
}

/// The era of a modern request from its params: the borrowed peek the server uses, against
/// parsing `_meta` into a map as it used to.
fn bench_meta_peek(c: &mut Criterion) {
    #[derive(serde::Deserialize)]
    struct WholeMeta {
        #[serde(rename = "_meta", default)]
        meta: Option<mcp_core::Meta>,
    }
    let params = r#"{"name":"test_simple_text","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"http-load","version":"0.1.0"}}}"#;
    let mut group = c.benchmark_group("meta/modern_request");
    group.bench_function("peek", |b| {
        b.iter(|| {
            let peek = mcp_core::meta::MetaPeek::of_params(black_box(params)).unwrap();
            (
                peek.protocol_version().is_some(),
                peek.has_client_capabilities(),
            )
        })
    });
    group.bench_function("whole_meta", |b| {
        b.iter(|| {
            let meta = serde_json::from_str::<WholeMeta>(black_box(params))
                .unwrap()
                .meta
                .unwrap_or_default();
            (
                meta.protocol_version().is_some(),
                meta.get_raw(mcp_core::meta::keys::CLIENT_CAPABILITIES)
                    .is_some_and(serde_json::Value::is_object),
            )
        })
    });
    group.finish();
}

/// A tool call's result as a client reads it (`Outcome::from_json`: read at once when the text
/// plainly is a complete result, else its `resultType` peeked first and the text read as that
/// type), against a JSON tree first (the `Deserialize` impl).
fn bench_outcome(c: &mut Criterion) {
    use mcp_core::types::{CallToolResult, Outcome};
    let results = [
        (
            "text",
            r#"{"content":[{"type":"text","text":"3"}],"isError":false}"#,
        ),
        (
            "structured",
            r#"{"content":[{"type":"text","text":"{\"sum\":3}"}],"structuredContent":{"sum":3},"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"calc","version":"0.1.0"}},"resultType":"complete"}"#,
        ),
    ];
    // A search-like result: twenty text blocks, each read as its type.
    let blocks = format!(
        r#"{{"content":[{}],"isError":false}}"#,
        vec![r#"{"type":"text","text":"a line of a search result, about fifty bytes"}"#; 20]
            .join(",")
    );
    let results = [results[0], results[1], ("twenty_blocks", blocks.as_str())];
    for (name, text) in results {
        let mut group = c.benchmark_group(format!("outcome/{name}"));
        group.bench_function("from_json", |b| {
            b.iter(|| Outcome::<CallToolResult>::from_json(black_box(text)).unwrap())
        });
        group.bench_function("through_a_tree", |b| {
            b.iter(|| serde_json::from_str::<Outcome<CallToolResult>>(black_box(text)).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, bench_codec, bench_meta_peek, bench_outcome);
criterion_main!(benches);
