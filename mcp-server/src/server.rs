//! The server value: what it offers, and how it answers each request.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use mcp_core::messages::ClientRequest;
use mcp_core::types::*;
use mcp_core::uri_template::UriTemplate;
use mcp_core::{ErrorObject, Meta, ProtocolVersion};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::broadcast;

use crate::access::ItemKind;
use crate::admission::{self, AdmitError, ItemPolicy};
use crate::approval::ApprovalGate;
use crate::audit::{Audit, AuditKind, AuditRecord, Outcome};
use crate::context::{Context, StateMap};
use crate::error::Error;
use crate::handler::{
    DynPrompt, DynResource, DynTool, PromptHandler, ResourceDefinition, ResourceHandler,
    TemplateEntry, ToolHandler,
};
use crate::shape::Shape;
use crate::validate::{SchemaCompiler, ToolSchemas};

mod contract;
mod list;

use list::{cursor_of, page};

/// Settings of a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Items per page of every list (default 100).
    pub page_size: usize,
    /// Requests handled at once per connection; more wait (default 64).
    pub max_in_flight: usize,
    /// `ttlMs` of list results in the modern era (default 0: do not cache). Their `cacheScope`
    /// is `private` when the request carries an identity (a list shows what its caller may see),
    /// `public` otherwise; the same for `resources/read`.
    pub list_ttl_ms: u64,
    /// `ttlMs` of `server/discover` (default one hour).
    pub discover_ttl_ms: u64,
    /// `ttlMs` of `resources/read` (default 0).
    pub read_ttl_ms: u64,
    /// How long a request to the client (elicitation, sampling, roots) waits for its answer;
    /// then the client is told it was cancelled and the handler gets an error (default 5 min).
    pub peer_request_timeout: std::time::Duration,
    /// Whether tool arguments and structured results are checked against the tool's schemas
    /// (default `true`). Turn it off only for callers you trust entirely, or to measure its cost.
    /// Without the `validation` feature nothing is checked against the schemas, whatever this
    /// says (typed arguments are still refused when they do not deserialize).
    pub validate: bool,
    /// How many unfinished tasks one principal may have (default 100); its next task is refused
    /// with -32003, `data.reason` `task_quota`. Callers without authentication count as their
    /// legacy session, or all together when there is none (stateless HTTP). Finished tasks of
    /// the same principal are forgotten, oldest first, to make room.
    pub max_tasks_per_principal: usize,
    /// How many tasks the server keeps at once (default 10,000). Finished ones are forgotten,
    /// oldest first, to make room; running ones never are: when every task is unfinished a new
    /// one is refused with -32000.
    pub max_tasks: usize,
    /// Lists every tool's input schema in this dialect, for clients whose model provider accepts
    /// only it (default `None`: the schemas as generated). Arguments are still validated against
    /// the original schema; with [`Dialect::Strict`](mcp_core::contract::Dialect::Strict) an
    /// optional argument is listed as required and nullable, and the `null` a model sends for it
    /// is taken as absent.
    pub tool_schema_dialect: Option<mcp_core::contract::Dialect>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            page_size: 100,
            max_in_flight: 64,
            list_ttl_ms: 0,
            discover_ttl_ms: 3_600_000,
            read_ttl_ms: 0,
            peer_request_timeout: std::time::Duration::from_secs(300),
            validate: true,
            max_tasks_per_principal: 100,
            max_tasks: 10_000,
            tool_schema_dialect: None,
        }
    }
}

/// The bus topic of [`Event`]s passed between replicas.
const EVENTS_TOPIC: &str = "events";

#[derive(serde::Serialize)]
struct RemoteEvent<'a> {
    origin: &'a str,
    event: &'a Event,
}

#[derive(serde::Deserialize)]
struct OwnedRemoteEvent {
    origin: String,
    event: Event,
}

/// Something that changed while serving, for the list_changed and update notifications.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Event {
    ToolsChanged,
    ResourcesChanged,
    PromptsChanged,
    ResourceUpdated(String),
}

struct ToolEntry {
    definition: Tool,
    handler: Arc<dyn DynTool>,
    policy: Arc<ItemPolicy>,
    /// The compiled input and output schemas, or why they do not compile.
    schemas: Result<Arc<ToolSchemas>, String>,
    /// [`ToolHandler::defers_task`].
    defers_task: bool,
    /// The keys of the tool's metrics.
    metrics: Arc<crate::metrics::ToolMetrics>,
}

struct ResourceEntry {
    definition: Resource,
    handler: Arc<dyn DynResource>,
    policy: Arc<ItemPolicy>,
}

struct PromptEntry {
    definition: Prompt,
    handler: Arc<dyn DynPrompt>,
    policy: Arc<ItemPolicy>,
}

#[derive(Default)]
struct Registry {
    tools: Vec<ToolEntry>,
    resources: Vec<ResourceEntry>,
    templates: Vec<TemplateEntry>,
    prompts: Vec<PromptEntry>,
}

impl Registry {
    fn tool(&self, name: &str) -> Option<&ToolEntry> {
        self.tools.iter().find(|t| t.definition.name == name)
    }
}

/// The registry's lock, which is never poisoned.
///
/// Nothing that can panic runs while it is held (items are validated before it is taken,
/// handlers run after it is released), and each change is a single `push` or `retain`, so a
/// registry seen after a panic elsewhere in the thread is still whole: a poisoned lock is
/// recovered instead of failing every later request. `read` and `write` return a `Result` that
/// cannot be an error, so callers keep the `std` lock's shape.
#[derive(Default)]
struct RegistryLock(RwLock<Registry>);

impl RegistryLock {
    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Registry>, std::convert::Infallible> {
        Ok(self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, Registry>, std::convert::Infallible> {
        Ok(self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

#[cfg(test)]
mod registry_lock_tests {
    use super::RegistryLock;

    #[test]
    fn a_poisoned_registry_lock_is_recovered() {
        let lock = std::sync::Arc::new(RegistryLock::default());
        let l = lock.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = l.write();
            panic!("a panic while holding the registry");
        })
        .join();
        assert!(panicked.is_err());
        assert!(lock.0.is_poisoned());
        // Both still work, and see the registry as it was.
        assert!(lock.read().expect("never an error").tools.is_empty());
        assert!(lock.write().expect("never an error").prompts.is_empty());
    }
}

pub(crate) struct Inner {
    pub(crate) info: Implementation,
    pub(crate) instructions: Option<String>,
    registry: RegistryLock,
    pub(crate) state: RwLock<StateMap>,
    pub(crate) options: ServerOptions,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) state_key: [u8; 32],
    pub(crate) tasks: crate::tasks::TaskStore,
    /// The caller of requests that carry no identity (stdio), from [`Server::identity`].
    pub(crate) identity: Option<crate::Identity>,
    /// Authorization and the default policy.
    pub(crate) admission: admission::Settings,
    /// Where audit records go (nowhere by default).
    pub(crate) audit: Audit,
    /// Compiles every tool's schemas once (shared between equal schemas).
    schemas: SchemaCompiler,
    /// The configured approval gate ([`Server::approval`]).
    pub(crate) approval: Option<ApprovalGate>,
    /// The default gate, made at first use with the server key.
    pub(crate) default_gate: std::sync::OnceLock<ApprovalGate>,
    /// The `_meta` of modern results (`serverInfo`) and its JSON, built at the first modern
    /// request.
    modern_meta: std::sync::OnceLock<ModernMeta>,
    /// The result filters ([`Server::filters`]).
    #[cfg(feature = "filters")]
    pub(crate) filters: Option<Arc<crate::filter::Filters>>,
    /// The state shared with other replicas ([`Server::store`]); `None`: all in this process.
    pub(crate) store: Option<Arc<dyn crate::store::Store>>,
    /// This replica's name on the store's bus (random), to tell its own messages apart.
    pub(crate) replica: String,
    /// Whether [`Server::request_state_key`] chose the key (else replicas agree on one through
    /// the store).
    key_chosen: bool,
    /// Started at the first session when a store is attached: the task that passes events
    /// published by other replicas on to this one's sessions.
    remote_events: std::sync::OnceLock<()>,
    /// Whether this replica's events are published to the others ([`Server::share_events`]).
    share_events: bool,
    /// How many subscriptions each resource has, over every connection.
    pub(crate) subscribers: crate::subscriptions::Subscribers,
}

/// An MCP server: tools, resources, templates and prompts, with a name and a version.
///
/// Cheap to clone; clones share everything. Items may be added or removed while serving, and
/// clients that asked are told (`list_changed`).
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use mcp_server::Server;
///
/// let server = Server::new("kpi", env!("CARGO_PKG_VERSION"))
///     .instructions("Query business metrics.");
/// server.serve_stdio().await
/// # }
/// ```
#[derive(Clone)]
pub struct Server {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("info", &self.inner.info)
            .finish_non_exhaustive()
    }
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the OS random source works");
    key
}

impl Server {
    /// A server with a name and a version: pass your crate's, `env!("CARGO_PKG_VERSION")`.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self::with_info(Implementation::new(name, version))
    }

