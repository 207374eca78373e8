//! `requestState` of multi-round-trip requests: the answers of earlier rounds, bound to the
//! request they belong to, sealed with an HMAC under the server's key. A client can carry it but
//! not forge or alter it, nor replay it on another request.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use mcp_core::types::InputResponses;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// How long a `requestState` stays valid.
const LIFETIME_SECS: u64 = 600;

#[derive(Serialize, Deserialize)]
struct Payload {
    /// Hash of the method and the request's identifying params (tool name and arguments, URI...).
    binding: String,
    /// Seconds since the Unix epoch when it was issued.
    issued: u64,
    responses: InputResponses,
    /// The approval grant of a call approved on an earlier round (sealed by
    /// [`crate::approval`] under its own key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    approval: Option<String>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Hash of what identifies a request, so that state made for one cannot serve another.
pub(crate) fn binding(method: &str, identity: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(identity.to_string().as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// [`binding`] of a `tools/call` round, `{"arguments", "name", "principal"}`, written straight
/// into the hash: the same value, without copying the call's arguments into a JSON tree first.
pub(crate) fn tool_call_binding(
    name: &str,
    arguments: Option<&mcp_core::types::JsonObject>,
    principal: Option<&str>,
) -> String {
    /// The fields in the order of a JSON object's keys (sorted), as `binding` writes them.
    #[derive(Serialize)]
    struct Subject<'a> {
        arguments: Option<&'a mcp_core::types::JsonObject>,
        name: &'a str,
        principal: Option<&'a str>,
    }
    struct Hashing<'a>(&'a mut Sha256);
    impl std::io::Write for Hashing<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = Sha256::new();
    h.update(b"tools/call");
    h.update([0]);
    let subject = Subject {
        arguments,
        name,
        principal,
    };
    serde_json::to_writer(Hashing(&mut h), &subject).expect("serializes");
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// Seals earlier answers into a token.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn seal(key: &[u8; 32], binding: &str, responses: &InputResponses) -> String {
    seal_round(key, binding, responses, None)
}

/// Seals earlier answers, and the approval grant of an approved call, into a token.
pub(crate) fn seal_round(
    key: &[u8; 32],
    binding: &str,
    responses: &InputResponses,
    approval: Option<&str>,
) -> String {
    let payload = Payload {
        binding: binding.to_owned(),
        issued: now(),
        responses: responses.clone(),
        approval: approval.map(str::to_owned),
    };
    seal_bytes(key, &serde_json::to_vec(&payload).expect("serializes"))
}

/// `base64url(payload).base64url(HMAC-SHA256(key, base64url(payload)))`: the sealed form shared
/// by `requestState` and approval tokens (whose keys differ, see [`derive_key`]).
pub(crate) fn seal_bytes(key: &[u8; 32], payload: &[u8]) -> String {
    let body = URL_SAFE_NO_PAD.encode(payload);
    let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
    mac.update(body.as_bytes());
    let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{body}.{tag}")
}

/// The payload of a token made by [`seal_bytes`] under the same key, if it is intact. The tag
/// is compared in constant time.
pub(crate) fn open_bytes(key: &[u8; 32], token: &str) -> Result<Vec<u8>, OpenError> {
    let (body, tag) = token.split_once('.').ok_or(OpenError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| OpenError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
    mac.update(body.as_bytes());
    mac.verify_slice(&tag)
        .map_err(|_| OpenError::BadSignature)?;
    URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| OpenError::Malformed)
}

/// A key for one purpose derived from the server's key (`HMAC-SHA256(key, purpose)`), so that
/// one secret serves several kinds of token and no token of one kind opens as another.
pub(crate) fn derive_key(key: &[u8; 32], purpose: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum OpenError {
    Malformed,
    BadSignature,
    Expired,
    WrongRequest,
}

/// Opens a token made by [`seal`] for the same request.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn open(
    key: &[u8; 32],
    binding: &str,
    token: &str,
) -> Result<InputResponses, OpenError> {
    open_round(key, binding, token).map(|(responses, _)| responses)
}

/// Opens a token made by [`seal_round`] for the same request: the answers and the approval
/// grant.
pub(crate) fn open_round(
    key: &[u8; 32],
    binding: &str,
    token: &str,
) -> Result<(InputResponses, Option<String>), OpenError> {
    let bytes = open_bytes(key, token)?;
    let payload: Payload = serde_json::from_slice(&bytes).map_err(|_| OpenError::Malformed)?;
    if payload.binding != binding {
        return Err(OpenError::WrongRequest);
    }
    if now().saturating_sub(payload.issued) > LIFETIME_SECS {
        return Err(OpenError::Expired);
    }
    Ok((payload.responses, payload.approval))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_call_binding_is_the_binding_of_its_subject() {
        let arguments = serde_json::json!({"z": [1, {"b": null, "a": "é\n"}], "env": "prod"});
        let arguments = arguments.as_object().unwrap();
        for principal in [None, Some("https://issuer.example#alice")] {
            for args in [None, Some(arguments)] {
                let subject = serde_json::json!({
                    "name": "deploy",
                    "arguments": args,
                    "principal": principal,
                });
                assert_eq!(
                    tool_call_binding("deploy", args, principal),
                    binding("tools/call", &subject),
                    "{subject}"
                );
            }
        }
        assert_ne!(
            tool_call_binding("deploy", Some(arguments), None),
            tool_call_binding("deploy", None, None)
        );
    }

    #[test]
    fn tampering_forgery_and_replay_are_refused() {
        let key = [7u8; 32];
        let b = binding(
            "tools/call",
            &serde_json::json!({"name": "deploy", "arguments": {"env": "prod"}}),
        );
        let token = seal(&key, &b, &InputResponses::new());
        assert_eq!(open(&key, &b, &token), Ok(InputResponses::new()));
        // Another key (forgery).
        assert_eq!(open(&[8u8; 32], &b, &token), Err(OpenError::BadSignature));
        // Another request (replay).
        let other = binding(
            "tools/call",
            &serde_json::json!({"name": "deploy", "arguments": {"env": "dev"}}),
        );
        assert_eq!(open(&key, &other, &token), Err(OpenError::WrongRequest));
        // An altered body.
        let (body, tag) = token.split_once('.').unwrap();
        let mut chars: Vec<char> = body.chars().collect();
        chars[3] = if chars[3] == 'A' { 'B' } else { 'A' };
        let altered: String = chars.into_iter().collect();
        assert_eq!(
            open(&key, &b, &format!("{altered}.{tag}")),
            Err(OpenError::BadSignature)
        );
        assert_eq!(open(&key, &b, "garbage"), Err(OpenError::Malformed));
    }
}
