//! Settings of the HTTP transport.

use std::time::Duration;

use mcp_core::codec::CodecConfig;

/// How the answer to a request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResponseMode {
    /// One JSON object when the handler sends nothing before its result; an SSE stream as soon
    /// as it sends a notification or a request first (the default).
    #[default]
    Auto,
    /// Always an SSE stream.
    Sse,
    /// Always one JSON object. What the handler sends before its result goes to the session's
    /// GET stream (legacy) or is dropped (modern).
    Json,
}

/// The loopback host names, accepted in `Host` and `Origin` by default (with any port): a list
/// given to [`HttpConfig::allowed_hosts`] replaces them, so a front that keeps them lists them
/// too.
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Which values of a header are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Allow {
    /// The loopback names: `localhost`, `127.0.0.1` and `[::1]`, with any port. For `Host`, only
    /// on connections that arrived on a loopback address (or whose address is unknown).
    Loopback,
    /// These values, compared without regard to ASCII case.
    List(Vec<String>),
    /// Anything.
    Any,
}

/// Settings of the Streamable HTTP transport: where it listens, what it accepts, and how much it
/// may hold.
///
/// Every limit has a default that suits a local server; each builder method documents its own.
///
/// ```
/// use std::time::Duration;
/// use mcp_server::http::{HttpConfig, ResponseMode};
///
/// let config = HttpConfig::new()
///     .path("/mcp")
///     .allowed_origins(["https://app.example.com"])
///     .max_body_size(1 << 20)
///     .response_mode(ResponseMode::Sse)
///     .session_idle_timeout(Duration::from_secs(600));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub(crate) path: String,
    pub(crate) origins: Allow,
    pub(crate) hosts: Allow,
    pub(crate) max_body_size: usize,
    pub(crate) max_depth: usize,
    pub(crate) response_mode: ResponseMode,
    pub(crate) session_idle_timeout: Duration,
    pub(crate) max_sessions: usize,
    pub(crate) max_sessions_per_principal: usize,
    pub(crate) sse_retry: Duration,
    pub(crate) sse_keep_alive: Option<Duration>,
    pub(crate) event_buffer: usize,
    pub(crate) max_in_flight: Option<usize>,
    pub(crate) header_read_timeout: Duration,
    pub(crate) body_read_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) shutdown_grace: Duration,
    #[cfg(feature = "auth")]
    pub(crate) auth: Option<super::auth::ResourceServer>,
    #[cfg(feature = "auth")]
    pub(crate) tls: Option<super::auth::TlsConfig>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            path: "/mcp".to_owned(),
            origins: Allow::Loopback,
            hosts: Allow::Loopback,
            max_body_size: CodecConfig::DEFAULT_MAX_MESSAGE_SIZE,
            max_depth: CodecConfig::DEFAULT_MAX_DEPTH,
            response_mode: ResponseMode::Auto,
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_sessions: 1_000,
            max_sessions_per_principal: 100,
            sse_retry: Duration::from_secs(1),
            sse_keep_alive: Some(Duration::from_secs(15)),
            event_buffer: 64,
            max_in_flight: None,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_connections: 1_024,
            shutdown_grace: Duration::from_secs(10),
            #[cfg(feature = "auth")]
            auth: None,
            #[cfg(feature = "auth")]
            tls: None,
        }
    }
}

