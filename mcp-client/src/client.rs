//! The client: connects, detects the server's era, and calls it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_core::jsonrpc::{JsonRpcNotification, JsonRpcRequest, JsonRpcResponse, to_raw};
use mcp_core::messages::{
    self, NotificationMethod, RequestMethod, ServerNotification, ServerRequest,
};
use mcp_core::types::*;
use mcp_core::{Era, ErrorObject, JsonRpcError, JsonRpcMessage, Meta, ProtocolVersion, RequestId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::handler::{
    Change, ClientHandler, DynHandler, HandlerCapabilities, NoHandler, apply_elicitation_defaults,
};
use crate::transport::{Outbound, StdioServer, Transport};

/// Which era to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EraChoice {
    /// Probe with `server/discover`; fall back to `initialize` (the default).
    #[default]
    Auto,
    /// The `initialize` handshake.
    Legacy,
    /// The stateless era, without a probe.
    Modern,
}

/// What was agreed with the server.
#[derive(Debug, Clone)]
pub struct ServerSession {
    /// The protocol version in use.
    pub version: ProtocolVersion,
    /// What the server can do.
    pub capabilities: ServerCapabilities,
    /// Who the server is (from `initialize`, or the discover result's `_meta`).
    pub server_info: Option<Implementation>,
    /// How to use the server.
    pub instructions: Option<String>,
}

impl ServerSession {
    /// The era in use.
    pub fn era(&self) -> Era {
        self.version.era()
    }
}

/// The answer to a `tools/call` made with the tasks extension declared
/// ([`Client::call_tool_or_task`]): the result, or the task the server made of the call.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolCall {
    /// The call ran to the end in the request.
    Complete(CallToolResult),
    /// The server runs the call as a task: poll it with [`Client::get_task`].
    Task(Box<Task>),
}

/// A request's answer: its result, or a task (tasks extension).
enum Answer<T> {
    Complete(T),
    Task(Box<TaskResult>),
}

tokio::task_local! {
    /// A handler that answers the input requests (modern `input_required` rounds) of the
    /// requests made inside its scope instead of the connection's: [`Client::with_handler`].
    static CALL_HANDLER: Arc<dyn DynHandler>;
}

type Pending = HashMap<RequestId, Waiter>;

/// A request waiting for its answer.
struct Waiter {
    tx: oneshot::Sender<Reply>,
    /// When the client stops waiting (none for a request that lasts until it is cancelled).
    deadline: Option<Instant>,
}

/// What a waiting request is told.
enum Reply {
    Answer(std::result::Result<Box<RawValue>, ErrorObject>),
    /// Its deadline passed first.
    TimedOut,
}
type ProgressFn = Arc<dyn Fn(&ProgressNotificationParams) + Send + Sync>;

/// A built modern `_meta` and what it was built for.
struct ModernMeta {
    version: ProtocolVersion,
    caps: HandlerCapabilities,
    meta: Arc<Map<String, Value>>,
}

/// The members of a modern `_meta`, each already written as JSON: what a request of several
/// rounds writes into its params at every round, without a copy of the maps behind them.
type Members = [(String, Box<RawValue>)];

/// The written members of a modern `_meta`, and what they were built for.
struct ModernMembers {
    version: ProtocolVersion,
    caps: HandlerCapabilities,
    /// With the tasks extension declared.
    tasks: bool,
    members: Arc<Members>,
}

struct Inner {
    out: Outbound,
    pending: Mutex<Pending>,
    progress: Mutex<HashMap<RequestId, ProgressFn>>,
    next_id: AtomicI64,
    handler: Arc<dyn DynHandler>,
    info: Implementation,
    timeout: Duration,
    log_level: Option<LoggingLevel>,
    max_rounds: usize,
    validate_output: bool,
    /// Permits for server-to-client requests being answered at once.
    server_requests: Arc<tokio::sync::Semaphore>,
    max_server_requests: usize,
    session: Mutex<Option<ServerSession>>,
    output_schemas: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
    /// The modern `_meta` last built, for its version and the handler's capabilities: every
    /// request of a connection carries the same one, built once instead of per request.
    modern_meta: Mutex<Option<ModernMeta>>,
    /// The same, written (see [`Client::modern_members`]), one for each version, handler
    /// capabilities and tasks flag seen: a gateway's calls carry each caller's capabilities,
    /// and with or without the tasks extension, so the last one alone would be rebuilt at every
    /// change of caller. Bounded by what varies: four flags of capabilities, the tasks flag, the
    /// modern versions.
    modern_members: Mutex<Vec<ModernMembers>>,
    close: tokio::sync::Mutex<Option<futures::future::BoxFuture<'static, ()>>>,
    typed: crate::typed::TypedCache,
    events: crate::listen::Events,
    /// Wakes the deadline sweeper ([`sweep`]) when it is parked, and when the client is gone.
    sweeper: Arc<tokio::sync::Notify>,
    /// The sweeper waits for no deadline (nothing was pending for a whole timeout). Read and
    /// written under the `pending` lock.
    sweeper_parked: std::sync::atomic::AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.sweeper.notify_one();
    }
}

