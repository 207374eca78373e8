//! The engine of a connection: routes each incoming message by era, runs requests concurrently
//! with a bound, cancels them, carries server-to-client requests, and forwards change
//! notifications.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use mcp_core::jsonrpc::{JsonRpcNotification, JsonRpcRequest, JsonRpcResponse, from_raw};
use mcp_core::messages::{
    self, ClientNotification, ClientRequest, NotificationMethod, RequestMethod,
};
use mcp_core::types::*;
use mcp_core::{
    Era, ErrorCode, ErrorObject, JsonRpcError, JsonRpcMessage, Meta, ProtocolVersion, RequestId,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_util::sync::CancellationToken;

use crate::audit::{AuditKind, AuditRecord, Outcome};
use crate::context::{ClientSide, Context, ContextInner, InputMode, LogLevelSource, Mrtr};
use crate::identity::Identity;
use crate::peer::{Peer, Sink};
use crate::request_meta::{ClientMembers, Members, ParamsMeta, RequestMeta};
use crate::server::{Event, Server};
use crate::shape::Shape;

/// The state of a legacy session, from `initialize` on.
struct Legacy {
    version: ProtocolVersion,
    /// Its capabilities and info, as `initialize` gave them (`info` always set).
    client: Arc<ClientSide>,
    log_level: Arc<Mutex<Option<LoggingLevel>>>,
    initialized: bool,
    /// Who initialized it, for the record of its end (`None` for a session restored from
    /// another replica's record: its start is in that replica's trail).
    opened_by: Option<Identity>,
    /// Whether its end was audited.
    ended: bool,
}

type PendingMap = HashMap<RequestId, oneshot::Sender<Result<Box<RawValue>, ErrorObject>>>;

/// The state of a legacy session that another replica needs to serve it: what `initialize`
/// negotiated and what the client set since (HTTP sessions shared through a store).
#[cfg(feature = "http")]
#[derive(Debug, Clone)]
pub(crate) struct LegacyState {
    pub(crate) version: ProtocolVersion,
    pub(crate) client_capabilities: ClientCapabilities,
    pub(crate) client_info: Implementation,
    pub(crate) log_level: Option<LoggingLevel>,
    pub(crate) initialized: bool,
    pub(crate) subscriptions: BTreeSet<String>,
}

/// Called after the session's state changed (log level, subscriptions), before the request
/// that changed it is answered: HTTP sessions shared through a store save their record.
#[cfg(feature = "http")]
pub(crate) type OnChange = Box<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// One connection: a stdio process, or one HTTP session (legacy) or request (modern).
pub(crate) struct Connection {
    server: Server,
    /// Messages not tied to a request (change notifications; on HTTP the session's GET stream).
    /// `None` for a stateless connection, which has no such messages.
    sink: Option<Sink>,
    legacy: Mutex<Option<Legacy>>,
    inflight: Mutex<HashMap<RequestId, (u64, CancellationToken)>>,
    next_slot: AtomicI64,
    pending: Mutex<PendingMap>,
    next_id: AtomicI64,
    limit: Arc<Semaphore>,
    max_in_flight: u32,
    subscriptions: Mutex<BTreeSet<String>>,
    shutdown: CancellationToken,
    /// The caller of requests that carry no identity of their own (stdio: the configured one).
    identity: Option<Identity>,
    /// The legacy HTTP session this connection serves.
    session_id: Option<Arc<str>>,
    /// Bumped at each change of the legacy state (see [`LegacyState`]).
    revision: AtomicU64,
    #[cfg(feature = "http")]
    on_change: std::sync::OnceLock<OnChange>,
    /// A stateless connection's protocol version, as the HTTP layer read it from the request's
    /// `_meta` (which it reads as the engine does): the era is not peeked at again.
    #[cfg(feature = "http")]
    modern: Option<ProtocolVersion>,
    /// The members of the request's `_meta` the HTTP layer read with that version, for the
    /// engine to take instead of scanning `_meta` again.
    #[cfg(feature = "http")]
    members: Mutex<Option<Members>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shutdown.cancel();
        // The session's subscriptions end with it.
        let subscriptions = std::mem::take(
            self.subscriptions
                .get_mut()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for uri in &subscriptions {
            self.server.inner.subscribers.remove(uri);
        }
    }
}

/// `params._meta` as a whole, for the rare request [`ParamsMeta`] cannot read (a key given twice,
/// or a `_meta` that is not an object: then the error the engine answers).
#[derive(Deserialize)]
struct PeekMeta {
    #[serde(rename = "_meta", default)]
    meta: Option<Meta>,
}

/// The longest method name an audit record of a refusal copies, in characters.
const MAX_AUDITED_METHOD: usize = 128;

/// A client's name or version as an audit record quotes it: at most 64 characters.
fn bounded(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// The reason audited for params that do not parse (never the parser's message, which may quote
/// argument values).
const UNPARSEABLE: &str = "unparseable params";

fn error_message(id: RequestId, error: ErrorObject) -> JsonRpcMessage {
    JsonRpcMessage::Error(JsonRpcError::new(Some(id), error))
}

/// Leaves the requests in flight (see [`Connection::enter`]) however the request ends: answered,
/// cancelled, or its future dropped.
struct Leave<'a>(&'a Connection, RequestId, Option<u64>);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.leave(&self.1, self.2);
    }
}

