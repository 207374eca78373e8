//! Who is calling: the authenticated principal of a request.
//!
//! On Streamable HTTP the identity comes from the bearer token (an OAuth 2.1 access token checked
//! by the resource server) or from a verified client certificate (mTLS); on stdio it comes from
//! configuration ([`crate::Server::identity`]), since the specification defines no authorization
//! there. Handlers read it from the [`crate::Context`].

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

/// The authenticated caller of a request: subject, scopes, roles and the token's other claims.
///
/// Cheap to clone. The raw credential (the bearer token) is never part of it: it cannot be
/// forwarded or logged by mistake.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    inner: Arc<IdentityInner>,
}

#[derive(Clone, Debug, PartialEq)]
struct IdentityInner {
    subject: String,
    issuer: Option<String>,
    scopes: BTreeSet<String>,
    roles: BTreeSet<String>,
    claims: serde_json::Map<String, serde_json::Value>,
    method: AuthMethod,
    /// What is made of the subject and issuer at first use.
    derived: Derived,
}

/// What an identity makes of its subject and issuer at first use: no part of the value (equal to
/// any other, empty when cloned, emptied when the issuer or claims change).
#[derive(Debug, Default)]
struct Derived {
    /// [`Identity::principal_key`] (rate limits ask for it on every call).
    key: std::sync::OnceLock<String>,
    /// [`Identity::principal`] (legacy sessions are looked up by it on every request).
    principal: std::sync::OnceLock<Principal>,
}

impl Clone for Derived {
    fn clone(&self) -> Self {
        Derived::default()
    }
}

impl PartialEq for Derived {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// How the caller was authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthMethod {
    /// An OAuth 2.1 bearer token (a JWT checked against a JWKS, or an introspected opaque token).
    Bearer,
    /// A client certificate verified by mutual TLS.
    ClientCertificate,
    /// Configured for the process (stdio), or set by the application.
    Configured,
}

impl Identity {
    /// An identity with a subject and nothing else.
    pub fn new(subject: impl Into<String>, method: AuthMethod) -> Self {
        Identity {
            inner: Arc::new(IdentityInner {
                subject: subject.into(),
                issuer: None,
                scopes: BTreeSet::new(),
                roles: BTreeSet::new(),
                claims: serde_json::Map::new(),
                method,
                derived: Derived::default(),
            }),
        }
    }

    /// An identity configured for the process (for stdio servers).
    pub fn configured(subject: impl Into<String>) -> Self {
        Identity::new(subject, AuthMethod::Configured)
    }

    /// With these scopes.
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// With these roles.
    pub fn with_roles<S: Into<String>>(mut self, roles: impl IntoIterator<Item = S>) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.roles.extend(roles.into_iter().map(Into::into));
        self
    }

    /// With these claims (a token's payload).
    pub fn with_claims(mut self, claims: serde_json::Map<String, serde_json::Value>) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.claims = claims;
        inner.derived = Derived::default();
        self
    }

    /// Issued by `issuer` (a token's `iss`, the certificate's issuer): the same subject from
    /// two issuers is two principals.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.issuer = Some(issuer.into());
        inner.derived = Derived::default();
        self
    }

    /// The subject (`sub` of a token, the certificate's subject, or the configured name).
    ///
    /// A subject is unique only within its issuer: to tell callers apart, use
    /// [`Identity::principal`].
    pub fn subject(&self) -> &str {
        &self.inner.subject
    }

    /// Who vouches for the subject: set with [`Identity::with_issuer`], or else the `iss` claim
    /// of the token. `None` for a configured identity.
    pub fn issuer(&self) -> Option<&str> {
        self.inner.issuer.as_deref().or_else(|| {
            self.inner
                .claims
                .get("iss")
                .and_then(serde_json::Value::as_str)
        })
    }

    /// The principal: the subject qualified by its issuer. Sessions, tasks, rate limits,
    /// approvals and `requestState` belong to a principal, so `alice` of one issuer never
    /// reaches what `alice` of another holds.
    pub fn principal(&self) -> Principal {
        self.principal_ref().clone()
    }

    /// [`Identity::principal`], borrowed.
    pub(crate) fn principal_ref(&self) -> &Principal {
        self.inner.derived.principal.get_or_init(|| Principal {
            issuer: self.issuer().map(str::to_owned),
            subject: self.inner.subject.clone(),
        })
    }

    /// [`Principal::key`] of [`Identity::principal`], without building the principal.
    pub(crate) fn principal_key(&self) -> Cow<'_, str> {
        let key = self
            .inner
            .derived
            .key
            .get_or_init(|| principal_key(self.issuer(), &self.inner.subject).into_owned());
        Cow::Borrowed(key)
    }

    /// The granted scopes.
    pub fn scopes(&self) -> &BTreeSet<String> {
        &self.inner.scopes
    }

    /// The caller's roles.
    pub fn roles(&self) -> &BTreeSet<String> {
        &self.inner.roles
    }

    /// Whether the caller has been granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.inner.scopes.contains(scope)
    }

    /// Whether the caller has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.inner.roles.contains(role)
    }

    /// All claims of the token (empty for other methods).
    pub fn claims(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.inner.claims
    }

    /// How the caller was authenticated.
    pub fn method(&self) -> AuthMethod {
        self.inner.method
    }
}

