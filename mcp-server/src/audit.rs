//! Audit records: one per request, response, policy decision and approval, and one per request
//! refused before dispatch.
//!
//! An [`AuditRecord`] says who ([`principal`](AuditRecord::principal)), what
//! ([`method`](AuditRecord::method), [`item`](AuditRecord::item), a hash of the arguments), what
//! was decided and why, how it ended, how long it took, and in which trace. It never holds an
//! argument value: only [`hash_arguments`] of them, computed after the fields a policy declares
//! sensitive are removed, so that even a low-entropy secret cannot be recovered by hashing
//! guesses. Free text (the reason, the item) is scrubbed of bearer tokens and JWTs.
//!
//! Records go to an [`Audit`], which hands them to its sinks:
//!
//! - [`TracingSink`]: a `tracing` event at target `mcp::audit`;
//! - [`JsonlSink`]: a JSON Lines file, written by its own thread, optionally hash-chained;
//! - anything implementing [`AuditSink`].
//!
//! A chained file is checked by [`verify`] (and by the `mcp-audit verify FILE` command), which
//! names the first line that was altered, removed or inserted. A plain chain shows accidents and
//! careless edits, but whoever can write the file can also recompute it: a keyed chain
//! ([`JsonlSinkBuilder::hmac_key`], [`JsonlSinkBuilder::hmac_key_file`]) uses HMAC-SHA256, so that
//! only a holder of the key can write a log that [`verify_with_key`] (`mcp-audit verify
//! --key-file KEY FILE`) accepts. Keep the key where those who could edit the log cannot read it.
//!
//! # What gets a record
//!
//! | event | records |
//! |---|---|
//! | a request that reaches its handler | [`AuditKind::Request`], then [`AuditKind::Response`] with the outcome and latency (and [`AuditKind::Decision`] / [`AuditKind::Approval`] records of its policy and approval in between) |
//! | a handler that panics | its request's records, then a response record with -32603 and the reason `the handler panicked` (never the panic's message) |
//! | a request the engine refuses before dispatch: unparseable params, an unknown method, an unsupported version, missing client capabilities, a tampered `requestState`, a legacy request without a session | one [`AuditKind::Refusal`] with the JSON-RPC code and a fixed reason (never the parser's message, which may quote arguments) |
//! | a request the Streamable HTTP transport refuses: `401`/`403`/`400`/`503` of authentication, a disallowed `Origin` or `Host` (`403`), no or an unknown session (`400`/`404`), bad headers or bodies (`400`/`405`/`406`/`408`/`413`/`415`), a busy server (`503`) | one [`AuditKind::Refusal`] with the HTTP [`status`](AuditRecord::status), the reason, the principal when known, and the client's address |
//! | a result that result filters (`mcp_server::filter`, the `filters` feature) fired on, or that they withheld | one [`AuditKind::Filter`] between the request and the response, naming the rules and how many times each fired ([`filters`](AuditRecord::filters)), never the values |
//! | a server behind this one (a gateway's upstream) that failed to start, crashed, or was cut off for what it sent (garbage, oversized or endless messages, a flood), and that is ready again | one [`AuditKind::Upstream`] each, naming the upstream and why |
//! | records a [`JsonlSink`] had to drop | one [`AuditKind::Dropped`] marker, written before the next record that got through, with how many ([`dropped`](AuditRecord::dropped)) and when |
//!
//! Building records costs nothing when an [`Audit`] has no sink ([`Audit::is_enabled`]): the
//! server copies nothing for it, and the HTTP transport adds its refusal layer only then.
//!
//! ```
//! use mcp_server::audit::{Audit, AuditKind, AuditRecord, MemorySink, Outcome};
//! use std::sync::Arc;
//!
//! let memory = Arc::new(MemorySink::default());
//! let audit = Audit::new().with_sink(memory.clone());
//! let args = serde_json::json!({ "city": "Paris", "api_key": "hunter2" });
//! let record = AuditRecord::new(AuditKind::Response, "tools/call")
//!     .with_subject("alice")
//!     .with_item("weather")
//!     .with_arguments(args.as_object().unwrap(), &["api_key".to_owned()])
//!     .with_outcome(Outcome::Ok, None);
//! audit.record(&record);
//! let line = serde_json::to_string(&memory.records()[0]).unwrap();
//! assert!(!line.contains("hunter2") && !line.contains("Paris"));
//! ```

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use mcp_core::RequestId;
use mcp_core::types::JsonObject;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::identity::Identity;
use crate::trace::{TraceContext, hex, hex_into};

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditKind {
    /// A request arrived.
    Request,
    /// A response (result or error) was sent.
    Response,
    /// A policy allowed or denied a request.
    Decision,
    /// A human approved or refused a call.
    Approval,
    /// A request refused before it reached its handler: by the HTTP transport (authentication,
    /// `Origin` or `Host`, session, headers, body) or by the engine (unparseable params, an
    /// unsupported version, a tampered `requestState`); or a handler that panicked. The record
    /// names the HTTP [`status`](AuditRecord::status) or the JSON-RPC
    /// [`error_code`](AuditRecord::error_code), the reason, and the principal and client
    /// address when known.
    Refusal,
    /// Records were lost: [`JsonlSink`]'s queue was full ([`Overflow::Drop`]). Says how many
    /// ([`dropped`](AuditRecord::dropped)) and when (from [`time`](AuditRecord::time), the first
    /// loss, to the time in the [`reason`](AuditRecord::reason), the last).
    Dropped,
    /// Result filters fired on a result (`mcp_server::filter`): the record names the item, the
    /// rules and how many times each fired ([`filters`](AuditRecord::filters)), and whether the
    /// result was released ([`Decision::Allow`]) or withheld ([`Decision::Deny`], with the
    /// reason: a blocking rule, a rule that failed, an invalid result, a refused approval).
    Filter,
    /// The first record of a file that continues the chain of the file its path held before
    /// (method `audit/continued`): [`JsonlSink::reopen`] after the log was rotated. Its `prev`
    /// is the last hash of that file; [`verify`] accepts it as a first line and reports it
    /// ([`VerifyReport::continues`]).
    Continued,
    /// A legacy session began (method `session/start`: a successful `initialize`, its
    /// [`reason`](AuditRecord::reason) the negotiated protocol and the client's name and
    /// version as it gave them) or ended (`session/end`, why in the reason: the end of input,
    /// the client's `DELETE`, the idle timeout, the server's shutdown). Both carry the principal
    /// that initialized it and, over HTTP, the session id. The modern era has no sessions.
    Session,
    /// A server behind this one (a gateway's upstream, named in [`item`](AuditRecord::item))
    /// failed, or was cut off (method `upstream/failed`, with why in
    /// [`reason`](AuditRecord::reason)), or is ready again (`upstream/ready`).
    Upstream,
}

/// A policy's or an approver's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A result.
    Ok,
    /// A JSON-RPC error.
    Error,
    /// A tool result with `isError: true`.
    ToolError,
}