fn supported_versions() -> Vec<&'static str> {
    let mut v = vec![ProtocolVersion::V2026_07_28.as_str()];
    v.extend(ProtocolVersion::LEGACY.iter().map(|v| v.as_str()));
    v
}

impl Connection {
    /// A connection that may become a legacy session: change notifications go to `sink` once the
    /// client is initialized. At most [`crate::ServerOptions::max_in_flight`] requests run at once.
    pub(crate) fn new(server: Server, sink: Sink) -> Arc<Self> {
        let max = server.inner.options.max_in_flight;
        Self::session(server, sink, max, None)
    }

    /// Like [`Connection::new`], running at most `max_in_flight` requests at once.
    pub(crate) fn session(
        server: Server,
        sink: Sink,
        max_in_flight: usize,
        session_id: Option<Arc<str>>,
    ) -> Arc<Self> {
        let conn = Self::build(server, Some(sink), max_in_flight, session_id);
        conn.spawn_event_forwarder();
        conn
    }

    /// A connection for one stateless (modern) request: no session state, and no messages
    /// besides those of its requests, so no change notifications are forwarded. `version` is
    /// the supported modern version the request's `_meta` names, when the caller has read it
    /// (`None`: the connection reads it, and answers an unsupported one), and `members` what
    /// the caller read of that `_meta` (`None`: the connection reads them).
    #[cfg(feature = "http")]
    pub(crate) fn stateless(
        server: Server,
        version: Option<ProtocolVersion>,
        members: Option<Members>,
    ) -> Arc<Self> {
        let mut conn = Self::build(server, None, 1, None);
        let built = Arc::get_mut(&mut conn).expect("not shared yet");
        built.modern = version.filter(|v| v.era() == Era::Modern);
        built.members = Mutex::new(members);
        conn
    }

    fn build(
        server: Server,
        sink: Option<Sink>,
        max_in_flight: usize,
        session_id: Option<Arc<str>>,
    ) -> Arc<Self> {
        let max = max_in_flight.clamp(1, 1 << 16);
        Arc::new(Connection {
            identity: server.inner.identity.clone(),
            session_id,
            server,
            sink,
            legacy: Mutex::new(None),
            inflight: Mutex::new(HashMap::new()),
            next_slot: AtomicI64::new(0),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicI64::new(1),
            limit: Arc::new(Semaphore::new(max)),
            max_in_flight: max as u32,
            subscriptions: Mutex::new(BTreeSet::new()),
            shutdown: CancellationToken::new(),
            revision: AtomicU64::new(0),
            #[cfg(feature = "http")]
            on_change: std::sync::OnceLock::new(),
            #[cfg(feature = "http")]
            modern: None,
            #[cfg(feature = "http")]
            members: Mutex::new(None),
        })
    }

    /// How many times the legacy state changed.
    #[cfg(feature = "http")]
    pub(crate) fn revision(&self) -> u64 {
        self.revision.load(Ordering::SeqCst)
    }

    fn changed(&self) {
        self.revision.fetch_add(1, Ordering::SeqCst);
    }

    /// Runs `f` after each change of the legacy state made by a request, before its answer.
    #[cfg(feature = "http")]
    pub(crate) fn on_change(&self, f: OnChange) {
        let _ = self.on_change.set(f);
    }

    async fn after_change(&self) {
        self.changed();
        #[cfg(feature = "http")]
        if let Some(f) = self.on_change.get() {
            f().await;
        }
    }

    /// The legacy state, once `initialize` came.
    #[cfg(feature = "http")]
    pub(crate) fn legacy_state(&self) -> Option<LegacyState> {
        let legacy = self.legacy.lock().expect("not poisoned");
        let l = legacy.as_ref()?;
        Some(LegacyState {
            version: l.version,
            client_capabilities: l.client.capabilities.clone(),
            client_info: l.client.info.clone().unwrap_or_default(),
            log_level: *l.log_level.lock().expect("not poisoned"),
            initialized: l.initialized,
            subscriptions: self.subscriptions.lock().expect("not poisoned").clone(),
        })
    }

    /// Applies what the client changed through another replica (initialized, log level,
    /// subscriptions); what `initialize` negotiated stays.
    #[cfg(feature = "http")]
    pub(crate) fn update(&self, state: &LegacyState) {
        if let Some(l) = self.legacy.lock().expect("not poisoned").as_mut() {
            l.initialized |= state.initialized;
            *l.log_level.lock().expect("not poisoned") = state.log_level;
        }
        let mut subscriptions = self.subscriptions.lock().expect("not poisoned");
        self.server
            .inner
            .subscribers
            .replace(&subscriptions, &state.subscriptions);
        subscriptions.clone_from(&state.subscriptions);
    }

