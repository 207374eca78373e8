//! Checks on the headers of a request: where it comes from, what it sends and accepts, and
//! whether the headers that mirror the body agree with it.

use axum::http::header::{ACCEPT, CONTENT_TYPE, HOST, ORIGIN};
use axum::http::{HeaderMap, HeaderName, Uri};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use mcp_core::{ErrorCode, ErrorObject};

use super::config::{Allow, LOOPBACK_HOSTS};

pub(super) const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
pub(super) const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
pub(super) const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
pub(super) const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
pub(super) const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// Splits `host[:port]`, where `host` may be a bracketed IPv6 address.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    let (host, rest) = if authority.starts_with('[') {
        let end = authority.find(']')? + 1;
        authority.split_at(end)
    } else {
        match authority.find(':') {
            Some(i) => authority.split_at(i),
            None => (authority, ""),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match rest {
        "" => None,
        p => Some(p.strip_prefix(':')?),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    Some((host, port))
}

fn is_loopback_name(host: &str) -> bool {
    LOOPBACK_HOSTS.iter().any(|h| h.eq_ignore_ascii_case(host))
}

/// Whether the request's `Origin`, if it has one, is allowed. `null` never is.
pub(super) fn origin_allowed(policy: &Allow, headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(ORIGIN).iter();
    let Some(value) = values.next() else {
        return true;
    };
    if values.next().is_some() {
        return false;
    }
    let Ok(origin) = value.to_str() else {
        return false;
    };
    let origin = origin.trim();
    match policy {
        Allow::Any => true,
        Allow::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        Allow::Loopback => {
            let lower = origin.to_ascii_lowercase();
            let authority = lower
                .strip_prefix("http://")
                .or_else(|| lower.strip_prefix("https://"));
            authority
                .and_then(split_host_port)
                .is_some_and(|(host, _)| is_loopback_name(host))
        }
    }
}

/// Whether the request names a host it may name. `local_loopback` says whether the connection
/// arrived on a loopback address (`None`: unknown, treated as loopback).
pub(super) fn host_allowed(
    policy: &Allow,
    headers: &HeaderMap,
    uri: &Uri,
    local_loopback: Option<bool>,
) -> bool {
    if matches!(policy, Allow::Any) || (*policy == Allow::Loopback && local_loopback == Some(false))
    {
        return true;
    }
    let mut values = headers.get_all(HOST).iter();
    let host = match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().ok().map(str::trim),
        (None, _) => uri.authority().map(|a| a.as_str()),
        (Some(_), Some(_)) => None,
    };
    let Some((name, port)) = host.and_then(split_host_port) else {
        return false;
    };
    match policy {
        Allow::Loopback => is_loopback_name(name),
        Allow::List(list) => list.iter().any(|allowed| match split_host_port(allowed) {
            Some((n, None)) => n.eq_ignore_ascii_case(name),
            Some((n, Some(p))) => n.eq_ignore_ascii_case(name) && Some(p) == port,
            None => false,
        }),
        Allow::Any => true,
    }
}

/// Whether the body is declared as JSON (`application/json`, with any parameters).
pub(super) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Whether the `Accept` header allows every type of `wanted` (lowercase; `*/*` and `type/*`
/// count). Read in place: this runs for every POST.
pub(super) fn accepts(headers: &HeaderMap, wanted: &[&str]) -> bool {
    // What clients send (`application/json, text/event-stream` on a POST): the wanted types
    // themselves, in order, allowed without parsing ranges and weights.
    let mut values = headers.get_all(ACCEPT).iter();
    if let (Some(value), None) = (values.next(), values.next()) {
        let mut listed = value.as_bytes().split(|&b| b == b',');
        let mut want = wanted.iter();
        let exact = loop {
            match (listed.next(), want.next()) {
                (Some(range), Some(w)) if range.trim_ascii() == w.as_bytes() => {}
                (None, None) => break true,
                _ => break false,
            }
        };
        if exact {
            return true;
        }
    }
    let ranges = || {
        headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
    };
    wanted
        .iter()
        .all(|w| ranges().any(|range| range_allows(range, w)))
}

/// Whether one media range of `Accept` (`type/subtype;params`) allows `wanted`: it names it (in
/// any case), or `*/*`, or its `type/*`, and its weight is not `q=0`.
fn range_allows(range: &str, wanted: &str) -> bool {
    let mut parts = range.split(';');
    let media = parts.next().unwrap_or_default().trim();
    let named = media == "*/*"
        || media.eq_ignore_ascii_case(wanted)
        || media.strip_suffix("/*").is_some_and(|t| {
            wanted
                .split('/')
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(t))
        });
    named
        && !parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        })
}