impl Outcome {
    /// `ok`, `error` or `tool_error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::ToolError => "tool_error",
        }
    }
}

/// One audit record. Every field is always serialized (absent ones as `null`), so that every line
/// of a log has the same shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditRecord {
    /// When, in RFC 3339 UTC with milliseconds (`2026-07-28T12:00:00.000Z`).
    pub time: String,
    /// What the record is about.
    pub kind: AuditKind,
    /// The caller's subject, when authenticated.
    pub principal: Option<String>,
    /// The issuer of the caller's subject (a token's `iss`), if any: `alice` of two issuers is
    /// two principals.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The session (legacy Streamable HTTP), if any.
    pub session_id: Option<String>,
    /// The JSON-RPC request id.
    pub request_id: Option<RequestId>,
    /// The JSON-RPC method.
    pub method: String,
    /// The tool or prompt name, or the resource URI.
    pub item: Option<String>,
    /// SHA-256 (hex) of the canonical JSON of the arguments, sensitive fields removed.
    pub args_hash: Option<String>,
    /// The decision, for decision and approval records.
    pub decision: Option<Decision>,
    /// Why: the policy rule, the approver's reason.
    pub reason: Option<String>,
    /// How the request ended, for response records.
    pub outcome: Option<Outcome>,
    /// The JSON-RPC error code, when the outcome is an error.
    pub error_code: Option<i64>,
    /// How long the request took, in milliseconds (microsecond resolution).
    pub latency_ms: Option<f64>,
    /// The W3C trace id the request continued (from `_meta.traceparent`).
    pub trace_id: Option<String>,
    /// The HTTP status of a [refusal](AuditKind::Refusal) by the HTTP transport.
    pub status: Option<u16>,
    /// The client's address (`ip:port`), when the transport knows it.
    pub client: Option<String>,
    /// How many records were lost, for a [`AuditKind::Dropped`] marker.
    pub dropped: Option<u64>,
    /// For a [`AuditKind::Filter`] record: each filter rule that fired, and how many times
    /// (never what it found).
    #[serde(default)]
    pub filters: Option<std::collections::BTreeMap<String, u64>>,
}

impl AuditRecord {
    /// A record of `kind` for `method`, timestamped now.
    pub fn new(kind: AuditKind, method: impl Into<String>) -> Self {
        AuditRecord {
            time: rfc3339(SystemTime::now()),
            kind,
            principal: None,
            issuer: None,
            session_id: None,
            request_id: None,
            method: method.into(),
            item: None,
            args_hash: None,
            decision: None,
            reason: None,
            outcome: None,
            error_code: None,
            latency_ms: None,
            trace_id: None,
            status: None,
            client: None,
            dropped: None,
            filters: None,
        }
    }

    /// Timestamped at `time` instead.
    pub fn with_time(mut self, time: SystemTime) -> Self {
        self.time = rfc3339(time);
        self
    }

    /// Timestamped now again, in place: a record built for a request and recorded serves
    /// again as its response record without being built twice.
    pub(crate) fn restamp(&mut self) {
        self.time.clear();
        write_rfc3339(&mut self.time, SystemTime::now(), true);
    }

    /// The caller, if authenticated: its subject and issuer are recorded, never its credentials.
    pub fn with_principal(mut self, identity: Option<&Identity>) -> Self {
        self.principal = identity.map(|i| i.subject().to_owned());
        self.issuer = identity.and_then(Identity::issuer).map(str::to_owned);
        self
    }

    /// The caller's subject.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.principal = Some(subject.into());
        self
    }

    /// The session id.
    pub fn with_session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// The request id.
    pub fn with_request_id(mut self, id: RequestId) -> Self {
        self.request_id = Some(id);
        self
    }

    /// The tool or prompt name, or resource URI (bearer tokens and JWTs in it are redacted).
    pub fn with_item(mut self, item: impl AsRef<str>) -> Self {
        self.item = Some(redact_secrets(item.as_ref()));
        self
    }

    /// The hash of the arguments, without the `sensitive` ones ([`hash_arguments`]).
    pub fn with_arguments(mut self, arguments: &JsonObject, sensitive: &[String]) -> Self {
        self.args_hash = Some(hash_arguments(arguments, sensitive));
        self
    }

    /// The decision and why (bearer tokens and JWTs in the reason are redacted).
    pub fn with_decision(mut self, decision: Decision, reason: Option<&str>) -> Self {
        self.decision = Some(decision);
        self.reason = reason.map(redact_secrets);
        self
    }

    /// Why, without a decision: what a [refusal](AuditKind::Refusal) refused (bearer tokens and
    /// JWTs in it are redacted).
    pub fn with_reason(mut self, reason: impl AsRef<str>) -> Self {
        self.reason = Some(redact_secrets(reason.as_ref()));
        self
    }

    /// The HTTP status a request was refused with.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// The client's address.
    pub fn with_client(mut self, client: impl fmt::Display) -> Self {
        self.client = Some(client.to_string());
        self
    }

    /// How many records a [`AuditKind::Dropped`] marker stands for.
    pub fn with_dropped(mut self, dropped: u64) -> Self {
        self.dropped = Some(dropped);
        self
    }

    /// The filter rules that fired on a result, and how many times each.
    pub fn with_filters(mut self, filters: std::collections::BTreeMap<String, u64>) -> Self {
        self.filters = Some(filters);
        self
    }

    /// How the request ended, and the JSON-RPC error code for [`Outcome::Error`].
    pub fn with_outcome(mut self, outcome: Outcome, error_code: Option<i64>) -> Self {
        self.outcome = Some(outcome);
        self.error_code = error_code;
        self
    }

    /// How long the request took.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency_ms = Some(latency.as_micros() as f64 / 1000.0);
        self
    }

    /// The trace the request continued.
    pub fn with_trace(mut self, trace: Option<&TraceContext>) -> Self {
        self.trace_id = trace.map(TraceContext::trace_id);
        self
    }

    /// The record as canonical JSON (keys sorted, no whitespace): what a chain hash covers.
    pub fn to_canonical_json(&self) -> String {
        // A record with its usual fields is under 600 bytes: one allocation.
        let mut out = Vec::with_capacity(640);
        self.write_canonical(&mut out);
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }

    /// Appends [`AuditRecord::to_canonical_json`] to `out`.
    fn write_canonical(&self, out: &mut Vec<u8>) {
        // The fields in the order of their names' bytes, each name written as it is (none needs
        // escaping) and each value as `serde_json` writes it: the nested values are strings,
        // numbers, unit enums and a sorted map, so this is the canonical form
        // (`canonical_json_of_every_field_is_the_sorted_tree` checks it against
        // `canonical_json` of the record's tree).
        let AuditRecord {
            time,
            kind,
            principal,
            issuer,
            session_id,
            request_id,
            method,
            item,
            args_hash,
            decision,
            reason,
            outcome,
            error_code,
            latency_ms,
            trace_id,
            status,
            client,
            dropped,
            filters,
        } = self;
        out.push(b'{');
        str_field(out, b"args_hash", args_hash.as_deref());
        str_field(out, b"client", client.as_deref());
        field(out, b"decision", decision);
        field(out, b"dropped", dropped);
        field(out, b"error_code", error_code);
        field(out, b"filters", filters);
        str_field(out, b"issuer", issuer.as_deref());
        str_field(out, b"item", item.as_deref());
        field(out, b"kind", kind);
        field(out, b"latency_ms", latency_ms);
        str_field(out, b"method", Some(method));
        field(out, b"outcome", outcome);
        str_field(out, b"principal", principal.as_deref());
        str_field(out, b"reason", reason.as_deref());
        field(out, b"request_id", request_id);
        str_field(out, b"session_id", session_id.as_deref());
        field(out, b"status", status);
        str_field(out, b"time", Some(time));
        str_field(out, b"trace_id", trace_id.as_deref());
        // Every field ends in a comma: the last one's closes the object instead.
        *out.last_mut().expect("fields were written") = b'}';
    }
}

