//! Upstream-backed items: tools, resources and prompts whose handlers forward through the
//! [`Host`] (for an upstream with instances per principal, the caller's own instance: see
//! [`instances`](crate::instances)), and the bridge that carries what an upstream does during a call (progress, logs,
//! elicitation, sampling, roots) to the caller through the server [`Context`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use mcp_client::host::{Host, HostError, HostToolCall, ItemKind as HostKind, UpstreamTask};
use mcp_client::{ClientHandler, HandlerCapabilities};
use mcp_core::types::{
    CallToolResult, Completion, CompletionContext, CompletionReference, CreateMessageRequestParams,
    CreateMessageResult, ElicitRequestParams, ElicitResult, GetPromptResult, InputRequest,
    InputResponse, InputResponses, JsonObject, ListRootsResult, LoggingMessageNotificationParams,
    ProgressNotificationParams, Prompt, PromptReference, ResourceContents,
    ResourceTemplateReference, Root, Task, TaskStatus, Tool,
};
use mcp_core::{ErrorCode, ErrorObject};
use mcp_server::access::ItemKind;
use mcp_server::{
    Context, Error, PromptHandler, ResourceDefinition, ResourceHandler, Result, ToolHandler,
};
use tokio::sync::Notify;

use crate::instances::{Instances, Lease};
use crate::rules::{Entered, Policy};

/// What every upstream-backed handler shares.
pub(crate) struct Shared {
    pub(crate) host: Host,
    pub(crate) policy: Arc<Policy>,
    /// The upstreams with instances per principal, by name.
    pub(crate) instances: HashMap<String, Arc<Instances>>,
    /// The store shared with other replicas: the rules' rate limits are kept there.
    pub(crate) store: Option<Arc<dyn mcp_server::store::Store>>,
    /// Where a call the rules' limits refuse is recorded.
    pub(crate) audit: Option<mcp_server::audit::Audit>,
}

impl Shared {
    /// The host that serves a request: the caller's own instance of an upstream with
    /// instances per principal (held by the lease while the request runs), else the shared
    /// host.
    async fn host_for(
        &self,
        cx: &Context,
        kind: HostKind,
        name: &str,
        method: &str,
    ) -> Result<(Host, Option<Lease>)> {
        if self.instances.is_empty() {
            return Ok((self.host.clone(), None));
        }
        let pool = self
            .host
            .owner(kind, name)
            .ok()
            .and_then(|owner| self.instances.get(&owner));
        match pool {
            None => Ok((self.host.clone(), None)),
            Some(pool) => {
                let lease = pool.lease(cx, method, name).await?;
                Ok((lease.host.clone(), Some(lease)))
            }
        }
    }

    /// Admits a call under the limits of the rules that allow it (a resource read, a prompt;
    /// a tool call was admitted by the pipeline's admit stage, [`RulesAccess`]'s `enter`, and
    /// comes here only when it was not), recording a refusal.
    ///
    /// [`RulesAccess`]: crate::rules::RulesAccess
    async fn enter(
        &self,
        cx: &Context,
        kind: ItemKind,
        name: &str,
        argument_bytes: impl FnOnce() -> usize,
    ) -> Result<Entered> {
        let entered = self
            .policy
            .enter(
                cx.identity(),
                kind,
                name,
                argument_bytes,
                self.store.as_deref(),
            )
            .await;
        if let (Err(e), Some(audit)) = (&entered, &self.audit) {
            self.refused(audit, cx, kind, name, e);
        }
        entered
    }
}

impl Shared {
    /// Records a call (a read, a prompt) a rule's limit refused, as a decision: which limit
    /// (`rate_limited`, `arguments_too_large`, `store_unavailable`, `busy`).
    fn refused(
        &self,
        audit: &mcp_server::audit::Audit,
        cx: &Context,
        kind: ItemKind,
        name: &str,
        error: &Error,
    ) {
        use mcp_server::audit::{AuditKind, AuditRecord, Decision};
        // The limits' refusals are protocol errors with a reason, or the public "busy".
        let reason = error
            .to_error_object(false)
            .data
            .and_then(|d| d.get("reason")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| "busy".to_owned());
        let method = match kind {
            ItemKind::Tool => "tools/call",
            ItemKind::Prompt => "prompts/get",
            _ => "resources/read",
        };
        audit.record(
            &AuditRecord::new(AuditKind::Decision, method)
                .with_principal(cx.identity())
                .with_request_id(cx.request_id().clone())
                .with_item(name)
                .with_trace(cx.trace_parent().as_ref())
                .with_decision(Decision::Deny, Some(&reason)),
        );
    }
}

