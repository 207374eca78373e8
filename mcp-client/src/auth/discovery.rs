//! Protected resource metadata (RFC 9728) and authorization server metadata (RFC 8414, OpenID
//! Connect discovery), fetched through the SSRF guard.

use reqwest::Url;
use serde::Deserialize;

use super::AuthError;
use super::guard::UrlGuard;

/// Redirects followed (each one checked by the guard) before a fetch gives up.
const MAX_REDIRECTS: usize = 5;
/// The largest metadata document read.
const MAX_DOCUMENT: usize = 1 << 20;

/// Protected resource metadata (RFC 9728).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// The resource identifier.
    pub resource: String,
    /// Issuer identifiers of authorization servers for this resource.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// Scopes the resource uses.
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
}

/// Authorization server metadata (RFC 8414; OpenID Connect discovery has the same fields).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationServerMetadata {
    /// The issuer identifier.
    pub issuer: String,
    /// The authorization endpoint.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The dynamic client registration endpoint.
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    /// Scopes the server knows.
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
    /// Grant types the server supports.
    #[serde(default)]
    pub grant_types_supported: Option<Vec<String>>,
    /// Token endpoint authentication methods.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// PKCE methods.
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 9207: the authorization response carries `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// Client ID Metadata Documents are accepted as `client_id`.
    #[serde(default)]
    pub client_id_metadata_document_supported: Option<bool>,
    /// DPoP proof algorithms (RFC 9449).
    #[serde(default)]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
}

impl AuthorizationServerMetadata {
    /// The endpoints a 2025-03-26 server without metadata has: `/authorize`, `/token` and
    /// `/register` at the root of `origin`.
    pub(crate) fn defaults(origin: &str) -> Self {
        AuthorizationServerMetadata {
            issuer: origin.to_owned(),
            authorization_endpoint: Some(format!("{origin}/authorize")),
            token_endpoint: format!("{origin}/token"),
            registration_endpoint: Some(format!("{origin}/register")),
            scopes_supported: None,
            grant_types_supported: None,
            token_endpoint_auth_methods_supported: None,
            code_challenge_methods_supported: Some(vec!["S256".into()]),
            authorization_response_iss_parameter_supported: None,
            client_id_metadata_document_supported: None,
            dpop_signing_alg_values_supported: None,
        }
    }
}

/// Fetches documents through the guard, following redirects only to URLs the guard allows.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    pub(crate) http: reqwest::Client,
    pub(crate) guard: UrlGuard,
}

impl Fetcher {
    /// GETs a JSON document. `Ok(None)` when the server has none there (an HTTP 4xx).
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<Option<T>, AuthError> {
        let mut url = self.guard.check(url).await?;
        for _ in 0..=MAX_REDIRECTS {
            let response = self
                .http
                .get(url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| AuthError::Http(e.without_url().to_string()))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        AuthError::Discovery(format!("{url}: a redirect without Location"))
                    })?;
                let next = url
                    .join(location)
                    .map_err(|e| AuthError::Discovery(format!("{url}: invalid redirect: {e}")))?;
                url = self.guard.check(next.as_str()).await?;
                continue;
            }
            if status.is_client_error() {
                return Ok(None);
            }
            if !status.is_success() {
                return Err(AuthError::Discovery(format!(
                    "{url}: HTTP {}",
                    status.as_u16()
                )));
            }
            let body = read_limited(response).await?;
            return serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| AuthError::Discovery(format!("{url}: invalid document: {e}")));
        }
        Err(AuthError::Discovery(format!("{url}: too many redirects")))
    }

    /// The protected resource metadata for the MCP server at `server`: from the challenge's
    /// `resource_metadata`, else the path-aware well-known URL, else the root one. `Ok(None)`
    /// when there is none (a 2025-03-26 server).
    pub(crate) async fn resource_metadata(
        &self,
        server: &Url,
        from_challenge: Option<&str>,
    ) -> Result<Option<ProtectedResourceMetadata>, AuthError> {
        let mut candidates = Vec::new();
        if let Some(u) = from_challenge {
            candidates.push(u.to_owned());
        }
        let origin = origin(server);
        let path = server.path().trim_end_matches('/');
        if !path.is_empty() {
            candidates.push(format!(
                "{origin}/.well-known/oauth-protected-resource{path}"
            ));
        }
        candidates.push(format!("{origin}/.well-known/oauth-protected-resource"));
        for candidate in candidates {
            if let Some(prm) = self
                .get_json::<ProtectedResourceMetadata>(&candidate)
                .await?
            {
                check_resource(&prm.resource, server)?;
                return Ok(Some(prm));
            }
        }
        Ok(None)
    }

    /// The metadata of the authorization server `issuer`, trying in the spec's order: RFC 8414
    /// with path insertion, OpenID Connect with path insertion, OpenID Connect with path
    /// appending (for an issuer without a path: RFC 8414, then OpenID Connect). The document's
    /// `issuer` must be `issuer` exactly; `same_origin_issuer` relaxes that to an issuer on
    /// the same origin, for a 2025-03-26 server whose issuer nobody named beforehand.
    pub(crate) async fn authorization_server_metadata(
        &self,
        issuer: &str,
        same_origin_issuer: bool,
    ) -> Result<Option<AuthorizationServerMetadata>, AuthError> {
        let url = self.guard.check(issuer).await?;
        let origin = origin(&url);
        let path = url.path().trim_end_matches('/');
        let candidates = if path.is_empty() {
            vec![
                format!("{origin}/.well-known/oauth-authorization-server"),
                format!("{origin}/.well-known/openid-configuration"),
            ]
        } else {
            vec![
                format!("{origin}/.well-known/oauth-authorization-server{path}"),
                format!("{origin}/.well-known/openid-configuration{path}"),
                format!("{origin}{path}/.well-known/openid-configuration"),
            ]
        };
        for candidate in candidates {
            if let Some(meta) = self
                .get_json::<AuthorizationServerMetadata>(&candidate)
                .await?
            {
                let relaxed_ok = same_origin_issuer
                    && Url::parse(&meta.issuer).is_ok_and(|u| self::origin(&u) == origin);
                if meta.issuer != issuer && !relaxed_ok {
                    return Err(AuthError::IssuerMismatch {
                        expected: issuer.to_owned(),
                        found: meta.issuer,
                    });
                }
                return Ok(Some(meta));
            }
        }
        Ok(None)
    }
}

/// `scheme://host[:port]` of a URL.
pub(crate) fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The metadata's `resource` must name the MCP server: the same origin, and a path that is
/// the server's path or a parent of it (segment-wise).
fn check_resource(resource: &str, server: &Url) -> Result<(), AuthError> {
    let mismatch = || AuthError::ResourceMismatch {
        resource: resource.to_owned(),
        server: server.to_string(),
    };
    let r = Url::parse(resource).map_err(|_| mismatch())?;
    if origin(&r) != origin(server) || r.fragment().is_some() {
        return Err(mismatch());
    }
    let rp = r.path().trim_end_matches('/');
    let sp = server.path().trim_end_matches('/');
    if rp.is_empty() || sp == rp || sp.starts_with(&format!("{rp}/")) {
        Ok(())
    } else {
        Err(mismatch())
    }
}

pub(crate) async fn read_limited(response: reqwest::Response) -> Result<Vec<u8>, AuthError> {
    use futures::StreamExt;
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| AuthError::Http(e.without_url().to_string()))?;
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(AuthError::Discovery("a document larger than 1 MiB".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