    /// A server with full implementation info (title, description, icons, website).
    pub fn with_info(info: Implementation) -> Self {
        Server {
            inner: Arc::new(Inner {
                info,
                instructions: None,
                registry: RegistryLock::default(),
                state: RwLock::new(StateMap::default()),
                options: ServerOptions::default(),
                events: broadcast::channel(64).0,
                state_key: random_key(),
                tasks: crate::tasks::TaskStore::default(),
                identity: None,
                admission: admission::Settings::default(),
                audit: Audit::new(),
                schemas: SchemaCompiler::default(),
                approval: None,
                default_gate: std::sync::OnceLock::new(),
                modern_meta: std::sync::OnceLock::new(),
                #[cfg(feature = "filters")]
                filters: None,
                store: None,
                replica: crate::trace::hex(&random_key()[..8]),
                key_chosen: false,
                remote_events: std::sync::OnceLock::new(),
                share_events: true,
                subscribers: Default::default(),
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::get_mut(&mut self.inner)
            .expect("configure the server before cloning it or serving with it")
    }

    /// Calls `f` when a resource gets its first subscriber, over all connections (a legacy
    /// `resources/subscribe`, a modern `subscriptions/listen` naming it), and when it loses its
    /// last (unsubscribed, the session ended, the stream closed). A server that relays another
    /// server's resources subscribes there only while a client here is subscribed: without
    /// that subscription the other server sends no updates to relay. `f` runs in the request
    /// that made the change, one change at a time in the order they happened, and must neither
    /// block nor change subscriptions itself (send the change to a task).
    #[must_use]
    pub fn on_subscription_change(
        mut self,
        f: impl Fn(crate::subscriptions::SubscriptionChange) + Send + Sync + 'static,
    ) -> Self {
        self.inner_mut().subscribers.set_hook(Arc::new(f));
        self
    }

    /// How to use the server, for the model.
    #[must_use]
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.inner_mut().instructions = Some(instructions.into());
        self
    }

    /// Settings.
    #[must_use]
    pub fn options(mut self, options: ServerOptions) -> Self {
        self.inner_mut().options = options;
        self
    }

    /// The key that seals `requestState` (a random one by default). Give every instance behind a
    /// load balancer the same key.
    #[must_use]
    pub fn request_state_key(mut self, key: [u8; 32]) -> Self {
        let inner = self.inner_mut();
        inner.state_key = key;
        inner.key_chosen = true;
        self
    }

    /// Shares state with the other replicas of this server through `store`: approval and round
    /// nonces, rate-limit buckets, tasks, legacy sessions with their event buffers, and
    /// notifications (see [`crate::store`]). Every replica also needs the same
    /// [`request_state_key`](Self::request_state_key); [`connect_store`](Self::connect_store)
    /// agrees on one through the store.
    #[must_use]
    pub fn store(mut self, store: Arc<dyn crate::store::Store>) -> Self {
        let inner = self.inner_mut();
        inner.admission.store = Some(store.clone());
        inner.store = Some(store);
        self
    }

    /// Whether list changes and resource updates announced on this replica are passed to the
    /// other replicas through the [`store`](Self::store) (default `true`). Turn it off for a
    /// server whose replicas each learn of them by themselves, as a gateway's replicas each
    /// follow the upstreams and hold their own subscriptions there: passed on, each client
    /// would hear of each change once per replica.
    #[must_use]
    pub fn share_events(mut self, share: bool) -> Self {
        self.inner_mut().share_events = share;
        self
    }

    /// Connects to the store `url` names ([`crate::store::connect`]: `redis://HOST:PORT` with
    /// the `redis` feature, or `memory:`) and shares state through it
    /// ([`store`](Self::store)). Unless [`request_state_key`](Self::request_state_key) chose
    /// one, the replicas agree on the key that seals `requestState` and approvals through the
    /// store: the first replica's random key is kept there.
    pub async fn connect_store(self, url: &str) -> Result<Self, crate::store::StoreError> {
        let store = crate::store::connect(url).await?;
        let mut server = self;
        if !server.inner.key_chosen {
            let key = crate::store::agree_key(store.as_ref()).await?;
            server.inner_mut().state_key = key;
        }
        Ok(server.store(store))
    }

    /// Where to look for a task this replica does not hold: the shared store, or nowhere
    /// (`unknown`, the error for a task the caller cannot see).
    fn shared_tasks(&self, unknown: ErrorObject) -> Result<&dyn crate::store::Store, ErrorObject> {
        self.inner.store.as_deref().ok_or(unknown)
    }

    /// The store shared with other replicas, if one is attached.
    pub fn shared_store(&self) -> Option<&Arc<dyn crate::store::Store>> {
        self.inner.store.as_ref()
    }

    /// The identity of the caller for connections that authenticate no one, such as stdio (the
    /// specification defines no authorization there): the user the process runs for. HTTP
    /// requests carry their own, from the bearer token or the client certificate.
    #[must_use]
    pub fn identity(mut self, identity: crate::Identity) -> Self {
        self.inner_mut().identity = Some(identity);
        self
    }

    /// Requires every request to be authenticated, and every item to declare a policy:
    /// admission fails closed (see [`crate::admission`]). Requests that carry an identity are
    /// checked this way in any case.
    #[must_use]
    pub fn require_authorization(mut self) -> Self {
        self.inner_mut().admission.require_authorization = true;
        self
    }

    /// The server-wide default of every limit an item does not set (rate limit, concurrency,
    /// timeout, sizes, approval, sensitive arguments). Scopes and roles are never defaulted.
    #[must_use]
    pub fn default_policy(mut self, policy: crate::Policy) -> Self {
        self.inner_mut().admission.defaults = policy;
        self
    }

    /// Decides per caller who may see and use each item, consulted both when lists are filtered
    /// and when a call is admitted (see [`crate::access`]).
    #[must_use]
    pub fn access_control(mut self, control: impl crate::access::AccessControl) -> Self {
        let hook = crate::access::AccessHook(Arc::new(control));
        self.inner_mut().admission.access = Some(hook);
        self
    }

    /// Where audit records go: one record per request, response, policy decision and approval
    /// (see [`crate::audit`]).
    #[must_use]
    pub fn audit(mut self, audit: Audit) -> Self {
        self.inner_mut().audit = audit;
        self
    }

    /// How a human approves calls of tools declared with `approval = "required"`: a
    /// server-side approver, an external approval page, timeouts (see [`crate::approval`]). By
    /// default the client's user is asked through elicitation, and approvals are sealed under
    /// the server key.
    #[must_use]
    pub fn approval(mut self, gate: ApprovalGate) -> Self {
        self.inner_mut().approval = Some(gate);
        self
    }

    /// Filters tool results, resource contents and prompt messages before they are sent:
    /// secrets and personal data redacted, dropped or withheld, results released only after an
    /// approval, sizes capped (see [`crate::filter`]). With the `filters` feature (a default one).
    #[cfg(feature = "filters")]
    #[must_use]
    pub fn filters(mut self, filters: crate::filter::Filters) -> Self {
        self.inner_mut().filters = Some(Arc::new(filters));
        self
    }

    /// Whether results go through filters ([`Server::filters`]; never without the `filters`
    /// feature).
    pub(crate) fn has_filters(&self) -> bool {
        #[cfg(feature = "filters")]
        return self.inner.filters.is_some();
        #[cfg(not(feature = "filters"))]
        false
    }

    /// Shared state for handlers, taken as `State<T>`.
    #[must_use]
    pub fn state<T: Send + Sync + 'static>(self, value: T) -> Self {
        self.inner
            .state
            .write()
            .expect("not poisoned")
            .insert(value);
        self
    }

    /// Adds a tool, at start-up.
    ///
    /// # Panics
    /// When a tool of that name is already registered, or the name is not a valid tool name
    /// (a mistake in the program). While serving, use [`Server::try_add_tool`], which returns the
    /// error instead.
    #[must_use]
    pub fn tool(self, tool: impl ToolHandler) -> Self {
        self.add_tool(tool);
        self
    }

    /// Adds a resource or a resource template, at start-up.
    ///
    /// # Panics
    /// When the URI is taken, or a template does not parse (a mistake in the program). While
    /// serving, use [`Server::try_add_resource`], which returns the error instead.
    #[must_use]
    pub fn resource(self, resource: impl ResourceHandler) -> Self {
        self.add_resource(resource);
        self
    }

    /// Adds a prompt, at start-up.
    ///
    /// # Panics
    /// When a prompt of that name is already registered (a mistake in the program). While
    /// serving, use [`Server::try_add_prompt`], which returns the error instead.
    #[must_use]
    pub fn prompt(self, prompt: impl PromptHandler) -> Self {
        self.add_prompt(prompt);
        self
    }

    /// Adds a tool while serving; clients are told the list changed.
    ///
    /// # Panics
    /// Like [`Server::tool`]; the panic happens before the registry is touched, so other
    /// requests are still served. Prefer [`Server::try_add_tool`] while serving.
    pub fn add_tool(&self, tool: impl ToolHandler) {
        if let Err(e) = self.try_add_tool(tool) {
            panic!("{e}");
        }
    }

    /// Adds a tool while serving, or says why it cannot be added (an invalid name, or a tool of
    /// that name is already registered); the server is then unchanged. Clients are told the list
    /// changed.
    pub fn try_add_tool(&self, tool: impl ToolHandler) -> Result<(), crate::RegisterError> {
        let definition = tool.definition();
        if let Err(reason) = validate_tool_name(&definition.name) {
            return Err(crate::RegisterError::InvalidToolName {
                name: definition.name,
                reason,
            });
        }
        let defers_task = tool.defers_task();
        let policy = ItemPolicy::new(tool.policy(), admission::may_destroy(&definition));
        let policy = Arc::new(policy.for_item(ItemKind::Tool, &definition.name));
        let schemas = self
            .inner
            .schemas
            .compile_tool(&definition)
            .map(Arc::new)
            .map_err(|e| {
                tracing::error!(tool = %definition.name, error = %e, "a tool schema does not compile: every call will fail");
                e.to_string()
            });
        let mut reg = self.inner.registry.write().expect("not poisoned");
        if reg.tool(&definition.name).is_some() {
            return Err(crate::RegisterError::DuplicateTool(definition.name));
        }
        let metrics = Arc::new(crate::metrics::ToolMetrics::new(&definition.name));
        reg.tools.push(ToolEntry {
            definition,
            handler: Arc::new(tool),
            policy,
            schemas,
            defers_task,
            metrics,
        });
        drop(reg);
        self.emit(Event::ToolsChanged);
        Ok(())
    }

    /// The tool called `name`, as the call pipeline runs it.
    pub(crate) fn callee(&self, name: &str) -> Option<crate::pipeline::Callee> {
        let reg = self.inner.registry.read().expect("not poisoned");
        reg.tool(name).map(|t| crate::pipeline::Callee {
            handler: t.handler.clone(),
            task_support: task_support(&t.definition),
            defers_task: t.defers_task,
            policy: t.policy.clone(),
            schemas: t.schemas.clone(),
        })
    }

    /// Removes a tool while serving; returns whether it was there.
    pub fn remove_tool(&self, name: &str) -> bool {
        let mut reg = self.inner.registry.write().expect("not poisoned");
        let before = reg.tools.len();
        reg.tools.retain(|t| t.definition.name != name);
        let removed = reg.tools.len() != before;
        drop(reg);
        if removed {
            self.emit(Event::ToolsChanged);
        }
        removed
    }

    /// Adds a resource or template while serving.
    ///
    /// # Panics
    /// Like [`Server::resource`]; the panic happens before the registry is touched, so other
    /// requests are still served. Prefer [`Server::try_add_resource`] while serving.
    pub fn add_resource(&self, resource: impl ResourceHandler) {
        if let Err(e) = self.try_add_resource(resource) {
            panic!("{e}");
        }
    }

    /// Adds a resource or template while serving, or says why it cannot be added (the URI or
    /// template is taken, or the template does not parse); the server is then unchanged.
    pub fn try_add_resource(
        &self,
        resource: impl ResourceHandler,
    ) -> Result<(), crate::RegisterError> {
        let definition = resource.definition();
        let template = match &definition {
            ResourceDefinition::Static(_) => None,
            ResourceDefinition::Template(t) => {
                Some(UriTemplate::parse(&t.uri_template).map_err(|reason| {
                    crate::RegisterError::InvalidUriTemplate {
                        template: t.uri_template.clone(),
                        reason,
                    }
                })?)
            }
        };
        let (kind, name) = match &definition {
            ResourceDefinition::Static(r) => (ItemKind::Resource, &r.uri),
            ResourceDefinition::Template(t) => (ItemKind::ResourceTemplate, &t.uri_template),
        };
        let policy = Arc::new(ItemPolicy::new(resource.policy(), false).for_item(kind, name));
        let handler: Arc<dyn DynResource> = Arc::new(resource);
        let mut reg = self.inner.registry.write().expect("not poisoned");
        match (definition, template) {
            (ResourceDefinition::Static(definition), _) => {
                if reg
                    .resources
                    .iter()
                    .any(|r| r.definition.uri == definition.uri)
                {
                    return Err(crate::RegisterError::DuplicateResource(definition.uri));
                }
                reg.resources.push(ResourceEntry {
                    definition,
                    handler,
                    policy,
                });
            }
            (ResourceDefinition::Template(definition), Some(template)) => {
                if reg
                    .templates
                    .iter()
                    .any(|t| t.definition.uri_template == definition.uri_template)
                {
                    return Err(crate::RegisterError::DuplicateTemplate(
                        definition.uri_template,
                    ));
                }
                reg.templates.push(TemplateEntry {
                    template,
                    definition,
                    handler,
                    policy,
                });
            }
            (ResourceDefinition::Template(_), None) => unreachable!("parsed above"),
        }
        drop(reg);
        self.emit(Event::ResourcesChanged);
        Ok(())
    }

    /// Removes a resource or template by its URI or URI template; returns whether it was there.
    pub fn remove_resource(&self, uri: &str) -> bool {
        let mut reg = self.inner.registry.write().expect("not poisoned");
        let before = reg.resources.len() + reg.templates.len();
        reg.resources.retain(|r| r.definition.uri != uri);
        reg.templates.retain(|t| t.definition.uri_template != uri);
        let removed = reg.resources.len() + reg.templates.len() != before;
        drop(reg);
        if removed {
            self.emit(Event::ResourcesChanged);
        }
        removed
    }

    /// Adds a prompt while serving.
    ///
    /// # Panics
    /// Like [`Server::prompt`]; the panic happens before the registry is touched, so other
    /// requests are still served. Prefer [`Server::try_add_prompt`] while serving.
    pub fn add_prompt(&self, prompt: impl PromptHandler) {
        if let Err(e) = self.try_add_prompt(prompt) {
            panic!("{e}");
        }
    }

    /// Adds a prompt while serving, or says why it cannot be added (a prompt of that name is
    /// already registered); the server is then unchanged.
    pub fn try_add_prompt(&self, prompt: impl PromptHandler) -> Result<(), crate::RegisterError> {
        let definition = prompt.definition();
        let policy = ItemPolicy::new(prompt.policy(), false);
        let policy = Arc::new(policy.for_item(ItemKind::Prompt, &definition.name));
        let mut reg = self.inner.registry.write().expect("not poisoned");
        if reg
            .prompts
            .iter()
            .any(|p| p.definition.name == definition.name)
        {
            return Err(crate::RegisterError::DuplicatePrompt(definition.name));
        }
        reg.prompts.push(PromptEntry {
            definition,
            handler: Arc::new(prompt),
            policy,
        });
        drop(reg);
        self.emit(Event::PromptsChanged);
        Ok(())
    }

    /// The `x-mcp-header` annotations of a tool's parameters (SEP-2243), as pairs of the header's
    /// name part (`Region` for `Mcp-Param-Region`) and the parameter. Only top-level properties
    /// are considered; none when there is no such tool.
    #[cfg(feature = "http")]
    pub(crate) fn header_params(&self, tool: &str) -> Vec<(String, String)> {
        let reg = self.inner.registry.read().expect("not poisoned");
        let Some(entry) = reg.tool(tool) else {
            return Vec::new();
        };
        let Some(serde_json::Value::Object(props)) =
            entry.definition.input_schema.get("properties")
        else {
            return Vec::new();
        };
        props
            .iter()
            .filter_map(|(prop, schema)| {
                let header = schema.get("x-mcp-header")?.as_str()?;
                Some((header.to_owned(), prop.clone()))
            })
            .collect()
    }

    /// Removes a prompt while serving; returns whether it was there.
    pub fn remove_prompt(&self, name: &str) -> bool {
        let mut reg = self.inner.registry.write().expect("not poisoned");
        let before = reg.prompts.len();
        reg.prompts.retain(|p| p.definition.name != name);
        let removed = reg.prompts.len() != before;
        drop(reg);
        if removed {
            self.emit(Event::PromptsChanged);
        }
        removed
    }

    /// Whether `identity` may subscribe to the resource at `uri` (`resources/subscribe`,
    /// `subscriptions/listen`): exactly when it may read it, refused with the error its read
    /// would get (unknown resource, or the access denial), so that a subscription tells the
    /// caller nothing a read would not.
    pub(crate) fn may_subscribe(
        &self,
        identity: Option<&crate::Identity>,
        uri: &str,
        modern: bool,
    ) -> Result<(), ErrorObject> {
        let found = {
            let reg = self.inner.registry.read().expect("not poisoned");
            match reg.resources.iter().find(|r| r.definition.uri == uri) {
                Some(r) => Some((r.policy.clone(), r.handler.clone())),
                None => reg
                    .templates
                    .iter()
                    .find(|t| t.template.match_uri(uri).is_some())
                    .map(|t| (t.policy.clone(), t.handler.clone())),
            }
        };
        let Some((policy, handler)) = found else {
            return Err(Error::not_found(uri).to_error_object(modern));
        };
        policy
            .access(&self.inner.admission, identity)
            .map_err(|d| d.to_error_object("resource", uri))?;
        if !handler.subscribable(uri) {
            return Err(ErrorObject::invalid_params(format!(
                "the resource `{uri}` does not support subscriptions"
            )));
        }
        Ok(())
    }

    /// Tells clients that every list may have changed (`list_changed` for tools, resources and
    /// prompts): after a change of what an [`AccessControl`](crate::access::AccessControl)
    /// decides, for instance.
    pub fn notify_lists_changed(&self) {
        for e in [
            Event::ToolsChanged,
            Event::ResourcesChanged,
            Event::PromptsChanged,
        ] {
            self.emit(e);
        }
    }

    /// Tells subscribed clients that the resource at `uri` changed: this replica's, and with a
    /// [`store`](Self::store), every other replica's (unless
    /// [`share_events`](Self::share_events) is off).
    pub fn notify_resource_updated(&self, uri: impl Into<String>) {
        self.emit(Event::ResourceUpdated(uri.into()));
    }

    /// Sends an event to this replica's sessions and, with a store (unless
    /// [`share_events`](Self::share_events) is off), publishes it for the others.
    pub(crate) fn emit(&self, event: Event) {
        // Only once serving (a replica still being built has nothing to announce).
        if let Some(store) = &self.inner.store
            && self.inner.share_events
            && self.inner.remote_events.get().is_some()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let payload = serde_json::to_vec(&RemoteEvent {
                origin: &self.inner.replica,
                event: &event,
            })
            .expect("serializes");
            let store = store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.publish(EVENTS_TOPIC, &payload).await {
                    tracing::warn!(error = %e, "a notification was not passed to the other replicas");
                }
            });
        }
        let _ = self.inner.events.send(event);
    }

    /// With a store, starts (once) passing the events other replicas publish on to this
    /// replica's sessions, and applying their `task-cancel` and `task-update` messages to the
    /// tasks this replica runs. Called as serving starts, as a session starts and as a task is
    /// created.
    pub(crate) fn follow_remote_events(&self) {
        let Some(store) = &self.inner.store else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        self.inner.remote_events.get_or_init(|| {
            let mut messages = store.subscribe();
            let inner = Arc::downgrade(&self.inner);
            tokio::spawn(async move {
                loop {
                    let message = match messages.recv().await {
                        Ok(m) => m,
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "missed notifications of other replicas");
                            continue;
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    };
                    let Some(inner) = inner.upgrade() else { break };
                    if message.topic != EVENTS_TOPIC {
                        inner.tasks.apply_remote(&message);
                        continue;
                    }
                    match serde_json::from_slice::<OwnedRemoteEvent>(&message.payload) {
                        Ok(r) if r.origin != inner.replica => {
                            let _ = inner.events.send(r.event);
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "a malformed notification on the store's bus"),
                    }
                }
            });
        });
    }

    /// The server's name and version.
    pub fn info(&self) -> &Implementation {
        &self.inner.info
    }

    /// The capabilities the server declares: from what it holds, in the full (newest) form.
    pub fn capabilities(&self) -> ServerCapabilities {
        let reg = self.inner.registry.read().expect("not poisoned");
        let has_resources = !reg.resources.is_empty() || !reg.templates.is_empty();
        let has_tasks = reg
            .tools
            .iter()
            .any(|t| task_support(&t.definition) != TaskSupport::Forbidden);
        ServerCapabilities {
            tools: Some(ListChangedCapability {
                list_changed: Some(true),
            }),
            resources: has_resources.then_some(ResourcesCapability {
                subscribe: Some(true),
                list_changed: Some(true),
            }),
            prompts: (!reg.prompts.is_empty()).then_some(ListChangedCapability {
                list_changed: Some(true),
            }),
            logging: Some(JsonObject::new()),
            completions: (has_resources || !reg.prompts.is_empty()).then(JsonObject::new),
            tasks: has_tasks.then(|| TasksCapability {
                list: Some(JsonObject::new()),
                cancel: Some(JsonObject::new()),
                requests: Some(
                    serde_json::from_value(serde_json::json!({ "tools": { "call": {} } }))
                        .expect("an object"),
                ),
            }),
            extensions: has_tasks.then(|| [(TASKS_EXTENSION.to_owned(), JsonObject::new())].into()),
            ..Default::default()
        }
    }
}

