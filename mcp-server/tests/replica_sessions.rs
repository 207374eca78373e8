//! Legacy Streamable HTTP sessions shared by two replicas: two servers on two ports with one
//! [`MemoryStore`], as behind a load balancer. A session started on one is served by the other,
//! its streams resume on the other with `Last-Event-ID`, and a store outage is a 503, not a 404.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_server::http::{HttpConfig, McpService};
use mcp_server::store::{MemoryStore, Store};
use mcp_server::types::*;
use mcp_server::{Context, Result, Server, ToolHandler};
use serde_json::{Value, json};

use crate::sse_support::{Sse, answer, code};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const LEGACY: &str = "2025-11-25";
const PATIENCE: Duration = Duration::from_secs(10);

fn text(s: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(s)])
}

fn object() -> JsonObject {
    serde_json::from_value(json!({"type": "object"})).unwrap()
}

/// Answers with the client's name from `initialize`: the session's state.
struct WhoAmI;
impl ToolHandler for WhoAmI {
    fn definition(&self) -> Tool {
        Tool::new("whoami", object())
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> Result<CallToolResult> {
        let name = cx.client_info().map(|i| i.name.clone()).unwrap_or_default();
        Ok(text(name))
    }
}

/// The client's name from `initialize`, for any authenticated caller.
#[mcp_server::tool(read_only, public)]
fn client_name(cx: Context) -> String {
    cx.client_info().map(|i| i.name.clone()).unwrap_or_default()
}

/// Reports progress `steps` times, `delayMs` apart, then answers "done".
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
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        Ok(text("done"))
    }
}

