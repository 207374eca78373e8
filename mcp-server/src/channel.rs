//! The message-level entry: one connection as two channels of JSON-RPC messages, for a custom
//! transport or an in-process client (no bytes, no codec).

use std::time::Duration;

use futures::future::BoxFuture;
use mcp_core::JsonRpcMessage;
use tokio::sync::mpsc;

use crate::identity::Identity;
use crate::peer::Sink;
use crate::server::Server;
use crate::session::Connection;

/// How long running requests may take to finish after the incoming channel closes.
const GRACE: Duration = Duration::from_secs(5);

impl Server {
    /// Serves one connection whose messages arrive on `incoming` and leave on `outgoing`, until
    /// `incoming` closes; then running requests get a few seconds to finish.
    ///
    /// The connection behaves like a stdio one: it may start a legacy session with `initialize`
    /// or send modern requests; its caller is the server's configured
    /// [`identity`](Server::identity), if any.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use mcp_server::Server;
    /// use mcp_server::mcp_core::JsonRpcMessage;
    /// use tokio::sync::mpsc;
    ///
    /// let (to_server, incoming) = mpsc::channel(16);
    /// let (outgoing, mut from_server) = mpsc::channel(16);
    /// tokio::spawn(Server::new("demo", "1.0.0").serve_channel(incoming, outgoing));
    ///
    /// let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#;
    /// to_server.send(JsonRpcMessage::from_json(init).unwrap()).await.unwrap();
    /// let answer = from_server.recv().await.unwrap();
    /// assert!(matches!(answer, JsonRpcMessage::Response(ref r) if r.id == 1.into()), "{answer:?}");
    /// # }
    /// ```
    pub async fn serve_channel(
        self,
        incoming: mpsc::Receiver<JsonRpcMessage>,
        outgoing: mpsc::Sender<JsonRpcMessage>,
    ) {
        let identity = self.inner.identity.clone();
        self.serve_channel_as(identity, incoming, outgoing).await;
    }

    /// Like [`Server::serve_channel`], with the caller's identity for this connection alone
    /// (`None`: unauthenticated), as a transport that authenticates its peer would set it.
    pub async fn serve_channel_as(
        self,
        identity: Option<Identity>,
        incoming: mpsc::Receiver<JsonRpcMessage>,
        outgoing: mpsc::Sender<JsonRpcMessage>,
    ) {
        // Boxed by a plain function of this crate: see "Entry points" in `lib.rs`.
        self.serve_channel_boxed(identity, incoming, outgoing).await;
    }

    fn serve_channel_boxed(
        self,
        identity: Option<Identity>,
        incoming: mpsc::Receiver<JsonRpcMessage>,
        outgoing: mpsc::Sender<JsonRpcMessage>,
    ) -> BoxFuture<'static, ()> {
        Box::pin(self.serve_channel_unboxed(identity, incoming, outgoing))
    }

    async fn serve_channel_unboxed(
        self,
        identity: Option<Identity>,
        mut incoming: mpsc::Receiver<JsonRpcMessage>,
        outgoing: mpsc::Sender<JsonRpcMessage>,
    ) {
        let sink = Sink::new(outgoing);
        let conn = Connection::new(self, sink.clone());
        while let Some(message) = incoming.recv().await {
            conn.handle_as(message, sink.clone(), identity.clone())
                .await;
        }
        conn.drain(GRACE).await;
        conn.end_session("the client closed the connection");
        conn.close();
    }
}