/// Appends `"name":value,` to a canonical object, the value as `serde_json` writes it.
fn field<T: Serialize + ?Sized>(out: &mut Vec<u8>, name: &[u8], value: &T) {
    out.push(b'"');
    out.extend_from_slice(name);
    out.extend_from_slice(b"\":");
    serde_json::to_writer(&mut *out, value).expect("a record's field always serializes");
    out.push(b',');
}

/// Appends `"name":"value",` (or `"name":null,`) to a canonical object, the string as
/// `serde_json` writes it. Most of a record is strings that need no escaping (hashes, the time,
/// names): those are copied as they are, after a check the compiler vectorizes, where
/// `serde_json` looks each byte up in its escape table (a quarter of a record's cost).
fn str_field(out: &mut Vec<u8>, name: &[u8], value: Option<&str>) {
    out.push(b'"');
    out.extend_from_slice(name);
    out.extend_from_slice(b"\":");
    match value {
        None => out.extend_from_slice(b"null"),
        Some(value) if !needs_escape(value.as_bytes()) => {
            out.push(b'"');
            out.extend_from_slice(value.as_bytes());
            out.push(b'"');
        }
        Some(value) => {
            serde_json::to_writer(&mut *out, value).expect("a string always serializes");
        }
    }
    out.push(b',');
}

/// Whether `serde_json` escapes anything in `bytes`: a control character, `"` or `\`.
fn needs_escape(bytes: &[u8]) -> bool {
    // No early exit: a branch-free fold over the bytes is what vectorizes.
    bytes.iter().fold(false, |found, &b| {
        found | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

/// SHA-256 (lowercase hex) of the canonical JSON of `arguments` after removing the top-level
/// fields named in `sensitive`.
///
/// Canonical JSON sorts object keys by their bytes at every level and has no whitespace, so equal
/// arguments hash equally whatever their key order. Sensitive fields are removed rather than
/// hashed: a hash of a short secret (a PIN, a password) can be reversed by trying guesses.
pub fn hash_arguments(arguments: &JsonObject, sensitive: &[String]) -> String {
    let mut out = String::with_capacity(128);
    let mut keys: Vec<(&String, &Value)> = arguments
        .iter()
        .filter(|(k, _)| !sensitive.iter().any(|s| s == *k))
        .collect();
    keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
    write_object(keys, &mut out);
    hex(&Sha256::digest(out.as_bytes()))
}

/// Writes `value` as canonical JSON: object keys sorted by their bytes, no whitespace, strings and
/// numbers as `serde_json` writes them.
pub fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<(&String, &Value)> = map.iter().collect();
            keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
            write_object(keys, out);
        }
        scalar => push_json(scalar, out),
    }
}

fn write_object(sorted: Vec<(&String, &Value)>, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json(k, out);
        out.push(':');
        canonical_json(v, out);
    }
    out.push('}');
}

/// Appends `value` as `serde_json` writes it, without a string of its own in between.
fn push_json<T: Serialize + ?Sized>(value: &T, out: &mut String) {
    /// `serde_json` writes whole UTF-8 pieces (it splits strings only at the ASCII characters
    /// it escapes), so each piece is checked and appended as it comes.
    struct Append<'a>(&'a mut String);
    impl io::Write for Append<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .push_str(std::str::from_utf8(buf).map_err(io::Error::other)?);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Append(out), value).expect("a string or a JSON scalar always serializes");
}