/// Who owns the tasks a request creates, and whose tasks it may see.
pub(crate) fn task_owner(cx: &Context) -> crate::tasks::TaskOwner {
    crate::tasks::TaskOwner::of(cx.identity(), cx.inner.session_id.as_ref())
}

/// -32021 naming the tasks extension.
pub(crate) fn tasks_extension_missing(message: &str) -> ErrorObject {
    ErrorObject::new(
        mcp_core::ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY,
        message,
    )
    .with_data(serde_json::json!({
        "requiredCapabilities": { "extensions": { TASKS_EXTENSION: {} } }
    }))
}

fn task_support(tool: &Tool) -> TaskSupport {
    tool.execution
        .as_ref()
        .and_then(|e| e.task_support)
        .unwrap_or(TaskSupport::Forbidden)
}

/// The `_meta` every modern result carries, and the same as JSON.
struct ModernMeta {
    meta: Meta,
    json: Box<RawValue>,
}

/// The server's [`ModernMeta`]: the server info is shaped and serialized once (the modern era has
/// one version), not per result.
fn modern_meta_of<'s>(cx: &Context, server: &'s Server) -> &'s ModernMeta {
    server.inner.modern_meta.get_or_init(|| {
        let mut info = server.inner.info.clone();
        info.shape(cx.protocol_version());
        let mut meta = Meta::new();
        meta.set_server_info(&info);
        let json = mcp_core::jsonrpc::to_raw(&meta).expect("a map of JSON values serializes");
        ModernMeta { meta, json }
    })
}

