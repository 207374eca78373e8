//! Authentication on Streamable HTTP: the OAuth 2.1 resource server, and TLS with client
//! certificates.
//!
//! # Bearer tokens
//!
//! A [`ResourceServer`] set with [`HttpConfig::auth`](super::HttpConfig::auth) makes every request
//! to the MCP endpoint carry `Authorization: Bearer <token>`, checked by a [`TokenValidator`]:
//! [`JwtValidator`] (a JWT signed by a key of the authorization server's JWKS),
//! [`IntrospectionValidator`] (RFC 7662, for opaque tokens), or your own.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_server::Server;
//! use mcp_server::http::{self, HttpConfig};
//! use mcp_server::http::auth::{Jwks, JwtValidator, ResourceServer};
//!
//! let resource = "https://mcp.example.com/mcp";
//! let issuer = "https://auth.example.com";
//! let validator = JwtValidator::new(
//!     resource,
//!     issuer,
//!     Jwks::url("https://auth.example.com/.well-known/jwks.json"),
//! );
//! let auth = ResourceServer::new(resource, issuer, validator)?
//!     .scopes_supported(["kpi:read", "kpi:write"]);
//! let config = HttpConfig::new().auth(auth).allowed_hosts(["mcp.example.com"]);
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8000").await?;
//! http::serve(Server::new("kpi", "1.0.0"), config, listener, std::future::pending()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! | request | answer |
//! |---|---|
//! | `Origin` or `Host` not allowed ([`HttpConfig::allowed_origins`](super::HttpConfig::allowed_origins)) | 403, before the token is looked at |
//! | GET `/.well-known/oauth-protected-resource` and `/.well-known/oauth-protected-resource{path}` | the RFC 9728 metadata, without authentication |
//! | no `Authorization: Bearer` header (a token elsewhere, such as the query string, is ignored) | 401, `WWW-Authenticate: Bearer resource_metadata="…"` (and `scope="…"`) |
//! | a token the validator refuses | 401, the same with `error="invalid_token"` |
//! | several `Authorization` headers, or a malformed one | 400, `error="invalid_request"` |
//! | the validator cannot reach the authorization server | 503 |
//! | a valid token without every one of [`ResourceServer::required_scopes`] | 403, `error="insufficient_scope"` |
//! | a valid token | served: the caller's [`Identity`] is in the request's extensions |
//! | a DPoP-bound token (`cnf.jkt`) as `Authorization: Bearer` | 401, `WWW-Authenticate: DPoP algs="…", error="invalid_token", error_description="…", Bearer resource_metadata="…"` |
//! | `Authorization: DPoP <token>` with a bad, missing, repeated, stale or replayed `DPoP` proof | 401, the same with `error="invalid_dpop_proof"` |
//! | `Authorization: DPoP <token>` with a valid proof by the key the token is bound to | served |
//!
//! # DPoP (RFC 9449)
//!
//! A token whose claims (or introspection answer) carry a `cnf.jkt` confirmation is bound to a
//! key of the client: it is accepted only as `Authorization: DPoP <token>`, with exactly one
//! `DPoP` header holding a proof that
//! - is a JWT with `typ` `dpop+jwt`, signed by the public key in its `jwk` header (asymmetric,
//!   one of [`ResourceServer::dpop_algorithms`]; a `jwk` with private parts is refused),
//! - whose key's RFC 7638 thumbprint is the token's `cnf.jkt` (else `invalid_token`),
//! - names the request: `htm` its method, `htu` its URL (the resource's origin and the request's
//!   path; query and fragment are not compared, scheme and host are case-insensitive),
//! - is fresh: `iat` within [`ResourceServer::dpop_proof_window`] of now (60 seconds by default),
//!   and its `jti` never seen before for that key in that window (a [`DpopReplayStore`]; the
//!   default [`InMemoryReplayStore`] has bounded memory),
//! - is for this token: `ath` is the base64url SHA-256 of the access token.
//!
//! The `DPoP` header, like the token, goes no further than the check. A token without `cnf` is
//! a plain bearer token and is refused with the `DPoP` scheme. The metadata lists the proof
//! algorithms as `dpop_signing_alg_values_supported`. `testing::TestDpopKey` makes proofs
//! for tests (the `testing` feature).
//!
//! The `Authorization` header is removed from the request before it is served, so the token
//! cannot be forwarded upstream by a handler, and it is never logged: validators see it, nothing
//! else does. A denial is logged at `debug` with its reason, never with the token.
//!
//! # TLS and client certificates
//!
//! [`TlsConfig`] set with [`HttpConfig::tls`](super::HttpConfig::tls) makes
//! [`serve`](super::serve) speak HTTPS; with
//! [`TlsConfig::require_client_certificates`], a client must present a certificate signed by the
//! given CA, or the handshake is refused, and the certificate's subject becomes the caller's
//! [`Identity`] ([`AuthMethod::ClientCertificate`](crate::AuthMethod::ClientCertificate)). When a
//! [`ResourceServer`] is set too, the bearer token is still required, and its identity is the
//! one requests carry.

