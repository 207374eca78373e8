//! What the application answers when a server asks something of it, and what it hears.

use std::future::Future;

use futures::future::BoxFuture;
use mcp_core::ErrorObject;
use mcp_core::types::{
    CreateMessageRequestParams, CreateMessageResult, ElicitAction, ElicitRequestParams,
    ElicitResult, LoggingMessageNotificationParams, NumberType, PrimitiveSchemaDefinition,
    ProgressNotificationParams, Root,
};

/// The application's side of the conversation: answers to elicitation, sampling and roots
/// (legacy server-to-client requests and modern `input_required` rounds alike), and callbacks for
/// notifications. Every method has a default: elicitation is declined, sampling and roots are
/// refused, notifications are ignored. The capabilities the client declares follow from
/// [`ClientHandler::capabilities`].
pub trait ClientHandler: Send + Sync + 'static {
    /// What the client declares: which of elicitation, sampling and roots it answers.
    fn capabilities(&self) -> HandlerCapabilities {
        HandlerCapabilities::default()
    }

    /// What the requests of a call made with this handler declare in the modern era (where each
    /// request carries the client's capabilities), instead of the client's own: a gateway
    /// relaying a call declares what its caller can answer. `None` (the default): the client's.
    fn call_capabilities(&self) -> Option<HandlerCapabilities> {
        None
    }

    /// Members added to the `_meta` of the requests made with this handler: a client that
    /// traces its calls sends its trace context (`traceparent`), a gateway passes on its
    /// caller's. A member the request sets itself wins; the progress token and the protocol's
    /// own members (prefixes with a `modelcontextprotocol` or `mcp` label) are never taken from
    /// here. The handler of a call's scope is asked, else the client's; `None` by default.
    fn request_meta(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        None
    }

    /// Answers an elicitation (form or URL). Declines by default.
    fn elicit(
        &self,
        params: ElicitRequestParams,
    ) -> impl Future<Output = Result<ElicitResult, ErrorObject>> + Send {
        let _ = params;
        async {
            Ok(ElicitResult {
                action: ElicitAction::Decline,
                content: None,
                meta: None,
            })
        }
    }

    /// Answers a sampling request. Refused by default.
    fn sample(
        &self,
        params: CreateMessageRequestParams,
    ) -> impl Future<Output = Result<CreateMessageResult, ErrorObject>> + Send {
        let _ = params;
        async { Err(ErrorObject::method_not_found("sampling/createMessage")) }
    }

    /// Lists the roots. Refused by default.
    fn roots(&self) -> impl Future<Output = Result<Vec<Root>, ErrorObject>> + Send {
        async { Err(ErrorObject::method_not_found("roots/list")) }
    }

    /// A progress notification for one of this client's requests.
    fn on_progress(&self, params: &ProgressNotificationParams) {
        let _ = params;
    }

    /// A log message.
    fn on_log(&self, params: &LoggingMessageNotificationParams) {
        let _ = params;
    }

    /// A list changed, or a subscribed resource was updated.
    fn on_change(&self, change: Change) {
        let _ = change;
    }
}

tokio::task_local! {
    /// The key of the modern-era input request a handler is answering.
    pub(crate) static INPUT_KEY: String;
}

/// Inside a [`ClientHandler`] method answering a modern-era `input_required` round: the key the
/// server gave this input request; `None` for legacy server-to-client requests. A handler that
/// relays the request to its own caller (a gateway) asks under the same key.
pub fn input_key() -> Option<String> {
    INPUT_KEY.try_with(Clone::clone).ok()
}

/// The code of [`defer_input`]'s error (never sent to a server).
pub const INPUT_DEFERRED: mcp_core::ErrorCode = mcp_core::ErrorCode(-32099);

/// The answer of a handler that cannot answer a modern-era input request yet (it must first ask
/// its own caller, as a gateway does): the client still asks the handler for the round's other
/// input requests, then ends the request with this error instead of answering the server.
pub fn defer_input() -> ErrorObject {
    ErrorObject::new(INPUT_DEFERRED, "input deferred to the handler's caller")
}

/// Which requests a [`ClientHandler`] answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandlerCapabilities {
    /// Form-mode elicitation.
    pub elicitation_form: bool,
    /// URL-mode elicitation.
    pub elicitation_url: bool,
    /// Sampling.
    pub sampling: bool,
    /// Roots.
    pub roots: bool,
}