/// A header's only value, trimmed; `Err` when it is repeated or not visible ASCII.
pub(super) fn single<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'h str>, ErrorObject> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(mismatch(format!("the `{name}` header is repeated")));
    }
    value
        .to_str()
        .map(|v| Some(v.trim_matches([' ', '\t'])))
        .map_err(|_| mismatch(format!("the `{name}` header holds invalid characters")))
}

fn mismatch(message: String) -> ErrorObject {
    ErrorObject::new(ErrorCode::HEADER_MISMATCH, message)
}

/// Decodes a header value that may use the `=?base64?...?=` form.
fn decode_value(value: &str) -> Option<String> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    match value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    {
        Some(encoded) => String::from_utf8(LENIENT.decode(encoded).ok()?).ok(),
        None => Some(value.to_owned()),
    }
}

/// What the body says that the headers must repeat.
pub(super) struct Mirrored<'a> {
    pub(super) method: &'a str,
    /// `_meta["io.modelcontextprotocol/protocolVersion"]`, for a modern request.
    pub(super) version: Option<&'a str>,
    /// `params.name` (tools/call, prompts/get), `params.uri` (resources/read) or `params.taskId`
    /// (tasks/get, tasks/update, tasks/cancel).
    pub(super) name: Option<&'a str>,
}

/// Where the value of `Mcp-Name` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NameSource {
    /// `params.name`.
    Name,
    /// `params.uri`.
    Uri,
    /// `params.taskId` (tasks extension: `tasks/get`, `tasks/update`, `tasks/cancel`). Checked
    /// when sent, not required: clients written before SEP-2663 do not send it.
    TaskId,
}

impl std::fmt::Display for NameSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameSource::Name => "params.name",
            NameSource::Uri => "params.uri",
            NameSource::TaskId => "params.taskId",
        })
    }
}

/// The methods whose `Mcp-Name` header is required, and where its value comes from.
pub(super) fn named_method(method: &str) -> Option<NameSource> {
    match method {
        "tools/call" | "prompts/get" => Some(NameSource::Name),
        "resources/read" => Some(NameSource::Uri),
        "tasks/get" | "tasks/update" | "tasks/cancel" => Some(NameSource::TaskId),
        _ => None,
    }
}

