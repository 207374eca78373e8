//! A `tools/call` through the Streamable HTTP endpoint's router ([`McpService::router`]), in
//! process, in both eras as `http-load` sends it: modern (the `MCP-Protocol-Version`,
//! `Mcp-Method` and `Mcp-Name` headers, `_meta` in the params) and in a legacy session (after
//! `initialize`, with `Mcp-Session-Id`); the JSON answer read back whole. No socket and no hyper:
//! what this crate's HTTP layer and server cost per request, on one thread, without the kernel's
//! loopback and the scheduler's noise that `scripts/bench-peers` measures with them. Each era
//! twice: open (no authentication, a public tool, no audit), and secure as `secure-http` runs
//! (`*_secure`: a JWT checked against a JWKS, a scoped tool, validated arguments, a hash-chained
//! audit file): the difference is what the security stack costs a request.
//!
//! Before measuring, the bench prints how many allocations one such request makes (a counting
//! global allocator): allocation is a large share of the HTTP path's profile. Run with a filter
//! that matches no case (`--bench nomatch`), it does only that: 2,000 calls of each case, a fixed
//! workload whose instruction count under `valgrind --tool=cachegrind` repeats exactly where
//! times on a shared machine do not. `HTTP_BENCH_CASES=modern_tools_call_secure` (names
//! separated by commas) runs only those cases.

use std::alloc::System;
use std::hint::black_box;

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use mcp_server::audit::{Audit, JsonlSink, TracingSink};
use mcp_server::http::auth::testing::TestAuthServer;
use mcp_server::http::auth::{Jwks, JwtValidator, ResourceServer};
use mcp_server::http::{HttpConfig, McpService};
use mcp_server::types::{CallToolResult, ContentBlock, JsonObject, Tool};
use mcp_server::{Context, Policy, Server, ToolHandler};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::ServiceExt;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The text tool of the side-by-side benchmark (`test_simple_text`): public, or (`scoped`)
/// for callers with the scope `calc` only.
struct SimpleText {
    scoped: bool,
}

impl ToolHandler for SimpleText {
    fn definition(&self) -> Tool {
        Tool::new("test_simple_text", JsonObject::new())
    }
    fn policy(&self) -> Policy {
        Policy {
            scopes: if self.scoped {
                vec!["calc".to_owned()]
            } else {
                Vec::new()
            },
            ..Policy::public()
        }
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
fn request(body: &'static str, session: Option<&str>, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::post("/mcp")
        .header("host", "127.0.0.1:8000")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
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

async fn call(router: &axum::Router, session: Option<&str>, token: Option<&str>) -> bytes::Bytes {
    let body = if session.is_some() { LEGACY_BODY } else { BODY };
    let response = router
        .clone()
        .oneshot(request(body, session, token))
        .await
        .expect("infallible");
    assert!(response.status().is_success(), "{}", response.status());
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the body")
}

/// Starts a legacy session: `initialize`, then `notifications/initialized`.
async fn legacy_session(router: &axum::Router, token: Option<&str>) -> String {
    let init = format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{LEGACY}","capabilities":{{}},"clientInfo":{{"name":"http-load","version":"0.1.0"}}}}}}"#
    );
    let mut init_request = Request::post("/mcp")
        .header("host", "127.0.0.1:8000")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(token) = token {
        init_request = init_request.header("authorization", format!("Bearer {token}"));
    }
    let response = router
        .clone()
        .oneshot(init_request.body(Body::from(init)).expect("a request"))
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
            token,
        ))
        .await
        .expect("infallible");
    assert!(response.status().is_success(), "{}", response.status());
    session
}

/// The URL the requests name (`host`): the protected resource's identifier.
const RESOURCE: &str = "http://127.0.0.1:8000/mcp";

/// The router of the open server (no authentication, a public tool, no audit) and of the secure
/// one, as `secure-http` runs: a JWT checked against the JWKS of a local authorization server,
/// the tool for scope `calc` only, the arguments validated, and every decision in a
/// hash-chained JSON Lines file (in `dir`). Returns them with a token for the secure one.
async fn routers(dir: &std::path::Path) -> (axum::Router, axum::Router, String, TestAuthServer) {
    let open = Server::new("bench", "1").tool(SimpleText { scoped: false });
    let open = McpService::new(open, HttpConfig::new()).router();
    let authz = TestAuthServer::start()
        .await
        .expect("the authorization server");
    let validator = JwtValidator::new(RESOURCE, authz.issuer(), Jwks::url(authz.jwks_url()));
    let resource =
        ResourceServer::new(RESOURCE, authz.issuer(), validator).expect("a resource server");
    let sink = JsonlSink::builder(dir.join("audit.jsonl"))
        .chained()
        .open()
        .expect("the audit file");
    let secure = Server::new("bench", "1")
        .require_authorization()
        .audit(Audit::new().with_sink(sink).with_sink(TracingSink))
        .tool(SimpleText { scoped: true });
    let secure = McpService::new(secure, HttpConfig::new().auth(resource)).router();
    let token = authz.access_token(RESOURCE, "bench", &["calc"]);
    (open, secure, token, authz)
}

fn tools_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (open, secure, token, _authz) = rt.block_on(routers(dir.path()));
    let session = rt.block_on(legacy_session(&open, None));
    let secure_session = rt.block_on(legacy_session(&secure, Some(&token)));
    // `HTTP_BENCH_CASES` (names separated by commas) runs only those: the instruction count of
    // one case under `cachegrind`.
    let only = std::env::var("HTTP_BENCH_CASES").ok();
    let mut group = c.benchmark_group("http");
    for (name, router, session, token) in [
        ("modern_tools_call", &open, None, None),
        ("legacy_tools_call", &open, Some(session.as_str()), None),
        (
            "modern_tools_call_secure",
            &secure,
            None,
            Some(token.as_str()),
        ),
        (
            "legacy_tools_call_secure",
            &secure,
            Some(secure_session.as_str()),
            Some(token.as_str()),
        ),
    ] {
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|n| n == name))
        {
            continue;
        }
        let answer = rt.block_on(call(router, session, token));
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
                call(router, session, token).await;
            }
            let region = Region::new(GLOBAL);
            for _ in 0..N {
                call(router, session, token).await;
            }
            let stats = region.change();
            let per_call = (stats.allocations + stats.reallocations) as f64 / N as f64;
            eprintln!("http/{name}: {per_call:.1} allocations (and reallocations) per request");
        });
        group.bench_function(name, |b| {
            b.iter(|| rt.block_on(async { black_box(call(router, session, token).await) }))
        });
    }
    group.finish();
}

criterion_group!(benches, tools_call);
criterion_main!(benches);