/// The `_meta` every modern result carries (`None` in the legacy era).
pub(crate) fn modern_meta(cx: &Context, server: &Server) -> Option<Meta> {
    (cx.era() == mcp_core::Era::Modern).then(|| modern_meta_of(cx, server).meta.clone())
}

/// A modern result whose own `_meta` is absent, in its wire form with the server's `_meta`
/// ([`modern_meta`]) as its last member, written from JSON made once instead of a `Meta` cloned
/// into the result and serialized again. The same bytes as setting the result's `_meta`, for a
/// result type whose `_meta` is its last field (as every result type's is).
pub(crate) fn raw_with_modern_meta<T: Serialize>(
    value: &T,
    cx: &Context,
    server: &Server,
) -> Result<Box<RawValue>, ErrorObject> {
    #[derive(Serialize)]
    struct WithMeta<'a, T> {
        #[serde(flatten)]
        result: &'a T,
        #[serde(rename = "_meta")]
        meta: &'a RawValue,
    }
    raw(&WithMeta {
        result: value,
        meta: &modern_meta_of(cx, server).json,
    })
}

pub(crate) fn result_type(cx: &Context) -> Option<ResultType> {
    (cx.era() == mcp_core::Era::Modern).then_some(ResultType::Complete)
}

/// The cache scope of an answer that may depend on who asks (a list filtered by what the caller
/// may see, a resource whose handler reads the caller): `private` when the request carries an
/// identity, so that no cache shared across callers (a gateway, a proxy) serves one caller's
/// answer to another; `public` when it carries none, as every such caller gets the same.
fn caller_scope(cx: &Context) -> CacheScope {
    if cx.identity().is_some() {
        CacheScope::Private
    } else {
        CacheScope::Public
    }
}

