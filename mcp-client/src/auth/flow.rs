//! The authorization itself: discovery, registration, the grants, refresh, step-up.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Url;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex as AsyncMutex, OnceCell};

use super::challenge::{BearerChallenge, split_scopes};
use super::discovery::{AuthorizationServerMetadata, Fetcher, origin, read_limited};
use super::dpop::DpopKey;
use super::guard::UrlGuard;
use super::store::{RegisteredClient, TokenKey, Tokens};
use super::{AssertionRequest, AuthError, Grant, Identity, OAuthConfig};

/// Tokens this close to expiry are refreshed before use.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How a client authenticates at the token endpoint.
#[derive(Clone)]
enum ClientAuth {
    None {
        client_id: String,
    },
    Basic {
        client_id: String,
        secret: String,
    },
    Post {
        client_id: String,
        secret: String,
    },
    Jwt {
        client_id: String,
        key_pem: String,
        algorithm: String,
    },
}

/// What the current tokens were obtained from.
#[derive(Clone)]
struct Session {
    key: TokenKey,
    tokens: Tokens,
    meta: Arc<AuthorizationServerMetadata>,
    resource: Option<String>,
    client: ClientAuth,
    /// The scopes the last authorization asked for.
    requested: Vec<String>,
    /// The token is DPoP-bound to the transport's key.
    dpop: bool,
}

/// What goes on a request to the server: the token, and the headers that present it.
pub(crate) struct Presented {
    pub(crate) token: String,
    pub(crate) authorization: String,
    pub(crate) dpop: Option<String>,
}

/// Per-request bookkeeping: how many authorizations (and DPoP nonce retries) this request
/// caused.
#[derive(Debug, Default)]
pub(crate) struct Attempts(usize, usize);

