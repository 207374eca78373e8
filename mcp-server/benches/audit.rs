//! What an audit record costs the request that writes it: a `tools/call` request record as
//! canonical JSON (the text a chained file hashes and stores), and the hash of its arguments;
//! and records through a chained [`JsonlSink`] from two threads at once, until they are written.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_server::audit::{
    AuditKind, AuditRecord, AuditSink, Decision, JsonlSink, Outcome, hash_arguments,
};
use mcp_server::mcp_core::RequestId;
use std::time::{Duration, Instant};

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

criterion_group!(benches, records);
criterion_main!(benches);