mod dpop;
mod introspection;
mod jwt;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use axum::routing::get;
use serde_json::{Value, json};

pub use dpop::{DpopReplayStore, InMemoryReplayStore};
pub use introspection::IntrospectionValidator;
pub use jwt::{Jwks, JwtAlgorithm, JwtValidator};
pub use tls::{ClientCertificate, TlsConfig, TlsError};

use super::config::{Allow, HttpConfig};
use super::header_checks::{host_allowed, origin_allowed};
use super::service::LocalAddr;
use crate::identity::Identity;
use mcp_core::{ErrorObject, JsonRpcError, JsonRpcMessage};

/// The well-known path of the protected resource metadata (RFC 9728).
const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// Why a token was refused.
///
/// The messages are for logs and never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The token is not valid for this resource: malformed, badly signed, expired, for another
    /// audience or issuer, inactive. The client gets 401 with `error="invalid_token"`.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The token could not be checked: the authorization server (JWKS or introspection endpoint)
    /// is unreachable or answered nonsense. The client gets 503.
    #[error("the token could not be checked: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// An invalid token, for this reason.
    pub fn invalid(reason: impl Into<String>) -> Self {
        AuthError::InvalidToken(reason.into())
    }

    /// A token that could not be checked, for this reason.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        AuthError::Unavailable(reason.into())
    }
}

/// A mistake in the authentication settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuthConfigError(pub(crate) String);

/// Checks a bearer token and says who it belongs to.
///
/// Implement it to plug in another kind of token; [`JwtValidator`] and
/// [`IntrospectionValidator`] are the two this crate provides. A validator must check that the
/// token was issued for this resource (its audience), by a trusted issuer, and is still valid.
///
/// ```
/// use mcp_server::{AuthMethod, Identity};
/// use mcp_server::http::auth::{AuthError, TokenValidator};
///
/// /// Tokens from a table held by the application.
/// struct Table(std::collections::HashMap<String, String>);
///
/// impl TokenValidator for Table {
///     async fn validate(&self, token: &str) -> Result<Identity, AuthError> {
///         match self.0.get(token) {
///             Some(subject) => Ok(Identity::new(subject.clone(), AuthMethod::Bearer)),
///             None => Err(AuthError::invalid("unknown token")),
///         }
///     }
/// }
/// ```
pub trait TokenValidator: Send + Sync + 'static {
    /// The identity of the token's owner, or why the token is refused.
    ///
    /// The token must not be logged, stored in the identity, or sent anywhere but to the
    /// authorization server that issued it.
    fn validate(&self, token: &str) -> impl Future<Output = Result<Identity, AuthError>> + Send;

    /// The identity of the token's owner when it is known without waiting, such as a token
    /// this validator verified a moment ago and remembers; `None` to have it
    /// [`validate`](TokenValidator::validate)d. What it returns must be what `validate` would
    /// return now. The default knows nothing.
    ///
    /// The server asks it first, so that a request whose token is known goes through without a
    /// future of its own.
    fn validate_now(&self, token: &str) -> Option<Identity> {
        let _ = token;
        None
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`TokenValidator`] made object safe.
trait DynValidator: Send + Sync {
    fn validate_boxed<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Identity, AuthError>>;
    fn validate_now_dyn(&self, token: &str) -> Option<Identity>;
}

impl<V: TokenValidator> DynValidator for V {
    fn validate_boxed<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Identity, AuthError>> {
        Box::pin(self.validate(token))
    }

    fn validate_now_dyn(&self, token: &str) -> Option<Identity> {
        self.validate_now(token)
    }
}

/// The OAuth 2.1 resource server of an MCP endpoint: its canonical URI, the authorization servers
/// it trusts, the scopes it knows, and the validator of its tokens.
///
/// Set it with [`HttpConfig::auth`](super::HttpConfig::auth); see the [module docs](self).
#[derive(Clone)]
pub struct ResourceServer {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    resource: String,
    /// The absolute URL of the metadata document for `resource` (RFC 9728, section 3.1).
    metadata_url: String,
    /// The path of that URL, served by the router (with the bare well-known path).
    metadata_path: String,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    required_scopes: Vec<String>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
    validator: Arc<dyn DynValidator>,
    /// `scheme://authority` of `resource`: the origin of the `htu` of DPoP proofs.
    origin: String,
    dpop: Arc<dpop::DpopChecker>,
}

impl fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceServer")
            .field("resource", &self.inner.resource)
            .field("authorization_servers", &self.inner.authorization_servers)
            .field("scopes_supported", &self.inner.scopes_supported)
            .field("required_scopes", &self.inner.required_scopes)
            .finish_non_exhaustive()
    }
}

