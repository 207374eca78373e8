//! What an audit record costs the request that writes it: a `tools/call` request record as
//! canonical JSON (the text a chained file hashes and stores), and the hash of its arguments;
//! records through a chained [`JsonlSink`] from two threads at once, until they are written; and
//! a `tools/call` end to end through the message-level entry (`Server::serve_channel`, modern
//! era) without an audit trail, with a sink that only takes the records (what building them
//! costs the call), and with a chained file.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_server::audit::{
    Audit, AuditKind, AuditRecord, AuditSink, Decision, JsonlSink, Outcome, hash_arguments,
};
use mcp_server::mcp_core::RequestId;
use mcp_server::types::{CallToolResult, ContentBlock, JsonObject, Tool};
use mcp_server::{Context, Policy, Server, ToolHandler};
use std::time::{Duration, Instant};

mod common;

fn records(c: &mut Criterion) {
    let arguments = serde_json::json!({ "a": 2, "b": 3, "note": "a short \"quoted\" note" });
    let arguments = arguments.as_object().expect("an object");
    let request = AuditRecord::new(AuditKind::Request, "tools/call")
        .with_subject("bench")
        .with_request_id(RequestId::Number(200_000))
        .with_item("add")
        .with_arguments(arguments, &[]);
    let decision = AuditRecord::new(AuditKind::Decision, "tools/call")
        .with_subject("bench")
        .with_request_id(RequestId::Number(200_000))
        .with_item("add")
        .with_decision(Decision::Allow, Some("scope tools:call"));
    let response = request
        .clone()
        .with_outcome(Outcome::Ok, None)
        .with_latency(Duration::from_micros(71));
    let mut group = c.benchmark_group("audit");
    group.bench_function("canonical_json/request", |b| {
        b.iter(|| black_box(&request).to_canonical_json())
    });
    group.bench_function("canonical_json/decision", |b| {
        b.iter(|| black_box(&decision).to_canonical_json())
    });
    group.bench_function("canonical_json/response", |b| {
        b.iter(|| black_box(&response).to_canonical_json())
    });
    group.bench_function("hash_arguments", |b| {
        b.iter(|| hash_arguments(black_box(arguments), &[]))
    });
    // Per record: two threads each queue half of the records (as two runtime workers would),
    // then the time until the writer thread has chained, written and flushed them all.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sink = JsonlSink::builder(dir.path().join("bench.jsonl"))
        .chained()
        .capacity(1 << 20)
        .open()
        .expect("the sink opens");
    group.bench_function("jsonl_sink/chained_two_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..iters.div_ceil(2) {
                            sink.record(black_box(&request));
                        }
                    });
                }
            });
            sink.flush().expect("the records are written");
            start.elapsed()
        })
    });
    group.finish();
    assert_eq!(sink.dropped(), 0, "no record was dropped");
}

/// Adds its two arguments.
struct Add;

impl ToolHandler for Add {
    fn definition(&self) -> Tool {
        Tool::new("add", JsonObject::new())
    }
    fn policy(&self) -> Policy {
        Policy::public()
    }
    async fn call(&self, _cx: Context, args: JsonObject) -> mcp_server::Result<CallToolResult> {
        let sum: f64 = args.values().filter_map(serde_json::Value::as_f64).sum();
        Ok(CallToolResult::success(vec![ContentBlock::text(
            sum.to_string(),
        )]))
    }
}

/// Takes each record and keeps nothing: what building the records costs.
struct Taken;

impl AuditSink for Taken {
    fn record(&self, record: &AuditRecord) {
        black_box(record);
    }
}

const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}}}"#;

fn calls(c: &mut Criterion) {
    // One thread: the call's cost, not that of waking another thread for each message.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut group = c.benchmark_group("audit/tools_call");
    for name in ["unaudited", "records_built", "chained_file"] {
        let server = Server::new("bench", "1").tool(Add);
        let server = match name {
            "records_built" => server.audit(Audit::new().with_sink(Taken)),
            "chained_file" => server.audit(
                Audit::new().with_sink(
                    JsonlSink::builder(dir.path().join("calls.jsonl"))
                        .chained()
                        .capacity(1 << 20)
                        .open()
                        .expect("the sink opens"),
                ),
            ),
            _ => server,
        };
        common::bench_call(&mut group, &rt, name, server, CALL);
    }
    group.finish();
}

criterion_group!(benches, records, calls);
criterion_main!(benches);
