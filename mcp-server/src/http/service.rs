//! The endpoint: POST, GET and DELETE on one path, serving modern requests statelessly and
//! legacy sessions by `Mcp-Session-Id`.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode};
use axum::routing::post;
use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt as _};
use mcp_core::codec::{self, CodecConfig};
use mcp_core::jsonrpc::{ParamsPeek, raw_str};
use mcp_core::messages::{Initialize, RequestMethod as _, SubscriptionsListen};
use mcp_core::{
    Era, ErrorCode, ErrorObject, JsonRpcError, JsonRpcMessage, JsonRpcRequest, Meta,
    ProtocolVersion, RequestId,
};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::config::{HttpConfig, ResponseMode};
use super::header_checks::{
    self, LAST_EVENT_ID, Mirrored, NameSource, PROTOCOL_VERSION, SESSION_ID,
};
use super::sessions::{self, Backing, Caller, Full, Record, Session, Sessions};
use super::sse::{self, EarlyClose, EventLog, is_final};
use crate::audit::{Audit, AuditKind, AuditRecord, Outcome};
use crate::identity::{Identity, Principal};
use crate::peer::Sink;
use crate::request_meta::{Members, Reserved};
use crate::server::Server;
use crate::session::Connection;
use crate::store::StoreError;

const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream";

/// A busy server, in the range JSON-RPC leaves to implementations.
const SERVER_BUSY: ErrorCode = ErrorCode(-32000);

/// After a 413, the rest of the body is read and dropped while it keeps coming (each piece
/// within `LINGER_IDLE`, all within `LINGER_TIME`), so that the connection closes cleanly: a
/// connection closed with unread data is reset, and a reset can destroy the 413 before the
/// client reads it.
const LINGER_IDLE: Duration = Duration::from_millis(500);
const LINGER_TIME: Duration = Duration::from_secs(10);

/// A request turned away with this response (boxed: responses are large).
type Refused = Box<Response<Body>>;

/// What the audit record of a request this transport refuses says, carried by the refusing
/// response to [`AuditRefusals`], the outermost layer (which knows the client's address).
#[derive(Debug, Clone, Default)]
pub(super) struct Refusal {
    /// What was refused: never the request's content, nor a credential.
    pub(super) reason: String,
    /// The JSON-RPC error code of the answer, if it has one.
    pub(super) code: Option<i64>,
    pub(super) request_id: Option<RequestId>,
    /// The JSON-RPC method, when the body was read.
    pub(super) method: Option<String>,
    /// The authenticated caller, when the refusal came after authentication (its subject and
    /// issuer are recorded).
    pub(super) principal: Option<Identity>,
}

impl Refusal {
    fn of(error: &ErrorObject, id: Option<&RequestId>) -> Self {
        let reason = if error.code == ErrorCode::HEADER_MISMATCH {
            // The message may quote `Mcp-Param-*` values, which repeat tool arguments.
            "a header does not match the body (MCP-Protocol-Version, Mcp-Method, Mcp-Name or Mcp-Param-*)".to_owned()
        } else {
            error.message.clone()
        };
        Refusal {
            reason,
            code: Some(i64::from(error.code.0)),
            request_id: id.cloned(),
            ..Refusal::default()
        }
    }
}

/// Marks a refusal of the authentication layer (a missing or invalid token, missing scopes, a
/// validator that cannot be reached, a disallowed `Origin` or `Host`), for the audit trail. The
/// reason is `reason`, or comes from the status and the challenge's `error`; never from the
/// token.
#[cfg(feature = "auth")]
pub(super) fn mark_auth_refusal(response: &mut Response<Body>, reason: Option<&str>) {
    let challenge = response
        .headers()
        .get(axum::http::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let start = v.find("error=\"")? + 7;
            let len = v[start..].find('"')?;
            Some(&v[start..start + len])
        });
    let reason = match (reason, response.status(), challenge) {
        (Some(reason), _, _) => reason,
        (None, StatusCode::UNAUTHORIZED, None) => "authentication: no access token",
        (None, StatusCode::UNAUTHORIZED, Some("invalid_token")) => {
            "authentication: invalid token (unknown, expired, or for another audience or issuer)"
        }
        (None, StatusCode::FORBIDDEN, Some("insufficient_scope")) => {
            "authentication: the token lacks a required scope"
        }
        (None, StatusCode::BAD_REQUEST, _) => "authentication: malformed Authorization header",
        (None, StatusCode::SERVICE_UNAVAILABLE, _) => {
            "authentication: the token could not be checked"
        }
        (None, _, _) => "authentication refused",
    };
    response.extensions_mut().insert(Refusal {
        reason: reason.to_owned(),
        ..Refusal::default()
    });
}

/// The outermost layer when the server has an audit trail: one record per request this
/// transport refuses before dispatch (the requests it dispatches are audited by the engine).
///
/// A service of its own rather than `axum::middleware::from_fn`, which clones the inner route and
/// boxes a future for every request: this one calls the route in place and only looks at the
/// response.
#[derive(Clone)]
struct AuditRefusals<S> {
    audit: Audit,
    inner: S,
}

impl<S> tower::Service<Request> for AuditRefusals<S>
where
    S: tower::Service<Request, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = AuditedResponse<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let asked = Asked {
            audit: self.audit.clone(),
            client: request
                .extensions()
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            // A client certificate's identity is known out here; a bearer token's is not.
            tls_principal: request.extensions().get::<Identity>().cloned(),
            http_method: request.method().clone(),
        };
        AuditedResponse {
            response: self.inner.call(request),
            asked: Some(asked),
        }
    }
}

/// What a refusal's record says of the request, kept until its response.
struct Asked {
    audit: Audit,
    client: Option<SocketAddr>,
    tls_principal: Option<Identity>,
    http_method: axum::http::Method,
}

pin_project_lite::pin_project! {
    /// The response of [`AuditRefusals`]' inner service, audited if it is a refusal.
    struct AuditedResponse<F> {
        #[pin]
        response: F,
        asked: Option<Asked>,
    }
}

impl<F, E> Future for AuditedResponse<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.response.poll(cx))?;
        if let Some(asked) = this.asked.take() {
            audit_refusal(asked, &mut response);
        }
        std::task::Poll::Ready(Ok(response))
    }
}

/// Records the refusal `response` carries, if it carries one (and takes it off the response).
fn audit_refusal(asked: Asked, response: &mut Response<Body>) {
    let Some(refusal) = response.extensions_mut().remove::<Refusal>() else {
        return;
    };
    let method = refusal
        .method
        .unwrap_or_else(|| format!("HTTP {}", asked.http_method));
    let mut r = AuditRecord::new(AuditKind::Refusal, method)
        .with_status(response.status().as_u16())
        .with_reason(&refusal.reason);
    if let Some(code) = refusal.code {
        r = r.with_outcome(Outcome::Error, Some(code));
    }
    if let Some(identity) = refusal.principal.or(asked.tls_principal) {
        r = r.with_principal(Some(&identity));
    }
    if let Some(id) = refusal.request_id {
        r = r.with_request_id(id);
    }
    if let Some(client) = asked.client {
        r = r.with_client(client);
    }
    asked.audit.record(&r);
}