fn cache(cx: &Context, ttl: u64, scope: CacheScope) -> (Option<u64>, Option<CacheScope>) {
    if cx.era() == mcp_core::Era::Modern {
        (Some(ttl), Some(scope))
    } else {
        (None, None)
    }
}

pub(crate) fn raw<T: Serialize>(value: &T) -> Result<Box<RawValue>, ErrorObject> {
    mcp_core::jsonrpc::to_raw(value)
        .map_err(|e| ErrorObject::internal_error(format!("cannot serialize the result: {e}")))
}

/// The item of an audited request.
struct AuditSubject {
    item: String,
    /// The hash of the arguments (sensitive ones left out), computed once for every record.
    args_hash: Option<String>,
}

/// What identifies a multi-round-trip request, and the answers it carries.
pub(crate) struct RoundInput {
    pub(crate) binding: Binding,
    pub(crate) responses: InputResponses,
    /// The approval grant sealed into the state by an earlier round of this call.
    pub(crate) approval: Option<String>,
}

/// What a modern round's `requestState` is bound to: the request as its client sends it again
/// on the next round (method, name or URI, arguments) and the caller. A state handle is bound
/// to the caller too: another principal cannot use it.
fn binding_of(request: &ClientRequest, principal: Option<&str>) -> Option<String> {
    let bound = |method: &str, mut subject: serde_json::Value| {
        subject["principal"] = serde_json::json!(principal);
        crate::state_token::binding(method, &subject)
    };
    Some(match request {
        // Hashed as it is written, the arguments not copied.
        ClientRequest::CallTool(p) => {
            crate::state_token::tool_call_binding(&p.name, p.arguments.as_ref(), principal)
        }
        ClientRequest::GetPrompt(p) => bound(
            "prompts/get",
            serde_json::json!({ "name": p.name, "arguments": p.arguments }),
        ),
        ClientRequest::ReadResource(p) => {
            bound("resources/read", serde_json::json!({ "uri": p.uri }))
        }
        _ => return None,
    })
}

/// The binding of a round ([`binding_of`]): known at once when the round carries a state to
/// open (or params too big to keep a copy of), else hashed only when the round asks for input,
/// from a copy of its params as they came (nearly every round asks for none: hashing the
/// arguments of every call cost a modern `tools/call` about a sixth of its instructions).
pub(crate) enum Binding {
    /// Computed.
    Known(String),
    /// To compute from the request's params, read again.
    Later {
        version: ProtocolVersion,
        method: &'static str,
        params: Option<Box<RawValue>>,
        principal: Option<String>,
    },
}

impl Binding {
    /// The binding's value. The params were read once already: a second reading gives the same
    /// request (were it to fail, the empty binding matches no later round's, which is refused).
    pub(crate) fn value(&self) -> String {
        match self {
            Binding::Known(b) => b.clone(),
            Binding::Later {
                version,
                method,
                params,
                principal,
            } => ClientRequest::parse_for(*version, method, params.as_deref())
                .ok()
                .and_then(|r| binding_of(&r, principal.as_deref()))
                .unwrap_or_default(),
        }
    }
}