impl ResourceServer {
    /// The resource server whose canonical URI is `resource` (the URL clients connect to, such
    /// as `https://mcp.example.com/mcp`: `https`, or `http` on a loopback host; no query, no
    /// fragment), whose tokens come from the authorization server `issuer` (its issuer URL, the
    /// first of the metadata's `authorization_servers`), checked by `validator`.
    ///
    /// The validator must require tokens whose audience is `resource`.
    pub fn new(
        resource: impl Into<String>,
        issuer: impl Into<String>,
        validator: impl TokenValidator,
    ) -> Result<Self, AuthConfigError> {
        let resource = resource.into();
        let issuer = issuer.into();
        if issuer.is_empty() {
            return Err(AuthConfigError(
                "the authorization server's issuer URL is empty".to_owned(),
            ));
        }
        let (origin, path) = split_resource(&resource)?;
        let metadata_path = if path == "/" {
            METADATA_PATH.to_owned()
        } else {
            format!("{METADATA_PATH}{path}")
        };
        Ok(ResourceServer {
            inner: Arc::new(Inner {
                metadata_url: format!("{origin}{metadata_path}"),
                origin,
                metadata_path,
                resource,
                authorization_servers: vec![issuer],
                scopes_supported: Vec::new(),
                required_scopes: Vec::new(),
                resource_name: None,
                resource_documentation: None,
                validator: Arc::new(validator),
                dpop: Arc::new(dpop::DpopChecker::new()),
            }),
        })
    }

