//! Testing a server in the same process: a connected [`Client`] without sockets or child
//! processes, in the era and as the caller a test chooses, and a [`Recorder`] that answers the
//! server's requests with values the test gives and records what the client saw.
//!
//! Needs the `testing` feature (`mcp-client = { version = "...", features = ["testing"] }` in
//! `[dev-dependencies]`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> mcp_client::Result<()> {
//! use mcp_client::testing::{InProcess, connect};
//! use mcp_server::{Server, tool};
//! use mcp_server::mcp_core::ProtocolVersion;
//!
//! /// Adds two numbers.
//! #[tool]
//! fn add(a: f64, b: f64) -> f64 {
//!     a + b
//! }
//!
//! let server = || Server::new("calc", "1.0.0").tool(Add);
//!
//! // The modern era (the client probes, the server answers `server/discover`).
//! let client = connect(server()).await?;
//! let sum: f64 = client.call(Add, AddInput { a: 1.0, b: 2.0 }).await?;
//! assert_eq!(sum, 3.0);
//!
//! // A 2025-06-18 client, through the `initialize` handshake.
//! let old = InProcess::new(server())
//!     .protocol_version(ProtocolVersion::V2025_06_18)
//!     .connect()
//!     .await?;
//! assert_eq!(old.session().version, ProtocolVersion::V2025_06_18);
//! insta::assert_json_snapshot!(old.contract().await?, @r#"
//! {
//!   "$contract": "mcp-contract/1",
//!   "protocolVersion": "2025-06-18",
//!   "server": {
//!     "name": "calc"
//!   },
//!   "capabilities": {
//!     "tools": {
//!       "listChanged": true
//!     },
//!     "logging": {}
//!   },
//!   "tools": [
//!     {
//!       "name": "add",
//!       "description": "Adds two numbers.",
//!       "inputSchema": {
//!         "properties": {
//!           "a": {
//!             "format": "double",
//!             "type": "number"
//!           },
//!           "b": {
//!             "format": "double",
//!             "type": "number"
//!           }
//!         },
//!         "required": [
//!           "a",
//!           "b"
//!         ],
//!         "type": "object"
//!       },
//!       "outputSchema": {
//!         "properties": {
//!           "result": {
//!             "format": "double",
//!             "type": "number"
//!           }
//!         },
//!         "required": [
//!           "result"
//!         ],
//!         "type": "object"
//!       }
//!     }
//!   ],
//!   "resources": [],
//!   "resourceTemplates": [],
//!   "prompts": []
//! }
//! "#);
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

use mcp_core::ErrorObject;
use mcp_core::ProtocolVersion;
use mcp_core::types::{
    CreateMessageRequestParams, CreateMessageResult, ElicitAction, ElicitRequestParams,
    ElicitResult, JsonObject, LoggingMessageNotificationParams, ProgressNotificationParams, Root,
};
use mcp_server::{Identity, Server};
use tokio::sync::{Notify, mpsc};

use crate::client::{Client, ClientBuilder, EraChoice};
use crate::error::Result;
use crate::handler::{Change, ClientHandler, HandlerCapabilities};
use crate::transport::Transport;

/// Connects a client to `server` in the same process, probing the era as a client of a
/// remote server would (our servers answer in the modern era).
pub async fn connect(server: Server) -> Result<Client> {
    InProcess::new(server).connect().await
}

/// A connection to a server in the same process, configured before [`connect`](Self::connect).
///
/// Messages go through channels, not bytes; the server handles them exactly as it handles a
/// stdio connection's.
#[derive(Debug)]
#[must_use = "call `.connect().await`"]
pub struct InProcess {
    server: Server,
    builder: ClientBuilder,
    identity: Option<Identity>,
}

impl InProcess {
    /// A connection to `server`, in the era the client probes, as the server's configured
    /// identity (if any).
    pub fn new(server: Server) -> Self {
        InProcess {
            server,
            builder: Client::builder().info("mcp-client-testing", env!("CARGO_PKG_VERSION")),
            identity: None,
        }
    }

    /// Which era to speak.
    pub fn era(mut self, era: EraChoice) -> Self {
        self.builder = self.builder.era(era);
        self
    }

