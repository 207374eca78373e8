//! Opaque access tokens checked by the authorization server (token introspection, RFC 7662).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use serde_json::{Map, Value};

use super::jwt::identity_of;
use super::{AuthError, TokenValidator, check_fetch_url};
use crate::identity::Identity;

/// The largest introspection response read.
const MAX_RESPONSE_SIZE: usize = 256 * 1024;

/// A [`TokenValidator`] that asks the authorization server's introspection endpoint (RFC 7662)
/// about each token, authenticating with the resource server's client credentials (HTTP Basic).
///
/// A token is accepted when the answer says `"active": true`, its `aud` contains the resource's
/// canonical URI, its `iss` (when [`issuer`](Self::issuer) is set) is that issuer, and its `exp`
/// and `nbf`, if present, hold. The [`Identity`] is built from the answer as [`super::JwtValidator`]
/// builds it from claims (`sub` or `client_id`, `scope`, the roles claim, everything else).
///
/// By default every request is introspected; [`cache_for`](Self::cache_for) keeps positive
/// answers for a while (keyed by a hash of the token, never the token).
///
/// ```no_run
/// use mcp_server::http::auth::{IntrospectionValidator, ResourceServer};
///
/// let resource = "https://mcp.example.com/mcp";
/// let validator = IntrospectionValidator::new(resource, "https://auth.example.com/introspect")
///     .client_credentials("mcp-server", std::env::var("CLIENT_SECRET").unwrap_or_default())
///     .issuer("https://auth.example.com");
/// let auth = ResourceServer::new(resource, "https://auth.example.com", validator);
/// # let _ = auth;
/// ```
pub struct IntrospectionValidator {
    audience: String,
    endpoint: String,
    credentials: Option<(String, String)>,
    issuer: Option<String>,
    roles_claim: String,
    leeway: Duration,
    client: reqwest::Client,
    cache: Option<Cache>,
}

/// Positive answers by SHA-256 of the token, each with its expiry.
struct Cache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (Instant, Identity)>>,
}

impl Cache {
    /// The identity of the token of `key`, if its answer is cached and has not expired.
    fn known(&self, key: &[u8; 32]) -> Option<Identity> {
        let entries = lock(&self.entries);
        let (until, identity) = entries.get(key)?;
        (*until > Instant::now()).then(|| identity.clone())
    }
}

/// The most answers cached; beyond that, expired ones are dropped, then all.
const MAX_CACHED: usize = 10_000;

impl fmt::Debug for IntrospectionValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionValidator")
            .field("audience", &self.audience)
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.credentials.as_ref().map(|c| &c.0))
            .finish_non_exhaustive()
    }
}

impl IntrospectionValidator {
    /// Accepts tokens for `audience` (the resource's canonical URI) that `endpoint` says are
    /// active. `endpoint` must be `https` (or `http` on a loopback host): tokens are sent nowhere
    /// else.
    pub fn new(audience: impl Into<String>, endpoint: impl Into<String>) -> Self {
        IntrospectionValidator {
            audience: audience.into(),
            endpoint: endpoint.into(),
            credentials: None,
            issuer: None,
            roles_claim: "roles".to_owned(),
            leeway: Duration::from_secs(30),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            cache: None,
        }
    }