/// The authorization state of one HTTP transport.
pub(crate) struct Authorizer {
    config: OAuthConfig,
    server: Url,
    fetcher: OnceCell<Fetcher>,
    /// One flow at a time; requests that fail meanwhile wait and use its result.
    flow: AsyncMutex<()>,
    current: Mutex<Option<Session>>,
    /// The last authorization failure (not a network one): later requests without a token
    /// fail with it at once instead of sending the user through the same failure again.
    failed: Mutex<Option<AuthError>>,
    /// The DPoP key, made when an authorization server first supports DPoP.
    dpop: std::sync::OnceLock<Arc<DpopKey>>,
    /// The issuer the client's credentials were first sent to, when none was configured: they
    /// go to no other for the life of this transport.
    bound_issuer: Mutex<Option<String>>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("server", &self.server.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct RegistrationResponse {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source works");
    URL_SAFE_NO_PAD.encode(buf)
}

/// The PKCE S256 challenge of a verifier.
pub(crate) fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Authorizer {
    pub(crate) fn new(config: OAuthConfig, server: &str) -> Result<Authorizer, AuthError> {
        let server =
            Url::parse(server).map_err(|e| AuthError::Config(format!("server URL: {e}")))?;
        Ok(Authorizer {
            config,
            server,
            fetcher: OnceCell::new(),
            flow: AsyncMutex::new(()),
            current: Mutex::new(None),
            failed: Mutex::new(None),
            dpop: std::sync::OnceLock::new(),
            bound_issuer: Mutex::new(None),
        })
    }

    async fn fetcher(&self) -> Result<&Fetcher, AuthError> {
        self.fetcher
            .get_or_try_init(|| async {
                let guard = UrlGuard::for_server(self.server.as_str()).await?;
                let http = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .dns_resolver(guard.resolver())
                    .timeout(Duration::from_secs(30))
                    .build()
                    .map_err(|e| AuthError::Http(e.to_string()))?;
                Ok(Fetcher { http, guard })
            })
            .await
    }

    fn current(&self) -> Option<Session> {
        self.current.lock().expect("not poisoned").clone()
    }

    fn set_current(&self, session: Option<Session>) {
        *self.current.lock().expect("not poisoned") = session;
    }

    /// The access token to send, refreshed first when it is about to expire.
    async fn session(&self) -> Option<Session> {
        let session = self.current()?;
        if session.tokens.expires_within(EXPIRY_MARGIN) && session.tokens.refresh_token.is_some() {
            let _flow = self.flow.lock().await;
            // Someone may have refreshed while this waited.
            let session = self.current()?;
            if session.tokens.expires_within(EXPIRY_MARGIN)
                && let Err(e) = self.refresh(&session).await
            {
                tracing::debug!(error = %e, "refreshing the access token failed");
            }
            return self.current();
        }
        Some(session)
    }

    /// How to present the current token on a `method` request to `url`: `Bearer`, or `DPoP`
    /// with a fresh proof.
    pub(crate) async fn present(&self, method: &str, url: &str) -> Option<Presented> {
        let session = self.session().await?;
        let token = session.tokens.access_token;
        if session.dpop
            && let Some(key) = self.dpop.get()
        {
            match key.proof(method, url, Some(&token)) {
                Ok(proof) => {
                    return Some(Presented {
                        authorization: format!("DPoP {token}"),
                        dpop: Some(proof),
                        token,
                    });
                }
                Err(e) => tracing::warn!(error = %e, "no DPoP proof"),
            }
        }
        Some(Presented {
            authorization: format!("Bearer {token}"),
            dpop: None,
            token,
        })
    }

    /// The issuer the client's credentials are bound to: the configured one, else the one they
    /// were first sent to. `None` when the client has no credentials to protect.
    fn credentials_issuer(&self) -> Option<String> {
        if let Some(issuer) = &self.config.issuer {
            return Some(issuer.clone());
        }
        if !self.config.has_credentials() {
            return None;
        }
        self.bound_issuer.lock().expect("not poisoned").clone()
    }

    /// The DPoP key, when DPoP is on and the authorization server supports ES256 proofs.
    fn dpop_for(
        &self,
        meta: &AuthorizationServerMetadata,
    ) -> Result<Option<Arc<DpopKey>>, AuthError> {
        let supported = meta
            .dpop_signing_alg_values_supported
            .as_ref()
            .is_some_and(|a| a.iter().any(|a| a == "ES256"));
        if !self.config.dpop || !supported {
            return Ok(None);
        }
        if let Some(k) = self.dpop.get() {
            return Ok(Some(k.clone()));
        }
        let key = Arc::new(DpopKey::generate()?);
        Ok(Some(self.dpop.get_or_init(|| key).clone()))
    }

    /// Reacts to a 401, or a 403 with `insufficient_scope`: afterwards the request may be sent
    /// again. `sent` is the token the refused request carried.
    pub(crate) async fn handle(
        &self,
        status: u16,
        www_authenticate: Option<&str>,
        sent: Option<&str>,
        dpop_nonce: Option<&str>,
        attempts: &mut Attempts,
    ) -> Result<(), AuthError> {
        let challenge = www_authenticate
            .and_then(BearerChallenge::parse)
            .unwrap_or_default();
        // RFC 9449 section 9: the server wants a nonce in the proof; send it again with one.
        if status == 401
            && challenge.error.as_deref() == Some("use_dpop_nonce")
            && let (Some(nonce), Some(key)) = (dpop_nonce, self.dpop.get())
            && attempts.1 < 2
        {
            attempts.1 += 1;
            key.set_nonce(self.server.as_str(), nonce);
            return Ok(());
        }
        let _flow = self.flow.lock().await;
        let current = self.current();
        if let Some(c) = &current
            && Some(c.tokens.access_token.as_str()) != sent
        {
            // Another request already obtained a new token (or stepped up) meanwhile.
            return Ok(());
        }
        if current.is_none()
            && let Some(e) = self.failed.lock().expect("not poisoned").clone()
        {
            return Err(e);
        }
        let result = self
            .handle_locked(status, &challenge, current, sent, attempts)
            .await;
        let mut failed = self.failed.lock().expect("not poisoned");
        match &result {
            Ok(()) => *failed = None,
            Err(AuthError::Http(_)) => {}
            Err(e) => *failed = Some(e.clone()),
        }
        result
    }

    async fn handle_locked(
        &self,
        status: u16,
        challenge: &BearerChallenge,
        current: Option<Session>,
        sent: Option<&str>,
        attempts: &mut Attempts,
    ) -> Result<(), AuthError> {
        attempts.0 += 1;
        if attempts.0 > self.config.max_attempts {
            return Err(AuthError::TooManyAttempts(self.config.max_attempts));
        }
        if status == 403 {
            // Step-up: the scopes held and asked for so far, plus the challenged ones.
            let held: BTreeSet<String> = current
                .as_ref()
                .map(|c| {
                    split_scopes(c.tokens.scope.as_deref())
                        .into_iter()
                        .chain(c.requested.iter().cloned())
                        .collect()
                })
                .unwrap_or_default();
            let wanted = challenge.scopes();
            // Asking again for what was already asked for would loop.
            if wanted.iter().all(|s| held.contains(s)) {
                return Err(AuthError::ScopeNotHonoured(
                    challenge.scope.clone().unwrap_or_default(),
                ));
            }
            let mut scopes: Vec<String> = held.into_iter().collect();
            for s in wanted {
                if !scopes.contains(&s) {
                    scopes.push(s);
                }
            }
            return self.authorize(challenge, Some(scopes), sent).await;
        }
        // 401: the token is bad or missing. A refresh token may fix it without the user.
        if let Some(c) = current {
            self.config.store.remove(&c.key);
            self.set_current(None);
            if c.tokens.refresh_token.is_some() && self.refresh(&c).await.is_ok() {
                return Ok(());
            }
        }
        self.authorize(challenge, None, sent).await
    }

    /// Discovery, then a grant. `step_up` replaces the scope choice.
    async fn authorize(
        &self,
        challenge: &BearerChallenge,
        step_up: Option<Vec<String>>,
        refused: Option<&str>,
    ) -> Result<(), AuthError> {
        let fetcher = self.fetcher().await?;
        let prm = fetcher
            .resource_metadata(&self.server, challenge.resource_metadata.as_deref())
            .await?;
        let server_origin = origin(&self.server);
        let (offered, resource) = match &prm {
            Some(p) => {
                if p.authorization_servers.is_empty() {
                    return Err(AuthError::Discovery(
                        "the protected resource metadata names no authorization server".into(),
                    ));
                }
                (p.authorization_servers.clone(), Some(p.resource.clone()))
            }
            // 2025-03-26: no resource metadata; the server's origin is the authorization server.
            None => (vec![server_origin.clone()], None),
        };
        // Credentials go only to the authorization server they are for.
        let bound = self.credentials_issuer();
        let issuer = match &bound {
            None => offered[0].clone(),
            Some(b) => offered
                .iter()
                .find(|o| same_issuer(o, b))
                .cloned()
                .ok_or_else(|| AuthError::CredentialsBound {
                    bound: b.clone(),
                    offered: offered.clone(),
                })?,
        };
        let meta = match fetcher
            .authorization_server_metadata(&issuer, prm.is_none())
            .await?
        {
            Some(m) => m,
            None if prm.is_none() => AuthorizationServerMetadata::defaults(&server_origin),
            None => {
                return Err(AuthError::Discovery(format!(
                    "no metadata for the authorization server `{issuer}`"
                )));
            }
        };
        if let Some(b) = &bound
            && !same_issuer(&meta.issuer, b)
        {
            return Err(AuthError::CredentialsBound {
                bound: b.clone(),
                offered: vec![meta.issuer.clone()],
            });
        }
        if bound.is_none() && self.config.has_credentials() {
            *self.bound_issuer.lock().expect("not poisoned") = Some(meta.issuer.clone());
        }
        let meta = Arc::new(meta);
        let key = TokenKey {
            issuer: meta.issuer.clone(),
            resource: resource.clone().unwrap_or_else(|| self.server.to_string()),
        };

        let mut scopes = match step_up {
            Some(s) => s,
            None => {
                let from_challenge = challenge.scopes();
                if !from_challenge.is_empty() {
                    from_challenge
                } else if let Some(s) = prm.as_ref().and_then(|p| p.scopes_supported.clone()) {
                    s
                } else {
                    self.config.scopes.clone().unwrap_or_default()
                }
            }
        };

        let client = self.client_auth(&meta).await?;
        // Tokens kept from before (a persistent store) may still be good.
        if let Some(stored) = self.config.store.load(&key)
            && Some(stored.access_token.as_str()) != refused
        {
            let session = Session {
                key: key.clone(),
                tokens: stored,
                meta: meta.clone(),
                resource: resource.clone(),
                client: client.clone(),
                requested: scopes.clone(),
                dpop: false,
            };
            if !session.tokens.expires_within(EXPIRY_MARGIN) {
                self.set_current(Some(session));
                return Ok(());
            }
            if session.tokens.refresh_token.is_some() && self.refresh(&session).await.is_ok() {
                return Ok(());
            }
        }

        let mut form: Vec<(String, String)> = Vec::new();
        match &self.config.grant {
            Grant::ClientCredentials => {
                form.push(("grant_type".into(), "client_credentials".into()));
            }
            Grant::JwtBearer(provider) => {
                let fallback = self.server.to_string();
                let assertion = provider
                    .assertion(AssertionRequest {
                        issuer: &meta.issuer,
                        resource: resource.as_deref().unwrap_or(&fallback),
                        scopes: &scopes,
                    })
                    .await?;
                form.push(("grant_type".into(), JWT_BEARER_GRANT.into()));
                form.push(("assertion".into(), assertion));
            }
            Grant::AuthorizationCode(handler) => {
                match &meta.code_challenge_methods_supported {
                    Some(m) if m.iter().any(|m| m == "S256") => {}
                    _ => return Err(AuthError::NoPkce(meta.issuer.clone())),
                }
                if self.config.offline_access
                    && meta
                        .scopes_supported
                        .as_ref()
                        .is_some_and(|s| s.iter().any(|s| s == "offline_access"))
                    && !scopes.iter().any(|s| s == "offline_access")
                {
                    scopes.push("offline_access".into());
                }
                let redirect_uri = handler.redirect_uri();
                let client_id = client_id(&client).to_owned();
                let endpoint = meta.authorization_endpoint.clone().ok_or_else(|| {
                    AuthError::Discovery(
                        "the authorization server has no authorization endpoint".into(),
                    )
                })?;
                let mut url = fetcher.guard.check(&endpoint).await?;
                let verifier = random_token(32);
                let state = random_token(16);
                {
                    let mut q = url.query_pairs_mut();
                    q.append_pair("response_type", "code")
                        .append_pair("client_id", &client_id)
                        .append_pair("redirect_uri", &redirect_uri)
                        .append_pair("code_challenge", &pkce_challenge(&verifier))
                        .append_pair("code_challenge_method", "S256")
                        .append_pair("state", &state);
                    if !scopes.is_empty() {
                        q.append_pair("scope", &scopes.join(" "));
                    }
                    if let Some(r) = &resource {
                        q.append_pair("resource", r);
                    }
                }
                let redirect = handler.authorize(url).await?;
                let code = check_redirect(&redirect, &state, &meta)?;
                form.push(("grant_type".into(), "authorization_code".into()));
                form.push(("code".into(), code));
                form.push(("redirect_uri".into(), redirect_uri));
                form.push(("code_verifier".into(), verifier));
            }
        }
        if !matches!(self.config.grant, Grant::AuthorizationCode(_)) && !scopes.is_empty() {
            form.push(("scope".into(), scopes.join(" ")));
        }
        if let Some(r) = &resource {
            form.push(("resource".into(), r.clone()));
        }
        let requested = (!scopes.is_empty()).then(|| scopes.join(" "));
        let dpop = self.dpop_for(&meta)?;
        let (tokens, bound) = self
            .token_request(&meta, &client, form, requested, dpop.as_deref())
            .await?;
        self.config.store.save(&key, tokens.clone());
        self.set_current(Some(Session {
            key,
            tokens,
            meta,
            resource,
            client,
            requested: scopes,
            dpop: bound,
        }));
        Ok(())
    }

    /// Uses the refresh token; on success the new tokens are current.
    async fn refresh(&self, session: &Session) -> Result<(), AuthError> {
        let refresh_token = session
            .tokens
            .refresh_token
            .clone()
            .ok_or_else(|| AuthError::Token("no refresh token".into()))?;
        let mut form = vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("refresh_token".to_owned(), refresh_token.clone()),
        ];
        if let Some(r) = &session.resource {
            form.push(("resource".into(), r.clone()));
        }
        let result = self
            .token_request(
                &session.meta,
                &session.client,
                form,
                session.tokens.scope.clone(),
                if session.dpop {
                    self.dpop.get().map(|k| &**k)
                } else {
                    None
                },
            )
            .await;
        match result {
            Ok((mut tokens, _)) => {
                if tokens.refresh_token.is_none() {
                    tokens.refresh_token = Some(refresh_token);
                }
                self.config.store.save(&session.key, tokens.clone());
                self.set_current(Some(Session {
                    tokens,
                    ..session.clone()
                }));
                Ok(())
            }
            Err(e) => {
                self.config.store.remove(&session.key);
                self.set_current(None);
                Err(e)
            }
        }
    }

    /// Who this client is at this authorization server: configured, remembered, a metadata
    /// document, or registered now.
    async fn client_auth(
        &self,
        meta: &AuthorizationServerMetadata,
    ) -> Result<ClientAuth, AuthError> {
        let methods = meta.token_endpoint_auth_methods_supported.as_deref();
        let supports = |m: &str| methods.is_some_and(|ms| ms.iter().any(|x| x == m));
        match &self.config.identity {
            Identity::PreRegistered { client_id, secret } => Ok(match secret {
                None => ClientAuth::None {
                    client_id: client_id.clone(),
                },
                Some(secret)
                    if !supports("client_secret_basic") && supports("client_secret_post") =>
                {
                    ClientAuth::Post {
                        client_id: client_id.clone(),
                        secret: secret.clone(),
                    }
                }
                Some(secret) => ClientAuth::Basic {
                    client_id: client_id.clone(),
                    secret: secret.clone(),
                },
            }),
            Identity::PrivateKeyJwt { client_id, .. } if client_id.is_empty() => Err(
                AuthError::Config("`private_key_jwt` needs a client id".into()),
            ),
            Identity::PrivateKeyJwt {
                client_id,
                key_pem,
                algorithm,
            } => Ok(ClientAuth::Jwt {
                client_id: client_id.clone(),
                key_pem: key_pem.clone(),
                algorithm: algorithm.clone(),
            }),
            // RFC 7523: the assertion may be all the authentication there is.
            Identity::Automatic if matches!(self.config.grant, Grant::JwtBearer(_)) => {
                Ok(ClientAuth::None {
                    client_id: String::new(),
                })
            }
            Identity::Automatic => {
                let registered = match self.config.store.load_client(&meta.issuer) {
                    Some(c) => c,
                    None => {
                        if let Some(url) = &self.config.metadata_url
                            && meta.client_id_metadata_document_supported == Some(true)
                        {
                            return Ok(ClientAuth::None {
                                client_id: url.clone(),
                            });
                        }
                        let c = self.register(meta).await?;
                        self.config.store.save_client(&meta.issuer, c.clone());
                        c
                    }
                };
                Ok(
                    match (
                        registered.token_endpoint_auth_method.as_str(),
                        registered.client_secret,
                    ) {
                        ("client_secret_post", Some(secret)) => ClientAuth::Post {
                            client_id: registered.client_id,
                            secret,
                        },
                        ("none", _) | (_, None) => ClientAuth::None {
                            client_id: registered.client_id,
                        },
                        (_, Some(secret)) => ClientAuth::Basic {
                            client_id: registered.client_id,
                            secret,
                        },
                    },
                )
            }
        }
    }

    /// Dynamic client registration (RFC 7591).
    async fn register(
        &self,
        meta: &AuthorizationServerMetadata,
    ) -> Result<RegisteredClient, AuthError> {
        let Grant::AuthorizationCode(handler) = &self.config.grant else {
            return Err(AuthError::Registration(
                "the client credentials grant needs a configured client".into(),
            ));
        };
        let endpoint = meta.registration_endpoint.as_deref().ok_or_else(|| {
            AuthError::Registration(format!(
                "`{}` supports neither dynamic registration nor client metadata documents; configure a client id",
                meta.issuer
            ))
        })?;
        let methods = meta.token_endpoint_auth_methods_supported.clone();
        let method = match methods {
            None => "client_secret_basic",
            Some(ms) => ["none", "client_secret_basic", "client_secret_post"]
                .into_iter()
                .find(|m| ms.iter().any(|x| x == m))
                .unwrap_or("none"),
        };
        let fetcher = self.fetcher().await?;
        let url = fetcher.guard.check(endpoint).await?;
        let body = json!({
            "client_name": self.config.client_name,
            "redirect_uris": [handler.redirect_uri()],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": method,
            "application_type": "native",
        });
        let response = fetcher
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| AuthError::Http(e.without_url().to_string()))?;
        let status = response.status();
        let bytes = read_limited(response).await?;
        if !status.is_success() {
            return Err(AuthError::Registration(describe_error(
                status.as_u16(),
                &bytes,
            )));
        }
        let r: RegistrationResponse = serde_json::from_slice(&bytes)
            .map_err(|e| AuthError::Registration(format!("invalid registration response: {e}")))?;
        let method = r
            .token_endpoint_auth_method
            .unwrap_or_else(|| method.to_owned());
        Ok(RegisteredClient::new(r.client_id, r.client_secret, method))
    }