    /// Exactly this protocol version (a legacy one through `initialize`).
    pub fn protocol_version(mut self, version: ProtocolVersion) -> Self {
        self.builder = self.builder.protocol_version(version);
        self
    }

    /// The caller, as an authenticating transport would establish it: policies, rate limits
    /// and task ownership apply to this identity.
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// What answers the server's requests and hears its notifications (a [`Recorder`]).
    pub fn handler(mut self, handler: impl ClientHandler) -> Self {
        self.builder = self.builder.handler(handler);
        self
    }

    /// Any other client setting (timeouts, log level, output validation).
    pub fn configure(mut self, f: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Self {
        self.builder = f(self.builder);
        self
    }

    /// Starts serving the connection on the current runtime and connects the client.
    pub async fn connect(self) -> Result<Client> {
        let (to_server, server_incoming) = mpsc::channel(256);
        let (server_outgoing, from_server) = mpsc::channel(256);
        let (client_out, mut client_rx) = mpsc::channel(256);
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = match self.identity {
            Some(id) => tokio::spawn(self.server.serve_channel_as(
                Some(id),
                server_incoming,
                server_outgoing,
            )),
            None => tokio::spawn(self.server.serve_channel(server_incoming, server_outgoing)),
        };
        // Closing the client ends the server's incoming channel (the client keeps its sender).
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    message = client_rx.recv() => message,
                    _ = &mut stop_rx => None,
                };
                let Some(message) = message else { break };
                if to_server.send(message).await.is_err() {
                    break;
                }
            }
        });
        let close = Box::pin(async move {
            let _ = stop_tx.send(());
            let _ = server.await;
        });
        let transport = Transport::from_channels(client_out, from_server, Some(close));
        self.builder.connect(transport).await
    }
}

/// Something the client saw, in the order it saw it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Seen {
    /// The server asked for input (answered from the queue).
    Elicitation(ElicitRequestParams),
    /// The server asked for a completion from the model (answered from the queue).
    Sampling(CreateMessageRequestParams),
    /// The server listed the roots.
    Roots,
    /// A progress notification.
    Progress(ProgressNotificationParams),
    /// A log message.
    Log(LoggingMessageNotificationParams),
    /// A list changed, or a subscribed resource was updated.
    Change(Change),
}

/// A [`ClientHandler`] for tests: answers elicitation and sampling with queued values (in
/// order), lists the roots it is given, and records everything the client saw.
///
/// Clones share the queue and the record: keep one, give the other to the client.
///
/// ```
/// use mcp_client::testing::{Recorder, Seen};
/// use serde_json::json;
///
/// let recorder = Recorder::new().accept(json!({"approved": true}));
/// // InProcess::new(server).handler(recorder.clone()).connect().await?; ... then:
/// assert!(recorder.seen().iter().all(|s| !matches!(s, Seen::Log(_))));
/// ```
#[derive(Clone, Default, Debug)]
pub struct Recorder {
    inner: Arc<RecorderInner>,
}

#[derive(Default, Debug)]
struct RecorderInner {
    capabilities: Mutex<HandlerCapabilities>,
    elicitations: Mutex<VecDeque<ElicitResult>>,
    samples: Mutex<VecDeque<CreateMessageResult>>,
    roots: Mutex<Vec<Root>>,
    seen: Mutex<Vec<Seen>>,
    changed: Notify,
}

fn no_answer(what: &str) -> ErrorObject {
    ErrorObject::internal_error(format!("the test's Recorder has no {what} answer queued"))
}

impl Recorder {
    /// A recorder that answers nothing until told to.
    pub fn new() -> Self {
        Recorder::default()
    }

    /// Queues an answer to the next elicitation (and declares form elicitation).
    pub fn answer_elicitation(self, result: ElicitResult) -> Self {
        self.inner
            .capabilities
            .lock()
            .expect("not poisoned")
            .elicitation_form = true;
        self.inner
            .elicitations
            .lock()
            .expect("not poisoned")
            .push_back(result);
        self
    }

    /// Queues an acceptance of the next elicitation with these form values.
    pub fn accept(self, content: serde_json::Value) -> Self {
        let content: JsonObject = match content {
            serde_json::Value::Object(m) => m,
            other => panic!("an elicitation's content is an object, not {other}"),
        };
        self.answer_elicitation(ElicitResult {
            action: ElicitAction::Accept,
            content: Some(content),
            meta: None,
        })
    }