/// Added and removed while serving, for list_changed notifications.
struct Extra(&'static str);
impl ToolHandler for Extra {
    fn definition(&self) -> Tool {
        Tool::new(self.0, object())
    }
    async fn call(&self, _cx: Context, _args: JsonObject) -> Result<CallToolResult> {
        Ok(text("extra"))
    }
}

/// One replica: a server with the shared store, served on its own port.
struct Replica {
    url: String,
    /// The replica's audit records.
    audit: Arc<mcp_server::audit::MemorySink>,
    server: Server,
    service: McpService,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Bearer tokens that are their subject's name, for the owner checks.
#[cfg(feature = "auth")]
struct Names;

#[cfg(feature = "auth")]
impl mcp_server::http::auth::TokenValidator for Names {
    async fn validate(
        &self,
        token: &str,
    ) -> std::result::Result<mcp_server::Identity, mcp_server::http::auth::AuthError> {
        Ok(
            mcp_server::Identity::new(token, mcp_server::AuthMethod::Bearer)
                .with_issuer("https://issuer.test"),
        )
    }
}

impl Replica {
    async fn start(store: &Arc<MemoryStore>) -> Self {
        Self::start_with(store, false).await
    }

    async fn start_with(store: &Arc<MemoryStore>, auth: bool) -> Self {
        Self::start_on(store.clone(), auth).await
    }

    async fn start_on(shared: Arc<dyn Store>, auth: bool) -> Self {
        let audit = Arc::new(mcp_server::audit::MemorySink::default());
        let server = Server::new("replicated", "1.0.0")
            .tool(WhoAmI)
            .tool(Chatty)
            .tool(ClientName)
            .audit(mcp_server::Audit::new().with_sink(audit.clone()))
            .store(shared);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        #[allow(unused_mut)]
        let mut config = HttpConfig::new();
        #[cfg(feature = "auth")]
        if auth {
            let rs = mcp_server::http::auth::ResourceServer::new(
                format!("http://{addr}/mcp"),
                "https://issuer.test",
                Names,
            )
            .unwrap();
            config = config.auth(rs);
        }
        #[cfg(not(feature = "auth"))]
        let _ = auth;
        let service = McpService::new(server.clone(), config);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(service.clone().serve(listener, async {
            let _ = stopped.await;
        }));
        Replica {
            url: format!("http://{addr}/mcp"),
            audit,
            server,
            service,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the replica gracefully and waits for it: its sessions are gone from its memory.
    async fn stop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("the replica stops in time")
            .unwrap()
            .unwrap();
    }

    fn post(&self) -> reqwest::RequestBuilder {
        self.client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
    }

    fn legacy(&self, session: &str, body: &Value) -> reqwest::RequestBuilder {
        self.post()
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", LEGACY)
            .body(body.to_string())
    }

    fn get(&self, session: &str) -> reqwest::RequestBuilder {
        self.client
            .get(&self.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", LEGACY)
    }

    /// `initialize` only; the session id.
    async fn initialize(&self, name: &str) -> String {
        self.initialize_as(name, None).await
    }

    async fn initialize_as(&self, name: &str, token: Option<&str>) -> String {
        let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": name, "version": "1.0.0"}
        }});
        let mut request = self.post().body(body.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 200);
        let session = r
            .headers()
            .get("mcp-session-id")
            .expect("a session id")
            .to_str()
            .unwrap()
            .to_owned();
        let result = answer(r).await;
        assert_eq!(result["result"]["protocolVersion"], LEGACY);
        session
    }

    async fn initialized(&self, session: &str) -> reqwest::Response {
        self.legacy(
            session,
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .send()
        .await
        .unwrap()
    }
}

fn tool_call(id: i64, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": name, "arguments": arguments}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_started_on_one_replica_is_served_by_another() {
    let store = Arc::new(MemoryStore::new());
    let a = Replica::start(&store).await;
    let b = Replica::start(&store).await;
    let session = a.initialize("traveller").await;
    assert_eq!(b.service.session_count(), 0);

    // The rest of the handshake, then requests, on the other replica.
    assert_eq!(b.initialized(&session).await.status(), 202);
    assert_eq!(b.service.session_count(), 1, "B took the session over");
    let r = b
        .legacy(&session, &tool_call(1, "whoami", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let result = answer(r).await;
    assert_eq!(result["result"]["content"][0]["text"], "traveller");
    let r = b
        .legacy(
            &session,
            &json!({"jsonrpc": "2.0", "id": 2, "method": "logging/setLevel",
                    "params": {"level": "warning"}}),
        )
        .send()
        .await
        .unwrap();
    assert!(answer(r).await["result"].is_object());
    // And on the first one again.
    let r = a
        .legacy(&session, &tool_call(3, "whoami", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(answer(r).await["result"]["content"][0]["text"], "traveller");

    // B knows the client is initialized: its GET stream carries B's list changes.
    let mut stream = Sse::new(b.get(&session).send().await.unwrap());
    let priming = stream.next().await.unwrap();
    assert!(priming.data.is_empty());
    b.server.add_tool(Extra("extra"));
    let changed = stream.next_message_event().await.unwrap();
    assert_eq!(
        changed.message()["method"],
        "notifications/tools/list_changed"
    );
    drop(stream);
    // A, which held the session before, learnt it too (on the store's bus).
    let mut stream = Sse::new(a.get(&session).send().await.unwrap());
    assert!(stream.next().await.unwrap().data.is_empty());
    a.server.add_tool(Extra("extra-a"));
    let changed = stream.next_message_event().await.unwrap();
    assert_eq!(
        changed.message()["method"],
        "notifications/tools/list_changed"
    );
    drop(stream);

    // A session id never seen anywhere is still 404, on both.
    for replica in [&a, &b] {
        for unknown in ["0123456789abcdef0123456789abcdef", "nonsense"] {
            let r = replica
                .legacy(unknown, &tool_call(4, "whoami", json!({})))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 404, "{unknown}");
        }
    }

    // DELETE on B ends the session on every replica.
    let r = b
        .client
        .delete(&b.url)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", LEGACY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let deadline = Instant::now() + PATIENCE;
    while a.service.session_count() > 0 {
        assert!(Instant::now() < deadline, "A dropped its copy");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for replica in [&a, &b] {
        let r = replica
            .legacy(&session, &tool_call(5, "whoami", json!({})))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_resume_on_another_replica_after_theirs_is_gone() {
    let store = Arc::new(MemoryStore::new());
    let mut a = Replica::start(&store).await;
    let b = Replica::start(&store).await;
    let session = a.initialize("resumer").await;
    assert_eq!(a.initialized(&session).await.status(), 202);

    // The GET stream on A: the client reads its events, but only the first one "arrives".
    let mut stream = Sse::new(a.get(&session).send().await.unwrap());
    assert_eq!(stream.next().await.unwrap().id.as_deref(), Some("0-0"));
    a.server.add_tool(Extra("one"));
    a.server.add_tool(Extra("two"));
    a.server.add_tool(Extra("three"));
    let mut ids = Vec::new();
    for _ in 0..3 {
        let event = stream.next_message_event().await.unwrap();
        assert_eq!(
            event.message()["method"],
            "notifications/tools/list_changed"
        );
        ids.push(event.id.unwrap());
    }
    assert_eq!(ids, ["0-1", "0-2", "0-3"]);
    drop(stream);

    // A request's stream on A, read to the end, its first progress event the last "arrived".
    let mut call = tool_call(7, "chatty", json!({"steps": 3}));
    call["params"]["_meta"] = json!({"progressToken": "p7"});
    let mut request = Sse::new(a.legacy(&session, &call).send().await.unwrap());
    let priming = request.next().await.unwrap().id.unwrap();
    let (stream_no, zero) = priming.split_once('-').unwrap();
    assert_eq!(zero, "0");
    let first = request.next_message_event().await.unwrap();
    assert_eq!(first.id.as_deref(), Some(format!("{stream_no}-1").as_str()));
    let mut rest = Vec::new();
    while let Some(event) = request.next_message_event().await {
        rest.push(event.id.unwrap());
    }
    assert_eq!(rest.len(), 3, "two more progress events and the answer");

    // A goes away.
    a.stop().await;
    assert_eq!(a.service.session_count(), 0);

    // On B, the GET stream resumes after 0-1: 0-2 and 0-3, then B's own new events.
    let r = b
        .get(&session)
        .header("last-event-id", "0-1")
        .send()
        .await
        .unwrap();
    let mut resumed = Sse::new(r);
    for id in ["0-2", "0-3"] {
        let event = resumed.next_message_event().await.unwrap();
        assert_eq!(event.id.as_deref(), Some(id));
        assert_eq!(
            event.message()["method"],
            "notifications/tools/list_changed"
        );
    }
    b.server.add_tool(Extra("four"));
    let event = resumed.next_message_event().await.unwrap();
    assert_eq!(event.id.as_deref(), Some("0-4"));
    assert_eq!(
        event.message()["method"],
        "notifications/tools/list_changed"
    );
    drop(resumed);

    // The request's stream resumes on B too: the progress it missed, then the answer.
    let r = b
        .get(&session)
        .header("last-event-id", format!("{stream_no}-1"))
        .send()
        .await
        .unwrap();
    let mut resumed = Sse::new(r);
    let mut replayed = Vec::new();
    while let Some(event) = resumed.next_message_event().await {
        replayed.push((event.id.clone().unwrap(), event.message()));
    }
    let ids: Vec<&str> = replayed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, rest);
    assert_eq!(replayed[0].1["params"]["progress"], 2.0);
    assert_eq!(replayed[2].1["id"], 7);
    assert_eq!(replayed[2].1["result"]["content"][0]["text"], "done");

    // An id of a stream that never existed is still refused.
    let r = b
        .get(&session)
        .header("last-event-id", "12345-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_request_is_followed_from_another_replica() {
    let store = Arc::new(MemoryStore::new());
    let a = Replica::start(&store).await;
    let b = Replica::start(&store).await;
    let session = a.initialize("hopper").await;
    assert_eq!(a.initialized(&session).await.status(), 202);

    let mut call = tool_call(9, "chatty", json!({"steps": 4, "delayMs": 150}));
    call["params"]["_meta"] = json!({"progressToken": "p9"});
    let mut request = Sse::new(a.legacy(&session, &call).send().await.unwrap());
    let priming = request.next().await.unwrap().id.unwrap();
    let stream_no = priming.split_once('-').unwrap().0.to_owned();
    let first = request.next_message_event().await.unwrap();
    assert_eq!(first.message()["params"]["progress"], 1.0);
    drop(request); // the connection is lost; the client comes back through B

    let r = b
        .get(&session)
        .header("last-event-id", first.id.unwrap())
        .send()
        .await
        .unwrap();
    let mut resumed = Sse::new(r);
    let mut messages = Vec::new();
    while let Some(event) = resumed.next_message_event().await {
        assert!(
            event
                .id
                .as_deref()
                .unwrap()
                .starts_with(&format!("{stream_no}-"))
        );
        messages.push(event.message());
    }
    let progress: Vec<f64> = messages
        .iter()
        .filter_map(|m| m["params"]["progress"].as_f64())
        .collect();
    assert_eq!(progress, [2.0, 3.0, 4.0]);
    let last = messages.last().unwrap();
    assert_eq!(last["id"], 9);
    assert_eq!(last["result"]["content"][0]["text"], "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_is_a_503_not_a_404() {
    let store = Arc::new(MemoryStore::new());
    let a = Replica::start(&store).await;
    let b = Replica::start(&store).await;
    let session = a.initialize("patient").await;
    assert_eq!(a.initialized(&session).await.status(), 202);

    store.set_available(false);
    let r = b
        .legacy(&session, &tool_call(1, "whoami", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), -32004);
    assert_eq!(body["error"]["data"]["reason"], "store_unavailable");
    assert_eq!(body["id"], 1);
    let r = b.get(&session).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(code(&r.json().await.unwrap()), -32004);
    // A new session cannot be shared, so it is not started.
    let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {},
        "clientInfo": {"name": "late", "version": "1"}
    }});
    let r = b.post().body(body.to_string()).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(code(&r.json().await.unwrap()), -32004);
    // Each refusal is audited.
    let refused = b
        .audit
        .records()
        .into_iter()
        .filter(|r| {
            r.kind == mcp_server::audit::AuditKind::Refusal
                && r.status == Some(503)
                && r.reason
                    .as_deref()
                    .is_some_and(|w| w.starts_with("store_unavailable"))
        })
        .count();
    assert_eq!(refused, 3, "{:?}", b.audit.records());
    // The replica that holds the session still serves it.
    let r = a
        .legacy(&session, &tool_call(2, "whoami", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(answer(r).await["result"]["content"][0]["text"], "patient");

    store.set_available(true);
    let r = b
        .legacy(&session, &tool_call(3, "whoami", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(answer(r).await["result"]["content"][0]["text"], "patient");

    // A DELETE that cannot reach the store is a 503 too, and may be sent again.
    let delete = |replica: &Replica| {
        replica
            .client
            .delete(&replica.url)
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", LEGACY)
    };
    store.set_available(false);
    let r = delete(&b).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(code(&r.json().await.unwrap()), -32004);
    store.set_available(true);
    assert_eq!(delete(&b).send().await.unwrap().status(), 204);
    let deadline = Instant::now() + PATIENCE;
    while a.service.session_count() > 0 {
        assert!(Instant::now() < deadline, "A dropped its copy");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for replica in [&a, &b] {
        let r = replica
            .legacy(&session, &tool_call(4, "whoami", json!({})))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
}

#[cfg(feature = "auth")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_takes_a_session_over() {
    let store = Arc::new(MemoryStore::new());
    let a = Replica::start_with(&store, true).await;
    let b = Replica::start_with(&store, true).await;
    let session = a.initialize_as("alice's client", Some("alice")).await;
    // Bob holds a valid token, and the session id: another replica does not hand it to him.
    let r = b
        .legacy(&session, &tool_call(1, "client_name", json!({})))
        .bearer_auth("bob")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(b.service.session_count(), 0);
    let r = b
        .legacy(&session, &tool_call(2, "client_name", json!({})))
        .bearer_auth("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let result = answer(r).await;
    assert_eq!(
        result["result"]["content"][0]["text"], "alice's client",
        "{result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_with_a_store_resumes_as_without() {
    let store = Arc::new(MemoryStore::new());
    let a = Replica::start(&store).await;
    let session = a.initialize("alone").await;
    assert_eq!(a.initialized(&session).await.status(), 202);
    // Something for the GET stream (0), which must not leak into the request's stream.
    a.server.add_tool(Extra("extra"));

    let mut slow = tool_call(7, "chatty", json!({"steps": 4, "delayMs": 50}));
    slow["params"]["_meta"] = json!({"progressToken": "p7"});
    let mut sse = Sse::new(a.legacy(&session, &slow).send().await.unwrap());
    let priming = sse.next().await.unwrap().id.unwrap();
    let stream_no = priming.split_once('-').unwrap().0.to_owned();
    let first = sse.next_message_event().await.unwrap();
    assert_eq!(first.id, Some(format!("{stream_no}-1")));
    drop(sse); // the connection is lost mid-stream

    let r = a
        .get(&session)
        .header("last-event-id", first.id.unwrap())
        .send()
        .await
        .unwrap();
    let mut resumed = Sse::new(r);
    let mut events = Vec::new();
    while let Some(event) = resumed.next_message_event().await {
        events.push(event);
    }
    let ids: Vec<String> = events.iter().map(|e| e.id.clone().unwrap()).collect();
    let expected: Vec<String> = (2..=5).map(|n| format!("{stream_no}-{n}")).collect();
    assert_eq!(ids, expected);
    let progress: Vec<f64> = events[..3]
        .iter()
        .map(|e| e.message()["params"]["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(progress, [2.0, 3.0, 4.0]);
    assert_eq!(events[3].message()["result"]["content"][0]["text"], "done");

    for id in ["9-1", "garbage"] {
        let r = a
            .get(&session)
            .header("last-event-id", id)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{id}");
    }
    // The GET stream kept its own event for whoever resumes it.
    let r = a
        .get(&session)
        .header("last-event-id", "0-0")
        .send()
        .await
        .unwrap();
    let mut sse = Sse::new(r);
    let changed = sse.next_message_event().await.unwrap();
    assert_eq!(changed.id.as_deref(), Some("0-1"));
    assert_eq!(
        changed.message()["method"],
        "notifications/tools/list_changed"
    );
    drop(sse);
    // And a GET stream opened now starts after it.
    let mut sse = Sse::new(a.get(&session).send().await.unwrap());
    assert_eq!(sse.next().await.unwrap().id.as_deref(), Some("0-1"));
}

/// The same over Redis, each replica with its own connection: the Redis `MCP_TEST_REDIS_URL`
/// names, or else a `redis-server` of the test's own (the test command installs it).
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_sessions_through_redis() {
    use mcp_server::store::RedisStore;
    let redis = OwnRedis::start().await;
    let url = redis.url.clone();
    let prefix = format!(
        "test-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let url = format!("{url}?prefix={prefix}");
    let mut a = Replica::start_on(Arc::new(RedisStore::connect(&url).await.unwrap()), false).await;
    let b = Replica::start_on(Arc::new(RedisStore::connect(&url).await.unwrap()), false).await;
    let session = a.initialize("over-redis").await;
    assert_eq!(b.initialized(&session).await.status(), 202);
    let r = b
        .legacy(&session, &tool_call(1, "whoami", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer(r).await["result"]["content"][0]["text"],
        "over-redis"
    );

    let mut stream = Sse::new(a.get(&session).send().await.unwrap());
    assert_eq!(stream.next().await.unwrap().id.as_deref(), Some("0-0"));
    a.server.add_tool(Extra("one"));
    a.server.add_tool(Extra("two"));
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(stream.next_message_event().await.unwrap().id.unwrap());
    }
    assert_eq!(ids, ["0-1", "0-2"]);
    drop(stream);
    a.stop().await;
    let r = b
        .get(&session)
        .header("last-event-id", "0-1")
        .send()
        .await
        .unwrap();
    let mut resumed = Sse::new(r);
    let event = resumed.next_message_event().await.unwrap();
    assert_eq!(event.id.as_deref(), Some("0-2"));
    assert_eq!(
        event.message()["method"],
        "notifications/tools/list_changed"
    );
    let r = b
        .legacy(
            "0123456789abcdef0123456789abcdef",
            &tool_call(2, "whoami", json!({})),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// The Redis of [`replicas_share_sessions_through_redis`]: `MCP_TEST_REDIS_URL`, or a
/// `redis-server` started on a free port (persistence off), stopped when dropped.
#[cfg(feature = "redis")]
struct OwnRedis {
    child: Option<std::process::Child>,
    url: String,
}

#[cfg(feature = "redis")]
impl OwnRedis {
    async fn start() -> OwnRedis {
        if let Ok(url) = std::env::var("MCP_TEST_REDIS_URL") {
            return OwnRedis { child: None, url };
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let redis = OwnRedis {
            child: Some(
                std::process::Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--save", "", "--appendonly", "no"])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("redis-server is installed (the test command installs it), or MCP_TEST_REDIS_URL is set"),
            ),
            url: format!("redis://127.0.0.1:{port}"),
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return redis;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start listening on {port}");
    }
}

#[cfg(feature = "redis")]
impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