/// The local address of the connection a request arrived on, where the server knows it.
#[derive(Debug, Clone, Copy)]
pub(super) struct LocalAddr(pub(super) SocketAddr);

/// The client's address of the connection a request arrived on, where the server knows it.
#[derive(Debug, Clone, Copy)]
pub(super) struct PeerAddr(pub(super) SocketAddr);

pub(super) struct Shared {
    server: Server,
    pub(super) config: HttpConfig,
    codec: CodecConfig,
    sessions: Sessions,
    /// With a store ([`Server::store`]): where sessions are shared with the other replicas.
    backing: Option<Arc<Backing>>,
    /// No new requests; the long-lived streams (GET, `subscriptions/listen`) end.
    shutdown: CancellationToken,
    /// Every stream ends and every request is cancelled.
    abort: CancellationToken,
    reaper_started: AtomicBool,
}

/// The MCP endpoint as a service: mount [`McpService::router`] in an axum app, or run it with
/// [`McpService::serve`].
///
/// Cheap to clone; clones share the sessions.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use mcp_server::Server;
/// use mcp_server::http::{HttpConfig, McpService};
///
/// let server = Server::new("kpi", "1.0.0");
/// let mcp = McpService::new(server, HttpConfig::new());
/// let app = axum::Router::new()
///     .merge(mcp.router())
///     .route("/health", axum::routing::get(|| async { "ok" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// axum::serve(listener, app)
///     .with_graceful_shutdown(async move {
///         mcp_server::http::shutdown_signal().await;
///         mcp.shutdown(); // ends the SSE streams, so that the shutdown can complete
///     })
///     .await
/// # }
/// ```
#[derive(Clone)]
pub struct McpService {
    pub(super) shared: Arc<Shared>,
    /// Routes served beside the endpoint ([`McpService::with_routes`]).
    routes: Option<Router>,
}

impl std::fmt::Debug for McpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpService")
            .field("server", &self.shared.server)
            .field("path", &self.shared.config.path)
            .field("sessions", &self.session_count())
            .finish_non_exhaustive()
    }
}

impl McpService {
    /// The endpoint for `server`.
    pub fn new(server: Server, config: HttpConfig) -> Self {
        server.follow_remote_events();
        let backing = server.inner.store.as_ref().map(|store| {
            Arc::new(Backing {
                store: store.clone(),
                ttl: config.session_idle_timeout,
                keep: config.event_buffer,
                replica: server.inner.replica.clone(),
            })
        });
        McpService {
            routes: None,
            shared: Arc::new(Shared {
                backing,
                server,
                codec: config.codec(),
                sessions: Sessions::new(
                    config.max_sessions,
                    config.max_sessions_per_principal,
                    config.session_idle_timeout,
                ),
                config,
                shutdown: CancellationToken::new(),
                abort: CancellationToken::new(),
                reaper_started: AtomicBool::new(false),
            }),
        }
    }

    /// A router with the endpoint at the configured path. Other methods on the path get 405.
    ///
    /// Served by your own `axum::serve`, the header, body-stall and connection limits of
    /// [`crate::http::serve`] do not apply (the body read timeout and size limit do), and the
    /// local address is unknown, so the `Host` check requires a loopback name unless
    /// [`HttpConfig::allowed_hosts`] says otherwise.
    ///
    /// When the server has an audit trail ([`crate::Server::audit`]), every request the
    /// endpoint refuses before dispatch (authentication, `Origin` and `Host`, session, headers,
    /// body) gets an audit record of kind [`AuditKind::Refusal`] with the status, the reason, the
    /// caller when known and the client's address (under [`crate::http::serve`], or axum's
    /// `ConnectInfo<SocketAddr>`).
    pub fn router(&self) -> Router {
        let router = Router::new()
            .route(
                &self.shared.config.path,
                post(post_handler).get(get_handler).delete(delete_handler),
            )
            .with_state(self.shared.clone());
        let router = super::wrap_router(router, &self.shared.config);
        let audit = &self.shared.server.inner.audit;
        let router = if audit.is_enabled() {
            let audit = audit.clone();
            router.layer(tower::layer::layer_fn(move |inner| AuditRefusals {
                audit: audit.clone(),
                inner,
            }))
        } else {
            router
        };
        match &self.routes {
            Some(routes) => router.merge(routes.clone()),
            None => router,
        }
    }

    /// Serves `routes` beside the endpoint, by [`McpService::serve`] (with its connection
    /// limits and TLS) and in [`McpService::router`]: a health check, say. They are outside
    /// the endpoint's authentication, `Origin` and `Host` checks and refusal records; whatever
    /// they need of those, they add themselves.
    ///
    /// # Panics
    ///
    /// [`McpService::router`] panics when a route overlaps the endpoint's path (or, with
    /// authentication, its protected resource metadata), as axum's `Router::merge` does.
    #[must_use]
    pub fn with_routes(mut self, routes: Router) -> Self {
        self.routes = Some(match self.routes.take() {
            Some(before) => before.merge(routes),
            None => routes,
        });
        self
    }

    /// Serves on `listen` until `shutdown` completes, then shuts down gracefully: see
    /// [`crate::http::serve`].
    pub async fn serve(
        self,
        listen: impl Into<super::Listen>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        // Boxed by a plain function of this crate: see "Entry points" in `lib.rs`.
        self.serve_boxed(listen.into(), Box::pin(shutdown)).await
    }

    fn serve_boxed<'a>(
        self,
        listen: super::Listen,
        shutdown: BoxFuture<'a, ()>,
    ) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(async move {
            let listener = listen.bind().await?;
            super::listener::run(self, listener, shutdown).await
        })
    }

    /// Starts a graceful shutdown: new requests get 503, GET streams and `subscriptions/listen`
    /// streams end; running requests go on.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
    }

    /// Ends everything now: running requests are cancelled, every stream ends, every session is
    /// closed.
    pub fn close(&self) {
        self.shared.shutdown.cancel();
        self.shared.abort.cancel();
        self.shared.sessions.close_all();
    }

    /// How many legacy sessions exist.
    pub fn session_count(&self) -> usize {
        self.shared.sessions.len()
    }
}

