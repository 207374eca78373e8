//! A local authorization server for tests and examples (the `testing` feature).
//!
//! [`TestAuthServer`] holds ES256 key pairs, serves their JWKS and an introspection endpoint on
//! `127.0.0.1`, and mints tokens with whatever claims a test chooses. For clients it has its
//! metadata (RFC 8414) and a token endpoint for the client credentials grant, to machine clients
//! registered with [`TestAuthServer::add_client`]; there is no authorization endpoint (no user
//! signs in).
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use mcp_server::http::auth::testing::TestAuthServer;
//! use mcp_server::http::auth::{Jwks, JwtValidator, ResourceServer};
//!
//! let resource = "http://127.0.0.1:8000/mcp";
//! let authz = TestAuthServer::start().await?;
//! let validator = JwtValidator::new(resource, authz.issuer(), Jwks::url(authz.jwks_url()));
//! let token = authz.access_token(resource, "alice", &["kpi:read"]);
//! # let _ = (validator, token);
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use base64::Engine as _;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The client id the introspection endpoint expects (HTTP Basic).
pub const INTROSPECTION_CLIENT_ID: &str = "mcp-server";
/// The client secret the introspection endpoint expects (HTTP Basic).
pub const INTROSPECTION_CLIENT_SECRET: &str = "test-secret";

/// A local stand-in for an authorization server: JWKS at [`jwks_url`](Self::jwks_url),
/// introspection at [`introspection_url`](Self::introspection_url), tokens from
/// [`token`](Self::token) and friends. Stops when dropped.
pub struct TestAuthServer {
    state: Arc<Shared>,
    addr: SocketAddr,
    issuer: String,
    task: JoinHandle<()>,
}

struct Shared {
    issuer: String,
    keys: Mutex<Vec<TestKey>>,
    /// Machine clients: id to secret.
    clients: Mutex<HashMap<String, String>>,
    tokens_issued: AtomicUsize,
    opaque: Mutex<HashMap<String, Value>>,
    jwks_fetches: AtomicUsize,
    introspections: AtomicUsize,
    /// The JWKS endpoint answers 503 while this is set.
    jwks_down: std::sync::atomic::AtomicBool,
}

struct TestKey {
    kid: String,
    signing: EncodingKey,
    public: Jwk,
}

impl fmt::Debug for TestAuthServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestAuthServer")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl Drop for TestAuthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the system's random numbers");
    crate::trace::hex(&buf)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl TestKey {
    fn generate() -> io::Result<Self> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| io::Error::other("generating a P-256 key failed"))?;
        let signing = EncodingKey::from_ec_der(pkcs8.as_ref());
        let kid = random_hex(8);
        let mut public = Jwk::from_encoding_key(&signing, Algorithm::ES256)
            .map_err(|e| io::Error::other(format!("the public key: {e}")))?;
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        Ok(TestKey {
            kid,
            signing,
            public,
        })
    }
}