    /// Takes over a session another replica started: as if `initialize` (and what followed)
    /// had happened here.
    #[cfg(feature = "http")]
    pub(crate) fn restore(&self, state: LegacyState) {
        {
            let mut subscriptions = self.subscriptions.lock().expect("not poisoned");
            self.server
                .inner
                .subscribers
                .replace(&subscriptions, &state.subscriptions);
            *subscriptions = state.subscriptions;
        }
        *self.legacy.lock().expect("not poisoned") = Some(Legacy {
            version: state.version,
            client: Arc::new(ClientSide {
                capabilities: state.client_capabilities,
                info: Some(state.client_info),
            }),
            log_level: Arc::new(Mutex::new(state.log_level)),
            initialized: state.initialized,
            opened_by: None,
            ended: false,
        });
    }

    /// The version negotiated by `initialize`, once the client sent it.
    #[cfg(feature = "http")]
    pub(crate) fn legacy_version(&self) -> Option<ProtocolVersion> {
        self.legacy
            .lock()
            .expect("not poisoned")
            .as_ref()
            .map(|l| l.version)
    }

    /// Completes when the connection is closed ([`Connection::close`], or dropped).
    #[cfg(feature = "http")]
    pub(crate) async fn closed(&self) {
        self.shutdown.cancelled().await;
    }

    /// Audits the end of its legacy session, once, and why (`reason`): a connection that never
    /// initialized had none.
    pub(crate) fn end_session(&self, reason: &str) {
        let audit = &self.server.inner.audit;
        if !audit.is_enabled() {
            return;
        }
        let opened_by = match &mut *self.legacy.lock().expect("not poisoned") {
            Some(legacy) if !legacy.ended => {
                legacy.ended = true;
                legacy.opened_by.clone()
            }
            _ => return,
        };
        let mut r = AuditRecord::new(AuditKind::Session, "session/end")
            .with_principal(opened_by.as_ref())
            .with_reason(reason);
        if let Some(session) = &self.session_id {
            r = r.with_session_id(session.as_ref());
        }
        audit.record(&r);
    }

    /// Cancels every running request (end of input, session closed).
    pub(crate) fn close(&self) {
        for (_, (_, token)) in self.inflight.lock().expect("not poisoned").drain() {
            token.cancel();
        }
        self.pending.lock().expect("not poisoned").clear();
        self.shutdown.cancel();
    }

    /// Waits until no request is running, at most `grace`.
    pub(crate) async fn drain(&self, grace: Duration) {
        let all = self.limit.acquire_many(self.max_in_flight);
        let _ = tokio::time::timeout(grace, all).await;
    }

