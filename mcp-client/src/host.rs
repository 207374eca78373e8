//! One client over many servers: [`Host`].
//!
//! A host connects to each configured [`Upstream`] (a child process over stdio, a Streamable
//! HTTP endpoint, or any [`Transport`]) in its own era, keeps its tool, resource, template and
//! prompt lists, and serves them as one namespace:
//!
//! - **Tools and prompts** are named `<upstream><separator><name>` (separator `__` by default,
//!   [`HostBuilder::separator`]); the host splits a name at the first separator, so upstream
//!   names may not contain it.
//! - **Resources and templates** get the URI `<upstream>+<original-uri>`: `fs+file:///a.txt` for
//!   `file:///a.txt` on `fs`. The upstream name becomes part of the URI scheme, so the result is
//!   still a URI, and the host splits it at the first `+` (upstream names may not contain `+`).
//!   Resource contents read through the host carry the rewritten URI; URIs inside tool results and
//!   prompts are passed on as the upstream wrote them.
//! - With [`Naming::Kept`] (or [`Naming::Auto`], the default, when exactly one upstream is
//!   configured) names and URIs are kept as they are. Items that several upstreams offer under
//!   the same name are then left out of the lists and refused with
//!   [`HostError::Ambiguous`] naming every owner; [`Host::collisions`] lists them. Start-up is
//!   never aborted by a collision.
//!
//! Upstream names must match `^[A-Za-z][A-Za-z0-9-]*$` (they become part of tool names, which
//! clients check against `^[a-zA-Z0-9_-]{1,64}$`, and of URI schemes). Namespaced tool names over
//! 64 characters are reported in the log (`tracing` warning): some clients drop them.
//!
//! # Isolation
//!
//! Each upstream has its own connection, request timeout ([`Upstream::timeout`]), handshake
//! timeout ([`Upstream::connect_timeout`]) and message-rate limit
//! ([`Upstream::max_messages_per_second`]); nothing is shared between them, so one that hangs
//! never delays calls to the others. An upstream whose connection ends (a child process that
//! exits, a transport that fails) or that floods is marked [`Health::Failed`], its items leave the
//! lists, and it is reconnected (a child process is started again) after an exponential backoff
//! ([`HostBuilder::backoff`]). Over HTTP each request has a connection of its own: one that
//! fails at the transport fails that call, and the server is asked (a `ping`, within its
//! connect timeout and at most 5 seconds) before it is taken for gone. Messages larger than the
//! transport's limit (4 MiB by default) and lines that are not JSON-RPC are dropped by the
//! transport.
//!
//! Errors reach the caller only as what the upstream made public: a JSON-RPC error's code and
//! message ([`HostError::Upstream`], without its `data` but for the `requiredCapabilities` of a
//! -32021), a tool result with `isError` as it is.
//! A failed or closed connection becomes [`HostError::Unavailable`], and a request without an
//! answer in time [`HostError::Timeout`].
//!
//! # Bridging a call
//!
//! What an upstream does during a call reaches that call's *bridge* (any [`ClientHandler`]):
//! its progress notifications, and the elicitation, sampling and roots it asks for. A call's
//! progress notifications are routed by their progress token (each call gets its own). In the
//! modern era, the `input_required` rounds of a call belong to it and are answered by its bridge.
//! In the legacy era, server-to-client requests and log messages do not say which request caused
//! them: they go to the bridge of the upstream's oldest call still in flight (exactly right when
//! one call at a time is in flight on that upstream; with several, a request may reach another
//! call's bridge). Log messages with no call in flight become [`HostEvent::Log`]. A legacy
//! request while no call is in flight is declined (elicitation) or refused (sampling, roots).
//! An upstream given [`Upstream::roots`] is answered with those instead, in and outside calls.
//! Cancelling a call is dropping its future: the upstream is told with `notifications/cancelled`.
//!
//! The capabilities the host declares to upstreams are [`HostBuilder::capabilities`].
//!
//! ```no_run
//! # async fn run() -> Result<(), mcp_client::host::HostError> {
//! use std::time::Duration;
//! use mcp_client::host::{Host, Upstream};
//! use mcp_client::{HttpServer, NoHandler, StdioServer};
//!
//! let host = Host::builder()
//!     .upstream(
//!         Upstream::stdio("fs", StdioServer::new("mcp-fs").arg("--root").arg("/srv"))
//!             .timeout(Duration::from_secs(30)),
//!     )
//!     .upstream(
//!         Upstream::http("search", HttpServer::new("https://search.example/mcp")
//!             .header("Authorization", "Bearer ...")),
//!     )
//!     .start()
//!     .await?;
//! for (name, health) in host.health() {
//!     println!("{name}: {health:?}");
//! }
//! for tool in host.tools() {
//!     println!("{}", tool.name); // e.g. `fs__read_file`
//! }
//! let result = host
//!     .call_tool("fs__read_file", serde_json::json!({ "path": "a.txt" }), NoHandler)
//!     .await?;
//! println!("{:?}", result.content);
//! host.close().await;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use mcp_core::messages::{self};
use mcp_core::types::*;
use mcp_core::{Era, ErrorCode, ErrorObject};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};

use crate::client::{Client, EraChoice, ToolCall};
use crate::error::Error;
use crate::handler::{Change, ClientHandler, DynHandler, HandlerCapabilities};
use crate::http::HttpServer;
use crate::listen::{Listener, Subscription};
use crate::transport::{StdioServer, Transport};

/// The longest tool name most model providers accept: a namespaced name over it is logged
/// (some clients drop such tools).
pub const TOOL_NAME_WARN_LENGTH: usize = 64;

/// How many events wait for a slow [`HostEvents`] reader before the oldest are dropped.
const EVENT_CAPACITY: usize = 1024;

/// The names of one kind of item in an upstream's lists.
type NamesOf = fn(&Lists) -> Vec<String>;

type Connector = Arc<dyn Fn() -> crate::Result<Transport> + Send + Sync>;

/// How an upstream is reached.
#[derive(Clone)]
enum Target {
    Stdio(StdioServer),
    Http(HttpServer),
    Custom(Connector),
}

/// One server behind a [`Host`], with its own era, timeouts and limits.
#[derive(Clone)]
pub struct Upstream {
    name: String,
    target: Target,
    era: EraChoice,
    timeout: Duration,
    connect_timeout: Duration,
    max_messages_per_second: Option<u32>,
    roots: Option<Vec<Root>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = match &self.target {
            Target::Stdio(s) => format!("stdio {}", s.program()),
            Target::Http(_) => "http".to_owned(),
            Target::Custom(_) => "transport".to_owned(),
        };
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("target", &target)
            .field("era", &self.era)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    fn with_target(name: impl Into<String>, target: Target) -> Self {
        Upstream {
            name: name.into(),
            target,
            era: EraChoice::Auto,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            max_messages_per_second: Some(1000),
            roots: None,
        }
    }

    /// A server run as a child process (command, arguments, environment and working directory
    /// are the [`StdioServer`]'s). It is started again when it exits.
    pub fn stdio(name: impl Into<String>, server: StdioServer) -> Self {
        Self::with_target(name, Target::Stdio(server))
    }

