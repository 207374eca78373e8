//! Benchmarks for `uri_template`: matching and expansion of MCP-style
//! resource templates.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_core::uri_template::{UriTemplate, Value};

fn bench_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("uri_template/match_uri");

    let kpi = UriTemplate::parse("kpi://reports/{year}/{month}").unwrap();
    group.bench_function("kpi_reports", |b| {
        b.iter(|| black_box(&kpi).match_uri(black_box("kpi://reports/2024/05")))
    });
    group.bench_function("kpi_reports_miss", |b| {
        b.iter(|| black_box(&kpi).match_uri(black_box("kpi://reports/2024/05/extra")))
    });

    let users = UriTemplate::parse("https://api.example.com/users/{id}{?fields,page}").unwrap();
    group.bench_function("users_query", |b| {
        b.iter(|| {
            black_box(&users).match_uri(black_box(
                "https://api.example.com/users/42?fields=name,email&page=2",
            ))
        })
    });
    group.bench_function("users_no_query", |b| {
        b.iter(|| black_box(&users).match_uri(black_box("https://api.example.com/users/42")))
    });

    let repo = UriTemplate::parse("repo://{owner}/{repo}/blob/{+path}").unwrap();
    group.bench_function("repo_blob_reserved", |b| {
        b.iter(|| {
            black_box(&repo).match_uri(black_box(
                "repo://octo/hello-world/blob/src/very/deep/path/to/some%20file.rs",
            ))
        })
    });
    group.finish();
}

fn bench_expand(c: &mut Criterion) {
    let mut group = c.benchmark_group("uri_template/expand");

    let kpi = UriTemplate::parse("kpi://reports/{year}/{month}").unwrap();
    let kpi_vars = [("year", "2024"), ("month", "05")];
    group.bench_function("kpi_reports", |b| {
        b.iter(|| black_box(&kpi).expand(black_box(&kpi_vars)))
    });

    let users = UriTemplate::parse("https://api.example.com/users/{id}{?fields,page}").unwrap();
    let users_vars = [
        ("id", Value::from("42")),
        ("fields", Value::from(vec!["name", "email"])),
        ("page", Value::from("2")),
    ];
    group.bench_function("users_query", |b| {
        b.iter(|| black_box(&users).expand(black_box(&users_vars)))
    });

    let mut buf = String::with_capacity(128);
    group.bench_function("users_query_into_reused_buffer", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&users).expand_into(black_box(&users_vars), &mut buf);
            black_box(buf.len())
        })
    });
    group.finish();
}

fn bench_parse(c: &mut Criterion) {
    c.bench_function("uri_template/parse/users_query", |b| {
        b.iter(|| {
            UriTemplate::parse(black_box(
                "https://api.example.com/users/{id}{?fields,page}",
            ))
        })
    });
}

criterion_group!(benches, bench_match, bench_expand, bench_parse);
criterion_main!(benches);