/// Replaces bearer tokens (`Bearer <token>`) and JWT-shaped strings in free text with
/// `[redacted]`.
pub fn redact_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = strip_prefix_ignore_case(rest, "bearer ") {
            let token_len = after.find(char::is_whitespace).unwrap_or(after.len());
            if token_len > 0 {
                out.push_str(&rest[..rest.len() - after.len()]);
                out.push_str("[redacted]");
                rest = &after[token_len..];
                continue;
            }
        }
        if rest.starts_with("eyJ") {
            let len = jwt_len(rest);
            if len > 0 {
                out.push_str("[redacted]");
                rest = &rest[len..];
                continue;
            }
        }
        let c = rest.chars().next().expect("not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The length of a JWT (three base64url parts, the first two non-empty) at the start of `s`, or 0.
fn jwt_len(s: &str) -> usize {
    let b = s.as_bytes();
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    let mut i = 0;
    for part in 0..3 {
        let start = i;
        while i < b.len() && is_b64(b[i]) {
            i += 1;
        }
        if part < 2 {
            if i == start || i >= b.len() || b[i] != b'.' {
                return 0;
            }
            i += 1;
        }
    }
    i
}

/// RFC 3339 UTC with milliseconds.
fn rfc3339(time: SystemTime) -> String {
    rfc3339_with(time, true)
}

/// RFC 3339 UTC, with or without milliseconds.
pub(crate) fn rfc3339_with(time: SystemTime, millis: bool) -> String {
    let mut out = String::with_capacity(24);
    write_rfc3339(&mut out, time, millis);
    out
}

/// Appends [`rfc3339_with`] to `out`.
fn write_rfc3339(out: &mut String, time: SystemTime, millis: bool) {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if !(0..=9999).contains(&year) {
        // Beyond four digits (never, from a clock): the general formatter.
        use std::fmt::Write as _;
        let _ = if millis {
            let ms = since.subsec_millis();
            write!(
                out,
                "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z"
            )
        } else {
            write!(out, "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
        };
        return;
    }
    // Digit by digit into a buffer, appended at once (every record is stamped: `format!`, and
    // then a `push` per character, were a visible part of its cost).
    fn digits(buf: &mut [u8], mut n: u64) {
        for b in buf.iter_mut().rev() {
            *b = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
    let mut buf = *b"0000-00-00T00:00:00.000Z";
    digits(&mut buf[0..4], year as u64);
    digits(&mut buf[5..7], month as u64);
    digits(&mut buf[8..10], day as u64);
    digits(&mut buf[11..13], h);
    digits(&mut buf[14..16], m);
    digits(&mut buf[17..19], s);
    let text = if millis {
        digits(&mut buf[20..23], u64::from(since.subsec_millis()));
        &buf[..]
    } else {
        buf[19] = b'Z';
        &buf[..20]
    };
    out.push_str(std::str::from_utf8(text).expect("ASCII digits"));
}

// ---------------------------------------------------------------------------------------------
// Sinks.

/// Where audit records go.
///
/// `record` is called on the request's task, inside the async runtime: it must not block (no
/// file or network I/O there; hand the record to a thread or task, as [`JsonlSink`] does).
pub trait AuditSink: Send + Sync + 'static {
    /// Takes one record.
    fn record(&self, record: &AuditRecord);
}

impl<T: AuditSink + ?Sized> AuditSink for Arc<T> {
    fn record(&self, record: &AuditRecord) {
        (**self).record(record);
    }
}

/// The audit trail a server holds: records go to each of its sinks, in order. Cheap to clone.
#[derive(Clone, Default)]
pub struct Audit {
    sinks: Arc<Vec<Arc<dyn AuditSink>>>,
}

impl Audit {
    /// No sinks: records go nowhere.
    pub fn new() -> Self {
        Audit::default()
    }

    /// With one more sink.
    pub fn with_sink(mut self, sink: impl AuditSink) -> Self {
        Arc::make_mut(&mut self.sinks).push(Arc::new(sink));
        self
    }

    /// Whether any sink is configured (so that a caller can skip building records).
    pub fn is_enabled(&self) -> bool {
        !self.sinks.is_empty()
    }

    /// Hands `record` to every sink.
    pub fn record(&self, record: &AuditRecord) {
        for sink in self.sinks.iter() {
            sink.record(record);
        }
    }
}

impl fmt::Debug for Audit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Audit")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

/// Each record as a `tracing` event at target `mcp::audit`, level INFO (WARN for denials), with
/// one field per record field.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink;

impl AuditSink for TracingSink {
    fn record(&self, r: &AuditRecord) {
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(
                    target: "mcp::audit",
                    $level,
                    time = %r.time,
                    kind = ?r.kind,
                    principal = r.principal.as_deref(),
                    issuer = r.issuer.as_deref(),
                    session_id = r.session_id.as_deref(),
                    request_id = r.request_id.as_ref().map(tracing::field::display),
                    method = %r.method,
                    item = r.item.as_deref(),
                    args_hash = r.args_hash.as_deref(),
                    decision = r.decision.map(tracing::field::debug),
                    reason = r.reason.as_deref(),
                    outcome = r.outcome.map(Outcome::as_str),
                    error_code = r.error_code,
                    latency_ms = r.latency_ms,
                    trace_id = r.trace_id.as_deref(),
                    status = r.status,
                    client = r.client.as_deref(),
                    dropped = r.dropped,
                    filters = r.filters.as_ref().map(tracing::field::debug),
                    "audit"
                )
            };
        }
        if r.decision == Some(Decision::Deny)
            || matches!(r.kind, AuditKind::Refusal | AuditKind::Dropped)
        {
            event!(tracing::Level::WARN);
        } else {
            event!(tracing::Level::INFO);
        }
    }
}

/// Keeps records in memory: for tests, and for applications that forward them in batches.
#[derive(Debug, Default)]
pub struct MemorySink {
    records: Mutex<Vec<AuditRecord>>,
}

impl MemorySink {
    /// The records so far.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.records.lock().expect("not poisoned").clone()
    }

    /// Takes the records so far, leaving none.
    pub fn take(&self) -> Vec<AuditRecord> {
        std::mem::take(&mut *self.records.lock().expect("not poisoned"))
    }
}

impl AuditSink for MemorySink {
    fn record(&self, record: &AuditRecord) {
        self.records
            .lock()
            .expect("not poisoned")
            .push(record.clone());
    }
}

// ---------------------------------------------------------------------------------------------
// JSON Lines.

/// The `prev` of a chain's first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The longest line [`verify`] and [`JsonlSink`] read back (16 MiB).
const MAX_LINE: usize = 16 * 1024 * 1024;

/// What [`JsonlSink`] does when its queue is full (the writer thread is behind: a slow or stuck
/// disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Drop the record, count it ([`JsonlSink::dropped`]) and log a warning. The request goes on
    /// unhindered. The default.
    #[default]
    Drop,
    /// Block the calling thread until there is room. Nothing is lost, but a stuck disk stalls the
    /// requests (and the runtime's worker threads): for when an unaudited request is worse than
    /// no request.
    Block,
}

/// Builds a [`JsonlSink`].
#[derive(Debug, Clone)]
pub struct JsonlSinkBuilder {
    path: PathBuf,
    chained: bool,
    key: Option<Vec<u8>>,
    capacity: usize,
    overflow: Overflow,
    sync: bool,
}

impl JsonlSinkBuilder {
    /// Chains the lines: each carries `prev` (the previous line's `hash`) and `hash`, SHA-256
    /// over `prev` and the canonical record. The chain continues the file's last line.
    pub fn chained(mut self) -> Self {
        self.chained = true;
        self
    }

    /// Chains the lines with HMAC-SHA256 under `key` instead of plain SHA-256, so that only a
    /// holder of the key can write a line that verifies ([`verify_with_key`]). Implies
    /// [`JsonlSinkBuilder::chained`].
    pub fn hmac_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.chained = true;
        self.key = Some(key.into());
        self
    }

    /// Like [`JsonlSinkBuilder::hmac_key`], with the key read from a file: all its bytes, as
    /// `mcp-audit verify --key-file` reads them (a trailing newline is part of the key).
    ///
    /// # Errors
    ///
    /// When the file cannot be read, or is empty.
    pub fn hmac_key_file(self, path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(self.hmac_key(read_key_file(path.as_ref())?))
    }

    /// How many records may wait for the writer (default 8192, at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// What happens when the queue is full (default [`Overflow::Drop`]).
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Also `fsync`s the file after each batch of lines (default: only flushed to the OS).
    pub fn sync(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }

    /// Opens (or creates) the file for appending and starts the writer thread. The file may
    /// also be a pipe or a device, which a chain then starts afresh in.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or read, or, for a chained sink, when its last line is not
    /// a chained record (the chain could not continue; verify and rotate the file).
    pub fn open(self) -> io::Result<JsonlSink> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)?;
        let mut prev = GENESIS.to_owned();
        // A pipe or a device (a log shipper's FIFO, `/dev/stderr`) has no last line to continue.
        let (last, torn) = if file.metadata()?.is_file() {
            last_line(&mut file)?
        } else {
            (None, false)
        };
        if torn {
            // A line cut short by a crash: end it, so that the next record starts a line of its
            // own. `verify` reports the cut line.
            tracing::warn!(path = %self.path.display(), "the audit log ends with an incomplete line");
            file.write_all(b"\n")?;
        }
        if self.chained
            && let Some(line) = last
        {
            prev = chain_fields(&line).map(|(hash, _)| hash).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: the last line has no hash chain to continue",
                        self.path.display()
                    ),
                )
            })?;
        }
        let queue = Arc::new(Queue::default());
        let pending = Arc::new(Drops::default());
        let writer = Writer {
            drops: pending.clone(),
            // Room for about a hundred records: a batch under load is one write.
            out: BufWriter::with_capacity(64 * 1024, file),
            chain: self.chained.then_some(Chain {
                // 64 hex digits: `GENESIS`, or a hash `chain_fields` checked.
                prev: prev.as_bytes().try_into().map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "a chain hash is 64 hex digits")
                })?,
                key: self.key,
            }),
            sync: self.sync,
            path: self.path.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("mcp-audit-writer".into())
            .spawn({
                let queue = queue.clone();
                move || writer.run(&queue)
            })?;
        Ok(JsonlSink {
            queue,
            thread: Some(thread),
            capacity: self.capacity,
            overflow: self.overflow,
            dropped: AtomicU64::new(0),
            pending,
            path: self.path,
        })
    }
}