/// A connection to one MCP server.
///
/// ```no_run
/// # async fn run() -> mcp_client::Result<()> {
/// use mcp_client::{Client, StdioServer};
///
/// let client = Client::builder().connect_stdio(StdioServer::new("my-server")).await?;
/// for tool in client.list_tools().await? {
///     println!("{}: {}", tool.name, tool.description.unwrap_or_default());
/// }
/// let result = client.call_tool("add", serde_json::json!({ "a": 1, "b": 2 })).await?;
/// println!("{:?}", result.structured_content);
/// client.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field(
                "session",
                &self
                    .inner
                    .session
                    .lock()
                    .expect("not poisoned")
                    .as_ref()
                    .map(|s| s.version),
            )
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`].
#[derive(Clone)]
pub struct ClientBuilder {
    info: Implementation,
    handler: Arc<dyn DynHandler>,
    era: EraChoice,
    timeout: Duration,
    probe_timeout: Duration,
    log_level: Option<LoggingLevel>,
    max_rounds: usize,
    validate_output: bool,
    /// The version offered in `initialize` (the newest legacy one by default).
    legacy_version: ProtocolVersion,
    max_server_requests: usize,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("info", &self.info)
            .field("era", &self.era)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            info: Implementation::new("mcp-client-rs", env!("CARGO_PKG_VERSION")),
            handler: Arc::new(NoHandler),
            era: EraChoice::Auto,
            timeout: Duration::from_secs(60),
            probe_timeout: Duration::from_secs(5),
            log_level: None,
            max_rounds: 10,
            validate_output: true,
            legacy_version: ProtocolVersion::LATEST_LEGACY,
            max_server_requests: DEFAULT_MAX_SERVER_REQUESTS,
        }
    }
}

impl ClientBuilder {
    /// The client's name and version, as the server sees them.
    #[must_use]
    pub fn info(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.info = Implementation::new(name, version);
        self
    }

    /// What answers the server's elicitation, sampling and roots requests, and hears its
    /// notifications.
    #[must_use]
    pub fn handler(mut self, handler: impl ClientHandler) -> Self {
        self.handler = Arc::new(handler);
        self
    }

    /// Which era to speak (probing by default).
    #[must_use]
    pub fn era(mut self, era: EraChoice) -> Self {
        self.era = era;
        self
    }

    /// Speaks exactly this protocol version: a legacy one is offered in `initialize` (and the
    /// era is the legacy one), the modern one skips the probe. For testing a server against an
    /// older client.
    #[must_use]
    pub fn protocol_version(mut self, version: ProtocolVersion) -> Self {
        match version.era() {
            Era::Legacy => {
                self.era = EraChoice::Legacy;
                self.legacy_version = version;
            }
            Era::Modern => self.era = EraChoice::Modern,
        }
        self
    }

    /// How long a request may wait for its answer (60 s by default); then it is cancelled.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long the `server/discover` probe waits before deciding the server is legacy (5 s).
    #[must_use]
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// Asks for log messages at this level and above.
    #[must_use]
    pub fn log_level(mut self, level: LoggingLevel) -> Self {
        self.log_level = Some(level);
        self
    }

    /// How many requests of the server (elicitation, sampling, roots, ping) are answered at once
    /// (16 by default). A request beyond that is answered at once with the JSON-RPC error
    /// `-32000` "the client is busy: more than N server requests at once", without reaching
    /// the handler: a server cannot make the client hold an unbounded number of them.
    #[must_use]
    pub fn max_server_requests(mut self, max: usize) -> Self {
        self.max_server_requests = max.max(1);
        self
    }

    /// Whether to check `structuredContent` against the tool's `outputSchema` (on by default).
    #[must_use]
    pub fn validate_output(mut self, validate: bool) -> Self {
        self.validate_output = validate;
        self
    }

    /// Connects to a server over Streamable HTTP. An old server that refuses the POST (HTTP 404
    /// or 405) is tried once more over the deprecated HTTP+SSE transport at the same URL, in the
    /// legacy era.
    pub async fn connect_http(self, server: crate::http::HttpServer) -> Result<Client> {
        // Boxed by a plain function of this crate: see `ClientBuilder::connect_boxed`.
        self.connect_http_boxed(server).await
    }

    fn connect_http_boxed(
        self,
        server: crate::http::HttpServer,
    ) -> futures::future::BoxFuture<'static, Result<Client>> {
        Box::pin(self.connect_http_unboxed(server))
    }

    async fn connect_http_unboxed(self, server: crate::http::HttpServer) -> Result<Client> {
        let fallback = ClientBuilder {
            era: EraChoice::Legacy,
            ..self.clone()
        };
        match self.connect(server.clone().transport()?).await {
            Err(Error::Http {
                status: 404 | 405, ..
            }) => fallback.connect(server.legacy_sse_transport().await?).await,
            other => other,
        }
    }

    /// Starts a server process and connects to it.
    pub async fn connect_stdio(self, server: StdioServer) -> Result<Client> {
        self.connect(server.spawn()?).await
    }

    /// Connects over a transport.
    pub async fn connect(self, transport: Transport) -> Result<Client> {
        self.connect_boxed(transport).await
    }

    /// The connection's future, boxed by a plain function of this crate. The future of an
    /// `async fn` counts as generic: a crate that awaits it compiles it again, with everything
    /// it awaits (here the negotiation of either era and, over HTTP, OAuth). Boxed here, a
    /// program polls what this crate compiled through a pointer.
    fn connect_boxed(
        self,
        transport: Transport,
    ) -> futures::future::BoxFuture<'static, Result<Client>> {
        Box::pin(self.connect_unboxed(transport))
    }

    async fn connect_unboxed(self, transport: Transport) -> Result<Client> {
        let Transport {
            out,
            incoming,
            close,
        } = transport;
        let inner = Arc::new(Inner {
            out,
            pending: Mutex::new(HashMap::new()),
            progress: Mutex::new(HashMap::new()),
            next_id: AtomicI64::new(1),
            handler: self.handler,
            info: self.info,
            timeout: self.timeout,
            log_level: self.log_level,
            max_rounds: self.max_rounds,
            validate_output: self.validate_output,
            server_requests: Arc::new(tokio::sync::Semaphore::new(self.max_server_requests)),
            max_server_requests: self.max_server_requests,
            session: Mutex::new(None),
            output_schemas: Mutex::new(HashMap::new()),
            modern_meta: Mutex::new(None),
            modern_members: Mutex::new(Vec::new()),
            close: tokio::sync::Mutex::new(close),
            typed: Default::default(),
            events: Default::default(),
            sweeper: Arc::new(tokio::sync::Notify::new()),
            sweeper_parked: std::sync::atomic::AtomicBool::new(true),
        });
        if let Outbound::Http(http) = &inner.out {
            // What an HTTP connection reads is handed over by the task that read it (the
            // caller's own, for the answer to its request), not through a task of this client.
            let weak = Arc::downgrade(&inner);
            http.deliver_to(Box::new(move |message| {
                if let Some(inner) = weak.upgrade()
                    && let Some(refusal) = dispatch(&inner, message)
                {
                    let _ = inner.out.try_send(refusal);
                }
            }));
        }
        if let Some(incoming) = incoming {
            tokio::spawn(read_loop(Arc::downgrade(&inner), incoming));
        }
        tokio::spawn(sweep(Arc::downgrade(&inner), inner.sweeper.clone()));
        let client = Client { inner };
        let session = match self.era {
            EraChoice::Legacy => client.initialize(self.legacy_version).await?,
            EraChoice::Modern => client.discover_session().await?,
            EraChoice::Auto => match client.probe(self.probe_timeout).await {
                Some(session) => session,
                None => client.initialize(self.legacy_version).await?,
            },
        };
        *client.inner.session.lock().expect("not poisoned") = Some(session);
        Ok(client)
    }
}

impl Client {
    /// A builder with defaults: auto era detection, a 60 s timeout, no handler.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// What was agreed with the server.
    pub fn session(&self) -> ServerSession {
        self.inner
            .session
            .lock()
            .expect("not poisoned")
            .clone()
            .expect("connected")
    }

    pub(crate) fn typed_cache(&self) -> &crate::typed::TypedCache {
        &self.inner.typed
    }

    pub(crate) fn events(&self) -> &crate::listen::Events {
        &self.inner.events
    }

    fn version(&self) -> Option<ProtocolVersion> {
        self.inner
            .session
            .lock()
            .expect("not poisoned")
            .as_ref()
            .map(|s| s.version)
    }

    /// What the handler answers: the current call's handler if one is set, else the client's.
    fn handler_capabilities(&self) -> HandlerCapabilities {
        CALL_HANDLER
            .try_with(|h| h.call_capabilities())
            .ok()
            .flatten()
            .unwrap_or_else(|| self.inner.handler.capabilities())
    }

    /// What the client declares; in the modern era a request made with its own handler (see
    /// [`Client::with_handler`]) declares that handler's `call_capabilities` when it has them.
    fn capabilities(&self) -> ClientCapabilities {
        Self::client_capabilities(self.handler_capabilities())
    }

    fn client_capabilities(caps: HandlerCapabilities) -> ClientCapabilities {
        ClientCapabilities {
            roots: caps.roots.then_some(RootsCapability {
                list_changed: Some(false),
            }),
            sampling: caps.sampling.then(SamplingCapability::default),
            elicitation: (caps.elicitation_form || caps.elicitation_url).then(|| {
                ElicitationCapability {
                    form: caps.elicitation_form.then(JsonObject::new),
                    url: caps.elicitation_url.then(JsonObject::new),
                }
            }),
            ..Default::default()
        }
    }

    /// The modern `_meta` of a request at `version`: built once per version and handler
    /// capabilities, then shared.
    fn modern_meta(&self, version: ProtocolVersion) -> Arc<Map<String, Value>> {
        let caps = self.handler_capabilities();
        let mut cached = self.inner.modern_meta.lock().expect("not poisoned");
        if let Some(m) = cached
            .as_ref()
            .filter(|m| m.version == version && m.caps == caps)
        {
            return m.meta.clone();
        }
        let mut meta = Meta::new();
        meta.set_protocol_version(version);
        meta.set_client_capabilities(&Self::client_capabilities(caps));
        meta.set_client_info(&self.inner.info);
        if let Some(level) = self.inner.log_level {
            meta.set_log_level(level);
        }
        let meta = Arc::new(meta.0);
        *cached = Some(ModernMeta {
            version,
            caps,
            meta: meta.clone(),
        });
        meta
    }

    /// The members of the modern `_meta` of a request at `version`, written (with the tasks
    /// extension declared when `tasks`): built once per version, handler capabilities and
    /// `tasks`, then shared. Written with each request as they are, they cost no copy and no
    /// serialization of the maps they come from.
    fn modern_members(&self, version: ProtocolVersion, tasks: bool) -> Arc<Members> {
        let caps = self.handler_capabilities();
        let mut cached = self.inner.modern_members.lock().expect("not poisoned");
        if let Some(m) = cached
            .iter()
            .find(|m| m.version == version && m.caps == caps && m.tasks == tasks)
        {
            return m.members.clone();
        }
        let mut meta = Value::Object(self.modern_meta(version).as_ref().clone());
        if tasks {
            declare_tasks_in_meta(&mut meta);
        }
        let Value::Object(meta) = meta else {
            unreachable!("made an object above")
        };
        let members: Arc<Members> = meta
            .into_iter()
            .map(|(k, v)| (k, to_raw(&v).expect("a JSON value serializes")))
            .collect();
        cached.push(ModernMembers {
            version,
            caps,
            tasks,
            members: members.clone(),
        });
        members
    }

    /// The written modern members for a request of this connection (`None` in the legacy era,
    /// whose requests carry none).
    fn modern_for(&self, tasks: bool) -> Option<Arc<Members>> {
        self.version()
            .filter(|v| v.era() == Era::Modern)
            .map(|v| self.modern_members(v, tasks))
    }

    /// The `server/discover` probe: a modern server answers; anything else means legacy.
    async fn probe(&self, timeout: Duration) -> Option<ServerSession> {
        let first = tokio::time::timeout(timeout, self.discover_at(ProtocolVersion::LATEST)).await;
        let raw = match first {
            Ok(Ok(raw)) => raw,
            // A refused version is a modern answer: the retry is not a probe any more.
            Ok(Err(Error::Server(e))) => {
                self.discover_at(Self::version_to_retry(&e)?).await.ok()?
            }
            _ => return None,
        };
        let result: DiscoverResult = serde_json::from_str(raw.get()).ok()?;
        Self::session_from_discover(result).ok()
    }

    async fn discover_session(&self) -> Result<ServerSession> {
        let raw = match self.discover_at(ProtocolVersion::LATEST).await {
            Err(Error::Server(e)) => match Self::version_to_retry(&e) {
                Some(v) => self.discover_at(v).await?,
                None => return Err(Error::Server(e)),
            },
            other => other?,
        };
        let result: DiscoverResult = serde_json::from_str(raw.get())
            .map_err(|e| Error::Protocol(format!("invalid discover result: {e}")))?;
        Self::session_from_discover(result)
    }

    /// `server/discover` at `version`.
    async fn discover_at(&self, version: ProtocolVersion) -> Result<Box<RawValue>> {
        let params = self.with_meta(Value::Null, Some(version), None);
        self.send_request(messages::Discover::METHOD, params, None)
            .await
    }

    /// When the server refused the version (-32022) and lists a modern one this client speaks:
    /// the newest such version, to ask again with.
    fn version_to_retry(e: &ErrorObject) -> Option<ProtocolVersion> {
        if e.code != mcp_core::ErrorCode::UNSUPPORTED_PROTOCOL_VERSION {
            return None;
        }
        e.data
            .as_ref()?
            .get("supported")?
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().and_then(ProtocolVersion::parse))
            .filter(|v| v.era() == Era::Modern)
            .max()
    }

    fn session_from_discover(result: DiscoverResult) -> Result<ServerSession> {
        let version = result
            .supported_versions
            .iter()
            .filter_map(|v| ProtocolVersion::parse(v))
            .filter(|v| v.era() == Era::Modern)
            .max()
            .ok_or_else(|| Error::NoCommonVersion {
                offered: result.supported_versions.clone(),
            })?;
        let server_info = result
            .meta
            .as_ref()
            .and_then(|m| m.server_info().ok().flatten());
        Ok(ServerSession {
            version,
            capabilities: result.capabilities,
            server_info,
            instructions: result.instructions,
        })
    }

    async fn initialize(&self, offer: ProtocolVersion) -> Result<ServerSession> {
        let params = InitializeRequestParams {
            protocol_version: offer.as_str().to_owned(),
            capabilities: self.capabilities(),
            client_info: self.inner.info.clone(),
            meta: None,
        };
        let raw = self
            .send_request(
                messages::Initialize::METHOD,
                serde_json::to_value(&params).expect("serializes"),
                None,
            )
            .await?;
        let result: InitializeResult = serde_json::from_str(raw.get())
            .map_err(|e| Error::Protocol(format!("invalid initialize result: {e}")))?;
        let version = ProtocolVersion::parse(&result.protocol_version)
            .filter(|v| v.era() == Era::Legacy)
            .ok_or_else(|| Error::NoCommonVersion {
                offered: vec![result.protocol_version.clone()],
            })?;
        self.notify::<messages::Initialized>(None).await?;
        if let Some(level) = self.inner.log_level {
            // Best effort: a server without logging answers with an error.
            let _ = self
                .send_request(
                    messages::SetLevel::METHOD,
                    serde_json::json!({ "level": level }),
                    None,
                )
                .await;
        }
        Ok(ServerSession {
            version,
            capabilities: result.capabilities,
            server_info: Some(result.server_info),
            instructions: result.instructions,
        })
    }

    /// Adds the modern `_meta` (and a progress token) to params.
    pub(crate) fn with_meta(
        &self,
        params: Value,
        version: Option<ProtocolVersion>,
        progress: Option<&RequestId>,
    ) -> Value {
        let version = version.or_else(|| self.version());
        let modern = version.filter(|v| v.era() == Era::Modern);
        if modern.is_none() && progress.is_none() {
            return params;
        }
        let mut object = match params {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let meta = object
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            if let Some(v) = modern {
                for (k, val) in self.modern_meta(v).iter() {
                    if !meta.contains_key(k) {
                        meta.insert(k.clone(), val.clone());
                    }
                }
            }
            if let Some(token) = progress {
                meta.insert(
                    "progressToken".into(),
                    serde_json::to_value(token).expect("serializes"),
                );
            }
        }
        Value::Object(object)
    }

    async fn notify<M: NotificationMethod>(&self, params: M::Params) -> Result<()> {
        let n = messages::Notification::<M>::new(params)
            .into_jsonrpc()
            .map_err(|e| Error::Protocol(e.to_string()))?;
        self.inner
            .out
            .send(JsonRpcMessage::Notification(n))
            .await
            .map_err(|_| Error::Connection("closed".into()))
    }

    /// Sends a request and waits for its answer; on timeout or when the future is dropped, the
    /// server is told the request is cancelled.
    async fn send_request(
        &self,
        method: &str,
        params: Value,
        progress: Option<ProgressFn>,
    ) -> Result<Box<RawValue>> {
        self.send_request_as(self.next_request_id(), method, &params, progress)
            .await
    }

    pub(crate) fn next_request_id(&self) -> RequestId {
        RequestId::Number(self.inner.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// [`Client::send_request`] with a chosen id (a subscription's id is its request's).
    pub(crate) async fn send_request_as(
        &self,
        id: RequestId,
        method: &str,
        params: &Value,
        progress: Option<ProgressFn>,
    ) -> Result<Box<RawValue>> {
        self.send_request_with(id, method, params, progress, None)
            .await
    }

    /// [`Client::send_request_as`], with the written members of the modern `_meta`
    /// ([`Client::modern_members`]) added to the params' own `_meta` (which keeps the members
    /// it sets).
    async fn send_request_with(
        &self,
        id: RequestId,
        method: &str,
        params: &Value,
        progress: Option<ProgressFn>,
        modern: Option<&Members>,
    ) -> Result<Box<RawValue>> {
        // Borrowed: a request of several rounds sends its params again. The modern members and
        // a progress token go into the `_meta` as it is written; the rest (the arguments) is
        // written as it is.
        let object = params.as_object();
        let own = object.and_then(|o| o.get("_meta"));
        let added = CALL_HANDLER
            .try_with(|h| h.request_meta())
            .unwrap_or_else(|_| self.inner.handler.request_meta());
        let raw_params = if (progress.is_some() || modern.is_some() || added.is_some())
            && own.is_none_or(Value::is_object)
        {
            let meta = MetaOut {
                own: own.and_then(Value::as_object),
                added: added.as_ref(),
                modern: modern.unwrap_or_default(),
                progress: progress.is_some().then_some(&id),
            };
            Some(
                to_raw(&WithMeta {
                    params: object,
                    meta: &meta,
                })
                .map_err(|e| Error::Protocol(e.to_string()))?,
            )
        } else {
            // A `_meta` that is not an object is sent as it is, with nothing added (as
            // `with_meta` leaves it).
            match params {
                Value::Null => None,
                p => Some(to_raw(p).map_err(|e| Error::Protocol(e.to_string()))?),
            }
        };
        let (tx, mut rx) = oneshot::channel();
        // `subscriptions/listen` lasts until it is cancelled.
        let deadline = if method == messages::SubscriptionsListen::METHOD {
            None
        } else {
            Instant::now().checked_add(self.inner.timeout)
        };
        {
            let mut pending = self.inner.pending.lock().expect("not poisoned");
            pending.insert(id.clone(), Waiter { tx, deadline });
            if deadline.is_some() && self.inner.sweeper_parked.swap(false, Ordering::Relaxed) {
                self.inner.sweeper.notify_one();
            }
        }
        if let Some(p) = progress {
            self.inner
                .progress
                .lock()
                .expect("not poisoned")
                .insert(id.clone(), p);
        }
        let mut guard = CancelGuard {
            client: self,
            id: id.clone(),
            armed: true,
        };
        let request = JsonRpcMessage::Request(JsonRpcRequest {
            id: id.clone(),
            method: method.to_owned(),
            params: raw_params,
        });
        let closed = || Error::Connection("the connection is closed".into());
        let reply = match &self.inner.out {
            Outbound::Queue(queue) => {
                queue.send(request).await.map_err(|_| closed())?;
                rx.await
            }
            Outbound::Http(http) => {
                // This task posts the request and reads what comes back, delivering it as it
                // goes: the answer is in `rx` when the exchange ends. A timeout (or an answer
                // that came another way) ends the wait first; the exchange then goes on in a
                // task of its own.
                let mut exchange = http.exchange(request).map_err(|_| closed())?;
                tokio::select! {
                    biased;
                    reply = &mut rx => reply,
                    () = &mut exchange => rx.await,
                }
            }
        };
        match reply {
            Ok(Reply::Answer(result)) => {
                guard.armed = false;
                self.forget(&id);
                result.map_err(classify)
            }
            Err(_) => {
                guard.armed = false;
                self.forget(&id);
                Err(Error::Connection(
                    "the connection closed before the answer".into(),
                ))
            }
            // The guard, still armed, tells the server the request is cancelled.
            Ok(Reply::TimedOut) => Err(Error::Timeout {
                method: method.to_owned(),
                seconds: self.inner.timeout.as_secs(),
            }),
        }
    }

    fn forget(&self, id: &RequestId) {
        self.inner.pending.lock().expect("not poisoned").remove(id);
        self.inner.progress.lock().expect("not poisoned").remove(id);
    }

    /// Sends any request, typed by its method marker, with the era's `_meta`.
    pub async fn request<M: RequestMethod>(&self, params: M::Params) -> Result<M::Result> {
        let params = serde_json::to_value(&params).map_err(|e| Error::Protocol(e.to_string()))?;
        let params = self.with_meta(params, None, None);
        let raw = self.send_request(M::METHOD, params, None).await?;
        serde_json::from_str(raw.get())
            .map_err(|e| Error::Protocol(format!("invalid result for `{}`: {e}", M::METHOD)))
    }

    /// Sends a request whose result may ask for input first (tools/call, prompts/get,
    /// resources/read), answering each round with the handler, up to the round limit.
    async fn request_with_input<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
        progress: Option<ProgressFn>,
    ) -> Result<T> {
        match self.request_rounds(method, params, progress, false).await? {
            Answer::Complete(result) => Ok(result),
            Answer::Task(_) => Err(Error::Protocol(
                "the server answered with a task, which this client did not ask for".into(),
            )),
        }
    }

    /// [`Client::request_with_input`], declaring the tasks extension when `tasks` (modern era):
    /// the answer may then be a task.
    async fn request_rounds<T: DeserializeOwned>(
        &self,
        method: &str,
        mut params: Value,
        progress: Option<ProgressFn>,
        tasks: bool,
    ) -> Result<Answer<T>> {
        // The modern `_meta` is written into each round's params, not copied into them. Params
        // that are not an object become one, to carry it (as `with_meta` makes them).
        let modern = self.modern_for(tasks);
        if modern.is_some() && !params.is_object() {
            params = Value::Object(Map::new());
        }
        for _ in 0..=self.inner.max_rounds {
            let raw = self
                .send_request_with(
                    self.next_request_id(),
                    method,
                    &params,
                    progress.clone(),
                    modern.as_deref(),
                )
                .await?;
            let outcome = Outcome::<T>::from_json(raw.get())
                .map_err(|e| Error::Protocol(format!("invalid result for `{method}`: {e}")))?;
            match outcome {
                Outcome::Complete(result) => return Ok(Answer::Complete(result)),
                Outcome::Task(task) => return Ok(Answer::Task(task)),
                Outcome::InputRequired(ir) => {
                    let mut responses = InputResponses::new();
                    let mut deferred = None;
                    for (key, request) in ir.input_requests.unwrap_or_default() {
                        let answer = crate::handler::INPUT_KEY
                            .scope(key.clone(), self.answer_input(request))
                            .await;
                        match answer {
                            Ok(response) => {
                                responses.insert(key, response);
                            }
                            Err(e) if e.code == crate::handler::INPUT_DEFERRED => {
                                deferred = Some(e);
                            }
                            Err(e) => return Err(Error::Server(e)),
                        }
                    }
                    if let Some(e) = deferred {
                        return Err(Error::Server(e));
                    }
                    let object = params.as_object_mut().expect("params are an object");
                    object.insert(
                        "inputResponses".into(),
                        serde_json::to_value(&responses).expect("serializes"),
                    );
                    match ir.request_state {
                        Some(state) => object.insert("requestState".into(), Value::String(state)),
                        None => object.remove("requestState"),
                    };
                }
            }
        }
        Err(Error::TooManyRounds(self.inner.max_rounds))
    }

    /// Runs `future` (requests made with this client) with `handler` answering the modern-era
    /// `input_required` rounds of its requests instead of the connection's handler. Legacy
    /// server-to-client requests do not say which request caused them and still reach the
    /// connection's handler.
    ///
    /// Not an `async fn`: one would hold `future` and the scope around it, twice its size.
    pub(crate) fn with_handler<F: std::future::Future>(
        handler: Arc<dyn DynHandler>,
        future: F,
    ) -> impl std::future::Future<Output = F::Output> {
        CALL_HANDLER.scope(handler, future)
    }

    async fn answer_input(
        &self,
        request: InputRequest,
    ) -> std::result::Result<InputResponse, ErrorObject> {
        let handler = CALL_HANDLER
            .try_with(Arc::clone)
            .unwrap_or_else(|_| self.inner.handler.clone());
        Ok(match request {
            InputRequest::Elicit(p) => {
                let mut answer = handler.elicit(p.clone()).await?;
                apply_elicitation_defaults(&p, &mut answer);
                InputResponse::Elicit(answer)
            }
            InputRequest::CreateMessage(p) => {
                InputResponse::CreateMessage(handler.sample(p).await?)
            }
            InputRequest::ListRoots(_) => InputResponse::ListRoots(ListRootsResult {
                roots: handler.roots().await?,
                meta: None,
            }),
        })
    }

    /// Lists every tool, following pages. Remembers their output schemas to check results.
    pub async fn list_tools(&self) -> Result<Vec<Tool>> {
        let mut tools: Vec<Tool> = self
            .paginate::<messages::ListTools, _>(|r: ListToolsResult| (r.tools, r.next_cursor))
            .await?;
        // A tool with a broken `x-mcp-header` annotation cannot be called correctly over HTTP:
        // it is left out, the others stay usable (2026-07-28 transports).
        tools.retain(
            |t| match crate::param_headers::header_params(&t.input_schema) {
                Ok(_) => true,
                Err(reason) => {
                    tracing::warn!(tool = %t.name, %reason, "tool left out: invalid x-mcp-header");
                    false
                }
            },
        );
        if self.inner.validate_output {
            let mut schemas = self.inner.output_schemas.lock().expect("not poisoned");
            for t in &tools {
                if let Some(schema) = &t.output_schema
                    && let Ok(v) = jsonschema::validator_for(&Value::Object(schema.clone()))
                {
                    schemas.insert(t.name.clone(), Arc::new(v));
                }
            }
        }
        Ok(tools)
    }

    /// Lists every resource, following pages.
    pub async fn list_resources(&self) -> Result<Vec<Resource>> {
        self.paginate::<messages::ListResources, _>(|r: ListResourcesResult| {
            (r.resources, r.next_cursor)
        })
        .await
    }

    /// Lists every resource template, following pages.
    pub async fn list_resource_templates(&self) -> Result<Vec<ResourceTemplate>> {
        self.paginate::<messages::ListResourceTemplates, _>(|r: ListResourceTemplatesResult| {
            (r.resource_templates, r.next_cursor)
        })
        .await
    }

    /// Lists every prompt, following pages.
    pub async fn list_prompts(&self) -> Result<Vec<Prompt>> {
        self.paginate::<messages::ListPrompts, _>(|r: ListPromptsResult| (r.prompts, r.next_cursor))
            .await
    }

    async fn paginate<M, T>(
        &self,
        split: impl Fn(M::Result) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>>
    where
        M: RequestMethod<Params = Option<PaginatedRequestParams>>,
    {
        const MAX_PAGES: usize = 1000;
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = cursor.clone().map(|c| PaginatedRequestParams {
                meta: None,
                cursor: Some(c),
            });
            let (items, next) = split(self.request::<M>(params).await?);
            all.extend(items);
            match next {
                Some(n) if Some(&n) != cursor.as_ref() => cursor = Some(n),
                Some(_) => {
                    return Err(Error::Protocol(
                        "the server repeated a pagination cursor".into(),
                    ));
                }
                None => return Ok(all),
            }
        }
        Err(Error::Protocol(format!("more than {MAX_PAGES} pages")))
    }

    /// Calls a tool. Input requests (modern) and server requests (legacy) are answered by the
    /// handler on the way. `structuredContent` is checked against the tool's output schema when
    /// the tool was listed first.
    pub async fn call_tool(&self, name: &str, arguments: impl Serialize) -> Result<CallToolResult> {
        self.call_tool_inner(name, arguments, None).await
    }

    /// Like [`Client::call_tool`], reporting progress to `on_progress`.
    pub async fn call_tool_with_progress(
        &self,
        name: &str,
        arguments: impl Serialize,
        on_progress: impl Fn(&ProgressNotificationParams) + Send + Sync + 'static,
    ) -> Result<CallToolResult> {
        self.call_tool_inner(name, arguments, Some(Arc::new(on_progress)))
            .await
    }

    async fn call_tool_inner(
        &self,
        name: &str,
        arguments: impl Serialize,
        progress: Option<ProgressFn>,
    ) -> Result<CallToolResult> {
        match self
            .call_tool_rounds(name, arguments, progress, false)
            .await?
        {
            ToolCall::Complete(result) => Ok(result),
            ToolCall::Task(_) => Err(Error::Protocol(
                "the server answered with a task, which this client did not ask for".into(),
            )),
        }
    }

    /// Calls a tool with the tasks extension declared (modern era; in the legacy era this is
    /// [`Client::call_tool`]): the server may run the call as a task, which is then returned
    /// as it is, to be followed with [`Client::get_task`], [`Client::update_task`] and
    /// [`Client::cancel_task`]. Input requests before the task is made are answered by the
    /// handler, as for [`Client::call_tool`].
    pub async fn call_tool_or_task(
        &self,
        name: &str,
        arguments: impl Serialize,
    ) -> Result<ToolCall> {
        self.call_tool_rounds(name, arguments, None, true).await
    }

    /// [`Client::call_tool_or_task`], reporting progress to `on_progress`.
    pub async fn call_tool_or_task_with_progress(
        &self,
        name: &str,
        arguments: impl Serialize,
        on_progress: impl Fn(&ProgressNotificationParams) + Send + Sync + 'static,
    ) -> Result<ToolCall> {
        self.call_tool_rounds(name, arguments, Some(Arc::new(on_progress)), true)
            .await
    }

    /// The task `id` (tasks extension): its status, and what the status calls for (input
    /// requests, the result, the error).
    pub async fn get_task(&self, id: &str) -> Result<Task> {
        let r: TaskResult = self
            .task_request(messages::GetTask::METHOD, task_id(id))
            .await?;
        Ok(r.task)
    }

    /// Answers input requests of the task `id` (tasks extension).
    pub async fn update_task(&self, id: &str, responses: InputResponses) -> Result<()> {
        let params = UpdateTaskRequestParams {
            task_id: id.to_owned(),
            input_responses: responses,
            meta: None,
        };
        let _: EmptyResult = self
            .task_request(messages::UpdateTask::METHOD, params)
            .await?;
        Ok(())
    }

    /// Cancels the task `id` (tasks extension); a task that already ended stays as it is.
    pub async fn cancel_task(&self, id: &str) -> Result<()> {
        let _: EmptyResult = self
            .task_request(messages::CancelTask::METHOD, task_id(id))
            .await?;
        Ok(())
    }

    /// A task method's request, with the tasks extension declared.
    async fn task_request<T: DeserializeOwned>(
        &self,
        method: &str,
        params: impl Serialize,
    ) -> Result<T> {
        let params = serde_json::to_value(params).map_err(|e| Error::Protocol(e.to_string()))?;
        let modern = self.modern_for(true);
        let raw = self
            .send_request_with(
                self.next_request_id(),
                method,
                &params,
                None,
                modern.as_deref(),
            )
            .await?;
        serde_json::from_str(raw.get())
            .map_err(|e| Error::Protocol(format!("invalid result for `{method}`: {e}")))
    }

    async fn call_tool_rounds(
        &self,
        name: &str,
        arguments: impl Serialize,
        progress: Option<ProgressFn>,
        tasks: bool,
    ) -> Result<ToolCall> {
        let arguments =
            serde_json::to_value(arguments).map_err(|e| Error::Protocol(e.to_string()))?;
        // Moved into the params: `json!` would copy the arguments' tree once more.
        let params = name_and_arguments(name, arguments);
        let result: CallToolResult = match self
            .request_rounds(messages::CallTool::METHOD, params, progress, tasks)
            .await?
        {
            Answer::Complete(result) => result,
            Answer::Task(task) => return Ok(ToolCall::Task(Box::new(task.task))),
        };
        if result.is_error != Some(true) {
            let validator = self
                .inner
                .output_schemas
                .lock()
                .expect("not poisoned")
                .get(name)
                .cloned();
            if let Some(v) = validator {
                let Some(structured) = &result.structured_content else {
                    return Err(Error::OutputSchema {
                        tool: name.to_owned(),
                        reason: "no structuredContent".into(),
                    });
                };
                if let Some(e) = v.iter_errors(structured).next() {
                    return Err(Error::OutputSchema {
                        tool: name.to_owned(),
                        reason: format!("{e} at {}", e.instance_path()),
                    });
                }
            }
        }
        Ok(ToolCall::Complete(result))
    }

    /// Reads a resource.
    pub async fn read_resource(&self, uri: &str) -> Result<Vec<ResourceContents>> {
        let r: ReadResourceResult = self
            .request_with_input(
                messages::ReadResource::METHOD,
                serde_json::json!({ "uri": uri }),
                None,
            )
            .await?;
        Ok(r.contents)
    }

    /// Gets a prompt with its arguments.
    pub async fn get_prompt<'a>(
        &self,
        name: &str,
        arguments: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<GetPromptResult> {
        let args: Map<String, Value> = arguments
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect();
        self.request_with_input(
            messages::GetPrompt::METHOD,
            name_and_arguments(name, Value::Object(args)),
            None,
        )
        .await
    }

    /// Completes an argument of a prompt or a variable of a resource template.
    pub async fn complete(
        &self,
        reference: CompletionReference,
        argument: &str,
        value: &str,
    ) -> Result<Completion> {
        let r = self
            .request::<messages::Complete>(CompleteRequestParams {
                reference,
                argument: CompletionArgument {
                    name: argument.to_owned(),
                    value: value.to_owned(),
                },
                context: None,
                meta: None,
            })
            .await?;
        Ok(r.completion)
    }

    /// Subscribes to updates of a resource (legacy era; modern servers use `subscriptions/listen`).
    pub async fn subscribe(&self, uri: &str) -> Result<()> {
        self.request::<messages::Subscribe>(SubscribeRequestParams {
            uri: uri.to_owned(),
            meta: None,
        })
        .await?;
        Ok(())
    }

    /// Pings the server (legacy era).
    pub async fn ping(&self) -> Result<()> {
        self.request::<messages::Ping>(None).await?;
        Ok(())
    }

    /// Closes the connection (for a child process: stdin, then SIGTERM, then SIGKILL) and
    /// waits until it is closed. Calls still waiting fail with a connection error.
    pub async fn close(&self) {
        let close = self.inner.close.lock().await.take();
        self.inner.pending.lock().expect("not poisoned").clear();
        if let Some(close) = close {
            close.await;
        }
    }
}

/// Params written with `meta` as their `_meta` (in the place a [`Map`] inserting it would keep
/// it), without copying them: the bytes of `params` cloned with `_meta` replaced.
struct WithMeta<'a, M: ?Sized> {
    /// The params' members; `None` for params that are not an object (they become `{_meta}`, as
    /// [`Client::with_meta`] makes them).
    params: Option<&'a Map<String, Value>>,
    meta: &'a M,
}

impl<M: Serialize + ?Sized> Serialize for WithMeta<'_, M> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        const META: &str = "_meta";
        let mut map = serializer.serialize_map(None)?;
        let mut placed = false;
        for (key, value) in self.params.into_iter().flatten() {
            if key == META {
                map.serialize_entry(META, self.meta)?;
                placed = true;
                continue;
            }
            // A sorted map keeps a new `_meta` before the first greater key (an
            // insertion-ordered one, with serde_json's `preserve_order`, at the end: the same
            // members either way).
            if !placed && key.as_str() > META {
                map.serialize_entry(META, self.meta)?;
                placed = true;
            }
            map.serialize_entry(key, value)?;
        }
        if !placed {
            map.serialize_entry(META, self.meta)?;
        }
        map.end()
    }
}

/// The `_meta` a request is written with: the params' own members (but a progress token
/// when the request has one of its own), the handler's ([`ClientHandler::request_meta`]) and
/// the modern members the params do not set, and the request's progress token: what
/// [`Client::with_meta`] would make of them, without copying.
struct MetaOut<'a> {
    own: Option<&'a Map<String, Value>>,
    added: Option<&'a Map<String, Value>>,
    modern: &'a Members,
    progress: Option<&'a RequestId>,
}

impl Serialize for MetaOut<'_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        const PROGRESS: &str = "progressToken";
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.own.into_iter().flatten() {
            if self.progress.is_some() && key == PROGRESS {
                continue;
            }
            map.serialize_entry(key, value)?;
        }
        let set = |key: &str| self.own.is_some_and(|own| own.contains_key(key));
        for (key, value) in self.added.into_iter().flatten() {
            // The progress token and the protocol's members are the client's own.
            if set(key) || key == PROGRESS || reserved(key) {
                continue;
            }
            map.serialize_entry(key, value)?;
        }
        for (key, value) in self.modern {
            if set(key) {
                continue;
            }
            map.serialize_entry(key, value)?;
        }
        if let Some(token) = self.progress {
            map.serialize_entry(PROGRESS, token)?;
        }
        map.end()
    }
}

/// Whether a `_meta` key is the protocol's: its prefix has a label `modelcontextprotocol` or
/// `mcp` (`io.modelcontextprotocol/protocolVersion`), which the specification reserves.
fn reserved(key: &str) -> bool {
    key.rsplit_once('/').is_some_and(|(prefix, _)| {
        prefix
            .split('.')
            .any(|label| label == "modelcontextprotocol" || label == "mcp")
    })
}

/// The params `{"name": name, "arguments": arguments}`, the arguments moved in.
fn name_and_arguments(name: &str, arguments: Value) -> Value {
    let mut params = Map::new();
    params.insert("name".to_owned(), Value::String(name.to_owned()));
    params.insert("arguments".to_owned(), arguments);
    Value::Object(params)
}

/// The params naming a task.
fn task_id(id: &str) -> TaskIdParams {
    TaskIdParams {
        task_id: id.to_owned(),
        meta: None,
    }
}

/// Declares the tasks extension in the client capabilities of a modern `_meta`.
fn declare_tasks_in_meta(meta: &mut Value) {
    let Some(capabilities) = meta
        .get_mut(mcp_core::meta::keys::CLIENT_CAPABILITIES)
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let extensions = capabilities
        .entry("extensions")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(extensions) = extensions {
        extensions
            .entry(TASKS_EXTENSION)
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Errors the transport made up become connection and HTTP errors; the rest came from the server.
fn classify(e: ErrorObject) -> Error {
    let data = e.data.as_ref();
    if let Some(status) = data
        .and_then(|d| d.get(crate::http::HTTP_STATUS))
        .and_then(Value::as_u64)
    {
        let message = e
            .message
            .split_once(": ")
            .map_or(e.message.as_str(), |(_, m)| m)
            .to_owned();
        return Error::Http {
            status: status as u16,
            message,
        };
    }
    if data.is_some_and(|d| d.get(crate::http::TRANSPORT_ERROR).is_some()) {
        return Error::Connection(e.message);
    }
    Error::Server(e)
}

/// Tells the server a request is cancelled when its waiter goes away without an answer.
struct CancelGuard<'a> {
    client: &'a Client,
    id: RequestId,
    armed: bool,
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.client.forget(&self.id);
        if let Ok(n) = JsonRpcNotification::new(
            messages::Cancelled::METHOD,
            &CancelledNotificationParams {
                request_id: Some(self.id.clone()),
                reason: Some("the client no longer waits for the answer".into()),
                meta: None,
            },
        ) {
            let _ = self
                .client
                .inner
                .out
                .try_send(JsonRpcMessage::Notification(n));
        }
    }
}

/// How many server-to-client requests are answered at once by default.
const DEFAULT_MAX_SERVER_REQUESTS: usize = 16;

/// Ends the requests whose deadline passed: one timer per client rather than one per request.
///
/// Every request's deadline is its start plus the client's timeout, so a request sent while the
/// sweeper sleeps towards an earlier deadline never needs to wake it, and the sweeper wakes at
/// each deadline exactly (it sleeps until the earliest one pending). With nothing pending it
/// waits one more timeout, then parks until a request comes. A timer per request cost every call
/// a write to the runtime's eventfd and a second `epoll_wait` when no other timer was pending (a
/// new timer earlier than any the time driver knows wakes it); one that stays armed does not.
async fn sweep(inner: std::sync::Weak<Inner>, wake: Arc<tokio::sync::Notify>) {
    let mut until: Option<Instant> = None;
    let mut lingering = false;
    loop {
        match until {
            Some(at) => tokio::select! {
                () = tokio::time::sleep_until(at.into()) => {}
                () = wake.notified() => {}
            },
            None => wake.notified().await,
        }
        let Some(inner) = inner.upgrade() else { return };
        let now = Instant::now();
        let mut pending = inner.pending.lock().expect("not poisoned");
        let expired: Vec<RequestId> = pending
            .iter()
            .filter(|(_, w)| w.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(w) = pending.remove(&id) {
                let _ = w.tx.send(Reply::TimedOut);
            }
        }
        let next = pending.values().filter_map(|w| w.deadline).min();
        until = match next {
            Some(at) => {
                lingering = false;
                Some(at)
            }
            None if !lingering => {
                lingering = true;
                now.checked_add(inner.timeout)
            }
            None => None,
        };
        if until.is_none() {
            inner.sweeper_parked.store(true, Ordering::Relaxed);
        }
    }
}

async fn read_loop(inner: std::sync::Weak<Inner>, mut incoming: crate::transport::Incoming) {
    use futures::StreamExt as _;
    while let Some(message) = incoming.next().await {
        let Some(inner) = inner.upgrade() else { return };
        if let Some(refusal) = dispatch(&inner, message) {
            let _ = inner.out.send(refusal).await;
        }
    }
    // The connection ended: every waiter learns it.
    if let Some(inner) = inner.upgrade() {
        inner.pending.lock().expect("not poisoned").clear();
    }
}

/// Takes a message the server sent: an answer to its waiter, a notification to the handler, a
/// request to a task that answers it; or returns the refusal to send when too many of the
/// server's requests are being answered already.
fn dispatch(inner: &Arc<Inner>, message: JsonRpcMessage) -> Option<JsonRpcMessage> {
    match message {
        JsonRpcMessage::Response(r) => {
            if let Some(w) = inner.pending.lock().expect("not poisoned").remove(&r.id) {
                let _ = w.tx.send(Reply::Answer(Ok(r.result)));
            }
        }
        JsonRpcMessage::Error(e) => match e.id {
            Some(id) => {
                if let Some(w) = inner.pending.lock().expect("not poisoned").remove(&id) {
                    let _ = w.tx.send(Reply::Answer(Err(e.error)));
                }
            }
            None => {
                tracing::warn!(error = %e.error, "the server reported an error without an id")
            }
        },
        JsonRpcMessage::Notification(n) => on_notification(inner, n),
        JsonRpcMessage::Request(r) => match inner.server_requests.clone().try_acquire_owned() {
            Ok(permit) => {
                let inner = inner.clone();
                tokio::spawn(async move {
                    answer_server_request(inner, r).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tracing::warn!(method = %r.method, "a server request was refused: too many at once");
                let busy = ErrorObject::new(
                    mcp_core::ErrorCode(-32000),
                    format!(
                        "the client is busy: more than {} server requests at once",
                        inner.max_server_requests
                    ),
                );
                return Some(JsonRpcMessage::Error(JsonRpcError::new(Some(r.id), busy)));
            }
        },
    }
    None
}

fn on_notification(inner: &Inner, n: JsonRpcNotification) {
    inner.events.dispatch(&n);
    let Ok(parsed) = ServerNotification::parse(&n.method, n.params.as_deref()) else {
        tracing::debug!(method = %n.method, "notification ignored");
        return;
    };
    match parsed {
        ServerNotification::Progress(p) => {
            let callback = inner
                .progress
                .lock()
                .expect("not poisoned")
                .get(&p.progress_token)
                .cloned();
            if let Some(cb) = callback {
                cb(&p);
            }
            inner.handler.on_progress(&p);
        }
        ServerNotification::LoggingMessage(p) => inner.handler.on_log(&p),
        ServerNotification::ToolListChanged(_) => {
            inner.output_schemas.lock().expect("not poisoned").clear();
            inner.typed.clear();
            inner.handler.on_change(Change::Tools);
        }
        ServerNotification::PromptListChanged(_) => inner.handler.on_change(Change::Prompts),
        ServerNotification::ResourceListChanged(_) => inner.handler.on_change(Change::Resources),
        ServerNotification::ResourceUpdated(p) => inner.handler.on_change(Change::Resource(p.uri)),
        _ => {}
    }
}

async fn answer_server_request(inner: Arc<Inner>, r: JsonRpcRequest) {
    let outcome: std::result::Result<Box<RawValue>, ErrorObject> = async {
        let request = ServerRequest::parse(&r.method, r.params.as_deref())?;
        let raw = |v: &dyn erased::Ser| v.to_raw();
        match request {
            ServerRequest::Ping(_) => Ok(RawValue::from_string("{}".into()).expect("valid")),
            ServerRequest::Elicit(p) => {
                let mut answer = inner.handler.elicit(p.clone()).await?;
                apply_elicitation_defaults(&p, &mut answer);
                raw(&answer)
            }
            ServerRequest::CreateMessage(p) => raw(&inner.handler.sample(p).await?),
            ServerRequest::ListRoots(_) => raw(&ListRootsResult {
                roots: inner.handler.roots().await?,
                meta: None,
            }),
            other => Err(ErrorObject::method_not_found(other.method())),
        }
    }
    .await;
    let message = match outcome {
        Ok(result) => JsonRpcMessage::Response(JsonRpcResponse { id: r.id, result }),
        Err(error) => JsonRpcMessage::Error(JsonRpcError::new(Some(r.id), error)),
    };
    let _ = inner.out.send(message).await;
}

mod erased {
    use mcp_core::ErrorObject;
    use serde_json::value::RawValue;

    /// Serializes any result for the answer to a server request.
    pub(super) trait Ser {
        fn to_raw(&self) -> Result<Box<RawValue>, ErrorObject>;
    }

    impl<T: serde::Serialize> Ser for T {
        fn to_raw(&self) -> Result<Box<RawValue>, ErrorObject> {
            mcp_core::jsonrpc::to_raw(self).map_err(|e| ErrorObject::internal_error(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// What `Client::with_meta` makes of params: a copy with `_meta` set.
    fn copied(params: &Value, meta: &Value) -> String {
        let mut object = match params {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        object.insert("_meta".to_owned(), meta.clone());
        serde_json::to_string(&Value::Object(object)).unwrap()
    }

    /// The modern members and a progress token go into the `_meta` as it is written, as
    /// `Client::with_meta` merges them into a copy: the params' own members win, but a progress
    /// token of their own, which the request's replaces.
    #[test]
    fn modern_members_are_written_as_a_merged_copy_would_be() {
        let modern: Vec<(String, Box<RawValue>)> = [
            (
                "io.modelcontextprotocol/protocolVersion",
                json!("2026-07-28"),
            ),
            (
                "io.modelcontextprotocol/clientCapabilities",
                json!({"roots": {}}),
            ),
            (
                "io.modelcontextprotocol/clientInfo",
                json!({"name": "c", "version": "1"}),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), to_raw(&v).unwrap()))
        .collect();
        let cases = [
            json!({"name": "add", "arguments": {"a": 1}}),
            json!({"name": "add", "_meta": {"progressToken": 1, "mine": true}}),
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "mine"}}),
            json!({"Z": 1, "_a": 2, "a": 3}),
            json!({}),
            Value::Null,
        ];
        let id = RequestId::Number(9);
        for params in cases {
            for progress in [None, Some(&id)] {
                let written = to_raw(&WithMeta {
                    params: params.as_object(),
                    meta: &MetaOut {
                        own: params.get("_meta").and_then(Value::as_object),
                        added: None,
                        modern: &modern,
                        progress,
                    },
                })
                .unwrap();
                let mut expected = params.as_object().cloned().unwrap_or_default();
                let meta = expected
                    .entry("_meta")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .unwrap();
                for (k, v) in &modern {
                    if !meta.contains_key(k) {
                        meta.insert(k.clone(), serde_json::from_str(v.get()).unwrap());
                    }
                }
                if let Some(token) = progress {
                    meta.insert("progressToken".into(), json!(token));
                }
                let written: Value = serde_json::from_str(written.get()).unwrap();
                assert_eq!(
                    written,
                    Value::Object(expected),
                    "params {params}, {progress:?}"
                );
            }
        }
    }

    #[test]
    fn params_with_their_meta_replaced_are_written_as_a_copy_would_be() {
        let meta =
            json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "progressToken": 7});
        let cases = [
            json!({"name": "add", "arguments": {"a": 1, "b": [2, {"z": null}]}}),
            json!({"name": "add", "_meta": {"progressToken": 1}, "arguments": {}}),
            json!({"_meta": 5}),
            json!({"A": 1, "Z": 2, "_a": 3, "^": 4, "a": 5}),
            json!({"Zz": "before", "`": "after"}),
            json!({}),
            json!([1, 2]),
            json!("text"),
            Value::Null,
        ];
        for params in cases {
            let written = serde_json::to_string(&WithMeta {
                params: params.as_object(),
                meta: &meta,
            })
            .unwrap();
            assert_eq!(written, copied(&params, &meta), "params {params}");
        }
    }
}
