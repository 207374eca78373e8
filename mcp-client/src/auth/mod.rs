//! OAuth 2.1 authorization for HTTP servers (the MCP "authorization" spec pages of 2025-11-25
//! and 2026-07-28).
//!
//! Give [`crate::HttpServer::oauth`] an [`OAuthConfig`] and the transport does the rest: it sends
//! `Authorization: Bearer` on every request; on HTTP 401 it reads the `WWW-Authenticate`
//! challenge, discovers the protected resource metadata (RFC 9728) and the authorization
//! server's metadata (RFC 8414 / OpenID Connect discovery), registers the client (pre-registered,
//! a Client ID Metadata Document, or dynamic registration, RFC 7591), runs the authorization
//! code flow with PKCE S256, `state`, `resource` (RFC 8707) and the `iss` check (RFC 9207), and
//! sends the failed request again once. On 403 `insufficient_scope` it re-authorizes with the
//! scopes it had plus the challenged ones (step-up), a bounded number of times. Expired tokens
//! are refreshed. Machine clients use the client credentials grant instead
//! ([`OAuthConfig::client_credentials`]).
//!
//! Pre-registered credentials (a client secret, a `private_key_jwt` key, a JWT bearer
//! assertion) are bound to the authorization server they were registered with
//! ([`OAuthConfig::issuer`]) and are never sent to another one, even one the resource's
//! metadata names.
//!
//! Every URL the client learns from a server (metadata, endpoints, redirects) passes an SSRF
//! guard: `http(s)` only, and no private, link-local or loopback address unless the MCP server
//! itself is on such an address.
//!
//! ```no_run
//! # async fn run() -> mcp_client::Result<()> {
//! use mcp_client::auth::{LoopbackHandler, OAuthConfig};
//! use mcp_client::{Client, HttpServer};
//!
//! let handler = LoopbackHandler::bind(0).await.map_err(|e| mcp_client::Error::Connection(e.to_string()))?;
//! let server = HttpServer::new("https://mcp.example.com/mcp")
//!     .oauth(OAuthConfig::authorization_code(handler).client_name("my-tool"));
//! let client = Client::builder().connect_http(server).await?;
//! # Ok(()) }
//! ```

mod assertion;
mod challenge;
mod discovery;
mod dpop;
mod flow;
mod guard;
mod handler;
mod store;

use std::fmt;
use std::sync::Arc;

pub use assertion::{AssertionProvider, AssertionRequest, IdJagExchange, StaticAssertion};
pub use challenge::BearerChallenge;
pub use discovery::{AuthorizationServerMetadata, ProtectedResourceMetadata};
pub(crate) use flow::{Attempts, Authorizer, Presented};
pub use guard::UrlGuard;
pub use handler::{AuthorizationHandler, HeadlessHandler, LoopbackHandler};
pub use store::{InMemoryTokenStore, RegisteredClient, TokenKey, TokenStore, Tokens};

/// Why authorization failed. Never contains a token.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A URL from a server was refused by the SSRF guard.
    #[error("refused URL `{url}`: {reason}")]
    RefusedUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The protected resource metadata names a different resource than the server.
    #[error("the protected resource metadata is for `{resource}`, not for `{server}`")]
    ResourceMismatch {
        /// What the metadata says.
        resource: String,
        /// The MCP server's URL.
        server: String,
    },
    /// Metadata could not be found or is invalid.
    #[error("discovery: {0}")]
    Discovery(String),
    /// The authorization server metadata's `issuer` is not the issuer it was fetched for.
    #[error("the authorization server metadata says issuer `{found}`, expected `{expected}`")]
    IssuerMismatch {
        /// The issuer the metadata was looked up for.
        expected: String,
        /// The `issuer` in the document.
        found: String,
    },
    /// The authorization server does not support PKCE with S256.
    #[error("the authorization server `{0}` does not support PKCE with S256")]
    NoPkce(String),
    /// The client could not be registered.
    #[error("client registration: {0}")]
    Registration(String),
    /// The authorization response was refused (state, `iss`, missing code) or carried an error.
    #[error("authorization response: {0}")]
    AuthorizationResponse(String),
    /// The token endpoint refused.
    #[error("token endpoint: {0}")]
    Token(String),
    /// The server kept refusing after the allowed number of authorizations.
    #[error("the server still refuses after {0} authorization attempts")]
    TooManyAttempts(usize),
    /// The server asks again for scopes that were already asked for (and maybe granted).
    #[error("the server still asks for the scope `{0}`, which was already asked for")]
    ScopeNotHonoured(String),
    /// The authorization handler failed (the user closed the browser, a timeout, I/O).
    #[error("authorization handler: {0}")]
    Handler(String),
    /// An HTTP request failed.
    #[error("HTTP: {0}")]
    Http(String),
    /// The client's credentials (a client secret, a `private_key_jwt` key, a JWT bearer
    /// assertion) are for an authorization server the resource does not name: they are sent
    /// to no other. See [`OAuthConfig::issuer`].
    #[error(
        "the client's credentials are for the authorization server `{bound}`, not for {offered:?}: they are not sent there"
    )]
    CredentialsBound {
        /// The issuer the credentials are for.
        bound: String,
        /// The authorization servers the resource names.
        offered: Vec<String>,
    },
    /// The configuration cannot work (e.g. an invalid private key).
    #[error("configuration: {0}")]
    Config(String),
}

