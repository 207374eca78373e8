//! The Streamable HTTP transport: one endpoint (default `/mcp`) serving both protocol eras from
//! one [`Server`].
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use mcp_server::Server;
//!
//! let server = Server::new("kpi", env!("CARGO_PKG_VERSION"));
//! mcp_server::http::serve_local(server, 8000).await // http://127.0.0.1:8000/mcp, until Ctrl-C
//! # }
//! ```
//!
//! [`serve`] takes settings, a listener or an address, and a shutdown signal;
//! [`McpService::router`] gives an axum router to mount in your own app.
//!
//! # Both eras on one endpoint
//!
//! A POST body holds one JSON-RPC message. A request whose `params._meta` carries
//! `io.modelcontextprotocol/protocolVersion` is **modern** (2026-07-28): it is served on its own,
//! with no session, whatever its method (so a modern `initialize` gets 404). Otherwise an
//! `initialize` request starts a **legacy** session (2025-11-25 and older), whose id comes back in
//! `Mcp-Session-Id`; the client's other requests carry it.
//!
//! | request | answer |
//! |---|---|
//! | `Origin` present and not allowed (`null` never is) | 403, before anything else |
//! | `Host` not allowed (on a loopback bind: not `localhost`, `127.0.0.1` or `[::1]`) | 403 |
//! | POST without `Content-Type: application/json` | 415 |
//! | POST whose `Accept` lacks `application/json` or `text/event-stream` (`*/*` will do) | 406 |
//! | body over [`HttpConfig::max_body_size`], declared or streamed | 413, nothing created |
//! | body slower than [`HttpConfig::body_read_timeout`] | 408 |
//! | not JSON, or nested too deep / a batch, a bad `id`, not JSON-RPC | 400 with -32700 / -32600 |
//! | a notification or a response | 202, no body |
//! | a request | 200 with one JSON object or an SSE stream ([`ResponseMode`]) |
//! | modern: `MCP-Protocol-Version`, `Mcp-Method`, or (`tools/call`, `prompts/get`, `resources/read`) `Mcp-Name` missing or unlike the body | 400 with -32020 |
//! | modern: `_meta` without `io.modelcontextprotocol/clientCapabilities`, or a 2026-07-28 `MCP-Protocol-Version` without modern `_meta` | 400 with -32602 |
//! | modern: unknown method | 404 with -32601 |
//! | modern: unsupported version | 400 with -32022 and the supported versions |
//! | legacy: no `Mcp-Session-Id` / unknown, expired or deleted id | 400 / 404 |
//! | legacy: `MCP-Protocol-Version` not a legacy version (absent: 2025-03-26 is assumed) | 400 |
//! | legacy, with a store ([`Server::store`]): a session this replica does not hold, or `initialize`, while the store is unreachable | 503 with -32004 |
//! | legacy: `initialize` with [`HttpConfig::max_sessions`] sessions open | 503 |
//! | DELETE with a session id | 204; the session is gone (404 from then on) |
//! | GET with a session id and `Accept: text/event-stream` | the session's SSE stream |
//! | GET or DELETE without a session id (modern clients have neither) | 405 |
//!
//! # Streams
//!
//! - A modern request's SSE stream carries its progress and log notifications, then its result.
//!   Closing it cancels the request: the handler sees [`crate::Context::is_cancelled`] and
//!   nothing more is sent. Server-to-client requests do not exist in this era (handlers that ask
//!   for input get `input_required` results).
//! - A legacy request's stream may also carry server-to-client requests (sampling, elicitation,
//!   roots); the client POSTs its answers with the session id (202). Closing the connection does
//!   not cancel the request (`notifications/cancelled` does); the stream goes on, and the client
//!   resumes it with GET and `Last-Event-ID`.
//! - The GET stream carries what is not tied to a request: list changes, resource updates. **One
//!   GET stream per session**: a second GET replaces the first, which ends. (A client whose first
//!   connection died unnoticed would otherwise be locked out with 409.)
//! - Legacy events have ids `{stream}-{number}`, unique within the session. GET with
//!   `Last-Event-ID` replays the events after it from that stream only, then goes on live; an
//!   unknown id gets 400. Each stream holds [`HttpConfig::event_buffer`] events: older ones can no
//!   longer be replayed.
//! - Sessions at 2025-11-25 get a priming event (an id and no data, with `retry`) at the start of
//!   each stream, and a request may end its connection early with [`close_sse_stream`].
//! - Every stream is bounded: a reader that falls [`HttpConfig::event_buffer`] events behind loses
//!   its connection (a modern request is then cancelled), and under [`serve`] a client that does
//!   not read at all for [`HttpConfig::write_timeout`] is disconnected.
//!
//! # Replicas
//!
//! Behind a load balancer, replicas of one server that share a store ([`Server::store`], see
//! [`crate::store`]) serve each other's legacy sessions; without a store, nothing below happens.
//!
//! - **Shared:** a session's record (`session:{id}`: its id, negotiated version, client info and
//!   capabilities, owner, whether the client sent `notifications/initialized`, log level and
//!   resource subscriptions) is written at `initialize` and whenever the client changes it, before
//!   the change is acknowledged, and lives [`HttpConfig::session_idle_timeout`] past the last
//!   activity (refreshed every few seconds at most). A replica that gets a request for a session it
//!   does not hold looks it up there and, for its owner, takes it over; an id no replica knows is
//!   still 404, and DELETE ends the session on every replica (the others are told on the store's
//!   bus; one that misses the message drops its copy when idle).
//! - **Event ids on every replica:** each stream's events also go to a store log
//!   ([`crate::store::Store::append`], [`HttpConfig::event_buffer`] of them) and are numbered by
//!   it; request streams get numbers that differ between replicas. `Last-Event-ID` on any replica
//!   replays what the store keeps after it, then goes on with that replica's new events (the GET
//!   stream) or follows the log while another replica still runs the request.
//! - **Store outage:** a request for a session this replica does not hold, and `initialize`, get
//!   503 with -32004 ([`crate::store::STORE_UNAVAILABLE`]), not 404; sessions a replica holds go on
//!   there, and their events are still streamed (an append that fails is logged, and that event can
//!   only be replayed by the replica that sent it).
//! - **Not shared:** what is running. A request runs on the replica it arrived at; if that replica
//!   dies, so does the request (its stream replays what was kept and then waits for nothing more),
//!   and a server-to-client request (sampling, elicitation, roots) waiting there is lost, as is
//!   the client's answer sent to another replica. Each replica that holds a session keeps its own
//!   copy: a change made through another (`notifications/initialized`, log level, subscriptions)
//!   reaches it on the store's bus, at most once (one that misses it keeps the older state).
//! - **The GET stream's writer:** every replica that holds a session gets the server's
//!   notifications, and one of them writes them to the session's GET stream: the one that last
//!   took the session over or opened its GET stream (it tells the others on the bus). If that
//!   replica dies, what is notified until the client opens its GET stream elsewhere is lost.
//!   Session quotas ([`HttpConfig::max_sessions`]) count each replica's copies.
//!
//! # Limits
//!
//! Under [`serve`]: request heads are at most 64 KiB and 100 headers, sent within
//! [`HttpConfig::header_read_timeout`] (which also bounds an idle kept-alive connection); bodies
//! arrive within [`HttpConfig::body_read_timeout`]; at most [`HttpConfig::max_connections`]
//! connections are served, further ones get a quick 503. Legacy sessions idle for
//! [`HttpConfig::session_idle_timeout`] are closed.
//!
//! A legacy session belongs to the principal that started it: another principal's requests with
//! its id see 404.
//!
//! # Authentication
//!
//! With the `auth` feature (on by default), [`HttpConfig::auth`] makes the endpoint an OAuth 2.1
//! resource server (bearer tokens, RFC 9728 metadata) and [`HttpConfig::tls`] serves HTTPS,
//! optionally requiring client certificates: see [`auth`]. The caller's [`crate::Identity`]
//! reaches handlers as [`crate::Context::identity`], and the items' policies apply to it (see
//! [`crate::admission`]); a refusal for missing scopes is a 403 with the `insufficient_scope`
//! challenge, so that the client can step up.

