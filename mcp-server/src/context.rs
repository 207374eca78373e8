//! What a handler gets besides its arguments: the request context, shared state, and the way to
//! ask the client for input.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mcp_core::jsonrpc::{JsonRpcNotification, RequestId};
use mcp_core::messages::{self, NotificationMethod, RequestMethod};
use mcp_core::types::{
    ClientCapabilities, CreateMessageRequestParams, CreateMessageResult, ElicitAction,
    ElicitRequestFormParams, ElicitRequestParams, ElicitRequestUrlParams, ElicitResult,
    ElicitationSchema, Implementation, InputRequest, InputRequests, InputResponses,
    ListRootsResult, LoggingLevel, LoggingMessageNotificationParams, ProgressNotificationParams,
    ProgressToken, Root,
};
use mcp_core::{Era, JsonRpcMessage, Meta, ProtocolVersion};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::peer::{Peer, Sink};

/// What a client declared of itself: its capabilities and who it is (`initialize` in the legacy
/// era, each request's `_meta` in the modern one).
#[derive(Debug, Default)]
pub(crate) struct ClientSide {
    pub(crate) capabilities: ClientCapabilities,
    pub(crate) info: Option<Implementation>,
}

/// The lowest level of log messages the client asked for, where a request reads it.
pub(crate) enum LogLevelSource {
    /// The request's own (modern: `io.modelcontextprotocol/logLevel` in its `_meta`).
    Fixed(Option<LoggingLevel>),
    /// The session's, as `logging/setLevel` last set it (legacy).
    Session(Arc<Mutex<Option<LoggingLevel>>>),
    /// The request's a task runs for.
    Of(Context),
}

/// Values shared by every handler, by type (see [`crate::Server::state`] and [`State`]).
#[derive(Clone, Default)]
pub(crate) struct StateMap(Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl StateMap {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        Arc::make_mut(&mut self.0).insert(TypeId::of::<T>(), Arc::new(value));
    }

    fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.0.get(&TypeId::of::<T>())?.clone().downcast().ok()
    }
}

/// How the handler asks the client for input: a request on the session (legacy), or an input
/// request that ends this round (modern).
pub(crate) enum InputMode {
    Legacy(Arc<dyn Peer>),
    Modern(Mrtr),
    /// A modern task: questions wait in `tasks/get` until `tasks/update` answers them.
    Task(Arc<crate::tasks::TaskSlot>),
}

/// The multi-round-trip state of one modern request.
pub(crate) struct Mrtr {
    /// Answers from earlier rounds (sealed in `requestState`) and this round (`inputResponses`).
    pub(crate) responses: InputResponses,
    /// Requests made in this round that have no answer yet.
    pub(crate) pending: Mutex<InputRequests>,
    next: AtomicUsize,
    /// Whether [`Context::continue_as_task`] may turn this request into a task (a `tools/call` of
    /// a tool that runs as a task, from a client that declared the tasks extension).
    pub(crate) task_allowed: AtomicBool,
    /// Set when the handler called [`Context::continue_as_task`] and it was allowed.
    pub(crate) continue_as_task: AtomicBool,
    /// What the handler hands over to its run in the task
    /// ([`Context::continue_as_task_with`]).
    pub(crate) handover: Mutex<Option<Box<dyn Any + Send>>>,
    /// The approval grant an earlier round of this call sealed into `requestState`.
    pub(crate) carried_approval: Option<String>,
    /// The approval given in this round, for the next round's `requestState`.
    pub(crate) kept_approval: Mutex<Option<Box<crate::approval::CarriedApproval>>>,
}

impl Mrtr {
    pub(crate) fn new(responses: InputResponses) -> Self {
        Mrtr {
            responses,
            pending: Mutex::new(InputRequests::new()),
            next: AtomicUsize::new(0),
            task_allowed: AtomicBool::new(false),
            continue_as_task: AtomicBool::new(false),
            handover: Mutex::new(None),
            carried_approval: None,
            kept_approval: Mutex::new(None),
        }
    }

    /// With the approval grant of an earlier round ([`crate::server::RoundInput::approval`]).
    pub(crate) fn carrying_approval(mut self, grant: Option<String>) -> Self {
        self.carried_approval = grant;
        self
    }
}

