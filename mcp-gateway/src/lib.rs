#![doc = include_str!("../README.md")]

pub mod anomaly;
pub mod config;
mod filters;
mod forward;
pub mod health;
pub mod import;
mod instances;
pub mod rules;
pub mod table;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use mcp_client::auth::OAuthConfig;
use mcp_client::host::{Health, Host, HostEvent, ItemKind as HostKind, Naming, Upstream};
use mcp_client::{Change, EraChoice, HttpServer, StdioServer, Transport};
use mcp_core::types::{
    Implementation, Prompt, Resource, ResourceTemplate, Root, TaskSupport, Tool, ToolExecution,
};
use mcp_server::access::ItemKind;
use mcp_server::approval::{ApprovalGate, Approvals, TerminalApprover, WebhookApprover};
use mcp_server::audit::{Audit, JsonlSink};
use mcp_server::subscriptions::SubscriptionChange;
use mcp_server::{Identity, ResourceDefinition, Server};

pub use config::{Config, ConfigError};

use crate::forward::{Shared, UpstreamPrompt, UpstreamResource, UpstreamTool};
use crate::rules::{Policy, RuleSet, RulesAccess, Served};

/// Why a gateway could not start or reload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The upstreams could not be set up (an invalid host configuration).
    #[error("{0}")]
    Host(#[from] mcp_client::HostError),
    /// The audit file could not be opened.
    #[error("cannot open the audit file {path}: {error}")]
    Audit {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A reload changed what cannot change while running.
    #[error("{0}")]
    Reload(String),
    /// The store shared with other replicas could not be reached at start.
    #[error(transparent)]
    Store(#[from] mcp_server::store::StoreError),
}

type Connector = Arc<dyn Fn() -> mcp_client::Result<Transport> + Send + Sync>;

/// Builds a [`Gateway`] from a [`Config`].
pub struct GatewayBuilder {
    config: Config,
    transports: HashMap<String, Connector>,
    audit: Option<Audit>,
    store: Option<Arc<dyn mcp_server::store::Store>>,
}

impl GatewayBuilder {
    /// Shares state with the other replicas of this gateway through `store`: approvals, the
    /// rules' rate limits, tasks, legacy sessions and notifications (see
    /// [`mcp_server::store`]). The replicas agree on their sealing key through it.
    #[must_use]
    pub fn store(mut self, store: Arc<dyn mcp_server::store::Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Reaches the upstream `name` of the configuration through transports made by `connect`
    /// instead of its `command` or `url` (an in-process server, a socket).
    #[must_use]
    pub fn transport(
        mut self,
        name: impl Into<String>,
        connect: impl Fn() -> mcp_client::Result<Transport> + Send + Sync + 'static,
    ) -> Self {
        self.transports.insert(name.into(), Arc::new(connect));
        self
    }

    /// Sends audit records here instead of (not in addition to) the configured file.
    #[must_use]
    pub fn audit(mut self, audit: Audit) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Connects to the upstreams and builds the front server.
    pub async fn start(self) -> Result<Gateway, GatewayError> {
        let GatewayBuilder {
            config,
            transports,
            audit,
            store,
        } = self;
        let g = &config.gateway;
        let mut host = Host::builder()
            .separator(g.separator.clone())
            .naming(match g.naming {
                config::NamingConfig::Auto => Naming::Auto,
                config::NamingConfig::Prefixed => Naming::Prefixed,
                config::NamingConfig::Kept => Naming::Kept,
            })
            .capabilities(forward::all_capabilities())
            // Upstreams send every log message; each caller's own level filters them.
            .log_level(mcp_core::types::LoggingLevel::Debug)
            .info(g.name.clone(), env!("CARGO_PKG_VERSION"));
        let mut dedicated = Vec::new();
        for (name, u) in &config.upstreams {
            let up = upstream(&config, name, u, transports.get(name))?;
            if u.instances == config::Instances::PerPrincipal {
                dedicated.push((
                    name.clone(),
                    up.clone(),
                    u.idle_timeout(),
                    u.max_instances(),
                ));
            }
            host = host.upstream(up);
        }
        let host = host.start().await?;
        let rules = RuleSet::new(&config.rules, g.approval_unless_read_only)
            .map_err(GatewayError::Reload)?;
        let policy = Arc::new(Policy {
            rules: RwLock::new(Arc::new(rules)),
            items: RwLock::new(rules::ServedItems::default()),
        });
        // The audit file's sink is kept too: SIGHUP reopens it (log rotation).
        let mut audit_file = None;
        let audit = match (audit, &g.audit) {
            (Some(a), _) => Some(a),
            (None, Some(path)) => {
                let path = config.resolve(path);
                let sink = JsonlSink::builder(path.clone())
                    .chained()
                    .open()
                    .map_err(|error| GatewayError::Audit { path, error })?;
                let sink = Arc::new(sink);
                audit_file = Some(sink.clone());
                Some(Audit::new().with_sink(sink))
            }
            (None, None) => None,
        };
        let anomaly = Arc::new(RwLock::new(detector(&config)?));
        let environments = Arc::new(RwLock::new(environments(&config)));
        let filters = filters::compile(&config.filters)
            .map_err(|(path, message)| GatewayError::Config(config.error_at(&path, message)))?;
        let settings = instances::HostSettings {
            separator: g.separator.clone(),
            kept: host.keeps_names(),
            name: g.name.clone(),
        };
        let instances: HashMap<String, Arc<instances::Instances>> = dedicated
            .into_iter()
            .map(|(name, up, idle, max)| {
                let pool =
                    instances::Instances::start(up, settings.clone(), idle, max, audit.clone());
                (name, pool)
            })
            .collect();
        // A resource's first subscriber here subscribes upstream (an upstream sends updates only
        // of what it was subscribed to), its last one's leaving unsubscribes: in order, in a
        // task of their own.
        let (subscriptions_tx, mut subscriptions) = tokio::sync::mpsc::unbounded_channel();
        let mut server = Server::with_info(Implementation::new(
            g.name.clone(),
            env!("CARGO_PKG_VERSION"),
        ))
        .on_subscription_change(move |change| {
            let _ = subscriptions_tx.send(change);
        })
        .access_control(RulesAccess {
            policy: policy.clone(),
            store: store.clone(),
            anomaly: anomaly.clone(),
            audit: audit.clone(),
        });
        if let Some(text) = instructions(g, &host) {
            server = server.instructions(text);
        }
        let mut key = None;
        if let Some(store) = &store {
            let agreed = mcp_server::store::agree_key(store.as_ref()).await?;
            key = Some(agreed);
            // Each replica follows the upstreams itself (lists, subscriptions): what it hears
            // is its own callers' to hear, not the other replicas'.
            server = server
                .request_state_key(agreed)
                .store(store.clone())
                .share_events(false);
        }
        if let Some(gate) = approval_gate(&config, key.as_ref())? {
            server = server.approval(gate);
        }
        if let Some(id) = &config.front.identity {
            server = server.identity(
                Identity::configured(id.subject.clone())
                    .with_roles(id.roles.clone())
                    .with_scopes(id.scopes.clone())
                    .with_claims(id.claims.clone()),
            );
        }
        let health_audit = audit.clone();
        if let Some(a) = audit {
            server = server.audit(a);
        }
        if let Some(f) = filters {
            let host_kind = |kind| match kind {
                ItemKind::Tool => HostKind::Tool,
                ItemKind::Prompt => HostKind::Prompt,
                _ => HostKind::Resource,
            };
            // A rule scoped by environment applies by the label of the item's upstream; one
            // scoped by upstream, by the item's upstream and its name there.
            let (labelled, origins) = (host.clone(), host.clone());
            let labels = environments.clone();
            let f = f
                .environment_of(move |kind, name| {
                    let owner = labelled.owner(host_kind(kind), name).ok()?;
                    labels
                        .read()
                        .expect("not poisoned")
                        .get(&owner)
                        .cloned()
                        .flatten()
                })
                .origin_of(move |kind, name| origins.origin(host_kind(kind), name).ok());
            server = server.filters(f);
        }
        let shared = Arc::new(Shared {
            host: host.clone(),
            policy,
            instances,
            store,
            audit: health_audit.clone(),
        });
        let sync = Arc::new(Syncer {
            shared: shared.clone(),
            server: server.clone(),
            environments: environments.clone(),
            registered: Mutex::new(Registered::default()),
        });
        let mut events = host.events();
        // Upstreams that failed before this watch began (one that did not start): reported
        // as the later failures are.
        for (upstream, health) in host.health() {
            record_health(health_audit.as_ref(), &upstream, &health);
        }
        sync.run();
        let watcher = sync.clone();
        let upstream = host.clone();
        let relay = tokio::spawn(async move {
            while let Some(change) = subscriptions.recv().await {
                let (uri, done) = match &change {
                    SubscriptionChange::Subscribed(uri) => (uri, upstream.subscribe(uri).await),
                    SubscriptionChange::Unsubscribed(uri) => (uri, upstream.unsubscribe(uri).await),
                    _ => continue,
                };
                if let Err(e) = done {
                    tracing::warn!(%uri, error = %e, ?change, "the upstream subscription did not follow");
                }
            }
        });
        let task = tokio::spawn(async move {
            while let Some(event) = events.next().await {
                match event {
                    HostEvent::Changed(Change::Resource(uri)) => {
                        watcher.server.notify_resource_updated(uri);
                    }
                    HostEvent::Health { upstream, health } => {
                        record_health(health_audit.as_ref(), &upstream, &health);
                        watcher.run();
                    }
                    HostEvent::Changed(_) => watcher.run(),
                    HostEvent::Log { upstream, params } => {
                        tracing::info!(%upstream, level = ?params.level, data = %params.data, "upstream log");
                    }
                    _ => {}
                }
            }
        });
        Ok(Gateway {
            server,
            host,
            sync,
            anomaly,
            audit_file,
            config: RwLock::new(config),
            tasks: Mutex::new(vec![task, relay]),
        })
    }
}

/// Checks a configuration as far as it can be without starting anything: beyond what
/// [`Config::load`] checks (the file, the rules, the anomaly flags and the result filters), the
/// front (its TLS files read, its OAuth settings) and each upstream's entry (its variables set,
/// its credentials). What needs the upstreams running (their items, and so which rules match
/// nothing) is `check`'s table ([`Gateway::table`]).
///
/// # Errors
///
/// The first error, naming the file, line and key where it can.
pub fn validate(config: &Config) -> Result<(), GatewayError> {
    http_config(config)?;
    approval_gate(config, None)?;
    for (name, u) in &config.upstreams {
        upstream(config, name, u, None)?;
    }
    Ok(())
}

/// The front server's approval gate when `[approval]` names a server-side approver: approvals
/// sealed under `key` (the key the replicas share) or, alone, a random one.
fn approval_gate(
    config: &Config,
    key: Option<&[u8; 32]>,
) -> Result<Option<ApprovalGate>, GatewayError> {
    let a = &config.approval;
    let at = |k: &str| vec![config::key("approval"), config::key(k)];
    let bad = |path: &[config::Seg], m: String| GatewayError::Config(config.error_at(path, m));
    let approvals = match key {
        Some(key) => Approvals::new(key),
        None => Approvals::random(),
    };
    let gate = ApprovalGate::new(approvals).with_timeout(a.timeout());
    if let Some(url) = &a.webhook {
        let url = config::expand(url).map_err(|m| bad(&at("webhook"), m))?;
        let mut webhook = WebhookApprover::new(url)
            .map_err(|e| bad(&at("webhook"), e.to_string()))?
            .with_timeout(a.timeout());
        for (name, value) in &a.headers {
            let mut path = at("headers");
            path.push(config::key(name));
            let value = config::expand(value).map_err(|m| bad(&path, m))?;
            webhook = webhook
                .with_header(name, &value)
                .map_err(|e| bad(&path, e.to_string()))?;
        }
        return Ok(Some(gate.with_approver(webhook)));
    }
    if a.terminal {
        return Ok(Some(
            gate.with_approver(TerminalApprover::tty().with_timeout(a.timeout())),
        ));
    }
    Ok(None)
}

/// An upstream that failed (to start, or later: it crashed, hung, or was cut off for what it
/// sent) or is ready again: an audit record (the host logs failures itself).
fn record_health(audit: Option<&Audit>, upstream: &str, health: &Health) {
    use mcp_server::audit::{AuditKind, AuditRecord, Outcome};
    health::record_up(upstream, health);
    let record = match health {
        Health::Failed { reason, .. } => AuditRecord::new(AuditKind::Upstream, "upstream/failed")
            .with_item(upstream)
            .with_outcome(Outcome::Error, None)
            .with_reason(reason),
        Health::Ready => {
            tracing::info!(%upstream, "upstream ready");
            AuditRecord::new(AuditKind::Upstream, "upstream/ready").with_item(upstream)
        }
        _ => return,
    };
    if let Some(audit) = audit {
        audit.record(&record);
    }
}

/// The anomaly detector of `[anomaly]`, if any.
fn detector(config: &Config) -> Result<Option<Arc<anomaly::Detector>>, GatewayError> {
    let Some(a) = &config.anomaly else {
        return Ok(None);
    };
    anomaly::Detector::new(a)
        .map(|d| Some(Arc::new(d)))
        .map_err(|(path, message)| {
            GatewayError::Reload(format!("{}: {message}", config::key_path(&path)))
        })
}

/// The instructions callers get: the configured text, then (unless `upstream_instructions` is
/// off) each connected upstream's own under a heading that names it and how its tools and
/// prompts are named here. With names kept, nothing configured and one upstream giving
/// instructions, that upstream's text as it gave it.
fn instructions(g: &config::GatewaySection, host: &Host) -> Option<String> {
    let own = g.instructions.as_deref().filter(|t| !t.trim().is_empty());
    let theirs = if g.upstream_instructions {
        host.instructions()
    } else {
        Vec::new()
    };
    if let (None, [(_, text)]) = (own, theirs.as_slice())
        && host.keeps_names()
    {
        return Some(text.clone());
    }
    let mut parts: Vec<String> = own.map(str::to_owned).into_iter().collect();
    for (upstream, text) in theirs {
        let heading = if host.keeps_names() {
            format!("## Upstream `{upstream}`")
        } else {
            format!(
                "## Upstream `{upstream}` (its tools and prompts are named `{upstream}{}<name>` here)",
                g.separator
            )
        };
        parts.push(format!("{heading}\n\n{}", text.trim_end()));
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

fn environments(config: &Config) -> BTreeMap<String, Option<String>> {
    config
        .upstreams
        .iter()
        .map(|(n, u)| (n.clone(), u.environment.clone()))
        .collect()
}

fn upstream(
    config: &Config,
    name: &str,
    u: &config::UpstreamConfig,
    connector: Option<&Connector>,
) -> Result<Upstream, GatewayError> {
    let at = |k: &str| -> Vec<config::Seg> {
        vec![config::key("upstreams"), config::key(name), config::key(k)]
    };
    // Environment variables are read now: a missing one is a configuration error.
    let source_error =
        |path: Vec<config::Seg>, m: String| GatewayError::Config(config.error_at(&path, m));
    let mut up = if let Some(connect) = connector {
        let connect = connect.clone();
        Upstream::transport(name, move || connect())
    } else if let Some(command) = &u.command {
        let command = config::expand(command).map_err(|m| source_error(at("command"), m))?;
        let mut args = Vec::new();
        for (i, a) in u.args.iter().enumerate() {
            let mut p = at("args");
            p.push(config::Seg::Index(i));
            args.push(config::expand(a).map_err(|m| source_error(p, m))?);
        }
        let mut s = StdioServer::new(command).args(args);
        for (k, v) in &u.env {
            let v = config::expand(v).map_err(|m| {
                let mut p = at("env");
                p.push(config::key(k));
                source_error(p, m)
            })?;
            s = s.env(k.clone(), v);
        }
        for pattern in &u.inherit_env {
            s = if pattern == "*" {
                s.inherit_all_env()
            } else {
                s.inherit_env(pattern.clone())
            };
        }
        if let Some(cwd) = &u.cwd {
            let cwd = match cwd.to_str() {
                Some(text) => std::path::PathBuf::from(
                    config::expand(text).map_err(|m| source_error(at("cwd"), m))?,
                ),
                None => cwd.clone(),
            };
            s = s.current_dir(config.resolve(&cwd));
        }
        Upstream::stdio(name, s)
    } else {
        let url = config::expand(u.url.as_deref().unwrap_or_default())
            .map_err(|m| source_error(at("url"), m))?;
        let mut s = HttpServer::new(url);
        for (k, v) in &u.headers {
            let v = config::expand(v).map_err(|m| {
                let mut p = at("headers");
                p.push(config::key(k));
                source_error(p, m)
            })?;
            s = s.header(k.clone(), v);
        }
        if let Some(o) = &u.oauth {
            let field = |k: &str, v: &str| {
                let mut p = at("oauth");
                p.push(config::key(k));
                config::expand(v).map_err(|m| source_error(p, m))
            };
            let mut oauth = OAuthConfig::client_credentials(field("client_id", &o.client_id)?)
                .issuer(field("issuer", &o.issuer)?)
                .client_name(config.gateway.name.clone());
            if let Some(secret) = &o.client_secret {
                oauth = oauth.client_secret(field("client_secret", secret)?);
            }
            if !o.scopes.is_empty() {
                oauth = oauth.scopes(o.scopes.clone());
            }
            s = s.oauth(oauth);
        }
        Upstream::http(name, s)
    };
    up = up.era(match u.era.as_deref() {
        Some("legacy") => EraChoice::Legacy,
        Some("modern") => EraChoice::Modern,
        _ => EraChoice::Auto,
    });
    if let Some(t) = u.timeout_secs {
        up = up.timeout(Duration::from_secs(t));
    }
    if let Some(t) = u.connect_timeout_secs {
        up = up.connect_timeout(Duration::from_secs(t));
    }
    if let Some(limit) = u.max_messages_per_second {
        up = up.max_messages_per_second((limit > 0).then_some(limit));
    }
    if let Some(roots) = &u.roots {
        up = up.roots(roots.iter().map(|uri| Root {
            uri: uri.clone(),
            name: None,
            meta: None,
        }));
    }
    Ok(up)
}

/// The items registered on the front server, by name.
#[derive(Default)]
struct Registered {
    tools: HashMap<String, Tool>,
    resources: HashMap<String, Resource>,
    templates: HashMap<String, ResourceTemplate>,
    prompts: HashMap<String, Prompt>,
}

/// Keeps the front server's items equal to the host's.
struct Syncer {
    shared: Arc<Shared>,
    server: Server,
    environments: Arc<RwLock<BTreeMap<String, Option<String>>>>,
    registered: Mutex<Registered>,
}

/// Makes `current` equal to `wanted`: removes what went or changed, adds what came or changed,
/// in `wanted`'s order (the host's: upstreams as configured, each one's items as it lists them),
/// so that the front lists items in the same order in every process.
fn reconcile<T: PartialEq + Clone>(
    current: &mut HashMap<String, T>,
    wanted: Vec<(String, T)>,
    remove: impl Fn(&str),
    add: impl Fn(T) -> bool,
) {
    let by_name: HashMap<&str, &T> = wanted
        .iter()
        .map(|(name, item)| (name.as_str(), item))
        .collect();
    current.retain(|name, item| {
        let keep = by_name.get(name.as_str()) == Some(&&*item);
        if !keep {
            remove(name);
        }
        keep
    });
    for (name, item) in wanted {
        if !current.contains_key(&name) && add(item.clone()) {
            current.insert(name, item);
        }
    }
}

impl Syncer {
    /// What the access control knows of a listed item: its upstream, its name there, the
    /// upstream's environment label, and what its annotations say (`read_only`,
    /// `destructive`, as read by the caller of this function).
    fn served(&self, kind: HostKind, name: &str, read_only: bool, destructive: bool) -> Served {
        // A listed item has an upstream; were it gone meanwhile, no `upstreams` rule matches.
        let (upstream, original) = self
            .shared
            .host
            .origin(kind, name)
            .unwrap_or_else(|_| (String::new(), name.to_owned()));
        let environment = self
            .environments
            .read()
            .expect("not poisoned")
            .get(&upstream)
            .cloned()
            .flatten();
        Served {
            upstream,
            original,
            environment,
            read_only,
            destructive,
        }
    }

    fn run(&self) {
        let host = &self.shared.host;
        let mut tools = host.tools();
        // A modern upstream decides per call whether a call runs as a task and lists no task
        // support: the front serves the tools of an upstream with the tasks extension as tools
        // that can run as tasks (see `forward::UpstreamTool`).
        for t in &mut tools {
            if t.execution.is_none() && host.runs_tasks(&t.name) {
                t.execution = Some(ToolExecution {
                    task_support: Some(TaskSupport::Optional),
                });
            }
        }
        let resources = host.resources();
        let templates = host.resource_templates();
        let prompts = host.prompts();
        let mut items = rules::ServedItems::default();
        for t in &tools {
            let read_only = t
                .annotations
                .as_ref()
                .and_then(|a| a.read_only_hint)
                .unwrap_or(false);
            let destructive = !read_only
                && t.annotations
                    .as_ref()
                    .and_then(|a| a.destructive_hint)
                    .unwrap_or(true);
            let served = self.served(HostKind::Tool, &t.name, read_only, destructive);
            items.insert(ItemKind::Tool, t.name.clone(), served);
        }
        for (kind, name) in resources
            .iter()
            .map(|r| (ItemKind::Resource, &r.uri))
            .chain(
                templates
                    .iter()
                    .map(|t| (ItemKind::ResourceTemplate, &t.uri_template)),
            )
        {
            let served = self.served(HostKind::Resource, name, true, false);
            items.insert(kind, name.clone(), served);
        }
        for p in &prompts {
            let served = self.served(HostKind::Prompt, &p.name, true, false);
            items.insert(ItemKind::Prompt, p.name.clone(), served);
        }
        *self.shared.policy.items.write().expect("not poisoned") = items;

        let mut reg = self.registered.lock().expect("not poisoned");
        let server = &self.server;
        let shared = &self.shared;
        reconcile(
            &mut reg.tools,
            tools.into_iter().map(|t| (t.name.clone(), t)).collect(),
            |n| {
                server.remove_tool(n);
            },
            |tool| {
                let name = tool.name.clone();
                let handler = UpstreamTool {
                    shared: shared.clone(),
                    tool,
                };
                server
                    .try_add_tool(handler)
                    .inspect_err(|e| tracing::warn!(tool = %name, error = %e, "an upstream tool is not served"))
                    .is_ok()
            },
        );
        let add_resource = |definition: ResourceDefinition| {
            let handler = UpstreamResource {
                shared: shared.clone(),
                definition,
            };
            server
                .try_add_resource(handler)
                .inspect_err(|e| tracing::warn!(error = %e, "an upstream resource is not served"))
                .is_ok()
        };
        reconcile(
            &mut reg.resources,
            resources.into_iter().map(|r| (r.uri.clone(), r)).collect(),
            |n| {
                server.remove_resource(n);
            },
            |r| add_resource(ResourceDefinition::Static(r)),
        );
        reconcile(
            &mut reg.templates,
            templates
                .into_iter()
                .map(|t| (t.uri_template.clone(), t))
                .collect(),
            |n| {
                server.remove_resource(n);
            },
            |t| add_resource(ResourceDefinition::Template(t)),
        );
        reconcile(
            &mut reg.prompts,
            prompts.into_iter().map(|p| (p.name.clone(), p)).collect(),
            |n| {
                server.remove_prompt(n);
            },
            |prompt| {
                let name = prompt.name.clone();
                let handler = UpstreamPrompt {
                    shared: shared.clone(),
                    prompt,
                };
                server
                    .try_add_prompt(handler)
                    .inspect_err(|e| tracing::warn!(prompt = %name, error = %e, "an upstream prompt is not served"))
                    .is_ok()
            },
        );
    }
}

/// A running gateway: the upstreams ([`Host`]) and the front [`Server`] whose items forward to
/// them, decided per caller by the configured rules.
pub struct Gateway {
    server: Server,
    host: Host,
    sync: Arc<Syncer>,
    anomaly: Arc<RwLock<Option<Arc<anomaly::Detector>>>>,
    /// The sink of `[gateway] audit`, reopened by [`Gateway::reopen_audit`].
    audit_file: Option<Arc<JsonlSink>>,
    config: RwLock<Config>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

impl Gateway {
    /// A builder for the gateway of `config`.
    pub fn builder(config: Config) -> GatewayBuilder {
        GatewayBuilder {
            config,
            transports: HashMap::new(),
            audit: None,
            store: None,
        }
    }

    /// Starts the gateway of `config`: connects to every upstream (those that fail are retried
    /// in the background, their items absent meanwhile) and builds the front server.
    pub async fn start(config: Config) -> Result<Gateway, GatewayError> {
        Gateway::builder(config).start().await
    }

    /// The front server: serve it over stdio or Streamable HTTP.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The upstreams.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Each upstream's state.
    pub fn health(&self) -> Vec<(String, Health)> {
        self.host.health()
    }

    /// `GET /healthz` and `GET /readyz` (see [`health`]), to serve beside the HTTP front's
    /// endpoint: `McpService::new(server, http).with_routes(gateway.health_routes())`.
    pub fn health_routes(&self) -> axum::Router {
        health::routes(self.host.clone())
    }

    /// Opens the audit file of `[gateway] audit` again, after it was rotated (renamed): the
    /// records go on in a new file at the path, whose first record links its chain to the old
    /// file's ([`JsonlSink::reopen`]). The binary does this on SIGHUP. Nothing to do without an
    /// audit file (or with an [`Audit`] given to the builder: reopen its sinks yourself).
    ///
    /// # Errors
    ///
    /// When the path cannot be opened: the records go on to the file the sink had.
    pub async fn reopen_audit(&self) -> std::io::Result<()> {
        let Some(sink) = self.audit_file.clone() else {
            return Ok(());
        };
        // The sink's writer thread writes what is queued first: wait for it off the runtime.
        tokio::task::spawn_blocking(move || sink.reopen())
            .await
            .map_err(std::io::Error::other)?
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<RuleSet> {
        self.sync.shared.policy.rules()
    }

    /// Swaps in the rules, anomaly flags and environment labels of a new configuration (already
    /// checked by [`Config::load`]), keeping every connection. A configuration that differs in
    /// what a swap cannot apply is refused, never half applied: an upstream's entry beyond its
    /// environment label (how it is reached), the naming, the filters, the front, the gateway's
    /// name or its audit file need a restart.
    pub fn reload(&self, new: Config) -> Result<(), GatewayError> {
        let old = self.config.read().expect("not poisoned");
        // Everything of an upstream's entry but its environment label (applied below) is how
        // it is connected: a change there needs a restart, and is refused rather than ignored.
        let same_upstreams = old.upstreams.len() == new.upstreams.len()
            && old.upstreams.iter().all(|(n, u)| {
                new.upstreams.get(n).is_some_and(|v| {
                    let mut v = v.clone();
                    v.environment.clone_from(&u.environment);
                    v == *u
                })
            });
        if !same_upstreams
            || old.gateway.separator != new.gateway.separator
            || old.gateway.naming != new.gateway.naming
        {
            return Err(GatewayError::Reload(
                "the upstreams or their naming changed: restart the gateway to apply that".into(),
            ));
        }
        if old.front != new.front
            || old.gateway.name != new.gateway.name
            || old.gateway.audit != new.gateway.audit
        {
            return Err(GatewayError::Reload(
                "the front, the gateway's name or its audit file changed: restart the gateway to apply that"
                    .into(),
            ));
        }
        if old.filters != new.filters {
            return Err(GatewayError::Reload(
                "the filters changed: restart the gateway to apply them".into(),
            ));
        }
        if old.approval != new.approval {
            return Err(GatewayError::Reload(
                "the approver (`[approval]`) changed: restart the gateway to apply that".into(),
            ));
        }
        let same_anomaly = old.anomaly == new.anomaly;
        drop(old);
        let rules = RuleSet::new(&new.rules, new.gateway.approval_unless_read_only)
            .map_err(GatewayError::Reload)?
            .carry_over(&self.sync.shared.policy.rules.read().expect("not poisoned"));
        // Flags configured as before keep what they learned (baselines, sequences).
        if !same_anomaly {
            *self.anomaly.write().expect("not poisoned") = detector(&new)?;
        }
        *self.sync.environments.write().expect("not poisoned") = environments(&new);
        *self.sync.shared.policy.rules.write().expect("not poisoned") = Arc::new(rules);
        *self.config.write().expect("not poisoned") = new;
        // Environments may have changed: the items are described again.
        self.sync.run();
        // What each caller may see may have changed.
        self.server.notify_lists_changed();
        Ok(())
    }

    /// The effective table: per caller (role, scope set, claims) and environment, which tools
    /// are listed, callable and need approval (see [`table`]).
    pub fn table(&self) -> String {
        self.table_for(&[])
    }

    /// [`Gateway::table`], with these callers too (a label and an identity each: what a given
    /// token would be allowed).
    pub fn table_for(&self, callers: &[(String, Identity)]) -> String {
        let config = self.config.read().expect("not poisoned");
        table::render(
            &config,
            &self.rules(),
            &self.host,
            &self.sync.shared.policy,
            callers,
        )
    }

    /// How many instances of each upstream with instances per principal run (the shared one
    /// that serves the lists not counted).
    pub fn instances(&self) -> BTreeMap<String, usize> {
        self.sync
            .shared
            .instances
            .iter()
            .map(|(name, pool)| (name.clone(), pool.running()))
            .collect()
    }

    /// Stops watching the upstreams and closes them.
    pub async fn close(&self) {
        for t in std::mem::take(&mut *self.tasks.lock().expect("not poisoned")) {
            t.abort();
        }
        for pool in self.sync.shared.instances.values() {
            pool.close().await;
        }
        self.host.close().await;
    }
}

/// The TLS settings of `[front.tls]`: the files read (relative to the configuration file), and
/// with `client_ca`, callers identified by their certificate's common name, with the roles
/// `client_roles` gives it.
fn tls_config(
    config: &Config,
    t: &config::TlsFront,
) -> Result<mcp_server::http::auth::TlsConfig, GatewayError> {
    use mcp_server::http::auth::{ClientCertificate, TlsConfig};
    let bad = |k: &str, m: String| {
        let path = [config::key("front"), config::key("tls"), config::key(k)];
        GatewayError::Config(config.error_at(&path, m))
    };
    let read = |k: &str, path: &std::path::Path| {
        let path = config.resolve(path);
        std::fs::read(&path).map_err(|e| bad(k, format!("cannot read {}: {e}", path.display())))
    };
    let mut tls = TlsConfig::from_pem(&read("cert", &t.cert)?, &read("key", &t.key)?)
        .map_err(|e| bad("cert", e.to_string()))?;
    if let Some(ca) = &t.client_ca {
        tls = tls
            .require_client_certificates(&read("client_ca", ca)?)
            .map_err(|e| bad("client_ca", e.to_string()))?;
        if !t.client_roles.is_empty() {
            let roles = t.client_roles.clone();
            tls = tls.map_client_identity(move |cert: &ClientCertificate<'_>| {
                let identity = cert.default_identity();
                let roles = roles.get(identity.subject()).cloned().unwrap_or_default();
                Some(identity.with_roles(roles))
            });
        }
    }
    Ok(tls)
}

/// The Streamable HTTP settings of the front: endpoint `/mcp`, and the OAuth 2.1 resource server
/// of `[front.oauth]` when configured (callers then present bearer tokens, which are checked
/// here and never forwarded upstream).
pub fn http_config(config: &Config) -> Result<mcp_server::http::HttpConfig, GatewayError> {
    use mcp_server::http::auth::{IntrospectionValidator, Jwks, JwtValidator, ResourceServer};
    let mut http = mcp_server::http::HttpConfig::new().path("/mcp");
    // The values were checked with the file (`Config::parse`).
    let any = |list: &[String]| list.iter().any(|v| v == "*");
    match &config.front.allowed_origins {
        Some(o) if any(o) => http = http.allow_any_origin(),
        Some(o) => http = http.allowed_origins(o.iter().cloned()),
        None => {}
    }
    match &config.front.allowed_hosts {
        Some(h) if any(h) => http = http.allow_any_host(),
        // Besides the loopback names, which no DNS rebinding can use.
        Some(h) => {
            let loopback = mcp_server::http::LOOPBACK_HOSTS.map(String::from);
            http = http.allowed_hosts(h.iter().cloned().chain(loopback));
        }
        None => {}
    }
    if let Some(t) = &config.front.tls {
        http = http.tls(tls_config(config, t)?);
    }
    let Some(o) = &config.front.oauth else {
        return Ok(http);
    };
    let bad = |m: String| {
        GatewayError::Config(config.error_at(&[config::key("front"), config::key("oauth")], m))
    };
    let rs = if let Some(jwks) = &o.jwks_url {
        let mut v = JwtValidator::new(
            o.resource.clone(),
            o.issuer.clone(),
            Jwks::url(jwks.clone()),
        );
        if let Some(c) = &o.roles_claim {
            v = v.roles_claim(c.clone());
        }
        ResourceServer::new(o.resource.clone(), o.issuer.clone(), v)
    } else {
        let endpoint = o.introspection_url.clone().unwrap_or_default();
        let secret = config::expand(o.client_secret.as_deref().unwrap_or_default()).map_err(bad)?;
        let mut v = IntrospectionValidator::new(o.resource.clone(), endpoint)
            .client_credentials(o.client_id.clone().unwrap_or_default(), secret)
            .issuer(o.issuer.clone());
        if let Some(c) = &o.roles_claim {
            v = v.roles_claim(c.clone());
        }
        ResourceServer::new(o.resource.clone(), o.issuer.clone(), v)
    }
    .map_err(|e| bad(e.to_string()))?;
    Ok(http.auth(rs))
}