/// Stops a modern request when its response goes away (the client closed the stream).
struct CancelOnDrop(Arc<Connection>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A request served in a response's task that goes on in a task of its own if the response is
/// dropped before the request answers.
struct Detached(Option<BoxFuture<'static, Option<JsonRpcMessage>>>);

impl Detached {
    fn new(work: impl Future<Output = Option<JsonRpcMessage>> + Send + 'static) -> Self {
        Detached(Some(Box::pin(work)))
    }

    /// The rest of the request, to run elsewhere (`None` once it answered).
    fn take(&mut self) -> Option<BoxFuture<'static, Option<JsonRpcMessage>>> {
        self.0.take()
    }
}

impl Future for Detached {
    type Output = Option<JsonRpcMessage>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let Some(work) = self.0.as_mut() else {
            return std::task::Poll::Pending;
        };
        let answer = std::task::ready!(work.as_mut().poll(cx));
        self.0 = None;
        std::task::Poll::Ready(answer)
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(work) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(work);
        }
    }
}

/// Sends a request's answer to its stream once the stream has taken over: the answer it gave
/// already (`Some`; `Some(None)`: cancelled, nothing to send), or what the rest of its work gives.
async fn answer_later(
    sink: Sink,
    answered: Option<Option<JsonRpcMessage>>,
    rest: Option<impl Future<Output = Option<JsonRpcMessage>>>,
) {
    let last = match (answered, rest) {
        (Some(m), _) => m,
        (None, Some(rest)) => rest.await,
        (None, None) => None,
    };
    if let Some(m) = last {
        sink.send_reliable(m).await;
    }
}

/// What the handlers need of a request's params, read before dispatch, borrowed from the
/// request's text.
///
/// `_meta` is read exactly as the engine reads it (of duplicated keys the last wins: a request
/// [`Reserved`] cannot read is read as a [`Meta`]), so that the era this layer checks headers for
/// is the era the request is served in.
#[derive(Default)]
struct Peek<'a> {
    /// `_meta`'s protocol version, when it is a string: set on modern requests only.
    version: Option<Cow<'a, str>>,
    /// Whether `_meta` holds the client's capabilities, as an object.
    capabilities: bool,
    /// The members of `_meta` the engine reads of every request, raw, read with the params
    /// (`None`: read on their own, the engine reads them again).
    reserved: Option<Reserved<'a>>,
    /// `name`, `uri`, `taskId` and `arguments`; a duplicated key leaves them all unread, and the
    /// request then fails both the `Mcp-Name` check and the engine's own parsing.
    names: ParamsPeek<'a>,
}

/// The params in one pass: `_meta` read as the engine reads it ([`Reserved`]), and the members
/// of [`ParamsPeek`] (which reads `_meta` raw, to be read again).
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(rename = "_meta", borrow, default)]
    meta: Option<Reserved<'a>>,
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    uri: Option<&'a RawValue>,
    #[serde(rename = "taskId", borrow, default)]
    task_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct MetaField {
    #[serde(rename = "_meta", default)]
    meta: Option<Meta>,
}

impl<'a> Peek<'a> {
    /// `Err` when `_meta` cannot be read, which the engine would refuse as well (-32602).
    fn of(params: Option<&'a RawValue>) -> Result<Self, ErrorObject> {
        let Some(params) = params else {
            return Ok(Peek::default());
        };
        if let Ok(fields) = serde_json::from_str::<Fields<'a>>(params.get()) {
            let meta = fields.meta.unwrap_or_default();
            let mut names = ParamsPeek::default();
            names.name = fields.name;
            names.uri = fields.uri;
            names.task_id = fields.task_id;
            names.arguments = fields.arguments;
            return Ok(Peek {
                version: meta.protocol_version(),
                capabilities: meta.has_client_capabilities(),
                reserved: Some(meta),
                names,
            });
        }
        // A duplicated key or an unreadable `_meta`: each read on its own, as documented above.
        let meta = serde_json::from_str::<MetaField>(params.get())
            .map_err(|e| ErrorObject::invalid_params(format!("invalid params: {e}")))?
            .meta
            .unwrap_or_default();
        Ok(Peek {
            version: meta.protocol_version().map(|v| Cow::Owned(v.to_owned())),
            capabilities: meta
                .get_raw(mcp_core::meta::keys::CLIENT_CAPABILITIES)
                .is_some_and(Value::is_object),
            reserved: None,
            names: serde_json::from_str(params.get()).unwrap_or_default(),
        })
    }

    /// The protocol version in `_meta`: set on modern requests only.
    fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Whether `_meta` holds the client's capabilities.
    fn has_capabilities(&self) -> bool {
        self.capabilities
    }

    /// The value `Mcp-Name` repeats for `method`.
    fn name(&self, method: &str) -> Option<Cow<'a, str>> {
        match header_checks::named_method(method)? {
            NameSource::Uri => raw_str(self.names.uri?),
            NameSource::Name => raw_str(self.names.name?),
            NameSource::TaskId => raw_str(self.names.task_id?),
        }
    }
}

fn json_response(status: StatusCode, message: &JsonRpcMessage) -> Response<Body> {
    let mut response = Response::new(Body::from(message.to_json()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// A refusal by the transport: the request is not dispatched (audited as such).
fn rpc_error(status: StatusCode, id: Option<RequestId>, error: ErrorObject) -> Response<Body> {
    let refusal = Refusal::of(&error, id.as_ref());
    let mut response = json_response(status, &JsonRpcMessage::Error(JsonRpcError::new(id, error)));
    response.extensions_mut().insert(refusal);
    response
}

/// An error after which the connection is not reused (the request body was not read).
fn closing_error(status: StatusCode, error: ErrorObject) -> Response<Body> {
    let mut response = rpc_error(status, None, error);
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

fn status_only(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

fn unavailable(id: Option<RequestId>, message: &str) -> Response<Body> {
    let mut response = rpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        id,
        ErrorObject::new(SERVER_BUSY, message),
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The refusal of a request that needs the shared store when it cannot be reached: 503 with
/// [`crate::store::STORE_UNAVAILABLE`] (not a 404, after which the client would start over).
fn store_unavailable(id: Option<RequestId>, error: &StoreError) -> Response<Body> {
    tracing::warn!(error = %error, "a session request refused: the shared store is unavailable");
    let object = error.to_error_object();
    let mut response = rpc_error(StatusCode::SERVICE_UNAVAILABLE, id.clone(), object.clone());
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    // Audited as a refusal, like every request refused before dispatch.
    response.extensions_mut().insert(Refusal {
        reason: "store_unavailable: the session could not be checked in the shared store".into(),
        code: Some(i64::from(object.code.0)),
        request_id: id,
        ..Refusal::default()
    });
    response
}

fn method_not_allowed() -> Response<Body> {
    let mut response = rpc_error(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        ErrorObject::invalid_request(
            "GET and DELETE need the `Mcp-Session-Id` of a legacy session; modern clients send every request as a POST",
        ),
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static("POST"));
    response
}

/// The HTTP status of a JSON answer: modern errors that describe the request itself get a 4xx
/// (unknown method 404; version, header and capability errors 400).
fn status_of(message: &JsonRpcMessage, modern: bool) -> StatusCode {
    match message {
        JsonRpcMessage::Error(e) if modern => match e.error.code {
            ErrorCode::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
            ErrorCode::HEADER_MISMATCH
            | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
            | ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
            | ErrorCode::PARSE_ERROR
            | ErrorCode::INVALID_REQUEST => StatusCode::BAD_REQUEST,
            _ => StatusCode::OK,
        },
        _ => StatusCode::OK,
    }
}

/// A stream that ends at once: the answer to a request cancelled before it answered.
fn empty_stream() -> Response<Body> {
    let mut response = Response::new(Body::empty());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM));
    response
}

fn legacy_versions() -> Vec<&'static str> {
    ProtocolVersion::LEGACY.iter().map(|v| v.as_str()).collect()
}

/// Whether the session's client reconnects to streams the server closes (2025-11-25 on).
fn resumes(session: &Session) -> bool {
    session
        .conn
        .legacy_version()
        .is_some_and(|v| v >= ProtocolVersion::V2025_11_25)
}

enum BodyError {
    /// Over the limit: the rest of the body, to drain ([`linger`]).
    TooLarge(axum::body::BodyDataStream),
    Timeout,
    Broken,
}

/// Reads the body, at most `limit` bytes (413 past that, whatever the framing) within `timeout`.
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, BodyError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut data = body.into_data_stream();
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(data));
    }
    let mut buf = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    let read = async {
        while let Some(chunk) = data.next().await {
            let chunk = chunk.map_err(|_| BodyError::Broken)?;
            if buf.len() + chunk.len() > limit {
                return Ok(false);
            }
            buf.extend_from_slice(&chunk);
        }
        Ok::<_, BodyError>(true)
    };
    match tokio::time::timeout(timeout, read).await {
        Err(_) => Err(BodyError::Timeout),
        Ok(Err(e)) => Err(e),
        Ok(Ok(false)) => Err(BodyError::TooLarge(data)),
        Ok(Ok(true)) => Ok(buf),
    }
}

