//! The JSON-RPC 2.0 envelope: requests, notifications, results and errors.
//!
//! The envelope keeps `params` and `result` as raw JSON ([`RawValue`]), so a message is scanned once
//! for its envelope and its payload is parsed once, straight into the typed params or result that the
//! method calls for (see [`crate::messages`]).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// The only JSON-RPC version there is: serializes as `"2.0"`, and deserializes from nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct JsonRpcVersion;

impl Serialize for JsonRpcVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("2.0")
    }
}

impl<'de> Deserialize<'de> for JsonRpcVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(deserializer)?;
        if s == "2.0" {
            Ok(JsonRpcVersion)
        } else {
            Err(de::Error::invalid_value(
                de::Unexpected::Str(&s),
                &"\"2.0\"",
            ))
        }
    }
}

/// A request id: a string or an integer. Never null, never fractional, never outside `i64`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestId {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(String),
}

impl From<i64> for RequestId {
    fn from(n: i64) -> Self {
        RequestId::Number(n)
    }
}

impl From<String> for RequestId {
    fn from(s: String) -> Self {
        RequestId::String(s)
    }
}

impl From<&str> for RequestId {
    fn from(s: &str) -> Self {
        RequestId::String(s.to_owned())
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Number(n) => write!(f, "{n}"),
            RequestId::String(s) => f.write_str(s),
        }
    }
}

impl Serialize for RequestId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RequestId::Number(n) => serializer.serialize_i64(*n),
            RequestId::String(s) => serializer.serialize_str(s),
        }
    }
}

struct RequestIdVisitor;

impl Visitor<'_> for RequestIdVisitor {
    type Value = RequestId;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an integer that fits in i64")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RequestId, E> {
        Ok(RequestId::Number(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RequestId, E> {
        i64::try_from(v)
            .map(RequestId::Number)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RequestId, E> {
        Err(E::invalid_value(de::Unexpected::Float(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RequestId, E> {
        Ok(RequestId::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<RequestId, E> {
        Ok(RequestId::String(v))
    }
}

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RequestIdVisitor)
    }
}

/// A JSON-RPC or MCP error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(pub i32);

impl ErrorCode {
    /// Invalid JSON was received (-32700).
    pub const PARSE_ERROR: ErrorCode = ErrorCode(-32700);
    /// The JSON sent is not a valid request object (-32600).
    pub const INVALID_REQUEST: ErrorCode = ErrorCode(-32600);
    /// The method does not exist or is not available (-32601).
    pub const METHOD_NOT_FOUND: ErrorCode = ErrorCode(-32601);
    /// Invalid method parameters (-32602). Also: unknown tool, unknown prompt, bad cursor, and in the
    /// modern era a resource that does not exist.
    pub const INVALID_PARAMS: ErrorCode = ErrorCode(-32602);
    /// Internal JSON-RPC error (-32603).
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(-32603);
    /// Resource not found (-32002, legacy era).
    pub const RESOURCE_NOT_FOUND: ErrorCode = ErrorCode(-32002);
    /// The request needs the client to complete a URL-mode elicitation first (-32042, 2025-11-25).
    pub const URL_ELICITATION_REQUIRED: ErrorCode = ErrorCode(-32042);
    /// An HTTP header does not match the body (-32020, 2026-07-28).
    pub const HEADER_MISMATCH: ErrorCode = ErrorCode(-32020);
    /// The request needs a client capability the client did not declare (-32021, 2026-07-28).
    pub const MISSING_REQUIRED_CLIENT_CAPABILITY: ErrorCode = ErrorCode(-32021);
    /// The request's protocol version is not supported (-32022, 2026-07-28).
    pub const UNSUPPORTED_PROTOCOL_VERSION: ErrorCode = ErrorCode(-32022);

    /// The code's conventional name, for codes this crate knows.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::PARSE_ERROR => "parse error",
            Self::INVALID_REQUEST => "invalid request",
            Self::METHOD_NOT_FOUND => "method not found",
            Self::INVALID_PARAMS => "invalid params",
            Self::INTERNAL_ERROR => "internal error",
            Self::RESOURCE_NOT_FOUND => "resource not found",
            Self::URL_ELICITATION_REQUIRED => "URL elicitation required",
            Self::HEADER_MISMATCH => "header mismatch",
            Self::MISSING_REQUIRED_CLIENT_CAPABILITY => "missing required client capability",
            Self::UNSUPPORTED_PROTOCOL_VERSION => "unsupported protocol version",
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The `error` member of a JSON-RPC error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct ErrorObject {
    /// The error code.
    pub code: ErrorCode,
    /// A short description.
    pub message: String,
    /// Additional information, defined by the sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Adds `data`.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// -32700.
    pub fn parse_error(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PARSE_ERROR, message)
    }

    /// -32600.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_REQUEST, message)
    }

    /// -32601, naming the method.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("method not found: {method}"),
        )
    }

    /// -32602.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_PARAMS, message)
    }

    /// -32603.
    pub fn internal_error(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INTERNAL_ERROR, message)
    }

    /// -32022, with the `data` the 2026-07-28 revision defines: the supported versions and the one
    /// that was requested.
    pub fn unsupported_protocol_version<S: AsRef<str>>(supported: &[S], requested: &str) -> Self {
        let supported: Vec<&str> = supported.iter().map(AsRef::as_ref).collect();
        Self::new(
            ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
            "Unsupported protocol version",
        )
        .with_data(serde_json::json!({ "supported": supported, "requested": requested }))
    }
}

