//! The Streamable HTTP transport over a real socket, driven by reqwest and by raw TCP: both eras,
//! streams and their resumption, cancellation, and every row of SECURITY.md's "Framing and
//! parsing" and "HTTP transport" tables that concerns a server without authentication.
//!
//! Each test starts its own server on 127.0.0.1:0 with hand-written tools. Every wait is bounded
//! by [`PATIENCE`]; the only timing assertions are the generous bounds of the rows that are about
//! time (slow clients, a quick 503 or 413).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mcp_server::http::{self, HttpConfig, McpService, ResponseMode};
use mcp_server::types::*;
use mcp_server::{Context, Result, Server, ToolHandler};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::sse_support::*;

const MODERN: &str = "2026-07-28";
const LEGACY: &str = "2025-11-25";
/// The longest any single wait of these tests may take.
const PATIENCE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// The server under test: hand-written tools.

/// What the tools saw, for the tests to check.
#[derive(Default)]
struct Probe {
    echo_calls: AtomicUsize,
    /// The `wait` tool was cancelled.
    cancelled: AtomicBool,
    /// Signalled when `cancelled` is set.
    cancelled_event: tokio::sync::Notify,
    /// The `flood` tool was cancelled.
    flood_cancelled: AtomicBool,
    /// Signalled when the `flood` tool ends, cancelled or not.
    flood_ended: tokio::sync::Notify,
}

fn schema(v: Value) -> JsonObject {
    serde_json::from_value(v).unwrap()
}

fn text(s: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(s)])
}

fn object() -> JsonObject {
    schema(json!({"type": "object"}))
}

struct Echo(Arc<Probe>);
impl ToolHandler for Echo {
    fn definition(&self) -> Tool {
        Tool::new(
            "echo",
            schema(json!({"type": "object", "properties": {"text": {"type": "string"}}})),
        )
    }
    async fn call(&self, _cx: Context, args: JsonObject) -> Result<CallToolResult> {
        self.0.echo_calls.fetch_add(1, Ordering::SeqCst);
        Ok(text(
            args.get("text").and_then(Value::as_str).unwrap_or_default(),
        ))
    }
}

/// Reports progress and logs before it answers, so its answer is a stream.
struct Chatty;
impl ToolHandler for Chatty {
    fn definition(&self) -> Tool {
        Tool::new("chatty", object())
    }
    async fn call(&self, cx: Context, args: JsonObject) -> Result<CallToolResult> {
        let steps = args.get("steps").and_then(Value::as_u64).unwrap_or(3);
        let delay = args.get("delayMs").and_then(Value::as_u64).unwrap_or(0);
        for i in 1..=steps {
            cx.progress(i as f64, Some(steps as f64), Some("working"));
            cx.info(format!("step {i}"));
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
        }
        Ok(text("done"))
    }
}

/// Reports progress, then waits to be cancelled, and records that it was.
struct Wait(Arc<Probe>);
impl ToolHandler for Wait {
    fn definition(&self) -> Tool {
        Tool::new("wait", object())
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> Result<CallToolResult> {
        struct Flag(Arc<Probe>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.cancelled.store(true, Ordering::SeqCst);
                self.0.cancelled_event.notify_one();
            }
        }
        let _flag = Flag(self.0.clone());
        cx.progress(1.0, None, Some("waiting"));
        cx.cancelled().await;
        Ok(text("cancelled"))
    }
}

struct Boom;
impl ToolHandler for Boom {
    fn definition(&self) -> Tool {
        Tool::new("boom", object())
    }
    async fn call(&self, _cx: Context, _args: JsonObject) -> Result<CallToolResult> {
        panic!("the handler broke");
    }
}

/// Asks the user through the client: a server-to-client request (legacy) or an input request
/// (modern).
struct Ask;
impl ToolHandler for Ask {
    fn definition(&self) -> Tool {
        Tool::new("ask", object())
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> Result<CallToolResult> {
        let form: ElicitationSchema = serde_json::from_value(json!({
            "type": "object",
            "properties": {"colour": {"type": "string"}},
            "required": ["colour"]
        }))
        .unwrap();
        let answer = cx.elicit_with("Favourite colour?", form).await?;
        let colour = answer
            .content
            .as_ref()
            .and_then(|c| c.get("colour"))
            .and_then(Value::as_str)
            .unwrap_or("none")
            .to_owned();
        Ok(text(format!("colour: {colour}")))
    }
}

/// Asks the client's model.
struct Summarize;
impl ToolHandler for Summarize {
    fn definition(&self) -> Tool {
        Tool::new("summarize", object())
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> Result<CallToolResult> {
        let params: CreateMessageRequestParams = serde_json::from_value(json!({
            "messages": [{"role": "user", "content": {"type": "text", "text": "summarize"}}],
            "maxTokens": 16
        }))
        .unwrap();
        let answer = cx.sample(params).await?;
        Ok(text(format!("model: {}", answer.model)))
    }
}

/// Answers with who the session's client said it was at `initialize`: per-session state.
struct WhoAmI;
impl ToolHandler for WhoAmI {
    fn definition(&self) -> Tool {
        Tool::new("whoami", object())
    }
    async fn call(&self, cx: Context, args: JsonObject) -> Result<CallToolResult> {
        tokio::task::yield_now().await;
        let name = cx.client_info().map(|i| i.name.clone()).unwrap_or_default();
        let nonce = args.get("nonce").cloned().unwrap_or(Value::Null);
        Ok(text(format!("{name}/{nonce}")))
    }
}

/// Closes its stream's connection, then answers: the client resumes to get the answer.
struct Reconnect;
impl ToolHandler for Reconnect {
    fn definition(&self) -> Tool {
        Tool::new("reconnect", object())
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> Result<CallToolResult> {
        let closed = http::close_sse_stream(&cx, Some(Duration::from_millis(50)));
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(text(format!("closed early: {closed}")))
    }
}

/// Sends large notifications as fast as it can (a bounded number), recording whether it was
/// cancelled.
struct Flood(Arc<Probe>);
impl ToolHandler for Flood {
    fn definition(&self) -> Tool {
        Tool::new("flood", object())
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> Result<CallToolResult> {
        struct Flag(Arc<Probe>, Context);
        impl Drop for Flag {
            fn drop(&mut self) {
                if self.1.is_cancelled() {
                    self.0.flood_cancelled.store(true, Ordering::SeqCst);
                }
                self.0.flood_ended.notify_one();
            }
        }
        let _flag = Flag(self.0.clone(), cx.clone());
        let big = "x".repeat(16 * 1024);
        for i in 0..20_000u32 {
            cx.progress(f64::from(i) + 1.0, None, Some(&big));
            tokio::task::yield_now().await;
        }
        Ok(text("flooded"))
    }
}

/// Added while serving, for list_changed.
struct Extra;
impl ToolHandler for Extra {
    fn definition(&self) -> Tool {
        Tool::new("extra", object())
    }
    async fn call(&self, _cx: Context, _args: JsonObject) -> Result<CallToolResult> {
        Ok(text("extra"))
    }
}

fn test_server(probe: &Arc<Probe>) -> Server {
    Server::new("http-test", "1.0.0")
        .tool(Echo(probe.clone()))
        .tool(Chatty)
        .tool(Wait(probe.clone()))
        .tool(Boom)
        .tool(Ask)
        .tool(Summarize)
        .tool(WhoAmI)
        .tool(Reconnect)
        .tool(Flood(probe.clone()))
}

// ---------------------------------------------------------------------------------------------
// The client side.

struct Harness {
    addr: SocketAddr,
    url: String,
    service: McpService,
    server: Server,
    probe: Arc<Probe>,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A request about to be sent: its body and headers, which tests may break.
#[derive(Clone)]
struct Call {
    body: Value,
    headers: Vec<(String, String)>,
}

impl Call {
    fn with(mut self, name: &str, value: &str) -> Self {
        self = self.without(name);
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }
}

fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}, "sampling": {}},
        "io.modelcontextprotocol/clientInfo": {"name": "modern-test", "version": "1"}
    })
}

