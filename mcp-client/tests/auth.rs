//! OAuth against a local fixture: our own MCP server behind a bearer check, plus a small
//! authorization server on the same origin, each knob a way the real world goes wrong.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use mcp_client::auth::{
    AuthError, AuthorizationHandler, BearerChallenge, HeadlessHandler, LoopbackHandler,
    OAuthConfig, StaticAssertion, UrlGuard,
};
use mcp_client::types::*;
use mcp_client::{Client, Error, HttpServer};
use mcp_server::http::{HttpConfig, McpService};
use mcp_server::{Context, Server, ToolHandler};
use serde_json::{Value, json};
use sha2::Digest;

struct Echo;
impl ToolHandler for Echo {
    fn definition(&self) -> Tool {
        Tool::new(
            "echo",
            serde_json::from_value(json!({"type": "object"})).unwrap(),
        )
    }
    async fn call(&self, _cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        Ok(CallToolResult::success(vec![ContentBlock::text("echoed")]))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Default)]
enum Iss {
    #[default]
    Correct,
    Wrong,
    Missing,
}

/// Ways the fixture can behave.
#[derive(Default)]
struct Knobs {
    iss: Iss,
    /// `code_challenge_methods_supported` (default `["S256"]`).
    pkce: Option<Vec<&'static str>>,
    /// `expires_in` of issued tokens (default 3600).
    expires_in: Option<u64>,
    /// Issue refresh tokens.
    refresh: bool,
    /// The `resource` of the protected resource metadata (default: the server URL).
    prm_resource: Option<String>,
    /// The `issuer` in the authorization server metadata (default: the origin).
    metadata_issuer: Option<String>,
    /// The `authorization_servers` entry (default: the origin).
    auth_server: Option<String>,
    /// The `resource_metadata` of the challenge (default: the path-aware well-known URL).
    challenge_prm: Option<String>,
    /// The well-known metadata answers with a redirect to this URL.
    prm_redirect: Option<String>,
    /// The scope `tools/call` needs beyond `tools:read`.
    call_scope: Option<&'static str>,
    /// A scope the token endpoint never grants.
    withhold: Option<&'static str>,
}

#[derive(Default)]
struct Fixture {
    knobs: Knobs,
    base: OnceLock<String>,
    /// `METHOD /path [mcp method] [bearer]` of every request.
    log: Mutex<Vec<String>>,
    tokens: Mutex<HashMap<String, Vec<String>>>,
    refresh_tokens: Mutex<HashMap<String, Vec<String>>>,
    challenge: Mutex<Option<(String, Vec<String>)>>,
    authorizations: Mutex<Vec<HashMap<String, String>>>,
    token_requests: Mutex<Vec<HashMap<String, String>>>,
    registrations: Mutex<Vec<Value>>,
    next: AtomicU64,
    /// When set, the protected resource metadata names this authorization server from now on.
    switch_to: Mutex<Option<String>>,
}

impl Fixture {
    fn base(&self) -> &str {
        self.base.get().unwrap()
    }
    fn url(&self) -> String {
        format!("{}/mcp", self.base())
    }
    fn log(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }
    /// The log with the port replaced, for snapshots.
    fn transcript(&self) -> Vec<String> {
        let base = self.base().to_owned();
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|l| l.replace(&base, "http://HOST"))
            .collect()
    }
}

fn form(bytes: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}