/// An upstream's error as the caller may see it: the upstream's own JSON-RPC error (code and
/// message), an unknown item as invalid params, unavailability and timeouts as a public message.
fn host_error(e: HostError) -> Error {
    match e {
        HostError::Upstream { error, .. } => Error::protocol(error),
        HostError::Unknown { .. } | HostError::Ambiguous { .. } => {
            Error::protocol(e.to_error_object())
        }
        other => Error::public(other.to_string()),
    }
}

/// Runs an upstream request with its bridge: ends early when the bridge needs the caller's input
/// first (the modern era's `input_required`), and within the rules' timeout.
///
/// The request comes boxed: held by value, the client's future (several kilobytes) was copied
/// into this one, and this one into the handler's, which is itself boxed and moved for every
/// call (a proxied call's future was 13.8 KB; `-Zprint-type-sizes`).
async fn bridged<T>(
    bridge: &Bridge,
    entered: &Entered,
    kind: &str,
    name: &str,
    work: BoxFuture<'_, std::result::Result<T, HostError>>,
) -> Result<T> {
    let work = async {
        match entered.timeout {
            None => work.await.map_err(host_error),
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(r) => r.map_err(host_error),
                Err(_) => Err(Error::public(format!(
                    "{kind} `{name}` timed out after {} ms",
                    limit.as_millis()
                ))),
            },
        }
    };
    tokio::select! {
        r = work => match bridge.interrupted() {
            // The upstream request ended because the bridge deferred an answer.
            Some(e) => Err(e),
            None => r,
        },
        () = bridge.interrupt.notify.notified() => Err(bridge.take()),
    }
}

/// Removes from an upstream result's `_meta` what described the exchange with the upstream (its
/// `serverInfo`, a task of its own, ...): the front answers as itself, and a caller of the
/// legacy era, whose results the front stamps with nothing, would otherwise see the upstream's.
/// What the upstream's tool itself put there is kept.
fn relayed(meta: &mut Option<mcp_core::meta::Meta>) {
    if let Some(m) = meta {
        m.remove_per_hop();
        if m.is_empty() {
            *meta = None;
        }
    }
}

/// Checks a result against the rules' size limit.
fn fits<T: serde::Serialize>(value: T, entered: &Entered, kind: &str, name: &str) -> Result<T> {
    if let Some(limit) = entered.max_result_bytes {
        let size = serde_json::to_vec(&value).map_or(usize::MAX, |v| v.len());
        if size > limit {
            tracing::warn!(
                kind,
                name,
                size,
                limit,
                "an upstream result exceeds its size limit"
            );
            return Err(Error::public(format!(
                "the result of {kind} `{name}` exceeds {limit} bytes"
            )));
        }
    }
    Ok(value)
}

/// The bridge of one call: what the upstream asks goes to the caller through `cx`.
#[derive(Clone)]
pub(crate) struct Bridge {
    cx: Context,
    interrupt: Arc<Interrupt>,
}

#[derive(Default)]
struct Interrupt {
    error: Mutex<Option<Error>>,
    notify: Notify,
}

impl Bridge {
    pub(crate) fn new(cx: &Context) -> Self {
        Bridge {
            cx: cx.clone(),
            interrupt: Arc::default(),
        }
    }

    fn take(&self) -> Error {
        self.interrupted()
            .unwrap_or_else(|| Error::public("the call was interrupted"))
    }

    /// The answer to the upstream, or an interruption of the call when the caller must answer
    /// first (the modern era's `input_required`: the call is made again with the answers) or
    /// cannot answer (the caller gets its own error, such as -32021, as it is).
    ///
    /// In an upstream's modern round the answer is deferred, so that every input request of
    /// the round reaches the caller at once; otherwise the upstream request is dropped.
    async fn answer<T>(&self, r: Result<T>) -> std::result::Result<T, ErrorObject> {
        let e = match r {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let deferrable = e.is_input_required() && mcp_client::handler::input_key().is_some();
        {
            let mut slot = self.interrupt.error.lock().expect("not poisoned");
            if slot
                .as_ref()
                .is_none_or(|first| first.is_input_required() && !e.is_input_required())
            {
                *slot = Some(e);
            }
        }
        if deferrable {
            return Err(mcp_client::handler::defer_input());
        }
        self.interrupt.notify.notify_one();
        std::future::pending().await
    }

    /// The interruption the bridge recorded, if any.
    fn interrupted(&self) -> Option<Error> {
        self.interrupt.error.lock().expect("not poisoned").take()
    }
}

impl ClientHandler for Bridge {
    fn capabilities(&self) -> HandlerCapabilities {
        all_capabilities()
    }