pub(crate) struct ContextInner {
    pub(crate) request_id: RequestId,
    pub(crate) version: ProtocolVersion,
    pub(crate) meta: crate::request_meta::RequestMeta,
    /// What the client declared of itself, shared with its session (legacy) or read once with
    /// the request (modern): the context stays small, and is built without copying it.
    pub(crate) client: Arc<ClientSide>,
    pub(crate) log_level: LogLevelSource,
    pub(crate) progress_token: Option<ProgressToken>,
    pub(crate) last_progress: Mutex<Option<f64>>,
    pub(crate) sink: Sink,
    pub(crate) cancel: CancellationToken,
    pub(crate) input: InputMode,
    pub(crate) state: StateMap,
    pub(crate) identity: Option<Identity>,
    /// The legacy HTTP session, for audit records.
    pub(crate) session_id: Option<Arc<str>>,
    /// Set when a tool call ends in a result with `isError: true` (audit, metrics).
    pub(crate) tool_error: AtomicBool,
}

tokio::task_local! {
    /// What the access control's [`crate::access::AccessControl::enter`] admitted a tool call
    /// with, while its handler runs, until it takes it ([`Context::entered`]). Kept beside the
    /// handler's future rather than in every request's context.
    static ENTERED: std::cell::RefCell<Option<Box<dyn Any + Send>>>;
}

/// Runs a tool handler's future with what its call was admitted with ([`Context::entered`]).
pub(crate) async fn with_entered<F: std::future::Future>(
    entered: Box<dyn Any + Send>,
    work: F,
) -> F::Output {
    ENTERED
        .scope(std::cell::RefCell::new(Some(entered)), work)
        .await
}

/// The request a handler is serving: who asks, in which protocol version, and the means to report
/// progress, log, notice cancellation and ask the client for input.
///
/// Cheap to clone. A handler takes it as a parameter (`cx: Context`).
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<ContextInner>,
}

impl Context {
    /// The id of the request.
    pub fn request_id(&self) -> &RequestId {
        &self.inner.request_id
    }