    fn edit(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.inner)
    }

    /// Adds the issuer URL of another authorization server that issues tokens for this resource
    /// (`authorization_servers` of the metadata).
    #[must_use]
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        self.edit().authorization_servers.push(issuer);
        self
    }

    /// The scopes this resource understands (`scopes_supported` of the metadata, and the
    /// `scope` of a 401 when no [`required_scopes`](Self::required_scopes) are set).
    #[must_use]
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.edit().scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Scopes every token must carry: a valid token without one of them gets 403
    /// `insufficient_scope`. They are the `scope` of a 401.
    #[must_use]
    pub fn required_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.edit().required_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// A human-readable name of the resource (`resource_name` of the metadata).
    #[must_use]
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.edit().resource_name = Some(name.into());
        self
    }

    /// A URL of documentation for developers (`resource_documentation` of the metadata).
    #[must_use]
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.edit().resource_documentation = Some(url.into());
        self
    }

    /// How far the `iat` of a DPoP proof may be from the server's clock, either way (default
    /// 60 seconds). Proofs are remembered (to refuse a replay) for twice as long.
    #[must_use]
    pub fn dpop_proof_window(mut self, window: Duration) -> Self {
        let dpop = Arc::make_mut(&mut self.edit().dpop);
        dpop.window = window;
        self
    }

    /// The algorithms a DPoP proof may be signed with (default: all of [`JwtAlgorithm::ALL`];
    /// each key still allows only its own). They are the `algs` of the `DPoP` challenge and the
    /// metadata's `dpop_signing_alg_values_supported`.
    #[must_use]
    pub fn dpop_algorithms(mut self, algorithms: impl IntoIterator<Item = JwtAlgorithm>) -> Self {
        let dpop = Arc::make_mut(&mut self.edit().dpop);
        dpop.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Where the DPoP proofs already used are remembered (default: an
    /// [`InMemoryReplayStore`], right for one process; several instances behind a load
    /// balancer need a shared one).
    #[must_use]
    pub fn dpop_replay_store(mut self, store: impl DpopReplayStore) -> Self {
        let dpop = Arc::make_mut(&mut self.edit().dpop);
        dpop.replay = Arc::new(store);
        self
    }

    /// The canonical URI of the resource.
    pub fn resource(&self) -> &str {
        &self.inner.resource
    }

    /// The absolute URL of the protected resource metadata, as sent in `resource_metadata`.
    pub fn metadata_url(&self) -> &str {
        &self.inner.metadata_url
    }

    /// The protected resource metadata document (RFC 9728).
    pub fn metadata(&self) -> Value {
        let inner = &self.inner;
        let mut doc = json!({
            "resource": inner.resource,
            "authorization_servers": inner.authorization_servers,
            "bearer_methods_supported": ["header"],
            "dpop_signing_alg_values_supported": inner.dpop.algorithm_names(),
        });
        let object = doc.as_object_mut().expect("an object");
        if !inner.scopes_supported.is_empty() {
            object.insert("scopes_supported".into(), json!(inner.scopes_supported));
        }
        if let Some(name) = &inner.resource_name {
            object.insert("resource_name".into(), json!(name));
        }
        if let Some(url) = &inner.resource_documentation {
            object.insert("resource_documentation".into(), json!(url));
        }
        doc
    }

    /// The identity of a request's bearer token when the validator knows it without waiting
    /// ([`TokenValidator::validate_now`]), it is not DPoP-bound, and it has the required scopes;
    /// `None` for any other request, which [`ResourceServer::authenticate`] checks (and refuses
    /// if it must).
    fn authenticate_now(&self, headers: &HeaderMap) -> Option<Identity> {
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return None;
        };
        let (Scheme::Bearer, token) = access_token(value)? else {
            return None;
        };
        let identity = self.inner.validator.validate_now_dyn(token)?;
        if dpop::bound_key(identity.claims()).is_some()
            || !self.missing_scopes(&identity).is_empty()
        {
            return None;
        }
        tracing::debug!(subject = %identity.subject(), "bearer token accepted");
        Some(identity)
    }

    /// Checks the credentials of a `method` request to `path`: the identity of its access
    /// token (with its DPoP proof when the token is DPoP-bound), or the response refusing it.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        method: &Method,
        path: &str,
    ) -> Result<Identity, Box<Response<Body>>> {
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            if headers.contains_key(AUTHORIZATION) {
                tracing::debug!("request refused: several Authorization headers");
                return Err(Box::new(
                    self.challenge(StatusCode::BAD_REQUEST, Some("invalid_request")),
                ));
            }
            return Err(Box::new(self.challenge(StatusCode::UNAUTHORIZED, None)));
        };
        let Some((scheme, token)) = access_token(value) else {
            // Another scheme (Basic, ...) or a malformed header: as if there were no token.
            tracing::debug!("request refused: no bearer token");
            return Err(Box::new(self.challenge(StatusCode::UNAUTHORIZED, None)));
        };
        // Not `validate_now` first: a validator that knows tokens at once answers `validate`
        // from the same knowledge, and `authenticate_now` has already asked it.
        let identity = match self.inner.validator.validate_boxed(token).await {
            Ok(identity) => identity,
            Err(AuthError::InvalidToken(reason)) => {
                tracing::debug!(%reason, "request refused: invalid token");
                return Err(Box::new(match scheme {
                    Scheme::Bearer => {
                        self.challenge(StatusCode::UNAUTHORIZED, Some("invalid_token"))
                    }
                    Scheme::Dpop => self.dpop_challenge("invalid_token", "the token is not valid"),
                }));
            }
            Err(AuthError::Unavailable(reason)) => {
                tracing::warn!(%reason, "a token could not be checked");
                return Err(Box::new(unavailable()));
            }
        };
        let bound = dpop::bound_key(identity.claims());
        match (scheme, bound) {
            (Scheme::Bearer, None) => {}
            (Scheme::Bearer, Some(_)) => {
                tracing::debug!(subject = %identity.subject(), "request refused: a DPoP-bound token without a DPoP proof");
                return Err(Box::new(self.dpop_challenge(
                    "invalid_token",
                    "the token is DPoP-bound: present it with the DPoP scheme and a proof",
                )));
            }
            (Scheme::Dpop, None) => {
                tracing::debug!(subject = %identity.subject(), "request refused: the DPoP scheme with a token that is not DPoP-bound");
                return Err(Box::new(
                    self.dpop_challenge("invalid_token", "the token is not DPoP-bound"),
                ));
            }
            (Scheme::Dpop, Some(jkt)) => {
                let mut proofs = headers.get_all("dpop").iter();
                let proof = match (proofs.next(), proofs.next()) {
                    (Some(p), None) => p.to_str().unwrap_or_default(),
                    (None, _) => "",
                    (Some(_), Some(_)) => {
                        return Err(Box::new(
                            self.dpop_challenge("invalid_dpop_proof", "more than one DPoP proof"),
                        ));
                    }
                };
                if proof.is_empty() {
                    return Err(Box::new(
                        self.dpop_challenge("invalid_dpop_proof", "no DPoP proof"),
                    ));
                }
                let htu = format!("{}{path}", self.inner.origin);
                let checked = self
                    .inner
                    .dpop
                    .check(proof, method.as_str(), &htu, token, jkt)
                    .await;
                match checked {
                    Ok(()) => {}
                    Err(dpop::DpopError::Proof(reason)) => {
                        tracing::debug!(%reason, "request refused: invalid DPoP proof");
                        return Err(Box::new(self.dpop_challenge("invalid_dpop_proof", &reason)));
                    }
                    Err(dpop::DpopError::Token(reason)) => {
                        tracing::debug!(%reason, "request refused: invalid DPoP binding");
                        return Err(Box::new(self.dpop_challenge("invalid_token", &reason)));
                    }
                    Err(dpop::DpopError::Unavailable(reason)) => {
                        tracing::warn!(%reason, "a DPoP proof could not be checked");
                        return Err(Box::new(unavailable()));
                    }
                }
            }
        }
        let missing = self.missing_scopes(&identity);
        if !missing.is_empty() {
            tracing::debug!(subject = %identity.subject(), ?missing, "request refused: insufficient scope");
            return Err(Box::new(insufficient_scope(
                self,
                &self.inner.required_scopes,
            )));
        }
        if bound.is_some() {
            tracing::debug!(subject = %identity.subject(), "DPoP-bound token accepted");
        } else {
            tracing::debug!(subject = %identity.subject(), "bearer token accepted");
        }
        Ok(identity)
    }

    /// 401 with a `DPoP` challenge (RFC 9449 section 7.1) carrying `error` and `description`,
    /// followed by the `Bearer` challenge with `resource_metadata` (and `scope`).
    fn dpop_challenge(&self, error: &str, description: &str) -> Response<Body> {
        let mut response = self.challenge(StatusCode::UNAUTHORIZED, None);
        let bearer = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("Bearer")
            .to_owned();
        let dpop = format!(
            "DPoP algs=\"{}\", error=\"{error}\", error_description=\"{}\"",
            self.inner.dpop.algorithm_names().join(" "),
            quoted(description),
        );
        if let Ok(value) = HeaderValue::from_str(&format!("{dpop}, {bearer}")) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }

    fn missing_scopes(&self, identity: &Identity) -> Vec<&str> {
        self.inner
            .required_scopes
            .iter()
            .filter(|s| !identity.has_scope(s))
            .map(String::as_str)
            .collect()
    }

    /// 401 or 400 with the `WWW-Authenticate` challenge of RFC 6750 and RFC 9728.
    fn challenge(&self, status: StatusCode, error: Option<&str>) -> Response<Body> {
        let inner = &self.inner;
        let mut params = vec![format!(
            "resource_metadata=\"{}\"",
            quoted(&inner.metadata_url)
        )];
        let scopes = if inner.required_scopes.is_empty() {
            &inner.scopes_supported
        } else {
            &inner.required_scopes
        };
        if !scopes.is_empty() {
            params.push(format!("scope=\"{}\"", quoted(&scopes.join(" "))));
        }
        if let Some(error) = error {
            params.push(format!("error=\"{error}\""));
        }
        with_challenge(status, &params.join(", "))
    }
}

