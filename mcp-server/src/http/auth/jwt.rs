//! JWT access tokens checked against the authorization server's JSON Web Key Set.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::{AuthConfigError, AuthError, TokenValidator, check_fetch_url, roles_of, scopes_of};
use crate::identity::{AuthMethod, Identity};

/// The largest JWKS document read.
const MAX_JWKS_SIZE: usize = 1 << 20;
/// How long fetching the JWKS may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A signature algorithm a [`JwtValidator`] may accept. Only asymmetric ones exist here: `none`
/// and the HMAC algorithms (whose "key" would be the public key) can never be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA on Ed25519.
    EdDSA,
}

impl JwtAlgorithm {
    /// Every algorithm (the default of [`JwtValidator::algorithms`]).
    pub const ALL: [JwtAlgorithm; 9] = [
        JwtAlgorithm::RS256,
        JwtAlgorithm::RS384,
        JwtAlgorithm::RS512,
        JwtAlgorithm::PS256,
        JwtAlgorithm::PS384,
        JwtAlgorithm::PS512,
        JwtAlgorithm::ES256,
        JwtAlgorithm::ES384,
        JwtAlgorithm::EdDSA,
    ];

    /// The algorithm's name in JOSE (`ES256`, ...).
    pub fn name(self) -> &'static str {
        match self {
            JwtAlgorithm::RS256 => "RS256",
            JwtAlgorithm::RS384 => "RS384",
            JwtAlgorithm::RS512 => "RS512",
            JwtAlgorithm::PS256 => "PS256",
            JwtAlgorithm::PS384 => "PS384",
            JwtAlgorithm::PS512 => "PS512",
            JwtAlgorithm::ES256 => "ES256",
            JwtAlgorithm::ES384 => "ES384",
            JwtAlgorithm::EdDSA => "EdDSA",
        }
    }

    pub(super) fn to_jwt(self) -> Algorithm {
        match self {
            JwtAlgorithm::RS256 => Algorithm::RS256,
            JwtAlgorithm::RS384 => Algorithm::RS384,
            JwtAlgorithm::RS512 => Algorithm::RS512,
            JwtAlgorithm::PS256 => Algorithm::PS256,
            JwtAlgorithm::PS384 => Algorithm::PS384,
            JwtAlgorithm::PS512 => Algorithm::PS512,
            JwtAlgorithm::ES256 => Algorithm::ES256,
            JwtAlgorithm::ES384 => Algorithm::ES384,
            JwtAlgorithm::EdDSA => Algorithm::EdDSA,
        }
    }

    fn from_key_algorithm(alg: KeyAlgorithm) -> Option<Self> {
        Some(match alg {
            KeyAlgorithm::RS256 => JwtAlgorithm::RS256,
            KeyAlgorithm::RS384 => JwtAlgorithm::RS384,
            KeyAlgorithm::RS512 => JwtAlgorithm::RS512,
            KeyAlgorithm::PS256 => JwtAlgorithm::PS256,
            KeyAlgorithm::PS384 => JwtAlgorithm::PS384,
            KeyAlgorithm::PS512 => JwtAlgorithm::PS512,
            KeyAlgorithm::ES256 => JwtAlgorithm::ES256,
            KeyAlgorithm::ES384 => JwtAlgorithm::ES384,
            KeyAlgorithm::EdDSA => JwtAlgorithm::EdDSA,
            _ => return None,
        })
    }
}

/// Where a [`JwtValidator`] gets the authorization server's public keys.
#[derive(Debug, Clone)]
pub struct Jwks {
    source: Source,
    ttl: Duration,
    min_refetch_interval: Duration,
}

#[derive(Debug, Clone)]
enum Source {
    Url(String),
    Static(Vec<Jwk>),
}

impl Jwks {
    /// The JWKS served at `url` (the authorization server's `jwks_uri`, `https`, or `http` on a
    /// loopback host; another URL makes every token fail as unverifiable): fetched when first
    /// needed, kept for [`ttl`](Self::ttl), and fetched again early when a token names a key
    /// (`kid`) it does not hold, at most once per
    /// [`min_refetch_interval`](Self::min_refetch_interval): that is how a key rotation is
    /// picked up.
    pub fn url(url: impl Into<String>) -> Self {
        Jwks {
            source: Source::Url(url.into()),
            ttl: Duration::from_secs(10 * 60),
            min_refetch_interval: Duration::from_secs(30),
        }
    }