/// Appends each record to a file as one JSON object per line, optionally hash-chained.
///
/// [`AuditSink::record`] only serializes the record and queues it; a thread of the sink's own
/// writes and flushes, so the async runtime never waits on the disk. The queue is bounded: see
/// [`Overflow`] for what happens when it is full. Dropping the sink writes what is queued and
/// stops the thread. One sink per file: two writers (in one process or two) would break the
/// chain.
///
/// ```no_run
/// use mcp_server::audit::{Audit, JsonlSink, TracingSink};
///
/// let audit = Audit::new()
///     .with_sink(TracingSink)
///     .with_sink(JsonlSink::builder("/var/log/mcp/audit.jsonl").chained().open()?);
/// # std::io::Result::Ok(())
/// ```
pub struct JsonlSink {
    queue: Arc<Queue>,
    thread: Option<JoinHandle<()>>,
    capacity: usize,
    overflow: Overflow,
    dropped: AtomicU64,
    /// Drops the writer has not yet written a marker for.
    pending: Arc<Drops>,
    path: PathBuf,
}

/// How long the writer pauses after each batch ([`Writer::run`]).
const BATCH_PAUSE: Duration = Duration::from_millis(2);

/// How much of a batch's buffer the writer keeps for the next one (a record is about 600 bytes).
const KEPT_BYTES: usize = 256 * 1024;

/// The records waiting for the writer thread, and what it is asked to do.
///
/// A record is written into [`Queued::lines`] by the thread that audits it, and the writer takes
/// the whole buffer at once in exchange for the one it emptied: no record is allocated on one
/// thread and freed on another (with glibc's allocator, a free on another thread than the
/// allocation's takes the allocating thread's arena lock, and under load the runtime's threads
/// waited on that lock for the writer's frees).
#[derive(Default)]
struct Queue {
    state: Mutex<Queued>,
    /// The writer waits here when there is nothing to do ([`Queued::idle`]).
    work: Condvar,
    /// Threads auditing under [`Overflow::Block`] wait here for room.
    room: Condvar,
}

#[derive(Default)]
struct Queued {
    /// Canonical records, one after another.
    lines: Vec<u8>,
    /// Where each record in `lines` ends.
    ends: Vec<usize>,
    /// Callers of [`JsonlSink::flush`] waiting for the next flush.
    flushes: Vec<std::sync::mpsc::Sender<io::Result<()>>>,
    /// Callers of [`JsonlSink::reopen`] waiting for the file to be opened again.
    reopens: Vec<std::sync::mpsc::Sender<io::Result<()>>>,
    /// Records were dropped: the writer should come round to write their marker.
    wake: bool,
    /// The writer waits on [`Queue::work`] and must be notified.
    idle: bool,
    /// How many threads wait on [`Queue::room`].
    blocked: usize,
    /// The sink was dropped: the writer writes what is queued and ends.
    closed: bool,
    /// The writer thread ended (it panicked): records are lost.
    stopped: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Queued> {
        self.state.lock().unwrap_or_else(recover)
    }

    /// Wakes the writer if it waits.
    fn wake_writer(&self, queued: &mut Queued) {
        if queued.idle {
            queued.idle = false;
            self.work.notify_one();
        }
    }
}

/// The queue after a panic under its lock: what a panic there can leave half-done is a record
/// being written, which is cut off. (A writer that panicked leaves [`Queued::stopped`] set.)
fn recover(poisoned: PoisonError<MutexGuard<'_, Queued>>) -> MutexGuard<'_, Queued> {
    let mut queued = poisoned.into_inner();
    let end = queued.ends.last().copied().unwrap_or(0);
    queued.lines.truncate(end);
    queued
}

/// Marks the queue stopped when the writer thread ends, however it ends, so that no caller
/// waits for it.
struct Stopped<'a>(&'a Queue);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        let mut queued = self.0.lock();
        queued.stopped = true;
        // Waiting flushes and reopens see the writer gone.
        queued.flushes.clear();
        queued.reopens.clear();
        drop(queued);
        self.0.room.notify_all();
    }
}

/// Records dropped since the last marker: how many, and the first and last time (milliseconds
/// since the epoch, 0 for none).
#[derive(Default)]
struct Drops {
    count: AtomicU64,
    first_ms: AtomicU64,
    last_ms: AtomicU64,
}

impl Drops {
    fn note(&self) {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| (d.as_millis() as u64).max(1));
        let _ = self
            .first_ms
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        self.last_ms.fetch_max(now, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Release);
    }

    /// The marker for the drops noted so far, if any; the next marker starts from zero.
    fn take(&self) -> Option<AuditRecord> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let n = self.count.swap(0, Ordering::Acquire);
        let first = self.first_ms.swap(0, Ordering::Relaxed);
        let last = self.last_ms.swap(0, Ordering::Relaxed).max(first);
        let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        let first = if first == 0 {
            SystemTime::now()
        } else {
            at(first)
        };
        let last = if last == 0 { first } else { at(last) };
        Some(
            AuditRecord::new(AuditKind::Dropped, "audit/dropped")
                .with_time(first)
                .with_dropped(n)
                .with_reason(format!(
                    "{n} audit records dropped from {} to {}: the queue was full",
                    rfc3339(first),
                    rfc3339(last)
                )),
        )
    }
}

impl JsonlSink {
    /// A builder for a sink writing to `path`: not chained, a queue of 8192, [`Overflow::Drop`].
    pub fn builder(path: impl Into<PathBuf>) -> JsonlSinkBuilder {
        JsonlSinkBuilder {
            path: path.into(),
            chained: false,
            key: None,
            capacity: 8192,
            overflow: Overflow::Drop,
            sync: false,
        }
    }

