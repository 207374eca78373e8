//! Authentication on Streamable HTTP, over real sockets: the OAuth 2.1 resource server (bearer
//! tokens checked against a JWKS served by a local [`TestAuthServer`], or by introspection), the
//! RFC 9728 metadata, and TLS with client certificates. One test per row of SECURITY.md's
//! "Authentication and authorization" table that the transport answers, and a check that the
//! token never reaches the logs.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use mcp_server::Server;
use mcp_server::http::auth::testing::{
    INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, TestAuthServer, TestDpopKey,
};
use mcp_server::http::auth::{
    IntrospectionValidator, Jwks, JwtAlgorithm, JwtValidator, ResourceServer, TlsConfig,
    insufficient_scope,
};
use mcp_server::http::{self, HttpConfig};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{Value, json};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// The longest any single wait of these tests may take.
const PATIENCE: Duration = Duration::from_secs(10);
const SCOPE: &str = "kpi:read";

// ---------------------------------------------------------------------------------------------
// The server under test.

/// A server on 127.0.0.1:0, stopped when dropped.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

impl Running {
    /// Serves with `config` on a listener bound first, so that `config` may use the address.
    async fn start(listener: TcpListener, config: HttpConfig) -> Self {
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = Server::new("auth-test", "1.0.0");
        let task = tokio::spawn(http::serve(server, config, listener, async move {
            let _ = stopped.await;
        }));
        Running {
            addr,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn resource(&self) -> String {
        self.url("/mcp")
    }
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// A server whose resource server checks JWTs from `authz` (the JWKS fetched by URL).
async fn jwt_server(authz: &TestAuthServer, jwks: impl FnOnce(Jwks) -> Jwks) -> Running {
    let listener = bind().await;
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let validator = JwtValidator::new(&resource, authz.issuer(), jwks(Jwks::url(authz.jwks_url())));
    let auth = ResourceServer::new(&resource, authz.issuer(), validator)
        .unwrap()
        .scopes_supported([SCOPE]);
    Running::start(listener, HttpConfig::new().auth(auth)).await
}

/// The body of a modern `server/discover`.
fn discover_body() -> String {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "server/discover",
        "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }},
    })
    .to_string()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .unwrap()
}

/// A modern `server/discover` to `url`, with `token` as a bearer token if given.
async fn discover(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = client()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "server/discover")
        .body(discover_body());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

fn www_authenticate(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A JWT with this header and claims and a made-up signature segment.
fn unsigned(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string()),
        B64.encode(signature)
    )
}

