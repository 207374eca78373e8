//! A client over an in-memory byte stream, speaking raw JSON-RPC lines to `Server::serve_io`.

use std::time::Duration;

use mcp_server::Server;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};

pub(crate) struct Client {
    pub(crate) tx: DuplexStream,
    pub(crate) rx: Lines<BufReader<DuplexStream>>,
    pub(crate) task: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub(crate) const MODERN: &str = "2026-07-28";

pub(crate) fn modern_meta(extra: Value) -> Value {
    let mut meta = json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}
    });
    meta.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    meta
}

impl Client {
    pub(crate) fn start(server: Server) -> Client {
        let (tx, server_r) = tokio::io::duplex(1 << 20);
        let (server_w, rx) = tokio::io::duplex(1 << 20);
        let task = tokio::spawn(server.serve_io(server_r, server_w));
        Client {
            tx,
            rx: BufReader::new(rx).lines(),
            task,
        }
    }

    pub(crate) async fn send(&mut self, v: Value) {
        self.send_raw(&v.to_string()).await;
    }

    pub(crate) async fn send_raw(&mut self, line: &str) {
        self.tx.write_all(line.as_bytes()).await.unwrap();
        self.tx.write_all(b"\n").await.unwrap();
    }

    pub(crate) async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), self.rx.next_line())
            .await
            .expect("the server answers within 10 s")
            .unwrap()
            .expect("the server did not close");
        serde_json::from_str(&line).unwrap()
    }

    /// Receives until the response to `id`, returning it and what came before.
    pub(crate) async fn until(&mut self, id: Value) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let m = self.recv().await;
            if m.get("id") == Some(&id) && (m.get("result").is_some() || m.get("error").is_some()) {
                return (m, before);
            }
            before.push(m);
        }
    }

    pub(crate) async fn call(&mut self, id: i64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        self.until(json!(id)).await.0
    }

    pub(crate) async fn initialize(&mut self, version: &str, capabilities: Value) -> Value {
        let r = self
            .call(0, "initialize", json!({"protocolVersion": version, "capabilities": capabilities, "clientInfo": {"name": "t", "version": "1"}}))
            .await;
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        r
    }
}

/// Installs `subscriber` for this thread, so that what it captures does not depend on which
/// parallel test reaches a log line first. `tracing` caches per line, for the whole process,
/// whether the line is wanted; with a single dispatcher alive the first thread to reach it
/// decides alone, and a parallel test without a subscriber would silence the line everywhere.
/// A second dispatcher, alive for the whole run, makes every such decision ask all of them.
pub(crate) fn capture_logs(
    subscriber: impl tracing::Subscriber + Send + Sync + 'static,
) -> tracing::subscriber::DefaultGuard {
    static ANCHOR: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    ANCHOR.get_or_init(|| tracing::Dispatch::new(tracing_subscriber::registry()));
    let guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    guard
}
