//! Assertions for the JWT bearer grant (RFC 7523 section 2.1): a workload's own identity token
//! (workload identity federation), or an identity assertion authorization grant (ID-JAG)
//! obtained from the enterprise identity provider by token exchange (RFC 8693;
//! enterprise-managed authorization).

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;

use super::AuthError;

/// What an assertion is for.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AssertionRequest<'a> {
    /// The issuer of the authorization server the assertion goes to.
    pub issuer: &'a str,
    /// The protected resource (the MCP server's resource identifier).
    pub resource: &'a str,
    /// The scopes about to be requested.
    pub scopes: &'a [String],
}

/// Produces the `assertion` of a JWT bearer grant request.
pub trait AssertionProvider: Send + Sync {
    /// An assertion for this authorization server and resource.
    fn assertion<'a>(
        &'a self,
        request: AssertionRequest<'a>,
    ) -> BoxFuture<'a, Result<String, AuthError>>;
}

/// A fixed assertion, e.g. a workload identity token the platform gave this process.
#[derive(Clone)]
pub struct StaticAssertion(String);

impl StaticAssertion {
    /// This JWT.
    pub fn new(jwt: impl Into<String>) -> Self {
        StaticAssertion(jwt.into())
    }
}

impl fmt::Debug for StaticAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticAssertion(<redacted>)")
    }
}

impl AssertionProvider for StaticAssertion {
    fn assertion<'a>(
        &'a self,
        _: AssertionRequest<'a>,
    ) -> BoxFuture<'a, Result<String, AuthError>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";

/// Enterprise-managed authorization: exchanges the user's ID token at the identity provider's
/// token endpoint for an ID-JAG addressed to the authorization server and the resource.
#[derive(Clone)]
pub struct IdJagExchange {
    token_endpoint: String,
    id_token: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    http: reqwest::Client,
}

impl fmt::Debug for IdJagExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdJagExchange")
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ExchangeResponse {
    access_token: String,
    #[serde(default)]
    issued_token_type: Option<String>,
}

impl IdJagExchange {
    /// Exchanges `id_token` at the identity provider's `token_endpoint`.
    pub fn new(token_endpoint: impl Into<String>, id_token: impl Into<String>) -> Self {
        IdJagExchange {
            token_endpoint: token_endpoint.into(),
            id_token: id_token.into(),
            client_id: None,
            client_secret: None,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    /// This client's credentials at the identity provider (sent as `client_secret_basic`, or
    /// as `client_id` alone without a secret).
    #[must_use]
    pub fn client(mut self, client_id: impl Into<String>, client_secret: Option<String>) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = client_secret;
        self
    }
}

impl AssertionProvider for IdJagExchange {
    fn assertion<'a>(
        &'a self,
        request: AssertionRequest<'a>,
    ) -> BoxFuture<'a, Result<String, AuthError>> {
        Box::pin(async move {
            let mut form = vec![
                ("grant_type", TOKEN_EXCHANGE.to_owned()),
                ("requested_token_type", ID_JAG.to_owned()),
                ("subject_token", self.id_token.clone()),
                ("subject_token_type", ID_TOKEN.to_owned()),
                ("audience", request.issuer.to_owned()),
                ("resource", request.resource.to_owned()),
            ];
            if !request.scopes.is_empty() {
                form.push(("scope", request.scopes.join(" ")));
            }
            let mut http = self.http.post(&self.token_endpoint);
            match (&self.client_id, &self.client_secret) {
                (Some(id), Some(secret)) => http = http.basic_auth(id, Some(secret)),
                (Some(id), None) => form.push(("client_id", id.clone())),
                _ => {}
            }
            let response = http
                .form(&form)
                .send()
                .await
                .map_err(|e| AuthError::Http(e.without_url().to_string()))?;
            let status = response.status();
            let bytes = super::discovery::read_limited(response).await?;
            if !status.is_success() {
                return Err(AuthError::Token(format!(
                    "token exchange at the identity provider: {}",
                    super::flow::describe_error(status.as_u16(), &bytes)
                )));
            }
            let r: ExchangeResponse = serde_json::from_slice(&bytes)
                .map_err(|e| AuthError::Token(format!("invalid token exchange response: {e}")))?;
            if let Some(t) = &r.issued_token_type
                && t != ID_JAG
            {
                return Err(AuthError::Token(format!(
                    "the identity provider issued a `{t}`, not an ID-JAG"
                )));
            }
            Ok(r.access_token)
        })
    }
}
