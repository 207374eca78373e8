//! Where a request's messages go, and how the server sends requests to a legacy client.

use futures::future::BoxFuture;
use mcp_core::{ErrorObject, JsonRpcMessage};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

/// The outgoing messages of one request (or of a whole connection): on stdio the connection's
/// writer, on HTTP the request's SSE stream.
#[derive(Clone, Debug)]
pub(crate) struct Sink {
    tx: mpsc::Sender<JsonRpcMessage>,
}

impl Sink {
    pub(crate) fn new(tx: mpsc::Sender<JsonRpcMessage>) -> Self {
        Sink { tx }
    }

    /// Sends a notification without waiting. When the reader is too slow and the queue is full,
    /// the notification is dropped rather than queued without bound.
    pub(crate) fn send(&self, message: JsonRpcMessage) {
        if let Err(mpsc::error::TrySendError::Full(m)) = self.tx.try_send(message) {
            tracing::warn!(method = ?m.method(), "outgoing queue full: notification dropped");
        }
    }

    /// Sends a message that must arrive (a response or a request), waiting for room.
    pub(crate) async fn send_reliable(&self, message: JsonRpcMessage) -> bool {
        self.tx.send(message).await.is_ok()
    }
}

/// A legacy session that can carry requests from server to client.
pub(crate) trait Peer: Send + Sync {
    /// Sends `method` to the client through `sink` and waits for the answer.
    fn request<'a>(
        &'a self,
        method: &'static str,
        params: Option<Box<RawValue>>,
        sink: &'a Sink,
    ) -> BoxFuture<'a, Result<Box<RawValue>, ErrorObject>>;
}