    /// Queues a decline of the next elicitation.
    pub fn decline(self) -> Self {
        self.answer_elicitation(ElicitResult {
            action: ElicitAction::Decline,
            content: None,
            meta: None,
        })
    }

    /// Queues an answer to the next sampling request (and declares sampling).
    pub fn answer_sampling(self, result: CreateMessageResult) -> Self {
        self.inner
            .capabilities
            .lock()
            .expect("not poisoned")
            .sampling = true;
        self.inner
            .samples
            .lock()
            .expect("not poisoned")
            .push_back(result);
        self
    }

    /// The roots to list (and declares roots).
    pub fn roots(self, roots: Vec<Root>) -> Self {
        self.inner.capabilities.lock().expect("not poisoned").roots = true;
        *self.inner.roots.lock().expect("not poisoned") = roots;
        self
    }

    /// Everything seen so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.inner.seen.lock().expect("not poisoned").clone()
    }

    /// The progress notifications seen so far.
    pub fn progress(&self) -> Vec<ProgressNotificationParams> {
        self.filter(|s| match s {
            Seen::Progress(p) => Some(p.clone()),
            _ => None,
        })
    }

    /// The log messages seen so far.
    pub fn logs(&self) -> Vec<LoggingMessageNotificationParams> {
        self.filter(|s| match s {
            Seen::Log(l) => Some(l.clone()),
            _ => None,
        })
    }

    /// The elicitations the server sent so far.
    pub fn elicitations(&self) -> Vec<ElicitRequestParams> {
        self.filter(|s| match s {
            Seen::Elicitation(e) => Some(e.clone()),
            _ => None,
        })
    }

    /// The changes seen so far.
    pub fn changes(&self) -> Vec<Change> {
        self.filter(|s| match s {
            Seen::Change(c) => Some(c.clone()),
            _ => None,
        })
    }

    /// Waits until something matching `pred` has been seen, and returns it. Wrap it in
    /// `tokio::time::timeout` in a test.
    pub async fn wait_for(&self, pred: impl Fn(&Seen) -> bool) -> Seen {
        loop {
            let changed = self.inner.changed.notified();
            if let Some(s) = self.seen().into_iter().find(|s| pred(s)) {
                return s;
            }
            changed.await;
        }
    }

    fn filter<T>(&self, f: impl Fn(&Seen) -> Option<T>) -> Vec<T> {
        self.inner
            .seen
            .lock()
            .expect("not poisoned")
            .iter()
            .filter_map(f)
            .collect()
    }

    fn record(&self, seen: Seen) {
        self.inner.seen.lock().expect("not poisoned").push(seen);
        self.inner.changed.notify_waiters();
    }
}

impl ClientHandler for Recorder {
    fn capabilities(&self) -> HandlerCapabilities {
        *self.inner.capabilities.lock().expect("not poisoned")
    }

    fn elicit(
        &self,
        params: ElicitRequestParams,
    ) -> impl Future<Output = std::result::Result<ElicitResult, ErrorObject>> + Send {
        self.record(Seen::Elicitation(params));
        let answer = self
            .inner
            .elicitations
            .lock()
            .expect("not poisoned")
            .pop_front();
        async move { answer.ok_or_else(|| no_answer("elicitation")) }
    }

    fn sample(
        &self,
        params: CreateMessageRequestParams,
    ) -> impl Future<Output = std::result::Result<CreateMessageResult, ErrorObject>> + Send {
        self.record(Seen::Sampling(params));
        let answer = self.inner.samples.lock().expect("not poisoned").pop_front();
        async move { answer.ok_or_else(|| no_answer("sampling")) }
    }

    fn roots(&self) -> impl Future<Output = std::result::Result<Vec<Root>, ErrorObject>> + Send {
        self.record(Seen::Roots);
        let roots = self.inner.roots.lock().expect("not poisoned").clone();
        async move { Ok(roots) }
    }

    fn on_progress(&self, params: &ProgressNotificationParams) {
        self.record(Seen::Progress(params.clone()));
    }

    fn on_log(&self, params: &LoggingMessageNotificationParams) {
        self.record(Seen::Log(params.clone()));
    }

    fn on_change(&self, change: Change) {
        self.record(Seen::Change(change));
    }
}