    /// The caller's: a modern upstream sees in each request what the caller can answer.
    fn call_capabilities(&self) -> Option<HandlerCapabilities> {
        let caps = self.cx.client_capabilities();
        Some(HandlerCapabilities {
            elicitation_form: caps.supports_form_elicitation(),
            elicitation_url: caps.supports_url_elicitation(),
            sampling: caps.sampling.is_some(),
            roots: caps.roots.is_some(),
        })
    }

    /// The caller's trace context, passed on unchanged (the gateway records no span of its
    /// own): `traceparent` when it is valid, and `tracestate` with it.
    fn request_meta(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use mcp_server::trace::TRACEPARENT;
        const TRACESTATE: &str = "tracestate";
        // Without a valid parent, nothing (and the caller's `_meta` is not read any further).
        let trace = self.cx.trace_parent()?;
        let mut out = serde_json::Map::new();
        out.insert(TRACEPARENT.into(), trace.to_string().into());
        // As W3C Trace Context bounds it: at most 512 characters, printable ASCII.
        let meta = &self.cx.meta().0;
        if let Some(state) = meta.get(TRACESTATE).and_then(serde_json::Value::as_str)
            && state.len() <= 512
            && state.bytes().all(|b| (0x20..0x7f).contains(&b))
        {
            out.insert(TRACESTATE.into(), state.into());
        }
        Some(out)
    }

    async fn elicit(
        &self,
        params: ElicitRequestParams,
    ) -> std::result::Result<ElicitResult, ErrorObject> {
        let key = mcp_client::handler::input_key();
        let r = match params {
            ElicitRequestParams::Form(f) => match key {
                Some(k) => {
                    self.cx
                        .keyed(k)
                        .elicit_with(f.message, f.requested_schema)
                        .await
                }
                None => self.cx.elicit_with(f.message, f.requested_schema).await,
            },
            ElicitRequestParams::Url(u) => {
                let id = u.elicitation_id.unwrap_or_default();
                self.cx.elicit_url(u.message, u.url, id).await
            }
        };
        self.answer(r).await
    }

    async fn sample(
        &self,
        params: CreateMessageRequestParams,
    ) -> std::result::Result<CreateMessageResult, ErrorObject> {
        let r = match mcp_client::handler::input_key() {
            Some(k) => self.cx.keyed(k).sample(params).await,
            None => self.cx.sample(params).await,
        };
        self.answer(r).await
    }

    async fn roots(&self) -> std::result::Result<Vec<Root>, ErrorObject> {
        let r = match mcp_client::handler::input_key() {
            Some(k) => self.cx.keyed(k).roots().await,
            None => self.cx.roots().await,
        };
        self.answer(r).await
    }

    fn on_progress(&self, params: &ProgressNotificationParams) {
        self.cx
            .progress(params.progress, params.total, params.message.as_deref());
    }

    fn on_log(&self, params: &LoggingMessageNotificationParams) {
        self.cx
            .log(params.level, params.logger.as_deref(), &params.data);
    }
}

/// What the gateway declares to upstreams: everything a caller might answer (a caller that
/// cannot is refused through the bridge, as the upstream would be by that caller).
pub(crate) fn all_capabilities() -> HandlerCapabilities {
    HandlerCapabilities {
        elicitation_form: true,
        elicitation_url: true,
        sampling: true,
        roots: true,
    }
}

/// An upstream tool.
///
/// A tool of an upstream that runs calls as tasks (the tasks extension) is served as a tool
/// that can run as a task and defers its task ([`ToolHandler::defers_task`]): a call from a
/// caller that declared the extension reaches the upstream with the extension declared, runs
/// as an ordinary request (input requests before the task included), and becomes a task of the
/// front only when the upstream answers with a task. The front's task then follows the
/// upstream's ([`Following`]).
pub(crate) struct UpstreamTool {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tool: Tool,
}

impl ToolHandler for UpstreamTool {
    fn definition(&self) -> Tool {
        self.tool.clone()
    }