/// A JWT signed with HS256 using `secret` as the HMAC key.
fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(message.as_bytes());
    format!("{message}.{}", B64.encode(mac.finalize().into_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Bearer tokens.

#[tokio::test]
async fn no_token_gets_401_with_resource_metadata() {
    let authz = TestAuthServer::start().await.unwrap();
    let server = jwt_server(&authz, |j| j).await;
    let r = discover(&server.resource(), None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        www_authenticate(&r),
        format!(
            "Bearer resource_metadata=\"{}\", scope=\"{SCOPE}\"",
            server.url("/.well-known/oauth-protected-resource/mcp")
        )
    );
    // Another scheme is no bearer token.
    let r = client()
        .post(server.resource())
        .header("authorization", "Basic YWxpY2U6c2VjcmV0")
        .body(discover_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(!www_authenticate(&r).contains("error="));
    // GET and DELETE are guarded too.
    let r = client().get(server.resource()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client().delete(server.resource()).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_valid_token_is_served() {
    let authz = TestAuthServer::start().await.unwrap();
    let server = jwt_server(&authz, |j| j).await;
    let token = authz.access_token(&server.resource(), "alice", &[SCOPE]);
    let r = discover(&server.resource(), Some(&token)).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body.get("result").is_some(), "{body}");
}

#[tokio::test]
async fn bad_tokens_get_401_and_good_ones_still_work() {
    let authz = TestAuthServer::start().await.unwrap();
    let other = TestAuthServer::start().await.unwrap();
    let server = jwt_server(&authz, |j| j).await;
    let resource = server.resource();
    let good = authz.claims(&resource, "alice", &[SCOPE]);
    let with = |key: &str, value: Value| {
        let mut claims = good.clone();
        claims[key] = value;
        claims
    };
    let mut no_aud = good.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    let mut no_exp = good.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    let now = good["iat"].as_u64().unwrap();
    let kid = authz.current_kid();
    let jwks = authz.jwks().to_string();
    let public_x = authz.jwks()["keys"][0]["x"].as_str().unwrap().to_owned();

    let cases: Vec<(&str, String)> = vec![
        (
            "another audience",
            authz.token(&with("aud", json!("https://other.example.com/mcp"))),
        ),
        (
            "another audience, in an array",
            authz.token(&with("aud", json!(["https://other.example.com/mcp"]))),
        ),
        ("without aud", authz.token(&no_aud)),
        (
            "wrong iss",
            authz.token(&with("iss", json!("https://evil.example.com"))),
        ),
        ("expired", authz.token(&with("exp", json!(now - 3600)))),
        ("without exp", authz.token(&no_exp)),
        (
            "not yet valid",
            authz.token(&with("nbf", json!(now + 3600))),
        ),
        (
            "alg none",
            unsigned(
                &json!({"alg": "none", "typ": "JWT", "kid": kid}),
                &good,
                b"",
            ),
        ),
        (
            "HS256 signed with the JWKS as the secret",
            hs256(
                &json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
                &good,
                jwks.as_bytes(),
            ),
        ),
        (
            "HS256 signed with the public key's x coordinate",
            hs256(
                &json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
                &good,
                public_x.as_bytes(),
            ),
        ),
        (
            "ES384 header on a P-256 key",
            unsigned(&json!({"alg": "ES384", "kid": kid}), &good, &[1; 96]),
        ),
        (
            "signed by another authorization server with the same kid",
            {
                let forged = other.token(&good);
                let (_, rest) = forged.split_once('.').unwrap();
                let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": kid});
                format!("{}.{rest}", B64.encode(header.to_string()))
            },
        ),
        ("claims altered after signing", {
            let token = authz.token(&good);
            let parts: Vec<&str> = token.split('.').collect();
            let claims = B64.encode(with("sub", json!("mallory")).to_string());
            format!("{}.{claims}.{}", parts[0], parts[2])
        }),
        ("without sub", authz.token(&with("sub", Value::Null))),
        ("not a JWT", "abc.def".to_owned()),
    ];
    let valid = authz.token(&good);
    for (case, token) in cases {
        let r = discover(&resource, Some(&token)).await;
        assert_eq!(r.status(), 401, "{case}");
        let challenge = www_authenticate(&r);
        assert!(
            challenge.contains("error=\"invalid_token\"")
                && challenge.contains("resource_metadata=\""),
            "{case}: {challenge}"
        );
        let r = discover(&resource, Some(&valid)).await;
        assert_eq!(r.status(), 200, "a good request after: {case}");
    }
}

#[tokio::test]
async fn a_token_in_the_query_string_is_ignored() {
    let authz = TestAuthServer::start().await.unwrap();
    let server = jwt_server(&authz, |j| j).await;
    let token = authz.access_token(&server.resource(), "alice", &[SCOPE]);
    let url = format!("{}?access_token={token}", server.resource());
    let r = discover(&url, None).await;
    assert_eq!(r.status(), 401);
    assert!(!www_authenticate(&r).contains("error="));
    // In a header of another name neither.
    let r = client()
        .post(server.resource())
        .header("x-access-token", &token)
        .body(discover_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_disallowed_origin_gets_403_before_the_token_is_looked_at() {
    let authz = TestAuthServer::start().await.unwrap();
    let server = jwt_server(&authz, |j| j).await;
    let token = authz.access_token(&server.resource(), "alice", &[SCOPE]);
    for token in [None, Some(token.as_str())] {
        let mut request = client()
            .post(server.resource())
            .header("origin", "https://evil.example.com")
            .body(discover_body());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.headers().get("www-authenticate").is_none());
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], -32600, "{body}");
    }
    assert_eq!(authz.jwks_fetches(), 0, "no token was checked");
}

#[tokio::test]
async fn several_authorization_headers_get_400() {
    let authz = TestAuthServer::start().await.unwrap();
    let server = jwt_server(&authz, |j| j).await;
    let token = authz.access_token(&server.resource(), "alice", &[SCOPE]);
    let r = client()
        .post(server.resource())
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .body(discover_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(www_authenticate(&r).contains("error=\"invalid_request\""));
}

#[tokio::test]
async fn a_token_without_a_required_scope_gets_403() {
    let authz = TestAuthServer::start().await.unwrap();
    let listener = bind().await;
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let validator = JwtValidator::new(&resource, authz.issuer(), Jwks::url(authz.jwks_url()));
    let auth = ResourceServer::new(&resource, authz.issuer(), validator)
        .unwrap()
        .scopes_supported(["kpi:read", "kpi:write"])
        .required_scopes(["kpi:read"]);
    let server = Running::start(listener, HttpConfig::new().auth(auth.clone())).await;

    let r = discover(&resource, None).await;
    assert_eq!(r.status(), 401);
    assert!(www_authenticate(&r).contains("scope=\"kpi:read\""));

    let token = authz.access_token(&resource, "alice", &["kpi:write"]);
    let r = discover(&resource, Some(&token)).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        www_authenticate(&r),
        format!(
            "Bearer error=\"insufficient_scope\", scope=\"kpi:read\", resource_metadata=\"{}\"",
            server.url("/.well-known/oauth-protected-resource/mcp")
        )
    );
    let token = authz.access_token(&resource, "alice", &["kpi:read"]);
    assert_eq!(discover(&resource, Some(&token)).await.status(), 200);

    // What a policy uses for a tool's scopes.
    let response = insufficient_scope(&auth, &["kpi:write".to_owned(), "kpi:admin".to_owned()]);
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!(
            "Bearer error=\"insufficient_scope\", scope=\"kpi:write kpi:admin\", resource_metadata=\"{}\"",
            auth.metadata_url()
        )
        .as_str()
    );
}

#[tokio::test]
async fn scopes_roles_and_claims_reach_the_identity() {
    let authz = TestAuthServer::start().await.unwrap();
    let resource = "https://mcp.example.com/mcp";
    let validator = JwtValidator::new(resource, authz.issuer(), Jwks::url(authz.jwks_url()))
        .roles_claim("/realm_access/roles");
    let mut claims = authz.claims(resource, "alice", &["a", "b"]);
    claims["scp"] = json!(["c"]);
    claims["realm_access"] = json!({"roles": ["ops"]});
    let identity =
        mcp_server::http::auth::TokenValidator::validate(&validator, &authz.token(&claims))
            .await
            .unwrap();
    assert_eq!(identity.subject(), "alice");
    assert_eq!(identity.method(), mcp_server::AuthMethod::Bearer);
    assert!(identity.has_scope("a") && identity.has_scope("b") && identity.has_scope("c"));
    assert!(identity.has_role("ops"));
    assert_eq!(identity.claims()["iss"], json!(authz.issuer()));
    assert_eq!(identity.claims()["jti"], claims["jti"]);
}

#[tokio::test]
async fn only_listed_algorithms_are_accepted() {
    let authz = TestAuthServer::start().await.unwrap();
    let resource = "https://mcp.example.com/mcp";
    let validator = JwtValidator::new(resource, authz.issuer(), Jwks::url(authz.jwks_url()))
        .algorithms([JwtAlgorithm::RS256]);
    let token = authz.access_token(resource, "alice", &[]);
    let refused = mcp_server::http::auth::TokenValidator::validate(&validator, &token).await;
    assert!(refused.is_err(), "ES256 is not listed");
}

// ---------------------------------------------------------------------------------------------
// JWKS: rotation, rate limit, outage, static keys.

#[tokio::test]
async fn a_rotated_key_is_picked_up() {
    let authz = TestAuthServer::start().await.unwrap();
    let server = jwt_server(&authz, |j| j.min_refetch_interval(Duration::ZERO)).await;
    let resource = server.resource();
    let old = authz.access_token(&resource, "alice", &[SCOPE]);
    assert_eq!(discover(&resource, Some(&old)).await.status(), 200);
    assert_eq!(discover(&resource, Some(&old)).await.status(), 200);
    assert_eq!(authz.jwks_fetches(), 1, "the keys are cached");

    authz.rotate().unwrap();
    let new = authz.access_token(&resource, "alice", &[SCOPE]);
    assert_eq!(discover(&resource, Some(&new)).await.status(), 200);
    assert_eq!(
        authz.jwks_fetches(),
        2,
        "an unknown kid fetched the JWKS again"
    );
    assert_eq!(discover(&resource, Some(&old)).await.status(), 200);
    assert_eq!(discover(&resource, Some(&new)).await.status(), 200);
    assert_eq!(authz.jwks_fetches(), 2);
}

#[tokio::test]
async fn unknown_kids_do_not_hammer_the_authorization_server() {
    let authz = TestAuthServer::start().await.unwrap();
    let server = jwt_server(&authz, |j| {
        j.min_refetch_interval(Duration::from_secs(3600))
    })
    .await;
    let resource = server.resource();
    let old = authz.access_token(&resource, "alice", &[SCOPE]);
    assert_eq!(discover(&resource, Some(&old)).await.status(), 200);
    authz.rotate().unwrap();
    let new = authz.access_token(&resource, "alice", &[SCOPE]);
    for _ in 0..3 {
        assert_eq!(discover(&resource, Some(&new)).await.status(), 401);
    }
    assert_eq!(authz.jwks_fetches(), 1, "refetching is rate limited");
}

#[tokio::test]
async fn an_unreachable_jwks_gets_503() {
    let closed = bind().await;
    let jwks_url = format!("http://{}/jwks", closed.local_addr().unwrap());
    drop(closed);
    let listener = bind().await;
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let validator = JwtValidator::new(&resource, "https://auth.example.com", Jwks::url(jwks_url));
    let auth = ResourceServer::new(&resource, "https://auth.example.com", validator).unwrap();
    let _server = Running::start(listener, HttpConfig::new().auth(auth)).await;
    let authz = TestAuthServer::start().await.unwrap();
    let token = authz.access_token(&resource, "alice", &[]);
    assert_eq!(discover(&resource, Some(&token)).await.status(), 503);
}

#[tokio::test]
async fn a_jwks_outage_and_a_bad_signature_are_told_apart() {
    let authz = TestAuthServer::start().await.unwrap();
    let server = jwt_server(&authz, |j| j.min_refetch_interval(Duration::ZERO)).await;
    let resource = server.resource();
    let good = authz.access_token(&resource, "alice", &[SCOPE]);
    assert_eq!(discover(&resource, Some(&good)).await.status(), 200);
    // A bad signature with a key the server holds: the token is invalid.
    let (signed, _) = good.rsplit_once('.').unwrap();
    let forged = format!("{signed}.{}", B64.encode([7u8; 64]));
    let r = discover(&resource, Some(&forged)).await;
    assert_eq!(r.status(), 401);
    assert!(www_authenticate(&r).contains("error=\"invalid_token\""));

    // The authorization server goes down and has just rotated its key: a token signed by the
    // new key cannot be checked (503, no `invalid_token`), a forged one still is refused (401).
    authz.set_jwks_available(false);
    authz.rotate().unwrap();
    let rotated = authz.access_token(&resource, "alice", &[SCOPE]);
    let r = discover(&resource, Some(&rotated)).await;
    assert_eq!(r.status(), 503);
    assert_eq!(www_authenticate(&r), "");
    let r = discover(&resource, Some(&forged)).await;
    assert_eq!(r.status(), 401);
    assert!(www_authenticate(&r).contains("error=\"invalid_token\""));
    // Tokens by the keys held still work during the outage.
    assert_eq!(discover(&resource, Some(&good)).await.status(), 200);

    // Back up: the new key is fetched and its token served.
    authz.set_jwks_available(true);
    assert_eq!(discover(&resource, Some(&rotated)).await.status(), 200);
}

#[tokio::test]
async fn a_static_jwks_skips_unusable_keys() {
    let authz = TestAuthServer::start().await.unwrap();
    let resource = "https://mcp.example.com/mcp";
    let mut jwks = authz.jwks();
    let keys = jwks["keys"].as_array_mut().unwrap();
    keys.push(json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"}));
    keys.push(json!({"kty": "weird", "kid": "odd"}));
    let validator = JwtValidator::new(
        resource,
        authz.issuer(),
        Jwks::from_json(&jwks.to_string()).unwrap(),
    );
    let token = authz.access_token(resource, "alice", &[]);
    let validate = |t: String| async move {
        mcp_server::http::auth::TokenValidator::validate(&validator, &t).await
    };
    assert!(validate(token).await.is_ok());
    let mut claims = authz.claims(resource, "alice", &[]);
    claims["x"] = json!(1);
    let forged = hs256(&json!({"alg": "HS256", "kid": "hmac"}), &claims, b"secret");
    let validator = JwtValidator::new(
        resource,
        authz.issuer(),
        Jwks::from_json(&jwks.to_string()).unwrap(),
    );
    let refused = mcp_server::http::auth::TokenValidator::validate(&validator, &forged).await;
    assert!(
        refused.is_err(),
        "a symmetric key of the JWKS is never used"
    );
    assert!(Jwks::from_json(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).is_err());
    assert!(Jwks::from_json("not json").is_err());
}

// ---------------------------------------------------------------------------------------------
// Opaque tokens: introspection.

#[tokio::test]
async fn opaque_tokens_are_introspected() {
    let authz = TestAuthServer::start().await.unwrap();
    let listener = bind().await;
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let validator = IntrospectionValidator::new(&resource, authz.introspection_url())
        .client_credentials(INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET)
        .issuer(authz.issuer());
    let auth = ResourceServer::new(&resource, authz.issuer(), validator).unwrap();
    let _server = Running::start(listener, HttpConfig::new().auth(auth)).await;

    let good = authz.opaque_token(&json!({
        "aud": resource, "iss": authz.issuer(), "sub": "alice", "scope": SCOPE,
    }));
    assert_eq!(discover(&resource, Some(&good)).await.status(), 200);
    let elsewhere = authz.opaque_token(&json!({
        "aud": "https://other.example.com/mcp", "iss": authz.issuer(), "sub": "alice",
    }));
    assert_eq!(discover(&resource, Some(&elsewhere)).await.status(), 401);
    let no_aud = authz.opaque_token(&json!({"iss": authz.issuer(), "sub": "alice"}));
    assert_eq!(discover(&resource, Some(&no_aud)).await.status(), 401);
    assert_eq!(
        discover(&resource, Some("unknown-token")).await.status(),
        401
    );
    authz.revoke(&good);
    assert_eq!(discover(&resource, Some(&good)).await.status(), 401);
    assert_eq!(authz.introspections(), 5);

    // With a cache: one introspection for requests in a row.
    let validator = IntrospectionValidator::new(&resource, authz.introspection_url())
        .client_credentials(INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET)
        .cache_for(Duration::from_secs(60));
    let token = authz.opaque_token(&json!({"aud": resource, "sub": "bob"}));
    for _ in 0..3 {
        let identity = mcp_server::http::auth::TokenValidator::validate(&validator, &token)
            .await
            .unwrap();
        assert_eq!(identity.subject(), "bob");
    }
    assert_eq!(authz.introspections(), 6);
    let refused = mcp_server::http::auth::TokenValidator::validate(&validator, "unknown").await;
    assert!(refused.is_err());

    // Wrong client credentials: the authorization server refuses, the token cannot be checked.
    let validator = IntrospectionValidator::new(&resource, authz.introspection_url())
        .client_credentials(INTROSPECTION_CLIENT_ID, "wrong");
    let token = authz.opaque_token(&json!({"aud": resource, "sub": "alice"}));
    let answer = mcp_server::http::auth::TokenValidator::validate(&validator, &token).await;
    assert!(matches!(
        answer,
        Err(mcp_server::http::auth::AuthError::Unavailable(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Metadata.

// ---------------------------------------------------------------------------------------------
// DPoP-bound tokens (RFC 9449).

/// A modern `server/discover` with `Authorization: DPoP <token>` and `proofs` as `DPoP` headers.
async fn dpop_discover(url: &str, token: &str, proofs: &[&str]) -> reqwest::Response {
    let mut request = client()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "server/discover")
        .header("authorization", format!("DPoP {token}"))
        .body(discover_body());
    for proof in proofs {
        request = request.header("dpop", *proof);
    }
    request.send().await.unwrap()
}

const ALGS: &str = "RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA";

/// The challenge of a refused DPoP request.
fn dpop_challenge(server: &Running, error: &str, description: &str) -> String {
    format!(
        "DPoP algs=\"{ALGS}\", error=\"{error}\", error_description=\"{description}\", \
         Bearer resource_metadata=\"{}\", scope=\"{SCOPE}\"",
        server.url("/.well-known/oauth-protected-resource/mcp")
    )
}

/// The request is refused with 401 and exactly this DPoP challenge.
async fn assert_dpop_refused(
    server: &Running,
    response: reqwest::Response,
    error: &str,
    description: &str,
) {
    assert_eq!(response.status(), 401);
    assert_eq!(
        www_authenticate(&response),
        dpop_challenge(server, error, description)
    );
}

/// The proof is accepted: the request is served.
async fn assert_served(response: reqwest::Response) {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("result").is_some(), "{body}");
}

#[tokio::test]
async fn a_dpop_bound_token_as_a_plain_bearer_token_gets_401() {
    let authz = TestAuthServer::start().await.unwrap();
    let server = jwt_server(&authz, |j| j).await;
    let key = TestDpopKey::generate().unwrap();
    let token = authz.dpop_token(&server.resource(), "alice", &[SCOPE], &key);
    let r = discover(&server.resource(), Some(&token)).await;
    assert_dpop_refused(
        &server,
        r,
        "invalid_token",
        "the token is DPoP-bound: present it with the DPoP scheme and a proof",
    )
    .await;
    // With a proof by its key, the same token is served.
    let proof = key.proof("POST", &server.resource(), Some(&token));
    assert_served(dpop_discover(&server.resource(), &token, &[&proof]).await).await;
}

#[tokio::test]
async fn an_introspected_dpop_bound_token_needs_its_proof_too() {
    let authz = TestAuthServer::start().await.unwrap();
    let listener = bind().await;
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let validator = IntrospectionValidator::new(&resource, authz.introspection_url())
        .client_credentials(INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET);
    let auth = ResourceServer::new(&resource, authz.issuer(), validator)
        .unwrap()
        .scopes_supported([SCOPE]);
    let server = Running::start(listener, HttpConfig::new().auth(auth)).await;
    let key = TestDpopKey::generate().unwrap();
    // RFC 9449 section 6.2: the introspection answer carries the binding.
    let token = authz.opaque_token(&json!({
        "aud": resource, "sub": "alice", "cnf": {"jkt": key.thumbprint()},
    }));
    let r = discover(&resource, Some(&token)).await;
    assert_dpop_refused(
        &server,
        r,
        "invalid_token",
        "the token is DPoP-bound: present it with the DPoP scheme and a proof",
    )
    .await;
    let proof = key.proof("POST", &resource, Some(&token));
    assert_served(dpop_discover(&resource, &token, &[&proof]).await).await;
}

#[tokio::test]
async fn a_dpop_bound_token_with_a_valid_proof_is_served() {
    let authz = TestAuthServer::start().await.unwrap();
    let server = jwt_server(&authz, |j| j).await;
    let key = TestDpopKey::generate().unwrap();
    let token = authz.dpop_token(&server.resource(), "alice", &[SCOPE], &key);
    for _ in 0..3 {
        // A fresh proof per request; `htu` without the query (there is none to add here).
        let proof = key.proof("POST", &server.resource(), Some(&token));
        assert_served(dpop_discover(&server.resource(), &token, &[&proof]).await).await;
    }
    // The scheme's name is case-insensitive, the host's too.
    let upper = server.resource().replace("http://", "HTTP://");
    let proof = key.proof("POST", &upper, Some(&token));
    let r = client()
        .post(server.resource())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "server/discover")
        .header("authorization", format!("dpop {token}"))
        .header("dpop", proof)
        .body(discover_body())
        .send()
        .await
        .unwrap();
    assert_served(r).await;
}

#[tokio::test]
async fn the_dpop_scheme_needs_a_bound_token_and_exactly_one_proof() {
    let authz = TestAuthServer::start().await.unwrap();
    let server = jwt_server(&authz, |j| j).await;
    let key = TestDpopKey::generate().unwrap();
    let plain = authz.access_token(&server.resource(), "alice", &[SCOPE]);
    let proof = key.proof("POST", &server.resource(), Some(&plain));
    let r = dpop_discover(&server.resource(), &plain, &[&proof]).await;
    assert_dpop_refused(&server, r, "invalid_token", "the token is not DPoP-bound").await;

    let token = authz.dpop_token(&server.resource(), "alice", &[SCOPE], &key);
    let r = dpop_discover(&server.resource(), &token, &[]).await;
    assert_dpop_refused(&server, r, "invalid_dpop_proof", "no DPoP proof").await;
    let one = key.proof("POST", &server.resource(), Some(&token));
    let two = key.proof("POST", &server.resource(), Some(&token));
    let r = dpop_discover(&server.resource(), &token, &[&one, &two]).await;
    assert_dpop_refused(&server, r, "invalid_dpop_proof", "more than one DPoP proof").await;
    let r = dpop_discover(&server.resource(), "not-a-jwt", &[&one]).await;
    assert_dpop_refused(&server, r, "invalid_token", "the token is not valid").await;

    let fresh = key.proof("POST", &server.resource(), Some(&token));
    assert_served(dpop_discover(&server.resource(), &token, &[&fresh]).await).await;
}

/// A DPoP server, a key, a token bound to it, and the claims of a good proof for it.
struct DpopCase {
    _authz: TestAuthServer,
    server: Running,
    key: TestDpopKey,
    token: String,
}

impl DpopCase {
    async fn start() -> Self {
        let authz = TestAuthServer::start().await.unwrap();
        let server = jwt_server(&authz, |j| j).await;
        let key = TestDpopKey::generate().unwrap();
        let token = authz.dpop_token(&server.resource(), "alice", &[SCOPE], &key);
        DpopCase {
            _authz: authz,
            server,
            key,
            token,
        }
    }

    fn good_claims(&self) -> Value {
        self.key
            .claims("POST", &self.server.resource(), Some(&self.token))
    }

    /// A proof with `change` applied to good claims is refused with `description` (as
    /// `invalid_dpop_proof`, or `error`); a good proof is served afterwards.
    async fn refused(&self, change: impl FnOnce(&mut Value), error: &str, description: &str) {
        let mut claims = self.good_claims();
        change(&mut claims);
        let proof = self.key.sign(&self.key.header(), &claims);
        let r = dpop_discover(&self.server.resource(), &self.token, &[&proof]).await;
        assert_dpop_refused(&self.server, r, error, description).await;
        self.served().await;
    }

    async fn served(&self) {
        let proof = self.key.sign(&self.key.header(), &self.good_claims());
        assert_served(dpop_discover(&self.server.resource(), &self.token, &[&proof]).await).await;
    }
}

#[tokio::test]
async fn a_dpop_proof_for_another_method_is_refused() {
    let case = DpopCase::start().await;
    let bad = "the proof's `htm` is not the request's method";
    case.refused(|c| c["htm"] = json!("GET"), "invalid_dpop_proof", bad)
        .await;
    case.refused(|c| c["htm"] = json!("post"), "invalid_dpop_proof", bad)
        .await;
    case.refused(
        |c| _ = c.as_object_mut().unwrap().remove("htm"),
        "invalid_dpop_proof",
        bad,
    )
    .await;
}

#[tokio::test]
async fn a_dpop_proof_for_another_url_is_refused() {
    let case = DpopCase::start().await;
    let bad = "the proof's `htu` is not the request's URL";
    let resource = case.server.resource();
    let other_path = resource.replace("/mcp", "/other");
    case.refused(|c| c["htu"] = json!(other_path), "invalid_dpop_proof", bad)
        .await;
    case.refused(
        |c| c["htu"] = json!("https://mcp.example.com/mcp"),
        "invalid_dpop_proof",
        bad,
    )
    .await;
    case.refused(|c| c["htu"] = json!("/mcp"), "invalid_dpop_proof", bad)
        .await;
    // A query and a fragment are not compared.
    let with_query = format!("{resource}?a=1#frag");
    let mut claims = case.good_claims();
    claims["htu"] = json!(with_query);
    let proof = case.key.sign(&case.key.header(), &claims);
    assert_served(dpop_discover(&resource, &case.token, &[&proof]).await).await;
}

#[tokio::test]
async fn a_dpop_proof_with_a_stale_or_future_iat_is_refused() {
    let case = DpopCase::start().await;
    let bad = "the proof's `iat` is too far from now";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    case.refused(|c| c["iat"] = json!(now - 120), "invalid_dpop_proof", bad)
        .await;
    case.refused(|c| c["iat"] = json!(now + 120), "invalid_dpop_proof", bad)
        .await;
    case.refused(
        |c| _ = c.as_object_mut().unwrap().remove("iat"),
        "invalid_dpop_proof",
        "the proof has no `iat`",
    )
    .await;
}

#[tokio::test]
async fn a_replayed_dpop_proof_is_refused() {
    let case = DpopCase::start().await;
    let proof = case
        .key
        .proof("POST", &case.server.resource(), Some(&case.token));
    assert_served(dpop_discover(&case.server.resource(), &case.token, &[&proof]).await).await;
    let again = dpop_discover(&case.server.resource(), &case.token, &[&proof]).await;
    assert_dpop_refused(
        &case.server,
        again,
        "invalid_dpop_proof",
        "the proof was already used",
    )
    .await;
    // The same `jti` in another proof is a replay too.
    let mut claims = case.good_claims();
    let first: Value =
        serde_json::from_slice(&B64.decode(proof.split('.').nth(1).unwrap()).unwrap()).unwrap();
    claims["jti"] = first["jti"].clone();
    let same_jti = case.key.sign(&case.key.header(), &claims);
    let r = dpop_discover(&case.server.resource(), &case.token, &[&same_jti]).await;
    assert_dpop_refused(
        &case.server,
        r,
        "invalid_dpop_proof",
        "the proof was already used",
    )
    .await;
    case.refused(
        |c| _ = c.as_object_mut().unwrap().remove("jti"),
        "invalid_dpop_proof",
        "the proof has no usable `jti`",
    )
    .await;
}

#[tokio::test]
async fn a_dpop_proof_for_another_token_is_refused() {
    let case = DpopCase::start().await;
    let bad = "the proof's `ath` is not the hash of the access token";
    let other = B64.encode(sha2::Sha256::digest(b"another token"));
    case.refused(|c| c["ath"] = json!(other), "invalid_dpop_proof", bad)
        .await;
    case.refused(
        |c| _ = c.as_object_mut().unwrap().remove("ath"),
        "invalid_dpop_proof",
        bad,
    )
    .await;
}

#[tokio::test]
async fn a_dpop_proof_by_another_key_is_refused() {
    let case = DpopCase::start().await;
    // A valid proof, by a key the token is not bound to.
    let thief = TestDpopKey::generate().unwrap();
    let proof = thief.proof("POST", &case.server.resource(), Some(&case.token));
    let r = dpop_discover(&case.server.resource(), &case.token, &[&proof]).await;
    assert_dpop_refused(
        &case.server,
        r,
        "invalid_token",
        "the token is bound to another key than the proof's",
    )
    .await;
    // The right key in the header, signed by another one: the signature fails.
    let forged = thief.sign(&case.key.header(), &case.good_claims());
    let r = dpop_discover(&case.server.resource(), &case.token, &[&forged]).await;
    assert_dpop_refused(
        &case.server,
        r,
        "invalid_dpop_proof",
        "the proof's signature does not verify",
    )
    .await;
    case.served().await;
}

#[tokio::test]
async fn a_dpop_proof_with_a_bad_header_is_refused() {
    let case = DpopCase::start().await;
    let claims = case.good_claims();
    let cases = [
        (
            json!({"typ": "JWT", "alg": "ES256", "jwk": case.key.jwk()}),
            "the proof's `typ` is not `dpop+jwt`",
        ),
        (
            json!({"typ": "dpop+jwt", "alg": "ES256"}),
            "the proof has no `jwk`",
        ),
        (
            json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}}),
            "the proof's `jwk` holds a private key",
        ),
        (
            json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": {
                "kty": "EC", "crv": "P-256", "x": case.key.jwk()["x"], "y": case.key.jwk()["y"],
                "d": "AAAA"
            }}),
            "the proof's `jwk` holds a private key",
        ),
        (
            json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": case.key.jwk()}),
            "the proof's algorithm is not allowed for its key",
        ),
        (
            json!({"typ": "dpop+jwt", "alg": "none", "jwk": case.key.jwk()}),
            "the proof's header is malformed",
        ),
        (
            json!({"typ": "dpop+jwt", "alg": "ES384", "jwk": case.key.jwk()}),
            "the proof's algorithm is not allowed for its key",
        ),
    ];
    for (header, description) in cases {
        let proof = case.key.sign(&header, &claims);
        let r = dpop_discover(&case.server.resource(), &case.token, &[&proof]).await;
        assert_dpop_refused(&case.server, r, "invalid_dpop_proof", description).await;
    }
    let r = dpop_discover(&case.server.resource(), &case.token, &["not.a.proof"]).await;
    assert_dpop_refused(
        &case.server,
        r,
        "invalid_dpop_proof",
        "the proof's header is not JSON",
    )
    .await;
    case.served().await;
}

