//! Methods as types, typed messages, and enums that dispatch by method for each direction.
//!
//! Each method has a marker type implementing [`RequestMethod`] or [`NotificationMethod`], which
//! names its params and result types: a typed client calls `request::<CallTool>(params)` and gets a
//! `CallTool::Result`. A router parses an incoming request into [`ClientRequest`] (or
//! [`ServerRequest`], ...) and matches on the variant; [`ClientRequest::parse_for`] also refuses
//! methods the peer's protocol version does not have.

use serde::de::{DeserializeOwned, Error as _};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::jsonrpc::{
    ErrorObject, JsonRpcNotification, JsonRpcRequest, JsonRpcVersion, RequestId, from_raw, to_raw,
};
use crate::types::*;
use crate::version::{Feature, ProtocolVersion};

/// A request method: its name, params and result.
pub trait RequestMethod {
    /// The method name on the wire.
    const METHOD: &'static str;
    /// Its params (an `Option` where the params may be left out).
    type Params: Serialize + DeserializeOwned;
    /// Its result.
    type Result: Serialize + DeserializeOwned;
    /// Whether a peer speaking `version` knows the method.
    fn available_in(version: ProtocolVersion) -> bool;
}

/// A notification method: its name and params.
pub trait NotificationMethod {
    /// The method name on the wire.
    const METHOD: &'static str;
    /// Its params (an `Option` where the params may be left out).
    type Params: Serialize + DeserializeOwned;
    /// Whether a peer speaking `version` knows the method.
    fn available_in(version: ProtocolVersion) -> bool;
}

fn any(_: ProtocolVersion) -> bool {
    true
}