#[cfg(feature = "auth")]
pub mod auth;
mod config;
mod header_checks;
mod listener;
mod service;
mod sessions;
mod sse;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpListener;

pub use config::{HttpConfig, LOOPBACK_HOSTS, ResponseMode};
pub use service::McpService;

use crate::context::Context;
use crate::server::Server;

/// Where [`serve`] listens: a bound listener, or an address to bind.
#[derive(Debug)]
#[non_exhaustive]
pub enum Listen {
    /// A listener already bound (for instance to port 0, to learn the port first).
    Listener(TcpListener),
    /// An address to bind.
    Addr(SocketAddr),
}

impl From<TcpListener> for Listen {
    fn from(listener: TcpListener) -> Self {
        Listen::Listener(listener)
    }
}

impl From<SocketAddr> for Listen {
    fn from(addr: SocketAddr) -> Self {
        Listen::Addr(addr)
    }
}

impl Listen {
    pub(crate) async fn bind(self) -> io::Result<TcpListener> {
        match self {
            Listen::Listener(listener) => Ok(listener),
            Listen::Addr(addr) => TcpListener::bind(addr).await,
        }
    }
}

/// Serves `server` on `listen` until `shutdown` completes.
///
/// Then it stops accepting connections, answers new requests with 503, ends GET and
/// `subscriptions/listen` streams, lets running requests finish for
/// [`HttpConfig::shutdown_grace`], cancels what is left, and closes every session.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use mcp_server::Server;
/// use mcp_server::http::{self, HttpConfig};
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// println!("http://{}/mcp", listener.local_addr()?);
/// let shutdown = http::shutdown_signal();
/// http::serve(Server::new("kpi", "1.0.0"), HttpConfig::new(), listener, shutdown).await
/// # }
/// ```
pub async fn serve(
    server: Server,
    config: HttpConfig,
    listen: impl Into<Listen>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    McpService::new(server, config)
        .serve(listen, shutdown)
        .await
}

