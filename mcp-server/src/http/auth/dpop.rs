//! DPoP (RFC 9449) on the resource server: a token bound to a key (`cnf.jkt`) is accepted only
//! with a proof signed by that key for this very request.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::jwt::{JwtAlgorithm, usable};
use super::{AuthError, BoxFuture};

/// The longest DPoP proof read (a proof carries a public key: an RSA-4096 one fits easily).
const MAX_PROOF_SIZE: usize = 8 * 1024;
/// The longest `jti` accepted.
const MAX_JTI: usize = 256;
/// The most proofs an [`InMemoryReplayStore`] remembers by default.
const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// Why a DPoP request was refused: the proof (`invalid_dpop_proof`), or the token's binding
/// (`invalid_token`).
#[derive(Debug)]
pub(super) enum DpopError {
    /// The proof is missing, malformed, badly signed, for another request, stale or replayed.
    Proof(String),
    /// The token is not bound to the proof's key, or bound but presented as a bearer token.
    Token(String),
    /// The replay store could not tell whether the proof is new.
    Unavailable(String),
}

/// Remembers the DPoP proofs (their `jti`, per key) already used, so that each is accepted once.
///
/// [`InMemoryReplayStore`] is the default; a deployment with several instances behind a load
/// balancer plugs a shared store in with [`ResourceServer::dpop_replay_store`](super::ResourceServer::dpop_replay_store).
pub trait DpopReplayStore: Send + Sync + 'static {
    /// Records the proof `id` (a hash of the key and the `jti`) until `until`: `Ok(true)` if it
    /// was not seen before, `Ok(false)` if it was (a replay), an error if the store cannot tell
    /// (the request then gets 503).
    fn first_use(
        &self,
        id: [u8; 32],
        until: SystemTime,
    ) -> impl Future<Output = Result<bool, AuthError>> + Send;
}

/// [`DpopReplayStore`] made object safe.
pub(super) trait DynReplayStore: Send + Sync {
    fn first_use_boxed(
        &self,
        id: [u8; 32],
        until: SystemTime,
    ) -> BoxFuture<'_, Result<bool, AuthError>>;
}

impl<S: DpopReplayStore> DynReplayStore for S {
    fn first_use_boxed(
        &self,
        id: [u8; 32],
        until: SystemTime,
    ) -> BoxFuture<'_, Result<bool, AuthError>> {
        Box::pin(self.first_use(id, until))
    }
}

/// The proofs seen in this process, each kept until its `iat` window is over: bounded memory.
/// When `capacity` proofs are remembered and none has expired, new proofs are refused (503)
/// rather than forgetting one that could then be replayed.
#[derive(Debug)]
pub struct InMemoryReplayStore {
    seen: Mutex<HashMap<[u8; 32], SystemTime>>,
    capacity: usize,
}

impl Default for InMemoryReplayStore {
    fn default() -> Self {
        InMemoryReplayStore::with_capacity(DEFAULT_REPLAY_CAPACITY)
    }
}

impl InMemoryReplayStore {
    /// A store remembering at most `capacity` proofs at once (100,000 by default).
    pub fn with_capacity(capacity: usize) -> Self {
        InMemoryReplayStore {
            seen: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }
}

impl DpopReplayStore for InMemoryReplayStore {
    async fn first_use(&self, id: [u8; 32], until: SystemTime) -> Result<bool, AuthError> {
        let now = SystemTime::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(expiry) = seen.get(&id)
            && *expiry > now
        {
            return Ok(false);
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, expiry| *expiry > now);
            if seen.len() >= self.capacity {
                return Err(AuthError::unavailable(
                    "the DPoP replay store is full of live proofs",
                ));
            }
        }
        seen.insert(id, until);
        Ok(true)
    }
}

/// The DPoP settings of a resource server.
#[derive(Clone)]
pub(super) struct DpopChecker {
    /// How far a proof's `iat` may be from now, either way.
    pub(super) window: Duration,
    pub(super) algorithms: Vec<JwtAlgorithm>,
    pub(super) replay: std::sync::Arc<dyn DynReplayStore>,
}

impl DpopChecker {
    pub(super) fn new() -> Self {
        DpopChecker {
            window: Duration::from_secs(60),
            algorithms: JwtAlgorithm::ALL.to_vec(),
            replay: std::sync::Arc::new(InMemoryReplayStore::default()),
        }
    }