    fn defers_task(&self) -> bool {
        true
    }

    async fn call(&self, cx: Context, arguments: JsonObject) -> Result<CallToolResult> {
        // The run in the front's task: follow the upstream task the request's run started.
        if let Some(following) = cx.handed_over::<Following>() {
            return Box::pin(following.run(&cx)).await;
        }
        let name = &self.tool.name;
        // Admitted under the rules' limits before any approval was asked (the admit stage).
        let entered = match cx.entered::<Entered>() {
            Some(entered) => entered,
            None => {
                let size = || serde_json::to_vec(&arguments).map_or(0, |v| v.len());
                self.shared.enter(&cx, ItemKind::Tool, name, size).await?
            }
        };
        let (host, _lease) = self
            .shared
            .host_for(&cx, HostKind::Tool, name, "tools/call")
            .await?;
        let bridge = Bridge::new(&cx);
        let arguments = serde_json::Value::Object(arguments);
        if !cx.can_continue_as_task() {
            let call = Box::pin(host.call_tool(name, arguments, bridge.clone()));
            let mut result = bridged(&bridge, &entered, "tool", name, call).await?;
            relayed(&mut result.meta);
            return fits(result, &entered, "tool", name);
        }
        let call = Box::pin(host.call_tool_or_task(name, arguments, bridge.clone()));
        match bridged(&bridge, &entered, "tool", name, call).await? {
            HostToolCall::Complete(mut result) => {
                relayed(&mut result.meta);
                fits(result, &entered, "tool", name)
            }
            HostToolCall::Task(task) => {
                // The caller's own instance (if any) stays leased while its task runs.
                let following = Following::new(host.clone(), task, entered, name, _lease);
                // The front answers with a task of its own, whose run takes `following` over.
                let following = Box::pin(cx.continue_as_task_with(following)).await?;
                Box::pin(following.run(&cx)).await
            }
        }
    }
}

/// An upstream's task followed by a task of the front: the front's status follows the
/// upstream's (polled with `tasks/get` at the upstream's interval), the upstream's input
/// requests are asked of the caller under the same keys and their answers sent on with
/// `tasks/update`, and the upstream's outcome becomes the front task's: a result (a tool error
/// included) completes it, an error fails it with the error's code and message.
///
/// The upstream's task id never reaches the caller: the front's task has its own id, owned by
/// the caller as every task of the front is. Dropped before the upstream's task ended (the
/// front's task was cancelled or expired, or could not be made), it cancels the upstream's.
///
/// The rules' limits apply as to a call: the concurrency permit is held until the task ends,
/// the timeout bounds each request to the upstream, the size limit applies to the result.
pub(crate) struct Following {
    host: Host,
    upstream: String,
    id: String,
    entered: Entered,
    tool: String,
    /// The upstream's task ended: nothing to cancel.
    ended: bool,
    /// The caller's own upstream instance, held while the task runs.
    _lease: Option<Lease>,
}

/// How often an upstream task is polled: its own interval, within these bounds.
const POLL_MIN: Duration = Duration::from_millis(50);
const POLL_MAX: Duration = Duration::from_secs(5);
const POLL_DEFAULT: Duration = Duration::from_millis(500);

impl Following {
    fn new(
        host: Host,
        task: UpstreamTask,
        entered: Entered,
        tool: &str,
        lease: Option<Lease>,
    ) -> Self {
        Following {
            host,
            upstream: task.upstream,
            id: task.task.task_id,
            entered,
            tool: tool.to_owned(),
            ended: task.task.status.is_terminal(),
            _lease: lease,
        }
    }

