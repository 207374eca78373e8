//! Where a request's messages go, and how the server sends requests to a legacy client.

#[cfg(feature = "http")]
use std::sync::Arc;
#[cfg(feature = "http")]
use std::time::Duration;

use futures::future::BoxFuture;
use mcp_core::{ErrorObject, JsonRpcMessage};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::lines::LinesSender;

/// The outgoing messages of one request (or of a whole connection): on stdio the connection's
/// writer, on HTTP the request's SSE stream.
#[derive(Clone)]
pub(crate) struct Sink {
    to: To,
    /// The transport's handle on the stream that carries these messages, where it has one.
    #[cfg(feature = "http")]
    stream: Option<Arc<dyn StreamControl>>,
}

#[derive(Clone)]
enum To {
    /// A queue some task reads (an HTTP request's stream, a channel).
    Queue(mpsc::Sender<JsonRpcMessage>),
    /// A line-delimited stream, written by the sender itself when idle.
    Lines(LinesSender),
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink").finish_non_exhaustive()
    }
}

/// What a transport lets a request do with the stream carrying its messages (HTTP: its SSE
/// stream).
#[cfg(feature = "http")]
pub(crate) trait StreamControl: Send + Sync {
    /// Closes the connection that carries the stream without ending the stream: the client
    /// reconnects after `retry` and resumes where it stopped. Returns whether the stream can be
    /// resumed this way.
    fn close_connection(&self, retry: Option<Duration>) -> bool;
}

impl Sink {
    pub(crate) fn new(tx: mpsc::Sender<JsonRpcMessage>) -> Self {
        Sink {
            to: To::Queue(tx),
            #[cfg(feature = "http")]
            stream: None,
        }
    }

    /// A sink that writes to a line-delimited stream (see [`crate::lines`]).
    pub(crate) fn lines(lines: LinesSender) -> Self {
        Sink {
            to: To::Lines(lines),
            #[cfg(feature = "http")]
            stream: None,
        }
    }

    /// A sink whose messages travel on a stream the request may close early.
    #[cfg(feature = "http")]
    pub(crate) fn with_stream(
        tx: mpsc::Sender<JsonRpcMessage>,
        stream: Arc<dyn StreamControl>,
    ) -> Self {
        Sink {
            to: To::Queue(tx),
            stream: Some(stream),
        }
    }

    /// See [`StreamControl::close_connection`]; `false` where the transport has no such stream.
    #[cfg(feature = "http")]
    pub(crate) fn close_connection(&self, retry: Option<Duration>) -> bool {
        self.stream
            .as_ref()
            .is_some_and(|s| s.close_connection(retry))
    }

    /// Sends a notification without waiting. When the reader is too slow and the queue is full,
    /// the notification is dropped rather than queued without bound.
    pub(crate) fn send(&self, message: JsonRpcMessage) {
        match &self.to {
            To::Queue(tx) => {
                if let Err(mpsc::error::TrySendError::Full(m)) = tx.try_send(message) {
                    tracing::warn!(method = ?m.method(), "outgoing queue full: notification dropped");
                }
            }
            To::Lines(lines) => {
                if !lines.send(&message) && !lines.is_broken() {
                    tracing::warn!(method = ?message.method(), "outgoing queue full: notification dropped");
                }
            }
        }
    }

    /// Sends a message that must arrive (a response or a request), waiting for room.
    pub(crate) async fn send_reliable(&self, message: JsonRpcMessage) -> bool {
        match &self.to {
            To::Queue(tx) => tx.send(message).await.is_ok(),
            To::Lines(lines) => lines.send_reliable(&message).await,
        }
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