impl Server {
    /// The binding and the answers of a request that may ask for input (modern era): earlier
    /// rounds from the sealed `requestState`, this round from `inputResponses`. `params` are
    /// the request's as they came, kept for a binding computed later.
    pub(crate) fn round_input(
        &self,
        request: &ClientRequest,
        version: ProtocolVersion,
        params: Option<&RawValue>,
        principal: Option<&str>,
    ) -> Result<Option<RoundInput>, ErrorObject> {
        let (state, responses) = match request {
            ClientRequest::CallTool(p) => (p.request_state.as_deref(), p.input_responses.as_ref()),
            ClientRequest::GetPrompt(p) => (p.request_state.as_deref(), p.input_responses.as_ref()),
            ClientRequest::ReadResource(p) => {
                (p.request_state.as_deref(), p.input_responses.as_ref())
            }
            _ => return Ok(None),
        };
        // Params kept for later are a copy held while the request runs: bigger ones are hashed
        // at once, as the rare round with a state to open is.
        const KEPT_PARAMS: usize = 16 * 1024;
        let (binding, (mut all, approval)) = match state {
            Some(token) => {
                let binding = binding_of(request, principal).unwrap_or_default();
                let opened = crate::state_token::open_round(&self.inner.state_key, &binding, token)
                    .map_err(|e| {
                        ErrorObject::invalid_params(format!("invalid requestState ({e:?})"))
                    })?;
                (Binding::Known(binding), opened)
            }
            None if params.is_none_or(|p| p.get().len() <= KEPT_PARAMS) => (
                Binding::Later {
                    version,
                    method: request.method(),
                    params: params.map(ToOwned::to_owned),
                    principal: principal.map(ToOwned::to_owned),
                },
                (InputResponses::new(), None),
            ),
            None => (
                Binding::Known(binding_of(request, principal).unwrap_or_default()),
                (InputResponses::new(), None),
            ),
        };
        if let Some(r) = responses {
            all.extend(r.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(Some(RoundInput {
            binding,
            responses: all,
            approval,
        }))
    }

    /// The `input_required` result for a round that asked the client for input.
    pub(crate) fn input_required(
        &self,
        cx: &Context,
        binding: Option<&Binding>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let crate::context::InputMode::Modern(mrtr) = &cx.inner.input else {
            return Err(ErrorObject::internal_error(
                "input required outside the modern era",
            ));
        };
        let pending = std::mem::take(&mut *mrtr.pending.lock().expect("not poisoned"));
        // A call approved in this round carries the proof to its next round.
        let approval = mrtr
            .kept_approval
            .lock()
            .expect("not poisoned")
            .take()
            .map(|a| a.grant());
        let binding = binding.map(Binding::value).unwrap_or_default();
        let token = crate::state_token::seal_round(
            &self.inner.state_key,
            &binding,
            &mrtr.responses,
            approval.as_deref(),
        );
        raw(&InputRequiredResult {
            input_requests: Some(pending),
            request_state: Some(token),
            result_type: Some(ResultType::InputRequired),
            meta: modern_meta(cx, self),
        })
    }

    /// Answers a request that needs no session state: audited (a request record, then a
    /// response record with the outcome and latency), measured (tool calls), and run in a span
    /// that continues the caller's trace (`traceparent` in `_meta`).
    ///
    /// The request is boxed: it is several hundred bytes, and every future that held it by
    /// value (this one, dispatch's) grew by as much, to be copied whenever a request's future
    /// is moved.
    pub(crate) async fn answer(
        &self,
        cx: Context,
        request: Box<ClientRequest>,
        binding: Option<&Binding>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let started = std::time::Instant::now();
        let method = request.method();
        let trace = cx.trace_parent();
        let audit = &self.inner.audit;
        // Metrics are labelled with registered tool names only.
        let tool = match &*request {
            ClientRequest::CallTool(p) => self
                .inner
                .registry
                .read()
                .expect("not poisoned")
                .tool(&p.name)
                .map(|t| t.metrics.clone()),
            _ => None,
        };
        // One record serves twice: recorded as the request, then restamped and completed as
        // the response (its principal, item, hashes and ids are the same: built once, not
        // twice). Boxed: it is held across the call, and a request's future is moved whole.
        let record = audit.is_enabled().then(|| {
            let mut r = AuditRecord::new(AuditKind::Request, method)
                .with_principal(cx.identity())
                .with_request_id(cx.request_id().clone())
                .with_trace(trace.as_ref());
            if let Some(id) = &cx.inner.session_id {
                r = r.with_session_id(id.as_ref());
            }
            // What the request names, and the hash of its arguments (computed once).
            if let Some(s) = self.audit_subject(&request) {
                r = r.with_item(&s.item);
                r.args_hash = s.args_hash;
            }
            Box::new(r)
        });
        if let Some(r) = &record {
            audit.record(r);
        }
        let span = crate::trace::TraceContext::request_span(method, trace.as_ref());
        // Boxed: every request's future holds this one, and a future is copied whole each
        // time it moves into the one that awaits it (five levels up to the transport's); the
        // dispatch's, with a branch for every method, is over 2 KB, a box of it 8 bytes.
        let work = Box::pin(self.dispatch(cx.clone(), request, binding));
        let result = tracing::Instrument::instrument(work, span).await;
        let latency = started.elapsed();
        let (outcome, code) = match &result {
            Ok(_)
                if cx
                    .inner
                    .tool_error
                    .load(std::sync::atomic::Ordering::Relaxed) =>
            {
                (Outcome::ToolError, None)
            }
            Ok(_) => (Outcome::Ok, None),
            Err(e) => (Outcome::Error, Some(i64::from(e.code.0))),
        };
        if let Some(mut r) = record {
            r.kind = AuditKind::Response;
            r.restamp();
            audit.record(&r.with_outcome(outcome, code).with_latency(latency));
        }
        if let Some(tool) = tool {
            match &result {
                Err(e) if e.code == admission::ACCESS_DENIED => tool.denial(latency),
                _ => tool.call(outcome, latency),
            }
        }
        result
    }

    /// What an audit record names: the item, its arguments and which of them are sensitive.
    fn audit_subject(&self, request: &ClientRequest) -> Option<AuditSubject> {
        let reg = self.inner.registry.read().expect("not poisoned");
        let settings = &self.inner.admission;
        match request {
            ClientRequest::CallTool(p) => {
                let sensitive = reg
                    .tool(&p.name)
                    .map(|t| t.policy.in_force(settings).sensitive.as_slice())
                    .unwrap_or_default();
                let empty = JsonObject::new();
                let arguments = p.arguments.as_ref().unwrap_or(&empty);
                Some(AuditSubject {
                    item: p.name.clone(),
                    args_hash: Some(crate::audit::hash_arguments(arguments, sensitive)),
                })
            }
            ClientRequest::GetPrompt(p) => {
                let entry = reg.prompts.iter().find(|e| e.definition.name == p.name);
                let args_hash = p.arguments.as_ref().map(|a| {
                    let arguments: JsonObject = a
                        .iter()
                        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                        .collect();
                    let sensitive = entry
                        .map(|e| e.policy.in_force(settings).sensitive.as_slice())
                        .unwrap_or_default();
                    crate::audit::hash_arguments(&arguments, sensitive)
                });
                Some(AuditSubject {
                    item: p.name.clone(),
                    args_hash,
                })
            }
            ClientRequest::ReadResource(p) => Some(AuditSubject {
                item: p.uri.clone(),
                args_hash: None,
            }),
            _ => None,
        }
    }

    /// Dispatches a request to its handler.
    async fn dispatch(
        &self,
        cx: Context,
        request: Box<ClientRequest>,
        binding: Option<&Binding>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let v = cx.protocol_version();
        let modern = cx.era() == mcp_core::Era::Modern;
        let size = self.inner.options.page_size;

        match *request {
            ClientRequest::Ping(_) => raw(&EmptyResult {
                meta: None,
                result_type: result_type(&cx),
            }),
            ClientRequest::Discover(_) => {
                let mut capabilities = self.capabilities();
                capabilities.shape(v);
                let (ttl_ms, cache_scope) =
                    cache(&cx, self.inner.options.discover_ttl_ms, CacheScope::Public);
                let mut supported = vec![ProtocolVersion::V2026_07_28.as_str().to_owned()];
                supported.extend(
                    ProtocolVersion::LEGACY
                        .iter()
                        .map(|v| v.as_str().to_owned()),
                );
                raw(&DiscoverResult {
                    supported_versions: supported,
                    capabilities,
                    instructions: self.inner.instructions.clone(),
                    ttl_ms,
                    cache_scope,
                    result_type: result_type(&cx),
                    meta: modern_meta(&cx, self),
                })
            }
            ClientRequest::ListTools(p) => {
                let reg = self.inner.registry.read().expect("not poisoned");
                let dialect = self.inner.options.tool_schema_dialect;
                self.list::<_, ListToolsResult>(&cx, &reg.tools, cursor_of(&p), |tool| {
                    if let Some(dialect) = dialect {
                        tool.input_schema = dialect.rewrite(&tool.input_schema);
                    }
                })
            }
            // Not boxed: the call's future (about 1 KB) fits in the space the other arms need, so
            // inline it costs the request's future 272 bytes where a box costs an allocation
            // and a 1 KB copy on every call.
            ClientRequest::CallTool(p) => self.call_tool(cx, p, binding).await,
            ClientRequest::ListResources(p) => {
                let reg = self.inner.registry.read().expect("not poisoned");
                self.list::<_, ListResourcesResult>(&cx, &reg.resources, cursor_of(&p), |_| {})
            }
            ClientRequest::ListResourceTemplates(p) => {
                let reg = self.inner.registry.read().expect("not poisoned");
                self.list::<_, ListResourceTemplatesResult>(
                    &cx,
                    &reg.templates,
                    cursor_of(&p),
                    |_| {},
                )
            }
            ClientRequest::ReadResource(p) => {
                let found = {
                    let reg = self.inner.registry.read().expect("not poisoned");
                    if let Some(r) = reg.resources.iter().find(|r| r.definition.uri == p.uri) {
                        Some((r.handler.clone(), BTreeMap::new(), r.policy.clone()))
                    } else {
                        reg.templates.iter().find_map(|t| {
                            let m = t.template.match_uri(&p.uri)?;
                            let vars = m
                                .iter()
                                .filter_map(|(k, v)| {
                                    v.as_str().map(|s| (k.to_owned(), s.to_owned()))
                                })
                                .collect();
                            Some((t.handler.clone(), vars, t.policy.clone()))
                        })
                    }
                };
                let Some((handler, vars, policy)) = found else {
                    return Err(Error::not_found(p.uri).to_error_object(modern));
                };
                let admission = self
                    .admit_read(&cx, &policy, "resource", &p.uri, || 0)
                    .await?;
                let uri = p.uri.clone();
                let read = handler.read(cx.clone(), p.uri, vars);
                match crate::pipeline::run::bounded(admission.timeout, "resource", &uri, read).await
                {
                    Ok(contents) => {
                        // Boxed, and only with filters: its future is larger than the rest of
                        // this one.
                        #[cfg(feature = "filters")]
                        let mut contents = contents;
                        #[cfg(feature = "filters")]
                        if self.inner.filters.is_some()
                            && let Err(e) =
                                Box::pin(self.filter_contents(&cx, &uri, &mut contents)).await
                        {
                            return self.handler_error(&cx, e, binding);
                        }
                        let (ttl_ms, cache_scope) =
                            cache(&cx, self.inner.options.read_ttl_ms, caller_scope(&cx));
                        let mut result = ReadResourceResult {
                            contents,
                            ttl_ms,
                            cache_scope,
                            result_type: result_type(&cx),
                            meta: modern_meta(&cx, self),
                        };
                        result.shape(v);
                        let out = raw(&result)?;
                        match oversized(&out, admission.max_result_bytes, "resource", &uri) {
                            Some(e) => self.handler_error(&cx, e, binding),
                            None => Ok(out),
                        }
                    }
                    Err(e) => self.handler_error(&cx, e, binding),
                }
            }
            ClientRequest::ListPrompts(p) => {
                let reg = self.inner.registry.read().expect("not poisoned");
                self.list::<_, ListPromptsResult>(&cx, &reg.prompts, cursor_of(&p), |_| {})
            }
            ClientRequest::GetPrompt(p) => {
                let handler = {
                    let reg = self.inner.registry.read().expect("not poisoned");
                    reg.prompts
                        .iter()
                        .find(|e| e.definition.name == p.name)
                        .map(|e| (e.handler.clone(), e.policy.clone()))
                };
                let Some((handler, policy)) = handler else {
                    return Err(ErrorObject::invalid_params(format!(
                        "Unknown prompt: {}",
                        p.name
                    )));
                };
                let arguments = p.arguments.unwrap_or_default();
                #[cfg(feature = "filters")]
                let filtered_arguments = self
                    .inner
                    .filters
                    .is_some()
                    .then(|| serde_json::to_value(&arguments).unwrap_or_default());
                let size = || arguments.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
                let admission = self
                    .admit_read(&cx, &policy, "prompt", &p.name, size)
                    .await?;
                let get = handler.get(cx.clone(), arguments);
                match crate::pipeline::run::bounded(admission.timeout, "prompt", &p.name, get).await
                {
                    Ok(mut result) => {
                        #[cfg(feature = "filters")]
                        if let Some(arguments) = &filtered_arguments
                            && let Err(e) = Box::pin(self.filter_messages(
                                &cx,
                                &p.name,
                                arguments,
                                &mut result.messages,
                            ))
                            .await
                        {
                            return self.handler_error(&cx, e, binding);
                        }
                        result.shape(v);
                        result.result_type = result_type(&cx);
                        if modern {
                            result.meta = modern_meta(&cx, self);
                        }
                        let out = raw(&result)?;
                        match oversized(&out, admission.max_result_bytes, "prompt", &p.name) {
                            Some(e) => self.handler_error(&cx, e, binding),
                            None => Ok(out),
                        }
                    }
                    Err(e) => self.handler_error(&cx, e, binding),
                }
            }
            ClientRequest::Complete(p) => {
                let completion = match &p.reference {
                    CompletionReference::Prompt(r) => {
                        let handler = {
                            let reg = self.inner.registry.read().expect("not poisoned");
                            reg.prompts
                                .iter()
                                .find(|e| e.definition.name == r.name)
                                .filter(|e| self.visible(&cx, &e.policy))
                                .map(|e| e.handler.clone())
                        };
                        let Some(handler) = handler else {
                            return Err(ErrorObject::invalid_params(format!(
                                "Unknown prompt: {}",
                                r.name
                            )));
                        };
                        handler
                            .complete(
                                cx.clone(),
                                p.argument.name.clone(),
                                p.argument.value.clone(),
                                p.context.clone(),
                            )
                            .await
                    }
                    CompletionReference::Resource(r) => {
                        let handler = {
                            let reg = self.inner.registry.read().expect("not poisoned");
                            reg.templates
                                .iter()
                                .find(|t| t.definition.uri_template == r.uri)
                                .filter(|t| self.visible(&cx, &t.policy))
                                .map(|t| t.handler.clone())
                        };
                        let Some(handler) = handler else {
                            return Err(ErrorObject::invalid_params(format!(
                                "Unknown resource template: {}",
                                r.uri
                            )));
                        };
                        handler
                            .complete(
                                cx.clone(),
                                p.argument.name.clone(),
                                p.argument.value.clone(),
                                p.context.clone(),
                            )
                            .await
                    }
                };
                match completion {
                    Ok(mut completion) => {
                        if completion.values.len() > 100 {
                            completion
                                .total
                                .get_or_insert(completion.values.len() as u64);
                            completion.values.truncate(100);
                            completion.has_more = Some(true);
                        }
                        raw(&CompleteResult {
                            completion,
                            result_type: result_type(&cx),
                            meta: modern_meta(&cx, self),
                        })
                    }
                    Err(e) => self.handler_error(&cx, e, binding),
                }
            }
            ClientRequest::GetTask(p) => {
                self.tasks_negotiated(&cx)?;
                let owner = task_owner(&cx);
                let slot = match self.inner.tasks.get(&p.task_id, &owner) {
                    Ok(slot) => slot,
                    Err(unknown) => {
                        let store = self.shared_tasks(unknown)?;
                        let record =
                            Box::pin(crate::tasks::read_record(store, &p.task_id, &owner)).await?;
                        return if modern {
                            raw(&TaskResult {
                                task: record.modern(),
                                result_type: Some(ResultType::Complete),
                                meta: modern_meta(&cx, self),
                            })
                        } else {
                            raw(&LegacyTaskResult {
                                task: record.legacy(),
                                meta: None,
                            })
                        };
                    }
                };
                if modern {
                    raw(&TaskResult {
                        task: slot.modern(true),
                        result_type: Some(ResultType::Complete),
                        meta: modern_meta(&cx, self),
                    })
                } else {
                    raw(&LegacyTaskResult {
                        task: slot.legacy(),
                        meta: None,
                    })
                }
            }
            ClientRequest::TaskPayload(p) => {
                let owner = task_owner(&cx);
                let slot = match self.inner.tasks.get(&p.task_id, &owner) {
                    Ok(slot) => slot,
                    Err(unknown) => {
                        let store = self.shared_tasks(unknown)?;
                        let finished = crate::tasks::finished_record(store, &p.task_id, &owner);
                        let record = tokio::select! {
                            r = finished => r?,
                            () = cx.cancelled() => return Err(ErrorObject::internal_error("cancelled")),
                        };
                        return raw(&record.payload()?);
                    }
                };
                tokio::select! {
                    () = slot.finished() => {}
                    () = cx.cancelled() => return Err(ErrorObject::internal_error("cancelled")),
                }
                raw(&slot.payload()?)
            }
            ClientRequest::ListTasks(p) => {
                let owner = task_owner(&cx);
                let all: Vec<LegacyTask> = match &self.inner.store {
                    None => self
                        .inner
                        .tasks
                        .list(&owner)
                        .iter()
                        .map(|t| t.legacy())
                        .collect(),
                    Some(store) => {
                        Box::pin(self.inner.tasks.list_shared(store.as_ref(), &owner)).await?
                    }
                };
                let (tasks, next_cursor) = page(&all, cursor_of(&p), size)?;
                raw(&LegacyListTasksResult {
                    tasks,
                    next_cursor,
                    meta: None,
                })
            }
            ClientRequest::CancelTask(p) => {
                self.tasks_negotiated(&cx)?;
                let owner = task_owner(&cx);
                let task = match self.inner.tasks.get(&p.task_id, &owner) {
                    // The modern answer carries no task: none is built for it.
                    Ok(slot) => (slot.cancel() && !modern).then(|| slot.legacy()),
                    Err(unknown) => {
                        let store = self.shared_tasks(unknown)?;
                        Box::pin(crate::tasks::cancel_record(store, &p.task_id, &owner))
                            .await?
                            .map(|record| record.legacy())
                    }
                };
                if modern {
                    raw(&EmptyResult {
                        meta: modern_meta(&cx, self),
                        result_type: result_type(&cx),
                    })
                } else if let Some(task) = task {
                    raw(&LegacyTaskResult { task, meta: None })
                } else {
                    Err(ErrorObject::invalid_params(
                        "Cannot cancel task: already in terminal status",
                    ))
                }
            }
            ClientRequest::UpdateTask(p) => {
                self.tasks_negotiated(&cx)?;
                let owner = task_owner(&cx);
                match self.inner.tasks.get(&p.task_id, &owner) {
                    Ok(slot) => slot.update(p.input_responses),
                    Err(unknown) => {
                        let store = self.shared_tasks(unknown)?;
                        crate::tasks::update_record(store, &p.task_id, &owner, p.input_responses)
                            .await?;
                    }
                }
                raw(&EmptyResult {
                    meta: modern_meta(&cx, self),
                    result_type: result_type(&cx),
                })
            }
            other => Err(ErrorObject::method_not_found(other.method())),
        }
    }

    /// In the modern era the task methods serve only clients that declared the tasks extension
    /// (-32021 otherwise).
    fn tasks_negotiated(&self, cx: &Context) -> Result<(), ErrorObject> {
        if cx.era() != mcp_core::Era::Modern
            || cx.client_capabilities().has_extension(TASKS_EXTENSION)
        {
            return Ok(());
        }
        Err(tasks_extension_missing(
            "the task methods need the tasks extension: declare it",
        ))
    }

    fn handler_error(
        &self,
        cx: &Context,
        e: Error,
        binding: Option<&Binding>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        if e.is_input_required() {
            return self.input_required(cx, binding);
        }
        Err(e.to_error_object(cx.era() == mcp_core::Era::Modern))
    }

    /// Admits a read of a resource or a prompt: a refusal is a JSON-RPC error.
    async fn admit_read(
        &self,
        cx: &Context,
        policy: &ItemPolicy,
        kind: &str,
        name: &str,
        size: impl FnOnce() -> usize,
    ) -> Result<admission::Admission, ErrorObject> {
        let method = if kind == "prompt" {
            "prompts/get"
        } else {
            "resources/read"
        };
        match policy
            .admit(&self.inner.admission, cx.identity(), size)
            .await
        {
            Ok(admission) => {
                self.decision(cx, method, name, None);
                Ok(admission)
            }
            Err(AdmitError::Denied(d)) => {
                self.decision(cx, method, name, Some(d.reason()));
                Err(d.to_error_object(kind, name))
            }
            Err(AdmitError::Busy) => {
                self.decision(cx, method, name, Some("busy"));
                Err(busy(kind, name).to_error_object(cx.era() == mcp_core::Era::Modern))
            }
        }
    }

    /// Audits a policy decision: allowed (`denied` is `None`) or denied, and why.
    pub(crate) fn decision(&self, cx: &Context, method: &str, item: &str, denied: Option<&str>) {
        self.audit_decision(cx, AuditKind::Decision, method, item, denied);
    }

    /// A decision or approval record.
    pub(crate) fn audit_decision(
        &self,
        cx: &Context,
        kind: AuditKind,
        method: &str,
        item: &str,
        denied: Option<&str>,
    ) {
        let audit = &self.inner.audit;
        if !audit.is_enabled() {
            return;
        }
        let decision = if denied.is_some() {
            crate::audit::Decision::Deny
        } else {
            crate::audit::Decision::Allow
        };
        let mut r = AuditRecord::new(kind, method)
            .with_principal(cx.identity())
            .with_request_id(cx.request_id().clone())
            .with_item(item)
            .with_decision(decision, denied);
        if let Some(id) = &cx.inner.session_id {
            r = r.with_session_id(id.as_ref());
        }
        audit.record(&r);
    }

    pub(crate) fn state_map(&self) -> StateMap {
        self.inner.state.read().expect("not poisoned").clone()
    }
}

/// Every concurrency slot of an item stayed busy for its whole timeout.
pub(crate) fn busy(kind: &str, name: &str) -> Error {
    Error::public(format!("{kind} `{name}` is busy: try again later"))
}

/// A result over the item's size limit is never sent: an error replaces it.
pub(crate) fn oversized(
    out: &RawValue,
    limit: Option<usize>,
    kind: &str,
    name: &str,
) -> Option<Error> {
    let limit = limit?;
    let size = out.get().len();
    (size > limit).then(|| {
        tracing::error!(
            kind,
            name,
            size,
            limit,
            "a result exceeds its size limit: not sent"
        );
        Error::public(format!(
            "the result of {kind} `{name}` exceeds {limit} bytes"
        ))
    })
}