    fn spawn_event_forwarder(self: &Arc<Self>) {
        self.server.follow_remote_events();
        let weak: Weak<Connection> = Arc::downgrade(self);
        let mut events = self.server.inner.events.subscribe();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    () = shutdown.cancelled() => break,
                    e = events.recv() => e,
                };
                let event = match event {
                    Ok(e) => e,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                };
                let Some(conn) = weak.upgrade() else { break };
                conn.forward_legacy(&event);
            }
        });
    }

    fn forward_legacy(&self, event: &Event) {
        let initialized = self
            .legacy
            .lock()
            .expect("not poisoned")
            .as_ref()
            .is_some_and(|l| l.initialized);
        if !initialized {
            return;
        }
        let message = match event {
            Event::ToolsChanged => notification::<messages::ToolListChanged>(None),
            Event::PromptsChanged => notification::<messages::PromptListChanged>(None),
            Event::ResourcesChanged => notification::<messages::ResourceListChanged>(None),
            Event::ResourceUpdated(uri) => {
                if !self
                    .subscriptions
                    .lock()
                    .expect("not poisoned")
                    .contains(uri)
                {
                    return;
                }
                notification::<messages::ResourceUpdated>(ResourceUpdatedNotificationParams {
                    uri: uri.clone(),
                    meta: None,
                })
            }
        };
        if let (Some(m), Some(sink)) = (message, &self.sink) {
            sink.send(m);
        }
    }

    /// Handles one incoming message. A request waits for a free slot (back-pressure on the
    /// reader), then starts in the caller's task and, once it waits for anything, goes on in a
    /// task of its own; its messages and its response go to `sink`.
    pub(crate) async fn handle(self: &Arc<Self>, message: JsonRpcMessage, sink: Sink) {
        let identity = self.identity.clone();
        self.handle_as(message, sink, identity).await;
    }

    /// Like [`Connection::handle`], for a request made by `identity` (HTTP: the authenticated
    /// caller of this very request).
    pub(crate) async fn handle_as(
        self: &Arc<Self>,
        message: JsonRpcMessage,
        sink: Sink,
        identity: Option<Identity>,
    ) {
        match message {
            // The handshake is answered before the next message is read, so that requests sent
            // right behind `initialize` (without waiting for its answer) find the session.
            JsonRpcMessage::Request(req) if req.method == messages::Initialize::METHOD => {
                let cancel = self.shutdown.child_token();
                // Boxed: inline, the request's future would make every caller of `handle_as`
                // that large.
                let answer = Box::pin(self.answer(req, sink.clone(), cancel, identity));
                if let Some(answer) = answer.await {
                    sink.send_reliable(answer).await;
                }
            }
            JsonRpcMessage::Request(req) => {
                let Ok(permit) = self.limit.clone().acquire_owned().await else {
                    return;
                };
                let mut request = self.request(req, sink, permit, identity);
                // Started here: a request that answers without waiting for anything (most do)
                // costs no task of its own; one that waits goes on in a task.
                let answered = std::future::poll_fn(|cx| {
                    std::task::Poll::Ready(request.as_mut().poll(cx).is_ready())
                })
                .await;
                if !answered {
                    tokio::spawn(request);
                }
            }
            other => self.deliver(other),
        }
    }

    /// Takes a message that is not a request: a notification, or the client's answer to a
    /// server-to-client request.
    pub(crate) fn deliver(&self, message: JsonRpcMessage) {
        match message {
            // Requests need a sink for their response: see `handle`.
            JsonRpcMessage::Request(req) => {
                tracing::warn!(method = %req.method, "request delivered without a sink: dropped");
            }
            JsonRpcMessage::Notification(n) => self.notification(n),
            JsonRpcMessage::Response(r) => {
                if let Some(tx) = self.pending.lock().expect("not poisoned").remove(&r.id) {
                    let _ = tx.send(Ok(r.result));
                }
            }
            JsonRpcMessage::Error(e) => {
                let Some(id) = e.id else {
                    tracing::warn!(error = %e.error, "the client reported an error");
                    return;
                };
                if let Some(tx) = self.pending.lock().expect("not poisoned").remove(&id) {
                    let _ = tx.send(Err(e.error));
                }
            }
        }
    }

    /// A request to its response, sent to `sink`. Entered among the requests in flight before
    /// it first runs, so that a cancellation read right behind it finds it.
    fn request(
        self: &Arc<Self>,
        req: JsonRpcRequest,
        sink: Sink,
        permit: OwnedSemaphorePermit,
        identity: Option<Identity>,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        let (cancel, slot) = self.enter(&req.id);
        let this = self.clone();
        Box::pin(async move {
            let _permit = permit;
            let leave = Leave(&this, req.id.clone(), slot);
            let message = this
                .answer(req, sink.clone(), cancel.clone(), identity)
                .await;
            drop(leave);
            if let Some(message) = message
                && !cancel.is_cancelled()
            {
                sink.send_reliable(message).await;
            }
        })
    }

    /// A request's cancellation token, and the slot it has among the requests in flight when
    /// the client can cancel it by id (`None`: a stateless connection, which gets its one
    /// request and nothing else; a modern request is cancelled by closing its stream, which
    /// closes the connection).
    fn enter(&self, id: &RequestId) -> (CancellationToken, Option<u64>) {
        if self.sink.is_none() {
            // Its one request ends with the connection, and the connection with it.
            return (self.shutdown.clone(), None);
        }
        let cancel = self.shutdown.child_token();
        let slot = self.next_slot.fetch_add(1, Ordering::Relaxed) as u64;
        if let Some((_, old)) = self
            .inflight
            .lock()
            .expect("not poisoned")
            .insert(id.clone(), (slot, cancel.clone()))
        {
            // A client reusing an id in flight: the earlier request can no longer be cancelled
            // by id, so it is cancelled now rather than left unreachable.
            old.cancel();
        }
        (cancel, Some(slot))
    }

    /// The request [`enter`](Self::enter)ed in `slot` is over.
    fn leave(&self, id: &RequestId, slot: Option<u64>) {
        let Some(slot) = slot else { return };
        let mut inflight = self.inflight.lock().expect("not poisoned");
        if inflight.get(id).is_some_and(|(s, _)| *s == slot) {
            inflight.remove(id);
        }
    }

    /// Serves a request in the caller's task, to its answer (`None`: cancelled). What it says
    /// before answering goes to `sink`; a handler's panic is answered as an internal error.
    /// The future owns what it needs, so that a caller can hand the rest of it to a task of
    /// its own; dropped before it answers, the request stops there, as if cancelled.
    #[cfg(feature = "http")]
    pub(crate) async fn serve_here(
        self: Arc<Self>,
        req: JsonRpcRequest,
        sink: Sink,
        identity: Option<Identity>,
    ) -> Option<JsonRpcMessage> {
        let Ok(_permit) = self.limit.acquire().await else {
            return None;
        };
        let (cancel, slot) = self.enter(&req.id);
        let _leave = Leave(&self, req.id.clone(), slot);
        let message = self.answer(req, sink, cancel.clone(), identity).await;
        message.filter(|_| !cancel.is_cancelled())
    }

    /// A request's answer (`None`: cancelled, or nothing to answer): its work raced against
    /// `cancel`, and a handler's panic answered as an internal error (and audited).
    async fn answer(
        self: &Arc<Self>,
        req: JsonRpcRequest,
        sink: Sink,
        cancel: CancellationToken,
        identity: Option<Identity>,
    ) -> Option<JsonRpcMessage> {
        let id = req.id.clone();
        // What the audit record of a panic names (copied only when there is an audit trail).
        let audited = self
            .server
            .inner
            .audit
            .is_enabled()
            .then(|| (req.method.clone(), identity.clone()));
        // Not boxed here: every caller boxes this future whole (a request's future is several
        // kilobytes, copied at each move otherwise), so a second box would be one more
        // allocation per request.
        // Pinned where it is made: the wrappers below move a reference, not the future (each
        // move of a future is a copy of all of it).
        let work = std::pin::pin!(self.serve_inner(req, sink, cancel.clone(), identity));
        let outcome = tokio::select! {
            r = AssertUnwindSafe(work).catch_unwind() => r,
            // Cancelled: no response at all.
            () = cancel.cancelled() => return None,
        };
        if cancel.is_cancelled() {
            return None;
        }
        match outcome {
            Ok(Ok(raw)) => Some(JsonRpcMessage::Response(JsonRpcResponse {
                id,
                result: raw,
            })),
            Ok(Err(e)) => Some(error_message(id, e)),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(request = %id, panic = %what, "a handler panicked");
                if let Some((method, identity)) = audited {
                    // The request's own response record was never written: this is it. The
                    // panic's message stays in the log (it may hold anything).
                    let error = ErrorCode::INTERNAL_ERROR;
                    let r = self
                        .audit_record(AuditKind::Response, &id, &method, identity.as_ref())
                        .with_outcome(Outcome::Error, Some(i64::from(error.0)))
                        .with_reason("the handler panicked");
                    self.server.inner.audit.record(&r);
                }
                Some(error_message(
                    id,
                    ErrorObject::internal_error("internal error: the handler panicked"),
                ))
            }
        }
    }

    fn notification(&self, n: JsonRpcNotification) {
        let parsed = match ClientNotification::parse(&n.method, n.params.as_deref()) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(method = %n.method, error = %e, "notification ignored");
                return;
            }
        };
        match parsed {
            ClientNotification::Cancelled(p) => {
                if let Some(id) = p.request_id
                    && let Some((_, token)) = self.inflight.lock().expect("not poisoned").get(&id)
                {
                    tracing::debug!(request = %id, reason = ?p.reason, "request cancelled by the client");
                    token.cancel();
                }
            }
            ClientNotification::Initialized(_) => {
                if let Some(l) = self.legacy.lock().expect("not poisoned").as_mut()
                    && !l.initialized
                {
                    l.initialized = true;
                    self.changed();
                }
            }
            ClientNotification::RootsListChanged(_)
            | ClientNotification::Progress(_)
            | ClientNotification::TaskStatus(_) => {}
        }
    }

    /// Serves one request by its era: modern `_meta`, `initialize`, or the legacy session.
    async fn serve_inner(
        self: &Arc<Self>,
        req: JsonRpcRequest,
        sink: Sink,
        cancel: CancellationToken,
        identity: Option<Identity>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let params = req.params.as_deref();
        #[cfg(feature = "http")]
        if let Some(version) = self.modern {
            let members = self.members.lock().expect("not poisoned").take();
            return self
                .serve_modern(
                    req.id,
                    &req.method,
                    params,
                    version.as_str(),
                    members,
                    sink,
                    cancel,
                    identity,
                )
                .await;
        }
        // The era from a borrowed peek at `_meta`, which reads the members the server reads of
        // every modern request too; the `_meta` itself comes with the typed params.
        let mut members = None;
        let requested = match params {
            None => None,
            Some(p) => match serde_json::from_str::<ParamsMeta<'_>>(p.get()) {
                Ok(peek) => peek.meta.and_then(|meta| {
                    let version = meta.protocol_version()?;
                    members = Some(meta.members());
                    Some(version)
                }),
                Err(_) => serde_json::from_str::<PeekMeta>(p.get())
                    .map_err(|e| {
                        let error = ErrorObject::invalid_params(format!("invalid params: {e}"));
                        self.refused(&req.id, &req.method, identity.as_ref(), UNPARSEABLE, error)
                    })?
                    .meta
                    .and_then(|m| m.protocol_version().map(|v| Cow::Owned(v.to_owned()))),
            },
        };
        // A request with modern `_meta` is modern whatever its method: `initialize` then does not
        // exist (-32601).
        if let Some(requested) = requested {
            return self
                .serve_modern(
                    req.id,
                    &req.method,
                    params,
                    &requested,
                    members,
                    sink,
                    cancel,
                    identity,
                )
                .await;
        }
        if req.method == messages::Initialize::METHOD {
            return self
                .initialize(&req.id, params, identity.as_ref())
                .map_err(|e| {
                    let reason = if e.code == ErrorCode::INVALID_REQUEST {
                        "the session is already initialized"
                    } else {
                        UNPARSEABLE
                    };
                    self.refused(&req.id, &req.method, identity.as_ref(), reason, e)
                });
        }
        self.serve_legacy(req.id, &req.method, params, sink, cancel, identity)
            .await
    }

    fn initialize(
        &self,
        id: &RequestId,
        params: Option<&RawValue>,
        identity: Option<&Identity>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let p: InitializeRequestParams = from_raw(params)
            .map_err(|e| ErrorObject::invalid_params(format!("invalid initialize params: {e}")))?;
        let version = ProtocolVersion::negotiate_legacy(&p.protocol_version);
        let audit = &self.server.inner.audit;
        // Before the client's info moves into the session.
        let start = audit.is_enabled().then(|| {
            self.audit_record(AuditKind::Session, id, "session/start", identity)
                .with_reason(format!(
                    "protocol {}; client {} {}",
                    version.as_str(),
                    bounded(&p.client_info.name),
                    bounded(&p.client_info.version)
                ))
        });
        {
            let mut legacy = self.legacy.lock().expect("not poisoned");
            if legacy.is_some() {
                return Err(ErrorObject::invalid_request(
                    "the session is already initialized",
                ));
            }
            *legacy = Some(Legacy {
                version,
                client: Arc::new(ClientSide {
                    capabilities: p.capabilities,
                    info: Some(p.client_info),
                }),
                log_level: Arc::new(Mutex::new(None)),
                initialized: false,
                opened_by: identity.cloned(),
                ended: false,
            });
        }
        self.changed();
        if let Some(start) = start {
            audit.record(&start);
        }
        let mut capabilities = self.server.capabilities();
        capabilities.shape(version);
        let mut info = self.server.inner.info.clone();
        info.shape(version);
        mcp_core::jsonrpc::to_raw(&InitializeResult {
            protocol_version: version.as_str().to_owned(),
            capabilities,
            server_info: info,
            instructions: self.server.inner.instructions.clone(),
            meta: None,
        })
        .map_err(|e| ErrorObject::internal_error(e.to_string()))
    }

    #[allow(clippy::too_many_arguments)]
    async fn serve_modern(
        self: &Arc<Self>,
        id: RequestId,
        method: &str,
        params: Option<&RawValue>,
        requested: &str,
        members: Option<Members>,
        sink: Sink,
        cancel: CancellationToken,
        identity: Option<Identity>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let version = match ProtocolVersion::parse(requested) {
            Some(v) if v.era() == Era::Modern => v,
            _ => {
                let error =
                    ErrorObject::unsupported_protocol_version(&supported_versions(), requested);
                let reason = "unsupported protocol version";
                return Err(self.refused(&id, method, identity.as_ref(), reason, error));
            }
        };
        let (rid, who) = (&id, identity.as_ref());
        let refused = |reason: &'static str| move |e| self.refused(rid, method, who, reason, e);
        let (request, meta) = ClientRequest::parse_for_meta_apart(version, method, params)
            .map_err(refused(UNPARSEABLE))?;
        let (meta, client) = request_meta(method, meta, members).map_err(refused(UNPARSEABLE))?;
        let side = match (client.capabilities, client.side) {
            (Some(Ok(())), Some(side)) => Ok(side),
            (Some(Err(e)), _) => Err(ErrorObject::invalid_params(format!(
                "invalid client capabilities: {e}"
            ))),
            _ => Err(ErrorObject::invalid_params(format!(
                "`_meta` lacks `{}`, which every 2026-07-28 request carries",
                mcp_core::meta::keys::CLIENT_CAPABILITIES
            ))),
        }
        .map_err(refused("missing or invalid client capabilities"))?;
        let log_level = client.log_level;
        if let ClientRequest::SubscriptionsListen(p) = request {
            // Only to what the caller may read: one resource it may not read refuses the whole
            // request, as its read would be refused.
            for uri in p.notifications.resource_subscriptions.iter().flatten() {
                self.server.may_subscribe(identity.as_ref(), uri, true)?;
            }
            return self.listen(id, p, version, sink, cancel).await;
        }
        let round = self
            .server
            .round_input(
                &request,
                version,
                params,
                identity.as_ref().map(|i| i.principal_key()).as_deref(),
            )
            .map_err(refused(
                "invalid requestState (tampered, expired, or bound to another request or principal)",
            ))?;
        let (input, binding) = match round {
            Some(r) => (
                Mrtr::new(r.responses).carrying_approval(r.approval),
                Some(r.binding),
            ),
            None => (Mrtr::new(InputResponses::new()), None),
        };
        let cx = self.context(
            id,
            version,
            meta,
            side,
            LogLevelSource::Fixed(log_level),
            sink,
            cancel,
            InputMode::Modern(input),
            identity,
        );
        self.server
            .answer(cx, Box::new(request), binding.as_ref())
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn serve_legacy(
        self: &Arc<Self>,
        id: RequestId,
        method: &str,
        params: Option<&RawValue>,
        sink: Sink,
        cancel: CancellationToken,
        identity: Option<Identity>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let session = {
            let legacy = self.legacy.lock().expect("not poisoned");
            legacy
                .as_ref()
                .map(|l| (l.version, l.client.clone(), l.log_level.clone()))
        };
        let Some((version, client, level)) = session else {
            if method == messages::Ping::METHOD {
                return mcp_core::jsonrpc::to_raw(&EmptyResult::default())
                    .map_err(|e| ErrorObject::internal_error(e.to_string()));
            }
            let error = ErrorObject::invalid_request(
                "no session: send `initialize` first, or `_meta` with `io.modelcontextprotocol/protocolVersion` for a stateless request",
            );
            let reason = "no session";
            return Err(self.refused(&id, method, identity.as_ref(), reason, error));
        };
        let (request, meta) = ClientRequest::parse_for_meta_apart(version, method, params)
            .and_then(|(request, meta)| Ok((request, request_meta(method, meta, None)?.0)))
            .map_err(|e| self.refused(&id, method, identity.as_ref(), UNPARSEABLE, e))?;
        match &request {
            ClientRequest::SetLevel(p) => {
                *level.lock().expect("not poisoned") = Some(p.level);
                self.after_change().await;
                return empty();
            }
            ClientRequest::Subscribe(p) => {
                // Only to what the caller may read, refused as its read would be.
                self.server
                    .may_subscribe(identity.as_ref(), &p.uri, false)?;
                let added = self
                    .subscriptions
                    .lock()
                    .expect("not poisoned")
                    .insert(p.uri.clone());
                if added {
                    self.server.inner.subscribers.add(&p.uri);
                }
                self.after_change().await;
                return empty();
            }
            ClientRequest::Unsubscribe(p) => {
                let removed = self
                    .subscriptions
                    .lock()
                    .expect("not poisoned")
                    .remove(&p.uri);
                if removed {
                    self.server.inner.subscribers.remove(&p.uri);
                }
                self.after_change().await;
                return empty();
            }
            _ => {}
        }
        let peer: Arc<dyn Peer> = self.clone();
        let cx = self.context(
            id,
            version,
            meta,
            client,
            LogLevelSource::Session(level),
            sink,
            cancel,
            InputMode::Legacy(peer),
            identity,
        );
        self.server.answer(cx, Box::new(request), None).await
    }

    /// An audit record of this connection about request `id`.
    fn audit_record(
        &self,
        kind: AuditKind,
        id: &RequestId,
        method: &str,
        identity: Option<&Identity>,
    ) -> AuditRecord {
        // A method the client made up is bounded in the record.
        let method = match method.char_indices().nth(MAX_AUDITED_METHOD) {
            Some((end, _)) => &method[..end],
            None => method,
        };
        let mut r = AuditRecord::new(kind, method)
            .with_principal(identity)
            .with_request_id(id.clone());
        if let Some(session) = &self.session_id {
            r = r.with_session_id(session.as_ref());
        }
        r
    }

    /// Audits a request refused before it reached [`Server::answer`] (which audits the rest),
    /// and returns its error. The reason is what was refused, never the request's content:
    /// parser messages may quote argument values.
    fn refused(
        &self,
        id: &RequestId,
        method: &str,
        identity: Option<&Identity>,
        reason: &str,
        error: ErrorObject,
    ) -> ErrorObject {
        let audit = &self.server.inner.audit;
        if audit.is_enabled() {
            let reason = match error.code {
                // Whatever the step: an unknown method is refused as such.
                ErrorCode::METHOD_NOT_FOUND => "unknown method",
                _ => reason,
            };
            let r = self
                .audit_record(AuditKind::Refusal, id, method, identity)
                .with_outcome(Outcome::Error, Some(i64::from(error.code.0)))
                .with_reason(reason);
            audit.record(&r);
        }
        error
    }

    #[allow(clippy::too_many_arguments)]
    fn context(
        &self,
        request_id: RequestId,
        version: ProtocolVersion,
        meta: RequestMeta,
        client: Arc<ClientSide>,
        log_level: LogLevelSource,
        sink: Sink,
        cancel: CancellationToken,
        input: InputMode,
        identity: Option<Identity>,
    ) -> Context {
        let progress_token = meta.progress_token.clone();
        Context {
            inner: Arc::new(ContextInner {
                request_id,
                version,
                meta,
                client,
                log_level,
                progress_token,
                last_progress: Mutex::new(None),
                sink,
                cancel,
                input,
                state: self.server.state_map(),
                identity,
                session_id: self.session_id.clone(),
                tool_error: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// `subscriptions/listen`: acknowledges, then forwards the chosen notifications on the
    /// request's stream until the client cancels it.
    async fn listen(
        &self,
        id: RequestId,
        p: SubscriptionsListenRequestParams,
        _version: ProtocolVersion,
        sink: Sink,
        cancel: CancellationToken,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let mut sub_meta = Meta::new();
        sub_meta.set_subscription_id(&id);
        let filter = p.notifications;
        let accepted = SubscriptionFilter {
            tools_list_changed: filter.tools_list_changed.filter(|b| *b),
            prompts_list_changed: filter.prompts_list_changed.filter(|b| *b),
            resources_list_changed: filter.resources_list_changed.filter(|b| *b),
            resource_subscriptions: filter.resource_subscriptions.clone(),
            tasks_status: None,
        };
        self.server.follow_remote_events();
        let mut events = self.server.inner.events.subscribe();
        // Counted while the stream lives (a cancelled request drops this future).
        let _held = crate::subscriptions::Held::new(
            &self.server.inner.subscribers,
            accepted.resource_subscriptions.iter().flatten().cloned(),
        );
        if let Some(ack) = notification::<messages::SubscriptionsAcknowledged>(
            SubscriptionsAcknowledgedNotificationParams {
                notifications: accepted.clone(),
                meta: Some(sub_meta.clone()),
            },
        ) {
            sink.send_reliable(ack).await;
        }
        let params = || {
            Some(NotificationParams {
                meta: Some(sub_meta.clone()),
            })
        };
        loop {
            let event = tokio::select! {
                () = cancel.cancelled() => break,
                e = events.recv() => e,
            };
            let message = match event {
                Ok(Event::ToolsChanged) if accepted.tools_list_changed == Some(true) => {
                    notification::<messages::ToolListChanged>(params())
                }
                Ok(Event::PromptsChanged) if accepted.prompts_list_changed == Some(true) => {
                    notification::<messages::PromptListChanged>(params())
                }
                Ok(Event::ResourcesChanged) if accepted.resources_list_changed == Some(true) => {
                    notification::<messages::ResourceListChanged>(params())
                }
                Ok(Event::ResourceUpdated(uri))
                    if accepted
                        .resource_subscriptions
                        .as_ref()
                        .is_some_and(|s| s.contains(&uri)) =>
                {
                    notification::<messages::ResourceUpdated>(ResourceUpdatedNotificationParams {
                        uri,
                        meta: Some(sub_meta.clone()),
                    })
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => None,
                Err(_) => break,
            };
            if let Some(m) = message {
                sink.send(m);
            }
        }
        mcp_core::jsonrpc::to_raw(&SubscriptionsListenResult {
            result_type: Some(ResultType::Complete),
            meta: Some(sub_meta),
        })
        .map_err(|e| ErrorObject::internal_error(e.to_string()))
    }
}

fn empty() -> Result<Box<RawValue>, ErrorObject> {
    Ok(RawValue::from_string("{}".to_owned()).expect("valid JSON"))
}

fn notification<M: NotificationMethod>(params: M::Params) -> Option<JsonRpcMessage> {
    messages::Notification::<M>::new(params)
        .into_jsonrpc()
        .ok()
        .map(JsonRpcMessage::Notification)
}

/// Removes a pending server-to-client request when its waiter goes away, and tells the client.
struct PendingGuard<'a> {
    conn: &'a Connection,
    id: RequestId,
    sink: &'a Sink,
    done: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self
            .conn
            .pending
            .lock()
            .expect("not poisoned")
            .remove(&self.id)
            .is_some()
            && let Some(m) = notification::<messages::Cancelled>(CancelledNotificationParams {
                request_id: Some(self.id.clone()),
                reason: Some("the server no longer needs the answer".into()),
                meta: None,
            })
        {
            self.sink.send(m);
        }
    }
}

impl Peer for Connection {
    fn request<'a>(
        &'a self,
        method: &'static str,
        params: Option<Box<RawValue>>,
        sink: &'a Sink,
    ) -> BoxFuture<'a, Result<Box<RawValue>, ErrorObject>> {
        Box::pin(async move {
            let id = RequestId::Number(self.next_id.fetch_add(1, Ordering::Relaxed));
            let (tx, rx) = oneshot::channel();
            self.pending
                .lock()
                .expect("not poisoned")
                .insert(id.clone(), tx);
            let mut guard = PendingGuard {
                conn: self,
                id: id.clone(),
                sink,
                done: false,
            };
            let request = JsonRpcRequest {
                id,
                method: method.to_owned(),
                params,
            };
            if !sink.send_reliable(JsonRpcMessage::Request(request)).await {
                guard.done = true;
                return Err(ErrorObject::internal_error("the client is gone"));
            }
            let limit = self.server.inner.options.peer_request_timeout;
            let answer = tokio::time::timeout(limit, rx).await;
            match answer {
                Ok(Ok(result)) => {
                    guard.done = true;
                    result
                }
                Ok(Err(_)) => {
                    guard.done = true;
                    Err(ErrorObject::internal_error(
                        "the session closed before the client answered",
                    ))
                }
                Err(_) => Err(ErrorObject::new(
                    ErrorCode::INTERNAL_ERROR,
                    format!("the client did not answer `{method}` in time"),
                )),
            }
        })
    }
}

/// A request's `_meta` set apart by its parse ([`ClientRequest::parse_for_meta_apart`]), read:
/// one that is not an object makes the request's params invalid, as it would have read into
/// the params. `members`: those of the same `_meta`, read when it was peeked at.
fn request_meta(
    method: &str,
    raw: Option<&RawValue>,
    members: Option<Members>,
) -> Result<(RequestMeta, ClientMembers), ErrorObject> {
    RequestMeta::read(raw, members)
        .map_err(|e| ErrorObject::invalid_params(format!("invalid params for `{method}`: {e}")))
}