/// Serializes a value into raw JSON, for `params` and `result`.
pub fn to_raw<T: Serialize + ?Sized>(value: &T) -> Result<Box<RawValue>, serde_json::Error> {
    serde_json::value::to_raw_value(value)
}

/// Runs `f` with this thread's empty scratch buffer (a fresh one when it is already in use, as
/// by a `Serialize` that serializes a message itself). A message is serialized there and copied
/// out once, at its length: serializing into a new `String` grew it two or three times for a
/// typical answer. (Not for a `Box<RawValue>`: making one from text parses the text again,
/// which costs more than the allocations saved.)
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    /// A buffer that grew past this (a large result) is not kept.
    const KEEP: usize = 64 * 1024;
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let out = f(&mut buf);
            if buf.capacity() > KEEP {
                *buf = Vec::new();
            }
            out
        }
        Err(_) => f(&mut Vec::new()),
    })
}

/// The scratch buffer's text as a `String` of exactly its length.
fn exact_string(buf: &[u8]) -> String {
    // serde_json writes UTF-8 only.
    String::from(std::str::from_utf8(buf).expect("serde_json writes UTF-8"))
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).expect("`{}` is valid JSON")
}

/// A borrowed look at the members of a message's params that transports route on (the HTTP
/// headers that mirror them, the era in `_meta`), each left raw: the params are not parsed into a
/// tree (they hold a call's arguments), and a member of an unexpected type costs only itself.
/// Parsing fails on a key given twice.
///
/// ```
/// use mcp_core::jsonrpc::{ParamsPeek, raw_str};
///
/// let peek: ParamsPeek<'_> =
///     serde_json::from_str(r#"{"name":"add","arguments":{"a":1},"uri":5}"#).unwrap();
/// assert_eq!(peek.name.and_then(raw_str).as_deref(), Some("add"));
/// assert_eq!(peek.arguments.map(|a| a.get()), Some(r#"{"a":1}"#));
/// assert_eq!(peek.uri.and_then(raw_str), None);
/// assert!(peek.meta.is_none() && peek.task_id.is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[non_exhaustive]
pub struct ParamsPeek<'a> {
    /// `_meta` (read with [`crate::meta::MetaPeek::of_meta`]).
    #[serde(rename = "_meta", borrow, default)]
    pub meta: Option<&'a RawValue>,
    /// `name` (`tools/call`, `prompts/get`).
    #[serde(borrow, default)]
    pub name: Option<&'a RawValue>,
    /// `uri` (`resources/read`).
    #[serde(borrow, default)]
    pub uri: Option<&'a RawValue>,
    /// `taskId` (the tasks extension's methods).
    #[serde(rename = "taskId", borrow, default)]
    pub task_id: Option<&'a RawValue>,
    /// `arguments` (`tools/call`).
    #[serde(borrow, default)]
    pub arguments: Option<&'a RawValue>,
}

/// The text of a raw JSON value that is a string (borrowed when it has no escapes); `None` for
/// any other value.
///
/// ```
/// use mcp_core::jsonrpc::raw_str;
/// use serde_json::value::RawValue;
///
/// let plain = RawValue::from_string(r#""2026-07-28""#.into()).unwrap();
/// assert!(matches!(raw_str(&plain), Some(std::borrow::Cow::Borrowed("2026-07-28"))));
/// let escaped = RawValue::from_string(r#""a\"b""#.into()).unwrap();
/// assert_eq!(raw_str(&escaped).as_deref(), Some(r#"a"b"#));
/// assert_eq!(raw_str(&RawValue::from_string("5".into()).unwrap()), None);
/// ```
pub fn raw_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    match serde_json::from_str::<&str>(raw.get()) {
        Ok(s) => Some(Cow::Borrowed(s)),
        // Escaped, or not a string.
        Err(_) => serde_json::from_str::<String>(raw.get())
            .ok()
            .map(Cow::Owned),
    }
}