#[tokio::test]
async fn protected_resource_metadata() {
    let authz = TestAuthServer::start().await.unwrap();
    let resource = "https://mcp.example.com/mcp";
    let validator = JwtValidator::new(resource, authz.issuer(), Jwks::url(authz.jwks_url()));
    let auth = ResourceServer::new(resource, "https://auth.example.com", validator)
        .unwrap()
        .authorization_server("https://login.example.com")
        .scopes_supported(["kpi:read", "kpi:write"])
        .resource_name("KPI server")
        .resource_documentation("https://mcp.example.com/docs");
    assert_eq!(
        auth.metadata_url(),
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    );
    let listener = bind().await;
    let server = Running::start(listener, HttpConfig::new().auth(auth)).await;

    let inserted = client()
        .get(server.url("/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap();
    assert_eq!(inserted.status(), 200);
    assert_eq!(inserted.headers()["content-type"], "application/json");
    let inserted: Value = inserted.json().await.unwrap();
    let root: Value = client()
        .get(server.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inserted, root);
    insta::assert_json_snapshot!("protected_resource_metadata", inserted);
    assert_eq!(authz.jwks_fetches(), 0, "the metadata needs no token");
}

#[tokio::test]
async fn resource_uris_are_checked() {
    let authz = TestAuthServer::start().await.unwrap();
    for bad in [
        "http://mcp.example.com/mcp",
        "https://mcp.example.com/mcp#frag",
        "mcp.example.com",
    ] {
        let validator = JwtValidator::new(bad, authz.issuer(), Jwks::url(authz.jwks_url()));
        let error = ResourceServer::new(bad, authz.issuer(), validator).unwrap_err();
        assert!(error.to_string().contains(bad), "{error}");
    }
}

// ---------------------------------------------------------------------------------------------
// Logs.

/// What the tracing subscriber of a test wrote.
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

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// A subscriber at TRACE writing here, for this thread (the test's current-thread runtime
    /// runs the server too).
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        crate::support::capture_logs(subscriber)
    }
}