macro_rules! request_methods {
    ($( $(#[$m:meta])* $name:ident = $method:literal, $params:ty => $result:ty, $avail:expr; )*) => {
        $(
            $(#[$m])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
            pub struct $name;

            impl RequestMethod for $name {
                const METHOD: &'static str = $method;
                type Params = $params;
                type Result = $result;
                fn available_in(version: ProtocolVersion) -> bool {
                    let f: fn(ProtocolVersion) -> bool = $avail;
                    f(version)
                }
            }
        )*
    };
}

macro_rules! notification_methods {
    ($( $(#[$m:meta])* $name:ident = $method:literal, $params:ty, $avail:expr; )*) => {
        $(
            $(#[$m])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
            pub struct $name;

            impl NotificationMethod for $name {
                const METHOD: &'static str = $method;
                type Params = $params;
                fn available_in(version: ProtocolVersion) -> bool {
                    let f: fn(ProtocolVersion) -> bool = $avail;
                    f(version)
                }
            }
        )*
    };
}

fn tasks_either(v: ProtocolVersion) -> bool {
    v.supports(Feature::LegacyTasks) || v.supports(Feature::Extensions)
}

request_methods! {
    /// `initialize`: starts a legacy session.
    Initialize = "initialize", InitializeRequestParams => InitializeResult, |v| v.supports(Feature::Handshake);
    /// `ping` (legacy era, either direction).
    Ping = "ping", Option<RequestParams> => EmptyResult, |v| v.supports(Feature::Handshake);
    /// `server/discover` (modern era).
    Discover = "server/discover", Option<RequestParams> => DiscoverResult, |v| v.supports(Feature::Discover);
    /// `tools/list`.
    ListTools = "tools/list", Option<PaginatedRequestParams> => ListToolsResult, any;
    /// `tools/call`.
    CallTool = "tools/call", CallToolRequestParams => Outcome<CallToolResult>, any;
    /// `resources/list`.
    ListResources = "resources/list", Option<PaginatedRequestParams> => ListResourcesResult, any;
    /// `resources/templates/list`.
    ListResourceTemplates = "resources/templates/list", Option<PaginatedRequestParams> => ListResourceTemplatesResult, any;
    /// `resources/read`.
    ReadResource = "resources/read", ReadResourceRequestParams => Outcome<ReadResourceResult>, any;
    /// `resources/subscribe` (legacy era).
    Subscribe = "resources/subscribe", SubscribeRequestParams => EmptyResult, |v| v.supports(Feature::ResourceSubscribe);
    /// `resources/unsubscribe` (legacy era).
    Unsubscribe = "resources/unsubscribe", UnsubscribeRequestParams => EmptyResult, |v| v.supports(Feature::ResourceSubscribe);
    /// `subscriptions/listen` (modern era).
    SubscriptionsListen = "subscriptions/listen", SubscriptionsListenRequestParams => SubscriptionsListenResult, |v| v.supports(Feature::SubscriptionsListen);
    /// `prompts/list`.
    ListPrompts = "prompts/list", Option<PaginatedRequestParams> => ListPromptsResult, any;
    /// `prompts/get`.
    GetPrompt = "prompts/get", GetPromptRequestParams => Outcome<GetPromptResult>, any;
    /// `completion/complete`.
    Complete = "completion/complete", CompleteRequestParams => CompleteResult, any;
    /// `logging/setLevel` (legacy era).
    SetLevel = "logging/setLevel", SetLevelRequestParams => EmptyResult, |v| v.supports(Feature::SetLogLevel);
    /// `tasks/get` of the tasks extension (modern era).
    GetTask = "tasks/get", TaskIdParams => TaskResult, tasks_either;
    /// `tasks/get` of the experimental tasks of 2025-11-25.
    LegacyGetTask = "tasks/get", TaskIdParams => LegacyTaskResult, tasks_either;
    /// `tasks/result` (2025-11-25): the result of the task's request.
    LegacyTaskPayload = "tasks/result", TaskIdParams => JsonObject, |v| v.supports(Feature::LegacyTasks);
    /// `tasks/list` (2025-11-25).
    LegacyListTasks = "tasks/list", Option<PaginatedRequestParams> => LegacyListTasksResult, |v| v.supports(Feature::LegacyTasks);
    /// `tasks/cancel` of the tasks extension (modern era).
    CancelTask = "tasks/cancel", TaskIdParams => EmptyResult, tasks_either;
    /// `tasks/cancel` of the experimental tasks of 2025-11-25.
    LegacyCancelTask = "tasks/cancel", TaskIdParams => LegacyTaskResult, tasks_either;
    /// `tasks/update` of the tasks extension (modern era).
    UpdateTask = "tasks/update", UpdateTaskRequestParams => EmptyResult, |v| v.supports(Feature::Extensions);
    /// `sampling/createMessage` (server to client).
    CreateMessage = "sampling/createMessage", CreateMessageRequestParams => CreateMessageResult, any;
    /// `roots/list` (server to client).
    ListRoots = "roots/list", Option<RequestParams> => ListRootsResult, any;
    /// `elicitation/create` (server to client, 2025-06-18 on).
    Elicit = "elicitation/create", ElicitRequestParams => ElicitResult, |v| v.supports(Feature::Elicitation);
}

notification_methods! {
    /// `notifications/initialized` (client, legacy era).
    Initialized = "notifications/initialized", Option<NotificationParams>, |v| v.supports(Feature::Handshake);
    /// `notifications/cancelled`.
    Cancelled = "notifications/cancelled", CancelledNotificationParams, any;
    /// `notifications/progress`.
    Progress = "notifications/progress", ProgressNotificationParams, any;
    /// `notifications/roots/list_changed` (client, legacy era).
    RootsListChanged = "notifications/roots/list_changed", Option<NotificationParams>, |v| v.supports(Feature::Handshake);
    /// `notifications/message`: a log message.
    LoggingMessage = "notifications/message", LoggingMessageNotificationParams, any;
    /// `notifications/resources/updated`.
    ResourceUpdated = "notifications/resources/updated", ResourceUpdatedNotificationParams, any;
    /// `notifications/resources/list_changed`.
    ResourceListChanged = "notifications/resources/list_changed", Option<NotificationParams>, any;
    /// `notifications/tools/list_changed`.
    ToolListChanged = "notifications/tools/list_changed", Option<NotificationParams>, any;
    /// `notifications/prompts/list_changed`.
    PromptListChanged = "notifications/prompts/list_changed", Option<NotificationParams>, any;
    /// `notifications/elicitation/complete` (2025-11-25).
    ElicitationComplete = "notifications/elicitation/complete", ElicitationCompleteNotificationParams, |v| v.supports(Feature::UrlElicitation) && v.supports(Feature::Handshake);
    /// `notifications/tasks/status` of the tasks extension (modern era).
    TaskStatusNotification = "notifications/tasks/status", TaskResult, tasks_either;
    /// `notifications/tasks/status` of 2025-11-25.
    LegacyTaskStatusNotification = "notifications/tasks/status", LegacyTaskResult, tasks_either;
    /// `notifications/subscriptions/acknowledged` (modern era).
    SubscriptionsAcknowledged = "notifications/subscriptions/acknowledged", SubscriptionsAcknowledgedNotificationParams, |v| v.supports(Feature::SubscriptionsListen);
}

/// Reads params that may be absent: absent params read as JSON `null`, which an `Option` takes as
/// `None` and a struct refuses ("invalid type: null, expected ..."). Through serde's unit
/// deserializer rather than `Value::Null`: the same answers, without instantiating every params
/// type's deserializer a second time for `Value` (objects and arrays a null never holds).
fn params_from_raw<T: DeserializeOwned>(raw: Option<&RawValue>) -> Result<T, serde_json::Error> {
    match raw {
        Some(raw) => serde_json::from_str(raw.get()),
        None => T::deserialize(serde::de::value::UnitDeserializer::<serde_json::Error>::new()),
    }
}

/// A typed request: the method comes from `M`. The id and `jsonrpc` are optional so that the same
/// type describes requests nested in other messages (input requests carry neither).
#[derive(Debug, Clone, PartialEq)]
pub struct Request<M: RequestMethod> {
    /// `"2.0"`, when the request travels as a JSON-RPC message.
    pub jsonrpc: Option<JsonRpcVersion>,
    /// The id, when the request travels as a JSON-RPC message.
    pub id: Option<RequestId>,
    /// The params.
    pub params: M::Params,
}

impl<M: RequestMethod> Request<M> {
    /// A JSON-RPC request with an id.
    pub fn new(id: impl Into<RequestId>, params: M::Params) -> Self {
        Request {
            jsonrpc: Some(JsonRpcVersion),
            id: Some(id.into()),
            params,
        }
    }

    /// The envelope form, ready for the codec.
    pub fn into_jsonrpc(self, id: RequestId) -> Result<JsonRpcRequest, serde_json::Error> {
        let params = to_raw(&self.params)?;
        Ok(JsonRpcRequest {
            id,
            method: M::METHOD.to_owned(),
            params: (params.get() != "null").then_some(params),
        })
    }
}

impl<M: RequestMethod> Serialize for Request<M> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(v) = &self.jsonrpc {
            map.serialize_entry("jsonrpc", v)?;
        }
        if let Some(id) = &self.id {
            map.serialize_entry("id", id)?;
        }
        map.serialize_entry("method", M::METHOD)?;
        let params = serde_json::to_value(&self.params).map_err(serde::ser::Error::custom)?;
        if !params.is_null() {
            map.serialize_entry("params", &params)?;
        }
        map.end()
    }
}

#[derive(Deserialize)]
struct RawTyped {
    #[serde(default)]
    jsonrpc: Option<JsonRpcVersion>,
    #[serde(default)]
    id: Option<RequestId>,
    method: String,
    #[serde(default)]
    params: Option<Box<RawValue>>,
}

impl<'de, M: RequestMethod> Deserialize<'de> for Request<M> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawTyped::deserialize(d)?;
        if raw.method != M::METHOD {
            return Err(D::Error::custom(format!(
                "expected method `{}`, found `{}`",
                M::METHOD,
                raw.method
            )));
        }
        Ok(Request {
            jsonrpc: raw.jsonrpc,
            id: raw.id,
            params: params_from_raw(raw.params.as_deref()).map_err(D::Error::custom)?,
        })
    }
}

/// A typed notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification<M: NotificationMethod> {
    /// `"2.0"`, when the notification travels as a JSON-RPC message.
    pub jsonrpc: Option<JsonRpcVersion>,
    /// The params.
    pub params: M::Params,
}

impl<M: NotificationMethod> Notification<M> {
    /// A JSON-RPC notification.
    pub fn new(params: M::Params) -> Self {
        Notification {
            jsonrpc: Some(JsonRpcVersion),
            params,
        }
    }

    /// The envelope form, ready for the codec.
    pub fn into_jsonrpc(self) -> Result<JsonRpcNotification, serde_json::Error> {
        let params = to_raw(&self.params)?;
        Ok(JsonRpcNotification {
            method: M::METHOD.to_owned(),
            params: (params.get() != "null").then_some(params),
        })
    }
}

impl<M: NotificationMethod> Serialize for Notification<M> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(v) = &self.jsonrpc {
            map.serialize_entry("jsonrpc", v)?;
        }
        map.serialize_entry("method", M::METHOD)?;
        let params = serde_json::to_value(&self.params).map_err(serde::ser::Error::custom)?;
        if !params.is_null() {
            map.serialize_entry("params", &params)?;
        }
        map.end()
    }
}