/// The 403 refusing a caller that lacks `scopes`: `WWW-Authenticate: Bearer
/// error="insufficient_scope", scope="…", resource_metadata="…"` (RFC 6750, section 3.1).
///
/// `scopes` are the scopes the request needs (the client asks the authorization server for them
/// in a step-up authorization).
pub fn insufficient_scope(resource_server: &ResourceServer, scopes: &[String]) -> Response<Body> {
    let params = format!(
        "error=\"insufficient_scope\", scope=\"{}\", resource_metadata=\"{}\"",
        quoted(&scopes.join(" ")),
        quoted(&resource_server.inner.metadata_url),
    );
    with_challenge(StatusCode::FORBIDDEN, &params)
}

fn with_challenge(status: StatusCode, params: &str) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    // The parameters come from the settings (URLs, scope names) and constants; a character a
    // header cannot hold leaves the bare scheme.
    let value = HeaderValue::from_str(&format!("Bearer {params}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
    response.headers_mut().insert(WWW_AUTHENTICATE, value);
    response
}

/// A quoted-string's content: backslashes and quotes escaped.
fn quoted(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// 503: the token or its proof could not be checked.
fn unavailable() -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
}

/// How an access token is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    /// `Authorization: DPoP <token>` with a `DPoP` proof header (RFC 9449 section 7.1).
    Dpop,
}

/// The scheme and token of `Authorization: Bearer <token>` or `Authorization: DPoP <token>`.
fn access_token(value: &HeaderValue) -> Option<(Scheme, &str)> {
    let text = value.to_str().ok()?;
    let (scheme, _) = text.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("dpop") {
        return token68(text).map(|t| (Scheme::Dpop, t));
    }
    bearer_token_of(text).map(|t| (Scheme::Bearer, t))
}

/// The token of an `Authorization` value `Bearer <token>` (the scheme in any case), if it is
/// one: a `b64token` of RFC 6750.
fn bearer_token_of(value: &str) -> Option<&str> {
    let (scheme, _) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    token68(value)
}

/// The bytes of a `b64token` (RFC 6750) before its trailing `=`: ASCII letters and digits and
/// `-._~+/`. (No byte of a character outside ASCII is one.)
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

/// The `b64token` after the scheme of an `Authorization` value.
fn token68(value: &str) -> Option<&str> {
    let (_, token) = value.split_once(' ')?;
    let token = token.trim_matches(' ');
    let body = token.trim_end_matches('=');
    (!body.is_empty() && body.bytes().all(|b| B64TOKEN[usize::from(b)])).then_some(token)
}