    /// A token endpoint request with client authentication (and a DPoP proof with `dpop`);
    /// `requested` is kept as the scope when the server does not say which it granted. Also
    /// says whether the token is DPoP-bound.
    async fn token_request(
        &self,
        meta: &AuthorizationServerMetadata,
        client: &ClientAuth,
        mut form: Vec<(String, String)>,
        requested: Option<String>,
        dpop: Option<&DpopKey>,
    ) -> Result<(Tokens, bool), AuthError> {
        let fetcher = self.fetcher().await?;
        let url = fetcher.guard.check(&meta.token_endpoint).await?;
        let mut request = fetcher
            .http
            .post(url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        match client {
            ClientAuth::None { client_id } if client_id.is_empty() => {}
            ClientAuth::None { client_id } => form.push(("client_id".into(), client_id.clone())),
            ClientAuth::Post { client_id, secret } => {
                form.push(("client_id".into(), client_id.clone()));
                form.push(("client_secret".into(), secret.clone()));
            }
            ClientAuth::Basic { client_id, secret } => {
                let pair = format!("{}:{}", form_encode(client_id), form_encode(secret));
                request = request.header(
                    reqwest::header::AUTHORIZATION,
                    format!("Basic {}", STANDARD.encode(pair)),
                );
            }
            ClientAuth::Jwt {
                client_id,
                key_pem,
                algorithm,
            } => {
                let assertion = client_assertion(client_id, &meta.issuer, key_pem, algorithm)?;
                form.push(("client_id".into(), client_id.clone()));
                form.push(("client_assertion_type".into(), JWT_BEARER.into()));
                form.push(("client_assertion".into(), assertion));
            }
        }
        let request = request.form(&form);
        let mut nonce_retried = false;
        let (status, bytes) = loop {
            let mut attempt = request
                .try_clone()
                .ok_or_else(|| AuthError::Http("the token request cannot be repeated".into()))?;
            if let Some(key) = dpop {
                attempt = attempt.header("dpop", key.proof("POST", url.as_str(), None)?);
            }
            let response = attempt
                .send()
                .await
                .map_err(|e| AuthError::Http(e.without_url().to_string()))?;
            let status = response.status();
            let nonce = response
                .headers()
                .get("dpop-nonce")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = read_limited(response).await?;
            // RFC 9449 section 8: the authorization server wants a nonce in the proof.
            if let (Some(key), Some(nonce), false) = (dpop, &nonce, nonce_retried)
                && status == reqwest::StatusCode::BAD_REQUEST
                && serde_json::from_slice::<ErrorResponse>(&bytes)
                    .is_ok_and(|e| e.error == "use_dpop_nonce")
            {
                key.set_nonce(url.as_str(), nonce);
                nonce_retried = true;
                continue;
            }
            break (status, bytes);
        };
        if !status.is_success() {
            return Err(AuthError::Token(describe_error(status.as_u16(), &bytes)));
        }
        let t: TokenResponse = serde_json::from_slice(&bytes)
            .map_err(|e| AuthError::Token(format!("invalid token response: {e}")))?;
        let bound = match t.token_type.as_deref() {
            None => false,
            Some(tt) if tt.eq_ignore_ascii_case("bearer") => false,
            Some(tt) if tt.eq_ignore_ascii_case("dpop") && dpop.is_some() => true,
            Some(tt) => return Err(AuthError::Token(format!("unsupported token type `{tt}`"))),
        };
        let tokens = Tokens {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_at: t
                .expires_in
                .map(|s| SystemTime::now() + Duration::from_secs(s)),
            scope: t.scope.or(requested),
        };
        Ok((tokens, bound))
    }
}

/// Whether two issuer identifiers are the same (a trailing `/` aside).
fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

fn client_id(c: &ClientAuth) -> &str {
    match c {
        ClientAuth::None { client_id }
        | ClientAuth::Basic { client_id, .. }
        | ClientAuth::Post { client_id, .. }
        | ClientAuth::Jwt { client_id, .. } => client_id,
    }
}

/// The `error` and `error_description` of an OAuth error response (never the whole body).
pub(crate) fn describe_error(status: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(e) => match e.error_description {
            Some(d) => format!(
                "HTTP {status}: {}: {}",
                e.error,
                d.chars().take(200).collect::<String>()
            ),
            None => format!("HTTP {status}: {}", e.error),
        },
        Err(_) => format!("HTTP {status}"),
    }
}