/// Who a caller is, for telling callers apart: a subject and the issuer that vouches for it.
///
/// Two identities are the same principal exactly when both their subjects and their issuers
/// are equal; scopes, roles and the way they authenticated do not matter. Sessions, tasks, rate
/// limits, approvals, `requestState` and audit records are keyed by it.
///
/// ```
/// use mcp_server::{AuthMethod, Identity};
///
/// let x = Identity::new("alice", AuthMethod::Bearer).with_issuer("https://x.example");
/// let y = Identity::new("alice", AuthMethod::Bearer).with_issuer("https://y.example");
/// assert_ne!(x.principal(), y.principal());
/// assert_eq!(x.principal().to_string(), "alice (https://x.example)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    issuer: Option<String>,
    subject: String,
}

impl Principal {
    /// The principal `subject` of `issuer` (`None`: a configured identity).
    pub fn new(issuer: Option<String>, subject: impl Into<String>) -> Self {
        Principal {
            issuer,
            subject: subject.into(),
        }
    }

    /// The issuer, if any.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// One string per principal, for string-keyed stores and bindings: the bare subject when
    /// there is no issuer (and it does not start with `[`), otherwise the JSON array
    /// `["issuer","subject"]` (`null` for no issuer). Two principals never share a key.
    pub fn key(&self) -> Cow<'_, str> {
        principal_key(self.issuer.as_deref(), &self.subject)
    }
}

impl fmt::Display for Principal {
    /// `subject`, or `subject (issuer)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.issuer {
            Some(issuer) => write!(f, "{} ({issuer})", self.subject),
            None => f.write_str(&self.subject),
        }
    }
}

fn principal_key<'a>(issuer: Option<&str>, subject: &'a str) -> Cow<'a, str> {
    match issuer {
        None if !subject.starts_with('[') => Cow::Borrowed(subject),
        _ => Cow::Owned(serde_json::json!([issuer, subject]).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_keys_never_collide() {
        let keys = [
            Principal::new(None, "alice"),
            Principal::new(Some("https://x".into()), "alice"),
            Principal::new(Some("https://y".into()), "alice"),
            Principal::new(None, r#"["https://x","alice"]"#),
            Principal::new(None, "[alice"),
            Principal::new(Some(String::new()), "alice"),
        ]
        .map(|p| p.key().into_owned());
        let unique: BTreeSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "{keys:?}");
        assert_eq!(keys[0], "alice");
        assert_eq!(keys[1], r#"["https://x","alice"]"#);
        let id = Identity::new("alice", AuthMethod::Bearer).with_claims(
            serde_json::json!({"iss": "https://x", "sub": "alice"})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(id.issuer(), Some("https://x"));
        assert_eq!(
            id.principal(),
            Principal::new(Some("https://x".into()), "alice")
        );
        assert_eq!(id.principal_key(), keys[1]);
        let explicit = id.with_issuer("https://y");
        assert_eq!(explicit.principal().issuer(), Some("https://y"));
        // The key made above is not kept past a change of issuer.
        assert_eq!(explicit.principal_key(), keys[2]);
    }

    #[test]
    fn builder_sets_everything() {
        let id = Identity::new("alice", AuthMethod::Bearer)
            .with_scopes(["kpi:read", "kpi:write"])
            .with_roles(["ops"]);
        let copy = id.clone().with_roles(["admin"]);
        assert!(id.has_scope("kpi:read") && !id.has_scope("admin"));
        assert!(id.has_role("ops") && !id.has_role("admin"));
        assert!(copy.has_role("admin") && copy.has_role("ops"));
        assert_eq!(copy.subject(), "alice");
        assert_eq!(id.method(), AuthMethod::Bearer);
    }
}