    /// An unchained sink appending to `path`.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<JsonlSink> {
        Self::builder(path).open()
    }

    /// How many records were dropped because the queue was full (or the writer had stopped).
    /// The log says so too: a [`AuditKind::Dropped`] marker record, written before the next
    /// record that got through, counts the records lost since the previous marker.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every record queued so far is written and flushed. Blocks: call it from a
    /// blocking context (`spawn_blocking`, shutdown, tests).
    ///
    /// # Errors
    ///
    /// The last write error, if writing failed.
    pub fn flush(&self) -> io::Result<()> {
        self.ask_writer(|queued| &mut queued.flushes)
    }

    /// Writes what is queued, closes the file and opens its path again, for log rotation:
    /// after `logrotate` (or any tool) renamed the file, records go to a new file at the path.
    /// A chained sink goes on with its chain: a new file (or one that does not end with this
    /// chain's last line) starts with a [`AuditKind::Continued`] record whose `prev` is the last
    /// hash of the file before, so that each file verifies on its own and the files link up.
    /// When the path still holds the same file, records go on being appended to it. Blocks, as
    /// [`JsonlSink::flush`] does.
    ///
    /// # Errors
    ///
    /// When the path cannot be opened (the sink goes on writing to the file it had), or the
    /// writer thread stopped.
    pub fn reopen(&self) -> io::Result<()> {
        self.ask_writer(|queued| &mut queued.reopens)
    }

    /// Queues a request for the writer (a flush, a reopen: `waiting` picks its list) and waits
    /// for the writer's answer.
    fn ask_writer(
        &self,
        waiting: impl FnOnce(&mut Queued) -> &mut Vec<std::sync::mpsc::Sender<io::Result<()>>>,
    ) -> io::Result<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let mut queued = self.queue.lock();
            if queued.stopped {
                return Err(io::Error::other("the audit writer thread stopped"));
            }
            waiting(&mut queued).push(tx);
            self.queue.wake_writer(&mut queued);
        }
        rx.recv()
            .map_err(|_| io::Error::other("the audit writer thread stopped"))?
    }
}

impl fmt::Debug for JsonlSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonlSink")
            .field("path", &self.path)
            .field("overflow", &self.overflow)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl AuditSink for JsonlSink {
    fn record(&self, record: &AuditRecord) {
        let mut queued = self.queue.lock();
        while !queued.stopped && queued.ends.len() >= self.capacity {
            if self.overflow == Overflow::Block {
                queued.blocked += 1;
                queued = self.queue.room.wait(queued).unwrap_or_else(recover);
                queued.blocked -= 1;
                continue;
            }
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            self.pending.note();
            // The writer may be about to wait with the queue emptied: make sure it comes round
            // to write the marker.
            queued.wake = true;
            self.queue.wake_writer(&mut queued);
            drop(queued);
            if n.is_power_of_two() {
                tracing::warn!(path = %self.path.display(), dropped = n, "audit queue full: records dropped");
            }
            return;
        }
        if queued.stopped {
            drop(queued);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(path = %self.path.display(), "the audit writer thread stopped: record lost");
            return;
        }
        record.write_canonical(&mut queued.lines);
        let end = queued.lines.len();
        queued.ends.push(end);
        self.queue.wake_writer(&mut queued);
    }
}