/// Serves `server` on `http://127.0.0.1:{port}/mcp` with the default settings, until Ctrl-C or
/// SIGTERM ([`shutdown_signal`]).
pub async fn serve_local(server: Server, port: u16) -> io::Result<()> {
    serve(
        server,
        HttpConfig::new(),
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        shutdown_signal(),
    )
    .await
}

/// Completes when the process is asked to stop: Ctrl-C (SIGINT), or on Unix SIGTERM, which
/// `docker stop`, Kubernetes and systemd send before they kill. Given to [`serve`] as its
/// shutdown, it lets requests in flight finish and their audit records be written, where the
/// default action of SIGTERM ends the process at once.
///
/// Listening replaces the default action of both signals for the whole process: a program
/// that awaits this future should end when it completes. Where a signal cannot be listened
/// for, that half never completes.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// The endpoint's router with what the settings add around it: authentication and the
/// protected resource metadata.
pub(super) fn wrap_router(router: axum::Router, config: &HttpConfig) -> axum::Router {
    #[cfg(feature = "auth")]
    if let Some(auth) = &config.auth {
        return auth::protect(router, auth, config);
    }
    let _ = config;
    router
}

/// Closes the HTTP connection that carries the request's SSE stream, without ending the stream:
/// the client reconnects after `retry` (default: [`HttpConfig::sse_retry`]) with GET and
/// `Last-Event-ID`, and gets what the request sent meanwhile, its result included.
///
/// Servers use it to avoid holding a connection through a long operation. It works for requests
/// of legacy sessions at 2025-11-25 (whose clients reconnect) when the answer is streamed (not
/// [`ResponseMode::Json`]); elsewhere it does nothing and returns `false`.
pub fn close_sse_stream(cx: &Context, retry: Option<Duration>) -> bool {
    cx.inner.sink.close_connection(retry)
}
