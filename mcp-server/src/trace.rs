//! W3C Trace Context: the caller's `traceparent`, carried in a request's `_meta`.
//!
//! A client that traces its calls puts `"traceparent": "00-<trace id>-<parent id>-<flags>"` in the
//! request's `_meta`; the server continues that trace: its span and the request's audit record
//! carry the same trace id. The value is validated strictly (lowercase hex, the right lengths, no
//! all-zero ids, version `ff` refused), as the W3C recommendation requires: an invalid value is
//! ignored, never half-used.
//!
//! ```
//! use mcp_server::trace::TraceContext;
//!
//! let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
//! let cx = TraceContext::parse(tp).unwrap();
//! assert_eq!(cx.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert!(cx.sampled());
//! assert_eq!(cx.to_string(), tp);
//! assert!(TraceContext::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_err());
//! ```

use std::fmt;

use mcp_core::Meta;
use serde_json::{Map, Value};

/// The `_meta` key of the W3C trace parent.
pub const TRACEPARENT: &str = "traceparent";

/// A parsed W3C `traceparent`: the trace, the caller's span and the trace flags.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

/// Why a `traceparent` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceParentError {
    /// The `_meta` value is not a string.
    #[error("`traceparent` is not a string")]
    NotAString,
    /// Not `version-traceid-parentid-flags` with the right lengths.
    #[error("`traceparent` is not `version-traceid-parentid-flags`")]
    Format,
    /// A field holds something other than lowercase hexadecimal digits.
    #[error("`traceparent` has a field that is not lowercase hex")]
    NotHex,
    /// Version `ff`, which the recommendation forbids.
    #[error("`traceparent` version `ff` is invalid")]
    InvalidVersion,
    /// The trace id is all zeros.
    #[error("`traceparent` has an all-zero trace id")]
    ZeroTraceId,
    /// The parent id is all zeros.
    #[error("`traceparent` has an all-zero parent id")]
    ZeroParentId,
}

impl TraceContext {
    /// Parses a `traceparent` header value.
    ///
    /// Version `00` must be exactly 55 characters. A later version may append fields after a
    /// `-`; they are ignored, as the recommendation asks of a version-00 parser.
    ///
    /// # Errors
    ///
    /// [`TraceParentError`] saying what is wrong.
    pub fn parse(value: &str) -> Result<TraceContext, TraceParentError> {
        let b = value.as_bytes();
        if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return Err(TraceParentError::Format);
        }
        let version = hex_byte(&b[0..2])?;
        if version == 0xff {
            return Err(TraceParentError::InvalidVersion);
        }
        if b.len() > 55 && (version == 0 || b[55] != b'-') {
            return Err(TraceParentError::Format);
        }
        let mut trace_id = [0u8; 16];
        for (i, out) in trace_id.iter_mut().enumerate() {
            *out = hex_byte(&b[3 + 2 * i..5 + 2 * i])?;
        }
        let mut parent_id = [0u8; 8];
        for (i, out) in parent_id.iter_mut().enumerate() {
            *out = hex_byte(&b[36 + 2 * i..38 + 2 * i])?;
        }
        let flags = hex_byte(&b[53..55])?;
        if trace_id == [0; 16] {
            return Err(TraceParentError::ZeroTraceId);
        }
        if parent_id == [0; 8] {
            return Err(TraceParentError::ZeroParentId);
        }
        Ok(TraceContext {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// The trace context of a request's `_meta`: `None` when there is no `traceparent`, an error
    /// when there is one that is invalid. In a handler, [`Context::trace_parent`] gives the
    /// valid one, read with the request.
    ///
    /// [`Context::trace_parent`]: crate::Context::trace_parent
    pub fn from_meta(meta: &Meta) -> Option<Result<TraceContext, TraceParentError>> {
        Self::from_map(&meta.0)
    }

    /// Like [`TraceContext::from_meta`], on the `_meta` object as a JSON map.
    pub fn from_map(meta: &Map<String, Value>) -> Option<Result<TraceContext, TraceParentError>> {
        let value = meta.get(TRACEPARENT)?;
        Some(match value.as_str() {
            Some(s) => TraceContext::parse(s),
            None => Err(TraceParentError::NotAString),
        })
    }

    /// The trace id: 32 lowercase hex digits.
    pub fn trace_id(&self) -> String {
        hex(&self.trace_id)
    }

    /// The caller's span id: 16 lowercase hex digits.
    pub fn parent_id(&self) -> String {
        hex(&self.parent_id)
    }

    /// The trace flags.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the caller sampled the trace (flag `01`).
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The same trace with a new, random span id as parent: the `traceparent` to send on to
    /// whatever this request calls next. Always version `00`.
    pub fn child(&self) -> TraceContext {
        let mut parent_id = [0u8; 8];
        while parent_id == [0; 8] {
            // Without randomness the new id is derived from the old: still valid, still nonzero.
            if getrandom::fill(&mut parent_id).is_err() {
                parent_id = self.parent_id.map(|b| b.rotate_left(1) ^ 0x5a);
            }
        }
        TraceContext {
            trace_id: self.trace_id,
            parent_id,
            flags: self.flags,
        }
    }

    /// A `tracing` span for one request that carries this trace: fields `method`, `trace_id`
    /// and `parent_id` (empty when `trace` is `None`), for subscribers that export to a tracing
    /// backend or print the ids.
    pub fn request_span(method: &str, trace: Option<&TraceContext>) -> tracing::Span {
        let span = tracing::info_span!(
            "mcp.request",
            method = %method,
            trace_id = tracing::field::Empty,
            parent_id = tracing::field::Empty,
        );
        if let Some(t) = trace {
            span.record("trace_id", tracing::field::display(t.trace_id()));
            span.record("parent_id", tracing::field::display(t.parent_id()));
        }
        span
    }
}

impl fmt::Display for TraceContext {
    /// The version-00 `traceparent` value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.parent_id),
            self.flags
        )
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceContext({self})")
    }
}

impl std::str::FromStr for TraceContext {
    type Err = TraceParentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TraceContext::parse(s)
    }
}

fn hex_digit(c: u8) -> Result<u8, TraceParentError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(TraceParentError::NotHex),
    }
}

fn hex_byte(two: &[u8]) -> Result<u8, TraceParentError> {
    Ok(hex_digit(two[0])? << 4 | hex_digit(two[1])?)
}

/// `bytes` in lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    // Written as bytes and checked once: pushing each digit as a `char` cost about 25
    // instructions a byte (an audited call hashes its arguments).
    let mut out = vec![0; bytes.len() * 2];
    hex_into(&mut out, bytes);
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// `bytes` in lowercase hex, into `out` (twice as long).
pub(crate) fn hex_into(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, &byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 15)];
    }
}