    /// A fixed JWKS document (`{"keys": [...]}`). Keys this crate cannot use (encryption keys,
    /// symmetric keys, unknown types) are skipped; none usable is an error.
    pub fn from_json(jwks: &str) -> Result<Self, AuthConfigError> {
        let keys =
            parse_jwks(jwks.as_bytes()).map_err(|e| AuthConfigError(format!("the JWKS: {e}")))?;
        Ok(Jwks {
            source: Source::Static(keys),
            ttl: Duration::MAX,
            min_refetch_interval: Duration::MAX,
        })
    }

    /// How long fetched keys are used before they are fetched again (default 10 minutes).
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The least time between two fetches caused by unknown key ids or failures (default 30
    /// seconds), so that tokens with made-up `kid`s cannot make the server hammer the
    /// authorization server.
    #[must_use]
    pub fn min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval = interval;
        self
    }
}

/// A [`TokenValidator`] for JWT access tokens (RFC 9068) signed by the authorization server.
///
/// A token is accepted when:
/// - its signature verifies with a key of the [`Jwks`], chosen by the token's `kid` (without
///   one, the set must hold exactly one usable key). The algorithm comes from the key (its
///   `alg`, else its type and curve), must be one of [`algorithms`](Self::algorithms), and must
///   be the token's `alg`: `none`, HMAC, and an RSA key used as an HMAC secret are refused;
///   the token's `jku`, `jwk` and `x5u` are ignored;
/// - its `aud` contains the resource's canonical URI (a token without `aud` is refused);
/// - its `iss` is one of the issuers;
/// - it has an `exp` not yet past, and its `nbf`, if any, is past (both with
///   [`leeway`](Self::leeway));
/// - it names its owner in `sub` (or `client_id`).
///
/// The [`Identity`] has the subject, the scopes of `scope` (space separated) or `scp` (an
/// array), the roles of [`roles_claim`](Self::roles_claim), and every claim.
pub struct JwtValidator {
    audience: String,
    issuers: Vec<String>,
    algorithms: Vec<JwtAlgorithm>,
    leeway: Duration,
    roles_claim: String,
    keys: KeySource,
    /// Tokens already verified: SHA-256 of the token to its identity, for a short while.
    verified: std::sync::Mutex<HashMap<[u8; 32], (Identity, std::time::Instant)>>,
}

/// How long a verified token is remembered (bounded by its `exp`): a key removed from the JWKS
/// stops working for cached tokens after at most this long.
const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// The most verified tokens remembered; beyond, the memory is cleared.
const VERIFIED_MAX: usize = 10_000;

impl fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtValidator")
            .field("audience", &self.audience)
            .field("issuers", &self.issuers)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtValidator {
    /// Accepts tokens for `audience` (the resource's canonical URI) issued by `issuer` and
    /// signed by a key of `jwks`.
    pub fn new(audience: impl Into<String>, issuer: impl Into<String>, jwks: Jwks) -> Self {
        let keys = match jwks.source {
            Source::Static(keys) => KeySource::Static(Arc::new(KeySet::new(&keys))),
            Source::Url(url) => KeySource::Remote(Box::new(Remote {
                url,
                ttl: jwks.ttl,
                min_refetch_interval: jwks.min_refetch_interval,
                client: reqwest::Client::builder()
                    .timeout(FETCH_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap_or_default(),
                cache: Mutex::new(Cache::default()),
                fetching: tokio::sync::Mutex::new(()),
            })),
        };
        JwtValidator {
            audience: audience.into(),
            issuers: vec![issuer.into()],
            algorithms: JwtAlgorithm::ALL.to_vec(),
            leeway: Duration::from_secs(30),
            roles_claim: "roles".to_owned(),
            keys,
            verified: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Also accepts tokens issued by `issuer`.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// The signature algorithms accepted (default: all of [`JwtAlgorithm::ALL`]; each key
    /// still allows only its own).
    #[must_use]
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = JwtAlgorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How far `exp` and `nbf` may be off, for clocks that disagree (default 30 seconds).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The claim holding the caller's roles (default `roles`): a name, or a JSON pointer
    /// starting with `/` (such as `/realm_access/roles`). Its value is an array of strings or a
    /// space-separated string.
    #[must_use]
    pub fn roles_claim(mut self, claim: impl Into<String>) -> Self {
        self.roles_claim = claim.into();
        self
    }

    async fn check(&self, token: &str) -> Result<Identity, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::invalid(format!("malformed token or algorithm: {e}")))?;
        let keys = match &self.keys {
            KeySource::Static(keys) => keys.clone(),
            KeySource::Remote(remote) => remote.keys_for(header.kid.as_deref()).await?,
        };
        let key = match keys.find(header.kid.as_deref()) {
            Ok(key) => key,
            // An unknown key while the JWKS cannot be fetched: the token may well be signed by
            // a key the authorization server has just added. That is an outage, not a bad token.
            Err(_) if matches!(&self.keys, KeySource::Remote(r) if r.failing()) => {
                return Err(AuthError::unavailable(
                    "the token's key is not among the keys held, and the JWKS cannot be fetched",
                ));
            }
            Err(e) => return Err(e),
        };
        let alg = key
            .algorithms
            .iter()
            .copied()
            .filter(|a| self.algorithms.contains(a))
            .map(JwtAlgorithm::to_jwt)
            .find(|a| *a == header.alg)
            .ok_or_else(|| {
                AuthError::invalid(format!(
                    "algorithm {:?} is not allowed for this key",
                    header.alg
                ))
            })?;
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&self.issuers);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| AuthError::invalid(e.to_string()))?;
        identity_of(data.claims, &self.roles_claim)
    }
}

