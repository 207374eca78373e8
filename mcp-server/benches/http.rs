//! A `tools/call` through the Streamable HTTP endpoint's router ([`McpService::router`]), in
//! process, in both eras as `http-load` sends it: modern (the `MCP-Protocol-Version`,
//! `Mcp-Method` and `Mcp-Name` headers, `_meta` in the params) and in a legacy session (after
//! `initialize`, with `Mcp-Session-Id`); the JSON answer read back whole. No socket and no hyper:
//! what this crate's HTTP layer and server cost per request, on one thread, without the kernel's
//! loopback and the scheduler's noise that `scripts/bench-peers` measures with them.
//!
//! Before measuring, the bench prints how many allocations one such request makes (a counting
//! global allocator): allocation is a large share of the HTTP path's profile. Run with a filter
//! that matches no case (`--bench nomatch`), it does only that: 2,000 calls of each era, a fixed
//! workload whose instruction count under `valgrind --tool=cachegrind` repeats exactly where
//! times on a shared machine do not.

use std::alloc::System;
use std::hint::black_box;

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use mcp_server::http::{HttpConfig, McpService};
use mcp_server::types::{CallToolResult, ContentBlock, JsonObject, Tool};
use mcp_server::{Context, Policy, Server, ToolHandler};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::ServiceExt;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The text tool of the side-by-side benchmark (`test_simple_text`).
struct SimpleText;

impl ToolHandler for SimpleText {
    fn definition(&self) -> Tool {
        Tool::new("test_simple_text", JsonObject::new())
    }
    fn policy(&self) -> Policy {
        Policy::public()
    }
    async fn call(&self, _cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        Ok(CallToolResult::success(vec![ContentBlock::text(
            "This is a simple text response for testing.",
        )]))
    }
}

const BODY: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"http-load","version":"0.1.0"},"io.modelcontextprotocol/protocolVersion":"2026-07-28"},"arguments":{},"name":"test_simple_text"}}"#;
const LEGACY_BODY: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":{},"name":"test_simple_text"}}"#;
const LEGACY: &str = "2025-11-25";

/// A POST as `http-load` sends it, with the era's headers: modern without a session, legacy in
/// `session`.
fn request(body: &'static str, session: Option<&str>) -> Request<Body> {
    let builder = Request::post("/mcp")
        .header("host", "127.0.0.1:8000")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    let builder = match session {
        None => builder
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "test_simple_text"),
        Some(id) => builder
            .header("mcp-protocol-version", LEGACY)
            .header("mcp-session-id", id),
    };
    builder.body(Body::from(body)).expect("a request")
}

async fn call(router: &axum::Router, session: Option<&str>) -> bytes::Bytes {
    let body = if session.is_some() { LEGACY_BODY } else { BODY };
    let response = router
        .clone()
        .oneshot(request(body, session))
        .await
        .expect("infallible");
    assert!(response.status().is_success(), "{}", response.status());
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the body")
}

/// Starts a legacy session: `initialize`, then `notifications/initialized`.
async fn legacy_session(router: &axum::Router) -> String {
    let init = format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{LEGACY}","capabilities":{{}},"clientInfo":{{"name":"http-load","version":"0.1.0"}}}}}}"#
    );
    let response = router
        .clone()
        .oneshot(
            Request::post("/mcp")
                .header("host", "127.0.0.1:8000")
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(Body::from(init))
                .expect("a request"),
        )
        .await
        .expect("infallible");
    assert!(response.status().is_success(), "{}", response.status());
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let response = router
        .clone()
        .oneshot(request(
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            Some(&session),
        ))
        .await
        .expect("infallible");
    assert!(response.status().is_success(), "{}", response.status());
    session
}

fn tools_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let server = Server::new("bench", "1").tool(SimpleText);
    let router = rt.block_on(async { McpService::new(server, HttpConfig::new()).router() });
    let session = rt.block_on(legacy_session(&router));
    let mut group = c.benchmark_group("http");
    for (name, session) in [
        ("modern_tools_call", None),
        ("legacy_tools_call", Some(session.as_str())),
    ] {
        let answer = rt.block_on(call(&router, session));
        assert!(
            std::str::from_utf8(&answer)
                .expect("UTF-8")
                .contains("simple text response"),
            "{answer:?}"
        );
        // Allocations per request, after warming up.
        const N: u64 = 1000;
        rt.block_on(async {
            for _ in 0..N {
                call(&router, session).await;
            }
            let region = Region::new(GLOBAL);
            for _ in 0..N {
                call(&router, session).await;
            }
            let stats = region.change();
            let per_call = (stats.allocations + stats.reallocations) as f64 / N as f64;
            eprintln!("http/{name}: {per_call:.1} allocations (and reallocations) per request");
        });
        group.bench_function(name, |b| {
            b.iter(|| rt.block_on(async { black_box(call(&router, session).await) }))
        });
    }
    group.finish();
}

criterion_group!(benches, tools_call);
criterion_main!(benches);