/// Parses raw params or a raw result into `T`; a missing value reads as `{}`, so that types whose
/// fields are all optional accept it.
pub fn from_raw<T: DeserializeOwned>(raw: Option<&RawValue>) -> Result<T, serde_json::Error> {
    serde_json::from_str(raw.map_or("{}", RawValue::get))
}

/// A request: a method call that expects a response.
#[derive(Debug, Clone)]
pub struct JsonRpcRequest {
    /// Its id, echoed by the response.
    pub id: RequestId,
    /// The method.
    pub method: String,
    /// The parameters, as raw JSON.
    pub params: Option<Box<RawValue>>,
}

/// A notification: a method call without an id, which gets no response.
#[derive(Debug, Clone)]
pub struct JsonRpcNotification {
    /// The method.
    pub method: String,
    /// The parameters, as raw JSON.
    pub params: Option<Box<RawValue>>,
}

/// A successful response.
#[derive(Debug, Clone)]
pub struct JsonRpcResponse {
    /// The id of the request this answers.
    pub id: RequestId,
    /// The result, as raw JSON.
    pub result: Box<RawValue>,
}

/// An error response. Its id is `None` (null on the wire) when the request's id could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonRpcError {
    /// The id of the request this answers, if known.
    pub id: Option<RequestId>,
    /// The error.
    pub error: ErrorObject,
}

/// Any JSON-RPC message.
#[derive(Debug, Clone)]
pub enum JsonRpcMessage {
    /// A request.
    Request(JsonRpcRequest),
    /// A notification.
    Notification(JsonRpcNotification),
    /// A successful response.
    Response(JsonRpcResponse),
    /// An error response.
    Error(JsonRpcError),
}

impl JsonRpcRequest {
    /// A request whose params serialize from `params`.
    pub fn new<P: Serialize + ?Sized>(
        id: impl Into<RequestId>,
        method: impl Into<String>,
        params: &P,
    ) -> Result<Self, serde_json::Error> {
        Ok(JsonRpcRequest {
            id: id.into(),
            method: method.into(),
            params: Some(to_raw(params)?),
        })
    }

    /// Parses the params into `T`.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        from_raw(self.params.as_deref())
    }
}

impl JsonRpcNotification {
    /// A notification whose params serialize from `params`.
    pub fn new<P: Serialize + ?Sized>(
        method: impl Into<String>,
        params: &P,
    ) -> Result<Self, serde_json::Error> {
        Ok(JsonRpcNotification {
            method: method.into(),
            params: Some(to_raw(params)?),
        })
    }

    /// Parses the params into `T`.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        from_raw(self.params.as_deref())
    }
}

impl JsonRpcResponse {
    /// A response whose result serializes from `result`.
    pub fn new<R: Serialize + ?Sized>(
        id: RequestId,
        result: &R,
    ) -> Result<Self, serde_json::Error> {
        Ok(JsonRpcResponse {
            id,
            result: to_raw(result)?,
        })
    }

    /// A response with an empty result, `{}`.
    pub fn empty(id: RequestId) -> Self {
        JsonRpcResponse {
            id,
            result: empty_object(),
        }
    }

    /// Parses the result into `T`.
    pub fn result<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.result.get())
    }
}

impl JsonRpcError {
    /// An error response.
    pub fn new(id: Option<RequestId>, error: ErrorObject) -> Self {
        JsonRpcError { id, error }
    }
}

impl From<JsonRpcRequest> for JsonRpcMessage {
    fn from(m: JsonRpcRequest) -> Self {
        JsonRpcMessage::Request(m)
    }
}
impl From<JsonRpcNotification> for JsonRpcMessage {
    fn from(m: JsonRpcNotification) -> Self {
        JsonRpcMessage::Notification(m)
    }
}
impl From<JsonRpcResponse> for JsonRpcMessage {
    fn from(m: JsonRpcResponse) -> Self {
        JsonRpcMessage::Response(m)
    }
}
impl From<JsonRpcError> for JsonRpcMessage {
    fn from(m: JsonRpcError) -> Self {
        JsonRpcMessage::Error(m)
    }
}