impl TokenValidator for JwtValidator {
    /// Verifies the token, or finds it among those verified in the last minute (its signature
    /// then need not be checked again; its expiry still is).
    async fn validate(&self, token: &str) -> Result<Identity, AuthError> {
        let digest = token_digest(token);
        if let Some(identity) = self.known(&digest) {
            return Ok(identity);
        }
        let now = std::time::Instant::now();
        let identity = self.check(token).await?;
        let exp = identity.claims().get("exp").and_then(Value::as_u64);
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let left = exp.map_or(Duration::ZERO, |e| {
            Duration::from_secs(e.saturating_sub(unix))
        });
        let keep = left.min(VERIFIED_TTL);
        if !keep.is_zero() {
            let mut verified = self.verified.lock().expect("not poisoned");
            if verified.len() >= VERIFIED_MAX {
                verified.retain(|_, (_, until)| *until > now);
                if verified.len() >= VERIFIED_MAX {
                    verified.clear();
                }
            }
            verified.insert(digest, (identity.clone(), now + keep));
        }
        Ok(identity)
    }

    /// A token verified in the last minute and not yet expired.
    fn validate_now(&self, token: &str) -> Option<Identity> {
        self.known(&token_digest(token))
    }
}

impl JwtValidator {
    /// The identity of the token of `digest`, if it was verified a moment ago and has not expired.
    fn known(&self, digest: &[u8; 32]) -> Option<Identity> {
        let verified = self.verified.lock().expect("not poisoned");
        let (identity, until) = verified.get(digest)?;
        (*until > std::time::Instant::now()).then(|| identity.clone())
    }
}

/// The key of a verified token: its SHA-256.
fn token_digest(token: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// The identity of checked claims: `sub` (or `client_id`), scopes, roles, every claim.
pub(super) fn identity_of(
    claims: Map<String, Value>,
    roles_claim: &str,
) -> Result<Identity, AuthError> {
    let subject = ["sub", "client_id"]
        .iter()
        .find_map(|c| claims.get(*c).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AuthError::invalid("no `sub` claim"))?
        .to_owned();
    let scopes = scopes_of(&claims);
    let roles = roles_of(&claims, roles_claim);
    Ok(Identity::new(subject, AuthMethod::Bearer)
        .with_scopes(scopes)
        .with_roles(roles)
        .with_claims(claims))
}

enum KeySource {
    Static(Arc<KeySet>),
    Remote(Box<Remote>),
}

/// A usable key and the algorithms it may verify.
pub(super) struct Key {
    key: DecodingKey,
    pub(super) algorithms: Vec<JwtAlgorithm>,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<Key>>,
    all: Vec<Arc<Key>>,
}

impl KeySet {
    fn new(jwks: &[Jwk]) -> Self {
        let mut set = KeySet::default();
        for jwk in jwks {
            let Some(key) = usable(jwk) else { continue };
            let key = Arc::new(key);
            if let Some(kid) = &jwk.common.key_id {
                set.by_kid.insert(kid.clone(), key.clone());
            }
            set.all.push(key);
        }
        set
    }

    fn get(&self, kid: Option<&str>) -> Option<&Arc<Key>> {
        match kid {
            Some(kid) => self.by_kid.get(kid),
            None if self.all.len() == 1 => self.all.first(),
            None => None,
        }
    }

    fn find(&self, kid: Option<&str>) -> Result<&Arc<Key>, AuthError> {
        self.get(kid).ok_or_else(|| match kid {
            Some(_) => AuthError::invalid("the token's key id (`kid`) is not in the JWKS"),
            None => AuthError::invalid("no key id (`kid`), and the JWKS holds several keys"),
        })
    }
}

/// A JWK as a verification key, with the algorithms its type allows (or its `alg`, if it says).
pub(super) fn usable(jwk: &Jwk) -> Option<Key> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let by_type: Vec<JwtAlgorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            JwtAlgorithm::RS256,
            JwtAlgorithm::RS384,
            JwtAlgorithm::RS512,
            JwtAlgorithm::PS256,
            JwtAlgorithm::PS384,
            JwtAlgorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![JwtAlgorithm::ES256],
            EllipticCurve::P384 => vec![JwtAlgorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            vec![JwtAlgorithm::EdDSA]
        }
        // Symmetric keys never: the resource server would hold the signing secret.
        _ => return None,
    };
    let algorithms = match jwk.common.key_algorithm {
        None => by_type,
        Some(alg) => {
            let alg = JwtAlgorithm::from_key_algorithm(alg)?;
            if !by_type.contains(&alg) {
                return None;
            }
            vec![alg]
        }
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key { key, algorithms })
}