    /// The protocol version of the request (modern) or of the session (legacy).
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.inner.version
    }

    /// The era of the request.
    pub fn era(&self) -> Era {
        self.inner.version.era()
    }

    /// The request's `_meta`.
    pub fn meta(&self) -> &Meta {
        self.inner.meta.get()
    }

    /// The caller's W3C trace parent (`traceparent` in the request's `_meta`), when it is
    /// valid ([`crate::trace`]): read with the request, without reading the rest of `_meta`.
    pub fn trace_parent(&self) -> Option<crate::trace::TraceContext> {
        self.inner.meta.trace.clone().and_then(Result::ok)
    }

    /// Who is calling: the authenticated principal (HTTP with authorization, mTLS) or the
    /// identity configured for the process (stdio); `None` when the server authenticates no one.
    pub fn identity(&self) -> Option<&Identity> {
        self.inner.identity.as_ref()
    }

    /// What the client can do: from the request (modern) or from `initialize` (legacy).
    pub fn client_capabilities(&self) -> &ClientCapabilities {
        &self.inner.client.capabilities
    }

    /// Who the client says it is.
    pub fn client_info(&self) -> Option<&Implementation> {
        self.inner.client.info.as_ref()
    }

    /// Shared state registered with [`crate::Server::state`].
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.inner.state.get()
    }

    /// Whether the client cancelled the request (or went away).
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Completes when the request is cancelled.
    pub async fn cancelled(&self) {
        self.inner.cancel.cancelled().await;
    }

    fn notify<M: NotificationMethod>(&self, params: M::Params) {
        if let Ok(n) = JsonRpcNotification::new(M::METHOD, &params) {
            self.inner.sink.send(JsonRpcMessage::Notification(n));
        }
    }

    /// Reports progress. Sent only when the client asked for progress (a progress token), and
    /// only when `progress` grows: progress on the wire is monotonic.
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some(token) = &self.inner.progress_token else {
            return;
        };
        {
            let mut last = self.inner.last_progress.lock().expect("not poisoned");
            if last.is_some_and(|l| progress <= l) {
                return;
            }
            *last = Some(progress);
        }
        let message = message
            .filter(|_| {
                self.inner
                    .version
                    .supports(mcp_core::Feature::ProgressMessage)
            })
            .map(str::to_owned);
        self.notify::<messages::Progress>(ProgressNotificationParams {
            progress_token: token.clone(),
            progress,
            total,
            message,
            meta: None,
        });
    }

    /// The least severe level the client wants, if it asked for log messages at all.
    pub fn log_level(&self) -> Option<LoggingLevel> {
        match &self.inner.log_level {
            LogLevelSource::Fixed(level) => *level,
            LogLevelSource::Session(level) => *level.lock().expect("not poisoned"),
            LogLevelSource::Of(parent) => parent.log_level(),
        }
    }

    /// Sends a log message, if the client asked for this level (per request in the modern era,
    /// with `logging/setLevel` in the legacy era). Nothing is sent when it did not ask.
    pub fn log(&self, level: LoggingLevel, logger: Option<&str>, data: impl Serialize) {
        if self.log_level().is_none_or(|min| level < min) {
            return;
        }
        let Ok(data) = serde_json::to_value(data) else {
            return;
        };
        self.notify::<messages::LoggingMessage>(LoggingMessageNotificationParams {
            level,
            logger: logger.map(str::to_owned),
            data,
            meta: None,
        });
    }

    /// Logs at `info`.
    pub fn info(&self, message: impl Serialize) {
        self.log(LoggingLevel::Info, None, message);
    }

    /// Logs at `debug`.
    pub fn debug(&self, message: impl Serialize) {
        self.log(LoggingLevel::Debug, None, message);
    }

    /// Logs at `warning`.
    pub fn warning(&self, message: impl Serialize) {
        self.log(LoggingLevel::Warning, None, message);
    }

    /// Logs at `error`.
    pub fn error(&self, message: impl Serialize) {
        self.log(LoggingLevel::Error, None, message);
    }

    /// Sends a request to the client and waits for its answer: a server-to-client request in the
    /// legacy era; an input request in the modern era, where a request that has no answer yet
    /// ends this round with `input_required` and the handler runs again when the client retries.
    async fn ask<M: RequestMethod>(
        &self,
        key: Option<String>,
        request: InputRequest,
    ) -> Result<M::Result>
    where
        M::Result: DeserializeOwned,
    {
        match &self.inner.input {
            InputMode::Legacy(peer) => {
                let params = match &request {
                    InputRequest::CreateMessage(p) => mcp_core::jsonrpc::to_raw(p),
                    InputRequest::ListRoots(p) => mcp_core::jsonrpc::to_raw(p),
                    InputRequest::Elicit(p) => mcp_core::jsonrpc::to_raw(p),
                }
                .map_err(Error::internal)?;
                let raw = tokio::select! {
                    r = peer.request(M::METHOD, Some(params), &self.inner.sink) => r.map_err(Error::protocol)?,
                    () = self.inner.cancel.cancelled() => return Err(Error::cancelled()),
                };
                serde_json::from_str(raw.get()).map_err(|e| {
                    Error::internal(format!(
                        "the client's answer to {} is malformed: {e}",
                        M::METHOD
                    ))
                })
            }
            InputMode::Task(slot) => {
                let key = key.unwrap_or_else(|| slot.next_key(request.method()));
                let Some(answer) = slot.ask(key.clone(), request).await else {
                    return Err(Error::cancelled());
                };
                let value = serde_json::to_value(answer).map_err(Error::internal)?;
                serde_json::from_value(value).map_err(|e| {
                    Error::invalid_params(format!(
                        "input response `{key}` does not answer {}: {e}",
                        M::METHOD
                    ))
                })
            }
            InputMode::Modern(mrtr) => {
                let key = key.unwrap_or_else(|| {
                    let n = mrtr.next.fetch_add(1, Ordering::Relaxed);
                    format!("{}-{n}", request.method().replace('/', "."))
                });
                if let Some(answer) = mrtr.responses.get(&key) {
                    let value = serde_json::to_value(answer).map_err(Error::internal)?;
                    return serde_json::from_value(value).map_err(|e| {
                        Error::invalid_params(format!(
                            "input response `{key}` does not answer {}: {e}",
                            M::METHOD
                        ))
                    });
                }
                mrtr.pending
                    .lock()
                    .expect("not poisoned")
                    .insert(key, request);
                Err(Error::input_required())
            }
        }
    }

    /// Asks the user to fill in a form whose schema comes from `T` (a flat object of strings,
    /// numbers, booleans and enums). Fails with -32021 when the client cannot elicit.
    pub async fn elicit<T>(&self, message: impl Into<String>) -> Result<Elicitation<T>>
    where
        T: DeserializeOwned + schemars::JsonSchema,
    {
        self.elicit_keyed(None, message.into()).await
    }

    async fn elicit_keyed<T>(&self, key: Option<String>, message: String) -> Result<Elicitation<T>>
    where
        T: DeserializeOwned + schemars::JsonSchema,
    {
        let schema = crate::schema::elicitation_schema::<T>()?;
        let result = self.elicit_with_keyed(key, message, schema).await?;
        Ok(match result.action {
            ElicitAction::Accept => {
                let content = serde_json::Value::Object(result.content.unwrap_or_default());
                Elicitation::Accept(serde_json::from_value(content).map_err(|e| {
                    Error::invalid_params(format!(
                        "the elicitation answer does not fit the form: {e}"
                    ))
                })?)
            }
            ElicitAction::Decline => Elicitation::Decline,
            ElicitAction::Cancel => Elicitation::Cancel,
        })
    }

    /// Asks the user to fill in a form with an explicit schema.
    pub async fn elicit_with(
        &self,
        message: impl Into<String>,
        requested_schema: ElicitationSchema,
    ) -> Result<ElicitResult> {
        self.elicit_with_keyed(None, message.into(), requested_schema)
            .await
    }

    async fn elicit_with_keyed(
        &self,
        key: Option<String>,
        message: String,
        requested_schema: ElicitationSchema,
    ) -> Result<ElicitResult> {
        if self.inner.client.capabilities.elicitation.is_none() {
            return Err(missing_capability("elicitation"));
        }
        let params = ElicitRequestParams::Form(ElicitRequestFormParams {
            mode: self
                .inner
                .version
                .supports(mcp_core::Feature::UrlElicitation)
                .then_some(mcp_core::types::FormModeTag),
            message,
            requested_schema,
            task: None,
            meta: None,
        });
        self.ask::<messages::Elicit>(key, InputRequest::Elicit(params))
            .await
    }

    /// Sends the user to a URL (for credentials, payments: what must not pass through the
    /// client). Needs URL-mode elicitation in the client.
    pub async fn elicit_url(
        &self,
        message: impl Into<String>,
        url: impl Into<String>,
        elicitation_id: impl Into<String>,
    ) -> Result<ElicitResult> {
        if !self.inner.client.capabilities.supports_url_elicitation() {
            return Err(missing_capability("elicitation.url"));
        }
        let params = ElicitRequestParams::Url(ElicitRequestUrlParams {
            message: message.into(),
            url: url.into(),
            elicitation_id: Some(elicitation_id.into()),
            ..Default::default()
        });
        self.ask::<messages::Elicit>(None, InputRequest::Elicit(params))
            .await
    }

    /// Asks through elicitation under an explicit key, with any parameters (form or URL).
    pub(crate) async fn elicit_raw(
        &self,
        key: &str,
        params: ElicitRequestParams,
    ) -> Result<ElicitResult> {
        self.ask::<messages::Elicit>(Some(key.to_owned()), InputRequest::Elicit(params))
            .await
    }

    /// Answers of earlier rounds (modern era) to elicitations whose key starts with `prefix`.
    pub(crate) fn answered_elicitations(&self, prefix: &str) -> Vec<(String, ElicitResult)> {
        let InputMode::Modern(mrtr) = &self.inner.input else {
            return Vec::new();
        };
        mrtr.responses
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .filter_map(|(k, v)| {
                let value = serde_json::to_value(v).ok()?;
                Some((k.clone(), serde_json::from_value(value).ok()?))
            })
            .collect()
    }

    /// Asks the client's model for a message.
    pub async fn sample(&self, params: CreateMessageRequestParams) -> Result<CreateMessageResult> {
        self.sample_keyed(None, params).await
    }

    async fn sample_keyed(
        &self,
        key: Option<String>,
        params: CreateMessageRequestParams,
    ) -> Result<CreateMessageResult> {
        if self.inner.client.capabilities.sampling.is_none() {
            return Err(missing_capability("sampling"));
        }
        self.ask::<messages::CreateMessage>(key, InputRequest::CreateMessage(params))
            .await
    }

    /// Asks the client for its roots.
    pub async fn roots(&self) -> Result<Vec<Root>> {
        self.roots_keyed(None).await
    }

    async fn roots_keyed(&self, key: Option<String>) -> Result<Vec<Root>> {
        if self.inner.client.capabilities.roots.is_none() {
            return Err(missing_capability("roots"));
        }
        let r: ListRootsResult = self
            .ask::<messages::ListRoots>(key, InputRequest::ListRoots(None))
            .await?;
        Ok(r.roots)
    }

    /// Moves the rest of this tool call into a task (tasks extension, modern era), for a tool
    /// registered with `defer_task` (see `#[tool]`).
    ///
    /// Such a tool first runs as an ordinary request, so it can gather input over multi-round
    /// trips (`input_required`). When the handler calls `continue_as_task`, the round ends: the
    /// runtime creates the task, answers the client with it (`resultType: "task"`), and runs the
    /// handler again in the task with every answer gathered so far. Handlers run again from the
    /// top on every round, so the questions asked before `continue_as_task` get their answers at
    /// once on the re-run, and `continue_as_task` itself then returns `Ok(())` immediately: what
    /// follows it runs in the task, and the client polls `tasks/get` for the result.
    ///
    /// It returns `Ok(())` at once, and the call goes on in the request, whenever there is no
    /// task to move to: in the legacy era, for a client that did not declare the tasks extension,
    /// for a tool that does not run as a task, or outside `tools/call`.
    ///
    /// ```no_run
    /// # async fn f(cx: mcp_server::Context, schema: mcp_server::types::ElicitationSchema) -> mcp_server::Result<String> {
    /// let name = cx.keyed("user_name").elicit_with("What is your name?", schema).await?;
    /// cx.continue_as_task().await?;
    /// // From here on the call runs as a task.
    /// # Ok(String::new()) }
    /// ```
    pub async fn continue_as_task(&self) -> Result<()> {
        self.continue_as_task_with(()).await
    }

    /// Whether [`Context::continue_as_task`] would move this call into a task: a `tools/call`
    /// of a `defer_task` tool, in the modern era, from a client that declared the tasks
    /// extension, not yet in a task.
    pub fn can_continue_as_task(&self) -> bool {
        matches!(&self.inner.input, InputMode::Modern(mrtr) if mrtr.task_allowed.load(Ordering::Relaxed))
    }

    /// [`Context::continue_as_task`], handing `value` over to the handler's run in the task,
    /// which takes it with [`Context::handed_over`]: what was done before the task (a resource
    /// acquired, a job started elsewhere) is not done again. When there is no task to move to,
    /// `value` comes back (`Ok`) and the call goes on in the request; when the call moves, the
    /// round ends (`Err`, to return with `?`). A value the task never takes is dropped with the
    /// task, or with the request when the task cannot be created.
    pub async fn continue_as_task_with<T: Send + 'static>(&self, value: T) -> Result<T> {
        match &self.inner.input {
            InputMode::Modern(mrtr) if mrtr.task_allowed.load(Ordering::Relaxed) => {
                *mrtr.handover.lock().expect("not poisoned") = Some(Box::new(value));
                mrtr.continue_as_task.store(true, Ordering::Relaxed);
                Err(Error::input_required())
            }
            _ => Ok(value),
        }
    }

    /// In a tool call admitted by an access control's
    /// [`AccessControl::enter`](crate::access::AccessControl::enter): what it admitted the call
    /// with (its limits, the permits it holds), once (`None` afterwards, or for another type).
    ///
    /// Read in the handler's own future (not in a task it spawns).
    pub fn entered<T: Send + 'static>(&self) -> Option<T> {
        ENTERED
            .try_with(|slot| {
                let mut slot = slot.borrow_mut();
                if !slot.as_ref().is_some_and(|v| v.is::<T>()) {
                    return None;
                }
                slot.take()?.downcast::<T>().ok().map(|v| *v)
            })
            .ok()
            .flatten()
    }

    /// In the run of a call that moved into a task with [`Context::continue_as_task_with`]: the
    /// value handed over, once (`None` afterwards, elsewhere, or for another type).
    pub fn handed_over<T: Send + 'static>(&self) -> Option<T> {
        let InputMode::Task(slot) = &self.inner.input else {
            return None;
        };
        let mut handover = slot.handover.lock().expect("not poisoned");
        if !handover.as_ref().is_some_and(|v| v.is::<T>()) {
            return None;
        }
        let value = handover.take()?.downcast::<T>().ok()?;
        Some(*value)
    }

    /// Asks the client under a key of the handler's choosing (modern era): the key names the
    /// input request in `inputRequests`, and the client answers under it in `inputResponses`.
    /// Without a key, requests are numbered in the order the handler makes them. Keys must be
    /// unique within a request. In the legacy era the key is not sent.
    ///
    /// ```no_run
    /// # async fn f(cx: mcp_server::Context, schema: mcp_server::types::ElicitationSchema) -> mcp_server::Result<()> {
    /// let answer = cx.keyed("user_name").elicit_with("What is your name?", schema).await?;
    /// # Ok(()) }
    /// ```
    pub fn keyed(&self, key: impl Into<String>) -> Keyed<'_> {
        Keyed {
            cx: self,
            key: key.into(),
        }
    }
}

