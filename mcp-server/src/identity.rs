//! Who is calling: the authenticated principal of a request.
//!
//! On Streamable HTTP the identity comes from the bearer token (an OAuth 2.1 access token checked
//! by the resource server) or from a verified client certificate (mTLS); on stdio it comes from
//! configuration ([`crate::Server::identity`]), since the specification defines no authorization
//! there. Handlers read it from the [`crate::Context`].

use std::collections::BTreeSet;
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
    scopes: BTreeSet<String>,
    roles: BTreeSet<String>,
    claims: serde_json::Map<String, serde_json::Value>,
    method: AuthMethod,
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
                scopes: BTreeSet::new(),
                roles: BTreeSet::new(),
                claims: serde_json::Map::new(),
                method,
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
        Arc::make_mut(&mut self.inner).claims = claims;
        self
    }

    /// The subject (`sub` of a token, the certificate's subject, or the configured name).
    pub fn subject(&self) -> &str {
        &self.inner.subject
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

#[cfg(test)]
mod tests {
    use super::*;

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