/// A shared handler is a handler: keep an `Arc` to read what it saw.
impl<H: ClientHandler> ClientHandler for std::sync::Arc<H> {
    fn capabilities(&self) -> HandlerCapabilities {
        (**self).capabilities()
    }
    fn call_capabilities(&self) -> Option<HandlerCapabilities> {
        (**self).call_capabilities()
    }
    fn request_meta(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        (**self).request_meta()
    }
    fn elicit(
        &self,
        params: ElicitRequestParams,
    ) -> impl Future<Output = Result<ElicitResult, ErrorObject>> + Send {
        (**self).elicit(params)
    }
    fn sample(
        &self,
        params: CreateMessageRequestParams,
    ) -> impl Future<Output = Result<CreateMessageResult, ErrorObject>> + Send {
        (**self).sample(params)
    }
    fn roots(&self) -> impl Future<Output = Result<Vec<Root>, ErrorObject>> + Send {
        (**self).roots()
    }
    fn on_progress(&self, params: &ProgressNotificationParams) {
        (**self).on_progress(params);
    }
    fn on_log(&self, params: &LoggingMessageNotificationParams) {
        (**self).on_log(params);
    }
    fn on_change(&self, change: Change) {
        (**self).on_change(change);
    }
}

/// A handler that answers nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHandler;

impl ClientHandler for NoHandler {}

/// Something that changed on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The tool list changed.
    Tools,
    /// The prompt list changed.
    Prompts,
    /// The resource list changed.
    Resources,
    /// A subscribed resource was updated.
    Resource(String),
}

/// The object-safe form the client stores.
pub(crate) trait DynHandler: Send + Sync {
    fn capabilities(&self) -> HandlerCapabilities;
    fn call_capabilities(&self) -> Option<HandlerCapabilities>;
    fn request_meta(&self) -> Option<serde_json::Map<String, serde_json::Value>>;
    fn elicit(
        &self,
        params: ElicitRequestParams,
    ) -> BoxFuture<'_, Result<ElicitResult, ErrorObject>>;
    fn sample(
        &self,
        params: CreateMessageRequestParams,
    ) -> BoxFuture<'_, Result<CreateMessageResult, ErrorObject>>;
    fn roots(&self) -> BoxFuture<'_, Result<Vec<Root>, ErrorObject>>;
    fn on_progress(&self, params: &ProgressNotificationParams);
    fn on_log(&self, params: &LoggingMessageNotificationParams);
    fn on_change(&self, change: Change);
}

impl<H: ClientHandler> DynHandler for H {
    fn capabilities(&self) -> HandlerCapabilities {
        ClientHandler::capabilities(self)
    }
    fn call_capabilities(&self) -> Option<HandlerCapabilities> {
        ClientHandler::call_capabilities(self)
    }
    fn request_meta(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        ClientHandler::request_meta(self)
    }
    fn elicit(
        &self,
        params: ElicitRequestParams,
    ) -> BoxFuture<'_, Result<ElicitResult, ErrorObject>> {
        Box::pin(ClientHandler::elicit(self, params))
    }
    fn sample(
        &self,
        params: CreateMessageRequestParams,
    ) -> BoxFuture<'_, Result<CreateMessageResult, ErrorObject>> {
        Box::pin(ClientHandler::sample(self, params))
    }
    fn roots(&self) -> BoxFuture<'_, Result<Vec<Root>, ErrorObject>> {
        Box::pin(ClientHandler::roots(self))
    }
    fn on_progress(&self, params: &ProgressNotificationParams) {
        ClientHandler::on_progress(self, params);
    }
    fn on_log(&self, params: &LoggingMessageNotificationParams) {
        ClientHandler::on_log(self, params);
    }
    fn on_change(&self, change: Change) {
        ClientHandler::on_change(self, change);
    }
}

/// Fills in what an accepted form left out with the defaults of its schema (SEP-1034): the
/// client hands the server the values the user saw pre-filled. Fields the answer has, declined
/// and cancelled answers, and URL-mode elicitations are left as they are.
pub(crate) fn apply_elicitation_defaults(params: &ElicitRequestParams, result: &mut ElicitResult) {
    let ElicitRequestParams::Form(form) = params else {
        return;
    };
    if result.action != ElicitAction::Accept {
        return;
    }
    let content = result.content.get_or_insert_with(Default::default);
    for (name, field) in &form.requested_schema.properties {
        if content.contains_key(name) {
            continue;
        }
        if let Some(default) = field_default(field) {
            content.insert(name.clone(), default);
        }
    }
}

/// The default of a form field, typed as the field is (an integer field's `30.0` is `30`).
fn field_default(field: &PrimitiveSchemaDefinition) -> Option<serde_json::Value> {
    use serde_json::Value;
    if let PrimitiveSchemaDefinition::Number(n) = field {
        let d = n.default?;
        if n.kind == NumberType::Integer && d.fract() == 0.0 && d.abs() < 9.0e15 {
            return Some(Value::from(d as i64));
        }
        return serde_json::Number::from_f64(d).map(Value::Number);
    }
    let value = serde_json::to_value(field).ok()?;
    value.get("default").filter(|d| !d.is_null()).cloned()
}