/// A request to the client under a chosen key: see [`Context::keyed`].
pub struct Keyed<'a> {
    cx: &'a Context,
    key: String,
}

impl Keyed<'_> {
    /// [`Context::elicit`] under this key.
    pub async fn elicit<T>(self, message: impl Into<String>) -> Result<Elicitation<T>>
    where
        T: DeserializeOwned + schemars::JsonSchema,
    {
        self.cx.elicit_keyed(Some(self.key), message.into()).await
    }

    /// [`Context::elicit_with`] under this key.
    pub async fn elicit_with(
        self,
        message: impl Into<String>,
        requested_schema: ElicitationSchema,
    ) -> Result<ElicitResult> {
        self.cx
            .elicit_with_keyed(Some(self.key), message.into(), requested_schema)
            .await
    }

    /// [`Context::sample`] under this key.
    pub async fn sample(self, params: CreateMessageRequestParams) -> Result<CreateMessageResult> {
        self.cx.sample_keyed(Some(self.key), params).await
    }

    /// [`Context::roots`] under this key.
    pub async fn roots(self) -> Result<Vec<Root>> {
        self.cx.roots_keyed(Some(self.key)).await
    }
}

fn missing_capability(name: &str) -> Error {
    Error::protocol(
        mcp_core::ErrorObject::new(
            mcp_core::ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY,
            format!("the client did not declare the `{name}` capability"),
        )
        // A ClientCapabilities object naming what is missing: `elicitation.url` is
        // `{"elicitation": {"url": {}}}`.
        .with_data(serde_json::json!({
            "requiredCapabilities": name
                .rsplit('.')
                .fold(serde_json::json!({}), |inner, part| serde_json::json!({ part: inner })),
        })),
    )
}

