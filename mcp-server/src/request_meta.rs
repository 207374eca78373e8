//! A request's `_meta`, as [`Context::meta`](crate::Context::meta) gives it: kept raw as it
//! came and read into a [`Meta`] (a map of JSON values) only when something asks for it. The
//! members the server reads of every request (the modern era's client capabilities, client info
//! and log level; the progress token; the trace parent) are read from the raw text at once,
//! without that map: building it, reading those members from it and dropping it cost a modern
//! `tools/call` about a tenth of its instructions.

use std::sync::{Arc, OnceLock};

use mcp_core::Meta;
use mcp_core::types::{ClientCapabilities, Implementation, LoggingLevel, ProgressToken};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::context::ClientSide;
use crate::trace::{TraceContext, TraceParentError};

/// A request's `_meta`, raw, with what the server reads of every request.
#[derive(Clone)]
pub(crate) struct RequestMeta {
    raw: Option<Box<RawValue>>,
    map: OnceLock<Meta>,
    /// `progressToken`, when it is one.
    pub(crate) progress_token: Option<ProgressToken>,
    /// `traceparent`: the caller's trace, or why it is ignored.
    pub(crate) trace: Option<Result<TraceContext, TraceParentError>>,
}

/// The members of `_meta` a modern request carries about its client.
#[derive(Default)]
pub(crate) struct ClientMembers {
    /// Whether `io.modelcontextprotocol/clientCapabilities` is there (`Ok`: read into `side`;
    /// `Err`: why it could not be read).
    pub(crate) capabilities: Option<Result<(), serde_json::Error>>,
    /// The capabilities, when read (the default otherwise), and
    /// `io.modelcontextprotocol/clientInfo`, when it is one; `None` when neither is there. In
    /// the form the request's context keeps them, so that they are not copied again on the way.
    pub(crate) side: Option<Arc<ClientSide>>,
    /// `io.modelcontextprotocol/logLevel`, when it is one.
    pub(crate) log_level: Option<LoggingLevel>,
}

/// The members read of every request, each raw: what [`RequestMeta::read`] reads of a
/// `_meta`, and what the era of a request is told by (the protocol version, and whether the
/// client's capabilities are there). Read where the params are first peeked at, they are
/// handed to [`RequestMeta::read`] as [`Members`], so that `_meta` is not scanned again.
#[derive(Default, Deserialize)]
pub(crate) struct Reserved<'a> {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion", borrow, default)]
    protocol_version: Option<&'a RawValue>,
    #[serde(rename = "io.modelcontextprotocol/clientCapabilities", borrow, default)]
    client_capabilities: Option<&'a RawValue>,
    #[serde(rename = "io.modelcontextprotocol/clientInfo", borrow, default)]
    client_info: Option<&'a RawValue>,
    #[serde(rename = "io.modelcontextprotocol/logLevel", borrow, default)]
    log_level: Option<&'a RawValue>,
    #[serde(rename = "progressToken", borrow, default)]
    progress_token: Option<&'a RawValue>,
    #[serde(rename = "traceparent", borrow, default)]
    traceparent: Option<&'a RawValue>,
}

/// The params' `_meta`, read as [`Reserved`] in the pass over the params.
#[derive(Deserialize)]
pub(crate) struct ParamsMeta<'a> {
    #[serde(rename = "_meta", borrow, default)]
    pub(crate) meta: Option<Reserved<'a>>,
}

