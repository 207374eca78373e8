//! The whole security stack over Streamable HTTP: bearer tokens from a local authorization server, the
//! identity in the handler, 403 `insufficient_scope` for a tool's missing scope, roles hiding
//! tools, and legacy sessions bound to their principal.

use std::time::Duration;

use mcp_server::http::auth::testing::TestAuthServer;
use mcp_server::http::auth::{Jwks, JwtValidator, ResourceServer};
use mcp_server::http::{self, HttpConfig};
use mcp_server::{Context, Server, tool};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Reads a metric.
#[tool(read_only, scopes = ["kpi:read"])]
fn read_metric(metric: String) -> String {
    format!("{metric}: 42")
}

/// Deletes a metric.
#[tool(destructive, scopes = ["kpi:admin"])]
fn delete_metric(metric: String) -> String {
    format!("deleted {metric}")
}

/// Only for auditors.
#[tool(read_only, roles = ["auditor"])]
fn audit_log() -> String {
    "log".into()
}

/// Who is calling, as the handler sees it.
#[tool(read_only, public)]
fn whoami(cx: Context) -> String {
    let id = cx.identity().expect("authenticated");
    format!(
        "{} scopes={:?} roles={:?}",
        id.subject(),
        id.scopes(),
        id.roles()
    )
}

struct Fixture {
    authz: TestAuthServer,
    url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Fixture {
    let authz = TestAuthServer::start().await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let validator = JwtValidator::new(&url, authz.issuer(), Jwks::url(authz.jwks_url()));
    let rs = ResourceServer::new(&url, authz.issuer(), validator)
        .unwrap()
        .scopes_supported(["kpi:read", "kpi:admin"]);
    let server = Server::new("secure", "1.0.0")
        .require_authorization()
        .tool(ReadMetric)
        .tool(DeleteMetric)
        .tool(AuditLog)
        .tool(Whoami);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(http::serve(
        server,
        HttpConfig::new().auth(rs),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    Fixture {
        authz,
        url,
        _stop: stop,
    }
}

impl Fixture {
    fn token(&self, subject: &str, scopes: &[&str], roles: &[&str]) -> String {
        let mut claims = self.authz.claims(&self.url, subject, scopes);
        claims["roles"] = json!(roles);
        self.authz.token(&claims)
    }
}

fn modern(method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
}

async fn post(
    url: &str,
    token: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, String, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new()
        .post(url)
        .timeout(Duration::from_secs(10))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let r = request.body(body.to_string()).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let challenge = headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, challenge, value, headers)
}

async fn call(fx: &Fixture, token: &str, tool: &str, args: Value) -> (u16, String, Value) {
    let body = modern("tools/call", json!({"name": tool, "arguments": args}));
    let headers = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", tool),
    ];
    let (s, c, v, _) = post(&fx.url, token, &body, &headers).await;
    (s, c, v)
}

#[tokio::test]
async fn the_identity_of_the_token_reaches_the_handler() {
    let fx = start().await;
    let token = fx.token("alice", &["kpi:read"], &["analyst"]);
    let (status, _, r) = call(&fx, &token, "whoami", json!({})).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        r["result"]["content"][0]["text"],
        "alice scopes={\"kpi:read\"} roles={\"analyst\"}"
    );
    let (status, _, r) = call(&fx, &token, "read_metric", json!({"metric": "mrr"})).await;
    assert_eq!(status, 200);
    assert_eq!(r["result"]["content"][0]["text"], "mrr: 42");
}

#[tokio::test]
async fn a_missing_scope_is_403_insufficient_scope_naming_it() {
    let fx = start().await;
    let token = fx.token("alice", &["kpi:read"], &[]);
    let (status, challenge, r) = call(&fx, &token, "delete_metric", json!({"metric": "mrr"})).await;
    assert_eq!(status, 403, "{r}");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.contains(r#"scope="kpi:admin""#)
            && challenge.contains("resource_metadata="),
        "{challenge}"
    );
    assert_eq!(r["error"]["data"]["scopes"], json!(["kpi:admin"]));
    // With the scope, the same call goes through.
    let admin = fx.token("alice", &["kpi:read", "kpi:admin"], &[]);
    let (status, _, r) = call(&fx, &admin, "delete_metric", json!({"metric": "mrr"})).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["result"]["content"][0]["text"], "deleted mrr");
}

#[tokio::test]
async fn roles_hide_tools_from_lists_and_refuse_calls() {
    let fx = start().await;
    let list = |token: String| {
        let url = fx.url.clone();
        async move {
            let body = modern("tools/list", json!({}));
            let headers = [
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/list"),
            ];
            let (_, _, v, _) = post(&url, &token, &body, &headers).await;
            let mut names: Vec<String> = v["result"]["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect();
            names.sort();
            names
        }
    };
    let analyst = fx.token("alice", &["kpi:read"], &["analyst"]);
    assert_eq!(list(analyst.clone()).await, ["read_metric", "whoami"]);
    let auditor = fx.token("carol", &["kpi:read"], &["auditor"]);
    assert_eq!(list(auditor).await, ["audit_log", "read_metric", "whoami"]);
    let (status, _, r) = call(&fx, &analyst, "audit_log", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(r["error"]["data"]["reason"], "forbidden", "{r}");
}

#[tokio::test]
async fn a_legacy_session_belongs_to_its_principal() {
    let fx = start().await;
    let alice = fx.token("alice", &["kpi:read"], &[]);
    let bob = fx.token("bob", &["kpi:read"], &[]);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    let (status, _, _, headers) = post(&fx.url, &alice, &init, &[]).await;
    assert_eq!(status, 200);
    let session = headers
        .get("mcp-session-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let h = [
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, ..) = post(&fx.url, &alice, &initialized, &h).await;
    assert_eq!(status, 202);
    let whoami = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}}});
    // Another principal with the session id: as if there were no such session.
    let (status, _, _, _) = post(&fx.url, &bob, &whoami, &h).await;
    assert_eq!(status, 404);
    // Its owner is served.
    let (status, _, v, _) = post(&fx.url, &alice, &whoami, &h).await;
    assert_eq!(status, 200, "{v}");
    assert!(
        v["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("alice"),
        "{v}"
    );
}