/// How the client proves who it is at the token endpoint.
#[derive(Clone)]
pub(crate) enum Identity {
    /// Register or use a metadata document, whatever the authorization server supports.
    Automatic,
    /// A client registered beforehand, with or without a secret.
    PreRegistered {
        client_id: String,
        secret: Option<String>,
    },
    /// `private_key_jwt` (RFC 7523) with a PEM private key.
    PrivateKeyJwt {
        client_id: String,
        key_pem: String,
        algorithm: String,
    },
}

/// Which grant obtains tokens.
#[derive(Clone)]
pub(crate) enum Grant {
    AuthorizationCode(Arc<dyn AuthorizationHandler>),
    ClientCredentials,
    JwtBearer(Arc<dyn AssertionProvider>),
}

/// How an [`crate::HttpServer`] obtains access tokens.
///
/// Start with [`OAuthConfig::authorization_code`] (a user signs in through a browser) or
/// [`OAuthConfig::client_credentials`] (a machine client with its own credentials).
#[derive(Clone)]
pub struct OAuthConfig {
    pub(crate) grant: Grant,
    pub(crate) identity: Identity,
    pub(crate) metadata_url: Option<String>,
    pub(crate) client_name: String,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) max_attempts: usize,
    pub(crate) offline_access: bool,
    pub(crate) dpop: bool,
    pub(crate) issuer: Option<String>,
}