impl<'a> Reserved<'a> {
    /// The protocol version, when it is a string: set on modern requests only.
    pub(crate) fn protocol_version(&self) -> Option<std::borrow::Cow<'a, str>> {
        mcp_core::jsonrpc::raw_str(self.protocol_version?)
    }

    /// Whether the client's capabilities are there, as an object.
    #[cfg(feature = "http")]
    pub(crate) fn has_client_capabilities(&self) -> bool {
        self.client_capabilities
            .is_some_and(|raw| raw.get().starts_with('{'))
    }

    /// The members the server reads of every request, read. Members of the wrong type count as
    /// absent, as [`Meta`]'s accessors read them, except the client capabilities, whose error
    /// is kept for the modern era to refuse the request with.
    pub(crate) fn members(&self) -> Members {
        let progress_token = self.progress_token.and_then(|raw| read(raw).ok());
        let trace = self.traceparent.map(|raw| match read::<String>(raw) {
            Ok(s) => TraceContext::parse(&s),
            Err(_) => Err(TraceParentError::NotAString),
        });
        let capabilities = self.client_capabilities.map(read::<ClientCapabilities>);
        let info = self
            .client_info
            .and_then(|raw| read::<Implementation>(raw).ok());
        let (capabilities, side) = match capabilities {
            Some(Ok(capabilities)) => (
                Some(Ok(())),
                Some(Arc::new(ClientSide { capabilities, info })),
            ),
            read => (
                read.map(|r| r.map(drop)),
                info.map(|info| {
                    Arc::new(ClientSide {
                        capabilities: ClientCapabilities::default(),
                        info: Some(info),
                    })
                }),
            ),
        };
        let client = ClientMembers {
            capabilities,
            side,
            log_level: self.log_level.and_then(|raw| read(raw).ok()),
        };
        Members {
            progress_token,
            trace,
            client,
        }
    }
}

/// The members of a request's `_meta` the server reads of every request, read from its
/// [`Reserved`] members.
pub(crate) struct Members {
    progress_token: Option<ProgressToken>,
    trace: Option<Result<TraceContext, TraceParentError>>,
    client: ClientMembers,
}

/// `raw` read as a `T`.
fn read<T: DeserializeOwned>(raw: &RawValue) -> Result<T, serde_json::Error> {
    serde_json::from_str(raw.get())
}

impl RequestMeta {
    /// No `_meta`.
    pub(crate) fn empty() -> Self {
        RequestMeta {
            raw: None,
            map: OnceLock::from(Meta::new()),
            progress_token: None,
            trace: None,
        }
    }

    /// A request's raw `_meta` (`None`: it has none), and the members a modern request carries
    /// about its client; an error when it is not an object. Members of the wrong type count as
    /// absent, as [`Meta`]'s accessors read them, except the client capabilities, whose error
    /// is kept for the modern era to refuse the request with.
    ///
    /// `members`: those of the same `_meta`, read where the params were peeked at
    /// ([`Reserved::members`]); taken only for an object (a struct reads from an array too,
    /// which `_meta` must not be), and `_meta` is then not scanned again.
    pub(crate) fn read(
        raw: Option<&RawValue>,
        members: Option<Members>,
    ) -> Result<(Self, ClientMembers), serde_json::Error> {
        if let (Some(raw), Some(members)) = (raw, members)
            && raw.get().starts_with('{')
        {
            let meta = RequestMeta {
                raw: Some(raw.to_owned()),
                map: OnceLock::new(),
                progress_token: members.progress_token,
                trace: members.trace,
            };
            return Ok((meta, members.client));
        }
        let Some(raw) = raw else {
            return Ok((RequestMeta::empty(), ClientMembers::default()));
        };
        // (A struct reads from an array too: only an object is peeked at.)
        let peeked = if raw.get().starts_with('{') {
            serde_json::from_str::<Reserved<'_>>(raw.get()).ok()
        } else {
            None
        };
        let (map, members) = match peeked {
            Some(reserved) => (OnceLock::new(), reserved.members()),
            // A member given twice (a map keeps the last) or a `_meta` that is no object: the
            // map says which; its text, with each member once, gives the members.
            None => {
                let meta: Meta = read(raw)?;
                let text = serde_json::to_string(&meta)?;
                let reserved = serde_json::from_str::<Reserved<'_>>(&text)?;
                (OnceLock::from(meta), reserved.members())
            }
        };
        let Members {
            progress_token,
            trace,
            client,
        } = members;
        let meta = RequestMeta {
            raw: Some(raw.to_owned()),
            map,
            progress_token,
            trace,
        };
        Ok((meta, client))
    }