impl Drop for JsonlSink {
    fn drop(&mut self) {
        {
            let mut queued = self.queue.lock();
            queued.closed = true;
            self.queue.wake_writer(&mut queued);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Chain {
    /// The hash of the last line written, in hex.
    prev: [u8; 64],
    key: Option<Vec<u8>>,
}

struct Writer {
    out: BufWriter<File>,
    chain: Option<Chain>,
    sync: bool,
    path: PathBuf,
    drops: Arc<Drops>,
}

impl Writer {
    fn run(mut self, queue: &Queue) {
        let _stopped = Stopped(queue);
        let mut failed: Option<io::ErrorKind> = None;
        // The buffers handed back to the queue for the next batch.
        let mut batch = Vec::new();
        let mut ends = Vec::new();
        loop {
            let (flushes, reopens, closed) = {
                let mut queued = queue.lock();
                while queued.ends.is_empty()
                    && queued.flushes.is_empty()
                    && queued.reopens.is_empty()
                    && !queued.wake
                    && !queued.closed
                {
                    queued.idle = true;
                    queued = queue.work.wait(queued).unwrap_or_else(recover);
                }
                queued.idle = false;
                queued.wake = false;
                std::mem::swap(&mut queued.lines, &mut batch);
                std::mem::swap(&mut queued.ends, &mut ends);
                if queued.blocked > 0 {
                    queue.room.notify_all();
                }
                (
                    std::mem::take(&mut queued.flushes),
                    std::mem::take(&mut queued.reopens),
                    queued.closed,
                )
            };
            // Write everything queued, then flush once.
            let mut start = 0;
            for &end in &ends {
                // The marker of what was lost goes before the next record written.
                self.write_marker(&mut failed);
                if let Err(e) = self.write(&batch[start..end]) {
                    tracing::error!(path = %self.path.display(), error = %e, "audit write failed");
                    failed = Some(e.kind());
                }
                start = end;
            }
            batch.clear();
            ends.clear();
            // A burst (a disk that stalled) may have grown the buffers: keep room for a few
            // hundred records, not for the burst.
            batch.shrink_to(KEPT_BYTES);
            ends.shrink_to(KEPT_BYTES / 512);
            self.write_marker(&mut failed);
            let mut result = self.out.flush();
            if self.sync && result.is_ok() {
                result = self.out.get_ref().sync_data();
            }
            if let Err(e) = &result {
                tracing::error!(path = %self.path.display(), error = %e, "audit flush failed");
                failed = Some(e.kind());
            }
            for reply in flushes {
                let _ = reply.send(match failed {
                    Some(kind) => Err(io::Error::new(kind, "writing the audit log failed")),
                    None => Ok(()),
                });
            }
            if !reopens.is_empty() {
                let reopened = self.reopen();
                if let Err(e) = &reopened {
                    tracing::error!(path = %self.path.display(), error = %e, "reopening the audit log failed");
                }
                for reply in reopens {
                    let _ = reply.send(match &reopened {
                        Ok(()) => Ok(()),
                        Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
                    });
                }
            }
            if closed {
                return;
            }
            // Let records gather before the next batch: a writer that waits on the queue again
            // at once is woken (a futex wake on the auditing thread, then a context switch) for
            // nearly every record under load; after a short pause the next batch is taken
            // without waiting. Records reach the file at most this much later.
            std::thread::sleep(BATCH_PAUSE);
        }
    }

    /// Opens the path again (everything before is written and flushed): see
    /// [`JsonlSink::reopen`].
    fn reopen(&mut self) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)?;
        let (last, torn) = if file.metadata()?.is_file() {
            last_line(&mut file)?
        } else {
            (None, false)
        };
        if torn {
            file.write_all(b"\n")?;
        }
        // Continued here unless the file ends with this chain's last line (the same file).
        let continued = self.chain.as_ref().is_some_and(|chain| {
            last.as_deref()
                .and_then(chain_fields)
                .is_none_or(|(hash, _)| hash.as_bytes() != chain.prev)
        });
        self.out = BufWriter::with_capacity(64 * 1024, file);
        if continued {
            let record = AuditRecord::new(AuditKind::Continued, "audit/continued")
                .with_reason("continues the chain of the file this path held before");
            self.write(record.to_canonical_json().as_bytes())?;
            self.out.flush()?;
        }
        Ok(())
    }

    /// Writes the marker of the records dropped since the last one, if any.
    fn write_marker(&mut self, failed: &mut Option<io::ErrorKind>) {
        if let Some(marker) = self.drops.take()
            && let Err(e) = self.write(marker.to_canonical_json().as_bytes())
        {
            tracing::error!(path = %self.path.display(), error = %e, "audit write failed");
            *failed = Some(e.kind());
        }
    }

    fn write(&mut self, record: &[u8]) -> io::Result<()> {
        match &mut self.chain {
            None => {
                self.out.write_all(record)?;
            }
            Some(chain) => {
                let hash = chain_hash(chain.key.as_deref(), &chain.prev, record);
                // `record` is a non-empty canonical object: `{"args_hash":...}`.
                self.out.write_all(b"{\"hash\":\"")?;
                self.out.write_all(&hash)?;
                self.out.write_all(b"\",\"prev\":\"")?;
                self.out.write_all(&chain.prev)?;
                self.out.write_all(b"\",")?;
                self.out.write_all(&record[1..])?;
                chain.prev = hash;
            }
        }
        self.out.write_all(b"\n")
    }
}

/// The chain hash of a line, in lowercase hex: SHA-256 (or HMAC-SHA256 under `key`) of `prev`
/// followed by the canonical record.
fn chain_hash(key: Option<&[u8]>, prev: &[u8], canonical: &[u8]) -> [u8; 64] {
    let digest: [u8; 32] = match key {
        None => {
            let mut h = Sha256::new();
            h.update(prev);
            h.update(canonical);
            h.finalize().into()
        }
        Some(key) => {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
            m.update(prev);
            m.update(canonical);
            m.finalize().into_bytes().into()
        }
    };
    let mut out = [0u8; 64];
    hex_into(&mut out, &digest);
    out
}

/// `(hash, prev)` of a chained line, if it has both as 64 lowercase hex digits.
fn chain_fields(line: &[u8]) -> Option<(String, String)> {
    #[derive(Deserialize)]
    struct Fields {
        hash: String,
        prev: String,
    }
    let f: Fields = serde_json::from_slice(line).ok()?;
    (is_hash(&f.hash) && is_hash(&f.prev)).then_some((f.hash, f.prev))
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The file's last complete line (without its newline), and whether an incomplete line follows
/// it. Reads backwards from the end, so a long log costs no more than its last line.
fn last_line(file: &mut File) -> io::Result<(Option<Vec<u8>>, bool)> {
    const CHUNK: u64 = 64 * 1024;
    let len = file.seek(SeekFrom::End(0))?;
    let mut pos = len;
    let mut tail: Vec<u8> = Vec::new();
    let result = loop {
        if let Some(end) = tail.iter().rposition(|&b| b == b'\n') {
            let torn = end + 1 != tail.len();
            if let Some(start) = tail[..end].iter().rposition(|&b| b == b'\n') {
                break (Some(tail[start + 1..end].to_vec()), torn);
            }
            if pos == 0 {
                break (Some(tail[..end].to_vec()), torn);
            }
        } else if pos == 0 {
            break (None, !tail.is_empty());
        }
        if tail.len() > MAX_LINE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the audit log's last line is longer than 16 MiB",
            ));
        }
        let start = pos.saturating_sub(CHUNK);
        let mut chunk = vec![0u8; (pos - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        pos = start;
    };
    file.seek(SeekFrom::End(0))?;
    Ok(result)
}

// ---------------------------------------------------------------------------------------------
// Verification.

/// A chained log that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// How many records (lines).
    pub records: usize,
    /// The last line's hash (`None` for an empty file). Keep it elsewhere to detect a later
    /// truncation of the file, which the chain alone cannot show.
    pub last_hash: Option<String>,
    /// The hash this file's chain continues from, when its first line is a
    /// [`AuditKind::Continued`] record (the log was rotated): the last hash of the file before
    /// it, which that file's own [`VerifyReport::last_hash`] must equal. `None`: the chain
    /// starts in this file.
    pub continues: Option<String>,
}

/// Why a log did not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The file could not be read.
    #[error("cannot read the audit log: {0}")]
    Io(#[from] io::Error),
    /// The chain breaks at `line` (1-based): the line was altered, or lines were removed or
    /// inserted before it.
    #[error("altered at line {line}: {reason}")]
    Altered {
        /// The first line that does not verify.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Verifies a hash-chained JSON Lines audit log written by [`JsonlSink`] (plain SHA-256 chain).
///
/// Every line must be a record with `prev` and `hash`; `prev` must be the previous line's hash
/// ([`GENESIS`] for the first) and `hash` must match the line's content, and the line must be
/// byte for byte what the sink writes (so that a duplicated key or a reformatting, which JSON
/// readers may interpret differently, cannot hide a change). A changed line fails its
/// own hash; a removed line breaks the `prev` of the one after it; an inserted line fails its
/// hash or `prev`, or, if written with a correct hash, breaks the `prev` of the next line
/// (use [`JsonlSinkBuilder::hmac_key`] so that nobody without the key can forge one). Lines cut
/// from the end leave a valid chain: compare [`VerifyReport::last_hash`] with one kept elsewhere.
///
/// # Errors
///
/// [`VerifyError::Altered`] with the first line that does not verify, or [`VerifyError::Io`].
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport, VerifyError> {
    verify_inner(path.as_ref(), None)
}

/// Reads an HMAC key from a file: all its bytes, which must not be none.
///
/// # Errors
///
/// When the file cannot be read, or is empty.
pub fn read_key_file(path: &Path) -> io::Result<Vec<u8>> {
    let key = std::fs::read(path)?;
    if key.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the key file {} is empty", path.display()),
        ));
    }
    Ok(key)
}

/// Like [`verify`], for a log chained with HMAC-SHA256 under `key`: only a holder of the key
/// could have written a log that verifies, so a log rewritten (chain included) by someone
/// without it fails at its first line, even though its plain chain may look consistent.
///
/// # Errors
///
/// As [`verify`].
pub fn verify_with_key(path: impl AsRef<Path>, key: &[u8]) -> Result<VerifyReport, VerifyError> {
    verify_inner(path.as_ref(), Some(key))
}