/// What the user did with a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elicitation<T> {
    /// Submitted it.
    Accept(T),
    /// Declined explicitly.
    Decline,
    /// Dismissed it.
    Cancel,
}

impl<T> Elicitation<T> {
    /// The answer, if the user submitted the form.
    pub fn accepted(self) -> Option<T> {
        match self {
            Elicitation::Accept(t) => Some(t),
            _ => None,
        }
    }
}

/// A handler parameter filled in from the request rather than from the arguments.
///
/// A parameter whose type implements it is not part of the input schema. Implement it for your
/// own types, and mark such a parameter `#[ctx]` in a `#[tool]` (`Context`, `State<T>`, `Meta`,
/// `ProtocolVersion` and `Identity` need no mark): the macro decides what the tool's typed
/// contract holds from what is written, and checks it against this trait.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be injected into a handler",
    label = "not an argument type and not injectable",
    note = "an argument type must implement `serde::Deserialize` and `schemars::JsonSchema`; an injected type implements `mcp_server::FromContext`"
)]
pub trait FromContext: Sized {
    /// Takes the value from the request context.
    fn from_context(cx: &Context) -> Result<Self>;
}

impl FromContext for Context {
    fn from_context(cx: &Context) -> Result<Self> {
        Ok(cx.clone())
    }
}

impl FromContext for Meta {
    fn from_context(cx: &Context) -> Result<Self> {
        Ok(cx.inner.meta.get().clone())
    }
}

/// The caller's identity; a handler that takes it refuses unauthenticated calls.
impl FromContext for Identity {
    fn from_context(cx: &Context) -> Result<Self> {
        cx.inner
            .identity
            .clone()
            .ok_or_else(|| Error::public("this tool needs an authenticated caller"))
    }
}

impl FromContext for ProtocolVersion {
    fn from_context(cx: &Context) -> Result<Self> {
        Ok(cx.inner.version)
    }
}

/// Shared state of type `T`, registered with [`crate::Server::state`].
pub struct State<T>(pub Arc<T>);

impl<T> Clone for State<T> {
    fn clone(&self) -> Self {
        State(self.0.clone())
    }
}

impl<T> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + Sync + 'static> FromContext for State<T> {
    fn from_context(cx: &Context) -> Result<Self> {
        cx.state::<T>().map(State).ok_or_else(|| {
            Error::internal(format!(
                "no state of type `{}` was registered with `Server::state`",
                std::any::type_name::<T>()
            ))
        })
    }
}