/// Checks `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` against the body (-32020).
///
/// For a modern request (`body.version` set) all three are required; otherwise they are checked
/// only where present, except `MCP-Protocol-Version`, which the caller checks per era.
pub(super) fn check_mirrored(headers: &HeaderMap, body: &Mirrored<'_>) -> Result<(), ErrorObject> {
    let modern = body.version.is_some();
    if let Some(version) = body.version {
        match single(headers, &PROTOCOL_VERSION)? {
            None => {
                return Err(mismatch(
                    "the `MCP-Protocol-Version` header is missing".into(),
                ));
            }
            Some(h) if h != version => {
                return Err(mismatch(format!(
                    "Header mismatch: MCP-Protocol-Version header value '{h}' does not match body value '{version}'"
                )));
            }
            Some(_) => {}
        }
    }
    match single(headers, &MCP_METHOD)? {
        None if modern => return Err(mismatch("the `Mcp-Method` header is missing".into())),
        Some(h) if h != body.method => {
            return Err(mismatch(format!(
                "Header mismatch: Mcp-Method header value '{h}' does not match body value '{}'",
                body.method
            )));
        }
        _ => {}
    }
    if let Some(source) = named_method(body.method) {
        match single(headers, &MCP_NAME)? {
            None if modern && source != NameSource::TaskId => {
                return Err(mismatch(format!(
                    "the `Mcp-Name` header is missing (it repeats {source})"
                )));
            }
            None => {}
            Some(h) => {
                let decoded = decode_value(h).ok_or_else(|| {
                    mismatch("the `Mcp-Name` header is not valid base64 UTF-8".into())
                })?;
                if Some(decoded.as_str()) != body.name {
                    return Err(mismatch(format!(
                        "Header mismatch: Mcp-Name header value '{h}' does not match body value '{}'",
                        body.name.unwrap_or_default()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Decodes a `Mcp-Param-*` value: `=?base64?...?=` must be canonical base64 (padded, standard
/// alphabet) of UTF-8; anything else is taken literally.
fn decode_param(value: &str) -> Option<String> {
    match value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    {
        Some(encoded) => String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()?,
        )
        .ok(),
        None => Some(value.to_owned()),
    }
}

/// Checks the `Mcp-Param-{Name}` headers of a `tools/call` against its arguments (-32020):
/// `params` pairs each header's name part with the parameter it repeats. A parameter with a
/// value needs its header, equal after decoding (numbers compared as numbers); an absent or null
/// one needs none.
pub(super) fn check_params(
    headers: &HeaderMap,
    params: &[(String, String)],
    arguments: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Result<(), ErrorObject> {
    use serde_json::Value;
    for (header, prop) in params {
        let Ok(name) = HeaderName::from_bytes(
            format!("mcp-param-{header}")
                .to_ascii_lowercase()
                .as_bytes(),
        ) else {
            continue;
        };
        let Some(body) = arguments.and_then(|a| a.get(prop)).filter(|v| !v.is_null()) else {
            continue;
        };
        let Some(value) = single(headers, &name)? else {
            return Err(mismatch(format!(
                "the `Mcp-Param-{header}` header is missing (it repeats arguments.{prop})"
            )));
        };
        let decoded = decode_param(value).ok_or_else(|| {
            mismatch(format!(
                "the `Mcp-Param-{header}` header is not valid base64 UTF-8"
            ))
        })?;
        let equal = match body {
            Value::String(s) => *s == decoded,
            Value::Bool(b) => b.to_string() == decoded,
            Value::Number(n) => decoded.parse::<f64>().ok() == n.as_f64(),
            _ => false,
        };
        if !equal {
            return Err(mismatch(format!(
                "Header mismatch: Mcp-Param-{header} header value '{value}' does not match body value {body}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn origins() {
        let ok = |o: &str| origin_allowed(&Allow::Loopback, &headers(&[("origin", o)]));
        assert!(origin_allowed(&Allow::Loopback, &HeaderMap::new()));
        assert!(ok("http://localhost"));
        assert!(ok("http://localhost:3000"));
        assert!(ok("https://127.0.0.1:8443"));
        assert!(ok("http://[::1]:80"));
        assert!(ok("HTTP://LOCALHOST:1"));
        assert!(!ok("null"));
        assert!(!ok("http://evil.example"));
        assert!(!ok("http://localhost.evil.example"));
        assert!(!ok("http://localhost:3000/path"));
        assert!(!ok("file://localhost"));
        let list = Allow::List(vec!["https://app.example.com".into()]);
        assert!(origin_allowed(
            &list,
            &headers(&[("origin", "https://APP.example.com")])
        ));
        assert!(!origin_allowed(
            &list,
            &headers(&[("origin", "http://localhost")])
        ));
    }

    #[test]
    fn hosts() {
        let uri = Uri::from_static("/mcp");
        let ok =
            |h: &str, local| host_allowed(&Allow::Loopback, &headers(&[("host", h)]), &uri, local);
        assert!(ok("localhost:8000", Some(true)));
        assert!(ok("127.0.0.1", None));
        assert!(ok("[::1]:9", Some(true)));
        assert!(!ok("evil.example", Some(true)));
        assert!(!ok("evil.example:8000", None));
        assert!(!ok("localhost:x", Some(true)));
        assert!(ok("evil.example", Some(false)));
        assert!(!host_allowed(
            &Allow::Loopback,
            &HeaderMap::new(),
            &uri,
            None
        ));
        let list = Allow::List(vec!["mcp.example.com".into(), "10.0.0.1:8443".into()]);
        let in_list = |h: &str| host_allowed(&list, &headers(&[("host", h)]), &uri, Some(false));
        assert!(in_list("mcp.example.com:443"));
        assert!(in_list("10.0.0.1:8443"));
        assert!(!in_list("10.0.0.1:80"));
        assert!(!in_list("localhost"));
    }

    #[test]
    fn accept_header() {
        let both = ["application/json", "text/event-stream"];
        let ok = |a: &str| accepts(&headers(&[("accept", a)]), &both);
        assert!(ok("application/json, text/event-stream"));
        assert!(ok("application/json,text/event-stream"));
        assert!(ok("text/event-stream, application/json"));
        assert!(ok("application/json, text/event-stream, "));
        assert!(ok("text/event-stream;q=0.9, application/json"));
        assert!(ok("*/*"));
        assert!(ok("application/*, text/*"));
        assert!(ok("Application/JSON, TEXT/*"));
        assert!(ok("text/event-stream, application/json;q=0.5"));
        assert!(!ok("application/json;q=0, text/event-stream"));
        assert!(!ok("*/*;q=0"));
        assert!(!ok("application/json, text/plain, image/*"));
        assert!(!ok("application/json"));
        assert!(!ok("application/json, text/event-stream;q=0"));
        assert!(!accepts(&HeaderMap::new(), &both));
    }

    #[test]
    fn mirrored_headers() {
        let body = Mirrored {
            method: "tools/call",
            version: Some("2026-07-28"),
            name: Some("héllo"),
        };
        let base = [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            check_mirrored(&headers(&all), &body)
        };
        assert!(with(&[("mcp-name", "=?base64?aMOpbGxv?=")]).is_ok());
        assert!(with(&[("mcp-name", "=?base64?aMOpbGxv?=  ")]).is_ok());
        let e = with(&[]).unwrap_err();
        assert_eq!(e.code, ErrorCode::HEADER_MISMATCH);
        assert!(with(&[("mcp-name", "other")]).is_err());
        assert!(with(&[("mcp-name", "=?base64?!!?=")]).is_err());
        let wrong_method = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "TOOLS/CALL"),
            ("mcp-name", "=?base64?aMOpbGxv?="),
        ]);
        assert!(check_mirrored(&wrong_method, &body).is_err());
        let legacy = Mirrored {
            method: "tools/list",
            version: None,
            name: None,
        };
        assert!(check_mirrored(&HeaderMap::new(), &legacy).is_ok());
    }

    #[test]
    fn param_headers_repeat_their_arguments() {
        let params = vec![
            ("Region".to_owned(), "region".to_owned()),
            ("Count".to_owned(), "n".to_owned()),
        ];
        let args: serde_json::Map<String, serde_json::Value> =
            serde_json::from_value(serde_json::json!({"region": "eu-west", "n": 3})).unwrap();
        let mut h = HeaderMap::new();
        h.insert("mcp-param-region", HeaderValue::from_static("eu-west"));
        h.insert("mcp-param-count", HeaderValue::from_static("3"));
        assert!(check_params(&h, &params, Some(&args)).is_ok());
        // Base64 form of the same value.
        h.insert(
            "mcp-param-region",
            HeaderValue::from_static("=?base64?ZXUtd2VzdA==?="),
        );
        assert!(check_params(&h, &params, Some(&args)).is_ok());
        h.insert("mcp-param-region", HeaderValue::from_static("us-east"));
        assert_eq!(
            check_params(&h, &params, Some(&args)).unwrap_err().code,
            ErrorCode::HEADER_MISMATCH
        );
        h.remove("mcp-param-region");
        assert_eq!(
            check_params(&h, &params, Some(&args)).unwrap_err().code,
            ErrorCode::HEADER_MISMATCH
        );
        // No value, no header needed.
        let none: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
        assert!(check_params(&HeaderMap::new(), &params, Some(&none)).is_ok());
    }
}
