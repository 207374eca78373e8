//! Streamable HTTP: each message is a POST; answers come back as JSON or as an SSE stream.
//!
//! Legacy sessions are handled here: the `Mcp-Session-Id` from the `initialize` answer goes on
//! every later request, a 404 for a known session re-initializes and retries once, the session's
//! GET stream carries what the server sends outside requests, and an SSE stream that breaks is
//! resumed with `Last-Event-ID` after the server's `retry` delay. Modern requests carry
//! `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers, and a `tools/call` carries an
//! `Mcp-Param-{Name}` header for each argument the tool's listed `inputSchema` marks with
//! `x-mcp-header` (values that are not plain visible ASCII go as `=?base64?...?=`).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use futures::future::{FutureExt, Shared};
use mcp_core::jsonrpc::{JsonRpcNotification, JsonRpcRequest, ParamsPeek, raw_str};
use mcp_core::meta::MetaPeek;
use mcp_core::sse::{SseLimits, SseParser};
use mcp_core::{ErrorCode, ErrorObject, JsonRpcError, JsonRpcMessage, RequestId};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, WWW_AUTHENTICATE,
};
use serde_json::Value;
use tokio::sync::{Mutex as AsyncMutex, oneshot};
use tokio_util_lite::CancelFlag;

use crate::auth::{Attempts, Authorizer, OAuthConfig, Presented};
use crate::param_headers::{ToolHeaders, encode_header_value};
use crate::transport::{Closed, Outbound, Transport};

/// The `data` key that marks an error made up by the transport, not sent by the server.
pub(crate) const TRANSPORT_ERROR: &str = "mcp-client/transport";
/// The `data` key with the HTTP status of an error made up by the transport.
pub(crate) const HTTP_STATUS: &str = "mcp-client/httpStatus";

/// Attempts to resume a broken SSE stream before giving up.
const MAX_RESUMES: u32 = 5;
/// How long the GET stream of a new session may take to open before the client goes on anyway.
const GET_OPEN_WAIT: Duration = Duration::from_secs(3);
/// The wait before resuming when the server gave no `retry`.
const DEFAULT_RETRY: Duration = Duration::from_millis(1000);
/// How long a kept-alive connection may stay idle and still be reused: below the idle timeouts
/// of common servers (5 seconds for Node's HTTP server and uvicorn, 10 for this SDK's), as
/// Node's own client (undici) keeps it.
const DEFAULT_POOL_IDLE: Duration = Duration::from_secs(4);

/// A server reached over Streamable HTTP.
#[derive(Debug, Clone)]
pub struct HttpServer {
    url: String,
    headers: Vec<(String, String)>,
    sse: SseLimits,
    timeout: Option<Duration>,
    pool_idle: Duration,
    oauth: Option<OAuthConfig>,
}

impl HttpServer {
    /// The server's MCP endpoint, e.g. `http://127.0.0.1:8000/mcp`.
    pub fn new(url: impl Into<String>) -> Self {
        HttpServer {
            url: url.into(),
            headers: Vec::new(),
            sse: SseLimits::default(),
            timeout: None,
            pool_idle: DEFAULT_POOL_IDLE,
            oauth: None,
        }
    }

    /// How long a kept-alive connection to the server may stay idle and still carry the next
    /// request (default 4 seconds); after that the client opens a new one. Keep it below the
    /// server's own idle timeout (5 seconds for Node's HTTP server and uvicorn, 10 for this
    /// SDK's server, `mcp_server::http::HttpConfig::header_read_timeout`): a request sent on a
    /// connection the server is closing at that moment fails with
    /// [`crate::Error::Connection`].
    #[must_use]
    pub fn pool_idle_timeout(mut self, idle: Duration) -> Self {
        self.pool_idle = idle;
        self
    }