impl Serialize for JsonRpcMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("jsonrpc", "2.0")?;
        match self {
            JsonRpcMessage::Request(r) => {
                map.serialize_entry("id", &r.id)?;
                map.serialize_entry("method", &r.method)?;
                if let Some(p) = &r.params {
                    map.serialize_entry("params", p)?;
                }
            }
            JsonRpcMessage::Notification(n) => {
                map.serialize_entry("method", &n.method)?;
                if let Some(p) = &n.params {
                    map.serialize_entry("params", p)?;
                }
            }
            JsonRpcMessage::Response(r) => {
                map.serialize_entry("id", &r.id)?;
                map.serialize_entry("result", &r.result)?;
            }
            JsonRpcMessage::Error(e) => {
                map.serialize_entry("id", &e.id)?;
                map.serialize_entry("error", &e.error)?;
            }
        }
        map.end()
    }
}

/// Why bytes did not make a JSON-RPC message, with the error to answer them with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}")]
pub struct MessageError {
    /// The id of the offending request, where it could be read: an error response echoes it.
    pub id: Option<RequestId>,
    /// The error to send back (-32700 for bytes that are not JSON, -32600 for JSON that is not a message).
    pub error: ErrorObject,
}

impl MessageError {
    fn parse(e: impl fmt::Display) -> Self {
        MessageError {
            id: None,
            error: ErrorObject::parse_error(format!("parse error: {e}")),
        }
    }

    fn invalid(id: Option<RequestId>, message: impl Into<String>) -> Self {
        MessageError {
            id,
            error: ErrorObject::invalid_request(message),
        }
    }

    /// The error response to send back.
    pub fn into_response(self) -> JsonRpcError {
        JsonRpcError::new(self.id, self.error)
    }
}

/// An id field as found: absent, null, valid, or something no id may be.
#[derive(Default)]
enum IdField {
    #[default]
    Absent,
    Null,
    Valid(RequestId),
    Invalid,
}

