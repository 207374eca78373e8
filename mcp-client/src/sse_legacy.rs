//! The deprecated HTTP+SSE transport (2024-11-05), the last fallback for old servers: a GET opens
//! an event stream whose first `endpoint` event names the URL to POST messages to; answers and
//! server messages arrive as `message` events on the stream.
//!
//! The `endpoint` must be on the SSE URL's origin (a server cannot send the client's messages,
//! and the headers configured for it, elsewhere), and at most a few events (each within the
//! SSE limits) are kept from before it.

use std::time::Duration;

use futures::StreamExt;
use mcp_core::sse::{SseLimits, SseParser};
use mcp_core::{ErrorCode, ErrorObject, JsonRpcError, JsonRpcMessage};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::transport::Transport;

/// How long the server has to name its message endpoint.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most events kept from before the `endpoint` event (each bounded by the SSE limits).
const MAX_EARLY_EVENTS: usize = 16;

/// A server speaking the deprecated HTTP+SSE transport at `url` (its SSE endpoint, often `/sse`).
pub(crate) async fn connect(
    http: reqwest::Client,
    url: &str,
    limits: SseLimits,
) -> Result<Transport> {
    let response = http
        .get(url)
        .header(ACCEPT, "text/event-stream")
        .send()
        .await
        .map_err(|e| Error::Connection(format!("cannot reach the server: {e}")))?;
    if !response.status().is_success() {
        return Err(Error::Http {
            status: response.status().as_u16(),
            message: "the SSE endpoint refused the stream".into(),
        });
    }
    let origin = reqwest::Url::parse(url)
        .map_err(|e| Error::Connection(format!("invalid URL `{url}`: {e}")))?
        .origin();
    let base = response.url().clone();
    let mut body = response.bytes_stream();
    let mut parser = SseParser::new(limits);
    let mut pending = Vec::new();
    // The first event names the endpoint for POSTs.
    let endpoint = tokio::time::timeout(ENDPOINT_TIMEOUT, async {
        loop {
            let Some(Ok(chunk)) = body.next().await else {
                return Err(Error::Connection(
                    "the SSE stream ended before naming an endpoint".into(),
                ));
            };
            for event in parser
                .push(&chunk)
                .map_err(|e| Error::Protocol(e.to_string()))?
            {
                if event.event.as_deref() == Some("endpoint") {
                    let endpoint = base.join(event.data.trim()).map_err(|e| {
                        Error::Protocol(format!("invalid endpoint `{}`: {e}", event.data))
                    })?;
                    // Messages (and the headers configured for this server) go nowhere else.
                    if endpoint.origin() != origin {
                        return Err(Error::Protocol(format!(
                            "the endpoint `{endpoint}` is not on the origin of the SSE stream `{}`",
                            origin.ascii_serialization()
                        )));
                    }
                    return Ok(endpoint);
                }
                if pending.len() >= MAX_EARLY_EVENTS {
                    return Err(Error::Protocol(format!(
                        "more than {MAX_EARLY_EVENTS} events before the `endpoint` event"
                    )));
                }
                pending.push(event);
            }
        }
    })
    .await
    .map_err(|_| Error::Connection("the server did not name its message endpoint".into()))??;

    let (out_tx, mut out_rx) = mpsc::channel::<JsonRpcMessage>(256);
    let (in_tx, in_rx) = mpsc::channel::<JsonRpcMessage>(256);
    let reader = {
        let in_tx = in_tx.clone();
        tokio::spawn(async move {
            let deliver = |data: &str| JsonRpcMessage::from_json(data).ok();
            for event in pending {
                if let Some(m) = deliver(&event.data) {
                    let _ = in_tx.send(m).await;
                }
            }
            while let Some(Ok(chunk)) = body.next().await {
                let Ok(events) = parser.push(&chunk) else {
                    return;
                };
                for event in events {
                    if event.event.as_deref().is_none_or(|e| e == "message")
                        && let Some(m) = deliver(&event.data)
                        && in_tx.send(m).await.is_err()
                    {
                        return;
                    }
                }
            }
        })
    };
    let writer = tokio::spawn(async move {
        while let Some(message) = out_rx.recv().await {
            let id = match &message {
                JsonRpcMessage::Request(r) => Some(r.id.clone()),
                _ => None,
            };
            let sent = http
                .post(endpoint.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(message.to_json())
                .send()
                .await;
            let failure = match sent {
                Ok(r) if r.status().is_success() => None,
                Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
                Err(e) => Some(e.to_string()),
            };
            if let (Some(reason), Some(id)) = (failure, id) {
                let error = ErrorObject::new(
                    ErrorCode(-32000),
                    format!("cannot send the message: {reason}"),
                )
                .with_data(serde_json::json!({ crate::http::TRANSPORT_ERROR: true }));
                let _ = in_tx
                    .send(JsonRpcMessage::Error(JsonRpcError::new(Some(id), error)))
                    .await;
            }
        }
    });
    Ok(Transport {
        out: crate::transport::Outbound::Queue(out_tx),
        incoming: Some(crate::transport::from_receiver(in_rx)),
        close: Some(Box::pin(async move {
            writer.abort();
            reader.abort();
        })),
    })
}