    /// Authorizes with OAuth 2.1: sends `Authorization: Bearer` on every request and, on
    /// HTTP 401 (or 403 `insufficient_scope`), runs the authorization the configuration
    /// describes and sends the request again once. When authorization fails, the call fails
    /// with [`crate::Error::Http`] (status 401 or 403, see [`crate::Error::is_authorization`]),
    /// and later requests of the same transport fail the same way without sending the user
    /// through it again (connect again to retry). The deprecated HTTP+SSE fallback of
    /// [`crate::ClientBuilder::connect_http`] does not authorize. See [`crate::auth`].
    #[must_use]
    pub fn oauth(mut self, config: OAuthConfig) -> Self {
        self.oauth = Some(config);
        self
    }

    /// Adds a header to every request (e.g. `Authorization`).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Limits on what the server sends: the size of an SSE event and of a plain
    /// `application/json` answer ([`SseLimits::max_event_size`], 4 MiB by default; a larger
    /// answer fails its request with `HTTP 502: the response body exceeds N bytes`, read no
    /// further), and the run of SSE comment lines without an event.
    #[must_use]
    pub fn sse_limits(mut self, limits: SseLimits) -> Self {
        self.sse = limits;
        self
    }

    /// A transport over the deprecated HTTP+SSE transport of 2024-11-05, at this URL (the
    /// server's SSE endpoint). [`crate::ClientBuilder::connect_http`] falls back to it by itself.
    pub async fn legacy_sse_transport(&self) -> crate::Result<Transport> {
        let http = self.client()?;
        crate::sse_legacy::connect(http, &self.url, self.sse).await
    }