/// The origin (`scheme://authority`) and path of a canonical resource URI.
fn split_resource(resource: &str) -> Result<(String, String), AuthConfigError> {
    let bad = |why: &str| AuthConfigError(format!("resource URI `{resource}`: {why}"));
    let uri: Uri = resource.parse().map_err(|_| bad("not a URI"))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(bad("not an absolute URI"));
    };
    if resource.contains('#') {
        return Err(bad("a fragment is not allowed"));
    }
    if uri.query().is_some() {
        return Err(bad("a query is not allowed"));
    }
    let loopback = matches!(authority.host(), "localhost" | "127.0.0.1" | "[::1]");
    match scheme {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(bad("`http` is only allowed on a loopback host")),
        _ => return Err(bad("the scheme must be `https`")),
    }
    if authority.as_str().contains('@') {
        return Err(bad("user information is not allowed"));
    }
    let path = uri.path().trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    Ok((format!("{scheme}://{authority}"), path.to_owned()))
}

/// What the middleware needs: the resource server, and the `Origin` and `Host` policies, checked
/// first (a request from a disallowed origin gets 403 whether or not it has a token).
struct AuthMiddleware {
    auth: ResourceServer,
    origins: Allow,
    hosts: Allow,
}

/// Refuses a URL keys or token answers may not be fetched from: not `https` (or `http` on a
/// loopback host), since whoever can alter them can forge any token.
pub(crate) fn check_fetch_url(url: &str) -> Result<(), String> {
    let uri: Uri = url.parse().map_err(|_| format!("`{url}` is not a URL"))?;
    let loopback = uri
        .host()
        .is_some_and(|h| matches!(h, "localhost" | "127.0.0.1" | "[::1]" | "::1"));
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if loopback => Ok(()),
        _ => Err(format!("`{url}` must use https")),
    }
}

/// The router with authentication: `auth` guards the routes of `router`; the metadata routes
/// are added without it.
pub(super) fn protect(router: Router, auth: &ResourceServer, config: &HttpConfig) -> Router {
    // Shared: the middleware's state is cloned for every request, and the allowed origins and
    // hosts may be lists.
    let middleware = Arc::new(AuthMiddleware {
        auth: auth.clone(),
        origins: config.origins.clone(),
        hosts: config.hosts.clone(),
    });
    let guarded = router.route_layer(tower::layer::layer_fn(move |inner| RequireToken {
        middleware: middleware.clone(),
        inner,
    }));
    let metadata = get(serve_metadata).options(metadata_preflight);
    let mut routes = Router::new().route(METADATA_PATH, metadata.clone());
    if auth.inner.metadata_path != METADATA_PATH {
        routes = routes.route(&auth.inner.metadata_path, metadata);
    }
    guarded.merge(routes.with_state(auth.clone()))
}

/// The authentication layer: a request goes on to the route with its [`Identity`] (and without
/// its credentials), or gets the response refusing it.
///
/// A service of its own rather than `axum::middleware::from_fn`, which clones the inner route and
/// boxes a future for every request: a request whose token the validator knows at once
/// ([`ResourceServer::authenticate_now`]) is passed to the route in place; the others are
/// checked in a future of their own.
#[derive(Clone)]
struct RequireToken<S> {
    middleware: Arc<AuthMiddleware>,
    inner: S,
}

impl<S> tower::Service<Request> for RequireToken<S>
where
    S: tower::Service<Request, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future =
        futures::future::Either<S::Future, BoxFuture<'static, Result<Response<Body>, Infallible>>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        if self.middleware.disallowed_place(&request).is_none()
            && let Some(identity) = self.middleware.auth.authenticate_now(request.headers())
        {
            admit(&mut request, identity);
            return futures::future::Either::Left(self.inner.call(request));
        }
        // The service made ready is the one to call: keep it for the future, leave a clone.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let middleware = self.middleware.clone();
        futures::future::Either::Right(Box::pin(require_token(middleware, request, inner)))
    }
}

impl AuthMiddleware {
    /// What of the request's place is not allowed: its `Host` (`host name`, checked first) or
    /// its `Origin` (`origin`); `None` when both are.
    fn disallowed_place(&self, request: &Request) -> Option<&'static str> {
        let local_loopback = request
            .extensions()
            .get::<LocalAddr>()
            .map(|a| a.0.ip().to_canonical().is_loopback());
        if !host_allowed(
            &self.hosts,
            request.headers(),
            request.uri(),
            local_loopback,
        ) {
            return Some("host name");
        }
        (!origin_allowed(&self.origins, request.headers())).then_some("origin")
    }
}

/// The request on its way to the route: with its caller's identity, without its credentials (the
/// token and its proof go no further than the validator).
fn admit(request: &mut Request, identity: Identity) {
    request.headers_mut().remove(AUTHORIZATION);
    request.headers_mut().remove("dpop");
    request.extensions_mut().insert(identity);
}