#[tokio::test]
async fn the_token_never_reaches_the_logs() {
    let logs = Captured::default();
    let _guard = logs.install();
    let authz = TestAuthServer::start().await.unwrap();
    let server = jwt_server(&authz, |j| j).await;
    let resource = server.resource();
    let good = authz.access_token(&resource, "alice-in-logs", &[SCOPE]);
    let expired = authz.token(&json!({
        "iss": authz.issuer(), "aud": resource, "sub": "alice", "exp": 1,
    }));
    let elsewhere = authz.access_token("https://other.example.com/mcp", "alice", &[SCOPE]);
    assert_eq!(discover(&resource, Some(&good)).await.status(), 200);
    assert_eq!(discover(&resource, Some(&expired)).await.status(), 401);
    assert_eq!(discover(&resource, Some(&elsewhere)).await.status(), 401);
    let text = logs.text();
    assert!(
        text.contains("bearer token accepted") && text.contains("alice-in-logs"),
        "the capture works: {text}"
    );
    assert!(text.contains("invalid token"), "{text}");
    for token in [&good, &expired, &elsewhere] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !text.contains(token.as_str()),
            "a token in the logs: {text}"
        );
        assert!(
            !text.contains(signature),
            "a token's signature in the logs: {text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// TLS and client certificates.

struct Pki {
    ca_pem: String,
    server_chain: String,
    server_key: String,
    /// A client certificate (CN=alice) signed by the CA, and its key.
    alice: (String, String),
    /// A client certificate (CN=mallory) from another CA.
    mallory: (String, String),
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn client_cert(issuer: &CertifiedIssuer<'static, KeyPair>, cn: &str) -> (String, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Example");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &**issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn pki() -> Pki {
    let ca = new_ca("Test CA");
    let rogue = new_ca("Rogue CA");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().unwrap();
    let server = params.signed_by(&key, &*ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        server_chain: server.pem(),
        server_key: key.serialize_pem(),
        alice: client_cert(&ca, "alice"),
        mallory: client_cert(&rogue, "mallory"),
    }
}

/// A raw HTTPS exchange: the handshake (with `identity` as the client certificate), then a
/// modern `server/discover`. `Err` when the handshake or the exchange fails; the response's head
/// and body otherwise.
async fn https_discover(
    addr: SocketAddr,
    pki: &Pki,
    identity: Option<&(String, String)>,
) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let exchange = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let body = discover_body();
        let request = format!(
            "POST /mcp HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
             accept: application/json, text/event-stream\r\nmcp-protocol-version: 2026-07-28\r\n\
             mcp-method: server/discover\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut response = Vec::new();
        tls.read_to_end(&mut response)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if response.is_empty() {
            return Err("closed without a response".to_owned());
        }
        Ok(String::from_utf8_lossy(&response).into_owned())
    };
    tokio::time::timeout(PATIENCE, exchange)
        .await
        .map_err(|_| "timed out".to_owned())?
}

/// A handshake with `identity` as the client certificate, then a read, as a refused client
/// would: the TLS alert the server refused the handshake with (as rustls reports it), or what
/// went otherwise.
async fn tls_refusal(addr: SocketAddr, pki: &Pki, identity: Option<&(String, String)>) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    // TLS 1.3: the client's side of the handshake is over before the server judges its
    // certificate; the server's verdict is the first thing the client reads.
    let mut tls = match connector.connect(name, tcp).await {
        Ok(tls) => tls,
        Err(e) => return e.to_string(),
    };
    let mut byte = [0u8; 1];
    match tls.read(&mut byte).await {
        Ok(n) => format!("read {n} bytes"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn mtls_refuses_clients_without_a_trusted_certificate() {
    let logs = Captured::default();
    let _guard = logs.install();
    let pki = pki();
    let tls = TlsConfig::from_pem(pki.server_chain.as_bytes(), pki.server_key.as_bytes())
        .unwrap()
        .require_client_certificates(pki.ca_pem.as_bytes())
        .unwrap();
    let server = Running::start(bind().await, HttpConfig::new().tls(tls)).await;

    assert_eq!(
        tls_refusal(server.addr, &pki, None).await,
        "received fatal alert: CertificateRequired",
        "no client certificate"
    );
    assert_eq!(
        tls_refusal(server.addr, &pki, Some(&pki.mallory)).await,
        "received fatal alert: UnknownCA",
        "a client certificate from another CA"
    );

    let alice = https_discover(server.addr, &pki, Some(&pki.alice))
        .await
        .unwrap();
    assert!(alice.starts_with("HTTP/1.1 200"), "{alice}");
    assert!(alice.contains("\"result\""), "{alice}");
    let text = logs.text();
    assert!(
        text.contains("client certificate accepted") && text.contains("subject=alice"),
        "{text}"
    );
    assert!(!text.contains("mallory"), "{text}");
    // Plain HTTP on a TLS port gets no HTTP answer: a TLS alert record, then the end.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"POST /mcp HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    assert_eq!(answer.first(), Some(&0x15), "an alert record: {answer:?}");
    // Alice is still served.
    let alice = https_discover(server.addr, &pki, Some(&pki.alice))
        .await
        .unwrap();
    assert!(alice.starts_with("HTTP/1.1 200"), "{alice}");
}

#[tokio::test]
async fn tls_without_client_certificates() {
    let pki = pki();
    let tls = TlsConfig::from_pem(pki.server_chain.as_bytes(), pki.server_key.as_bytes()).unwrap();
    let server = Running::start(bind().await, HttpConfig::new().tls(tls)).await;
    let response = https_discover(server.addr, &pki, None).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn mtls_identity_mapping() {
    let logs = Captured::default();
    let _guard = logs.install();
    let pki = pki();
    let tls = TlsConfig::from_pem(pki.server_chain.as_bytes(), pki.server_key.as_bytes())
        .unwrap()
        .require_client_certificates(pki.ca_pem.as_bytes())
        .unwrap();
    let mapped = tls.clone().map_client_identity(|cert| {
        let organization = cert.subject().contains("O=Example");
        let subject = format!("svc:{}", cert.common_name()?);
        organization
            .then(|| mcp_server::Identity::new(subject, mcp_server::AuthMethod::ClientCertificate))
    });
    let server = Running::start(bind().await, HttpConfig::new().tls(mapped)).await;
    let alice = https_discover(server.addr, &pki, Some(&pki.alice))
        .await
        .unwrap();
    assert!(alice.starts_with("HTTP/1.1 200"), "{alice}");
    assert!(logs.text().contains("subject=svc:alice"), "{}", logs.text());

    // A mapping that finds no identity refuses the handshake.
    let refusing = tls.map_client_identity(|_| None);
    let refuser = Running::start(bind().await, HttpConfig::new().tls(refusing)).await;
    assert_eq!(
        tls_refusal(refuser.addr, &pki, Some(&pki.alice)).await,
        "received fatal alert: AccessDenied",
        "the mapping refused alice"
    );
    assert!(
        logs.text()
            .contains("client certificate without an identity: handshake refused"),
        "{}",
        logs.text()
    );
    // The certificate is checked before the mapping: another CA's is still an unknown CA.
    assert_eq!(
        tls_refusal(refuser.addr, &pki, Some(&pki.mallory)).await,
        "received fatal alert: UnknownCA"
    );
    // The mapping server still serves alice.
    let alice = https_discover(server.addr, &pki, Some(&pki.alice))
        .await
        .unwrap();
    assert!(alice.starts_with("HTTP/1.1 200"), "{alice}");
}

#[test]
fn bad_tls_settings_are_errors() {
    let pki = pki();
    assert!(TlsConfig::from_pem(b"", pki.server_key.as_bytes()).is_err());
    assert!(TlsConfig::from_pem(pki.server_chain.as_bytes(), b"nonsense").is_err());
    // A key that is not the certificate's.
    assert!(TlsConfig::from_pem(pki.server_chain.as_bytes(), pki.alice.1.as_bytes()).is_err());
    let tls = TlsConfig::from_pem(pki.server_chain.as_bytes(), pki.server_key.as_bytes()).unwrap();
    assert!(tls.require_client_certificates(b"").is_err());
}