    /// Follows the upstream's task to its end; its outcome is the call's.
    async fn run(mut self, cx: &Context) -> Result<CallToolResult> {
        let mut forwarded = BTreeSet::new();
        loop {
            let task = self.get().await?;
            match task.status {
                TaskStatus::Completed => {
                    self.ended = true;
                    let result = serde_json::Value::Object(task.result.unwrap_or_default());
                    let mut result: CallToolResult =
                        serde_json::from_value(result).map_err(|e| {
                            Error::protocol(ErrorObject::internal_error(format!(
                                "the upstream's result of tool `{}` is malformed: {e}",
                                self.tool
                            )))
                        })?;
                    relayed(&mut result.meta);
                    return fits(result, &self.entered, "tool", &self.tool);
                }
                TaskStatus::Failed => {
                    self.ended = true;
                    let error = task.error.map_or_else(
                        || ErrorObject::internal_error("the upstream task failed"),
                        |e| ErrorObject::new(e.code, e.message),
                    );
                    return Err(Error::protocol(error));
                }
                TaskStatus::Cancelled => {
                    self.ended = true;
                    return Err(Error::protocol(ErrorObject::internal_error(format!(
                        "the upstream cancelled the task of tool `{}`",
                        self.tool
                    ))));
                }
                TaskStatus::InputRequired => {
                    let asked: Vec<(String, InputRequest)> = task
                        .input_requests
                        .clone()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|(key, _)| !forwarded.contains(key))
                        .collect();
                    if asked.is_empty() {
                        tokio::time::sleep(poll_interval(&task)).await;
                        continue;
                    }
                    // Each answer goes on as soon as the caller gives it; meanwhile the
                    // upstream's task is still polled, in case it ends without the answers.
                    let mut answers: FuturesUnordered<_> = asked
                        .into_iter()
                        .map(|(key, request)| async move {
                            let answer = ask(cx, &key, request).await;
                            (key, answer)
                        })
                        .collect();
                    loop {
                        tokio::select! {
                            next = answers.next() => {
                                let Some((key, answer)) = next else { break };
                                let answer = answer?;
                                forwarded.insert(key.clone());
                                let responses = InputResponses::from([(key, answer)]);
                                let update =
                                    self.host.update_task(&self.upstream, &self.id, responses);
                                self.bounded(update).await?;
                            }
                            () = tokio::time::sleep(poll_interval(&task)) => {
                                if self.get().await?.status.is_terminal() {
                                    break;
                                }
                            }
                        }
                    }
                }
                TaskStatus::Working => tokio::time::sleep(poll_interval(&task)).await,
            }
        }
    }

    /// The upstream's task now. An upstream that no longer knows it (restarted) fails the call
    /// without naming the upstream's id.
    async fn get(&self) -> Result<Task> {
        let get = self.host.get_task(&self.upstream, &self.id);
        self.bounded(get)
            .await
            .map_err(|e| match e.to_error_object(true).code {
                ErrorCode::INVALID_PARAMS => Error::protocol(ErrorObject::internal_error(format!(
                    "upstream `{}` no longer knows the task of tool `{}`",
                    self.upstream, self.tool
                ))),
                _ => e,
            })
    }

    /// An upstream request within the rules' timeout.
    async fn bounded<T>(
        &self,
        work: impl Future<Output = std::result::Result<T, HostError>>,
    ) -> Result<T> {
        let Some(limit) = self.entered.timeout else {
            return work.await.map_err(host_error);
        };
        match tokio::time::timeout(limit, work).await {
            Ok(r) => r.map_err(host_error),
            Err(_) => Err(Error::public(format!(
                "tool `{}` timed out after {} ms",
                self.tool,
                limit.as_millis()
            ))),
        }
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (host, upstream, id) = (self.host.clone(), self.upstream.clone(), self.id.clone());
        runtime.spawn(async move {
            if let Err(e) = host.cancel_task(&upstream, &id).await {
                tracing::debug!(%upstream, error = %e, "cannot cancel an upstream task");
            }
        });
    }
}

/// The upstream task's polling interval, within bounds.
fn poll_interval(task: &Task) -> Duration {
    task.poll_interval_ms
        .map_or(POLL_DEFAULT, Duration::from_millis)
        .clamp(POLL_MIN, POLL_MAX)
}

/// Asks the caller what an upstream task asks, under the upstream's key.
async fn ask(cx: &Context, key: &str, request: InputRequest) -> Result<InputResponse> {
    Ok(match request {
        InputRequest::Elicit(ElicitRequestParams::Form(f)) => InputResponse::Elicit(
            cx.keyed(key)
                .elicit_with(f.message, f.requested_schema)
                .await?,
        ),
        InputRequest::Elicit(ElicitRequestParams::Url(u)) => {
            let id = u.elicitation_id.unwrap_or_default();
            InputResponse::Elicit(cx.elicit_url(u.message, u.url, id).await?)
        }
        InputRequest::CreateMessage(p) => {
            InputResponse::CreateMessage(cx.keyed(key).sample(p).await?)
        }
        InputRequest::ListRoots(_) => InputResponse::ListRoots(ListRootsResult {
            roots: cx.keyed(key).roots().await?,
            meta: None,
        }),
    })
}