    fn client(&self) -> crate::Result<reqwest::Client> {
        let mut headers = HeaderMap::new();
        for (k, v) in &self.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| crate::Error::Connection(format!("header `{k}`: {e}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| crate::Error::Connection(format!("header `{k}`: {e}")))?;
            headers.insert(name, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .pool_idle_timeout(self.pool_idle);
        if let Some(t) = self.timeout {
            builder = builder.timeout(t);
        }
        builder
            .build()
            .map_err(|e| crate::Error::Connection(e.to_string()))
    }

    /// A transport to the server. Nothing is sent until the client sends its first message.
    pub fn transport(self) -> crate::Result<Transport> {
        let http = self.client()?;
        let stop = CancelFlag::default();
        let auth = match self.oauth {
            Some(config) => Some(Arc::new(
                Authorizer::new(config, &self.url)
                    .map_err(|e| crate::Error::Connection(e.to_string()))?,
            )),
            None => None,
        };
        let connection = Arc::new(Connection {
            http,
            auth,
            endpoint: reqwest::Url::parse(&self.url).ok(),
            url: self.url,
            sse: self.sse,
            deliver: OnceLock::new(),
            tool_headers: Arc::new(ToolHeaders::default()),
            session: Mutex::new(None),
            version: Mutex::new(None),
            initialize: Mutex::new(None),
            notified: Mutex::new(None),
            reinit: AsyncMutex::new(()),
            stop: stop.clone(),
        });
        Ok(Transport {
            out: Outbound::Http(connection.clone()),
            incoming: None,
            close: Some(Box::pin(async move {
                stop.cancel();
                connection.end_session().await;
            })),
        })
    }
}

/// A tiny cancellation flag (a `watch` channel), so the crate needs no tokio-util.
mod tokio_util_lite {
    use tokio::sync::watch;

    #[derive(Clone, Debug)]
    pub(super) struct CancelFlag(std::sync::Arc<watch::Sender<bool>>);

    impl Default for CancelFlag {
        fn default() -> Self {
            CancelFlag(std::sync::Arc::new(watch::channel(false).0))
        }
    }

    impl CancelFlag {
        pub(super) fn cancel(&self) {
            self.0.send_replace(true);
        }
        pub(super) fn is_cancelled(&self) -> bool {
            *self.0.borrow()
        }
        pub(super) async fn cancelled(&self) {
            let mut rx = self.0.subscribe();
            let _ = rx.wait_for(|c| *c).await;
        }
    }
}

/// A Streamable HTTP connection: its session, and what each POST needs.
///
/// No task of its own sits between the client and the server: a request is posted by the task
/// that waits for its answer ([`Connection::exchange`]), anything else by a task started for it
/// ([`Connection::start`]), and what comes back is handed to the client by the task that reads
/// it ([`Connection::deliver`]).
pub(crate) struct Connection {
    http: reqwest::Client,
    auth: Option<Arc<Authorizer>>,
    url: String,
    /// `url` parsed once, for the POST of every message (a string is parsed again each time);
    /// `None` when it does not parse, and the POST reports the error as before.
    endpoint: Option<reqwest::Url>,
    sse: SseLimits,
    /// How the client takes what comes back (set when it connects, before it sends anything).
    deliver: OnceLock<Deliver>,
    /// The `Mcp-Param-*` headers of each listed tool.
    tool_headers: Arc<ToolHeaders>,
    /// The legacy session id, once `initialize` was answered with one.
    session: Mutex<Option<String>>,
    /// The negotiated legacy version, for `MCP-Protocol-Version`.
    version: Mutex<Option<String>>,
    /// The `initialize` request, kept to start a new session after a 404.
    initialize: Mutex<Option<JsonRpcRequest>>,
    /// Done when the POST of the last notification sent has been answered: a notification is
    /// posted before anything sent after it (`initialized` must reach the server before the
    /// first request of the session). `None` when there is nothing to wait for.
    notified: Mutex<Option<Posted>>,
    reinit: AsyncMutex<()>,
    stop: CancelFlag,
}

/// How the client takes a message the server sent: called by the task that read it.
pub(crate) type Deliver = Box<dyn Fn(JsonRpcMessage) + Send + Sync>;

/// The end of a notification's POST (its sender dropped when it is done).
type Posted = Shared<oneshot::Receiver<()>>;

/// A request's POST, made by the task that waits for its answer ([`Connection::exchange`]);
/// dropped before it ends, it goes on in a task of its own.
pub(crate) struct Exchange(Option<futures::future::BoxFuture<'static, ()>>);

impl std::future::Future for Exchange {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let Some(post) = self.0.as_mut() else {
            return std::task::Poll::Ready(());
        };
        std::task::ready!(post.as_mut().poll(cx));
        self.0 = None;
        std::task::Poll::Ready(())
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if let Some(rest) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(rest);
        }
    }
}

/// The protocol version a modern request's `_meta` names.
fn modern_version(peek: &ParamsPeek<'_>) -> Option<String> {
    let meta = MetaPeek::of_meta(peek.meta).ok()?;
    meta.protocol_version().map(std::borrow::Cow::into_owned)
}

/// The raw params of a request or notification.
fn raw_params(m: &JsonRpcMessage) -> Option<&serde_json::value::RawValue> {
    match m {
        JsonRpcMessage::Request(JsonRpcRequest { params, .. })
        | JsonRpcMessage::Notification(JsonRpcNotification { params, .. }) => params.as_deref(),
        _ => None,
    }
}

fn failure(id: Option<&RequestId>, status: StatusCode, body: &str) -> Option<JsonRpcMessage> {
    let id = id?.clone();
    let mut text: String = body.chars().take(300).collect();
    if text.is_empty() {
        text = status.canonical_reason().unwrap_or("").to_owned();
    }
    Some(JsonRpcMessage::Error(JsonRpcError::new(
        Some(id),
        ErrorObject::new(
            ErrorCode(-32000),
            format!("HTTP {}: {text}", status.as_u16()),
        )
        .with_data(serde_json::json!({ HTTP_STATUS: status.as_u16() })),
    )))
}

impl Connection {
    /// What comes back goes to `deliver`, called by the task that read it (set once, by the
    /// client that connects, before anything is sent).
    pub(crate) fn deliver_to(&self, deliver: Deliver) {
        if self.deliver.set(deliver).is_err() {
            tracing::debug!("the transport already delivers to a client");
        }
    }

    /// Hands a message the server sent to the client.
    fn deliver(&self, message: JsonRpcMessage) {
        // The `x-mcp-header` registry reads `tools/list` answers before the client sees them,
        // so that a call right after a listing has its headers.
        self.tool_headers.note_incoming(&message);
        match self.deliver.get() {
            Some(deliver) => deliver(message),
            // Nothing is sent before a client connects, so nothing comes back before it either.
            None => tracing::debug!("a message arrived before a client connected; dropped"),
        }
    }

    /// The POST of a message, in its place: it waits for the notifications sent before it, and
    /// a notification sent now becomes what later messages wait for (its sender dropped when
    /// its POST is done). What comes back is delivered.
    fn posting(
        self: &Arc<Self>,
        message: JsonRpcMessage,
    ) -> Result<impl Future<Output = ()> + Send + 'static, Closed> {
        if self.stop.is_cancelled() {
            return Err(Closed);
        }
        self.tool_headers.note_outgoing(&message);
        let (after, done) = {
            let mut notified = self.notified.lock().expect("not poisoned");
            if notified.as_ref().is_some_and(|n| n.peek().is_some()) {
                *notified = None;
            }
            let after = notified.clone();
            let done = matches!(message, JsonRpcMessage::Notification(_)).then(|| {
                let (done, posted) = oneshot::channel::<()>();
                *notified = Some(posted.shared());
                done
            });
            (after, done)
        };
        let this = self.clone();
        Ok(async move {
            if let Some(after) = after {
                let _ = after.await;
            }
            this.post(message, true).await;
            drop(done);
        })
    }

    /// Starts the POST of a message on a task of its own (after the notifications sent before
    /// it); what comes back is delivered.
    pub(crate) fn start(self: &Arc<Self>, message: JsonRpcMessage) -> Result<(), Closed> {
        tokio::spawn(self.posting(message)?);
        Ok(())
    }

    /// Posts a request from the calling task (after the notifications sent before it), and
    /// delivers what comes back as it is read, the answer last. The caller awaits the answer
    /// and this together: the answer arrives without a hand-off between tasks. Dropped before
    /// it ends (the caller stopped waiting: a timeout, a cancelled call), the rest of the
    /// exchange goes on in a task of its own, as a POST started with [`Connection::start`]
    /// would: an authorization under way is finished and the connection is kept.
    pub(crate) fn exchange(self: &Arc<Self>, request: JsonRpcMessage) -> Result<Exchange, Closed> {
        Ok(Exchange(Some(Box::pin(self.posting(request)?))))
    }

    fn headers_for(&self, message: &JsonRpcMessage) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        if let Some(s) = self.session.lock().expect("not poisoned").as_deref()
            && let Ok(v) = HeaderValue::from_str(s)
        {
            h.insert("mcp-session-id", v);
        }
        let method = message.method();
        let raw = raw_params(message);
        // What the headers need, borrowed from the params (not parsed into a tree: they hold the
        // call's arguments).
        let peek = raw.and_then(|p| serde_json::from_str::<ParamsPeek<'_>>(p.get()).ok());
        let modern_version = peek.as_ref().and_then(modern_version);
        let version = modern_version
            .clone()
            .or_else(|| self.version.lock().expect("not poisoned").clone());
        if let Some(v) = version.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert("mcp-protocol-version", v);
        }
        if modern_version.is_some() {
            if let Some(m) = method.and_then(|m| HeaderValue::from_str(m).ok()) {
                h.insert("mcp-method", m);
            }
            let name = peek.as_ref().and_then(|p| match method {
                Some("tools/call" | "prompts/get") => p.name.and_then(raw_str),
                Some("resources/read") => p.uri.and_then(raw_str),
                Some("tasks/get" | "tasks/update" | "tasks/cancel") => p.task_id.and_then(raw_str),
                _ => None,
            });
            if let Some(v) = name
                .as_deref()
                .and_then(|n| HeaderValue::from_str(&encode_header_value(n)).ok())
            {
                h.insert("mcp-name", v);
            }
            // The whole params (arguments included) are parsed only for a tool that
            // designates some of its arguments as headers.
            if method == Some("tools/call")
                && let Some(tool) = name.as_deref()
                && self.tool_headers.designates(tool)
                && let Some(params) = raw.and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
            {
                for (k, v) in self.tool_headers.headers_for(&params) {
                    if let (Ok(k), Ok(v)) = (
                        HeaderName::from_bytes(k.as_bytes()),
                        HeaderValue::from_str(&v),
                    ) {
                        h.insert(k, v);
                    }
                }
            }
        }
        h
    }