/// The checks of a request [`RequireToken`] could not admit at once, then the route.
async fn require_token<S>(
    middleware: Arc<AuthMiddleware>,
    mut request: Request,
    mut inner: S,
) -> Result<Response<Body>, Infallible>
where
    S: tower::Service<Request, Response = Response<Body>, Error = Infallible>,
{
    if let Some(what) = middleware.disallowed_place(&request) {
        let message = format!("this {what} is not allowed");
        let mut response = forbidden(&message);
        super::service::mark_auth_refusal(&mut response, Some(&message));
        return Ok(response);
    }
    match middleware
        .auth
        .authenticate(request.headers(), request.method(), request.uri().path())
        .await
    {
        Ok(identity) => {
            admit(&mut request, identity);
            inner.call(request).await
        }
        Err(refusal) => {
            let mut response = *refusal;
            super::service::mark_auth_refusal(&mut response, None);
            Ok(response)
        }
    }
}

/// 403 with a JSON-RPC error, as the endpoint answers a disallowed origin or host.
fn forbidden(message: &str) -> Response<Body> {
    let error = JsonRpcMessage::Error(JsonRpcError::new(
        None,
        ErrorObject::invalid_request(message),
    ));
    let mut response = Response::new(Body::from(serde_json::to_vec(&error).unwrap_or_default()));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

async fn serve_metadata(State(auth): State<ResourceServer>) -> Response<Body> {
    let body = serde_json::to_vec(&auth.metadata()).unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
    // Public metadata: browser-based clients read it from other origins.
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    response
}

async fn metadata_preflight(method: Method) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = if method == Method::OPTIONS {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::METHOD_NOT_ALLOWED
    };
    let headers = response.headers_mut();
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, OPTIONS"),
    );
    response
}

/// The scopes of a `scope` claim (space separated) or an `scp` claim (an array or a string).
pub(crate) fn scopes_of(claims: &serde_json::Map<String, Value>) -> BTreeSet<String> {
    let mut scopes = BTreeSet::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => scopes.extend(s.split_ascii_whitespace().map(str::to_owned)),
            Some(Value::Array(items)) => {
                scopes.extend(items.iter().filter_map(Value::as_str).map(str::to_owned))
            }
            _ => {}
        }
    }
    scopes
}