/// Reads and drops the rest of a refused body while it keeps coming (see [`LINGER_IDLE`]).
async fn linger(mut data: axum::body::BodyDataStream) {
    let deadline = tokio::time::Instant::now() + LINGER_TIME;
    while let Ok(Ok(Some(Ok(_)))) =
        tokio::time::timeout_at(deadline, tokio::time::timeout(LINGER_IDLE, data.next())).await
    {
    }
}

async fn post_handler(State(shared): State<Arc<Shared>>, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let response = serve_post(&shared, &parts, body).await;
    with_principal(response, &parts)
}

async fn serve_post(shared: &Arc<Shared>, parts: &Parts, body: Body) -> Response<Body> {
    if let Some(refused) = shared.screen(parts) {
        return refused;
    }
    if shared.shutdown.is_cancelled() {
        return unavailable(None, "the server is shutting down");
    }
    if !header_checks::is_json(&parts.headers) {
        return rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            ErrorObject::invalid_request("the body must be `Content-Type: application/json`"),
        );
    }
    if !header_checks::accepts(&parts.headers, &[JSON, EVENT_STREAM]) {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            ErrorObject::invalid_request(
                "`Accept` must list both `application/json` and `text/event-stream`",
            ),
        );
    }
    let limit = shared.config.max_body_size;
    let bytes = match read_body(body, &parts.headers, limit, shared.config.body_read_timeout).await
    {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge(rest)) => {
            // The 413 goes out now; the rest of the body is drained meanwhile.
            tokio::spawn(linger(rest));
            return closing_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorObject::invalid_request(format!(
                    "the body exceeds the limit of {limit} bytes"
                ))
                .with_data(serde_json::json!({ "maxMessageSize": limit })),
            );
        }
        Err(BodyError::Timeout) => {
            return closing_error(
                StatusCode::REQUEST_TIMEOUT,
                ErrorObject::invalid_request("the body took too long to arrive"),
            );
        }
        Err(BodyError::Broken) => {
            return closing_error(
                StatusCode::BAD_REQUEST,
                ErrorObject::invalid_request("the body could not be read"),
            );
        }
    };
    let message = match codec::decode(&bytes, &shared.codec) {
        Ok(message) => message,
        Err(e) => {
            let error = e.into_response();
            return rpc_error(StatusCode::BAD_REQUEST, error.id, error.error);
        }
    };
    drop(bytes);
    let identity = parts.extensions.get::<Identity>().cloned();
    match message {
        JsonRpcMessage::Request(req) => {
            let peer = peer_of(parts);
            shared.request(&parts.headers, req, identity, peer).await
        }
        other => {
            shared
                .accept(&parts.headers, other, identity.as_ref())
                .await
        }
    }
}

/// Completes the audit record of a refusal with the authenticated caller.
fn with_principal(mut response: Response<Body>, parts: &Parts) -> Response<Body> {
    if let Some(refusal) = response.extensions_mut().get_mut::<Refusal>()
        && refusal.principal.is_none()
    {
        refusal.principal = parts.extensions.get::<Identity>().cloned();
    }
    response
}

async fn get_handler(State(shared): State<Arc<Shared>>, request: Request) -> Response<Body> {
    let (parts, _) = request.into_parts();
    let response = serve_get(&shared, &parts).await;
    with_principal(response, &parts)
}

async fn serve_get(shared: &Arc<Shared>, parts: &Parts) -> Response<Body> {
    if let Some(refused) = shared.screen(parts) {
        return refused;
    }
    if parts.headers.get(SESSION_ID).is_none() {
        return method_not_allowed();
    }
    if shared.shutdown.is_cancelled() {
        return unavailable(None, "the server is shutting down");
    }
    if !header_checks::accepts(&parts.headers, &[EVENT_STREAM]) {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            ErrorObject::invalid_request("`Accept` must list `text/event-stream`"),
        );
    }
    let principal = principal_of(parts);
    let session = match shared
        .session(&parts.headers, principal.as_ref(), None)
        .await
    {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    shared.stream(&parts.headers, session).await
}

async fn delete_handler(State(shared): State<Arc<Shared>>, request: Request) -> Response<Body> {
    let (parts, _) = request.into_parts();
    if let Some(refused) = shared.screen(&parts) {
        return refused;
    }
    if parts.headers.get(SESSION_ID).is_none() {
        return method_not_allowed();
    }
    // Like every request of a session: another principal's session is not found (404).
    let principal = principal_of(&parts);
    match shared
        .session(&parts.headers, principal.as_ref(), None)
        .await
    {
        Ok(session) => {
            if let Some(backing) = session.backing() {
                // Gone for every replica. If the store cannot be reached, the record stays: the
                // session is closed here all the same, and the client may DELETE again.
                let deleted = session.delete_shared().await;
                shared.sessions.delete(&session.id);
                if let Err(e) = deleted {
                    return with_principal(store_unavailable(None, &e), &parts);
                }
                if let Err(e) = backing
                    .store
                    .publish(SESSION_CLOSED, session.id.as_bytes())
                    .await
                {
                    tracing::warn!(error = %e, "the other replicas were not told of a deleted session: their copies expire when idle");
                }
            }
            shared.sessions.delete(&session.id);
            status_only(StatusCode::NO_CONTENT)
        }
        Err(refused) => with_principal(*refused, &parts),
    }
}