impl HttpConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The path of the MCP endpoint (default `/mcp`).
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        self
    }

    /// The `Origin` values accepted, such as `https://app.example.com` (scheme, host and port, no
    /// path). A request with another `Origin` gets 403; a request without one is accepted.
    ///
    /// By default only loopback origins are accepted: `http://localhost`, `http://127.0.0.1` and
    /// `http://[::1]`, over `http` or `https`, with any port.
    #[must_use]
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.origins = Allow::List(
            origins
                .into_iter()
                .map(|o| o.into().trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        );
        self
    }

    /// Accepts any `Origin`: for a server that authenticates every request by other means.
    #[must_use]
    pub fn allow_any_origin(mut self) -> Self {
        self.origins = Allow::Any;
        self
    }

    /// The `Host` values accepted, as `name` (any port) or `name:port`; others get 403. This is
    /// the defence against DNS rebinding.
    ///
    /// By default, a request that arrived on a loopback address must name `localhost`,
    /// `127.0.0.1` or `[::1]` (any port), and a request that arrived on another address may name
    /// any host. Behind [`crate::http::McpService::router`] the local address is unknown and the
    /// loopback names are required: list your public names here.
    #[must_use]
    pub fn allowed_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.hosts = Allow::List(
            hosts
                .into_iter()
                .map(|h| h.into().to_ascii_lowercase())
                .collect(),
        );
        self
    }

    /// Accepts any `Host`.
    #[must_use]
    pub fn allow_any_host(mut self) -> Self {
        self.hosts = Allow::Any;
        self
    }

    /// The largest request body, in bytes (default 4 MiB). A larger one gets 413 before anything
    /// else happens, whether it declares its length or is sent in chunks.
    #[must_use]
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes.max(1);
        self
    }

    /// How deeply arrays and objects may nest in a request body (default 64); deeper gets
    /// -32700.
    #[must_use]
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth.max(1);
        self
    }

    /// JSON, SSE, or JSON unless the handler streams ([`ResponseMode::Auto`], the default).
    #[must_use]
    pub fn response_mode(mut self, mode: ResponseMode) -> Self {
        self.response_mode = mode;
        self
    }

    /// How long a legacy session may go without a request before it is closed (default 30
    /// minutes). A session with a request running or a stream open is not idle.
    #[must_use]
    pub fn session_idle_timeout(mut self, timeout: Duration) -> Self {
        self.session_idle_timeout = timeout;
        self
    }

    /// How many legacy sessions may exist at once (default 1,000); `initialize` beyond that gets
    /// 503.
    #[must_use]
    pub fn max_sessions(mut self, sessions: usize) -> Self {
        self.max_sessions = sessions;
        self
    }

    /// How many legacy sessions one principal may hold at once (default 100); its next
    /// `initialize` gets 429 with -32000 and `data.reason` `session_quota`, and everyone else is
    /// still served. Without authentication the limit is per client address (an IPv6 address
    /// by its /64 prefix); behind [`crate::http::McpService::router`] the address is known only
    /// when the app is served with `into_make_service_with_connect_info::<SocketAddr>()`, and
    /// callers whose address is unknown are bounded by [`HttpConfig::max_sessions`] alone.
    #[must_use]
    pub fn max_sessions_per_principal(mut self, sessions: usize) -> Self {
        self.max_sessions_per_principal = sessions.max(1);
        self
    }

    /// How long a client waits before it reconnects to an SSE stream the server closed (the
    /// `retry` field, default one second).
    #[must_use]
    pub fn sse_retry(mut self, retry: Duration) -> Self {
        self.sse_retry = retry;
        self
    }

    /// How often an SSE stream with nothing to send carries a comment, so that proxies keep it
    /// open and a client that left is noticed (default 15 seconds; `None`: never).
    #[must_use]
    pub fn sse_keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.sse_keep_alive = interval;
        self
    }

    /// How many events an SSE stream holds for its reader (default 64). A reader that falls
    /// further behind loses its connection (a modern request is then cancelled); a legacy client
    /// that reconnects with `Last-Event-ID` gets the events still held replayed.
    #[must_use]
    pub fn event_buffer(mut self, events: usize) -> Self {
        self.event_buffer = events.max(1);
        self
    }

    /// How many requests of one legacy session run at once; more wait (default:
    /// [`crate::ServerOptions::max_in_flight`]).
    #[must_use]
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = Some(requests.max(1));
        self
    }

    /// How long a client may take to send the headers of a request, or to start the next request
    /// on a kept-alive connection (default 10 seconds). Applies to [`crate::http::serve`].
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long a client may take to send a request body (default 30 seconds; then 408).
    #[must_use]
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// How long a response may wait for a client that does not read it before the connection is
    /// closed (default 30 seconds). Applies to [`crate::http::serve`].
    #[must_use]
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// How many connections are served at once (default 1,024); more get a quick 503. Applies to
    /// [`crate::http::serve`].
    #[must_use]
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// How long a graceful shutdown waits for running requests before it cancels them (default
    /// 10 seconds).
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Requires an OAuth 2.1 bearer token on the MCP endpoint, checked by `resource_server`,
    /// and serves its protected resource metadata: see [`crate::http::auth`]. Applies to
    /// [`crate::http::serve`] and [`crate::http::McpService::router`].
    #[cfg(feature = "auth")]
    #[must_use]
    pub fn auth(mut self, resource_server: super::auth::ResourceServer) -> Self {
        self.auth = Some(resource_server);
        self
    }

    /// Serves HTTPS, with client certificates if `tls` requires them (mutual TLS): see
    /// [`crate::http::auth::TlsConfig`]. The handshake must complete within
    /// [`HttpConfig::header_read_timeout`]. Applies to [`crate::http::serve`] (behind
    /// [`crate::http::McpService::router`], TLS is your server's business).
    #[cfg(feature = "auth")]
    #[must_use]
    pub fn tls(mut self, tls: super::auth::TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    pub(crate) fn codec(&self) -> CodecConfig {
        CodecConfig::default()
            .with_max_message_size(self.max_body_size)
            .with_max_depth(self.max_depth)
    }
}