/// The roles in `claim` (a top-level name, or a JSON pointer such as `/realm_access/roles`): an
/// array of strings or a space-separated string.
pub(crate) fn roles_of(claims: &serde_json::Map<String, Value>, claim: &str) -> Vec<String> {
    let value = if let Some(pointer) = claim.strip_prefix('/') {
        let (first, rest) = pointer.split_once('/').unwrap_or((pointer, ""));
        let first = first.replace("~1", "/").replace("~0", "~");
        claims.get(&first).and_then(|v| {
            if rest.is_empty() {
                Some(v)
            } else {
                v.pointer(&format!("/{rest}"))
            }
        })
    } else {
        claims.get(claim)
    };
    match value {
        Some(Value::String(s)) => s.split_ascii_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::AuthMethod;
    use axum::routing::post;
    use tower::ServiceExt as _;

    /// Accepts the token `good` as alice.
    struct OneToken;
    impl TokenValidator for OneToken {
        async fn validate(&self, token: &str) -> Result<Identity, AuthError> {
            if token == "good" {
                Ok(Identity::new("alice", AuthMethod::Bearer).with_scopes(["s"]))
            } else {
                Err(AuthError::invalid("unknown"))
            }
        }
    }

    /// What the endpoint behind the middleware sees: the identity, and any Authorization header.
    async fn seen(request: Request) -> String {
        let who = request
            .extensions()
            .get::<Identity>()
            .map_or("nobody", |i| i.subject())
            .to_owned();
        let header = request.headers().get(AUTHORIZATION).is_some();
        format!("{who} authorization={header}")
    }

    #[tokio::test]
    async fn the_endpoint_gets_the_identity_and_never_the_token() {
        let auth =
            ResourceServer::new("http://127.0.0.1/mcp", "https://as.example", OneToken).unwrap();
        let app = protect(
            Router::new().route("/mcp", post(seen)),
            &auth,
            &HttpConfig::new(),
        );
        let call = |token: Option<&str>| {
            let mut request = axum::http::Request::post("/mcp").header("host", "127.0.0.1");
            if let Some(token) = token {
                request = request.header(AUTHORIZATION, format!("Bearer {token}"));
            }
            app.clone().oneshot(request.body(Body::empty()).unwrap())
        };
        let response = call(Some("good")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(body, "alice authorization=false");
        let response = call(Some("bad")).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let response = call(None).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    /// Knows its tokens at once (as a cache of verified tokens would), and `validate` answers
    /// the same (as `validate_now`'s contract asks).
    struct Known;
    impl TokenValidator for Known {
        async fn validate(&self, token: &str) -> Result<Identity, AuthError> {
            self.validate_now(token)
                .ok_or_else(|| AuthError::invalid("not known"))
        }

        fn validate_now(&self, token: &str) -> Option<Identity> {
            let identity = Identity::new("alice", AuthMethod::Bearer);
            match token {
                "scoped" => Some(identity.with_scopes(["s"])),
                "unscoped" => Some(identity),
                "bound" => Some(
                    identity.with_scopes(["s"]).with_claims(
                        json!({"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}})
                            .as_object()
                            .cloned()
                            .unwrap(),
                    ),
                ),
                _ => None,
            }
        }
    }

    #[tokio::test]
    async fn a_token_known_at_once_is_still_checked_for_scopes_and_binding() {
        let auth = ResourceServer::new("http://127.0.0.1/mcp", "https://as.example", Known)
            .unwrap()
            .required_scopes(["s"]);
        let app = protect(
            Router::new().route("/mcp", post(seen)),
            &auth,
            &HttpConfig::new(),
        );
        let call = |token: &str, origin: Option<&str>| {
            let mut request = axum::http::Request::post("/mcp")
                .header("host", "127.0.0.1")
                .header(AUTHORIZATION, format!("Bearer {token}"));
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            app.clone().oneshot(request.body(Body::empty()).unwrap())
        };
        let response = call("scoped", None).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(body, "alice authorization=false");
        let response = call("unscoped", None).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let challenge = response.headers().get(WWW_AUTHENTICATE).unwrap();
        assert!(challenge.to_str().unwrap().contains("insufficient_scope"));
        // A DPoP-bound token presented as a bearer token.
        let response = call("bound", None).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let response = call("unknown", None).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        // A known token does not pass a disallowed origin.
        let response = call("scoped", Some("https://evil.example")).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn resource_uris() {
        let ok = |r: &str| split_resource(r).unwrap();
        assert_eq!(
            ok("https://mcp.example.com/mcp"),
            ("https://mcp.example.com".into(), "/mcp".into())
        );
        assert_eq!(
            ok("https://mcp.example.com"),
            ("https://mcp.example.com".into(), "/".into())
        );
        assert_eq!(
            ok("http://127.0.0.1:8000/a/b/"),
            ("http://127.0.0.1:8000".into(), "/a/b".into())
        );
        for bad in [
            "mcp.example.com/mcp",
            "http://mcp.example.com/mcp",
            "ftp://mcp.example.com/",
            "https://mcp.example.com/mcp#x",
            "https://mcp.example.com/mcp?x=1",
            "https://user@mcp.example.com/mcp",
            "/mcp",
        ] {
            assert!(split_resource(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fetch_urls() {
        assert!(check_fetch_url("https://auth.example.com/jwks").is_ok());
        assert!(check_fetch_url("http://127.0.0.1:9000/jwks").is_ok());
        assert!(check_fetch_url("http://localhost/jwks").is_ok());
        assert!(check_fetch_url("http://auth.example.com/jwks").is_err());
        assert!(check_fetch_url("file:///etc/passwd").is_err());
        assert!(check_fetch_url("not a url").is_err());
    }

    #[test]
    fn bearer_header() {
        let token = |s: &str| bearer_token_of(s).map(str::to_owned);
        assert_eq!(
            token("Bearer abc.def-_~+/=="),
            Some("abc.def-_~+/==".into())
        );
        assert_eq!(token("bearer xyz"), Some("xyz".into()));
        assert_eq!(token("Basic abc"), None);
        assert_eq!(token("Bearer"), None);
        assert_eq!(token("Bearer "), None);
        assert_eq!(token("Bearer a b"), None);
        assert_eq!(token("Bearer a\"b"), None);
        assert_eq!(token("Bearer a=b"), None);
        assert_eq!(token("Bearer =="), None);
        assert_eq!(token("Bearer a,b"), None);
        assert_eq!(token("Bearer caf\u{e9}"), None);
        assert_eq!(token("Bearer a\tb"), None);
    }

    #[test]
    fn scopes_and_roles() {
        let claims = json!({
            "scope": "a b  c",
            "scp": ["d"],
            "roles": ["ops", 3],
            "realm_access": {"roles": ["admin"]},
            "https://example.com/roles": "x y",
        });
        let claims = claims.as_object().unwrap();
        let scopes: Vec<_> = scopes_of(claims).into_iter().collect();
        assert_eq!(scopes, ["a", "b", "c", "d"]);
        assert_eq!(roles_of(claims, "roles"), ["ops"]);
        assert_eq!(roles_of(claims, "/realm_access/roles"), ["admin"]);
        assert_eq!(roles_of(claims, "https://example.com/roles"), ["x", "y"]);
        assert!(roles_of(claims, "missing").is_empty());
    }
}
