//! What an audit record costs the request that writes it: a `tools/call` request record as
//! canonical JSON (the text a chained file hashes and stores), and the hash of its arguments.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_server::audit::{AuditKind, AuditRecord, Decision, Outcome, hash_arguments};
use mcp_server::mcp_core::RequestId;
use std::time::Duration;

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
    group.finish();
}

criterion_group!(benches, records);
criterion_main!(benches);