/// An upstream resource or resource template.
pub(crate) struct UpstreamResource {
    pub(crate) shared: Arc<Shared>,
    pub(crate) definition: ResourceDefinition,
}

impl UpstreamResource {
    fn key(&self) -> (ItemKind, &str) {
        match &self.definition {
            ResourceDefinition::Static(r) => (ItemKind::Resource, &r.uri),
            ResourceDefinition::Template(t) => (ItemKind::ResourceTemplate, &t.uri_template),
        }
    }
}

impl ResourceHandler for UpstreamResource {
    fn definition(&self) -> ResourceDefinition {
        self.definition.clone()
    }

    /// As its upstream said, when it is connected; a subscription made while it is not is
    /// kept and made when it is back (the front cannot know yet).
    fn subscribable(&self, uri: &str) -> bool {
        self.shared.host.can_subscribe(uri).unwrap_or(true)
    }

    async fn read(
        &self,
        cx: Context,
        uri: String,
        _variables: BTreeMap<String, String>,
    ) -> Result<Vec<ResourceContents>> {
        let (kind, name) = self.key();
        let entered = self.shared.enter(&cx, kind, name, || 0).await?;
        let (host, _lease) = self
            .shared
            .host_for(&cx, HostKind::Resource, &uri, "resources/read")
            .await?;
        let bridge = Bridge::new(&cx);
        let read = Box::pin(host.read_resource(&uri, bridge.clone()));
        let contents = bridged(&bridge, &entered, "resource", &uri, read).await?;
        fits(contents, &entered, "resource", &uri)
    }

    async fn complete(
        &self,
        cx: Context,
        variable: String,
        value: String,
        _context: Option<CompletionContext>,
    ) -> Result<Completion> {
        let ResourceDefinition::Template(t) = &self.definition else {
            return Ok(Completion::default());
        };
        let (host, _lease) = self
            .shared
            .host_for(
                &cx,
                HostKind::Resource,
                &t.uri_template,
                "completion/complete",
            )
            .await?;
        let reference = CompletionReference::Resource(ResourceTemplateReference {
            uri: t.uri_template.clone(),
            ..Default::default()
        });
        host.complete(reference, &variable, &value)
            .await
            .map_err(host_error)
    }
}

/// An upstream prompt.
pub(crate) struct UpstreamPrompt {
    pub(crate) shared: Arc<Shared>,
    pub(crate) prompt: Prompt,
}

impl PromptHandler for UpstreamPrompt {
    fn definition(&self) -> Prompt {
        self.prompt.clone()
    }

    async fn get(
        &self,
        cx: Context,
        arguments: BTreeMap<String, String>,
    ) -> Result<GetPromptResult> {
        let name = &self.prompt.name;
        let size = || arguments.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
        let entered = self.shared.enter(&cx, ItemKind::Prompt, name, size).await?;
        let (host, _lease) = self
            .shared
            .host_for(&cx, HostKind::Prompt, name, "prompts/get")
            .await?;
        let bridge = Bridge::new(&cx);
        let args = arguments.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let get = Box::pin(host.get_prompt(name, args, bridge.clone()));
        let mut result = bridged(&bridge, &entered, "prompt", name, get).await?;
        relayed(&mut result.meta);
        fits(result, &entered, "prompt", name)
    }

    async fn complete(
        &self,
        cx: Context,
        argument: String,
        value: String,
        _context: Option<CompletionContext>,
    ) -> Result<Completion> {
        let (host, _lease) = self
            .shared
            .host_for(
                &cx,
                HostKind::Prompt,
                &self.prompt.name,
                "completion/complete",
            )
            .await?;
        let reference = CompletionReference::Prompt(PromptReference {
            name: self.prompt.name.clone(),
            ..Default::default()
        });
        host.complete(reference, &argument, &value)
            .await
            .map_err(host_error)
    }
}