impl<'de, M: NotificationMethod> Deserialize<'de> for Notification<M> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawTyped::deserialize(d)?;
        if raw.method != M::METHOD {
            return Err(D::Error::custom(format!(
                "expected method `{}`, found `{}`",
                M::METHOD,
                raw.method
            )));
        }
        if raw.id.is_some() {
            return Err(D::Error::custom("a notification has no id"));
        }
        Ok(Notification {
            jsonrpc: raw.jsonrpc,
            params: params_from_raw(raw.params.as_deref()).map_err(D::Error::custom)?,
        })
    }
}

/// A typed successful response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response<R> {
    /// `"2.0"`.
    pub jsonrpc: JsonRpcVersion,
    /// The id of the request it answers.
    pub id: RequestId,
    /// The result.
    pub result: R,
}

impl<R> Response<R> {
    /// A response.
    pub fn new(id: RequestId, result: R) -> Self {
        Response {
            jsonrpc: JsonRpcVersion,
            id,
            result,
        }
    }
}

/// A typed error response (the id is null when the request's id could not be read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// `"2.0"`.
    pub jsonrpc: JsonRpcVersion,
    /// The id of the request it answers.
    pub id: Option<RequestId>,
    /// The error.
    pub error: ErrorObject,
}

macro_rules! dispatch_enum {
    (
        $(#[$m:meta])* $name:ident : $trait:ident {
            $( $(#[$vm:meta])* $variant:ident($marker:ty), )*
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq)]
        // Parsed once and matched at once; boxing the large variants would only add allocations.
        #[allow(clippy::large_enum_variant)]
        pub enum $name {
            $( $(#[$vm])* $variant(<$marker as $trait>::Params), )*
        }

        // `parse`, `parse_for` and `params_raw` instantiate serde's code for the params of
        // every method of the enum. They are `#[inline]` so that each is compiled in the crate
        // that calls it, not here: a server then never compiles the parsing only a client needs,
        // nor the reverse (40% of this crate's LLVM IR went; README, "Building").
        impl $name {
            /// The method name.
            pub fn method(&self) -> &'static str {
                match self {
                    $( $name::$variant(_) => <$marker as $trait>::METHOD, )*
                }
            }

            /// Whether `method` is one of this enum's.
            pub fn knows(method: &str) -> bool {
                matches!(method, $( <$marker as $trait>::METHOD )|*)
            }

            /// Parses a method and its raw params. An unknown method gives -32601, params that do
            /// not fit the method give -32602.
            #[inline]
            pub fn parse(method: &str, params: Option<&RawValue>) -> Result<Self, ErrorObject> {
                $(
                    if method == <$marker as $trait>::METHOD {
                        return params_from_raw(params)
                            .map($name::$variant)
                            .map_err(|e| ErrorObject::invalid_params(format!("invalid params for `{method}`: {e}")));
                    }
                )*
                Err(ErrorObject::method_not_found(method))
            }

            /// Like [`Self::parse`], and also -32601 for a method that `version` does not have,
            /// whatever its params: a method the version lacks is unknown, not misused.
            #[inline]
            pub fn parse_for(
                version: ProtocolVersion,
                method: &str,
                params: Option<&RawValue>,
            ) -> Result<Self, ErrorObject> {
                $(
                    if method == <$marker as $trait>::METHOD
                        && !<$marker as $trait>::available_in(version)
                    {
                        return Err(ErrorObject::method_not_found(method));
                    }
                )*
                Self::parse(method, params)
            }

            /// Like [`Self::parse_for`], with the params' `_meta` set aside, raw (borrowed from
            /// `params`), instead of read into the params (whose own `_meta` is then `None`):
            /// for a server that reads a few reserved members of each request's `_meta` and
            /// the rest only if asked. A `null` `_meta` is none; of two, the last is kept.
            #[inline]
            pub fn parse_for_meta_apart<'p>(
                version: ProtocolVersion,
                method: &str,
                params: Option<&'p RawValue>,
            ) -> Result<(Self, Option<&'p RawValue>), ErrorObject> {
                $(
                    if method == <$marker as $trait>::METHOD {
                        if !<$marker as $trait>::available_in(version) {
                            return Err(ErrorObject::method_not_found(method));
                        }
                        return crate::meta_apart::from_params(params)
                            .map(|(p, meta)| ($name::$variant(p), meta))
                            .map_err(|e| ErrorObject::invalid_params(format!("invalid params for `{method}`: {e}")));
                    }
                )*
                Err(ErrorObject::method_not_found(method))
            }

            /// Whether a peer speaking `version` knows this method.
            pub fn available_in(&self, version: ProtocolVersion) -> bool {
                match self {
                    $( $name::$variant(_) => <$marker as $trait>::available_in(version), )*
                }
            }

            /// The params as raw JSON (`None` where there are none to send).
            #[inline]
            pub fn params_raw(&self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
                let raw = match self {
                    $( $name::$variant(p) => to_raw(p)?, )*
                };
                Ok((raw.get() != "null").then_some(raw))
            }
        }
    };
}

dispatch_enum! {
    /// A request from client to server, of either era.
    ClientRequest: RequestMethod {
        /// `initialize`.
        Initialize(Initialize),
        /// `ping`.
        Ping(Ping),
        /// `server/discover`.
        Discover(Discover),
        /// `tools/list`.
        ListTools(ListTools),
        /// `tools/call`.
        CallTool(CallTool),
        /// `resources/list`.
        ListResources(ListResources),
        /// `resources/templates/list`.
        ListResourceTemplates(ListResourceTemplates),
        /// `resources/read`.
        ReadResource(ReadResource),
        /// `resources/subscribe`.
        Subscribe(Subscribe),
        /// `resources/unsubscribe`.
        Unsubscribe(Unsubscribe),
        /// `subscriptions/listen`.
        SubscriptionsListen(SubscriptionsListen),
        /// `prompts/list`.
        ListPrompts(ListPrompts),
        /// `prompts/get`.
        GetPrompt(GetPrompt),
        /// `completion/complete`.
        Complete(Complete),
        /// `logging/setLevel`.
        SetLevel(SetLevel),
        /// `tasks/get`.
        GetTask(GetTask),
        /// `tasks/result`.
        TaskPayload(LegacyTaskPayload),
        /// `tasks/list`.
        ListTasks(LegacyListTasks),
        /// `tasks/cancel`.
        CancelTask(CancelTask),
        /// `tasks/update`.
        UpdateTask(UpdateTask),
    }
}

dispatch_enum! {
    /// A request from server to client (legacy era; the modern era sends these as input requests).
    ServerRequest: RequestMethod {
        /// `ping`.
        Ping(Ping),
        /// `sampling/createMessage`.
        CreateMessage(CreateMessage),
        /// `roots/list`.
        ListRoots(ListRoots),
        /// `elicitation/create`.
        Elicit(Elicit),
        /// `tasks/get`.
        GetTask(LegacyGetTask),
        /// `tasks/result`.
        TaskPayload(LegacyTaskPayload),
        /// `tasks/list`.
        ListTasks(LegacyListTasks),
        /// `tasks/cancel`.
        CancelTask(LegacyCancelTask),
    }
}

dispatch_enum! {
    /// A notification from client to server.
    ClientNotification: NotificationMethod {
        /// `notifications/initialized`.
        Initialized(Initialized),
        /// `notifications/cancelled`.
        Cancelled(Cancelled),
        /// `notifications/progress`.
        Progress(Progress),
        /// `notifications/roots/list_changed`.
        RootsListChanged(RootsListChanged),
        /// `notifications/tasks/status`.
        TaskStatus(LegacyTaskStatusNotification),
    }
}

dispatch_enum! {
    /// A notification from server to client.
    ServerNotification: NotificationMethod {
        /// `notifications/cancelled`.
        Cancelled(Cancelled),
        /// `notifications/progress`.
        Progress(Progress),
        /// `notifications/message`.
        LoggingMessage(LoggingMessage),
        /// `notifications/resources/updated`.
        ResourceUpdated(ResourceUpdated),
        /// `notifications/resources/list_changed`.
        ResourceListChanged(ResourceListChanged),
        /// `notifications/tools/list_changed`.
        ToolListChanged(ToolListChanged),
        /// `notifications/prompts/list_changed`.
        PromptListChanged(PromptListChanged),
        /// `notifications/elicitation/complete`.
        ElicitationComplete(ElicitationComplete),
        /// `notifications/tasks/status`.
        TaskStatus(TaskStatusNotification),
        /// `notifications/subscriptions/acknowledged`.
        SubscriptionsAcknowledged(SubscriptionsAcknowledged),
    }
}

impl ClientRequest {
    /// The request's `_meta`, where its params have one.
    pub fn meta(&self) -> Option<&crate::Meta> {
        match self {
            ClientRequest::Initialize(p) => p.meta.as_ref(),
            ClientRequest::Ping(p) | ClientRequest::Discover(p) => p.as_ref()?.meta.as_ref(),
            ClientRequest::ListTools(p)
            | ClientRequest::ListResources(p)
            | ClientRequest::ListResourceTemplates(p)
            | ClientRequest::ListPrompts(p)
            | ClientRequest::ListTasks(p) => p.as_ref()?.meta.as_ref(),
            ClientRequest::CallTool(p) => p.meta.as_ref(),
            ClientRequest::ReadResource(p) => p.meta.as_ref(),
            ClientRequest::Subscribe(p) | ClientRequest::Unsubscribe(p) => p.meta.as_ref(),
            ClientRequest::SubscriptionsListen(p) => p.meta.as_ref(),
            ClientRequest::GetPrompt(p) => p.meta.as_ref(),
            ClientRequest::Complete(p) => p.meta.as_ref(),
            ClientRequest::SetLevel(p) => p.meta.as_ref(),
            ClientRequest::GetTask(p)
            | ClientRequest::TaskPayload(p)
            | ClientRequest::CancelTask(p) => p.meta.as_ref(),
            ClientRequest::UpdateTask(p) => p.meta.as_ref(),
        }
    }

    /// Takes the request's `_meta` out of its params (where they have one), leaving none.
    pub fn take_meta(&mut self) -> Option<crate::Meta> {
        match self {
            ClientRequest::Initialize(p) => p.meta.take(),
            ClientRequest::Ping(p) | ClientRequest::Discover(p) => p.as_mut()?.meta.take(),
            ClientRequest::ListTools(p)
            | ClientRequest::ListResources(p)
            | ClientRequest::ListResourceTemplates(p)
            | ClientRequest::ListPrompts(p)
            | ClientRequest::ListTasks(p) => p.as_mut()?.meta.take(),
            ClientRequest::CallTool(p) => p.meta.take(),
            ClientRequest::ReadResource(p) => p.meta.take(),
            ClientRequest::Subscribe(p) | ClientRequest::Unsubscribe(p) => p.meta.take(),
            ClientRequest::SubscriptionsListen(p) => p.meta.take(),
            ClientRequest::GetPrompt(p) => p.meta.take(),
            ClientRequest::Complete(p) => p.meta.take(),
            ClientRequest::SetLevel(p) => p.meta.take(),
            ClientRequest::GetTask(p)
            | ClientRequest::TaskPayload(p)
            | ClientRequest::CancelTask(p) => p.meta.take(),
            ClientRequest::UpdateTask(p) => p.meta.take(),
        }
    }

    /// Builds the JSON-RPC request.
    pub fn into_jsonrpc(self, id: RequestId) -> Result<JsonRpcRequest, serde_json::Error> {
        Ok(JsonRpcRequest {
            id,
            method: self.method().to_owned(),
            params: self.params_raw()?,
        })
    }
}

/// Parses a result for `M` from a raw result.
pub fn parse_result<M: RequestMethod>(raw: &RawValue) -> Result<M::Result, serde_json::Error> {
    from_raw(Some(raw))
}

// Message aliases named as in the official schema.

/// `initialize` request.
pub type InitializeRequest = Request<Initialize>;
/// `ping` request.
pub type PingRequest = Request<Ping>;
/// `server/discover` request.
pub type DiscoverRequest = Request<Discover>;
/// `tools/list` request.
pub type ListToolsRequest = Request<ListTools>;
/// `tools/call` request.
pub type CallToolRequest = Request<CallTool>;
/// `resources/list` request.
pub type ListResourcesRequest = Request<ListResources>;
/// `resources/templates/list` request.
pub type ListResourceTemplatesRequest = Request<ListResourceTemplates>;
/// `resources/read` request.
pub type ReadResourceRequest = Request<ReadResource>;
/// `resources/subscribe` request.
pub type SubscribeRequest = Request<Subscribe>;
/// `resources/unsubscribe` request.
pub type UnsubscribeRequest = Request<Unsubscribe>;
/// `subscriptions/listen` request.
pub type SubscriptionsListenRequest = Request<SubscriptionsListen>;
/// `prompts/list` request.
pub type ListPromptsRequest = Request<ListPrompts>;
/// `prompts/get` request.
pub type GetPromptRequest = Request<GetPrompt>;
/// `completion/complete` request.
pub type CompleteRequest = Request<Complete>;
/// `logging/setLevel` request.
pub type SetLevelRequest = Request<SetLevel>;
/// `sampling/createMessage` request.
pub type CreateMessageRequest = Request<CreateMessage>;
/// `roots/list` request.
pub type ListRootsRequest = Request<ListRoots>;
/// `elicitation/create` request.
pub type ElicitRequest = Request<Elicit>;
/// `tasks/get` request.
pub type GetTaskRequest = Request<GetTask>;
/// `tasks/update` request.
pub type UpdateTaskRequest = Request<UpdateTask>;
/// `tasks/cancel` request.
pub type CancelTaskRequest = Request<CancelTask>;

/// `notifications/initialized`.
pub type InitializedNotification = Notification<Initialized>;
/// `notifications/cancelled`.
pub type CancelledNotification = Notification<Cancelled>;
/// `notifications/progress`.
pub type ProgressNotification = Notification<Progress>;
/// `notifications/message`.
pub type LoggingMessageNotification = Notification<LoggingMessage>;
/// `notifications/resources/updated`.
pub type ResourceUpdatedNotification = Notification<ResourceUpdated>;
/// `notifications/resources/list_changed`.
pub type ResourceListChangedNotification = Notification<ResourceListChanged>;
/// `notifications/tools/list_changed`.
pub type ToolListChangedNotification = Notification<ToolListChanged>;
/// `notifications/prompts/list_changed`.
pub type PromptListChangedNotification = Notification<PromptListChanged>;
/// `notifications/roots/list_changed`.
pub type RootsListChangedNotification = Notification<RootsListChanged>;
/// `notifications/elicitation/complete`.
pub type ElicitationCompleteNotification = Notification<ElicitationComplete>;
/// `notifications/subscriptions/acknowledged`.
pub type SubscriptionsAcknowledgedNotification = Notification<SubscriptionsAcknowledged>;

/// Response to `server/discover`.
pub type DiscoverResultResponse = Response<DiscoverResult>;
/// Response to `tools/list`.
pub type ListToolsResultResponse = Response<ListToolsResult>;
/// Response to `tools/call`.
pub type CallToolResultResponse = Response<Outcome<CallToolResult>>;
/// Response to `resources/list`.
pub type ListResourcesResultResponse = Response<ListResourcesResult>;
/// Response to `resources/templates/list`.
pub type ListResourceTemplatesResultResponse = Response<ListResourceTemplatesResult>;
/// Response to `resources/read`.
pub type ReadResourceResultResponse = Response<Outcome<ReadResourceResult>>;
/// Response to `subscriptions/listen`.
pub type SubscriptionsListenResultResponse = Response<SubscriptionsListenResult>;
/// Response to `prompts/list`.
pub type ListPromptsResultResponse = Response<ListPromptsResult>;
/// Response to `prompts/get`.
pub type GetPromptResultResponse = Response<Outcome<GetPromptResult>>;
/// Response to `completion/complete`.
pub type CompleteResultResponse = Response<CompleteResult>;

/// An error response with code -32020.
pub type HeaderMismatchError = ErrorResponse;
/// An error response with code -32021.
pub type MissingRequiredClientCapabilityError = ErrorResponse;
/// An error response with code -32022.
pub type UnsupportedProtocolVersionError = ErrorResponse;
/// An error response with code -32042.
pub type UrlElicitationRequiredError = ErrorResponse;
/// The error object of -32700.
pub type ParseError = ErrorObject;
/// The error object of -32600.
pub type InvalidRequestError = ErrorObject;
/// The error object of -32601.
pub type MethodNotFoundError = ErrorObject;
/// The error object of -32602.
pub type InvalidParamsError = ErrorObject;
/// The error object of -32603.
pub type InternalError = ErrorObject;