impl Shared {
    /// 403 for a request from an origin or to a host that is not allowed: the handler never runs.
    fn screen(&self, parts: &Parts) -> Option<Response<Body>> {
        let local_loopback = parts
            .extensions
            .get::<LocalAddr>()
            .map(|a| a.0.ip().to_canonical().is_loopback());
        if !header_checks::host_allowed(
            &self.config.hosts,
            &parts.headers,
            &parts.uri,
            local_loopback,
        ) {
            return Some(rpc_error(
                StatusCode::FORBIDDEN,
                None,
                ErrorObject::invalid_request("this host name is not allowed"),
            ));
        }
        if !header_checks::origin_allowed(&self.config.origins, &parts.headers) {
            return Some(rpc_error(
                StatusCode::FORBIDDEN,
                None,
                ErrorObject::invalid_request("this origin is not allowed"),
            ));
        }
        None
    }

    /// The session named by `Mcp-Session-Id`: 400 without one, 404 when there is no such session
    /// (any more), 400 when `MCP-Protocol-Version` is not a legacy version. With a store, a
    /// session this replica does not hold is looked up there and adopted (503 when the store
    /// cannot be reached).
    async fn session(
        self: &Arc<Self>,
        headers: &HeaderMap,
        principal: Option<&Principal>,
        id: Option<&RequestId>,
    ) -> Result<Arc<Session>, Refused> {
        let Some(value) = headers.get(SESSION_ID) else {
            return Err(Box::new(rpc_error(
                StatusCode::BAD_REQUEST,
                id.cloned(),
                ErrorObject::invalid_request(
                    "the `Mcp-Session-Id` header is missing: send `initialize` first, or a modern request with `_meta`",
                ),
            )));
        };
        let not_found = || {
            Box::new(rpc_error(
                StatusCode::NOT_FOUND,
                id.cloned(),
                ErrorObject::invalid_request(
                    "no such session: send `initialize` to start a new one",
                ),
            ))
        };
        let Ok(value) = value.to_str().map(str::trim) else {
            return Err(not_found());
        };
        // A session belongs to the principal that started it: another one sees 404.
        let session = match (self.sessions.get(value, principal), &self.backing) {
            (Some(session), _) => session,
            (None, None) => return Err(not_found()),
            (None, Some(backing)) => match self.adopt(backing, value, principal, id).await? {
                Some(session) => session,
                None => return Err(not_found()),
            },
        };
        check_legacy_version(headers, id)?;
        Ok(session)
    }