impl fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let grant = match self.grant {
            Grant::AuthorizationCode(_) => "authorization_code",
            Grant::ClientCredentials => "client_credentials",
            Grant::JwtBearer(_) => "jwt-bearer",
        };
        let identity = match &self.identity {
            Identity::Automatic => "automatic".to_owned(),
            Identity::PreRegistered { client_id, .. } => format!("pre-registered `{client_id}`"),
            Identity::PrivateKeyJwt { client_id, .. } => format!("private_key_jwt `{client_id}`"),
        };
        f.debug_struct("OAuthConfig")
            .field("grant", &grant)
            .field("identity", &identity)
            .field("metadata_url", &self.metadata_url)
            .field("client_name", &self.client_name)
            .field("scopes", &self.scopes)
            .field("max_attempts", &self.max_attempts)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl OAuthConfig {
    fn with_grant(grant: Grant, identity: Identity) -> Self {
        OAuthConfig {
            grant,
            identity,
            metadata_url: None,
            client_name: "mcp-rs client".to_owned(),
            scopes: None,
            store: Arc::new(InMemoryTokenStore::default()),
            max_attempts: 3,
            offline_access: true,
            dpop: true,
            issuer: None,
        }
    }

    /// The authorization code flow: `handler` shows the user the authorization URL and brings
    /// back the redirect. The client registers itself unless [`Self::client_id`] says otherwise.
    pub fn authorization_code(handler: impl AuthorizationHandler + 'static) -> Self {
        Self::with_grant(
            Grant::AuthorizationCode(Arc::new(handler)),
            Identity::Automatic,
        )
    }

    /// The client credentials grant for a machine client registered as `client_id`; add
    /// [`Self::client_secret`] (sent as `client_secret_basic` or `_post`, as the server
    /// supports) or [`Self::private_key_jwt`].
    pub fn client_credentials(client_id: impl Into<String>) -> Self {
        Self::with_grant(
            Grant::ClientCredentials,
            Identity::PreRegistered {
                client_id: client_id.into(),
                secret: None,
            },
        )
    }

    /// The JWT bearer grant (RFC 7523): `provider` gives the assertion, e.g. a workload
    /// identity token ([`StaticAssertion`]) or an ID-JAG from the enterprise identity provider
    /// ([`IdJagExchange`]). Set [`Self::client_id`] (and [`Self::client_secret`]) when the
    /// authorization server wants the client to authenticate too.
    pub fn jwt_bearer(provider: impl AssertionProvider + 'static) -> Self {
        Self::with_grant(Grant::JwtBearer(Arc::new(provider)), Identity::Automatic)
    }

    /// Uses a client registered beforehand instead of registering one.
    #[must_use]
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        let secret = match self.identity {
            Identity::PreRegistered { secret, .. } => secret,
            _ => None,
        };
        self.identity = Identity::PreRegistered {
            client_id: client_id.into(),
            secret,
        };
        self
    }

    /// The secret of the pre-registered client (set [`Self::client_id`] first).
    #[must_use]
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        if let Identity::PreRegistered { secret: s, .. } = &mut self.identity {
            *s = Some(secret.into());
        }
        self
    }

    /// Authenticates the pre-registered client with a JWT signed by this PEM key
    /// (`private_key_jwt`, RFC 7523); `algorithm` is e.g. `ES256` or `RS256`.
    #[must_use]
    pub fn private_key_jwt(
        mut self,
        key_pem: impl Into<String>,
        algorithm: impl Into<String>,
    ) -> Self {
        let client_id = match &self.identity {
            Identity::PreRegistered { client_id, .. }
            | Identity::PrivateKeyJwt { client_id, .. } => client_id.clone(),
            Identity::Automatic => String::new(),
        };
        self.identity = Identity::PrivateKeyJwt {
            client_id,
            key_pem: key_pem.into(),
            algorithm: algorithm.into(),
        };
        self
    }

    /// The issuer identifier of the authorization server the client was registered with (its
    /// `issuer`, e.g. `https://auth.example.com`).
    ///
    /// The client's credentials ([`Self::client_secret`], [`Self::private_key_jwt`], the
    /// assertion of [`Self::jwt_bearer`]) are bound to that authorization server: they are sent
    /// to its token endpoint only, never to another one, even one the resource's metadata names
    /// (a resource server could otherwise collect them). When the metadata does not name it,
    /// authorization fails with [`AuthError::CredentialsBound`] and nothing is sent. Without
    /// this setting, the credentials are bound to the first authorization server they are sent
    /// to, for the life of the transport; set it whenever the client has a secret or a key.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Whether the client has credentials that must go to one authorization server only.
    pub(crate) fn has_credentials(&self) -> bool {
        matches!(self.grant, Grant::JwtBearer(_))
            || matches!(
                self.identity,
                Identity::PreRegistered {
                    secret: Some(_),
                    ..
                } | Identity::PrivateKeyJwt { .. }
            )
    }

    /// The `https` URL of this client's Client ID Metadata Document, used as its `client_id`
    /// when the authorization server advertises `client_id_metadata_document_supported`.
    #[must_use]
    pub fn client_metadata_url(mut self, url: impl Into<String>) -> Self {
        self.metadata_url = Some(url.into());
        self
    }

    /// The `client_name` sent in dynamic registration.
    #[must_use]
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = name.into();
        self
    }

    /// Scopes to ask for when neither the challenge nor the resource metadata names any.
    #[must_use]
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Where tokens and registered clients are kept (in memory by default).
    #[must_use]
    pub fn token_store(mut self, store: impl TokenStore + 'static) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// How many authorizations one request may trigger (401, then 403 step-ups) before it
    /// fails (3 by default).
    #[must_use]
    pub fn max_attempts(mut self, attempts: usize) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Whether to use DPoP (RFC 9449) when the authorization server supports ES256 proofs (on
    /// by default): tokens are then bound to a key this transport makes, and every request
    /// carries a fresh proof.
    #[must_use]
    pub fn dpop(mut self, on: bool) -> Self {
        self.dpop = on;
        self
    }

    /// Whether to ask for `offline_access` (a refresh token) when the authorization server
    /// lists it in `scopes_supported` (on by default).
    #[must_use]
    pub fn offline_access(mut self, on: bool) -> Self {
        self.offline_access = on;
        self
    }
}