    /// Sends one message; what comes back is delivered.
    async fn post(self: Arc<Self>, message: JsonRpcMessage, may_reinit: bool) {
        let id = match &message {
            JsonRpcMessage::Request(r) => Some(r.id.clone()),
            _ => None,
        };
        let is_initialize = message.method() == Some("initialize");
        if is_initialize && let JsonRpcMessage::Request(r) = &message {
            *self.initialize.lock().expect("not poisoned") = Some(r.clone());
        }
        let had_session = self.session.lock().expect("not poisoned").is_some();
        let Some(response) = self.send_authorized(&message, id.as_ref()).await else {
            return;
        };
        let status = response.status();
        if status == StatusCode::NOT_FOUND && had_session && may_reinit && !is_initialize {
            // The session expired: start a new one, then send this message again.
            if self.reinitialize().await {
                Box::pin(self.post(message, false)).await;
                return;
            }
        }
        if is_initialize
            && let Some(s) = response
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
        {
            *self.session.lock().expect("not poisoned") = Some(s.to_owned());
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if content_type.starts_with("text/event-stream") && status.is_success() {
            self.read_stream(response, id.as_ref(), is_initialize).await;
            return;
        }
        let body = match read_body(response, self.sse.max_event_size).await {
            Ok(body) => body,
            Err(reason) => {
                if let Some(m) = failure(id.as_ref(), StatusCode::BAD_GATEWAY, &reason) {
                    self.deliver(m);
                }
                return;
            }
        };
        if status.is_success() && body.trim().is_empty() {
            return;
        }
        match JsonRpcMessage::from_json(&body) {
            Ok(mut m) => {
                // An HTTP error answering this POST is the answer to its request, even when the
                // server could not tell the request id (`"id": null`).
                if !status.is_success()
                    && let JsonRpcMessage::Error(e) = &mut m
                    && e.id.is_none()
                {
                    e.id = id.clone();
                }
                if is_initialize {
                    self.adopt_initialize(m).await;
                } else {
                    self.deliver(m);
                }
            }
            Err(_) => {
                if let Some(m) = failure(id.as_ref(), status, &body) {
                    self.deliver(m);
                }
            }
        }
    }

    /// The access token (and DPoP proof) for a `method` request, if this transport authorizes.
    async fn present(&self, method: &str) -> Option<Presented> {
        match &self.auth {
            Some(a) => a.present(method, &self.url).await,
            None => None,
        }
    }

    /// Adds the token to a `method` request.
    async fn authorized(
        &self,
        method: &str,
        request: reqwest::RequestBuilder,
    ) -> (reqwest::RequestBuilder, Option<String>) {
        match self.present(method).await {
            Some(p) => {
                let mut request = request.header(AUTHORIZATION, p.authorization);
                if let Some(proof) = p.dpop {
                    request = request.header("dpop", proof);
                }
                (request, Some(p.token))
            }
            None => (request, None),
        }
    }

    /// POSTs a message with the access token; on 401 (or 403 `insufficient_scope`) authorizes
    /// and sends it again. `None` when the failure was already reported to the waiter.
    async fn send_authorized(
        &self,
        message: &JsonRpcMessage,
        id: Option<&RequestId>,
    ) -> Option<reqwest::Response> {
        let mut attempts = Attempts::default();
        loop {
            let request = match &self.endpoint {
                Some(url) => self.http.post(url.clone()),
                None => self.http.post(&self.url),
            };
            let request = request
                .headers(self.headers_for(message))
                .body(message.to_json());
            let (request, sent) = self.authorized("POST", request).await;
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    self.fail(
                        id,
                        format!("cannot reach the server: {}", causes(&e.without_url())),
                        serde_json::json!({ TRANSPORT_ERROR: true }),
                    );
                    return None;
                }
            };
            let status = response.status();
            let Some(auth) = &self.auth else {
                return Some(response);
            };
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let nonce = response
                .headers()
                .get("dpop-nonce")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let step_up = status == StatusCode::FORBIDDEN
                && challenge
                    .as_deref()
                    .and_then(crate::auth::BearerChallenge::parse)
                    .is_some_and(|c| c.error.as_deref() == Some("insufficient_scope"));
            if status != StatusCode::UNAUTHORIZED && !step_up {
                return Some(response);
            }
            drop(response);
            match auth
                .handle(
                    status.as_u16(),
                    challenge.as_deref(),
                    sent.as_deref(),
                    nonce.as_deref(),
                    &mut attempts,
                )
                .await
            {
                Ok(()) => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "authorization failed");
                    self.fail(
                        id,
                        format!("HTTP {}: authorization failed: {e}", status.as_u16()),
                        serde_json::json!({ HTTP_STATUS: status.as_u16() }),
                    );
                    return None;
                }
            }
        }
    }

    /// Answers the waiter of `id` with an error the transport made up.
    fn fail(&self, id: Option<&RequestId>, message: String, data: Value) {
        if let Some(id) = id {
            self.deliver(JsonRpcMessage::Error(JsonRpcError::new(
                Some(id.clone()),
                ErrorObject::new(ErrorCode(-32000), message).with_data(data),
            )));
        }
    }

    /// Remembers the version an `initialize` answer negotiated; true when a session began.
    fn note_initialize(&self, m: &JsonRpcMessage) -> bool {
        let JsonRpcMessage::Response(r) = m else {
            return false;
        };
        if let Ok(v) = serde_json::from_str::<Value>(r.result.get())
            && let Some(version) = v.get("protocolVersion").and_then(Value::as_str)
        {
            *self.version.lock().expect("not poisoned") = Some(version.to_owned());
        }
        self.session.lock().expect("not poisoned").is_some()
    }

    /// Opens the session's GET stream, then passes an `initialize` answer on.
    async fn adopt_initialize(self: &Arc<Self>, m: JsonRpcMessage) {
        if self.note_initialize(&m) {
            self.open_get_stream().await;
        }
        self.deliver(m);
    }

    /// Opens the session's GET stream before the client hears the `initialize` answer: a
    /// server may send requests outside any POST (on this stream only) as soon as the session
    /// exists, and drops them when no stream is open yet.
    /// (Boxed: the stream's reader reads through `consume`, which calls this.)
    fn open_get_stream(self: &Arc<Self>) -> futures::future::BoxFuture<'static, ()> {
        let this = self.clone();
        Box::pin(async move {
            let first = match tokio::time::timeout(GET_OPEN_WAIT, this.get_request(None)).await {
                Ok(Some(Ok(r))) => Some(r),
                _ => None,
            };
            tokio::spawn(this.get_stream(first));
        })
    }

    /// Reads an SSE answer; resumes with `Last-Event-ID` if it breaks before the response.
    async fn read_stream(
        self: &Arc<Self>,
        first: reqwest::Response,
        id: Option<&RequestId>,
        is_initialize: bool,
    ) {
        let mut last_id: Option<String> = None;
        let mut retry = DEFAULT_RETRY;
        let mut next = Some(first);
        for _ in 0..=MAX_RESUMES {
            let response = match next.take() {
                Some(r) => r,
                None => {
                    // Resuming needs an event id to resume from, and a session to resume in.
                    let session = self.session.lock().expect("not poisoned").clone();
                    let (Some(last), Some(session)) = (last_id.clone(), session) else {
                        break;
                    };
                    tokio::select! {
                        () = tokio::time::sleep(retry) => {}
                        () = self.stop.cancelled() => return,
                    }
                    let mut req = self
                        .http
                        .get(&self.url)
                        .header(ACCEPT, "text/event-stream")
                        .header("mcp-session-id", session)
                        .header("last-event-id", last);
                    if let Some(v) = self.version.lock().expect("not poisoned").clone() {
                        req = req.header("mcp-protocol-version", v);
                    }
                    let (req, _) = self.authorized("GET", req).await;
                    match req.send().await {
                        Ok(r) if r.status().is_success() => r,
                        _ => continue,
                    }
                }
            };
            match self
                .consume(response, id, is_initialize, &mut last_id, &mut retry)
                .await
            {
                Consumed::Answered => return,
                Consumed::Failed => return,
                Consumed::Ended if id.is_none() => return,
                Consumed::Ended => {}
            }
        }
        if let Some(m) = failure(
            id,
            StatusCode::BAD_GATEWAY,
            "the event stream ended before the answer",
        ) {
            self.deliver(m);
        }
    }

    async fn consume(
        self: &Arc<Self>,
        response: reqwest::Response,
        id: Option<&RequestId>,
        is_initialize: bool,
        last_id: &mut Option<String>,
        retry: &mut Duration,
    ) -> Consumed {
        let mut parser = SseParser::new(self.sse);
        let mut body = response.bytes_stream();
        loop {
            let chunk = tokio::select! {
                c = body.next() => c,
                () = self.stop.cancelled() => return Consumed::Failed,
            };
            let Some(Ok(chunk)) = chunk else {
                return Consumed::Ended;
            };
            let events = match parser.push(&chunk) {
                Ok(e) => e,
                Err(e) => {
                    if let Some(m) = failure(id, StatusCode::BAD_GATEWAY, &e.to_string()) {
                        self.deliver(m);
                    }
                    return Consumed::Failed;
                }
            };
            for event in events {
                if let Some(i) = event.id {
                    *last_id = Some(i);
                }
                if let Some(r) = event.retry {
                    *retry = Duration::from_millis(r.min(60_000));
                }
                if event.data.trim().is_empty() {
                    continue;
                }
                let Ok(message) = JsonRpcMessage::from_json(&event.data) else {
                    tracing::warn!("an SSE event that is not a JSON-RPC message was ignored");
                    continue;
                };
                let answers = matches!(&message, JsonRpcMessage::Response(r) if Some(&r.id) == id)
                    || matches!(&message, JsonRpcMessage::Error(e) if e.id.as_ref() == id && id.is_some());
                if answers && is_initialize && self.note_initialize(&message) {
                    self.open_get_stream().await;
                }
                self.deliver(message);
                if answers {
                    return Consumed::Answered;
                }
            }
        }
    }

    /// The session's GET stream: what the server sends outside requests. Reconnects with
    /// `Last-Event-ID`; stops on 405 (the server has none) or when the transport closes.
    async fn get_stream(self: Arc<Self>, mut first: Option<reqwest::Response>) {
        let mut last_id: Option<String> = None;
        let mut retry = DEFAULT_RETRY;
        let mut failures = 0;
        while !self.stop.is_cancelled() && failures <= MAX_RESUMES {
            let response = match first.take() {
                Some(r) => Ok(r),
                None => match self.get_request(last_id.clone()).await {
                    Some(r) => r,
                    None => return,
                },
            };
            match response {
                Ok(r) if r.status() == StatusCode::METHOD_NOT_ALLOWED => return,
                Ok(r) if r.status().is_success() => {
                    failures = 0;
                    if let Consumed::Failed =
                        self.consume(r, None, false, &mut last_id, &mut retry).await
                    {
                        return;
                    }
                }
                _ => failures += 1,
            }
            tokio::select! {
                () = tokio::time::sleep(retry) => {}
                () = self.stop.cancelled() => return,
            }
        }
    }

    /// Sends a GET for the session's stream (resuming after `last_id`); `None` without a session.
    async fn get_request(
        &self,
        last_id: Option<String>,
    ) -> Option<reqwest::Result<reqwest::Response>> {
        let session = self.session.lock().expect("not poisoned").clone()?;
        let mut req = self
            .http
            .get(&self.url)
            .header(ACCEPT, "text/event-stream")
            .header("mcp-session-id", session);
        if let Some(v) = self.version.lock().expect("not poisoned").clone() {
            req = req.header("mcp-protocol-version", v);
        }
        if let Some(l) = last_id {
            req = req.header("last-event-id", l);
        }
        let (req, _) = self.authorized("GET", req).await;
        Some(req.send().await)
    }

    /// Starts a new session with the kept `initialize` request, once for many waiters.
    async fn reinitialize(self: &Arc<Self>) -> bool {
        let before = self.session.lock().expect("not poisoned").clone();
        let _guard = self.reinit.lock().await;
        if *self.session.lock().expect("not poisoned") != before {
            return true; // someone else already did it
        }
        let Some(mut init) = self.initialize.lock().expect("not poisoned").clone() else {
            return false;
        };
        *self.session.lock().expect("not poisoned") = None;
        init.id = RequestId::String(format!("reinit-{}", rand_suffix()));
        let Some(response) = self
            .send_authorized(&JsonRpcMessage::Request(init), None)
            .await
        else {
            return false;
        };
        let Some(session) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
        else {
            return false;
        };
        *self.session.lock().expect("not poisoned") = Some(session);
        let initialized = JsonRpcMessage::Notification(JsonRpcNotification {
            method: "notifications/initialized".into(),
            params: None,
        });
        let _ = self.send_authorized(&initialized, None).await;
        true
    }

    async fn end_session(&self) {
        let session = self.session.lock().expect("not poisoned").take();
        if let Some(s) = session {
            let req = self.http.delete(&self.url).header("mcp-session-id", s);
            let (req, _) = self.authorized("DELETE", req).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), req.send()).await;
        }
    }
}