    /// Takes over the session `value` from the store, where another replica left it: `None`
    /// when there is no such session, or it is someone else's.
    async fn adopt(
        self: &Arc<Self>,
        backing: &Arc<Backing>,
        value: &str,
        principal: Option<&Principal>,
        id: Option<&RequestId>,
    ) -> Result<Option<Arc<Session>>, Refused> {
        if !sessions::plausible_id(value) {
            return Ok(None);
        }
        let bytes = match backing.store.get(&sessions::record_key(value)).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(e) => return Err(Box::new(store_unavailable(id.cloned(), &e))),
        };
        let Some(record) = Record::decode(value, &bytes) else {
            return Ok(None);
        };
        if record.owner().as_ref() != principal {
            return Ok(None);
        }
        let caller = Caller::of(principal, None);
        let Some(session) = Session::adopt(
            self.server.clone(),
            &self.config,
            &record,
            caller,
            backing.clone(),
        ) else {
            return Ok(None);
        };
        // The GET stream goes on numbering its events where the store's log is.
        match backing
            .store
            .read_after(&sessions::stream_key(value, 0), 0)
            .await
        {
            Ok(entries) => {
                if let Some((last, _)) = entries.last() {
                    session.standalone.skip_to(last + 1);
                }
            }
            Err(e) => return Err(Box::new(store_unavailable(id.cloned(), &e))),
        }
        let session = match self.sessions.adopt(session) {
            Ok(session) => session,
            Err(_) => return Err(Box::new(unavailable(id.cloned(), "too many sessions"))),
        };
        self.start_reaper();
        session.claim_home().await;
        tracing::debug!(
            session = value,
            "a session taken over from the shared store"
        );
        Ok(Some(session))
    }

    /// Routes a request ([`Shared::route`]); a refusal is audited with the request's method.
    async fn request(
        self: &Arc<Self>,
        headers: &HeaderMap,
        req: JsonRpcRequest,
        identity: Option<Identity>,
        peer: Option<IpAddr>,
    ) -> Response<Body> {
        if !self.server.inner.audit.is_enabled() {
            return self.route(headers, req, identity, peer).await;
        }
        let method = req.method.clone();
        let mut response = self.route(headers, req, identity, peer).await;
        if let Some(refusal) = response.extensions_mut().get_mut::<Refusal>() {
            refusal.method = Some(method);
        }
        response
    }

    /// Routes a request by era: modern `_meta` (or a modern `MCP-Protocol-Version`) makes it
    /// stateless; otherwise `initialize` starts a session and the rest belong to one.
    async fn route(
        self: &Arc<Self>,
        headers: &HeaderMap,
        req: JsonRpcRequest,
        identity: Option<Identity>,
        peer: Option<IpAddr>,
    ) -> Response<Body> {
        let peek = match Peek::of(req.params.as_deref()) {
            Ok(peek) => peek,
            Err(e) => return rpc_error(StatusCode::BAD_REQUEST, Some(req.id), e),
        };
        let name = peek.name(&req.method);
        let mirrored = Mirrored {
            method: &req.method,
            version: peek.version(),
            name: name.as_deref(),
        };
        if let Err(e) = header_checks::check_mirrored(headers, &mirrored) {
            return rpc_error(StatusCode::BAD_REQUEST, Some(req.id), e);
        }
        if mirrored.version.is_some() && req.method == "tools/call" {
            // SEP-2243: a tool's `x-mcp-header` parameters travel in `Mcp-Param-*` headers too.
            let params = mirrored
                .name
                .map(|tool| self.server.header_params(tool))
                .unwrap_or_default();
            let arguments: Option<serde_json::Map<String, Value>> = if params.is_empty() {
                None
            } else {
                peek.names
                    .arguments
                    .and_then(|raw| serde_json::from_str(raw.get()).ok())
            };
            if let Err(e) = header_checks::check_params(headers, &params, arguments.as_ref()) {
                return rpc_error(StatusCode::BAD_REQUEST, Some(req.id), e);
            }
        }
        if let Some(version) = mirrored.version {
            // The engine answers an unsupported version with -32022; a supported one must come
            // with the client's capabilities.
            let supported = ProtocolVersion::parse(version).filter(|v| v.era() == Era::Modern);
            if supported.is_some() && !peek.has_capabilities() {
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    Some(req.id),
                    ErrorObject::invalid_params(format!(
                        "`_meta` lacks `{}`, which every 2026-07-28 request carries",
                        mcp_core::meta::keys::CLIENT_CAPABILITIES
                    )),
                );
            }
            // What the engine reads of every modern request, read here from this pass.
            let members = supported.and(peek.reserved.as_ref()).map(Reserved::members);
            return self.modern(req, supported, members, identity).await;
        }
        if modern_header(headers) {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                Some(req.id),
                ErrorObject::invalid_params(format!(
                    "a 2026-07-28 request carries `{}` in `params._meta`",
                    mcp_core::meta::keys::PROTOCOL_VERSION
                )),
            );
        }
        if req.method == Initialize::METHOD {
            self.initialize(headers, req, identity, peer).await
        } else {
            self.legacy(headers, req, identity).await
        }
    }

    /// The HTTP response carrying a request's final message. A policy refusal for missing
    /// scopes is a 403 with the `insufficient_scope` challenge when this endpoint is an OAuth
    /// resource server, so that the client can step up its authorization.
    fn answer(&self, message: &JsonRpcMessage, modern: bool) -> Response<Body> {
        #[cfg(feature = "auth")]
        if let (Some(rs), JsonRpcMessage::Error(e)) = (&self.config.auth, message)
            && e.error.code == crate::admission::ACCESS_DENIED
            && let Some(data) = &e.error.data
            && data.get("reason").and_then(Value::as_str) == Some("insufficient_scope")
        {
            let scopes: Vec<String> = data
                .get("scopes")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let challenge = super::auth::insufficient_scope(rs, &scopes);
            let mut response = json_response(StatusCode::FORBIDDEN, message);
            if let Some(v) = challenge
                .headers()
                .get(axum::http::header::WWW_AUTHENTICATE)
            {
                response
                    .headers_mut()
                    .insert(axum::http::header::WWW_AUTHENTICATE, v.clone());
            }
            return response;
        }
        json_response(status_of(message, modern), message)
    }

    /// Waits for a message of the request, unless everything is being shut down.
    async fn recv(&self, rx: &mut mpsc::Receiver<JsonRpcMessage>) -> Option<JsonRpcMessage> {
        tokio::select! {
            biased;
            m = rx.recv() => m,
            () = self.abort.cancelled() => None,
        }
    }

    /// A modern request: no session; the response stream is the request's lifetime.
    /// `version`: the supported version `_meta` names (`None`: one the engine refuses);
    /// `members`: what the engine reads of that `_meta`, read with the params.
    async fn modern(
        self: &Arc<Self>,
        req: JsonRpcRequest,
        version: Option<ProtocolVersion>,
        members: Option<Members>,
        identity: Option<Identity>,
    ) -> Response<Body> {
        let id = req.id.clone();
        let long_lived = req.method == SubscriptionsListen::METHOD;
        let conn = Connection::stateless(self.server.clone(), version, members);
        let cancel = CancelOnDrop(conn.clone());
        let (tx, mut rx) = mpsc::channel(self.config.event_buffer);
        let sink = Sink::new(tx);
        let mut work = Box::pin(conn.clone().serve_here(req, sink.clone(), identity));
        let mode = if long_lived {
            ResponseMode::Sse
        } else {
            self.config.response_mode
        };
        // The request is served here, in the response's own task, until it answers or says
        // something that needs a stream first; only a stream's request goes on in a task of its
        // own. (A task per request, and its answer handed over through the channel, cost about
        // 1.5 µs a call in process, and woke the other runtime worker.)
        let mut first = None;
        let mut answered = None;
        if mode != ResponseMode::Sse {
            loop {
                tokio::select! {
                    biased;
                    m = self.recv(&mut rx) => match m {
                        // No stream to carry it.
                        Some(_) if mode == ResponseMode::Json => {}
                        Some(m) => {
                            first = Some(m);
                            break;
                        }
                        None => return unavailable(Some(id), "the server is shutting down"),
                    },
                    m = &mut work => match m {
                        // What it said before it answered arrives first, and needs the stream.
                        Some(m) => match rx.try_recv() {
                            Ok(said) if mode == ResponseMode::Auto => {
                                first = Some(said);
                                answered = Some(m);
                                break;
                            }
                            _ => return self.answer(&m, true),
                        },
                        None => return unavailable(Some(id), "the server is shutting down"),
                    },
                }
            }
        }
        let log = EventLog::new(0, false, self.config.event_buffer);
        let reader = log.attach(None);
        if let Some(m) = first {
            log.push(&m, false);
        }
        tokio::spawn(async move {
            let rest = answer_later(sink, answered.map(Some), Some(work));
            tokio::join!(rest, sse::pump(rx, log, Some(id), conn, None));
        });
        let stop = if long_lived {
            &self.shutdown
        } else {
            &self.abort
        };
        reader
            .keep_alive(self.config.sse_keep_alive)
            .stop_on(stop.clone())
            .guard(cancel)
            .into_response()
    }

    /// `initialize`: a new legacy session, whose id goes back with the result.
    async fn initialize(
        self: &Arc<Self>,
        headers: &HeaderMap,
        req: JsonRpcRequest,
        identity: Option<Identity>,
        peer: Option<IpAddr>,
    ) -> Response<Body> {
        if let Err(refused) = check_legacy_version(headers, Some(&req.id)) {
            return *refused;
        }
        let id = req.id.clone();
        // The session belongs to the authenticated principal, and counts against its quota
        // (without authentication, against the client address's).
        let owner = identity.as_ref().map(Identity::principal);
        let caller = Caller::of(owner.as_ref(), peer);
        if let Err(full) = self.sessions.room_for(&caller) {
            return no_room(id, full);
        }
        let session = Session::new(
            self.server.clone(),
            &self.config,
            owner,
            caller,
            self.backing.clone(),
        );
        let (tx, mut rx) = mpsc::channel(self.config.event_buffer);
        session
            .conn
            .handle_as(JsonRpcMessage::Request(req), Sink::new(tx), identity)
            .await;
        let result = loop {
            match self.recv(&mut rx).await {
                Some(m) if is_final(&m, &id) => break m,
                Some(_) => {}
                None => return unavailable(Some(id), "the server is shutting down"),
            }
        };
        if matches!(result, JsonRpcMessage::Error(_)) {
            return json_response(StatusCode::OK, &result);
        }
        // Shared: the other replicas know the session before its client does.
        if let Err(e) = session.save().await {
            return store_unavailable(Some(id), &e);
        }
        if let Err(full) = self.sessions.insert(session.clone()) {
            return no_room(id, full);
        }
        self.start_reaper();
        let mut response = match self.config.response_mode {
            ResponseMode::Sse => {
                let log = session.open_stream(1);
                let mut reader = log.attach(None);
                if resumes(&session) {
                    reader = reader.prelude(sse::priming_event(log.id(), 0, self.config.sse_retry));
                }
                log.push(&result, true);
                let forget = {
                    let session = session.clone();
                    move || session.forget_stream(log.id())
                };
                reader
                    .stop_on(self.abort.clone())
                    .on_complete(forget)
                    .into_response()
            }
            ResponseMode::Auto | ResponseMode::Json => json_response(StatusCode::OK, &result),
        };
        response.headers_mut().insert(
            SESSION_ID,
            HeaderValue::from_str(&session.id).expect("session ids are visible ASCII"),
        );
        response
    }

    /// A request of a legacy session. Its stream outlives the HTTP response: a client that
    /// loses the connection resumes with GET and `Last-Event-ID`.
    async fn legacy(
        self: &Arc<Self>,
        headers: &HeaderMap,
        req: JsonRpcRequest,
        identity: Option<Identity>,
    ) -> Response<Body> {
        let principal = identity.as_ref().map(Identity::principal_ref);
        let session = match self.session(headers, principal, Some(&req.id)).await {
            Ok(session) => session,
            Err(refused) => return *refused,
        };
        let busy = session.busy();
        let id = req.id.clone();
        let mode = self.config.response_mode;
        let early = EarlyClose::new(
            resumes(&session) && mode != ResponseMode::Json,
            self.config.sse_retry,
        );
        let (tx, mut rx) = mpsc::channel(self.config.event_buffer);
        let sink = Sink::with_stream(tx, early.clone());
        // Served here, in the response's own task, until it answers or says something that
        // needs a stream first (see `modern`). A legacy request outlives its response: if the
        // response is dropped first, the request goes on in a task of its own, and keeps its
        // session from expiring meanwhile.
        let mut work = {
            let running = session.busy();
            let serve = session.conn.clone().serve_here(req, sink.clone(), identity);
            // A combinator, not an `async` block: a block would hold the request's future
            // twice (as what it captured and as what it awaits), a box twice as large.
            Detached::new(serve.map(move |answer| {
                drop(running);
                answer
            }))
        };
        let mut first = None;
        let mut answered = None;
        let mut close = None;
        match mode {
            ResponseMode::Sse => {}
            ResponseMode::Json => loop {
                tokio::select! {
                    biased;
                    m = self.recv(&mut rx) => match m {
                        // To the session's standalone stream: this response carries one object.
                        Some(m) => {
                            session.standalone.record(&m, false).await;
                        }
                        None => return unavailable(Some(id), "the server is shutting down"),
                    },
                    m = &mut work => {
                        while let Ok(said) = rx.try_recv() {
                            session.standalone.record(&said, false).await;
                        }
                        return match m {
                            Some(m) => self.answer(&m, false),
                            // Cancelled: nothing to answer.
                            None => empty_stream(),
                        };
                    }
                }
            },
            ResponseMode::Auto => tokio::select! {
                biased;
                m = self.recv(&mut rx) => match m {
                    Some(m) => first = Some(m),
                    None => return unavailable(Some(id), "the server is shutting down"),
                },
                retry = early.requested() => close = Some(retry),
                m = &mut work => match rx.try_recv() {
                    // What it said before it answered arrives first, on the stream.
                    Ok(said) => {
                        first = Some(said);
                        answered = Some(m);
                    }
                    Err(_) => {
                        return match m {
                            Some(m) => self.answer(&m, false),
                            None => empty_stream(),
                        };
                    }
                },
            },
        }
        let log = session.open_stream(self.config.event_buffer);
        let mut reader = log.attach(None);
        if resumes(&session) {
            reader = reader.prelude(sse::priming_event(log.id(), 0, self.config.sse_retry));
        }
        if let Some(m) = first {
            log.record(&m, false).await;
        }
        if let Some(retry) = close {
            log.close_connection(retry);
        }
        // A running request keeps its session from expiring, whether or not a client reads it.
        let running = session.busy();
        let conn = session.conn.clone();
        let fed = log.clone();
        let rest = work.take();
        tokio::spawn(async move {
            let rest = answer_later(sink, answered, rest);
            tokio::join!(rest, sse::pump(rx, fed, Some(id), conn, Some(early)));
            drop(running);
        });
        let forget = {
            let session = session.clone();
            let stream = log.id();
            move || session.forget_stream(stream)
        };
        reader
            .keep_alive(self.config.sse_keep_alive)
            .stop_on(self.abort.clone())
            .guard(busy)
            .on_complete(forget)
            .into_response()
    }

    /// GET: the session's stream, or with `Last-Event-ID` the rest of the stream that event
    /// belongs to. A new GET replaces the connection reading the same stream, which ends.
    async fn stream(&self, headers: &HeaderMap, session: Arc<Session>) -> Response<Body> {
        let last_event = match header_checks::single(headers, &LAST_EVENT_ID) {
            Ok(last) => last,
            Err(e) => return rpc_error(StatusCode::BAD_REQUEST, None, e),
        };
        let busy = session.busy();
        if last_event.is_none_or(|last| sse::parse_event_id(last).is_some_and(|(s, _)| s == 0)) {
            // The client reads the GET stream here: this replica writes it from now on.
            session.claim_home().await;
        }
        let unknown = || {
            rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                ErrorObject::invalid_request(
                    "unknown `Last-Event-ID`: the stream is gone or never existed",
                ),
            )
        };
        let (log, reader) = match last_event {
            Some(last) => {
                let Some((stream, seq)) = sse::parse_event_id(last) else {
                    return unknown();
                };
                let local = session.stream(stream);
                match session.backing() {
                    None => {
                        let Some(log) = local else {
                            return unknown();
                        };
                        let reader = log.attach(Some(seq));
                        (log, reader)
                    }
                    Some(backing) => {
                        match self
                            .resume_shared(&session, backing, stream, seq, local)
                            .await
                        {
                            Ok(Some(found)) => found,
                            Ok(None) => return unknown(),
                            Err(refused) => return *refused,
                        }
                    }
                }
            }
            None => {
                let log = session.standalone.clone();
                let mut reader = log.attach(None);
                if resumes(&session) {
                    let position = reader.position();
                    reader = reader.prelude(sse::priming_event(0, position, self.config.sse_retry));
                }
                (log, reader)
            }
        };
        let mut reader = reader.keep_alive(self.config.sse_keep_alive).guard(busy);
        if log.id() == 0 {
            reader = reader.stop_on(self.shutdown.clone());
        } else {
            let stream = log.id();
            let session = session.clone();
            reader = reader
                .stop_on(self.abort.clone())
                .on_complete(move || session.forget_stream(stream));
        }
        reader.into_response()
    }

    /// Resumes stream `stream` of a shared session after event `seq`: the events after it that
    /// the store keeps (other replicas' included), then what comes. A stream this replica does
    /// not hold (another replica's request) is followed in the store. `None`: no such stream.
    async fn resume_shared(
        &self,
        session: &Session,
        backing: &Backing,
        stream: u64,
        seq: u64,
        local: Option<Arc<EventLog>>,
    ) -> Result<Option<(Arc<EventLog>, sse::Reader)>, Refused> {
        let key = sessions::stream_key(&session.id, stream);
        let Some(log) = local else {
            let entries = match backing.store.read_after(&key, 0).await {
                Ok(entries) => entries,
                Err(e) => return Err(Box::new(store_unavailable(None, &e))),
            };
            if entries.is_empty() {
                return Ok(None);
            }
            let log = sse::follow(
                stream,
                self.config.event_buffer,
                entries,
                backing.store.clone(),
                key,
            );
            let reader = log.attach(Some(seq));
            return Ok(Some((log, reader)));
        };
        let entries = match backing.store.read_after(&key, seq).await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "a stream resumed from this replica's events only: the shared store is unavailable");
                let reader = log.attach(Some(seq));
                return Ok(Some((log, reader)));
            }
        };
        if let Some((first, _)) = entries.first()
            && *first > seq.saturating_add(1)
        {
            tracing::warn!(
                stream,
                lost = *first - seq - 1,
                "resumed stream: events no longer held are lost"
            );
        }
        let upto = entries.last().map_or(seq, |(last, _)| (*last).max(seq));
        let mut reader = log.attach(Some(upto));
        if !entries.is_empty() {
            reader = reader.prelude(sse::replayed(stream, &entries));
        }
        Ok(Some((log, reader)))
    }

    /// A notification, or the client's answer to a server request: 202.
    async fn accept(
        self: &Arc<Self>,
        headers: &HeaderMap,
        message: JsonRpcMessage,
        identity: Option<&Identity>,
    ) -> Response<Body> {
        if headers.get(SESSION_ID).is_none() {
            let modern = match &message {
                JsonRpcMessage::Notification(n) => {
                    Peek::of(n.params.as_deref()).is_ok_and(|p| p.version().is_some())
                }
                _ => false,
            };
            // A modern notification concerns no session; nothing in this revision needs one
            // over HTTP (closing a stream is how a request is cancelled).
            if modern {
                return status_only(StatusCode::ACCEPTED);
            }
        }
        let principal = identity.map(Identity::principal_ref);
        match self.session(headers, principal, None).await {
            Ok(session) => {
                let _busy = session.busy();
                session.conn.deliver(message);
                // `notifications/initialized` is shared before it is acknowledged.
                session.save_if_changed().await;
                status_only(StatusCode::ACCEPTED)
            }
            Err(refused) => *refused,
        }
    }

    fn start_reaper(self: &Arc<Self>) {
        if !self.reaper_started.swap(true, Ordering::SeqCst) {
            tokio::spawn(reap(Arc::downgrade(self)));
            if let Some(backing) = &self.backing {
                tokio::spawn(follow_deletions(
                    Arc::downgrade(self),
                    backing.store.subscribe(),
                    self.abort.clone(),
                ));
            }
        }
    }
}