fn verify_inner(path: &Path, key: Option<&[u8]>) -> Result<VerifyReport, VerifyError> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut prev = GENESIS.to_owned();
    let mut continues = None;
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        n += 1;
        let altered = |reason: &str| VerifyError::Altered {
            line: n,
            reason: reason.to_owned(),
        };
        if line.last() != Some(&b'\n') {
            return Err(altered(if line.len() > MAX_LINE {
                "the line is longer than 16 MiB"
            } else {
                "the line is incomplete (no newline at the end)"
            }));
        }
        line.pop();
        let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&line) else {
            return Err(altered("not a JSON object"));
        };
        let (Some(Value::String(hash)), Some(Value::String(line_prev))) =
            (object.remove("hash"), object.remove("prev"))
        else {
            return Err(altered("no `hash` and `prev` (not a hash-chained record)"));
        };
        let rest = Value::Object(object);
        let Ok(record) = serde_json::from_value::<AuditRecord>(rest.clone()) else {
            return Err(altered("not an audit record"));
        };
        let mut canonical = String::with_capacity(line.len());
        canonical_json(&rest, &mut canonical);
        if chain_hash(key, line_prev.as_bytes(), canonical.as_bytes()) != hash.as_bytes() {
            return Err(altered(
                "the content does not match its hash (the line was changed)",
            ));
        }
        // The line must be exactly what the sink writes: no duplicate keys, no reformatting, so
        // that every JSON reader sees the fields that were verified.
        let exact = line.len() == canonical.len() + 148
            && line.starts_with(b"{\"hash\":\"")
            && line[9..73] == *hash.as_bytes()
            && line[73..83] == *b"\",\"prev\":\""
            && line[83..147] == *line_prev.as_bytes()
            && line[147..149] == *b"\","
            && line[149..] == canonical.as_bytes()[1..];
        if !exact {
            return Err(altered(
                "the line is not in the form the sink writes (reformatted, or keys duplicated)",
            ));
        }
        if n == 1 && line_prev != prev && record.kind == AuditKind::Continued {
            // A file that continues another (rotated): its chain starts where that one's ended.
            continues = Some(line_prev.clone());
        } else if line_prev != prev {
            return Err(altered(if n == 1 {
                "the first line does not start the chain (lines were removed before it)"
            } else {
                "`prev` is not the hash of the line before (a line was removed or inserted)"
            }));
        }
        prev = hash;
    }
    Ok(VerifyReport {
        records: n,
        last_hash: (n > 0).then_some(prev),
        continues,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_with_millis() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_785_240_000_123);
        assert_eq!(rfc3339(t), "2026-07-28T12:00:00.123Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_millis(1_709_251_199_999);
        assert_eq!(rfc3339(leap), "2024-02-29T23:59:59.999Z");
        let last = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799);
        assert_eq!(rfc3339_with(last, false), "9999-12-31T23:59:59Z");
        let beyond = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        assert_eq!(rfc3339_with(beyond, false), "10000-01-01T00:00:00Z");
    }

    #[test]
    fn canonical_json_sorts_keys_by_bytes_and_escapes_as_serde_json() {
        let value = serde_json::json!({
            "b": [1, 2.5, "x\"y", -0],
            "a": { "é": null, "c": true },
            "\u{1}": "line\nbreak",
        });
        let mut out = String::new();
        canonical_json(&value, &mut out);
        assert_eq!(
            out,
            r#"{"\u0001":"line\nbreak","a":{"c":true,"é":null},"b":[1,2.5,"x\"y",0]}"#
        );
    }

    #[test]
    fn secrets_are_redacted_from_free_text() {
        assert_eq!(
            redact_secrets("header was Bearer abc.def-123 and more"),
            "header was Bearer [redacted] and more"
        );
        assert_eq!(
            redact_secrets("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig_1 end"),
            "token [redacted] end"
        );
        assert_eq!(redact_secrets("no secrets, café"), "no secrets, café");
        assert_eq!(redact_secrets("bearer"), "bearer");
        assert_eq!(redact_secrets("eyJnot-a-jwt"), "eyJnot-a-jwt");
    }

    #[test]
    fn canonical_json_of_every_field_is_the_sorted_tree() {
        let slow = |r: &AuditRecord| {
            let mut out = String::new();
            canonical_json(&serde_json::to_value(r).unwrap(), &mut out);
            out
        };
        let mut r = AuditRecord::new(AuditKind::Decision, "tools/call");
        assert_eq!(r.to_canonical_json(), slow(&r));
        r.principal = Some("al\"ice\n".into());
        r.issuer = Some("https://idp".into());
        r.session_id = Some("s".into());
        r.request_id = Some(RequestId::Number(7));
        r.item = Some("é ✓".into());
        r.args_hash = Some("ab".into());
        r.decision = Some(Decision::Deny);
        r.reason = Some("rate_limited".into());
        r.outcome = Some(Outcome::Error);
        r.error_code = Some(-32003);
        r.latency_ms = Some(1.25);
        r.trace_id = Some("t".into());
        r.status = Some(403);
        r.client = Some("127.0.0.1:1".into());
        r.dropped = Some(3);
        r.filters = Some([("b".to_owned(), 2), ("a".to_owned(), 1)].into());
        assert_eq!(r.to_canonical_json(), slow(&r));
        r.request_id = Some(RequestId::String("x".into()));
        r.latency_ms = Some(f64::NAN);
        assert_eq!(r.to_canonical_json(), slow(&r));
    }

    #[test]
    fn a_string_is_copied_as_it_is_exactly_when_serde_json_would_not_escape_it() {
        let escaped = |s: &str| serde_json::to_string(s).unwrap() != format!("\"{s}\"");
        let long = "0123456789abcdef".repeat(5);
        let mut cases: Vec<String> = (0u8..=0x7f).map(|b| char::from(b).to_string()).collect();
        cases.extend(["", "é ✓", "tools/call", "2026-07-28T12:00:00.000Z"].map(str::to_owned));
        for special in ["\"", "\\", "\n", "\u{1f}", "\u{7f}", "é"] {
            cases.push(format!("{long}{special}"));
            cases.push(format!("{special}{long}"));
            cases.push(format!("{long}{special}{long}"));
        }
        for case in cases {
            assert_eq!(needs_escape(case.as_bytes()), escaped(&case), "{case:?}");
            let mut fast = Vec::new();
            str_field(&mut fast, b"f", Some(&case));
            let mut slow = Vec::new();
            field(&mut slow, b"f", &case);
            assert_eq!(fast, slow, "{case:?}");
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = serde_json::json!({"b": [{"z": 1, "a": "x"}], "a": null});
        let mut out = String::new();
        canonical_json(&v, &mut out);
        assert_eq!(out, r#"{"a":null,"b":[{"a":"x","z":1}]}"#);
    }
}