    /// Keeps an active token's identity for `ttl` (but never past its `exp`), so that a client's
    /// requests in a row cost one introspection. A revoked token is then accepted until its
    /// entry expires: keep `ttl` short.
    #[must_use]
    pub fn cache_for(mut self, ttl: Duration) -> Self {
        self.cache = Some(Cache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        });
        self
    }

    /// The resource server's client id and secret at the authorization server.
    #[must_use]
    pub fn client_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.credentials = Some((client_id.into(), client_secret.into()));
        self
    }

    /// Requires the answer's `iss` to be `issuer`.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The member of the answer holding the caller's roles (default `roles`); see
    /// [`super::JwtValidator::roles_claim`].
    #[must_use]
    pub fn roles_claim(mut self, claim: impl Into<String>) -> Self {
        self.roles_claim = claim.into();
        self
    }

    async fn introspect(&self, token: &str) -> Result<Map<String, Value>, AuthError> {
        // The token goes nowhere but to a trusted authorization server, over TLS.
        check_fetch_url(&self.endpoint).map_err(AuthError::unavailable)?;
        let body = format!("token={}&token_type_hint=access_token", form_encode(token));
        let mut request = self
            .client
            .post(&self.endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body);
        if let Some((id, secret)) = &self.credentials {
            // RFC 6749, section 2.3.1: both form-encoded, then Basic.
            request = request.basic_auth(form_encode(id), Some(form_encode(secret)));
        }
        let unavailable =
            |e: &dyn fmt::Display| AuthError::unavailable(format!("introspection: {e}"));
        let mut response = request.send().await.map_err(|e| unavailable(&e))?;
        if !response.status().is_success() {
            return Err(unavailable(&format_args!("status {}", response.status())));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(&e))? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_SIZE {
                return Err(unavailable(&"the response is too large"));
            }
            bytes.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&bytes).map_err(|e| unavailable(&e))
    }

    fn check(&self, mut answer: Map<String, Value>) -> Result<Identity, AuthError> {
        if answer.remove("active") != Some(Value::Bool(true)) {
            return Err(AuthError::invalid("the token is not active"));
        }
        let audience_ok = match answer.get("aud") {
            Some(Value::String(aud)) => *aud == self.audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&self.audience)),
            _ => false,
        };
        if !audience_ok {
            return Err(AuthError::invalid(
                "the token is not for this resource (`aud`)",
            ));
        }
        if let Some(issuer) = &self.issuer
            && answer.get("iss").and_then(Value::as_str) != Some(issuer)
        {
            return Err(AuthError::invalid(
                "the token is from another issuer (`iss`)",
            ));
        }
        let now = unix_now();
        let leeway = self.leeway.as_secs();
        if let Some(exp) = answer.get("exp").and_then(Value::as_u64)
            && exp.saturating_add(leeway) <= now
        {
            return Err(AuthError::invalid("the token has expired"));
        }
        if let Some(nbf) = answer.get("nbf").and_then(Value::as_u64)
            && nbf > now.saturating_add(leeway)
        {
            return Err(AuthError::invalid("the token is not valid yet"));
        }
        let identity = identity_of(answer, &self.roles_claim)?;
        // Without `iss` in the answer, the subject is qualified by who vouched for it: the
        // configured issuer, or else the introspection endpoint.
        Ok(match identity.issuer() {
            Some(_) => identity,
            None => {
                let issuer = self.issuer.as_deref().unwrap_or(&self.endpoint).to_owned();
                identity.with_issuer(issuer)
            }
        })
    }
}

impl TokenValidator for IntrospectionValidator {
    async fn validate(&self, token: &str) -> Result<Identity, AuthError> {
        let Some(cache) = &self.cache else {
            let answer = self.introspect(token).await?;
            return self.check(answer);
        };
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(identity) = cache.known(&key) {
            return Ok(identity);
        }
        let now = Instant::now();
        let answer = self.introspect(token).await?;
        let remaining = answer
            .get("exp")
            .and_then(Value::as_u64)
            .map(|exp| Duration::from_secs(exp.saturating_sub(unix_now())));
        let identity = self.check(answer)?;
        let ttl = remaining.map_or(cache.ttl, |r| r.min(cache.ttl));
        let mut entries = lock(&cache.entries);
        if entries.len() >= MAX_CACHED {
            entries.retain(|_, (until, _)| *until > now);
            if entries.len() >= MAX_CACHED {
                entries.clear();
            }
        }
        entries.insert(key, (now + ttl, identity.clone()));
        Ok(identity)
    }

    /// A token introspected within the cache's time to live (when caching) and not yet expired.
    fn validate_now(&self, token: &str) -> Option<Identity> {
        let cache = self.cache.as_ref()?;
        cache.known(&Sha256::digest(token.as_bytes()).into())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// `application/x-www-form-urlencoded` of one value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn answers() {
        let v = IntrospectionValidator::new("https://r.example/mcp", "https://as.example/i")
            .issuer("https://as.example");
        let good = json!({"active": true, "aud": "https://r.example/mcp", "iss": "https://as.example",
            "sub": "alice", "scope": "a b", "exp": u64::MAX / 2});
        let id = v.check(answer(good.clone())).unwrap();
        assert_eq!(id.subject(), "alice");
        assert!(id.has_scope("a") && id.has_scope("b"));
        let with = |k: &str, val: Value| {
            let mut a = answer(good.clone());
            a.insert(k.into(), val);
            v.check(a)
        };
        assert!(with("active", json!(false)).is_err());
        assert!(with("active", json!("true")).is_err());
        assert!(with("aud", json!("https://other.example/mcp")).is_err());
        assert!(with("aud", json!(["x", "https://r.example/mcp"])).is_ok());
        assert!(with("iss", json!("https://evil.example")).is_err());
        assert!(with("exp", json!(1)).is_err());
        assert!(with("nbf", json!(u64::MAX / 2)).is_err());
        let mut no_aud = answer(good);
        no_aud.remove("aud");
        assert!(v.check(no_aud).is_err());
    }

    #[test]
    fn form() {
        assert_eq!(form_encode("a b+c/d=é"), "a+b%2Bc%2Fd%3D%C3%A9");
    }
}