/// The topic of the store's bus on which a DELETE tells every replica to drop its copy of the
/// session (the payload is the session id).
const SESSION_CLOSED: &str = "session-closed";

/// Closes this replica's copy of the sessions deleted on any replica, and applies to its copies
/// the changes made through the others, until the endpoint goes away.
async fn follow_deletions(
    shared: Weak<Shared>,
    mut messages: tokio::sync::broadcast::Receiver<crate::store::Message>,
    stop: CancellationToken,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let message = tokio::select! {
            m = messages.recv() => m,
            () = stop.cancelled() => return,
        };
        let message = match message {
            Ok(m) => m,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "missed messages of other replicas");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if message.topic == SESSION_CLOSED {
            if let Ok(id) = std::str::from_utf8(&message.payload) {
                shared.sessions.remove(id);
            }
        } else if message.topic == sessions::SESSION_HOME {
            if let Ok(home) = serde_json::from_slice::<sessions::Home>(&message.payload)
                && let Some(session) = shared.sessions.held(&home.id)
            {
                session.yield_home(home.claim);
            }
        } else if message.topic == sessions::SESSION_CHANGED
            && let Some(backing) = &shared.backing
            && let Some(record) = Record::from_message(&message.payload, &backing.replica)
            && let Some(session) = shared.sessions.held(record.id())
        {
            session.apply(&record);
        }
    }
}