fn tool_call(id: i64, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": name, "arguments": arguments}})
}

fn request(id: i64, method: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method})
}

fn initialize_body(version: &str, capabilities: Value, name: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": version,
        "capabilities": capabilities,
        "clientInfo": {"name": name, "version": "1.0.0"}
    }})
}

impl Harness {
    async fn start(config: HttpConfig) -> Self {
        let probe = Arc::new(Probe::default());
        let server = test_server(&probe);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = McpService::new(server.clone(), config);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(service.clone().serve(listener, async {
            let _ = stopped.await;
        }));
        Harness {
            addr,
            url: format!("http://{addr}/mcp"),
            service,
            server,
            probe,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server gracefully and waits for it.
    async fn stop(&mut self) -> std::io::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("the server stops in time")
            .unwrap()
    }

    fn post(&self) -> reqwest::RequestBuilder {
        self.client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
    }

    fn get(&self, session: &str) -> reqwest::RequestBuilder {
        self.client
            .get(&self.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", LEGACY)
    }

    /// A POST within a legacy session.
    fn legacy(&self, session: &str, body: &Value) -> reqwest::RequestBuilder {
        self.post()
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", LEGACY)
            .body(body.to_string())
    }

    /// A modern request with the headers a conforming client sends.
    fn modern(&self, id: i64, method: &str, mut params: Value) -> Call {
        let meta = params
            .as_object_mut()
            .unwrap()
            .entry("_meta")
            .or_insert_with(|| json!({}));
        meta.as_object_mut()
            .unwrap()
            .extend(modern_meta().as_object().unwrap().clone());
        let mut headers = vec![
            ("content-type".into(), "application/json".into()),
            (
                "accept".into(),
                "application/json, text/event-stream".into(),
            ),
            ("mcp-protocol-version".into(), MODERN.into()),
            ("mcp-method".into(), method.into()),
        ];
        if let Some(name) = match method {
            "tools/call" | "prompts/get" => params["name"].as_str(),
            "resources/read" => params["uri"].as_str(),
            _ => None,
        } {
            headers.push(("mcp-name".into(), name.into()));
        }
        Call {
            body: json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
            headers,
        }
    }

    async fn send(&self, call: &Call) -> reqwest::Response {
        let mut request = self.client.post(&self.url);
        for (k, v) in &call.headers {
            request = request.header(k, v);
        }
        request.body(call.body.to_string()).send().await.unwrap()
    }

    /// `initialize` and `notifications/initialized`; the session id.
    async fn initialize(&self, version: &str, capabilities: Value, name: &str) -> String {
        let r = self
            .post()
            .body(initialize_body(version, capabilities, name).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
        let session = session_id(&r);
        let result = answer(r).await;
        assert_eq!(result["result"]["protocolVersion"], version);
        let r = self
            .legacy(
                &session,
                &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        session
    }

    /// Checks that the server still serves a plain request.
    async fn assert_serving(&self) {
        let r = self
            .send(&self.modern(
                4242,
                "tools/call",
                json!({"name": "echo", "arguments": {"text": "still here"}}),
            ))
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            answer(r).await["result"]["content"][0]["text"],
            "still here"
        );
    }
}

/// Waits for `event` (a permit is kept if it came first), at most [`PATIENCE`].
async fn signalled(what: &str, event: &tokio::sync::Notify) {
    tokio::time::timeout(PATIENCE, event.notified())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// Waits until `condition` holds, at most [`PATIENCE`].
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends `head` and `body` on a new connection and reads until the server closes it; the status
/// and the whole answer.
async fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    read_answer(&mut stream).await
}

async fn read_answer(stream: &mut TcpStream) -> (u16, String) {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => panic!("the server did not close the connection in time"),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn raw_head(host: &str, extra: &str, length: Option<usize>) -> String {
    let length = length.map_or_else(String::new, |n| format!("content-length: {n}\r\n"));
    format!(
        "POST /mcp HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\nconnection: close\r\n{length}{extra}\r\n"
    )
}

fn modern_echo_body() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "echo", "arguments": {"text": "raw"}, "_meta": modern_meta()
    }})
    .to_string()
}

const MODERN_ECHO_HEADERS: &str =
    "mcp-protocol-version: 2026-07-28\r\nmcp-method: tools/call\r\nmcp-name: echo\r\n";

