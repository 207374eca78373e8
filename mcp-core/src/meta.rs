//! `_meta`: a map of extra information on params, results, notifications and definitions.
//!
//! Every key is kept, known or not (forward compatibility). The keys the protocol reserves have
//! typed accessors; their names are in [`keys`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::jsonrpc::RequestId;
use crate::types::{ClientCapabilities, Implementation, LoggingLevel, ProgressToken};
use crate::version::ProtocolVersion;

/// The reserved `_meta` keys.
pub mod keys {
    /// The protocol version of a modern request.
    pub const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
    /// The client capabilities of a modern request.
    pub const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
    /// The client's name and version on a modern request.
    pub const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
    /// The server's name and version on a modern result.
    pub const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
    /// The log level a modern request asks for; without it, no log notifications.
    pub const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
    /// The token that progress notifications for a request carry.
    pub const PROGRESS_TOKEN: &str = "progressToken";
    /// The subscription a notification belongs to (`subscriptions/listen`).
    pub const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
    /// The task a message relates to (2025-11-25 tasks).
    pub const RELATED_TASK: &str = "io.modelcontextprotocol/related-task";
    /// W3C trace context: `traceparent`.
    pub const TRACEPARENT: &str = "traceparent";
    /// W3C trace context: `tracestate`.
    pub const TRACESTATE: &str = "tracestate";
    /// W3C baggage.
    pub const BAGGAGE: &str = "baggage";

    /// The reserved keys that describe one exchange between two peers: who the client and the
    /// server are, the version and capabilities they speak, the log level asked, a subscription
    /// or a task of that server. A proxy relaying a message sets its own (or none) instead of
    /// passing the other side's on ([`Meta::remove_per_hop`](super::Meta::remove_per_hop)).
    /// Trace context is not among them: it follows a request end to end.
    pub const PER_HOP: [&str; 7] = [
        PROTOCOL_VERSION,
        CLIENT_CAPABILITIES,
        CLIENT_INFO,
        SERVER_INFO,
        LOG_LEVEL,
        SUBSCRIPTION_ID,
        RELATED_TASK,
    ];
}

/// A borrowed look at the `_meta` members a transport routes on, read from the request's text
/// without building the `_meta` object: no allocation when the values have no escapes.
///
/// Parsing fails where [`Meta`] would not, on a key given twice (which a [`Meta`] resolves to
/// its last value): a caller that must accept what [`Meta`] accepts falls back to it then.
///
/// ```
/// use mcp_core::meta::MetaPeek;
///
/// let params = r#"{"name":"add","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",
///     "io.modelcontextprotocol/clientCapabilities":{}}}"#;
/// let peek = MetaPeek::of_params(params).unwrap();
/// assert_eq!(peek.protocol_version().as_deref(), Some("2026-07-28"));
/// assert!(peek.has_client_capabilities());
/// assert!(MetaPeek::of_params(r#"{"name":"add"}"#).unwrap().protocol_version().is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct MetaPeek<'a> {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion", borrow, default)]
    protocol_version: Option<&'a serde_json::value::RawValue>,
    #[serde(rename = "io.modelcontextprotocol/clientCapabilities", borrow, default)]
    client_capabilities: Option<&'a serde_json::value::RawValue>,
}

impl<'a> MetaPeek<'a> {
    /// The peek at `params._meta` (all absent when `params` has no `_meta`, or a `null` one).
    pub fn of_params(params: &'a str) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Params<'a> {
            #[serde(rename = "_meta", borrow, default)]
            meta: Option<MetaPeek<'a>>,
        }
        Ok(serde_json::from_str::<Params<'a>>(params)?
            .meta
            .unwrap_or_default())
    }

    /// The peek at a raw `_meta` (all absent when there is none, or a `null` one), as
    /// [`crate::jsonrpc::ParamsPeek::meta`] holds it.
    pub fn of_meta(
        meta: Option<&'a serde_json::value::RawValue>,
    ) -> Result<Self, serde_json::Error> {
        match meta {
            Some(raw) if raw.get() != "null" => serde_json::from_str(raw.get()),
            _ => Ok(MetaPeek::default()),
        }
    }

    /// The protocol version string of a modern request, as sent (`None` when absent or not a
    /// string, as [`Meta::protocol_version`]).
    pub fn protocol_version(&self) -> Option<std::borrow::Cow<'a, str>> {
        crate::jsonrpc::raw_str(self.protocol_version?)
    }

    /// Whether the client capabilities are there, as an object.
    pub fn has_client_capabilities(&self) -> bool {
        self.client_capabilities
            .is_some_and(|raw| raw.get().starts_with('{'))
    }
}

/// A `_meta` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Meta(pub Map<String, Value>);

/// The task a message relates to, under [`keys::RELATED_TASK`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelatedTask {
    /// The task's id.
    pub task_id: String,
}