/// Checks the authorization response (state, RFC 9207 `iss`, error) and returns the code.
fn check_redirect(
    redirect: &Url,
    state: &str,
    meta: &AuthorizationServerMetadata,
) -> Result<String, AuthError> {
    let get = |k: &str| {
        redirect
            .query_pairs()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.into_owned())
    };
    // `iss` first: an error response from the wrong server must not be believed either.
    match get("iss") {
        Some(iss) if iss != meta.issuer => {
            return Err(AuthError::AuthorizationResponse(format!(
                "`iss` is `{iss}`, not the issuer `{}`",
                meta.issuer
            )));
        }
        None if meta.authorization_response_iss_parameter_supported == Some(true) => {
            return Err(AuthError::AuthorizationResponse(
                "`iss` is missing although the authorization server advertises it".into(),
            ));
        }
        _ => {}
    }
    if let Some(error) = get("error") {
        let description = get("error_description").unwrap_or_default();
        return Err(AuthError::AuthorizationResponse(
            format!("{error} {description}").trim().to_owned(),
        ));
    }
    if get("state").as_deref() != Some(state) {
        return Err(AuthError::AuthorizationResponse(
            "`state` does not match".into(),
        ));
    }
    get("code").ok_or_else(|| AuthError::AuthorizationResponse("no `code`".into()))
}

/// A `private_key_jwt` client assertion (RFC 7523 section 2.2), for the issuer as audience.
fn client_assertion(
    client_id: &str,
    audience: &str,
    key_pem: &str,
    algorithm: &str,
) -> Result<String, AuthError> {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let alg: Algorithm = algorithm
        .parse()
        .map_err(|_| AuthError::Config(format!("unknown signing algorithm `{algorithm}`")))?;
    let pem = key_pem.as_bytes();
    let key = match alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => EncodingKey::from_rsa_pem(pem),
        _ => {
            return Err(AuthError::Config(format!(
                "`{algorithm}` is not an asymmetric algorithm"
            )));
        }
    }
    .map_err(|e| AuthError::Config(format!("the private key: {e}")))?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 300,
        "jti": random_token(16),
    });
    jsonwebtoken::encode(&Header::new(alg), &claims, &key)
        .map_err(|e| AuthError::Config(format!("signing the client assertion: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