// ---------------------------------------------------------------------------------------------
// Legacy sessions.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_session_from_initialize_to_delete() {
    let h = Harness::start(HttpConfig::new()).await;
    let r = h
        .post()
        .body(initialize_body(LEGACY, json!({}), "flow").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(content_type(&r), "application/json");
    let session = session_id(&r);
    let init = answer(r).await;
    assert_eq!(init["result"]["protocolVersion"], LEGACY);
    assert_eq!(init["result"]["serverInfo"]["name"], "http-test");
    assert_eq!(h.service.session_count(), 1);

    let r = h
        .legacy(
            &session,
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(r.text().await.unwrap().is_empty());

    let r = h
        .legacy(&session, &request(1, "tools/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(content_type(&r), "application/json");
    let list = answer(r).await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"echo") && names.contains(&"chatty"));

    // A handler that sends nothing first: one JSON object.
    let r = h
        .legacy(&session, &tool_call(2, "echo", json!({"text": "hi"})))
        .send()
        .await
        .unwrap();
    assert_eq!(content_type(&r), "application/json");
    assert!(r.headers().get("mcp-session-id").is_none());
    assert_eq!(answer(r).await["result"]["content"][0]["text"], "hi");

    // A handler that reports progress and logs: an SSE stream, primed, with unique event ids.
    let r = h
        .legacy(
            &session,
            &json!({"jsonrpc": "2.0", "id": 3, "method": "logging/setLevel", "params": {"level": "info"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer(r).await["result"], json!({}));
    let mut chatty = tool_call(4, "chatty", json!({"steps": 3}));
    chatty["params"]["_meta"] = json!({"progressToken": "p4"});
    let r = h.legacy(&session, &chatty).send().await.unwrap();
    assert_eq!(content_type(&r), "text/event-stream");
    let events = parse_events(&r.text().await.unwrap());
    assert!(events[0].data.is_empty(), "a priming event first");
    assert_eq!(events[0].retry, Some(1000));
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_deref().unwrap()).collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "{ids:?}"
    );
    let sent: Vec<Value> = events[1..].iter().map(Event::message).collect();
    let count = |method: &str| sent.iter().filter(|m| m["method"] == method).count();
    assert_eq!(count("notifications/progress"), 3);
    assert_eq!(count("notifications/message"), 3);
    let last = sent.last().unwrap();
    assert_eq!(last["id"], 4);
    assert_eq!(last["result"]["content"][0]["text"], "done");

    // DELETE ends the session: 404 from then on.
    let r = h
        .client
        .delete(&h.url)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(h.service.session_count(), 0);
    let r = h
        .legacy(&session, &request(5, "tools/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = h
        .client
        .delete(&h.url)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    h.initialize(LEGACY, json!({}), "again").await;
}

/// A legacy session's start (its protocol and client) and its end (and why) are audited, with
/// the session id: ended by the client's DELETE, or by the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_sessions_start_and_end_are_audited() {
    use mcp_server::audit::{Audit, AuditKind, MemorySink};
    let memory = Arc::new(MemorySink::default());
    let probe = Arc::new(Probe::default());
    let server = test_server(&probe).audit(Audit::new().with_sink(memory.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let config = HttpConfig::new().session_idle_timeout(Duration::from_millis(300));
    let service = McpService::new(server, config);
    let task = tokio::spawn(service.clone().serve(listener, std::future::pending()));
    let client = reqwest::Client::new();
    let open = || async {
        let r = client
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(initialize_body(LEGACY, json!({}), "audited-client").to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        session_id(&r)
    };
    let sessions = |records: &[mcp_server::audit::AuditRecord]| {
        records
            .iter()
            .filter(|r| r.kind == AuditKind::Session)
            .map(|r| {
                (
                    r.method.clone(),
                    r.session_id.clone().unwrap_or_default(),
                    r.reason.clone().unwrap_or_default(),
                )
            })
            .collect::<Vec<_>>()
    };

    let deleted = open().await;
    let r = client
        .delete(&url)
        .header("mcp-session-id", &deleted)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let seen = sessions(&memory.take());
    assert_eq!(
        seen,
        [
            (
                "session/start".to_owned(),
                deleted.clone(),
                format!("protocol {LEGACY}; client audited-client 1.0.0")
            ),
            (
                "session/end".to_owned(),
                deleted,
                "the client ended it (DELETE)".to_owned()
            ),
        ]
    );

    let idle = open().await;
    eventually("the idle session expires", || service.session_count() == 0).await;
    let seen = sessions(&memory.take());
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[1],
        (
            "session/end".to_owned(),
            idle,
            "idle past the session timeout".to_owned()
        )
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_requests_need_a_known_session() {
    let h = Harness::start(HttpConfig::new()).await;
    // No session id: 400.
    let r = h
        .post()
        .body(request(1, "tools/list").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(&answer(r).await), -32600);
    let r = h
        .post()
        .body(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // An unknown one: 404.
    let r = h
        .legacy(
            "00000000000000000000000000000000",
            &request(1, "tools/list"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = h.get("not-a-session").send().await.unwrap();
    assert_eq!(r.status(), 404);
    // Without MCP-Protocol-Version, 2025-03-26 is assumed and the request is served.
    let session = h.initialize(LEGACY, json!({}), "no-header").await;
    let r = h
        .post()
        .header("mcp-session-id", &session)
        .body(request(2, "tools/list").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(answer(r).await["result"]["tools"].is_array());
    h.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_server_requests_travel_on_the_post_stream() {
    let h = Harness::start(HttpConfig::new()).await;
    let session = h
        .initialize(LEGACY, json!({"elicitation": {}, "sampling": {}}), "asker")
        .await;

    // Elicitation: the request arrives on the call's stream; the answer is POSTed back.
    let r = h
        .legacy(&session, &tool_call(5, "ask", json!({})))
        .send()
        .await
        .unwrap();
    let mut sse = Sse::new(r);
    let ask = sse.next_message().await.unwrap();
    assert_eq!(ask["method"], "elicitation/create");
    assert_eq!(ask["params"]["message"], "Favourite colour?");
    let reply = json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "accept", "content": {"colour": "teal"}}});
    let r = h.legacy(&session, &reply).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let done = sse.next_message().await.unwrap();
    assert_eq!(done["id"], 5);
    assert_eq!(done["result"]["content"][0]["text"], "colour: teal");
    assert!(
        sse.next().await.is_none(),
        "the stream ends with the answer"
    );

    // Sampling, the same way.
    let r = h
        .legacy(&session, &tool_call(6, "summarize", json!({})))
        .send()
        .await
        .unwrap();
    let mut sse = Sse::new(r);
    let ask = sse.next_message().await.unwrap();
    assert_eq!(ask["method"], "sampling/createMessage");
    let reply = json!({"jsonrpc": "2.0", "id": ask["id"], "result": {
        "role": "assistant", "content": {"type": "text", "text": "short"}, "model": "m1"
    }});
    let r = h.legacy(&session, &reply).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let done = sse.next_message().await.unwrap();
    assert_eq!(done["result"]["content"][0]["text"], "model: m1");
    h.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_stream_carries_list_changed_and_a_second_get_replaces_it() {
    let h = Harness::start(HttpConfig::new()).await;
    let session = h.initialize(LEGACY, json!({}), "watcher").await;
    let r = h.get(&session).send().await.unwrap();
    let mut first = Sse::new(r);
    let priming = first.next().await.unwrap();
    assert!(priming.data.is_empty());
    assert_eq!(priming.id.as_deref(), Some("0-0"));

    h.server.add_tool(Extra);
    let changed = first.next_message().await.unwrap();
    assert_eq!(changed["method"], "notifications/tools/list_changed");

    // One GET stream per session: the newest wins and the older one ends.
    let r = h.get(&session).send().await.unwrap();
    let mut second = Sse::new(r);
    assert!(second.next().await.unwrap().data.is_empty());
    assert!(first.next().await.is_none(), "the first GET stream ended");
    assert!(h.server.remove_tool("extra"));
    let changed = second.next_message().await.unwrap();
    assert_eq!(changed["method"], "notifications/tools/list_changed");

    // GET needs `Accept: text/event-stream`.
    let r = h
        .client
        .get(&h.url)
        .header("accept", "application/json")
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    h.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_replays_that_stream_only() {
    let h = Harness::start(HttpConfig::new()).await;
    let session = h.initialize(LEGACY, json!({}), "resumer").await;
    // Something for the GET stream (0), which must not leak into the request's stream.
    h.server.add_tool(Extra);

    let mut slow = tool_call(7, "chatty", json!({"steps": 4, "delayMs": 50}));
    slow["params"]["_meta"] = json!({"progressToken": "p7"});
    let r = h.legacy(&session, &slow).send().await.unwrap();
    let mut sse = Sse::new(r);
    let priming = sse.next().await.unwrap();
    assert_eq!(priming.id.as_deref(), Some("1-0"));
    let first = sse.next().await.unwrap();
    assert_eq!(first.id.as_deref(), Some("1-1"));
    assert_eq!(first.message()["params"]["progress"], 1.0);
    drop(sse); // the connection is lost mid-stream

    let r = h
        .get(&session)
        .header("last-event-id", "1-1")
        .send()
        .await
        .unwrap();
    let events = parse_events(&r.text().await.unwrap());
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_deref().unwrap()).collect();
    assert_eq!(ids, ["1-2", "1-3", "1-4", "1-5"]);
    let sent: Vec<Value> = events.iter().map(Event::message).collect();
    let progress: Vec<f64> = sent[..3]
        .iter()
        .map(|m| m["params"]["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(progress, [2.0, 3.0, 4.0]);
    assert_eq!(sent[3]["id"], 7);
    assert_eq!(sent[3]["result"]["content"][0]["text"], "done");

    // Delivered to the end, the stream is forgotten; unknown ids get 400.
    for id in ["1-1", "9-1", "garbage"] {
        let r = h
            .get(&session)
            .header("last-event-id", id)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{id}");
    }
    // The GET stream kept its own event for whoever resumes it.
    let r = h
        .get(&session)
        .header("last-event-id", "0-0")
        .send()
        .await
        .unwrap();
    let mut sse = Sse::new(r);
    let changed = sse.next().await.unwrap();
    assert_eq!(changed.id.as_deref(), Some("0-1"));
    assert_eq!(
        changed.message()["method"],
        "notifications/tools/list_changed"
    );
    h.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_may_close_its_connection_and_answer_on_the_resumed_stream() {
    let h = Harness::start(HttpConfig::new()).await;
    let session = h.initialize(LEGACY, json!({}), "poller").await;
    let r = h
        .legacy(&session, &tool_call(8, "reconnect", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(content_type(&r), "text/event-stream");
    let events = parse_events(&r.text().await.unwrap());
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].id.as_deref(), Some("1-0"));
    assert!(events[0].data.is_empty());
    assert_eq!(events[1].retry, Some(50), "the retry hint before the close");

    let r = h
        .get(&session)
        .header("last-event-id", "1-0")
        .send()
        .await
        .unwrap();
    let answer = answer(r).await;
    assert_eq!(answer["id"], 8);
    assert_eq!(answer["result"]["content"][0]["text"], "closed early: true");

    // A 2025-06-18 client cannot resume: the request is told so and answers on its stream.
    let old = h.initialize("2025-06-18", json!({}), "old").await;
    let r = h
        .post()
        .header("mcp-session-id", &old)
        .header("mcp-protocol-version", "2025-06-18")
        .body(tool_call(9, "reconnect", json!({})).to_string())
        .send()
        .await
        .unwrap();
    let all = messages(r).await;
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0]["result"]["content"][0]["text"],
        "closed early: false"
    );
}

/// The session's other requests go on while request `id` (of the `wait` tool) still runs, until
/// `notifications/cancelled` names it.
async fn still_running_until_cancelled(h: &Harness, session: &str, id: i64) {
    let r = h
        .legacy(session, &tool_call(id + 1, "echo", json!({"text": "x"})))
        .send()
        .await
        .unwrap();
    assert_eq!(answer(r).await["result"]["content"][0]["text"], "x");
    assert!(!h.probe.cancelled.load(Ordering::SeqCst));

    let cancel =
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id}});
    let r = h.legacy(session, &cancel).send().await.unwrap();
    assert_eq!(r.status(), 202);
    signalled("the cancellation", &h.probe.cancelled_event).await;
    assert!(h.probe.cancelled.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_disconnect_does_not_cancel_but_cancelled_does() {
    let h = Harness::start(HttpConfig::new()).await;
    let session = h.initialize(LEGACY, json!({}), "canceller").await;
    let mut wait = tool_call(9, "wait", json!({}));
    wait["params"]["_meta"] = json!({"progressToken": "w"});
    let r = h.legacy(&session, &wait).send().await.unwrap();
    let mut sse = Sse::new(r);
    assert_eq!(
        sse.next_message().await.unwrap()["method"],
        "notifications/progress"
    );
    drop(sse);
    still_running_until_cancelled(&h, &session, 9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_request_outlives_a_response_dropped_before_anything_was_said() {
    // Served in the response's own task until it says something: a response dropped before
    // that leaves the request running, still cancellable by id.
    let h = Harness::start(HttpConfig::new()).await;
    let session = h.initialize(LEGACY, json!({}), "impatient").await;
    let gave_up = h
        .legacy(&session, &tool_call(9, "wait", json!({})))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()));
    still_running_until_cancelled(&h, &session, 9).await;
}

// ---------------------------------------------------------------------------------------------
// Modern requests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_requests_are_stateless() {
    let h = Harness::start(HttpConfig::new()).await;
    let r = h
        .send(&h.modern(
            1,
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "hi"}}),
        ))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(content_type(&r), "application/json");
    assert!(r.headers().get("mcp-session-id").is_none());
    let result = answer(r).await["result"].clone();
    assert_eq!(result["content"][0]["text"], "hi");
    assert_eq!(result["resultType"], "complete");
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "http-test"
    );

    let r = h.send(&h.modern(2, "server/discover", json!({}))).await;
    let discover = answer(r).await;
    assert!(
        discover["result"]["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!(MODERN))
    );

    // Progress and log messages on the request's stream, without event ids.
    let r = h
        .send(&h.modern(
            3,
            "tools/call",
            json!({"name": "chatty", "arguments": {"steps": 2},
                   "_meta": {"progressToken": "m3", "io.modelcontextprotocol/logLevel": "info"}}),
        ))
        .await;
    assert_eq!(content_type(&r), "text/event-stream");
    let events = parse_events(&r.text().await.unwrap());
    assert!(events.iter().all(|e| e.id.is_none()));
    let sent: Vec<Value> = events.iter().map(Event::message).collect();
    assert_eq!(sent.len(), 5);
    assert_eq!(sent[4]["result"]["content"][0]["text"], "done");

    // `Mcp-Name` in the base64 form, with surrounding whitespace; a stale session id is ignored.
    let call = h
        .modern(
            4,
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "b64"}}),
        )
        .with("mcp-name", "  =?base64?ZWNobw==?=  ")
        .with("mcp-session-id", "stale-session");
    let r = h.send(&call).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("mcp-session-id").is_none());
    assert_eq!(answer(r).await["result"]["content"][0]["text"], "b64");
    assert_eq!(h.service.session_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_header_mismatches_get_400_and_32020() {
    let h = Harness::start(HttpConfig::new()).await;
    let echo = json!({"name": "echo", "arguments": {"text": "x"}});
    let list = h.modern(1, "tools/list", json!({}));
    let call = h.modern(2, "tools/call", echo.clone());
    let read = h.modern(3, "resources/read", json!({"uri": "file:///a"}));
    let cases = [
        ("Mcp-Method missing", list.clone().without("mcp-method")),
        (
            "Mcp-Method differs",
            list.clone().with("mcp-method", "prompts/list"),
        ),
        (
            "Mcp-Method in another case",
            list.clone().with("mcp-method", "TOOLS/LIST"),
        ),
        ("Mcp-Name missing", call.clone().without("mcp-name")),
        ("Mcp-Name differs", call.clone().with("mcp-name", "other")),
        (
            "Mcp-Name not base64",
            call.clone().with("mcp-name", "=?base64?!!!?="),
        ),
        (
            "MCP-Protocol-Version differs",
            call.clone().with("mcp-protocol-version", LEGACY),
        ),
        (
            "MCP-Protocol-Version missing",
            call.clone().without("mcp-protocol-version"),
        ),
        (
            "Mcp-Name missing on resources/read",
            read.without("mcp-name"),
        ),
    ];
    for (what, call) in cases {
        let r = h.send(&call).await;
        assert_eq!(r.status(), 400, "{what}");
        assert_eq!(code(&answer(r).await), -32020, "{what}");
    }
    assert_eq!(
        h.probe.echo_calls.load(Ordering::SeqCst),
        0,
        "no handler ran"
    );

    // Header names are case-insensitive.
    let r = h
        .send(
            &list
                .clone()
                .without("mcp-method")
                .with("MCP-METHOD", "tools/list"),
        )
        .await;
    assert_eq!(r.status(), 200);

    // An unknown method: 404 with -32601.
    let r = h.send(&h.modern(4, "tools/frobnicate", json!({}))).await;
    assert_eq!(r.status(), 404);
    assert_eq!(code(&answer(r).await), -32601);

    // An unsupported version: 400 with -32022 and the supported versions.
    let mut future = h
        .modern(5, "tools/list", json!({}))
        .with("mcp-protocol-version", "2099-01-01");
    future.body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let r = h.send(&future).await;
    assert_eq!(r.status(), 400);
    let error = answer(r).await;
    assert_eq!(code(&error), -32022);
    assert!(
        error["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .contains(&json!(MODERN))
    );

    // No GET stream and no sessions to delete: 405.
    let r = h
        .client
        .get(&h.url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = h.client.delete(&h.url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    h.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_requests_need_their_meta() {
    let h = Harness::start(HttpConfig::new()).await;
    let discover = h.modern(1, "server/discover", json!({}));
    let mut no_meta = discover.clone();
    no_meta.body["params"] = json!({});
    let mut no_version = discover.clone();
    no_version.body["params"]["_meta"]
        .as_object_mut()
        .unwrap()
        .remove("io.modelcontextprotocol/protocolVersion");
    let mut no_capabilities = discover.clone();
    no_capabilities.body["params"]["_meta"]
        .as_object_mut()
        .unwrap()
        .remove("io.modelcontextprotocol/clientCapabilities");
    for (what, call) in [
        ("no _meta", no_meta),
        ("no protocolVersion", no_version),
        ("no clientCapabilities", no_capabilities),
    ] {
        let r = h.send(&call).await;
        assert_eq!(r.status(), 400, "{what}");
        let error = answer(r).await;
        assert_eq!(code(&error), -32602, "{what}");
        assert_eq!(error["id"], 1, "{what}");
    }
    // clientInfo is optional.
    let mut no_info = discover;
    no_info.body["params"]["_meta"]
        .as_object_mut()
        .unwrap()
        .remove("io.modelcontextprotocol/clientInfo");
    let r = h.send(&no_info).await;
    assert_eq!(r.status(), 200);
    // `initialize` with modern `_meta` is a modern request for a method that does not exist.
    let init = h.modern(
        2,
        "initialize",
        json!({"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "m", "version": "1"}}),
    );
    let r = h.send(&init).await;
    assert_eq!(r.status(), 404);
    assert_eq!(code(&answer(r).await), -32601);
    assert_eq!(h.service.session_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_input_required_round_trip() {
    let h = Harness::start(HttpConfig::new()).await;
    let params = json!({"name": "ask", "arguments": {}});
    let r = h.send(&h.modern(1, "tools/call", params.clone())).await;
    assert_eq!(r.status(), 200);
    let result = answer(r).await["result"].clone();
    assert_eq!(result["resultType"], "input_required");
    let (key, ask) = result["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    assert_eq!(ask["method"], "elicitation/create");
    let mut retry = params;
    retry["inputResponses"] = json!({ key: {"action": "accept", "content": {"colour": "red"}} });
    retry["requestState"] = result["requestState"].clone();
    let r = h.send(&h.modern(2, "tools/call", retry)).await;
    let result = answer(r).await["result"].clone();
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["content"][0]["text"], "colour: red");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_disconnect_cancels_the_request() {
    let h = Harness::start(HttpConfig::new()).await;
    let r = h
        .send(&h.modern(
            1,
            "tools/call",
            json!({"name": "wait", "arguments": {}, "_meta": {"progressToken": "w"}}),
        ))
        .await;
    let mut sse = Sse::new(r);
    assert_eq!(
        sse.next_message().await.unwrap()["method"],
        "notifications/progress"
    );
    assert!(!h.probe.cancelled.load(Ordering::SeqCst));
    drop(sse);
    signalled("the cancellation", &h.probe.cancelled_event).await;
    assert!(h.probe.cancelled.load(Ordering::SeqCst));
    h.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_listen_streams_changes() {
    let h = Harness::start(HttpConfig::new()).await;
    let r = h
        .send(&h.modern(
            1,
            "subscriptions/listen",
            json!({"notifications": {"toolsListChanged": true}}),
        ))
        .await;
    let mut sse = Sse::new(r);
    let ack = sse.next_message().await.unwrap();
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    h.server.add_tool(Extra);
    let changed = sse.next_message().await.unwrap();
    assert_eq!(changed["method"], "notifications/tools/list_changed");
    assert_eq!(
        changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        1
    );
    h.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_modes() {
    // Always SSE: even `initialize` and a plain call come as streams.
    let h = Harness::start(HttpConfig::new().response_mode(ResponseMode::Sse)).await;
    let r = h
        .post()
        .body(initialize_body(LEGACY, json!({}), "sse").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(content_type(&r), "text/event-stream");
    let session = session_id(&r);
    assert_eq!(answer(r).await["result"]["protocolVersion"], LEGACY);
    let r = h
        .legacy(&session, &tool_call(1, "echo", json!({"text": "s"})))
        .send()
        .await
        .unwrap();
    assert_eq!(content_type(&r), "text/event-stream");
    assert_eq!(answer(r).await["result"]["content"][0]["text"], "s");

    // Always JSON: progress does not turn the answer into a stream.
    let h = Harness::start(HttpConfig::new().response_mode(ResponseMode::Json)).await;
    let r = h
        .send(&h.modern(
            1,
            "tools/call",
            json!({"name": "chatty", "arguments": {}, "_meta": {"progressToken": "j"}}),
        ))
        .await;
    assert_eq!(content_type(&r), "application/json");
    assert_eq!(answer(r).await["result"]["content"][0]["text"], "done");
}

// ---------------------------------------------------------------------------------------------
// SECURITY.md: framing and parsing.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_400_with_the_codec_error() {
    let h = Harness::start(HttpConfig::new()).await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: [(&str, String, i64); 7] = [
        ("empty array", "[]".into(), -32600),
        (
            "batch",
            json!([request(1, "ping"), request(2, "ping")]).to_string(),
            -32600,
        ),
        (
            "fractional id",
            r#"{"jsonrpc":"2.0","id":1.5,"method":"tools/list"}"#.into(),
            -32600,
        ),
        (
            "null id",
            r#"{"jsonrpc":"2.0","id":null,"method":"tools/list"}"#.into(),
            -32600,
        ),
        (
            "id beyond i64",
            r#"{"jsonrpc":"2.0","id":99999999999999999999,"method":"tools/list"}"#.into(),
            -32600,
        ),
        ("not JSON", "{not json".into(), -32700),
        ("nested 10,000 deep", deep, -32700),
    ];
    let mut cases: Vec<(&str, Vec<u8>, i64)> = cases
        .into_iter()
        .map(|(what, body, code)| (what, body.into_bytes(), code))
        .collect();
    // Real invalid bytes (not their lossy replacement, which is valid UTF-8): alone, and inside
    // an otherwise valid request.
    cases.push(("not UTF-8", b"\xff\xfe".to_vec(), -32700));
    cases.push((
        "not UTF-8 in a string",
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"\xc3\x28\"}}}".to_vec(),
        -32700,
    ));
    assert!(std::str::from_utf8(&cases[cases.len() - 1].1).is_err());
    for (what, body, expected) in cases {
        let r = h.post().body(body).send().await.unwrap();
        assert_eq!(r.status(), 400, "{what}");
        let error = answer(r).await;
        assert_eq!(code(&error), expected, "{what}");
        assert!(error["id"].is_null(), "{what}");
    }
    h.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_keys_have_one_interpretation() {
    let h = Harness::start(HttpConfig::new()).await;
    // Of two protocol versions in `_meta`, the last counts, for the header checks and for the
    // engine alike: this is a modern request, and its modern headers match.
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"dup"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
    let call = h.modern(1, "tools/call", json!({"name": "echo"}));
    let mut request = h.client.post(&h.url);
    for (k, v) in &call.headers {
        request = request.header(k, v);
    }
    let r = request.body(body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let result = answer(r).await["result"].clone();
    assert_eq!(result["content"][0]["text"], "dup");
    assert_eq!(result["resultType"], "complete");
    assert_eq!(h.service.session_count(), 0);

    // Two tool names: neither is called.
    let body = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","name":"boom","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    for name in ["echo", "boom"] {
        let mut request = h.client.post(&h.url);
        for (k, v) in &call.clone().with("mcp-name", name).headers {
            request = request.header(k, v);
        }
        let r = request.body(body).send().await.unwrap();
        assert_eq!(r.status(), 400, "{name}");
        assert_eq!(code(&answer(r).await), -32020, "{name}");
    }
    assert_eq!(h.probe.echo_calls.load(Ordering::SeqCst), 1);
    h.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_get_32601() {
    let h = Harness::start(HttpConfig::new()).await;
    let r = h.send(&h.modern(1, "nope/nothing", json!({}))).await;
    assert_eq!(r.status(), 404);
    assert_eq!(code(&answer(r).await), -32601);
    let session = h.initialize(LEGACY, json!({}), "lost").await;
    let r = h
        .legacy(&session, &request(2, "nope/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(code(&answer(r).await), -32601);
    h.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_fails_only_its_request() {
    let h = Harness::start(HttpConfig::new()).await;
    let r = h
        .send(&h.modern(1, "tools/call", json!({"name": "boom", "arguments": {}})))
        .await;
    assert_eq!(code(&answer(r).await), -32603);
    h.assert_serving().await;

    let session = h.initialize(LEGACY, json!({}), "boom").await;
    let r = h
        .legacy(&session, &tool_call(2, "boom", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(code(&answer(r).await), -32603);
    let r = h
        .legacy(&session, &tool_call(3, "echo", json!({"text": "ok"})))
        .send()
        .await
        .unwrap();
    assert_eq!(answer(r).await["result"]["content"][0]["text"], "ok");
}

// ---------------------------------------------------------------------------------------------
// SECURITY.md: the HTTP transport.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origins_get_403_and_the_handler_never_runs() {
    let h = Harness::start(HttpConfig::new()).await;
    let echo = json!({"name": "echo", "arguments": {"text": "o"}});
    for origin in [
        "http://evil.example",
        "null",
        "http://localhost.evil.example",
    ] {
        let r = h
            .send(
                &h.modern(1, "tools/call", echo.clone())
                    .with("origin", origin),
            )
            .await;
        assert_eq!(r.status(), 403, "{origin}");
        let r = h
            .post()
            .header("origin", origin)
            .body(initialize_body(LEGACY, json!({}), "evil").to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{origin}");
    }
    assert_eq!(h.probe.echo_calls.load(Ordering::SeqCst), 0);
    assert_eq!(h.service.session_count(), 0);

    let r = h
        .send(
            &h.modern(2, "tools/call", echo)
                .with("origin", "http://localhost:5173"),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(h.probe.echo_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_host_names_get_403() {
    let h = Harness::start(HttpConfig::new()).await;
    let body = modern_echo_body();
    let port = h.addr.port();
    for host in ["evil.example", &format!("evil.example:{port}")] {
        let (status, _) = raw(
            h.addr,
            &raw_head(host, MODERN_ECHO_HEADERS, Some(body.len())),
            body.as_bytes(),
        )
        .await;
        assert_eq!(status, 403, "{host}");
    }
    assert_eq!(h.probe.echo_calls.load(Ordering::SeqCst), 0);
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
    ] {
        let (status, _) = raw(
            h.addr,
            &raw_head(&host, MODERN_ECHO_HEADERS, Some(body.len())),
            body.as_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{host}");
    }
    assert_eq!(h.probe.echo_calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_accept_or_version_get_415_406_400() {
    let h = Harness::start(HttpConfig::new()).await;
    let echo = json!({"name": "echo", "arguments": {"text": "x"}});
    let call = h.modern(1, "tools/call", echo);
    for (what, call, status) in [
        (
            "text/plain body",
            call.clone().with("content-type", "text/plain"),
            415,
        ),
        ("no Content-Type", call.clone().without("content-type"), 415),
        (
            "JSON only",
            call.clone().with("accept", "application/json"),
            406,
        ),
        (
            "SSE only",
            call.clone().with("accept", "text/event-stream"),
            406,
        ),
    ] {
        let r = h.send(&call).await;
        assert_eq!(r.status(), status, "{what}");
    }
    // reqwest always sends an `Accept`: without one, over raw TCP.
    let body = modern_echo_body();
    let head = raw_head("127.0.0.1", MODERN_ECHO_HEADERS, Some(body.len()))
        .replace("accept: application/json, text/event-stream\r\n", "");
    let (status, _) = raw(h.addr, &head, body.as_bytes()).await;
    assert_eq!(status, 406, "no Accept");
    assert_eq!(h.probe.echo_calls.load(Ordering::SeqCst), 0);
    // `*/*` and parameters are fine.
    let r = h
        .send(
            &call
                .clone()
                .with("accept", "*/*")
                .with("content-type", "application/json; charset=utf-8"),
        )
        .await;
    assert_eq!(r.status(), 200);

    // Legacy: an unknown MCP-Protocol-Version, on `initialize` or later, gets 400.
    for version in ["invalid-protocol-version", "2000-01-01", "2099-01-01"] {
        let r = h
            .post()
            .header("mcp-protocol-version", version)
            .body(initialize_body(LEGACY, json!({}), "v").to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{version}");
    }
    assert_eq!(h.service.session_count(), 0);
    let session = h.initialize(LEGACY, json!({}), "v").await;
    for version in [
        "invalid-protocol-version",
        "2000-01-01",
        "2099-01-01",
        MODERN,
    ] {
        let r = h
            .post()
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", version)
            .body(request(2, "tools/list").to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{version}");
    }
    let r = h
        .legacy(&session, &request(3, "tools/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413_and_create_nothing() {
    let h = Harness::start(HttpConfig::new().max_body_size(1024)).await;
    let big = initialize_body(LEGACY, json!({}), &"x".repeat(2048)).to_string();
    // Declared length.
    let r = h.post().body(big.clone()).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(h.service.session_count(), 0);
    // Chunked, with no declared length.
    let chunked = format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len());
    let (status, _) = raw(
        h.addr,
        &raw_head("127.0.0.1", "transfer-encoding: chunked\r\n", None),
        chunked.as_bytes(),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(h.service.session_count(), 0);
    // Just under the limit is fine.
    h.initialize(LEGACY, json!({}), "small").await;
    assert_eq!(h.service.session_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_body_gets_413_at_once() {
    let h = Harness::start(HttpConfig::new()).await;
    // The declared length is refused before any of the body is read.
    let (status, _) = raw(
        h.addr,
        &raw_head("127.0.0.1", "", Some(100 * 1024 * 1024)),
        b"",
    )
    .await;
    assert_eq!(status, 413);

    // Streamed without a length: the server answers 413 as soon as the limit is passed, and
    // reads and drops the rest while it comes, so that the connection is closed, not reset
    // under the answer. The client reads while it writes, and stops writing at the answer, as
    // an HTTP client that watches for an early response does.
    let stream = TcpStream::connect(h.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let (answered, mut stop) = oneshot::channel::<()>();
    let sender = tokio::spawn(async move {
        writer
            .write_all(raw_head("127.0.0.1", "transfer-encoding: chunked\r\n", None).as_bytes())
            .await
            .unwrap();
        let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, "x".repeat(1 << 20));
        for _ in 0..100 {
            tokio::select! {
                _ = &mut stop => break,
                written = writer.write_all(chunk.as_bytes()) => written.unwrap(),
            }
        }
        writer
    });
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut answered = Some(answered);
    loop {
        let n = tokio::time::timeout(PATIENCE, reader.read(&mut buf))
            .await
            .expect("the server answers and closes")
            .expect("the connection is closed, not reset");
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n")
            && let Some(answered) = answered.take()
        {
            let _ = answered.send(());
        }
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains("\"maxMessageSize\":4194304"), "{answer}");
    drop(sender.await.unwrap());
    assert_eq!(h.service.session_count(), 0);
    h.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    let config = HttpConfig::new()
        .header_read_timeout(Duration::from_millis(300))
        .body_read_timeout(Duration::from_millis(300));
    let h = Harness::start(config).await;

    // Headers one byte at a time: the connection is closed.
    let stream = TcpStream::connect(h.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = raw_head("127.0.0.1", "", Some(2));
    // Whether the client got to send everything: it must be cut off first.
    let sent_all = Arc::new(AtomicBool::new(false));
    let sent = sent_all.clone();
    let trickle = tokio::spawn(async move {
        for b in head.bytes() {
            if writer.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sent.store(true, Ordering::SeqCst);
    });
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(PATIENCE, reader.read(&mut buf))
            .await
            .expect("the server closes the connection")
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(
        !sent_all.load(Ordering::SeqCst),
        "closed while the headers were still trickling in"
    );
    trickle.abort();

    // A body one byte at a time: 408.
    let mut stream = TcpStream::connect(h.addr).await.unwrap();
    let body = modern_echo_body();
    stream
        .write_all(raw_head("127.0.0.1", MODERN_ECHO_HEADERS, Some(body.len())).as_bytes())
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let sent_all = Arc::new(AtomicBool::new(false));
    let sent = sent_all.clone();
    let trickle = tokio::spawn(async move {
        for b in body.bytes() {
            if writer.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sent.store(true, Ordering::SeqCst);
    });
    let mut answer = Vec::new();
    loop {
        match tokio::time::timeout(PATIENCE, reader.read(&mut buf))
            .await
            .expect("the server answers")
        {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        !sent_all.load(Ordering::SeqCst),
        "answered while the body was still trickling in"
    );
    trickle.abort();
    assert_eq!(h.probe.echo_calls.load(Ordering::SeqCst), 0);
    h.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_leave_room_or_get_a_quick_503() {
    // A thousand idle connections under the limit: real requests are still served.
    let h = Harness::start(HttpConfig::new().max_connections(1_100)).await;
    let mut idle = Vec::new();
    for _ in 0..1_000 {
        idle.push(TcpStream::connect(h.addr).await.unwrap());
    }
    h.assert_serving().await;
    drop(idle);

    // Over the limit: a quick 503, and once the idle ones time out, service again.
    let config = HttpConfig::new()
        .max_connections(16)
        .header_read_timeout(Duration::from_secs(5));
    let h = Harness::start(config).await;
    // Each idle connection reports when the server closes it.
    let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..32 {
        let mut stream = TcpStream::connect(h.addr).await.unwrap();
        let closed_tx = closed_tx.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            let _ = closed_tx.send(());
        });
    }
    drop(closed_tx);
    // The server drops the 16 over the limit at once (so it has accepted all 32) and holds the
    // other 16 until their headers are late.
    for _ in 0..16 {
        tokio::time::timeout(PATIENCE, closed.recv())
            .await
            .expect("the connections over the limit are dropped at once");
    }
    let r = reqwest::Client::new().post(&h.url).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(
        closed.try_recv().is_err(),
        "503 without waiting for an idle connection to time out"
    );
    // Once the held ones are closed, there is room again.
    for _ in 0..16 {
        tokio::time::timeout(PATIENCE, closed.recv())
            .await
            .expect("the server closes idle connections");
    }
    let r = reqwest::Client::new()
        .post(&h.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .body(modern_echo_body())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "served again once the idle connections are gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_never_reads_loses_its_stream() {
    let config = HttpConfig::new()
        .event_buffer(16)
        .write_timeout(Duration::from_millis(500));
    let h = Harness::start(config).await;
    let mut meta = modern_meta();
    meta["progressToken"] = json!("f");
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "flood", "arguments": {}, "_meta": meta
    }})
    .to_string();
    let headers =
        "mcp-protocol-version: 2026-07-28\r\nmcp-method: tools/call\r\nmcp-name: flood\r\n";
    let mut stream = TcpStream::connect(h.addr).await.unwrap();
    stream
        .write_all(raw_head("127.0.0.1", headers, Some(body.len())).as_bytes())
        .await
        .unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    // Never read: the request is cancelled once its stream falls behind.
    signalled("the flooding request to end", &h.probe.flood_ended).await;
    assert!(h.probe.flood_cancelled.load(Ordering::SeqCst));
    h.assert_serving().await;
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sessions_never_see_each_others_answers() {
    const SESSIONS: usize = 1_000;
    // reqwest may open more connections than it has requests in flight.
    // All from one address: the per-caller cap is raised with the total.
    let config = HttpConfig::new()
        .max_sessions(SESSIONS)
        .max_sessions_per_principal(SESSIONS)
        .max_connections(4 * SESSIONS);
    let h = Harness::start(config).await;
    let runs = (0..SESSIONS).map(|i| {
        let h = &h;
        async move {
            let name = format!("client-{i}");
            let session = h.initialize(LEGACY, json!({}), &name).await;
            let r = h
                .legacy(&session, &tool_call(1, "whoami", json!({"nonce": i})))
                .send()
                .await
                .unwrap();
            let text = answer(r).await["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned();
            (format!("{name}/{i}"), text, session)
        }
    });
    let results = futures::future::join_all(runs).await;
    let mut ids = HashSet::new();
    for (expected, got, session) in results {
        assert_eq!(got, expected);
        // 128 random bits as 32 hex digits: visible ASCII.
        assert_eq!(session.len(), 32);
        assert!(session.bytes().all(|b| b.is_ascii_hexdigit()));
        ids.insert(session);
    }
    assert_eq!(ids.len(), SESSIONS, "session ids are unique");
    assert_eq!(h.service.session_count(), SESSIONS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_beyond_the_maximum_get_503() {
    let h = Harness::start(HttpConfig::new().max_sessions(2)).await;
    let first = h.initialize(LEGACY, json!({}), "one").await;
    h.initialize(LEGACY, json!({}), "two").await;
    let r = h
        .post()
        .body(initialize_body(LEGACY, json!({}), "three").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("mcp-session-id").is_none());
    assert_eq!(code(&answer(r).await), -32000);
    assert_eq!(h.service.session_count(), 2);
    let r = h
        .client
        .delete(&h.url)
        .header("mcp-session-id", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    h.initialize(LEGACY, json!({}), "three").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_expire() {
    let h =
        Harness::start(HttpConfig::new().session_idle_timeout(Duration::from_millis(200))).await;
    let session = h.initialize(LEGACY, json!({}), "sleepy").await;
    eventually("the idle session to be closed", || {
        h.service.session_count() == 0
    })
    .await;
    let r = h
        .legacy(&session, &request(1, "tools/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    h.initialize(LEGACY, json!({}), "awake").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_requests_and_ends_streams() {
    let mut h = Harness::start(HttpConfig::new()).await;
    let session = h.initialize(LEGACY, json!({}), "leaving").await;
    let r = h.get(&session).send().await.unwrap();
    let mut get = Sse::new(r);
    assert!(get.next().await.unwrap().data.is_empty());

    let mut slow = tool_call(1, "chatty", json!({"steps": 3, "delayMs": 100}));
    slow["params"]["_meta"] = json!({"progressToken": "s"});
    let r = h.legacy(&session, &slow).send().await.unwrap();
    let mut call = Sse::new(r);
    call.next().await.unwrap(); // priming
    call.next_message().await.unwrap(); // the first progress report

    let stopping = async { h.stop().await };
    let finishing = async {
        assert!(get.next().await.is_none(), "the GET stream ends");
        let mut last = None;
        while let Some(m) = call.next_message().await {
            last = Some(m);
        }
        last
    };
    let (stopped, last) = tokio::join!(stopping, finishing);
    stopped.unwrap();
    let last = last.unwrap();
    assert_eq!(last["id"], 1);
    assert_eq!(last["result"]["content"][0]["text"], "done");
    assert_eq!(h.service.session_count(), 0);
    assert!(TcpStream::connect(h.addr).await.is_err());
}

/// Requests the transport refuses before dispatch (no token, a bad token, a disallowed
/// `Origin`, another principal's or an unknown session) get exactly one audit record each, of
/// kind `refusal`, with the status, the reason, the caller when known and the client's address,
/// and never the token; requests the engine refuses are not audited twice; good requests are
/// served and audited as before.
#[tokio::test]
async fn http_refusals_are_audited_once_without_the_token() {
    use mcp_server::audit::{Audit, AuditKind, AuditRecord, MemorySink};
    use mcp_server::http::auth::testing::TestAuthServer;
    use mcp_server::http::auth::{Jwks, JwtValidator, ResourceServer};

    let authz = TestAuthServer::start().await.unwrap();
    let memory = Arc::new(MemorySink::default());
    let probe = Arc::new(Probe::default());
    let server = test_server(&probe).audit(Audit::new().with_sink(memory.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let resource = format!("http://{addr}/mcp");
    let validator = JwtValidator::new(&resource, authz.issuer(), Jwks::url(authz.jwks_url()));
    let auth = ResourceServer::new(&resource, authz.issuer(), validator).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(http::serve(
        server,
        HttpConfig::new().auth(auth),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();
    let alice = authz.access_token(&resource, "alice", &[]);
    let post = |body: Value| {
        client
            .post(&resource)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string())
    };
    let modern = |id: i64, method: &str| {
        post(json!({"jsonrpc": "2.0", "id": id, "method": method,
                    "params": {"_meta": modern_meta()}}))
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", method)
    };
    let one_refusal = |records: Vec<AuditRecord>, status: u16, method: &str, reason: &str| {
        assert_eq!(records.len(), 1, "{records:?}");
        let r = records.into_iter().next().unwrap();
        assert_eq!(r.kind, AuditKind::Refusal);
        assert_eq!(r.status, Some(status));
        assert_eq!(r.method, method);
        assert_eq!(r.reason.as_deref(), Some(reason));
        let client: SocketAddr = r.client.as_deref().unwrap().parse().unwrap();
        assert_eq!(client.ip(), addr.ip());
        assert_ne!(client.port(), addr.port());
        r
    };

    // No token.
    let r = modern(1, "tools/list").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let rec = one_refusal(
        memory.take(),
        401,
        "HTTP POST",
        "authentication: no access token",
    );
    assert_eq!(rec.principal, None);

    // A token that does not verify (signed by another key): the record never holds it.
    let other = TestAuthServer::start().await.unwrap();
    let forged = other.access_token(&resource, "mallory", &[]);
    let r = modern(2, "tools/list")
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let rec = one_refusal(
        memory.take(),
        401,
        "HTTP POST",
        "authentication: invalid token (unknown, expired, or for another audience or issuer)",
    );
    let line = serde_json::to_string(&rec).unwrap();
    assert!(
        !line.contains(&forged[..20]) && !line.contains("mallory"),
        "{line}"
    );

    // A disallowed `Origin`, even with a good token.
    let r = modern(3, "tools/list")
        .bearer_auth(&alice)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    one_refusal(
        memory.take(),
        403,
        "HTTP POST",
        "this origin is not allowed",
    );

    // An unknown session: 404, with the authenticated caller and the request's method and id.
    let r = post(request(4, "tools/list"))
        .bearer_auth(&alice)
        .header("mcp-session-id", "no-such-session")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let rec = one_refusal(
        memory.take(),
        404,
        "tools/list",
        "no such session: send `initialize` to start a new one",
    );
    assert_eq!(rec.principal.as_deref(), Some("alice"));
    assert_eq!(rec.request_id, Some(4.into()));
    assert_eq!(rec.error_code, Some(-32600));
    assert!(!serde_json::to_string(&rec).unwrap().contains(&alice[..20]));

    // A GET without a session id (405) and a DELETE of an unknown session (404).
    let r = client
        .get(&resource)
        .bearer_auth(&alice)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    one_refusal(
        memory.take(),
        405,
        "HTTP GET",
        "GET and DELETE need the `Mcp-Session-Id` of a legacy session; modern clients send every request as a POST",
    );
    let r = client
        .delete(&resource)
        .bearer_auth(&alice)
        .header("mcp-session-id", "no-such-session")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let rec = memory.take();
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert_eq!(rec[0].status, Some(404));
    assert_eq!(rec[0].principal.as_deref(), Some("alice"));

    // Refused by the engine (unknown method, 404): one record, the engine's.
    let r = modern(5, "tools/frobnicate")
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let rec = memory.take();
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert_eq!(rec[0].kind, AuditKind::Refusal);
    assert_eq!(rec[0].error_code, Some(-32601));
    assert_eq!(rec[0].principal.as_deref(), Some("alice"));

    // A good request is served, and audited as a request and a response.
    let r = modern(6, "tools/list")
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(answer(r).await["result"]["tools"].is_array());
    let kinds: Vec<AuditKind> = memory.take().iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [AuditKind::Request, AuditKind::Response]);

    let _ = stop.send(());
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("the server stops in time")
        .unwrap()
        .unwrap();
}

/// Without authentication too: a disallowed `Origin` or `Host` (403), an oversized body (413) and
/// a body that is not JSON (400) are audited once each as refusals, and the next request is
/// served and audited as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_refusals_without_auth_are_audited() {
    use mcp_server::audit::{Audit, AuditKind, MemorySink};

    let memory = Arc::new(MemorySink::default());
    let probe = Arc::new(Probe::default());
    let server = test_server(&probe).audit(Audit::new().with_sink(memory.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}/mcp");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(http::serve(
        server,
        HttpConfig::new().max_body_size(1024),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();
    let post = |body: String| {
        client
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
    };
    let refusal = |status: u16, reason: &str| {
        let records = memory.take();
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0].kind, AuditKind::Refusal);
        assert_eq!(records[0].status, Some(status));
        assert_eq!(records[0].reason.as_deref(), Some(reason));
        assert!(records[0].client.is_some());
    };

    let r = post(request(1, "ping").to_string())
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    refusal(403, "this origin is not allowed");
    assert_eq!(probe.echo_calls.load(Ordering::SeqCst), 0);

    let r = post(request(2, "ping").to_string())
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    refusal(403, "this host name is not allowed");

    let r = post("x".repeat(4096)).send().await.unwrap();
    assert_eq!(r.status(), 413);
    refusal(413, "the body exceeds the limit of 1024 bytes");

    let r = post("{not json".into()).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let records = memory.take();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].status, Some(400));
    assert_eq!(records[0].error_code, Some(-32700));

    // A good request: served, and audited by the engine only.
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "ok"}, "_meta": modern_meta()}});
    let r = post(body.to_string())
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(answer(r).await["result"]["content"][0]["text"], "ok");
    let kinds: Vec<AuditKind> = memory.take().iter().map(|r| r.kind).collect();
    assert!(!kinds.contains(&AuditKind::Refusal), "{kinds:?}");
    assert_eq!(kinds.first(), Some(&AuditKind::Request));
    assert_eq!(kinds.last(), Some(&AuditKind::Response));

    let _ = stop.send(());
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("the server stops in time")
        .unwrap()
        .unwrap();
}