impl TestAuthServer {
    /// Starts serving on `127.0.0.1` (a free port), with one key.
    pub async fn start() -> io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let addr = listener.local_addr()?;
        let issuer = format!("http://{addr}");
        let state = Arc::new(Shared {
            issuer: issuer.clone(),
            keys: Mutex::new(vec![TestKey::generate()?]),
            clients: Mutex::new(HashMap::new()),
            tokens_issued: AtomicUsize::new(0),
            opaque: Mutex::new(HashMap::new()),
            jwks_fetches: AtomicUsize::new(0),
            introspections: AtomicUsize::new(0),
            jwks_down: std::sync::atomic::AtomicBool::new(false),
        });
        let app = Router::new()
            .route("/jwks", get(jwks))
            .route("/introspect", post(introspect))
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/token", post(token))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(TestAuthServer {
            state,
            addr,
            issuer,
            task,
        })
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The issuer identifier, `http://127.0.0.1:{port}` (the `iss` of its tokens).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Where the JWKS is served.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// Where tokens are introspected (RFC 7662), with HTTP Basic
    /// [`INTROSPECTION_CLIENT_ID`] and [`INTROSPECTION_CLIENT_SECRET`].
    pub fn introspection_url(&self) -> String {
        format!("{}/introspect", self.issuer)
    }

    /// The JWKS document served now.
    pub fn jwks(&self) -> Value {
        jwks_document(&self.state)
    }

    /// The key id (`kid`) tokens are signed with now.
    pub fn current_kid(&self) -> String {
        lock(&self.state.keys)
            .last()
            .map(|k| k.kid.clone())
            .unwrap_or_default()
    }

    /// A new key becomes the signing key (its id is returned); the older keys stay in the JWKS.
    pub fn rotate(&self) -> io::Result<String> {
        let key = TestKey::generate()?;
        let kid = key.kid.clone();
        lock(&self.state.keys).push(key);
        Ok(kid)
    }

    /// Makes the JWKS endpoint answer 503 (`false`), or serve the keys again (`true`): an
    /// outage of the authorization server, as the resource server sees it.
    pub fn set_jwks_available(&self, available: bool) {
        self.state.jwks_down.store(!available, Ordering::SeqCst);
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// How many introspection requests were answered.
    pub fn introspections(&self) -> usize {
        self.state.introspections.load(Ordering::SeqCst)
    }

    /// A JWT with exactly these claims, signed (ES256) by the current key, with its `kid`.
    pub fn token(&self, claims: &Value) -> String {
        sign(&self.state, claims)
    }

    /// Registers a machine client: the token endpoint ([`token_url`](Self::token_url)) gives
    /// it tokens by the client credentials grant, authenticated with `secret` (HTTP Basic or in
    /// the form). Its tokens carry [`claims`](Self::claims) for the `resource` it names, with
    /// `sub` its id and the scopes it asks for.
    pub fn add_client(&self, client_id: &str, secret: &str) {
        lock(&self.state.clients).insert(client_id.to_owned(), secret.to_owned());
    }

    /// Where clients get tokens (the client credentials grant).
    pub fn token_url(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// How many tokens the token endpoint gave.
    pub fn tokens_issued(&self) -> usize {
        self.state.tokens_issued.load(Ordering::SeqCst)
    }

    /// The claims of a typical access token: this issuer, `aud`, `sub`, `scope` (space
    /// separated, omitted when empty), `iat`, an `exp` five minutes ahead, and a `jti`.
    pub fn claims(&self, audience: &str, subject: &str, scopes: &[&str]) -> Value {
        claims(&self.issuer, audience, subject, &scopes.join(" "))
    }

    /// A signed JWT with [`claims`](Self::claims).
    pub fn access_token(&self, audience: &str, subject: &str, scopes: &[&str]) -> String {
        self.token(&self.claims(audience, subject, scopes))
    }

    /// A signed JWT with [`claims`](Self::claims) bound to `key` (`cnf.jkt`, RFC 9449): the
    /// resource server accepts it only with a DPoP proof signed by `key`.
    pub fn dpop_token(
        &self,
        audience: &str,
        subject: &str,
        scopes: &[&str],
        key: &TestDpopKey,
    ) -> String {
        let mut claims = self.claims(audience, subject, scopes);
        claims["cnf"] = json!({ "jkt": key.thumbprint() });
        self.token(&claims)
    }

    /// An opaque token whose introspection answers `"active": true` and `claims`.
    pub fn opaque_token(&self, claims: &Value) -> String {
        let token = random_hex(16);
        lock(&self.state.opaque).insert(token.clone(), claims.clone());
        token
    }

    /// Makes an opaque token inactive.
    pub fn revoke(&self, token: &str) {
        lock(&self.state.opaque).remove(token);
    }
}

/// The claims of a typical access token of `issuer` (see [`TestAuthServer::claims`]); `scope`
/// space-separated, left out when empty.
fn claims(issuer: &str, audience: &str, subject: &str, scope: &str) -> Value {
    let now = now();
    let mut claims = json!({
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "exp": now + 300,
        "jti": random_hex(8),
    });
    if !scope.is_empty() {
        claims["scope"] = json!(scope);
    }
    claims
}

/// An `application/x-www-form-urlencoded` body, its fields decoded.
fn form(body: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (form_decode(k), form_decode(v)))
        .collect()
}

fn sign(state: &Shared, claims: &Value) -> String {
    let keys = lock(&state.keys);
    let key = keys.last().expect("the server always has a key");
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    header.typ = Some("at+jwt".to_owned());
    jsonwebtoken::encode(&header, claims, &key.signing).expect("signing with a valid key")
}

/// The authorization server's metadata (RFC 8414).
async fn metadata(State(state): State<Arc<Shared>>) -> axum::Json<Value> {
    let issuer = &state.issuer;
    axum::Json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": [],
    }))
}

/// An OAuth error answer.
fn oauth_error(status: StatusCode, error: &str) -> (StatusCode, axum::Json<Value>) {
    (status, axum::Json(json!({ "error": error })))
}

