//! Where tokens and registered clients are kept.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

/// Tokens are kept per authorization server and protected resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    /// The authorization server's issuer identifier.
    pub issuer: String,
    /// The protected resource (the MCP server's resource identifier or URL).
    pub resource: String,
}

/// Tokens from a token endpoint. `Debug` does not show them.
#[derive(Clone)]
#[non_exhaustive]
pub struct Tokens {
    /// The access token.
    pub access_token: String,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<String>,
    /// When the access token expires, if the server said.
    pub expires_at: Option<SystemTime>,
    /// The scopes asked for (or granted, when the server said), space-separated.
    pub scope: Option<String>,
}

impl Tokens {
    /// Tokens with only an access token.
    pub fn new(access_token: impl Into<String>) -> Self {
        Tokens {
            access_token: access_token.into(),
            refresh_token: None,
            expires_at: None,
            scope: None,
        }
    }

    /// Whether the access token expires within `margin` from now.
    pub fn expires_within(&self, margin: std::time::Duration) -> bool {
        self.expires_at
            .is_some_and(|at| at <= SystemTime::now() + margin)
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

/// A client as an authorization server knows it (from registration, or pre-registered).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegisteredClient {
    /// The `client_id`.
    pub client_id: String,
    /// The `client_secret`, for confidential clients.
    pub client_secret: Option<String>,
    /// `client_secret_basic`, `client_secret_post` or `none`.
    pub token_endpoint_auth_method: String,
}

impl RegisteredClient {
    /// A client with this id, secret and token endpoint authentication method.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: Option<String>,
        token_endpoint_auth_method: impl Into<String>,
    ) -> Self {
        RegisteredClient {
            client_id: client_id.into(),
            client_secret,
            token_endpoint_auth_method: token_endpoint_auth_method.into(),
        }
    }
}

impl fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .finish()
    }
}

/// Keeps tokens (per issuer and resource) and registered clients (per issuer), so a client
/// registered with one authorization server is never shown to another.
pub trait TokenStore: Send + Sync {
    /// The tokens for `key`.
    fn load(&self, key: &TokenKey) -> Option<Tokens>;
    /// Keeps tokens for `key`.
    fn save(&self, key: &TokenKey, tokens: Tokens);
    /// Forgets the tokens for `key`.
    fn remove(&self, key: &TokenKey);
    /// The client registered with `issuer`.
    fn load_client(&self, issuer: &str) -> Option<RegisteredClient>;
    /// Keeps the client registered with `issuer`.
    fn save_client(&self, issuer: &str, client: RegisteredClient);
}

/// A [`TokenStore`] in memory: forgotten when the process ends.
#[derive(Debug, Default)]
pub struct InMemoryTokenStore {
    tokens: Mutex<HashMap<TokenKey, Tokens>>,
    clients: Mutex<HashMap<String, RegisteredClient>>,
}

impl TokenStore for InMemoryTokenStore {
    fn load(&self, key: &TokenKey) -> Option<Tokens> {
        self.tokens.lock().expect("not poisoned").get(key).cloned()
    }
    fn save(&self, key: &TokenKey, tokens: Tokens) {
        self.tokens
            .lock()
            .expect("not poisoned")
            .insert(key.clone(), tokens);
    }
    fn remove(&self, key: &TokenKey) {
        self.tokens.lock().expect("not poisoned").remove(key);
    }
    fn load_client(&self, issuer: &str) -> Option<RegisteredClient> {
        self.clients
            .lock()
            .expect("not poisoned")
            .get(issuer)
            .cloned()
    }
    fn save_client(&self, issuer: &str, client: RegisteredClient) {
        self.clients
            .lock()
            .expect("not poisoned")
            .insert(issuer.to_owned(), client);
    }
}