/// The keys of a JWKS document; keys that do not parse are skipped.
fn parse_jwks(body: &[u8]) -> Result<Vec<Jwk>, String> {
    #[derive(serde::Deserialize)]
    struct Document {
        keys: Vec<Value>,
    }
    let doc: Document =
        serde_json::from_slice(body).map_err(|e| format!("not a JWKS document: {e}"))?;
    let keys: Vec<Jwk> = doc
        .keys
        .into_iter()
        .filter_map(|k| serde_json::from_value(k).ok())
        .filter(|k| usable(k).is_some())
        .collect();
    if keys.is_empty() {
        return Err("no usable signature key".to_owned());
    }
    Ok(keys)
}

/// A JWKS fetched from a URL, cached.
struct Remote {
    url: String,
    ttl: Duration,
    min_refetch_interval: Duration,
    client: reqwest::Client,
    cache: Mutex<Cache>,
    /// One fetch at a time: concurrent requests with a new `kid` share it.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    keys: Option<Arc<KeySet>>,
    fetched: Option<Instant>,
    attempted: Option<Instant>,
    /// The last fetch failed.
    failing: bool,
}

impl Remote {
    fn failing(&self) -> bool {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).failing
    }

    fn snapshot(&self) -> (Option<Arc<KeySet>>, Option<Instant>, Option<Instant>) {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        (cache.keys.clone(), cache.fetched, cache.attempted)
    }

    /// Whether the cached keys will do for `kid`, or the JWKS should be fetched.
    fn decide(&self, kid: Option<&str>) -> Result<Arc<KeySet>, bool> {
        let (keys, fetched, attempted) = self.snapshot();
        let now = Instant::now();
        let may_refetch =
            attempted.is_none_or(|t| now.duration_since(t) >= self.min_refetch_interval);
        match keys {
            None => Err(may_refetch),
            Some(keys) => {
                let fresh = fetched.is_some_and(|t| now.duration_since(t) < self.ttl);
                if !fresh {
                    // Stale keys are used only while fetching is not allowed (after a failure).
                    return if may_refetch { Err(true) } else { Ok(keys) };
                }
                if keys.get(kid).is_none() && may_refetch {
                    return Err(true);
                }
                Ok(keys)
            }
        }
    }

    async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        if let Ok(keys) = self.decide(kid) {
            return Ok(keys);
        }
        let _one = self.fetching.lock().await;
        // Another request may have fetched meanwhile.
        match self.decide(kid) {
            Ok(keys) => return Ok(keys),
            Err(false) => {
                return Err(AuthError::unavailable(
                    "the JWKS could not be fetched recently",
                ));
            }
            Err(true) => {}
        }
        let now = Instant::now();
        let fetched = self.fetch().await;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.attempted = Some(now);
        match fetched {
            Ok(keys) => {
                let keys = Arc::new(KeySet::new(&keys));
                cache.keys = Some(keys.clone());
                cache.fetched = Some(now);
                cache.failing = false;
                Ok(keys)
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "fetching the JWKS failed");
                cache.failing = true;
                cache
                    .keys
                    .clone()
                    .ok_or_else(|| AuthError::unavailable(format!("fetching the JWKS: {e}")))
            }
        }
    }

    async fn fetch(&self) -> Result<Vec<Jwk>, String> {
        check_fetch_url(&self.url)?;
        let mut response = self
            .client
            .get(&self.url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_JWKS_SIZE {
                return Err(format!("larger than {MAX_JWKS_SIZE} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(url = %self.url, "JWKS fetched");
        parse_jwks(&body)
    }
}