    /// A server reached over Streamable HTTP (headers and OAuth are the [`HttpServer`]'s).
    pub fn http(name: impl Into<String>, server: HttpServer) -> Self {
        Self::with_target(name, Target::Http(server))
    }

    /// A server reached over transports made by `connect`, called again for each reconnection
    /// (a socket, an in-process server).
    pub fn transport(
        name: impl Into<String>,
        connect: impl Fn() -> crate::Result<Transport> + Send + Sync + 'static,
    ) -> Self {
        Self::with_target(name, Target::Custom(Arc::new(connect)))
    }

    /// Which era to speak (probing by default).
    #[must_use]
    pub fn era(mut self, era: EraChoice) -> Self {
        self.era = era;
        self
    }

    /// How long a request may wait for its answer (60 s by default).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long connecting (the handshake and the first lists) may take (30 s by default).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many messages a second the upstream may send (1000 by default) before it is cut off
    /// and reconnected; `None` for no limit. (Stdio and custom transports; over HTTP the
    /// transport's own limits apply.)
    #[must_use]
    pub fn max_messages_per_second(mut self, limit: Option<u32>) -> Self {
        self.max_messages_per_second = limit;
        self
    }

    /// The roots the upstream is given: its `roots/list` requests, during a call or outside
    /// one and in either era, are answered with these, and no call's bridge is asked (the roots
    /// capability is declared to it whatever [`HostBuilder::capabilities`] says). Without them,
    /// a call's bridge answers during the call, and a request outside any call is refused.
    ///
    /// What a server does with roots is its own: a filesystem server typically takes them as
    /// the directories it may touch, replacing those it was started with. Configured roots keep
    /// that decision with whoever configures the host, not with whichever caller is in flight.
    #[must_use]
    pub fn roots(mut self, roots: impl IntoIterator<Item = Root>) -> Self {
        self.roots = Some(roots.into_iter().collect());
        self
    }

    /// The upstream's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The state of an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// The first connection is being made.
    Starting,
    /// Connected; its items are listed.
    Ready,
    /// Not connected: why, and since when. A new attempt follows after a backoff.
    Failed {
        /// Why.
        reason: String,
        /// Since when.
        since: SystemTime,
    },
    /// Reconnecting after a failure.
    Restarting,
}

/// How items are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Naming {
    /// [`Naming::Kept`] when exactly one upstream is configured, [`Naming::Prefixed`] otherwise
    /// (the default).
    #[default]
    Auto,
    /// `<upstream><separator><name>` and `<upstream>+<uri>`.
    Prefixed,
    /// Names and URIs as the upstreams give them; colliding items are left out.
    Kept,
}

/// The kind of an item, for errors and collisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ItemKind {
    /// A tool.
    Tool,
    /// A prompt.
    Prompt,
    /// A resource (or a resource template).
    Resource,
}

impl std::fmt::Display for ItemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ItemKind::Tool => "tool",
            ItemKind::Prompt => "prompt",
            ItemKind::Resource => "resource",
        })
    }
}

/// An item several upstreams offer under the same name (with kept names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    /// What kind of item.
    pub kind: ItemKind,
    /// Its name (a URI or URI template for resources).
    pub name: String,
    /// The upstreams offering it, in configuration order.
    pub upstreams: Vec<String>,
}

/// The answer to [`Host::call_tool_or_task`].
#[derive(Debug, Clone, PartialEq)]
pub enum HostToolCall {
    /// The upstream's result, as it is.
    Complete(CallToolResult),
    /// The upstream runs the call as a task.
    Task(UpstreamTask),
}

/// A task an upstream runs for a call made through the host.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamTask {
    /// The upstream running it (the name [`Host::get_task`] takes).
    pub upstream: String,
    /// The task as the upstream made it; its id is the upstream's.
    pub task: Task,
}

/// An error from a [`Host`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The configuration is invalid.
    #[error("invalid host configuration: {0}")]
    Config(String),
    /// No upstream offers the item (or the name names no upstream).
    #[error("unknown {kind}: {name}")]
    Unknown {
        /// What kind of item.
        kind: ItemKind,
        /// The name asked for.
        name: String,
    },
    /// Several upstreams offer the item under this name (kept names).
    #[error("the {kind} `{name}` is offered by several upstreams ({}); it is not served", upstreams.join(", "))]
    Ambiguous {
        /// What kind of item.
        kind: ItemKind,
        /// The name asked for.
        name: String,
        /// The upstreams offering it.
        upstreams: Vec<String>,
    },
    /// The upstream is not connected, or its connection failed.
    #[error("upstream `{upstream}` unavailable")]
    Unavailable {
        /// The upstream.
        upstream: String,
    },
    /// The upstream did not answer in time; the request was cancelled.
    #[error("upstream `{upstream}` did not answer within {seconds} s")]
    Timeout {
        /// The upstream.
        upstream: String,
        /// The timeout.
        seconds: u64,
    },
    /// The upstream answered with a JSON-RPC error: its code and message (never its `data`, but
    /// for the `requiredCapabilities` of a -32021 refusal).
    #[error("{error}")]
    Upstream {
        /// The upstream.
        upstream: String,
        /// The code and message.
        error: ErrorObject,
    },
}

impl HostError {
    /// The JSON-RPC error to answer a client with: the upstream's error as it is, invalid params
    /// (-32602) for unknown or ambiguous names, internal error (-32603) otherwise, each with
    /// this error's message.
    pub fn to_error_object(&self) -> ErrorObject {
        match self {
            HostError::Upstream { error, .. } => error.clone(),
            HostError::Unknown { .. } | HostError::Ambiguous { .. } => {
                ErrorObject::new(ErrorCode::INVALID_PARAMS, self.to_string())
            }
            _ => ErrorObject::new(ErrorCode::INTERNAL_ERROR, self.to_string()),
        }
    }
}

/// Something that happened on the host's upstreams.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HostEvent {
    /// A list changed (an upstream's list changed, or an upstream came or went), or a subscribed
    /// resource was updated (its namespaced URI). The host's lists are up to date when this
    /// arrives.
    Changed(Change),
    /// An upstream's health changed.
    Health {
        /// The upstream.
        upstream: String,
        /// Its new state.
        health: Health,
    },
    /// A log message from an upstream while none of its calls was in flight.
    Log {
        /// The upstream.
        upstream: String,
        /// The message.
        params: LoggingMessageNotificationParams,
    },
}

/// The events of a [`Host`], from [`Host::events`].
#[derive(Debug)]
pub struct HostEvents {
    rx: broadcast::Receiver<HostEvent>,
}