/// The bearer check in front of the MCP endpoint.
async fn guard(State(f): State<Arc<Fixture>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let method = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("method").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    f.log(format!(
        "{} {} {method} {}",
        parts.method,
        parts.uri.path(),
        if token.is_some() {
            "with token"
        } else {
            "without token"
        }
    ));
    let prm = f
        .knobs
        .challenge_prm
        .clone()
        .unwrap_or_else(|| format!("{}/.well-known/oauth-protected-resource/mcp", f.base()));
    let scopes = token
        .as_ref()
        .and_then(|t| f.tokens.lock().unwrap().get(t).cloned());
    let Some(scopes) = scopes else {
        return (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                format!(r#"Bearer resource_metadata="{prm}", scope="tools:read""#),
            )],
        )
            .into_response();
    };
    if method == "tools/call"
        && let Some(needed) = f.knobs.call_scope
        && !scopes.iter().any(|s| s == needed)
    {
        return (
            StatusCode::FORBIDDEN,
            [(
                header::WWW_AUTHENTICATE,
                format!(
                    r#"Bearer error="insufficient_scope", scope="{needed}", resource_metadata="{prm}""#
                ),
            )],
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn resource_metadata(State(f): State<Arc<Fixture>>) -> Response {
    f.log("GET /.well-known/oauth-protected-resource/mcp".into());
    if let Some(to) = &f.knobs.prm_redirect {
        return (StatusCode::FOUND, [(header::LOCATION, to.clone())]).into_response();
    }
    real_resource_metadata(State(f)).await
}

async fn real_resource_metadata(State(f): State<Arc<Fixture>>) -> Response {
    axum::Json(json!({
        "resource": f.knobs.prm_resource.clone().unwrap_or_else(|| f.url()),
        "authorization_servers": [f.switch_to.lock().unwrap().clone().or_else(|| f.knobs.auth_server.clone()).unwrap_or_else(|| f.base().to_owned())],
        "scopes_supported": ["tools:read"],
    }))
    .into_response()
}

async fn as_metadata(State(f): State<Arc<Fixture>>) -> Response {
    f.log("GET /.well-known/oauth-authorization-server".into());
    let b = f.base();
    axum::Json(json!({
        "issuer": f.knobs.metadata_issuer.clone().unwrap_or_else(|| b.to_owned()),
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": format!("{b}/token"),
        "registration_endpoint": format!("{b}/register"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": f.knobs.pkce.clone().unwrap_or(vec!["S256"]),
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

async fn register(State(f): State<Arc<Fixture>>, body: Bytes) -> Response {
    f.log("POST /register".into());
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    f.registrations.lock().unwrap().push(body);
    (
        StatusCode::CREATED,
        axum::Json(json!({"client_id": "client-1", "token_endpoint_auth_method": "none"})),
    )
        .into_response()
}

async fn authorize(State(f): State<Arc<Fixture>>, request: Request) -> Response {
    let q = form(request.uri().query().unwrap_or("").as_bytes());
    f.log(format!(
        "GET /authorize scope={}",
        q.get("scope").map_or("-", String::as_str)
    ));
    f.authorizations.lock().unwrap().push(q.clone());
    let scopes = q
        .get("scope")
        .map(|s| s.split(' ').map(str::to_owned).collect())
        .unwrap_or_default();
    *f.challenge.lock().unwrap() = Some((q["code_challenge"].clone(), scopes));
    let mut to = url::Url::parse(&q["redirect_uri"]).unwrap();
    to.query_pairs_mut()
        .append_pair("code", "the-code")
        .append_pair("state", &q["state"]);
    match f.knobs.iss {
        Iss::Correct => {
            to.query_pairs_mut().append_pair("iss", f.base());
        }
        Iss::Wrong => {
            to.query_pairs_mut()
                .append_pair("iss", "https://evil.example.com");
        }
        Iss::Missing => {}
    }
    (StatusCode::FOUND, [(header::LOCATION, to.to_string())]).into_response()
}

async fn token(State(f): State<Arc<Fixture>>, request: Request) -> Response {
    let basic = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let q = form(&bytes);
    let grant = q.get("grant_type").cloned().unwrap_or_default();
    f.log(format!("POST /token {grant}"));
    f.token_requests.lock().unwrap().push(q.clone());
    let scopes = match grant.as_str() {
        "authorization_code" => {
            let Some((challenge, scopes)) = f.challenge.lock().unwrap().take() else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            let verifier = q.get("code_verifier").cloned().unwrap_or_default();
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()));
            if computed != challenge || q.get("code").map(String::as_str) != Some("the-code") {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            scopes
        }
        "refresh_token" => {
            let old = q.get("refresh_token").cloned().unwrap_or_default();
            match f.refresh_tokens.lock().unwrap().remove(&old) {
                Some(scopes) => scopes,
                None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"),
            }
        }
        "client_credentials" => {
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("machine:s3cret")
            );
            if basic.as_deref() != Some(expected.as_str()) {
                return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
            }
            q.get("scope")
                .map(|s| s.split(' ').map(str::to_owned).collect())
                .unwrap_or_default()
        }
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            if q.get("assertion").map(String::as_str) != Some("workload-jwt") {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            vec!["tools:read".to_owned()]
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    };
    let scopes: Vec<String> = scopes
        .into_iter()
        .filter(|s| Some(s.as_str()) != f.knobs.withhold)
        .collect();
    let n = f.next.fetch_add(1, Ordering::SeqCst);
    let access = format!("tok-{n}");
    f.tokens
        .lock()
        .unwrap()
        .insert(access.clone(), scopes.clone());
    let mut answer = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": f.knobs.expires_in.unwrap_or(3600),
        "scope": scopes.join(" "),
    });
    if f.knobs.refresh {
        let r = format!("refresh-{n}");
        f.refresh_tokens.lock().unwrap().insert(r.clone(), scopes);
        answer["refresh_token"] = json!(r);
    }
    axum::Json(answer).into_response()
}

/// Starts the fixture on 127.0.0.1 and returns it.
async fn start(knobs: Knobs) -> Arc<Fixture> {
    let f = Arc::new(Fixture {
        knobs,
        ..Default::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    f.base.set(base).unwrap();
    let mcp = McpService::new(Server::new("srv", "1.0.0").tool(Echo), HttpConfig::new());
    let oauth = axum::Router::new()
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(resource_metadata),
        )
        .route("/prm-moved", get(real_resource_metadata))
        .route("/.well-known/oauth-authorization-server", get(as_metadata))
        .route("/register", post(register))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(f.clone());
    let app = mcp
        .router()
        .layer(axum::middleware::from_fn_with_state(f.clone(), guard))
        .merge(oauth);
    tokio::spawn(async move { axum::serve(listener, app).await });
    f
}

fn headless() -> OAuthConfig {
    OAuthConfig::authorization_code(HeadlessHandler::new("http://127.0.0.1:9/callback"))
}

async fn connect(f: &Fixture, config: OAuthConfig) -> mcp_client::Result<Client> {
    Client::builder()
        .connect_http(HttpServer::new(f.url()).oauth(config))
        .await
}

/// The message of an authorization failure (asserted to be one).
fn auth_failure(e: Error) -> String {
    assert!(e.is_authorization(), "not an authorization error: {e}");
    e.to_string()
}

#[tokio::test]
async fn the_authorization_code_flow_end_to_end() {
    let f = start(Knobs::default()).await;
    let client = connect(&f, headless()).await.unwrap();
    let tools = client.list_tools().await.unwrap();
    assert_eq!(tools[0].name, "echo");
    client.close().await;

    let auth = f.authorizations.lock().unwrap()[0].clone();
    assert_eq!(auth["response_type"], "code");
    assert_eq!(auth["client_id"], "client-1");
    assert_eq!(auth["code_challenge_method"], "S256");
    assert_eq!(
        auth["resource"],
        f.url(),
        "RFC 8707 resource, exactly as published"
    );
    assert_eq!(auth["scope"], "tools:read", "the challenge's scope");
    assert!(auth["state"].len() >= 16);
    let token_request = f.token_requests.lock().unwrap()[0].clone();
    assert_eq!(token_request["resource"], f.url());
    assert_eq!(token_request["client_id"], "client-1");
    assert_eq!(token_request["redirect_uri"], "http://127.0.0.1:9/callback");
    let registration = f.registrations.lock().unwrap()[0].clone();
    assert_eq!(registration["application_type"], "native");
    assert_eq!(
        registration["redirect_uris"],
        json!(["http://127.0.0.1:9/callback"])
    );
    insta::assert_json_snapshot!(f.transcript());

    // What the authorization server sees, random values and the port redacted.
    let redact = |m: &HashMap<String, String>| -> std::collections::BTreeMap<String, String> {
        m.iter()
            .map(|(k, v)| {
                let v = match k.as_str() {
                    "state" | "code_challenge" | "code_verifier" => "[random]".to_owned(),
                    _ => v.replace(f.base(), "http://HOST"),
                };
                (k.clone(), v)
            })
            .collect()
    };
    insta::assert_json_snapshot!(
        "authorization_server_view",
        json!({
            "registration": registration,
            "authorization_request": redact(&auth),
            "token_request": redact(&token_request),
        })
    );
}

#[tokio::test]
async fn step_up_asks_for_the_held_scopes_plus_the_challenged_one() {
    let f = start(Knobs {
        call_scope: Some("tools:write"),
        ..Default::default()
    })
    .await;
    let client = connect(&f, headless()).await.unwrap();
    let result = client.call_tool("echo", json!({})).await.unwrap();
    assert_eq!(result.content.len(), 1);
    let scopes: Vec<String> = f
        .authorizations
        .lock()
        .unwrap()
        .iter()
        .map(|a| a["scope"].clone())
        .collect();
    assert_eq!(scopes, ["tools:read", "tools:read tools:write"]);
    client.close().await;
}

#[tokio::test]
async fn a_refused_step_up_fails_without_looping_and_without_the_token() {
    // The server asks for a scope the authorization server never grants: the client
    // re-authorizes once, then gives up with an authorization error.
    let f = start(Knobs {
        call_scope: Some("tools:write"),
        withhold: Some("tools:write"),
        ..Default::default()
    })
    .await;
    let client = connect(&f, headless()).await.unwrap();
    let message = auth_failure(client.call_tool("echo", json!({})).await.unwrap_err());
    assert!(
        message.contains("403") && message.contains("tools:write"),
        "{message}"
    );
    assert!(!message.contains("tok-"), "the token leaked: {message}");
    assert_eq!(f.authorizations.lock().unwrap().len(), 2);
    client.close().await;
}

#[tokio::test]
async fn an_expiring_token_is_refreshed_without_a_new_authorization() {
    let f = start(Knobs {
        expires_in: Some(1),
        refresh: true,
        ..Default::default()
    })
    .await;
    let client = connect(&f, headless()).await.unwrap();
    client.list_tools().await.unwrap();
    client.list_tools().await.unwrap();
    let grants: Vec<String> = f
        .token_requests
        .lock()
        .unwrap()
        .iter()
        .map(|t| t["grant_type"].clone())
        .collect();
    assert_eq!(grants[0], "authorization_code");
    assert!(
        grants[1..].iter().all(|g| g == "refresh_token"),
        "{grants:?}"
    );
    assert!(grants.len() >= 2);
    assert_eq!(f.authorizations.lock().unwrap().len(), 1);
    client.close().await;
}

#[tokio::test]
async fn client_credentials_with_a_secret() {
    let f = start(Knobs::default()).await;
    let config = OAuthConfig::client_credentials("machine").client_secret("s3cret");
    let client = connect(&f, config).await.unwrap();
    client.list_tools().await.unwrap();
    assert!(f.authorizations.lock().unwrap().is_empty());
    let t = f.token_requests.lock().unwrap()[0].clone();
    assert_eq!(t["grant_type"], "client_credentials");
    assert_eq!(t["scope"], "tools:read");
    assert_eq!(t["resource"], f.url());
    assert!(
        !t.contains_key("client_secret"),
        "the secret goes in the Basic header"
    );
    client.close().await;
}

#[tokio::test]
async fn the_jwt_bearer_grant_presents_the_assertion() {
    let f = start(Knobs::default()).await;
    let config = OAuthConfig::jwt_bearer(StaticAssertion::new("workload-jwt")).client_id("wl");
    let client = connect(&f, config).await.unwrap();
    client.list_tools().await.unwrap();
    let t = f.token_requests.lock().unwrap()[0].clone();
    assert_eq!(
        t["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    assert_eq!(t["client_id"], "wl");
    assert_eq!(t["resource"], f.url());
    assert!(f.registrations.lock().unwrap().is_empty());
    client.close().await;
}

/// Everything logged, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn tokens_never_reach_the_log_or_the_errors() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    // The test runtime is single-threaded: every task logs to this subscriber.
    let _guard = crate::capture_logs(subscriber);
    let f = start(Knobs {
        call_scope: Some("tools:write"),
        withhold: Some("tools:write"),
        refresh: true,
        expires_in: Some(1),
        ..Default::default()
    })
    .await;
    let client = connect(&f, headless().client_name("secretive"))
        .await
        .unwrap();
    let error = client.call_tool("echo", json!({})).await.unwrap_err();
    client.close().await;
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("authorization failed"),
        "nothing was captured: {text}"
    );
    let shown = format!("{error} {error:?}");
    for secret in ["tok-", "refresh-"] {
        assert!(!text.contains(secret), "`{secret}` in the log:\n{text}");
        assert!(!shown.contains(secret), "`{secret}` in the error: {shown}");
    }
    // The tokens were really issued (and refreshed), so the absence above means something.
    assert!(f.token_requests.lock().unwrap().len() >= 3);
}

/// Connecting fails with an authorization error whose message contains `needle`, and no
/// authorization request reached the authorization server.
async fn refused_before_authorizing(knobs: Knobs, needle: &str) -> Arc<Fixture> {
    let f = start(knobs).await;
    let message = auth_failure(connect(&f, headless()).await.unwrap_err());
    assert!(message.contains(needle), "{message}");
    assert!(f.authorizations.lock().unwrap().is_empty(), "{message}");
    f
}

#[tokio::test]
async fn a_resource_metadata_for_another_resource_is_refused() {
    refused_before_authorizing(
        Knobs {
            prm_resource: Some("https://evil.example.com/mcp".into()),
            ..Default::default()
        },
        "not for",
    )
    .await;
}

#[tokio::test]
async fn metadata_with_another_issuer_is_refused() {
    refused_before_authorizing(
        Knobs {
            metadata_issuer: Some("https://attacker.example.com".into()),
            ..Default::default()
        },
        "issuer",
    )
    .await;
}

#[tokio::test]
async fn an_authorization_server_without_s256_is_refused() {
    refused_before_authorizing(
        Knobs {
            pkce: Some(vec!["plain"]),
            ..Default::default()
        },
        "S256",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_or_missing_iss_stops_before_the_token_request() {
    for iss in [Iss::Wrong, Iss::Missing] {
        let f = start(Knobs {
            iss,
            ..Default::default()
        })
        .await;
        let message = auth_failure(connect(&f, headless()).await.unwrap_err());
        assert!(message.contains("iss"), "{message}");
        assert_eq!(f.authorizations.lock().unwrap().len(), 1);
        assert!(f.token_requests.lock().unwrap().is_empty());
    }
}

// The "Client side" rows of SECURITY.md: metadata pointing at a private address, a
// `javascript:` URL, or redirecting to one, is refused.

#[tokio::test]
async fn resource_metadata_at_a_private_or_link_local_address_is_refused() {
    for url in [
        "http://10.0.0.7/.well-known/oauth-protected-resource",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/prm",
    ] {
        refused_before_authorizing(
            Knobs {
                challenge_prm: Some(url.into()),
                ..Default::default()
            },
            "refused URL",
        )
        .await;
    }
}

#[tokio::test]
async fn an_authorization_server_that_is_not_http_is_refused() {
    for url in ["javascript:alert(1)", "file:///etc/passwd"] {
        let f = refused_before_authorizing(
            Knobs {
                auth_server: Some(url.into()),
                ..Default::default()
            },
            "is not http(s)",
        )
        .await;
        assert!(
            !f.log
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("authorization-server"))
        );
    }
}

#[tokio::test]
async fn a_redirect_to_a_link_local_address_is_refused() {
    refused_before_authorizing(
        Knobs {
            prm_redirect: Some("http://169.254.169.254/latest/meta-data/".into()),
            ..Default::default()
        },
        "link-local",
    )
    .await;
}

#[tokio::test]
async fn a_redirect_the_guard_allows_is_followed() {
    let f = start(Knobs {
        prm_redirect: Some("/prm-moved".into()),
        ..Default::default()
    })
    .await;
    let client = connect(&f, headless()).await.unwrap();
    client.list_tools().await.unwrap();
    client.close().await;
}

#[tokio::test]
async fn the_guard_refuses_loopback_and_plain_http_for_a_public_https_server() {
    let guard = UrlGuard::for_server("https://93.184.216.34/mcp")
        .await
        .unwrap();
    guard
        .check("https://93.184.216.34/.well-known/x")
        .await
        .unwrap();
    for (url, why) in [
        ("https://127.0.0.1/token", "loopback"),
        ("https://localhost/token", "loopback"),
        ("https://[::1]/token", "loopback"),
        ("https://192.168.1.1/token", "private"),
        ("http://93.184.216.34/token", "plain http"),
        ("https://0.0.0.0/token", "forbidden"),
    ] {
        let e = guard.check(url).await.unwrap_err();
        assert!(matches!(e, AuthError::RefusedUrl { .. }), "{url}: {e}");
        assert!(e.to_string().contains(why), "{url}: {e}");
    }
}

#[test]
fn bearer_challenges_are_parsed() {
    let c = BearerChallenge::parse(
        r#"Basic realm="x", Bearer error="insufficient_scope", scope="a b", resource_metadata="https://s/.well-known/oauth-protected-resource", error_description="say \"more\"""#,
    )
    .unwrap();
    assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
    assert_eq!(c.scopes(), ["a", "b"]);
    assert_eq!(
        c.resource_metadata.as_deref(),
        Some("https://s/.well-known/oauth-protected-resource")
    );
    assert_eq!(c.error_description.as_deref(), Some(r#"say "more""#));
    assert_eq!(
        BearerChallenge::parse("Bearer"),
        Some(BearerChallenge::default())
    );
    assert_eq!(BearerChallenge::parse(r#"Basic realm="x""#), None);
    // Garbage is no challenge and no panic.
    for junk in [
        "",
        "=",
        "\"",
        "Bearer =\"",
        "Bearer scope=\"unterminated",
        ",,,",
    ] {
        let _ = BearerChallenge::parse(junk);
    }
}

#[tokio::test]
async fn the_loopback_handler_receives_the_redirect() {
    let handler = LoopbackHandler::bind(0).await.unwrap().open_browser(false);
    let redirect = handler.redirect_uri();
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    let browser = tokio::spawn({
        let redirect = redirect.clone();
        async move {
            // The "browser" comes back once the handler listens.
            reqwest::get(format!("{redirect}?code=c&state=s"))
                .await
                .unwrap()
                .status()
        }
    });
    let url = url::Url::parse("https://as.example.com/authorize").unwrap();
    let back = handler.authorize(url).await.unwrap();
    assert_eq!(back.query(), Some("code=c&state=s"));
    assert_eq!(browser.await.unwrap(), 200);
}

/// A P-256 private key in PKCS #8 PEM, for `private_key_jwt`.
fn ec_key_pem() -> String {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn credentials_are_never_sent_to_an_authorization_server_they_are_not_bound_to() {
    // The resource's metadata names a rogue authorization server; the client's credentials are
    // for `home`.
    let rogue = start(Knobs::default()).await;
    let f = start(Knobs {
        auth_server: Some(rogue.base().to_owned()),
        ..Default::default()
    })
    .await;
    let home = f.base().to_owned();
    let configs = [
        (
            "client secret",
            OAuthConfig::client_credentials("machine")
                .client_secret("s3cret")
                .issuer(&home),
        ),
        (
            "private_key_jwt",
            OAuthConfig::client_credentials("machine")
                .private_key_jwt(ec_key_pem(), "ES256")
                .issuer(&home),
        ),
        (
            "jwt-bearer assertion",
            OAuthConfig::jwt_bearer(StaticAssertion::new("workload-jwt"))
                .client_id("wl")
                .issuer(&home),
        ),
    ];
    for (what, config) in configs {
        let message = auth_failure(connect(&f, config).await.unwrap_err());
        assert_eq!(
            message,
            format!(
                "HTTP 401: authorization failed: the client's credentials are for the authorization server `{home}`, not for [\"{}\"]: they are not sent there",
                rogue.base()
            ),
            "{what}"
        );
        // The rogue authorization server heard nothing at all: no metadata request, no token
        // request, so no secret and no assertion.
        assert!(
            rogue.transcript().is_empty(),
            "{what}: {:?}",
            rogue.transcript()
        );
        assert!(rogue.token_requests.lock().unwrap().is_empty(), "{what}");
        assert!(f.token_requests.lock().unwrap().is_empty(), "{what}");
    }

    // The same credentials work with a resource that names their authorization server.
    let good = start(Knobs::default()).await;
    let config = OAuthConfig::client_credentials("machine")
        .client_secret("s3cret")
        .issuer(good.base());
    let client = connect(&good, config).await.unwrap();
    assert_eq!(client.list_tools().await.unwrap()[0].name, "echo");
    assert_eq!(
        good.token_requests.lock().unwrap()[0]["grant_type"],
        "client_credentials"
    );
    client.close().await;
    // A trailing slash on the configured issuer is the same issuer.
    let config = OAuthConfig::client_credentials("machine")
        .client_secret("s3cret")
        .issuer(format!("{}/", good.base()));
    let client = connect(&good, config).await.unwrap();
    client.list_tools().await.unwrap();
    client.close().await;
}

#[tokio::test]
async fn credentials_without_a_configured_issuer_stay_with_the_first_authorization_server() {
    let rogue = start(Knobs::default()).await;
    let f = start(Knobs::default()).await;
    let config = OAuthConfig::client_credentials("machine").client_secret("s3cret");
    let client = connect(&f, config).await.unwrap();
    client.list_tools().await.unwrap();
    assert_eq!(f.token_requests.lock().unwrap().len(), 1);
    // The resource now names another authorization server and refuses the token.
    *f.switch_to.lock().unwrap() = Some(rogue.base().to_owned());
    f.tokens.lock().unwrap().clear();
    let message = auth_failure(client.list_tools().await.unwrap_err());
    assert_eq!(
        message,
        format!(
            "HTTP 401: authorization failed: the client's credentials are for the authorization server `{}`, not for [\"{}\"]: they are not sent there",
            f.base(),
            rogue.base()
        )
    );
    assert!(rogue.transcript().is_empty(), "{:?}", rogue.transcript());
    client.close().await;
    // Back with its own authorization server, the resource is served again.
    *f.switch_to.lock().unwrap() = None;
    let config = OAuthConfig::client_credentials("machine").client_secret("s3cret");
    let client = connect(&f, config).await.unwrap();
    client.list_tools().await.unwrap();
    client.close().await;
}
