//! Multi-round-trip requests (modern era): instead of sending the client a request, the server
//! answers with `input_required`, and the client retries with the answers.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::common::{RequestParams, ResultType};
use super::elicitation::{ElicitRequestParams, ElicitResult};
use super::roots::ListRootsResult;
use super::sampling::{CreateMessageRequestParams, CreateMessageResult};
use super::tasks::TaskResult;
use crate::meta::Meta;

/// Something the server asks of the client within a request.
#[derive(Debug, Clone, PartialEq)]
pub enum InputRequest {
    /// `sampling/createMessage`.
    CreateMessage(CreateMessageRequestParams),
    /// `roots/list`.
    ListRoots(Option<RequestParams>),
    /// `elicitation/create`.
    Elicit(ElicitRequestParams),
}

impl InputRequest {
    /// The method of the request.
    pub fn method(&self) -> &'static str {
        match self {
            InputRequest::CreateMessage(_) => "sampling/createMessage",
            InputRequest::ListRoots(_) => "roots/list",
            InputRequest::Elicit(_) => "elicitation/create",
        }
    }
}

impl Serialize for InputRequest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("method", self.method())?;
        match self {
            InputRequest::CreateMessage(p) => map.serialize_entry("params", p)?,
            InputRequest::ListRoots(Some(p)) => map.serialize_entry("params", p)?,
            InputRequest::ListRoots(None) => {}
            InputRequest::Elicit(p) => map.serialize_entry("params", p)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for InputRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            method: String,
            #[serde(default)]
            params: Option<Value>,
        }
        let raw = Raw::deserialize(d)?;
        let params = raw.params.unwrap_or(Value::Null);
        match raw.method.as_str() {
            "sampling/createMessage" => CreateMessageRequestParams::deserialize(params)
                .map(InputRequest::CreateMessage)
                .map_err(D::Error::custom),
            "roots/list" => Option::<RequestParams>::deserialize(params)
                .map(InputRequest::ListRoots)
                .map_err(D::Error::custom),
            "elicitation/create" => ElicitRequestParams::deserialize(params)
                .map(InputRequest::Elicit)
                .map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "unknown input request method `{other}`"
            ))),
        }
    }
}

/// The client's answer to an [`InputRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InputResponse {
    /// Answer to `elicitation/create`.
    Elicit(ElicitResult),
    /// Answer to `roots/list`.
    ListRoots(ListRootsResult),
    /// Answer to `sampling/createMessage`.
    CreateMessage(CreateMessageResult),
}

/// Input requests by key; the client answers each under the same key.
pub type InputRequests = BTreeMap<String, InputRequest>;

/// Input responses by the key of the request they answer.
pub type InputResponses = BTreeMap<String, InputResponse>;

/// A result that asks the client for input before the request can complete.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputRequiredResult {
    /// What the server asks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_requests: Option<InputRequests>,
    /// Opaque state the client echoes on the retry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_state: Option<String>,
    /// `input_required`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_type: Option<ResultType>,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// What a modern request may come back with: its result, a request for input, or a task.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// The request is done.
    Complete(T),
    /// The server needs input first.
    InputRequired(InputRequiredResult),
    /// The server made a task of it (tasks extension).
    Task(Box<TaskResult>),
}

impl<T: Serialize> Serialize for Outcome<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Outcome::Complete(r) => r.serialize(s),
            Outcome::InputRequired(r) => r.serialize(s),
            Outcome::Task(r) => r.serialize(s),
        }
    }
}

impl<T: serde::de::DeserializeOwned> Outcome<T> {
    /// Reads an outcome from a result's JSON text: the same reading as its [`Deserialize`]
    /// impl, without the JSON tree in between. A text without `resultType` (every legacy
    /// result), or with it only once, as `"resultType":"complete"`, and without escapes, is
    /// read as a complete result at once; for any other, the `resultType` is peeked from the
    /// text and the text is then read once more, as the type it names.
    ///
    /// Text the direct reading refuses (a key given twice, which a tree reads as its last value)
    /// is read again through the tree, so both readings accept the same texts and refuse them
    /// with the same errors.
    pub fn from_json(text: &str) -> serde_json::Result<Self> {
        #[derive(Deserialize)]
        struct Peek<'a> {
            #[serde(rename = "resultType", borrow, default)]
            result_type: Option<Cow<'a, str>>,
        }
        let direct = if plainly_complete(text) {
            serde_json::from_str(text).map(Outcome::Complete)
        } else {
            serde_json::from_str::<Peek<'_>>(text).and_then(|peek| {
                match peek.result_type.as_deref() {
                    Some("input_required") => {
                        serde_json::from_str(text).map(Outcome::InputRequired)
                    }
                    Some("task") => serde_json::from_str(text).map(|t| Outcome::Task(Box::new(t))),
                    _ => serde_json::from_str(text).map(Outcome::Complete),
                }
            })
        };
        match direct {
            Ok(outcome) => Ok(outcome),
            Err(_) => serde_json::from_str::<Self>(text),
        }
    }
}

/// Whether a result's text is a complete result without a peek at its `resultType`: the word
/// is not in it (every legacy result), or only once, as `"resultType":"complete"` (a modern
/// one). Whether that one is the result's own member or a nested object's, the outcome is a
/// complete result. A text with an escape (which could spell the key) is peeked at.
fn plainly_complete(text: &str) -> bool {
    use memchr::memmem::Finder;
    use std::sync::LazyLock;
    const KEY: &str = "resultType";
    // Searched with SIMD (`str::contains` and `match_indices` search a byte at a time): this
    // runs on every result a client reads.
    static ESCAPE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("\\u"));
    static KEY_FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(KEY));
    if ESCAPE.find(text.as_bytes()).is_some() {
        return false;
    }
    let mut found = KEY_FINDER.find_iter(text.as_bytes());
    match (found.next(), found.next()) {
        (None, _) => true,
        (Some(at), None) => {
            text[..at].ends_with('"') && text[at + KEY.len()..].starts_with("\":\"complete\"")
        }
        _ => false,
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Outcome<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match v.get("resultType").and_then(Value::as_str) {
            Some("input_required") => InputRequiredResult::deserialize(v)
                .map(Outcome::InputRequired)
                .map_err(D::Error::custom),
            Some("task") => TaskResult::deserialize(v)
                .map(|t| Outcome::Task(Box::new(t)))
                .map_err(D::Error::custom),
            _ => T::deserialize(v)
                .map(Outcome::Complete)
                .map_err(D::Error::custom),
        }
    }
}