impl<'de> Deserialize<'de> for IdField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IdField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a request id")
            }
            fn visit_unit<E: de::Error>(self) -> Result<IdField, E> {
                Ok(IdField::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<IdField, E> {
                Ok(IdField::Null)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IdField, E> {
                Ok(IdField::Valid(RequestId::Number(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IdField, E> {
                Ok(i64::try_from(v)
                    .map_or(IdField::Invalid, |v| IdField::Valid(RequestId::Number(v))))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<IdField, E> {
                Ok(IdField::Invalid)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<IdField, E> {
                Ok(IdField::Invalid)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IdField, E> {
                Ok(IdField::Valid(RequestId::String(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<IdField, E> {
                Ok(IdField::Valid(RequestId::String(v)))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<IdField, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(IdField::Invalid)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<IdField, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(IdField::Invalid)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Whether `jsonrpc` was `"2.0"`; read without allocating.
#[derive(Default)]
struct VersionField(bool);

impl<'de> Deserialize<'de> for VersionField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = VersionField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"2.0\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<VersionField, E> {
                Ok(VersionField(v == "2.0"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<VersionField, E> {
                Ok(VersionField(false))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<VersionField, E> {
                Ok(VersionField(false))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<VersionField, E> {
                Ok(VersionField(false))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<VersionField, E> {
                Ok(VersionField(false))
            }
            fn visit_unit<E: de::Error>(self) -> Result<VersionField, E> {
                Ok(VersionField(false))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The envelope as read, before it is classified.
#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(default)]
    jsonrpc: VersionField,
    #[serde(default)]
    id: IdField,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<Box<RawValue>>,
    #[serde(default)]
    result: Option<Box<RawValue>>,
    #[serde(default)]
    error: Option<Box<RawValue>>,
}

impl JsonRpcMessage {
    /// Reads one message from JSON text, classifying it as the JSON-RPC 2.0 specification says.
    ///
    /// Text that is not JSON gives -32700; JSON that is not a single message object (an array, a
    /// missing or wrong `jsonrpc`, an id of 1.5, null or beyond `i64` on a request) gives -32600.
    /// Nesting is bounded by `serde_json`'s recursion limit; the codec applies its own limit first.
    pub fn from_json(text: &str) -> Result<Self, MessageError> {
        Self::from_value_text(text)
    }

    /// Like [`JsonRpcMessage::from_json`], from bytes that must be UTF-8.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, MessageError> {
        let text = std::str::from_utf8(bytes).map_err(MessageError::parse)?;
        Self::from_value_text(text)
    }

    fn from_value_text(text: &str) -> Result<Self, MessageError> {
        let first = text
            .trim_start_matches([' ', '\t', '\r', '\n'])
            .as_bytes()
            .first();
        match first {
            Some(b'{') => {}
            Some(b'[') => {
                // Still JSON must be valid to call it a batch; invalid text is a parse error.
                serde_json::from_str::<de::IgnoredAny>(text).map_err(MessageError::parse)?;
                return Err(MessageError::invalid(
                    None,
                    "batches are not supported: send one JSON-RPC message per line",
                ));
            }
            _ => {
                serde_json::from_str::<de::IgnoredAny>(text).map_err(MessageError::parse)?;
                return Err(MessageError::invalid(
                    None,
                    "a JSON-RPC message must be an object",
                ));
            }
        }
        let raw: RawEnvelope = match serde_json::from_str(text) {
            Ok(raw) => raw,
            Err(e) if e.is_data() => {
                // Valid JSON of the wrong shape (e.g. `"method": 5`)? Deserialization stops at the
                // first wrong type, so check that the rest is JSON: if not, it is a parse error.
                serde_json::from_str::<de::IgnoredAny>(text).map_err(MessageError::parse)?;
                return Err(MessageError::invalid(None, format!("invalid message: {e}")));
            }
            Err(e) => return Err(MessageError::parse(e)),
        };
        raw.classify()
    }
}

impl RawEnvelope {
    fn classify(self) -> Result<JsonRpcMessage, MessageError> {
        // The id to echo in an error, where one could be read.
        let id = match &self.id {
            IdField::Valid(id) => Some(id.clone()),
            _ => None,
        };
        if !self.jsonrpc.0 {
            return Err(MessageError::invalid(id, "`jsonrpc` must be \"2.0\""));
        }
        if let Some(method) = self.method {
            if self.result.is_some() || self.error.is_some() {
                return Err(MessageError::invalid(
                    id,
                    "a message cannot have both `method` and `result` or `error`",
                ));
            }
            let params = self.params.filter(|p| p.get() != "null");
            if let Some(p) = &params
                && !p.get().starts_with('{')
            {
                return Err(MessageError::invalid(id, "`params` must be an object"));
            }
            return match self.id {
                IdField::Absent => Ok(JsonRpcMessage::Notification(JsonRpcNotification {
                    method,
                    params,
                })),
                IdField::Valid(id) => Ok(JsonRpcMessage::Request(JsonRpcRequest {
                    id,
                    method,
                    params,
                })),
                IdField::Null | IdField::Invalid => Err(MessageError::invalid(
                    None,
                    "a request id must be a string or an integer within i64",
                )),
            };
        }
        match (self.result, self.error) {
            (Some(result), None) => match self.id {
                IdField::Valid(id) => Ok(JsonRpcMessage::Response(JsonRpcResponse { id, result })),
                _ => Err(MessageError::invalid(None, "a response needs a valid id")),
            },
            (None, Some(error)) => {
                let error: ErrorObject = serde_json::from_str(error.get()).map_err(|e| {
                    MessageError::invalid(id.clone(), format!("invalid error object: {e}"))
                })?;
                match self.id {
                    IdField::Valid(id) => Ok(JsonRpcMessage::Error(JsonRpcError {
                        id: Some(id),
                        error,
                    })),
                    IdField::Null | IdField::Absent => {
                        Ok(JsonRpcMessage::Error(JsonRpcError { id: None, error }))
                    }
                    IdField::Invalid => {
                        Err(MessageError::invalid(None, "invalid id in error response"))
                    }
                }
            }
            (Some(_), Some(_)) => Err(MessageError::invalid(
                id,
                "a response cannot have both `result` and `error`",
            )),
            (None, None) => Err(MessageError::invalid(
                id,
                "a message needs `method`, `result` or `error`",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for JsonRpcMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Buffer as raw text, then classify with the same rules as the codec.
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        JsonRpcMessage::from_json(raw.get()).map_err(|e| de::Error::custom(e.error.message))
    }
}

impl fmt::Display for JsonRpcMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl JsonRpcMessage {
    /// Serializes to compact JSON text. Raw params or results kept from pretty-printed input keep
    /// their own whitespace; [`crate::codec::encode`] always writes exactly one line.
    pub fn to_json(&self) -> String {
        with_scratch(|buf| {
            serde_json::to_writer(&mut *buf, self).expect("a JSON-RPC message always serializes");
            exact_string(buf)
        })
    }

    /// The method of a request or notification.
    pub fn method(&self) -> Option<&str> {
        match self {
            JsonRpcMessage::Request(r) => Some(&r.method),
            JsonRpcMessage::Notification(n) => Some(&n.method),
            _ => None,
        }
    }

    /// The id of a request or response.
    pub fn id(&self) -> Option<&RequestId> {
        match self {
            JsonRpcMessage::Request(r) => Some(&r.id),
            JsonRpcMessage::Response(r) => Some(&r.id),
            JsonRpcMessage::Error(e) => e.id.as_ref(),
            JsonRpcMessage::Notification(_) => None,
        }
    }
}