    /// The `_meta`, read into a map the first time.
    pub(crate) fn get(&self) -> &Meta {
        self.map.get_or_init(|| {
            self.raw
                .as_deref()
                .and_then(|raw| read(raw).ok())
                .unwrap_or_default()
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use serde_json::value::RawValue;

    use super::{ParamsMeta, RequestMeta};
    use crate::trace::TraceParentError;

    fn raw(v: serde_json::Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(&v).unwrap()
    }

    #[test]
    fn reads_what_the_accessors_of_a_map_read() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let text = raw(json!({
            "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
            "io.modelcontextprotocol/clientInfo": {"name": "c", "version": "1"},
            "io.modelcontextprotocol/logLevel": "info",
            "progressToken": 7,
            "traceparent": tp,
            "mine": [1],
        }));
        let (meta, client) = RequestMeta::read(Some(&text), None).unwrap();
        let map = meta.get().clone();
        assert_eq!(meta.progress_token, map.progress_token().unwrap());
        assert_eq!(meta.trace, crate::trace::TraceContext::from_meta(&map));
        assert!(client.capabilities.unwrap().is_ok());
        let side = client.side.unwrap();
        assert_eq!(
            side.capabilities,
            map.client_capabilities().unwrap().unwrap()
        );
        assert_eq!(side.info, map.client_info().unwrap());
        assert_eq!(client.log_level, map.log_level().unwrap());
        assert_eq!(map.get_raw("mine"), Some(&json!([1])));
    }

    #[test]
    fn members_of_the_wrong_type_are_absent_and_a_non_object_is_an_error() {
        let text = raw(json!({
            "io.modelcontextprotocol/clientCapabilities": 3,
            "io.modelcontextprotocol/logLevel": "loud",
            "progressToken": {},
            "traceparent": 5,
        }));
        let (meta, client) = RequestMeta::read(Some(&text), None).unwrap();
        assert!(client.capabilities.unwrap().is_err());
        assert!(client.log_level.is_none());
        assert!(meta.progress_token.is_none());
        assert_eq!(meta.trace, Some(Err(TraceParentError::NotAString)));
        assert!(RequestMeta::read(Some(&raw(json!(5))), None).is_err());
        assert!(RequestMeta::read(Some(&raw(json!([]))), None).is_err());
    }

    #[test]
    fn members_read_in_the_peek_at_the_params_are_those_read_from_meta() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let params = json!({
            "name": "add",
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
                "io.modelcontextprotocol/clientInfo": {"name": "c", "version": "1"},
                "io.modelcontextprotocol/logLevel": "info",
                "progressToken": "p",
                "traceparent": tp,
            },
        })
        .to_string();
        let peek: ParamsMeta<'_> = serde_json::from_str(&params).unwrap();
        let reserved = peek.meta.unwrap();
        assert_eq!(reserved.protocol_version().as_deref(), Some("2026-07-28"));
        #[cfg(feature = "http")]
        assert!(reserved.has_client_capabilities());
        let meta =
            raw(serde_json::from_str::<serde_json::Value>(&params).unwrap()["_meta"].clone());
        let (given, given_client) =
            RequestMeta::read(Some(&meta), Some(reserved.members())).unwrap();
        let (read, read_client) = RequestMeta::read(Some(&meta), None).unwrap();
        assert_eq!(given.progress_token, read.progress_token);
        assert_eq!(given.progress_token, Some("p".into()));
        assert_eq!(given.trace, read.trace);
        assert!(given.trace.as_ref().is_some_and(Result::is_ok));
        assert_eq!(given.get(), read.get());
        assert_eq!(given_client.log_level, read_client.log_level);
        assert!(given_client.capabilities.unwrap().is_ok());
        assert!(read_client.capabilities.unwrap().is_ok());
        let (given_side, read_side) = (given_client.side.unwrap(), read_client.side.unwrap());
        assert_eq!(given_side.info, read_side.info);
        assert_eq!(given_side.capabilities, read_side.capabilities);
        assert!(given_side.capabilities.sampling.is_some());
        // A `_meta` that is no object is refused, whatever was read of it.
        let array: ParamsMeta<'_> = serde_json::from_str(r#"{"_meta":["2026-07-28",{}]}"#).unwrap();
        let members = array.meta.unwrap().members();
        assert!(RequestMeta::read(Some(&raw(json!(["2026-07-28", {}]))), Some(members)).is_err());
    }

    #[test]
    fn of_a_member_given_twice_the_last_counts() {
        let text =
            RawValue::from_string(r#"{"progressToken":1,"progressToken":"t"}"#.to_owned()).unwrap();
        let (meta, _) = RequestMeta::read(Some(&text), None).unwrap();
        assert_eq!(meta.progress_token, Some("t".into()));
        assert_eq!(meta.get().get_raw("progressToken"), Some(&json!("t")));
    }
}