/// The token endpoint: the client credentials grant, for the clients of
/// [`TestAuthServer::add_client`].
async fn token(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<Value>, (StatusCode, axum::Json<Value>)> {
    let form = form(&body);
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ));
    }
    // HTTP Basic (each part form-encoded, RFC 6749 2.3.1), or the form's own fields.
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(id, secret)| (form_decode(id), form_decode(secret)))
        });
    let (id, secret) = basic
        .or_else(|| {
            Some((
                form.get("client_id")?.clone(),
                form.get("client_secret")?.clone(),
            ))
        })
        .ok_or_else(|| oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"))?;
    if lock(&state.clients).get(&id) != Some(&secret) {
        return Err(oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"));
    }
    // The resource the token is for (RFC 8707) is its audience.
    let Some(resource) = form.get("resource") else {
        return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_target"));
    };
    let scope = form.get("scope").filter(|s| !s.is_empty());
    let mut claims = claims(
        &state.issuer,
        resource,
        &id,
        scope.map_or("", String::as_str),
    );
    claims["client_id"] = json!(id);
    state.tokens_issued.fetch_add(1, Ordering::SeqCst);
    let mut answer = json!({
        "access_token": sign(&state, &claims),
        "token_type": "Bearer",
        "expires_in": 300,
    });
    if let Some(scope) = scope {
        answer["scope"] = json!(scope);
    }
    Ok(axum::Json(answer))
}

fn jwks_document(state: &Shared) -> Value {
    let keys = lock(&state.keys);
    let public: Vec<&Jwk> = keys.iter().map(|k| &k.public).collect();
    json!({ "keys": public })
}

async fn jwks(State(state): State<Arc<Shared>>) -> Result<axum::Json<Value>, StatusCode> {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if state.jwks_down.load(Ordering::SeqCst) {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    Ok(axum::Json(jwks_document(&state)))
}

async fn introspect(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<Value>, StatusCode> {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{INTROSPECTION_CLIENT_ID}:{INTROSPECTION_CLIENT_SECRET}"
        ))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    state.introspections.fetch_add(1, Ordering::SeqCst);
    let token = form(&body).remove("token").ok_or(StatusCode::BAD_REQUEST)?;
    let answer = match lock(&state.opaque).get(&token) {
        Some(Value::Object(claims)) => {
            let mut answer = claims.clone();
            answer.insert("active".into(), Value::Bool(true));
            Value::Object(answer)
        }
        _ => json!({"active": false}),
    };
    Ok(axum::Json(answer))
}

/// Decodes one `application/x-www-form-urlencoded` value.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A client's DPoP key (ES256, RFC 9449): it signs the proofs that go with a token bound to it
/// ([`TestAuthServer::dpop_token`]).
///
/// ```
/// use mcp_server::http::auth::testing::TestDpopKey;
///
/// let key = TestDpopKey::generate().unwrap();
/// let proof = key.proof("POST", "http://127.0.0.1:8000/mcp", Some("the-access-token"));
/// // Send `Authorization: DPoP the-access-token` and `DPoP: {proof}`.
/// # let _ = proof;
/// ```
pub struct TestDpopKey {
    pair: EcdsaKeyPair,
    jwk: Value,
}

impl fmt::Debug for TestDpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDpopKey")
            .field("jwk", &self.jwk)
            .finish_non_exhaustive()
    }
}

impl TestDpopKey {
    /// A new P-256 key pair.
    pub fn generate() -> io::Result<Self> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| io::Error::other("generating a P-256 key failed"))?;
        // The public key is the uncompressed point 0x04 || x || y.
        let point = pair.public_key().as_ref().to_vec();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": b64(&point[1..33]),
            "y": b64(&point[33..65]),
        });
        Ok(TestDpopKey { pair, jwk })
    }

    /// The public key, as the `jwk` of a proof's header.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// The RFC 7638 thumbprint of the public key (SHA-256, base64url): the `cnf.jkt` of tokens
    /// bound to it.
    pub fn thumbprint(&self) -> String {
        use sha2::Digest as _;
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            self.jwk["x"].as_str().unwrap_or_default(),
            self.jwk["y"].as_str().unwrap_or_default()
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(canonical.as_bytes()))
    }

    /// The header of a proof: `typ` `dpop+jwt`, `alg` `ES256`, and the public key.
    pub fn header(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk })
    }

    /// The claims of a fresh proof for `method url`: a random `jti`, `htm`, `htu` (`url`
    /// without its query and fragment), `iat` now, and with `access_token`, its hash `ath`.
    pub fn claims(&self, method: &str, url: &str, access_token: Option<&str>) -> Value {
        use sha2::Digest as _;
        let htu = url.split(['?', '#']).next().unwrap_or(url);
        let mut claims = json!({
            "jti": random_hex(16),
            "htm": method,
            "htu": htu,
            "iat": now(),
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(sha2::Sha256::digest(token.as_bytes()))
            );
        }
        claims
    }

    /// A fresh proof for `method url`, bound to `access_token` when given.
    pub fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        self.sign(&self.header(), &self.claims(method, url, access_token))
    }

    /// A JWS of exactly this header and these claims, signed (ES256) with this key: for proofs
    /// that are wrong on purpose.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("signing with a valid key");
        format!("{input}.{}", b64(signature.as_ref()))
    }
}