impl HostEvents {
    /// The next event; `None` once the host is gone. Events a slow reader missed are skipped
    /// (with a warning).
    pub async fn next(&mut self) -> Option<HostEvent> {
        loop {
            match self.rx.recv().await {
                Ok(e) => return Some(e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "a host event reader fell behind");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// Builds a [`Host`].
#[derive(Debug, Clone)]
pub struct HostBuilder {
    upstreams: Vec<Upstream>,
    separator: String,
    naming: Naming,
    capabilities: HandlerCapabilities,
    info: Implementation,
    backoff: (Duration, Duration),
    log_level: Option<LoggingLevel>,
}

impl Default for HostBuilder {
    fn default() -> Self {
        HostBuilder {
            upstreams: Vec::new(),
            separator: "__".into(),
            naming: Naming::Auto,
            capabilities: HandlerCapabilities::default(),
            info: Implementation::new("mcp-host-rs", env!("CARGO_PKG_VERSION")),
            backoff: (Duration::from_millis(500), Duration::from_secs(30)),
            log_level: None,
        }
    }
}

impl HostBuilder {
    /// Adds an upstream.
    #[must_use]
    pub fn upstream(mut self, upstream: Upstream) -> Self {
        self.upstreams.push(upstream);
        self
    }

    /// The separator between an upstream's name and an item's (`__` by default, which passes
    /// every client's tool-name check; `:` and `/` do not).
    #[must_use]
    pub fn separator(mut self, separator: impl Into<String>) -> Self {
        self.separator = separator.into();
        self
    }

    /// How items are named ([`Naming::Auto`] by default).
    #[must_use]
    pub fn naming(mut self, naming: Naming) -> Self {
        self.naming = naming;
        self
    }

    /// What the host declares to upstreams it answers (elicitation, sampling, roots), through
    /// the calls' bridges. Nothing by default.
    #[must_use]
    pub fn capabilities(mut self, capabilities: HandlerCapabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Asks every upstream for log messages at this level and above (none by default). They
    /// reach the bridge of the call in flight ([module documentation](self)), or
    /// [`HostEvent::Log`].
    #[must_use]
    pub fn log_level(mut self, level: LoggingLevel) -> Self {
        self.log_level = Some(level);
        self
    }

    /// The host's name and version, as upstreams see them.
    #[must_use]
    pub fn info(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.info = Implementation::new(name, version);
        self
    }

    /// The delay before reconnecting a failed upstream: `initial`, doubled after each failure
    /// in a row, at most `max` (500 ms and 30 s by default). An upstream that stayed connected
    /// for `max` starts again from `initial`.
    #[must_use]
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = (initial, max.max(initial));
        self
    }

    fn check(&self) -> Result<(), HostError> {
        let config = |m: String| Err(HostError::Config(m));
        if self.separator.is_empty() {
            return config("the separator is empty".into());
        }
        if self.upstreams.is_empty() {
            return config("no upstream is configured".into());
        }
        let mut seen = BTreeSet::new();
        for u in &self.upstreams {
            let valid = u.name.starts_with(|c: char| c.is_ascii_alphabetic())
                && u.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !valid {
                return config(format!(
                    "the upstream name `{}` does not match ^[A-Za-z][A-Za-z0-9-]*$",
                    u.name
                ));
            }
            if u.name.contains(&self.separator) {
                return config(format!(
                    "the upstream name `{}` contains the separator `{}`",
                    u.name, self.separator
                ));
            }
            if !seen.insert(u.name.as_str()) {
                return config(format!("two upstreams are named `{}`", u.name));
            }
        }
        Ok(())
    }

    /// Checks the configuration, connects to every upstream concurrently and returns once each
    /// is [`Health::Ready`] or [`Health::Failed`] (bounded by its connect timeout). Failed
    /// upstreams are retried in the background; only an invalid configuration is an error.
    pub async fn start(self) -> Result<Host, HostError> {
        self.check()?;
        let kept = match self.naming {
            Naming::Auto => self.upstreams.len() == 1,
            Naming::Prefixed => false,
            Naming::Kept => true,
        };
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (shutdown, _) = watch::channel(false);
        let mut ups = Vec::new();
        let mut fail_rxs = Vec::new();
        for config in self.upstreams {
            let (fail, fail_rx) = mpsc::unbounded_channel();
            ups.push(Arc::new(Up {
                health: watch::channel(Health::Starting).0,
                client: Mutex::new(None),
                lists: Mutex::new(None),
                inflight: Mutex::new(BTreeMap::new()),
                next_call: AtomicU64::new(0),
                subscribed: Mutex::new(BTreeSet::new()),
                listeners: Mutex::new(HashMap::new()),
                fail,
                events: events.clone(),
                kept,
                prefix: if kept {
                    String::new()
                } else {
                    format!("{}{}", config.name, self.separator)
                },
                capabilities: self.capabilities,
                info: self.info.clone(),
                log_level: self.log_level,
                config,
            }));
            fail_rxs.push(fail_rx);
        }
        let mut tasks = Vec::new();
        for (up, fail_rx) in ups.iter().zip(fail_rxs) {
            tasks.push(tokio::spawn(supervise(
                up.clone(),
                fail_rx,
                shutdown.subscribe(),
                self.backoff,
            )));
        }
        for up in &ups {
            let mut rx = up.health.subscribe();
            let _ = rx.wait_for(|h| !matches!(h, Health::Starting)).await;
        }
        Ok(Host {
            inner: Arc::new(HostInner {
                ups,
                separator: self.separator,
                kept,
                events,
                shutdown,
                tasks: tokio::sync::Mutex::new(tasks),
            }),
        })
    }
}

/// One client over many servers; see the [module documentation](self).
///
/// Cloning is cheap; the upstreams are closed when the last clone is dropped or
/// [`Host::close`] is called.
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("health", &self.health())
            .finish_non_exhaustive()
    }
}

struct HostInner {
    ups: Vec<Arc<Up>>,
    separator: String,
    kept: bool,
    events: broadcast::Sender<HostEvent>,
    shutdown: watch::Sender<bool>,
    tasks: tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for HostInner {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// What the host keeps of an upstream's lists.
#[derive(Debug, Default, Clone)]
struct Lists {
    tools: Vec<Tool>,
    prompts: Vec<Prompt>,
    resources: Vec<Resource>,
    templates: Vec<ResourceTemplate>,
}

/// One upstream's state.
struct Up {
    config: Upstream,
    health: watch::Sender<Health>,
    client: Mutex<Option<Client>>,
    lists: Mutex<Option<Lists>>,
    /// The calls in flight, oldest first, with their bridges.
    inflight: Mutex<BTreeMap<u64, Arc<dyn DynHandler>>>,
    next_call: AtomicU64,
    /// The resources subscribed to (original URIs), subscribed again after a reconnection.
    subscribed: Mutex<BTreeSet<String>>,
    /// Modern-era listeners: `""` for list changes, else a resource's original URI.
    listeners: Mutex<HashMap<String, Listener>>,
    /// Tells the supervisor the connection failed.
    fail: mpsc::UnboundedSender<String>,
    events: broadcast::Sender<HostEvent>,
    kept: bool,
    /// What comes before its tools' names at the host (empty when names are kept).
    prefix: String,
    capabilities: HandlerCapabilities,
    info: Implementation,
    log_level: Option<LoggingLevel>,
}

impl Up {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn client(&self) -> Result<Client, HostError> {
        self.client
            .lock()
            .expect("not poisoned")
            .clone()
            .ok_or_else(|| self.unavailable())
    }

    fn unavailable(&self) -> HostError {
        HostError::Unavailable {
            upstream: self.name().to_owned(),
        }
    }

    fn set_health(&self, health: Health) {
        self.health.send_replace(health.clone());
        let _ = self.events.send(HostEvent::Health {
            upstream: self.name().to_owned(),
            health,
        });
    }

    fn emit(&self, change: Change) {
        let _ = self.events.send(HostEvent::Changed(change));
    }

    fn resource_uri(&self, uri: &str) -> String {
        if self.kept {
            uri.to_owned()
        } else {
            format!("{}+{uri}", self.name())
        }
    }

    /// A call's bridge as the upstream's requests reach it: with configured roots, those
    /// answer its roots requests ([`Upstream::roots`]).
    fn bridge(&self, bridge: impl ClientHandler) -> Arc<dyn DynHandler> {
        match &self.config.roots {
            Some(roots) => Arc::new(FixedRoots {
                inner: bridge,
                roots: roots.clone(),
            }),
            None => Arc::new(bridge),
        }
    }

    /// The bridge of the oldest call in flight.
    fn oldest_bridge(&self) -> Option<Arc<dyn DynHandler>> {
        self.inflight
            .lock()
            .expect("not poisoned")
            .values()
            .next()
            .cloned()
    }

    /// Maps a client error; a failed connection is reported to the supervisor.
    fn error(&self, e: Error) -> HostError {
        match e {
            Error::Server(o) => {
                let mut error = ErrorObject::new(o.code, o.message);
                // The capabilities a refusal names are protocol, not the upstream's internals:
                // the caller needs them to retry.
                if o.code == ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
                    && let Some(required) =
                        o.data.as_ref().and_then(|d| d.get("requiredCapabilities"))
                {
                    error =
                        error.with_data(serde_json::json!({ "requiredCapabilities": required }));
                }
                HostError::Upstream {
                    upstream: self.name().to_owned(),
                    error,
                }
            }
            Error::Timeout { .. } => HostError::Timeout {
                upstream: self.name().to_owned(),
                seconds: self.config.timeout.as_secs(),
            },
            Error::Connection(reason) => {
                let failed = format!("connection failed: {reason}");
                if matches!(self.config.target, Target::Http(_)) {
                    // Over HTTP a request travels on a connection of its own, which may fail
                    // while the server is fine (the server closed a kept-alive connection as
                    // the request went out, a proxy reset it): the server is asked (`ping`)
                    // before it is taken for gone, with its items.
                    let client = self.client.lock().expect("not poisoned").clone();
                    let fail = self.fail.clone();
                    let wait = self.config.connect_timeout.min(Duration::from_secs(5));
                    tokio::spawn(async move {
                        let alive = match client {
                            Some(client) => tokio::time::timeout(wait, client.ping())
                                .await
                                .is_ok_and(|r| r.is_ok()),
                            None => false,
                        };
                        if !alive {
                            let _ = fail.send(failed);
                        }
                    });
                } else {
                    let _ = self.fail.send(failed);
                }
                self.unavailable()
            }
            other => {
                tracing::warn!(upstream = %self.name(), error = %other, "upstream request failed");
                self.unavailable()
            }
        }
    }

    /// Registers a call in flight with its bridge until the guard is dropped.
    fn enter(self: &Arc<Self>, bridge: Arc<dyn DynHandler>) -> InFlight {
        let id = self.next_call.fetch_add(1, Ordering::Relaxed);
        self.inflight
            .lock()
            .expect("not poisoned")
            .insert(id, bridge);
        InFlight {
            up: self.clone(),
            id,
        }
    }

    /// Fetches one kind of list again, and tells the host's readers.
    async fn refresh(self: Arc<Self>, change: Change) {
        let Ok(client) = self.client() else { return };
        let outcome = match change {
            Change::Tools => client.list_tools().await.map(|t| {
                warn_long_names(self.name(), &self.prefix, &t);
                self.with_lists(|l| l.tools = t)
            }),
            Change::Prompts => client
                .list_prompts()
                .await
                .map(|p| self.with_lists(|l| l.prompts = p)),
            Change::Resources => match client.list_resources().await {
                Ok(r) => {
                    let templates = client.list_resource_templates().await.unwrap_or_default();
                    self.with_lists(|l| {
                        l.resources = r;
                        l.templates = templates;
                    });
                    Ok(())
                }
                Err(e) => Err(e),
            },
            _ => return,
        };
        match outcome {
            Ok(()) => self.emit(change),
            Err(e) => {
                let e = self.error(e);
                tracing::warn!(upstream = %self.name(), error = %e, "cannot refresh a list");
            }
        }
    }

    fn with_lists(&self, f: impl FnOnce(&mut Lists)) {
        if let Some(lists) = self.lists.lock().expect("not poisoned").as_mut() {
            f(lists);
        }
    }
}

/// Logs the tools whose names at the host (`prefix` and their own) are over
/// [`TOOL_NAME_WARN_LENGTH`] characters.
fn warn_long_names(upstream: &str, prefix: &str, tools: &[Tool]) {
    let prefix_length = prefix.chars().count();
    for t in tools {
        if prefix_length + t.name.chars().count() > TOOL_NAME_WARN_LENGTH {
            tracing::warn!(%upstream, tool = %format!("{prefix}{}", t.name), "tool name over {TOOL_NAME_WARN_LENGTH} characters; some clients drop it");
        }
    }
}

struct InFlight {
    up: Arc<Up>,
    id: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.up
            .inflight
            .lock()
            .expect("not poisoned")
            .remove(&self.id);
    }
}

/// A call's bridge with the upstream's configured roots ([`Upstream::roots`]) in place of the
/// caller's.
struct FixedRoots<H> {
    inner: H,
    roots: Vec<Root>,
}

impl<H: ClientHandler> ClientHandler for FixedRoots<H> {
    fn capabilities(&self) -> HandlerCapabilities {
        HandlerCapabilities {
            roots: true,
            ..self.inner.capabilities()
        }
    }

    fn call_capabilities(&self) -> Option<HandlerCapabilities> {
        self.inner
            .call_capabilities()
            .map(|c| HandlerCapabilities { roots: true, ..c })
    }

    fn request_meta(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        self.inner.request_meta()
    }

    fn elicit(
        &self,
        params: ElicitRequestParams,
    ) -> impl Future<Output = Result<ElicitResult, ErrorObject>> + Send {
        self.inner.elicit(params)
    }

    fn sample(
        &self,
        params: CreateMessageRequestParams,
    ) -> impl Future<Output = Result<CreateMessageResult, ErrorObject>> + Send {
        self.inner.sample(params)
    }

    async fn roots(&self) -> Result<Vec<Root>, ErrorObject> {
        Ok(self.roots.clone())
    }

    fn on_progress(&self, params: &ProgressNotificationParams) {
        self.inner.on_progress(params);
    }

    fn on_log(&self, params: &LoggingMessageNotificationParams) {
        self.inner.on_log(params);
    }

    fn on_change(&self, change: Change) {
        self.inner.on_change(change);
    }
}

/// The connection-level handler of an upstream: routes what the upstream asks to the calls in
/// flight, and its changes to the host.
struct UpHandler(Weak<Up>);

impl ClientHandler for UpHandler {
    fn capabilities(&self) -> HandlerCapabilities {
        self.0
            .upgrade()
            .map(|u| HandlerCapabilities {
                roots: u.capabilities.roots || u.config.roots.is_some(),
                ..u.capabilities
            })
            .unwrap_or_default()
    }

    async fn elicit(&self, params: ElicitRequestParams) -> Result<ElicitResult, ErrorObject> {
        match self.0.upgrade().and_then(|u| u.oldest_bridge()) {
            Some(b) => b.elicit(params).await,
            None => Ok(ElicitResult {
                action: ElicitAction::Decline,
                content: None,
                meta: None,
            }),
        }
    }

    async fn sample(
        &self,
        params: CreateMessageRequestParams,
    ) -> Result<CreateMessageResult, ErrorObject> {
        match self.0.upgrade().and_then(|u| u.oldest_bridge()) {
            Some(b) => b.sample(params).await,
            None => Err(ErrorObject::method_not_found("sampling/createMessage")),
        }
    }

    async fn roots(&self) -> Result<Vec<Root>, ErrorObject> {
        let Some(up) = self.0.upgrade() else {
            return Err(ErrorObject::method_not_found("roots/list"));
        };
        if let Some(roots) = &up.config.roots {
            return Ok(roots.clone());
        }
        match up.oldest_bridge() {
            Some(b) => b.roots().await,
            None => Err(ErrorObject::method_not_found("roots/list")),
        }
    }

    fn on_log(&self, params: &LoggingMessageNotificationParams) {
        let Some(up) = self.0.upgrade() else { return };
        match up.oldest_bridge() {
            Some(b) => b.on_log(params),
            None => {
                let _ = up.events.send(HostEvent::Log {
                    upstream: up.name().to_owned(),
                    params: params.clone(),
                });
            }
        }
    }

    fn on_change(&self, change: Change) {
        let Some(up) = self.0.upgrade() else { return };
        match change {
            Change::Resource(uri) => up.emit(Change::Resource(up.resource_uri(&uri))),
            other => {
                tokio::spawn(up.refresh(other));
            }
        }
    }
}

/// A transport whose end (or flood) is reported: counted as the client reads it, without a
/// task in between.
fn watch_transport(transport: Transport, max_per_second: Option<u32>) -> (Transport, Ended) {
    use futures::StreamExt as _;
    let Transport {
        out,
        incoming,
        close,
    } = transport;
    // A transport that hands what it reads to the client itself (HTTP) is not watched.
    let Some(mut incoming) = incoming else {
        return (
            Transport {
                out,
                incoming: None,
                close,
            },
            None,
        );
    };
    let (done_tx, done_rx) = watch::channel(None::<String>);
    let mut done = Some(done_tx);
    let mut window = Instant::now();
    let mut count = 0u32;
    let watched = futures::stream::poll_fn(move |cx| {
        if done.is_none() {
            return Poll::Ready(None);
        }
        let reason = match std::task::ready!(incoming.poll_next_unpin(cx)) {
            None => "the connection closed".to_owned(),
            Some(message) => {
                let Some(limit) = max_per_second else {
                    return Poll::Ready(Some(message));
                };
                if window.elapsed() >= Duration::from_secs(1) {
                    window = Instant::now();
                    count = 0;
                }
                count += 1;
                if count <= limit {
                    return Poll::Ready(Some(message));
                }
                format!("flooded: more than {limit} messages in a second; cut off")
            }
        };
        if let Some(done) = done.take() {
            done.send_replace(Some(reason));
        }
        Poll::Ready(None)
    });
    (
        Transport {
            out,
            incoming: Some(Box::pin(watched)),
            close,
        },
        Some(done_rx),
    )
}

/// Why a watched connection ended: set once by its relay; `None` for HTTP, which is not watched.
type Ended = Option<watch::Receiver<Option<String>>>;

/// Waits until the connection ends; why.
async fn ended(rx: &mut Ended) -> String {
    let Some(rx) = rx else {
        return std::future::pending().await;
    };
    match rx.wait_for(Option::is_some).await {
        Ok(reason) => reason.clone().unwrap_or_default(),
        Err(_) => "the connection closed".to_owned(),
    }
}

/// Connects to an upstream; the client and a future that ends with the reason the connection
/// ended.
async fn connect(up: &Arc<Up>) -> crate::Result<(Client, Ended)> {
    let c = &up.config;
    let mut builder = Client::builder()
        .info(up.info.name.clone(), up.info.version.clone())
        .era(c.era)
        .timeout(c.timeout)
        .probe_timeout(c.connect_timeout.min(Duration::from_secs(5)))
        .validate_output(false)
        .handler(UpHandler(Arc::downgrade(up)));
    if let Some(level) = up.log_level {
        builder = builder.log_level(level);
    }
    let transport = match &c.target {
        Target::Http(server) => {
            let client = builder.connect_http(server.clone()).await?;
            return Ok((client, None));
        }
        Target::Stdio(server) => server.clone().spawn()?,
        Target::Custom(connect) => connect()?,
    };
    let (transport, mut closed) = watch_transport(transport, c.max_messages_per_second);
    // A connection that ends during the handshake fails it at once.
    let client = tokio::select! {
        biased;
        client = builder.connect(transport) => client?,
        reason = ended(&mut closed) => return Err(Error::Connection(reason)),
    };
    Ok((client, closed))
}

/// Fetches every list the upstream offers.
async fn fetch_lists(client: &Client) -> crate::Result<Lists> {
    let caps = client.session().capabilities;
    let mut lists = Lists::default();
    if caps.tools.is_some() {
        lists.tools = client.list_tools().await?;
    }
    if caps.prompts.is_some() {
        lists.prompts = client.list_prompts().await?;
    }
    if caps.resources.is_some() {
        lists.resources = client.list_resources().await?;
        lists.templates = client.list_resource_templates().await?;
    }
    Ok(lists)
}

/// Subscribes on a connection: list changes (modern), and the resources asked for.
async fn subscribe_on(up: &Up, client: &Client) {
    if client.session().era() == Era::Modern {
        match client
            .listen(Subscription::new().tools().prompts().resources())
            .await
        {
            Ok(l) => {
                up.listeners
                    .lock()
                    .expect("not poisoned")
                    .insert(String::new(), l);
            }
            Err(e) => {
                tracing::debug!(upstream = %up.name(), error = %e, "no list-change subscription")
            }
        }
    }
    let uris: Vec<String> = up
        .subscribed
        .lock()
        .expect("not poisoned")
        .iter()
        .cloned()
        .collect();
    for uri in uris {
        if let Err(e) = subscribe_one(up, client, &uri).await {
            tracing::warn!(upstream = %up.name(), %uri, error = %e, "cannot subscribe again");
        }
    }
}

async fn subscribe_one(up: &Up, client: &Client, uri: &str) -> crate::Result<()> {
    if client.session().era() == Era::Legacy {
        client.subscribe(uri).await
    } else {
        let l = client.listen(Subscription::new().resource(uri)).await?;
        up.listeners
            .lock()
            .expect("not poisoned")
            .insert(uri.to_owned(), l);
        Ok(())
    }
}

/// Connects an upstream, watches it, and reconnects it after failures with a backoff.
async fn supervise(
    up: Arc<Up>,
    mut fail_rx: mpsc::UnboundedReceiver<String>,
    mut shutdown: watch::Receiver<bool>,
    (initial, max): (Duration, Duration),
) {
    let mut failures: u32 = 0;
    loop {
        if failures > 0 {
            up.set_health(Health::Restarting);
        }
        let attempt = async {
            let (client, mut closed) = connect(&up).await?;
            let lists = tokio::select! {
                biased;
                lists = fetch_lists(&client) => lists?,
                reason = ended(&mut closed) => return Err(Error::Connection(reason)),
            };
            Ok::<_, Error>((client, closed, lists))
        };
        let outcome = tokio::select! {
            o = tokio::time::timeout(up.config.connect_timeout, attempt) => o,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let reason = match outcome {
            Err(_) => format!(
                "no answer within the connect timeout ({} s)",
                up.config.connect_timeout.as_secs_f64()
            ),
            Ok(Err(e)) => format!("cannot connect: {e}"),
            Ok(Ok((client, mut closed, lists))) => {
                warn_long_names(up.name(), &up.prefix, &lists.tools);
                while fail_rx.try_recv().is_ok() {}
                *up.lists.lock().expect("not poisoned") = Some(lists);
                *up.client.lock().expect("not poisoned") = Some(client.clone());
                subscribe_on(&up, &client).await;
                up.set_health(Health::Ready);
                for change in [Change::Tools, Change::Prompts, Change::Resources] {
                    up.emit(change);
                }
                let since = Instant::now();
                let reason = tokio::select! {
                    r = ended(&mut closed) => Some(r),
                    Some(r) = fail_rx.recv() => Some(r),
                    _ = shutdown.wait_for(|s| *s) => None,
                };
                up.client.lock().expect("not poisoned").take();
                up.lists.lock().expect("not poisoned").take();
                let listeners: Vec<_> =
                    up.listeners.lock().expect("not poisoned").drain().collect();
                drop(listeners);
                let Some(reason) = reason else {
                    client.close().await;
                    return;
                };
                if since.elapsed() >= max {
                    failures = 0;
                }
                for change in [Change::Tools, Change::Prompts, Change::Resources] {
                    up.emit(change);
                }
                // Closing a child process may take its grace periods: not on this path.
                tokio::spawn(async move { client.close().await });
                reason
            }
        };
        tracing::warn!(upstream = %up.name(), %reason, "upstream failed");
        up.set_health(Health::Failed {
            reason,
            since: SystemTime::now(),
        });
        let delay = initial
            .saturating_mul(2u32.saturating_pow(failures.min(16)))
            .min(max);
        failures = failures.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

impl Host {
    /// A builder with defaults: separator `__`, [`Naming::Auto`], no capabilities declared.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// Starts a host over `upstreams` with the defaults ([`HostBuilder::start`]).
    pub async fn start(upstreams: impl IntoIterator<Item = Upstream>) -> Result<Host, HostError> {
        let mut builder = Host::builder();
        builder.upstreams.extend(upstreams);
        builder.start().await
    }

    /// Each upstream's state, in configuration order.
    pub fn health(&self) -> Vec<(String, Health)> {
        self.inner
            .ups
            .iter()
            .map(|u| (u.name().to_owned(), u.health.borrow().clone()))
            .collect()
    }

    /// The events from now on: list changes, resource updates, health changes, log messages.
    pub fn events(&self) -> HostEvents {
        HostEvents {
            rx: self.inner.events.subscribe(),
        }
    }

    /// Whether names are kept as the upstreams give them (see [`Naming`]).
    pub fn keeps_names(&self) -> bool {
        self.inner.kept
    }

    /// The instructions each connected upstream gave (how to use it, for the model), in
    /// configuration order: `(upstream, instructions)`. An upstream that gave none, or is not
    /// connected, is left out.
    pub fn instructions(&self) -> Vec<(String, String)> {
        self.inner
            .ups
            .iter()
            .filter_map(|u| {
                let text = u.client().ok()?.session().instructions?;
                (!text.trim().is_empty()).then(|| (u.name().to_owned(), text))
            })
            .collect()
    }

    fn up(&self, name: &str) -> Option<&Arc<Up>> {
        self.inner.ups.iter().find(|u| u.name() == name)
    }

    fn lists(&self) -> Vec<(Arc<Up>, Lists)> {
        self.inner
            .ups
            .iter()
            .filter_map(|u| {
                let lists = u.lists.lock().expect("not poisoned").clone()?;
                Some((u.clone(), lists))
            })
            .collect()
    }

    /// With kept names: the upstreams offering each name of one kind.
    fn owners(&self, names: impl Fn(&Lists) -> Vec<String>) -> BTreeMap<String, Vec<String>> {
        let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (up, lists) in self.lists() {
            for name in names(&lists).into_iter().collect::<BTreeSet<_>>() {
                owners.entry(name).or_default().push(up.name().to_owned());
            }
        }
        owners
    }

    /// Items several upstreams offer under the same name (kept names only; with prefixes,
    /// names cannot collide). They are left out of the lists.
    pub fn collisions(&self) -> Vec<Collision> {
        if !self.inner.kept {
            return Vec::new();
        }
        let kinds: [(ItemKind, NamesOf); 3] = [
            (ItemKind::Tool, |l| {
                l.tools.iter().map(|t| t.name.clone()).collect()
            }),
            (ItemKind::Prompt, |l| {
                l.prompts.iter().map(|p| p.name.clone()).collect()
            }),
            (ItemKind::Resource, |l| {
                l.resources
                    .iter()
                    .map(|r| r.uri.clone())
                    .chain(l.templates.iter().map(|t| t.uri_template.clone()))
                    .collect()
            }),
        ];
        let mut out = Vec::new();
        for (kind, names) in kinds {
            for (name, upstreams) in self.owners(names) {
                if upstreams.len() > 1 {
                    out.push(Collision {
                        kind,
                        name,
                        upstreams,
                    });
                }
            }
        }
        out
    }

    fn colliding(&self, kind: ItemKind) -> BTreeSet<String> {
        self.collisions()
            .into_iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.name)
            .collect()
    }

    fn prefixed(&self, up: &Up, name: &str) -> String {
        if self.inner.kept {
            name.to_owned()
        } else {
            format!("{}{}{name}", up.name(), self.inner.separator)
        }
    }

    /// The tools of every ready upstream, namespaced.
    pub fn tools(&self) -> Vec<Tool> {
        let colliding = self.colliding(ItemKind::Tool);
        let mut out = Vec::new();
        for (up, lists) in self.lists() {
            for mut t in lists.tools {
                if colliding.contains(&t.name) {
                    continue;
                }
                t.name = self.prefixed(&up, &t.name);
                out.push(t);
            }
        }
        out
    }

    /// The prompts of every ready upstream, namespaced.
    pub fn prompts(&self) -> Vec<Prompt> {
        let colliding = self.colliding(ItemKind::Prompt);
        let mut out = Vec::new();
        for (up, lists) in self.lists() {
            for mut p in lists.prompts {
                if colliding.contains(&p.name) {
                    continue;
                }
                p.name = self.prefixed(&up, &p.name);
                out.push(p);
            }
        }
        out
    }

    /// The resources of every ready upstream, with namespaced URIs.
    pub fn resources(&self) -> Vec<Resource> {
        let colliding = self.colliding(ItemKind::Resource);
        let mut out = Vec::new();
        for (up, lists) in self.lists() {
            for mut r in lists.resources {
                if colliding.contains(&r.uri) {
                    continue;
                }
                r.uri = up.resource_uri(&r.uri);
                out.push(r);
            }
        }
        out
    }

    /// The resource templates of every ready upstream, with namespaced URI templates.
    pub fn resource_templates(&self) -> Vec<ResourceTemplate> {
        let colliding = self.colliding(ItemKind::Resource);
        let mut out = Vec::new();
        for (up, lists) in self.lists() {
            for mut t in lists.templates {
                if colliding.contains(&t.uri_template) {
                    continue;
                }
                t.uri_template = up.resource_uri(&t.uri_template);
                out.push(t);
            }
        }
        out
    }

    /// Which upstream owns a tool or prompt name, and the name it has there.
    fn route_name(&self, kind: ItemKind, name: &str) -> Result<(Arc<Up>, String), HostError> {
        let unknown = || HostError::Unknown {
            kind,
            name: name.to_owned(),
        };
        if !self.inner.kept {
            let (upstream, original) =
                name.split_once(&self.inner.separator).ok_or_else(unknown)?;
            let up = self.up(upstream).ok_or_else(unknown)?;
            return Ok((up.clone(), original.to_owned()));
        }
        if let [only] = self.inner.ups.as_slice() {
            return Ok((only.clone(), name.to_owned()));
        }
        let owners: Vec<Arc<Up>> = self
            .lists()
            .into_iter()
            .filter(|(_, l)| match kind {
                ItemKind::Tool => l.tools.iter().any(|t| t.name == name),
                _ => l.prompts.iter().any(|p| p.name == name),
            })
            .map(|(u, _)| u)
            .collect();
        self.single_owner(kind, name, owners)
    }

    fn single_owner(
        &self,
        kind: ItemKind,
        name: &str,
        owners: Vec<Arc<Up>>,
    ) -> Result<(Arc<Up>, String), HostError> {
        match owners.as_slice() {
            [] => Err(HostError::Unknown {
                kind,
                name: name.to_owned(),
            }),
            [one] => Ok((one.clone(), name.to_owned())),
            many => Err(HostError::Ambiguous {
                kind,
                name: name.to_owned(),
                upstreams: many.iter().map(|u| u.name().to_owned()).collect(),
            }),
        }
    }

    /// Which upstream owns a resource URI (or URI template), and the URI it has there.
    fn route_resource(&self, uri: &str) -> Result<(Arc<Up>, String), HostError> {
        let unknown = || HostError::Unknown {
            kind: ItemKind::Resource,
            name: uri.to_owned(),
        };
        if !self.inner.kept {
            let (upstream, original) = uri.split_once('+').ok_or_else(unknown)?;
            let up = self.up(upstream).ok_or_else(unknown)?;
            return Ok((up.clone(), original.to_owned()));
        }
        if let [only] = self.inner.ups.as_slice() {
            return Ok((only.clone(), uri.to_owned()));
        }
        let lists = self.lists();
        // A listed resource or template, then a template whose literal start matches.
        let exact: Vec<Arc<Up>> = lists
            .iter()
            .filter(|(_, l)| {
                l.resources.iter().any(|r| r.uri == uri)
                    || l.templates.iter().any(|t| t.uri_template == uri)
            })
            .map(|(u, _)| u.clone())
            .collect();
        if !exact.is_empty() {
            return self.single_owner(ItemKind::Resource, uri, exact);
        }
        let by_template: Vec<Arc<Up>> = lists
            .iter()
            .filter(|(_, l)| {
                l.templates.iter().any(|t| {
                    let literal = t.uri_template.split('{').next().unwrap_or_default();
                    !literal.is_empty() && uri.starts_with(literal)
                })
            })
            .map(|(u, _)| u.clone())
            .collect();
        self.single_owner(ItemKind::Resource, uri, by_template)
    }

    /// The upstream that serves a tool or prompt (by its namespaced name) or a resource (by its
    /// namespaced URI or URI template).
    pub fn owner(&self, kind: ItemKind, name: &str) -> Result<String, HostError> {
        self.origin(kind, name).map(|(upstream, _)| upstream)
    }

    /// The upstream that serves an item (a tool or prompt by its namespaced name, a resource by
    /// its namespaced URI or URI template) and the name the item has there: `("fs",
    /// "read_file")` for `fs__read_file`, `("fs", "file:///a.txt")` for `fs+file:///a.txt`.
    pub fn origin(&self, kind: ItemKind, name: &str) -> Result<(String, String), HostError> {
        let (up, original) = match kind {
            ItemKind::Resource => self.route_resource(name)?,
            _ => self.route_name(kind, name)?,
        };
        Ok((up.name().to_owned(), original))
    }

    /// Calls a tool on its upstream with the name it has there. What the upstream does during
    /// the call reaches `bridge`: progress, and (see the [module documentation](self)) log
    /// messages, elicitation, sampling and roots. The result is the upstream's, as it is.
    /// Dropping the future cancels the call on the upstream.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: impl Serialize,
        bridge: impl ClientHandler,
    ) -> Result<CallToolResult, HostError> {
        let (up, original) = self.route_name(ItemKind::Tool, name)?;
        let client = up.client()?;
        let bridge = up.bridge(bridge);
        let _inflight = up.enter(bridge.clone());
        let progress = bridge.clone();
        let call = client.call_tool_with_progress(&original, arguments, move |p| {
            progress.on_progress(p);
        });
        Client::with_handler(bridge, call)
            .await
            .map_err(|e| up.error(e))
    }

    /// Whether the upstream serving the resource `uri` (namespaced) said it can be subscribed
    /// to: `resources.subscribe` among the capabilities of a legacy session. `None` when that is
    /// not known: the upstream is not connected, `uri` is unknown, or the session is modern
    /// (whose `subscriptions/listen` has no such capability to declare).
    pub fn can_subscribe(&self, uri: &str) -> Option<bool> {
        let (up, _) = self.route_resource(uri).ok()?;
        let client = up.client().ok()?;
        let session = client.session();
        if session.era() != Era::Legacy {
            return None;
        }
        Some(
            session
                .capabilities
                .resources
                .as_ref()
                .and_then(|r| r.subscribe)
                .unwrap_or(false),
        )
    }

    /// Whether the upstream serving the tool `name` (namespaced) runs calls as tasks: it
    /// declared the tasks extension (`io.modelcontextprotocol/tasks`).
    pub fn runs_tasks(&self, name: &str) -> bool {
        let Ok((up, _)) = self.route_name(ItemKind::Tool, name) else {
            return false;
        };
        up.client().is_ok_and(|c| {
            let session = c.session();
            session.era() == Era::Modern && session.capabilities.has_extension(TASKS_EXTENSION)
        })
    }

    /// [`Host::call_tool`] with the tasks extension declared: the upstream may run the call as
    /// a task, which comes back as an [`UpstreamTask`] to follow with [`Host::get_task`],
    /// [`Host::update_task`] and [`Host::cancel_task`]. Until the task is made, `bridge`
    /// answers the call's input requests as for [`Host::call_tool`].
    pub async fn call_tool_or_task(
        &self,
        name: &str,
        arguments: impl Serialize,
        bridge: impl ClientHandler,
    ) -> Result<HostToolCall, HostError> {
        let (up, original) = self.route_name(ItemKind::Tool, name)?;
        let client = up.client()?;
        let bridge = up.bridge(bridge);
        let _inflight = up.enter(bridge.clone());
        let progress = bridge.clone();
        let call = client.call_tool_or_task_with_progress(&original, arguments, move |p| {
            progress.on_progress(p);
        });
        match Client::with_handler(bridge, call)
            .await
            .map_err(|e| up.error(e))?
        {
            ToolCall::Complete(result) => Ok(HostToolCall::Complete(result)),
            ToolCall::Task(task) => Ok(HostToolCall::Task(UpstreamTask {
                upstream: up.name().to_owned(),
                task: *task,
            })),
        }
    }

    /// The upstream's client for its task methods.
    fn task_client(&self, upstream: &str) -> Result<(Arc<Up>, Client), HostError> {
        let up = self.up(upstream).ok_or_else(|| HostError::Unavailable {
            upstream: upstream.to_owned(),
        })?;
        let client = up.client()?;
        Ok((up.clone(), client))
    }

    /// The task `id` of `upstream` as it is now (`tasks/get`).
    pub async fn get_task(&self, upstream: &str, id: &str) -> Result<Task, HostError> {
        let (up, client) = self.task_client(upstream)?;
        client.get_task(id).await.map_err(|e| up.error(e))
    }

    /// Answers input requests of the task `id` of `upstream` (`tasks/update`).
    pub async fn update_task(
        &self,
        upstream: &str,
        id: &str,
        responses: InputResponses,
    ) -> Result<(), HostError> {
        let (up, client) = self.task_client(upstream)?;
        client
            .update_task(id, responses)
            .await
            .map_err(|e| up.error(e))
    }

    /// Cancels the task `id` of `upstream` (`tasks/cancel`).
    pub async fn cancel_task(&self, upstream: &str, id: &str) -> Result<(), HostError> {
        let (up, client) = self.task_client(upstream)?;
        client.cancel_task(id).await.map_err(|e| up.error(e))
    }

    /// Reads a resource on its upstream; the contents carry the namespaced URI. `bridge` as for
    /// [`Host::call_tool`].
    pub async fn read_resource(
        &self,
        uri: &str,
        bridge: impl ClientHandler,
    ) -> Result<Vec<ResourceContents>, HostError> {
        let (up, original) = self.route_resource(uri)?;
        let client = up.client()?;
        let bridge = up.bridge(bridge);
        let _inflight = up.enter(bridge.clone());
        let mut contents = Client::with_handler(bridge, client.read_resource(&original))
            .await
            .map_err(|e| up.error(e))?;
        for c in &mut contents {
            match c {
                ResourceContents::Text(t) => t.uri = up.resource_uri(&t.uri),
                ResourceContents::Blob(b) => b.uri = up.resource_uri(&b.uri),
            }
        }
        Ok(contents)
    }

    /// Gets a prompt from its upstream. `bridge` as for [`Host::call_tool`].
    pub async fn get_prompt<'a>(
        &self,
        name: &str,
        arguments: impl IntoIterator<Item = (&'a str, &'a str)>,
        bridge: impl ClientHandler,
    ) -> Result<GetPromptResult, HostError> {
        let (up, original) = self.route_name(ItemKind::Prompt, name)?;
        let client = up.client()?;
        let bridge = up.bridge(bridge);
        let _inflight = up.enter(bridge.clone());
        Client::with_handler(bridge, client.get_prompt(&original, arguments))
            .await
            .map_err(|e| up.error(e))
    }

    /// Completes an argument of a prompt (namespaced name) or a variable of a resource template
    /// (namespaced URI template) on its upstream.
    pub async fn complete(
        &self,
        reference: CompletionReference,
        argument: &str,
        value: &str,
    ) -> Result<Completion, HostError> {
        let (up, reference) = match reference {
            CompletionReference::Prompt(mut p) => {
                let (up, original) = self.route_name(ItemKind::Prompt, &p.name)?;
                p.name = original;
                (up, CompletionReference::Prompt(p))
            }
            CompletionReference::Resource(mut r) => {
                let (up, original) = self.route_resource(&r.uri)?;
                r.uri = original;
                (up, CompletionReference::Resource(r))
            }
        };
        let client = up.client()?;
        client
            .complete(reference, argument, value)
            .await
            .map_err(|e| up.error(e))
    }

    /// Subscribes to updates of a resource (namespaced URI): they arrive as
    /// [`HostEvent::Changed`] with [`Change::Resource`] and the namespaced URI. The subscription
    /// is made again after the upstream reconnects; one asked for while the upstream is
    /// unavailable is an error, and is made when it is back. One the upstream refuses is
    /// forgotten.
    pub async fn subscribe(&self, uri: &str) -> Result<(), HostError> {
        let (up, original) = self.route_resource(uri)?;
        up.subscribed
            .lock()
            .expect("not poisoned")
            .insert(original.clone());
        let client = up.client()?;
        if let Err(e) = subscribe_one(&up, &client, &original).await {
            up.subscribed
                .lock()
                .expect("not poisoned")
                .remove(&original);
            return Err(up.error(e));
        }
        Ok(())
    }

    /// Ends a subscription made with [`Host::subscribe`].
    pub async fn unsubscribe(&self, uri: &str) -> Result<(), HostError> {
        let (up, original) = self.route_resource(uri)?;
        up.subscribed
            .lock()
            .expect("not poisoned")
            .remove(&original);
        let listener = up.listeners.lock().expect("not poisoned").remove(&original);
        if listener.is_some() {
            return Ok(());
        }
        let client = up.client()?;
        if client.session().era() == Era::Legacy {
            client
                .request::<messages::Unsubscribe>(UnsubscribeRequestParams {
                    uri: original,
                    meta: None,
                })
                .await
                .map_err(|e| up.error(e))?;
        }
        Ok(())
    }

    /// Closes every upstream (child processes are stopped) and waits until they are closed.
    pub async fn close(&self) {
        let _ = self.inner.shutdown.send(true);
        let tasks = std::mem::take(&mut *self.inner.tasks.lock().await);
        for t in tasks {
            let _ = t.await;
        }
    }
}