impl Meta {
    /// An empty `_meta`.
    pub fn new() -> Self {
        Meta::default()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The raw value under `key`.
    pub fn get_raw(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// The value under `key`, parsed as `T`. `Ok(None)` when the key is absent.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, serde_json::Error> {
        self.0.get(key).map(|v| T::deserialize(v)).transpose()
    }

    /// Sets `key` to `value` (serialized).
    pub fn insert<T: Serialize + ?Sized>(&mut self, key: impl Into<String>, value: &T) {
        let value = serde_json::to_value(value).expect("`_meta` values serialize to JSON");
        self.0.insert(key.into(), value);
    }

    /// Builder form of [`Meta::insert`].
    #[must_use]
    pub fn with<T: Serialize + ?Sized>(mut self, key: impl Into<String>, value: &T) -> Self {
        self.insert(key, value);
        self
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.0.remove(key)
    }

    /// Removes the keys that describe the exchange this `_meta` came in ([`keys::PER_HOP`]),
    /// keeping every other key: what a proxy does before relaying a message it received.
    ///
    /// ```
    /// use mcp_core::meta::{Meta, keys};
    ///
    /// let mut meta = Meta::new().with(keys::SERVER_INFO, &serde_json::json!({"name": "up"}));
    /// meta.insert("com.example/cost", &3);
    /// meta.remove_per_hop();
    /// assert_eq!(meta, Meta::new().with("com.example/cost", &3));
    /// ```
    pub fn remove_per_hop(&mut self) {
        for key in keys::PER_HOP {
            self.0.remove(key);
        }
    }

    fn str_at(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    /// The protocol version string of a modern request, as sent.
    pub fn protocol_version(&self) -> Option<&str> {
        self.str_at(keys::PROTOCOL_VERSION)
    }

    /// Sets the protocol version.
    pub fn set_protocol_version(&mut self, version: ProtocolVersion) {
        self.insert(keys::PROTOCOL_VERSION, version.as_str());
    }

    /// The client capabilities of a modern request.
    pub fn client_capabilities(&self) -> Result<Option<ClientCapabilities>, serde_json::Error> {
        self.get(keys::CLIENT_CAPABILITIES)
    }

    /// Sets the client capabilities.
    pub fn set_client_capabilities(&mut self, capabilities: &ClientCapabilities) {
        self.insert(keys::CLIENT_CAPABILITIES, capabilities);
    }

    /// The client info of a modern request.
    pub fn client_info(&self) -> Result<Option<Implementation>, serde_json::Error> {
        self.get(keys::CLIENT_INFO)
    }

    /// Sets the client info.
    pub fn set_client_info(&mut self, info: &Implementation) {
        self.insert(keys::CLIENT_INFO, info);
    }

    /// The server info of a modern result.
    pub fn server_info(&self) -> Result<Option<Implementation>, serde_json::Error> {
        self.get(keys::SERVER_INFO)
    }

    /// Sets the server info.
    pub fn set_server_info(&mut self, info: &Implementation) {
        self.insert(keys::SERVER_INFO, info);
    }

    /// The log level a modern request asks for.
    pub fn log_level(&self) -> Result<Option<LoggingLevel>, serde_json::Error> {
        self.get(keys::LOG_LEVEL)
    }

    /// Sets the log level.
    pub fn set_log_level(&mut self, level: LoggingLevel) {
        self.insert(keys::LOG_LEVEL, &level);
    }

    /// The progress token of a request.
    pub fn progress_token(&self) -> Result<Option<ProgressToken>, serde_json::Error> {
        self.get(keys::PROGRESS_TOKEN)
    }

    /// Sets the progress token.
    pub fn set_progress_token(&mut self, token: &ProgressToken) {
        self.insert(keys::PROGRESS_TOKEN, token);
    }

    /// The subscription id of a notification or a `subscriptions/listen` result.
    pub fn subscription_id(&self) -> Result<Option<RequestId>, serde_json::Error> {
        self.get(keys::SUBSCRIPTION_ID)
    }

    /// Sets the subscription id.
    pub fn set_subscription_id(&mut self, id: &RequestId) {
        self.insert(keys::SUBSCRIPTION_ID, id);
    }

    /// The task a message relates to.
    pub fn related_task(&self) -> Result<Option<RelatedTask>, serde_json::Error> {
        self.get(keys::RELATED_TASK)
    }

    /// Sets the related task.
    pub fn set_related_task(&mut self, task_id: impl Into<String>) {
        self.insert(
            keys::RELATED_TASK,
            &RelatedTask {
                task_id: task_id.into(),
            },
        );
    }

    /// The W3C `traceparent`.
    pub fn traceparent(&self) -> Option<&str> {
        self.str_at(keys::TRACEPARENT)
    }

    /// The W3C `tracestate`.
    pub fn tracestate(&self) -> Option<&str> {
        self.str_at(keys::TRACESTATE)
    }

    /// The W3C `baggage`.
    pub fn baggage(&self) -> Option<&str> {
        self.str_at(keys::BAGGAGE)
    }

    /// Whether a `_meta` key is well formed: an optional prefix of dot-separated labels ending in
    /// `/`, then a name that starts and ends with an alphanumeric character.
    pub fn is_valid_key(key: &str) -> bool {
        let (prefix, name) = match key.rsplit_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, key),
        };
        let alnum_ends = |s: &str| {
            let b = s.as_bytes();
            !b.is_empty() && b[0].is_ascii_alphanumeric() && b[b.len() - 1].is_ascii_alphanumeric()
        };
        let name_ok = alnum_ends(name)
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
        let prefix_ok = prefix.is_none_or(|p| {
            p.split('.').all(|label| {
                alnum_ends(label)
                    && label
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-')
            })
        });
        name_ok && prefix_ok
    }
}

impl From<Map<String, Value>> for Meta {
    fn from(map: Map<String, Value>) -> Self {
        Meta(map)
    }
}