/// The authenticated principal of a request, if any.
fn principal_of(parts: &Parts) -> Option<Principal> {
    parts.extensions.get::<Identity>().map(Identity::principal)
}

/// The client's address: from [`crate::http::serve`], or axum's `ConnectInfo`.
fn peer_of(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<PeerAddr>()
        .map(|a| a.0.ip())
        .or_else(|| {
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        })
}

/// The refusal of an `initialize` for which there is no room: 503 when the endpoint is full,
/// 429 when the caller holds its share.
fn no_room(id: RequestId, full: Full) -> Response<Body> {
    match full {
        Full::Total => unavailable(Some(id), "too many sessions"),
        Full::Caller(limit) => rpc_error(
            StatusCode::TOO_MANY_REQUESTS,
            Some(id),
            ErrorObject::new(
                SERVER_BUSY,
                format!(
                    "too many sessions: you already hold {limit}, the most one caller may; close one (DELETE) or let one expire"
                ),
            )
            .with_data(serde_json::json!({ "reason": "session_quota", "limit": limit })),
        ),
    }
}

/// Whether `MCP-Protocol-Version` names a modern version.
fn modern_header(headers: &HeaderMap) -> bool {
    matches!(
        header_checks::single(headers, &PROTOCOL_VERSION),
        Ok(Some(v)) if ProtocolVersion::parse(v).is_some_and(|v| v.era() == Era::Modern)
    )
}

/// `MCP-Protocol-Version` on a legacy request: absent means 2025-03-26; otherwise it must be a
/// legacy version (400).
fn check_legacy_version(headers: &HeaderMap, id: Option<&RequestId>) -> Result<(), Refused> {
    match header_checks::single(headers, &PROTOCOL_VERSION) {
        Err(e) => Err(Box::new(rpc_error(StatusCode::BAD_REQUEST, id.cloned(), e))),
        Ok(None) => Ok(()),
        Ok(Some(v)) => match ProtocolVersion::parse(v) {
            Some(p) if p.era() == Era::Legacy => Ok(()),
            _ => Err(Box::new(rpc_error(
                StatusCode::BAD_REQUEST,
                id.cloned(),
                ErrorObject::unsupported_protocol_version(&legacy_versions(), v),
            ))),
        },
    }
}

/// Closes idle sessions until the endpoint goes away.
async fn reap(shared: Weak<Shared>) {
    loop {
        let Some(s) = shared.upgrade() else {
            return;
        };
        s.sessions.reap();
        let period = s.sessions.reap_period();
        let stop = s.abort.clone();
        drop(s);
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = stop.cancelled() => return,
        }
    }
}