/// A response body that is not an event stream, read up to `limit` bytes (the limit of an SSE
/// event: a JSON answer is one message too). A larger body is refused as soon as its
/// `Content-Length` or its bytes show it, without reading the rest.
async fn read_body(response: reqwest::Response, limit: usize) -> Result<String, String> {
    let too_large = || format!("the response body exceeds {limit} bytes");
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            break; // a body cut short is judged by what arrived
        };
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

enum Consumed {
    Answered,
    Ended,
    Failed,
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now())
}

/// An error with its causes, `: ` between them (reqwest's own message says only which step
/// failed, e.g. "error sending request", and keeps why in its sources).
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod error_tests {
    use super::causes;

    #[test]
    fn a_transport_error_says_why_not_only_which_step_failed() {
        #[derive(Debug)]
        struct Step(&'static str, Option<Box<Step>>);
        impl std::fmt::Display for Step {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Step {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|s| s as _)
            }
        }
        let reset = Step("connection reset by peer", None);
        let closed = Step(
            "connection closed: connection reset by peer",
            Some(Box::new(reset)),
        );
        let sending = Step("error sending request", Some(Box::new(closed)));
        // A cause its parent's message already ends with is not repeated.
        assert_eq!(
            causes(&sending),
            "error sending request: connection closed: connection reset by peer"
        );
    }
}

#[cfg(test)]
mod peek_tests {
    use super::*;

    #[test]
    fn the_peek_reads_what_the_headers_need_and_tolerates_odd_types() {
        let params = serde_json::json!({
            "_meta": { mcp_core::meta::keys::PROTOCOL_VERSION: "2026-07-28", "other": [1] },
            "name": "say \"hi\"",
            "uri": 5,
            "arguments": { "deep": { "er": [1, 2, 3] } },
        })
        .to_string();
        let peek: ParamsPeek<'_> = serde_json::from_str(&params).expect("an object");
        assert_eq!(modern_version(&peek).as_deref(), Some("2026-07-28"));
        assert_eq!(peek.name.and_then(raw_str).as_deref(), Some("say \"hi\""));
        assert_eq!(peek.uri.and_then(raw_str), None, "not a string: absent");
        assert_eq!(peek.task_id.and_then(raw_str), None);

        let legacy: ParamsPeek<'_> =
            serde_json::from_str(r#"{"_meta": "odd", "name": "x"}"#).expect("an object");
        assert_eq!(modern_version(&legacy), None);
        assert_eq!(legacy.name.and_then(raw_str).as_deref(), Some("x"));
    }
}
