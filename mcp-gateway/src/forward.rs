//! Upstream-backed items: tools, resources and prompts whose handlers forward through the
//! [`Host`] (for an upstream with instances per principal, the caller's own instance: see
//! [`instances`](crate::instances)), and the bridge that carries what an upstream does during a call (progress, logs,
//! elicitation, sampling, roots) to the caller through the server [`Context`].

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use mcp_client::host::{Host, HostError, ItemKind as HostKind};
use mcp_client::{ClientHandler, HandlerCapabilities};
use mcp_core::ErrorObject;
use mcp_core::types::{
    CallToolResult, Completion, CompletionContext, CompletionReference, CreateMessageRequestParams,
    CreateMessageResult, ElicitRequestParams, ElicitResult, GetPromptResult, JsonObject,
    LoggingMessageNotificationParams, ProgressNotificationParams, Prompt, PromptReference,
    ResourceContents, ResourceTemplateReference, Root, Tool,
};
use mcp_server::access::ItemKind;
use mcp_server::{
    Context, Error, PromptHandler, ResourceDefinition, ResourceHandler, Result, ToolHandler,
};
use tokio::sync::Notify;

use crate::instances::{Instances, Lease};
use crate::rules::{Entered, Policy, Verdict};

/// What every upstream-backed handler shares.
pub(crate) struct Shared {
    pub(crate) host: Host,
    pub(crate) policy: Arc<Policy>,
    /// The upstreams with instances per principal, by name.
    pub(crate) instances: HashMap<String, Arc<Instances>>,
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

    /// Admits a call under the limits of the rules that allow it. The server has already
    /// decided access with the same rules; a reload in between is decided again here.
    async fn enter(
        &self,
        cx: &Context,
        kind: ItemKind,
        name: &str,
        argument_bytes: impl FnOnce() -> usize,
    ) -> Result<Entered> {
        let rules = self.policy.rules();
        let label = match kind {
            ItemKind::Tool => "tool",
            ItemKind::Prompt => "prompt",
            _ => "resource",
        };
        match self.policy.verdict(&rules, cx.identity(), kind, name) {
            Verdict::Allow { rules: allows, .. } => {
                rules
                    .enter(&allows, cx.identity(), label, name, argument_bytes)
                    .await
            }
            Verdict::Deny { reason, .. } => Err(Error::protocol(
                ErrorObject::new(
                    crate::rules::ACCESS_DENIED,
                    format!("access denied to {label} `{name}`"),
                )
                .with_data(serde_json::json!({ "reason": reason })),
            )),
        }
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
async fn bridged<T>(
    bridge: &Bridge,
    entered: &Entered,
    kind: &str,
    name: &str,
    work: impl Future<Output = std::result::Result<T, HostError>>,
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
pub(crate) struct UpstreamTool {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tool: Tool,
}

impl ToolHandler for UpstreamTool {
    fn definition(&self) -> Tool {
        self.tool.clone()
    }

    async fn call(&self, cx: Context, arguments: JsonObject) -> Result<CallToolResult> {
        let name = &self.tool.name;
        let size = || serde_json::to_vec(&arguments).map_or(0, |v| v.len());
        let entered = self.shared.enter(&cx, ItemKind::Tool, name, size).await?;
        let (host, _lease) = self
            .shared
            .host_for(&cx, HostKind::Tool, name, "tools/call")
            .await?;
        let bridge = Bridge::new(&cx);
        let call = host.call_tool(name, serde_json::Value::Object(arguments), bridge.clone());
        let result = bridged(&bridge, &entered, "tool", name, call).await?;
        fits(result, &entered, "tool", name)
    }
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
        let read = host.read_resource(&uri, bridge.clone());
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
        let get = host.get_prompt(name, args, bridge.clone());
        let result = bridged(&bridge, &entered, "prompt", name, get).await?;
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