    /// The `algs` of the `DPoP` challenge and `dpop_signing_alg_values_supported`.
    pub(super) fn algorithm_names(&self) -> Vec<&'static str> {
        self.algorithms.iter().map(|a| a.name()).collect()
    }

    /// Checks `proof` for a `method` request to `htu` carrying `token`, bound to `jkt`.
    pub(super) async fn check(
        &self,
        proof: &str,
        method: &str,
        htu: &str,
        token: &str,
        jkt: &str,
    ) -> Result<(), DpopError> {
        let bad = |why: &str| DpopError::Proof(why.to_owned());
        if proof.len() > MAX_PROOF_SIZE {
            return Err(bad("the proof is too large"));
        }
        // The header as sent: `typ`, and a `jwk` that must be public.
        let header_b64 = proof.split('.').next().unwrap_or_default();
        let header: Map<String, Value> = URL_SAFE_NO_PAD
            .decode(header_b64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("the proof's header is not JSON"))?;
        if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
            return Err(bad("the proof's `typ` is not `dpop+jwt`"));
        }
        let jwk_value = header
            .get("jwk")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("the proof has no `jwk`"))?;
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|m| jwk_value.contains_key(*m))
        {
            return Err(bad("the proof's `jwk` holds a private key"));
        }
        let jwk: Jwk = serde_json::from_value(Value::Object(jwk_value.clone()))
            .map_err(|_| bad("the proof's `jwk` is not a usable key"))?;
        let key = usable(&jwk).ok_or_else(|| bad("the proof's `jwk` is not a usable key"))?;
        let decoded = jsonwebtoken::decode_header(proof)
            .map_err(|_| bad("the proof's header is malformed"))?;
        let alg = key
            .algorithms
            .iter()
            .copied()
            .filter(|a| self.algorithms.contains(a))
            .map(JwtAlgorithm::to_jwt)
            .find(|a| *a == decoded.alg)
            .ok_or_else(|| bad("the proof's algorithm is not allowed for its key"))?;
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(
            proof,
            &DecodingKey::from_jwk(&jwk)
                .map_err(|_| bad("the proof's `jwk` is not a usable key"))?,
            &validation,
        )
        .map_err(|_| bad("the proof's signature does not verify"))?
        .claims;

        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        if text("htm") != Some(method) {
            return Err(bad("the proof's `htm` is not the request's method"));
        }
        match text("htu").map(normalize_htu) {
            Some(Some(u)) if Some(u.as_str()) == normalize_htu(htu).as_deref() => {}
            _ => return Err(bad("the proof's `htu` is not the request's URL")),
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let iat = claims
            .get("iat")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("the proof has no `iat`"))?;
        if iat.abs_diff(now) > self.window.as_secs() {
            return Err(bad("the proof's `iat` is too far from now"));
        }
        let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
        if text("ath") != Some(ath.as_str()) {
            return Err(bad("the proof's `ath` is not the hash of the access token"));
        }
        let thumbprint = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|_| bad("the proof's `jwk` has no thumbprint"))?;
        if thumbprint != jkt {
            return Err(DpopError::Token(
                "the token is bound to another key than the proof's".to_owned(),
            ));
        }
        let jti = text("jti")
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI)
            .ok_or_else(|| bad("the proof has no usable `jti`"))?;
        // Unique per key: the same `jti` from two keys is two proofs.
        let id: [u8; 32] = Sha256::digest(format!("{jkt}\n{jti}").as_bytes()).into();
        let until = SystemTime::now() + self.window * 2;
        match self.replay.first_use_boxed(id, until).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(bad("the proof was already used")),
            Err(e) => Err(DpopError::Unavailable(e.to_string())),
        }
    }
}

/// A URL compared as RFC 9449 section 4.3 says: without query and fragment, scheme and host in
/// lower case, the default port left out, an empty path as `/`.
pub(super) fn normalize_htu(url: &str) -> Option<String> {
    let url = url.split('#').next()?;
    let url = url.split('?').next()?;
    let uri: axum::http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host().to_ascii_lowercase();
    let port = match (scheme.as_str(), authority.port_u16()) {
        ("https", Some(443)) | ("http", Some(80)) | (_, None) => String::new(),
        (_, Some(p)) => format!(":{p}"),
    };
    let path = match uri.path() {
        "" => "/",
        p => p,
    };
    Some(format!("{scheme}://{host}{port}{path}"))
}

/// The `jkt` confirmation of a token's claims (RFC 9449 section 6), if it is DPoP-bound.
pub(super) fn bound_key(claims: &Map<String, Value>) -> Option<&str> {
    claims.get("cnf")?.get("jkt")?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_comparison() {
        let n = |s: &str| normalize_htu(s).unwrap();
        assert_eq!(
            n("https://MCP.example.com:443/mcp?x=1#f"),
            "https://mcp.example.com/mcp"
        );
        assert_eq!(n("HTTP://127.0.0.1:80"), "http://127.0.0.1/");
        assert_eq!(n("http://127.0.0.1:8000/mcp"), "http://127.0.0.1:8000/mcp");
        assert_ne!(
            n("https://mcp.example.com/mcp"),
            n("https://mcp.example.com/MCP")
        );
        assert_ne!(
            n("https://mcp.example.com/mcp"),
            n("https://mcp.example.com:8443/mcp")
        );
        assert!(normalize_htu("/mcp").is_none());
        assert!(normalize_htu("https://user@mcp.example.com/mcp").is_none());
    }

    #[tokio::test]
    async fn the_replay_store_accepts_each_proof_once_and_stays_bounded() {
        let store = InMemoryReplayStore::with_capacity(2);
        let later = SystemTime::now() + Duration::from_secs(60);
        assert_eq!(store.first_use([1; 32], later).await, Ok(true));
        assert_eq!(store.first_use([1; 32], later).await, Ok(false));
        assert_eq!(store.first_use([2; 32], later).await, Ok(true));
        assert_eq!(
            store.first_use([3; 32], later).await,
            Err(AuthError::unavailable(
                "the DPoP replay store is full of live proofs"
            ))
        );
        // Expired proofs make room.
        let store = InMemoryReplayStore::with_capacity(1);
        let past = SystemTime::now() - Duration::from_secs(1);
        assert_eq!(store.first_use([1; 32], past).await, Ok(true));
        assert_eq!(store.first_use([2; 32], later).await, Ok(true));
    }
}
