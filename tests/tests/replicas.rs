//! Two replicas of `conformance-server` sharing a real Redis (`--store redis://...`), and a
//! client that alternates between them: what one replica decided holds on the other.
//!
//! Needs `redis-server` on the PATH (the test command installs it); each test starts its own on
//! a free port, with persistence off, and stops it at the end.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const MODERN: &str = "2026-07-28";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port`.
async fn wait_for_port(port: u16, what: &str) {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not start listening on port {port}");
}

/// The process id of the Redis answering on `port` (`INFO server`).
async fn redis_pid(port: u16) -> Option<u32> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream.write_all(b"INFO server\r\n").await.ok()?;
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains("process_id:") || !text[text.find("process_id:")?..].contains('\n') {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let rest = &text[text.find("process_id:")? + "process_id:".len()..];
    rest.lines().next()?.trim().parse().ok()
}

/// A `redis-server` of this test's own.
struct Redis {
    child: Option<Child>,
    port: u16,
}

impl Redis {
    /// A `redis-server` on a free port. Tests run in parallel, and a port found free may be
    /// taken by another test's server before this one binds it: then the server that answers is
    /// not this one (its process id says so), and another port is tried. Two tests sharing one
    /// Redis would see each other's records, and one stopping it would lose the other's.
    async fn start() -> Redis {
        for _ in 0..5 {
            let mut redis = Redis {
                child: None,
                port: free_port(),
            };
            if redis.launch().await {
                return redis;
            }
        }
        panic!("no port of its own for redis-server after five tries");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn restart(&mut self) {
        assert!(
            self.launch().await,
            "redis-server could not take port {} again",
            self.port
        );
    }

    /// Starts the server on `self.port`; whether the one answering there is it.
    async fn launch(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (the test command installs it)");
        let pid = child.id();
        self.child = Some(child);
        wait_for_port(self.port, "redis-server").await;
        if redis_pid(self.port).await == Some(pid) {
            return true;
        }
        self.stop();
        false
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `conformance-server` replica sharing `redis`.
struct Replica {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Replica {
    async fn start(redis: &Redis) -> Replica {
        // A port found free may be taken by another test's server first: this one then exits
        // (it cannot bind), and another port is tried.
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(env!("CARGO_BIN_EXE_conformance-server"))
                .args(["--port", &port.to_string(), "--replica-tools"])
                .args(["--store", &redis.url()])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()
                .expect("conformance-server runs");
            wait_for_port(port, "conformance-server").await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            if child.try_wait().expect("its status").is_none() {
                return Replica {
                    child,
                    url: format!("http://127.0.0.1:{port}/mcp"),
                    http: reqwest::Client::new(),
                };
            }
        }
        panic!("no port of its own for conformance-server after five tries");
    }

    /// Sends a modern request with the headers and `_meta` a conforming client sends.
    async fn send(&self, id: u64, method: &str, mut params: Value) -> reqwest::Response {
        let meta = params
            .as_object_mut()
            .unwrap()
            .entry("_meta")
            .or_insert_with(|| json!({}));
        meta.as_object_mut().unwrap().extend(
            json!({
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {
                    "elicitation": {"form": {}},
                    "extensions": {"io.modelcontextprotocol/tasks": {}}
                },
                "io.modelcontextprotocol/clientInfo": {"name": "replica-test", "version": "1"}
            })
            .as_object()
            .unwrap()
            .clone(),
        );
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", MODERN)
            .header("mcp-method", method);
        if let Some(name) = params["name"].as_str().or(params["uri"].as_str()) {
            request = request.header("mcp-name", name);
        }
        request
            .body(
                json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string(),
            )
            .send()
            .await
            .expect("the replica answers")
    }

    /// Sends a request and returns its JSON-RPC response (from a JSON body or an SSE stream).
    async fn call(&self, id: u64, method: &str, params: Value) -> Value {
        let mut sse = Sse::new(self.send(id, method, params).await).await;
        loop {
            let message = sse.next().await.expect("a response");
            if message.get("id").is_some() {
                return message;
            }
        }
    }

    async fn tool(&self, id: u64, name: &str, arguments: Value) -> Value {
        self.call(
            id,
            "tools/call",
            json!({"name": name, "arguments": arguments}),
        )
        .await
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The JSON-RPC messages of a response: one JSON body, or the events of an SSE stream.
struct Sse {
    response: Option<reqwest::Response>,
    buffer: String,
    json: Option<Value>,
}

impl Sse {
    async fn new(response: reqwest::Response) -> Sse {
        let is_sse = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if is_sse {
            Sse {
                response: Some(response),
                buffer: String::new(),
                json: None,
            }
        } else {
            let status = response.status();
            let body = response.text().await.unwrap();
            let json = serde_json::from_str(&body)
                .unwrap_or_else(|_| panic!("HTTP {status}, not JSON: {body}"));
            Sse {
                response: None,
                buffer: String::new(),
                json: Some(json),
            }
        }
    }

    /// The next message, or `None` when the response ends (within 10 s).
    async fn next(&mut self) -> Option<Value> {
        self.next_event().await.map(|(_, message)| message)
    }

    /// The next message with its event id (SSE), skipping events without data (priming).
    async fn next_event(&mut self) -> Option<(Option<String>, Value)> {
        if let Some(json) = self.json.take() {
            return Some((None, json));
        }
        let response = self.response.as_mut()?;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let id = event
                    .lines()
                    .find_map(|l| l.strip_prefix("id:"))
                    .map(|i| i.trim().to_owned());
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if !data.is_empty() {
                    return Some((id, serde_json::from_str(&data).unwrap()));
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
                .await
                .expect("the stream goes on within 10 s")
                .ok()??;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        }
    }
}

fn text(response: &Value) -> &str {
    response["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("a text result: {response}"))
}

async fn two_replicas() -> (Redis, Replica, Replica) {
    let redis = Redis::start().await;
    let a = Replica::start(&redis).await;
    let b = Replica::start(&redis).await;
    (redis, a, b)
}

#[tokio::test]
async fn an_approval_is_redeemed_once_across_replicas() {
    let (_redis, a, b) = two_replicas().await;
    let call = json!({"name": "replica_deploy", "arguments": {"version": "7"}});
    let asked = a.call(1, "tools/call", call.clone()).await;
    assert_eq!(asked["result"]["resultType"], "input_required", "{asked}");
    let (key, _) = asked["result"]["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    let mut answered = call.clone();
    answered["inputResponses"] = json!({ key: {"action": "accept", "content": {"approve": true}} });
    answered["requestState"] = asked["result"]["requestState"].clone();

    // Asked on A, approved on B: the replicas share the key that seals both.
    let r = b.call(2, "tools/call", answered.clone()).await;
    assert_eq!(text(&r), "deployed 7", "{r}");
    // The same approval again, on either replica: spent.
    for replica in [&a, &b] {
        let r = replica.call(3, "tools/call", answered.clone()).await;
        assert_eq!(r["result"]["isError"], true, "{r}");
        assert_eq!(
            text(&r),
            "not approved: the approval was used already, or is unknown to this server"
        );
    }
}

/// Calls `tasks/get` on `replica` until the task's status is `status`.
async fn until_status(replica: &Replica, id: &str, status: &str) -> Value {
    for attempt in 0..500 {
        let r = replica
            .call(100 + attempt, "tasks/get", json!({"taskId": id}))
            .await;
        if r["result"]["status"] == status {
            return r["result"].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("task {id} never reached {status}");
}

#[tokio::test]
async fn a_task_started_on_one_replica_is_read_answered_and_cancelled_through_the_other() {
    let (_redis, a, b) = two_replicas().await;
    // A task that asks a question: read and answered through B, its result read through B.
    let r = a
        .tool(1, "confirm_delete", json!({"filename": "notes.txt"}))
        .await;
    assert_eq!(r["result"]["resultType"], "task", "{r}");
    let id = r["result"]["taskId"].as_str().unwrap().to_owned();
    let asking = until_status(&b, &id, "input_required").await;
    let (key, _) = asking["inputRequests"]
        .as_object()
        .unwrap_or_else(|| panic!("{asking}"))
        .iter()
        .next()
        .unwrap();
    let u = b
        .call(
            2,
            "tasks/update",
            json!({"taskId": id,
                   "inputResponses": {key: {"action": "accept", "content": {"confirm": true}}}}),
        )
        .await;
    assert!(u.get("result").is_some(), "{u}");
    let done = until_status(&b, &id, "completed").await;
    assert!(
        done["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("notes.txt")),
        "{done}"
    );

    // A long task: working on A, cancelled through B, cancelled on A too.
    let r = a.tool(3, "slow_compute", json!({"seconds": 60})).await;
    let id = r["result"]["taskId"].as_str().unwrap().to_owned();
    until_status(&b, &id, "working").await;
    let c = b.call(4, "tasks/cancel", json!({"taskId": id})).await;
    assert!(c.get("result").is_some(), "{c}");
    until_status(&b, &id, "cancelled").await;
    until_status(&a, &id, "cancelled").await;
}

#[tokio::test]
async fn a_rate_limit_holds_across_replicas() {
    let (_redis, a, b) = two_replicas().await;
    // 3 a minute: A, B, A are served; the fourth, on B, is over the limit.
    for (id, replica) in [(1, &a), (2, &b), (3, &a)] {
        let r = replica.tool(id, "replica_limited", json!({})).await;
        assert_eq!(text(&r), "within the limit", "{r}");
    }
    let r = b.tool(4, "replica_limited", json!({})).await;
    assert_eq!(r["error"]["code"], -32003, "{r}");
    assert_eq!(r["error"]["data"]["reason"], "rate_limited", "{r}");
    assert!(
        r["error"]["data"]["retryAfterMs"].as_u64().unwrap() > 1000,
        "{r}"
    );
}

#[tokio::test]
async fn a_resource_update_on_one_replica_reaches_a_subscriber_on_the_other() {
    let (_redis, a, b) = two_replicas().await;
    let uri = "replica://note";
    let listen = b
        .send(
            1,
            "subscriptions/listen",
            json!({"notifications": {"resourceSubscriptions": [uri]}}),
        )
        .await;
    let mut stream = Sse::new(listen).await;
    let ack = stream.next().await.expect("an acknowledgement");
    assert_eq!(
        ack["method"], "notifications/subscriptions/acknowledged",
        "{ack}"
    );
    let r = a.tool(2, "replica_touch", json!({"uri": uri})).await;
    assert_eq!(text(&r), format!("touched {uri}"));
    let update = stream.next().await.expect("the update");
    assert_eq!(
        update["method"], "notifications/resources/updated",
        "{update}"
    );
    assert_eq!(update["params"]["uri"], uri, "{update}");
}

#[tokio::test]
async fn without_redis_shared_decisions_fail_closed_and_recover() {
    let (mut redis, a, b) = two_replicas().await;
    let r = a.tool(1, "replica_limited", json!({})).await;
    assert_eq!(text(&r), "within the limit", "{r}");

    redis.stop();
    // A rate-limited call is refused, not let through uncounted.
    let r = b.tool(2, "replica_limited", json!({})).await;
    assert_eq!(r["error"]["code"], -32004, "{r}");
    assert_eq!(r["error"]["data"]["reason"], "store_unavailable", "{r}");
    // So is an approval, which could not be made single-use.
    let r = a.tool(3, "replica_deploy", json!({"version": "8"})).await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(text(&r).contains("shared state is unavailable"), "{r}");
    // Calls that need no shared state are served.
    for replica in [&a, &b] {
        let r = replica.tool(4, "test_simple_text", json!({})).await;
        assert_eq!(text(&r), "This is a simple text response for testing.");
    }

    // Redis comes back (empty): the replicas reconnect by themselves.
    redis.restart().await;
    let mut served = None;
    for attempt in 0..50 {
        let r = b.tool(10 + attempt, "replica_limited", json!({})).await;
        if r.get("result").is_some() {
            served = Some(r);
            break;
        }
        assert_eq!(r["error"]["data"]["reason"], "store_unavailable", "{r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = served.expect("served again once Redis is back");
    assert_eq!(text(&r), "within the limit", "{r}");
}

/// The primitives of `RedisStore` have the semantics `MemoryStore` has (and the runtime relies
/// on): single use, buckets, logs, indexes, the bus.
#[tokio::test]
async fn the_redis_store_keeps_the_store_semantics() {
    use mcp_server::store::{RedisStore, Store};
    let redis = Redis::start().await;
    let store = RedisStore::connect(&format!("{}?prefix=t", redis.url()))
        .await
        .unwrap();
    let minute = Duration::from_secs(60);
    let mut bus = store.subscribe();

    store.put("n", b"v", minute).await.unwrap();
    assert_eq!(store.take("n").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(store.take("n").await.unwrap(), None);
    assert!(store.put_new("k", b"1", minute).await.unwrap());
    assert!(!store.put_new("k", b"2", minute).await.unwrap());
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"1"[..]));
    store.delete("k").await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), None);

    for _ in 0..3 {
        assert_eq!(store.rate("b", 3, minute).await.unwrap(), Ok(()));
    }
    let wait = store.rate("b", 3, minute).await.unwrap().unwrap_err();
    assert!(
        wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
        "{wait:?}"
    );

    for i in 0..5u8 {
        let seq = store
            .append("l", &[i, b':', b'\n'], 3, minute)
            .await
            .unwrap();
        assert_eq!(seq, u64::from(i) + 1);
    }
    assert_eq!(
        store.read_after("l", 3).await.unwrap(),
        vec![(4, vec![3, b':', b'\n']), (5, vec![4, b':', b'\n'])]
    );
    assert_eq!(store.read_after("l", 0).await.unwrap().len(), 3);

    store.index_add("i", "b", 2, minute).await.unwrap();
    store.index_add("i", "a", 1, minute).await.unwrap();
    store.index_add("i", "c", 3, minute).await.unwrap();
    store.index_remove("i", "b").await.unwrap();
    assert_eq!(store.index_members("i").await.unwrap(), ["a", "c"]);

    // The subscription is made in the background: publish until it is there.
    let mut received = None;
    for _ in 0..100 {
        store.publish("topic", b"pay\nload").await.unwrap();
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(50), bus.recv()).await {
            received = Some(m);
            break;
        }
    }
    let m = received.expect("a message on the bus");
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice()),
        ("topic", &b"pay\nload"[..])
    );
}

const LEGACY: &str = "2025-11-25";

impl Replica {
    /// A POST within the legacy session `session` (or, without one, the `initialize`).
    async fn legacy(&self, session: Option<&str>, body: Value) -> reqwest::Response {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", LEGACY);
        }
        request
            .body(body.to_string())
            .send()
            .await
            .expect("the replica answers")
    }

    /// The session's GET stream, resumed after `last_event_id` if given.
    async fn get_stream(&self, session: &str, last_event_id: Option<&str>) -> reqwest::Response {
        let mut request = self
            .http
            .get(&self.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", LEGACY);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let r = request.send().await.expect("the replica answers");
        assert_eq!(r.status(), 200, "GET stream");
        r
    }
}

#[tokio::test]
async fn a_legacy_stream_resumes_on_the_other_replica_after_its_own_is_stopped() {
    let (_redis, mut a, b) = two_replicas().await;
    let uri = "replica://note";
    let session = legacy_session(&a).await;
    // Subscribed through B: the session is one, whichever replica serves a request.
    let mut r = Sse::new(
        b.legacy(
            Some(&session),
            json!({"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe", "params": {"uri": uri}}),
        )
        .await,
    )
    .await;
    assert!(r.next().await.unwrap().get("result").is_some());

    // Two updates reach the GET stream on A.
    let mut stream = Sse::new(a.get_stream(&session, None).await).await;
    let mut ids = Vec::new();
    for id in [3, 4] {
        let t = b.tool(id, "replica_touch", json!({"uri": uri})).await;
        assert_eq!(text(&t), format!("touched {uri}"));
        let (event_id, update) = stream.next_event().await.expect("an update");
        assert_eq!(
            update["method"], "notifications/resources/updated",
            "{update}"
        );
        ids.push(event_id.expect("events carry ids"));
    }
    // A is gone; the client resumes on B after the first update: the second is replayed, and
    // the stream goes on with B's own.
    drop(stream);
    a.stop();
    let mut resumed = Sse::new(b.get_stream(&session, Some(&ids[0])).await).await;
    let (replayed_id, replayed) = resumed.next_event().await.expect("the missed update");
    assert_eq!(replayed_id.as_deref(), Some(ids[1].as_str()));
    assert_eq!(replayed["method"], "notifications/resources/updated");
    let t = b.tool(5, "replica_touch", json!({"uri": uri})).await;
    assert_eq!(text(&t), format!("touched {uri}"));
    let (_, fresh) = resumed.next_event().await.expect("a new update");
    assert_eq!(
        fresh["method"], "notifications/resources/updated",
        "{fresh}"
    );
    assert_eq!(fresh["params"]["uri"], uri);
}

/// Starts a legacy session on `replica`; returns its id.
async fn legacy_session(replica: &Replica) -> String {
    let init = replica
        .legacy(
            None,
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": LEGACY, "capabilities": {},
                "clientInfo": {"name": "replica-test", "version": "1"}}}),
        )
        .await;
    let session = init
        .headers()
        .get("mcp-session-id")
        .expect("a session id")
        .to_str()
        .unwrap()
        .to_owned();
    let mut init = Sse::new(init).await;
    assert_eq!(
        init.next().await.unwrap()["result"]["protocolVersion"],
        LEGACY
    );
    let r = replica
        .legacy(
            Some(&session),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    session
}

/// A request within a legacy session, and its answer.
async fn legacy_call(
    replica: &Replica,
    session: &str,
    id: u64,
    method: &str,
    params: Value,
) -> Value {
    let r = replica
        .legacy(
            Some(session),
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        )
        .await;
    let mut messages = Sse::new(r).await;
    loop {
        let m = messages.next().await.expect("an answer");
        if m.get("id").is_some() {
            return m;
        }
    }
}

#[tokio::test]
async fn a_legacy_task_started_on_one_replica_is_listed_read_and_cancelled_through_the_other() {
    let (_redis, a, b) = two_replicas().await;
    let session = legacy_session(&a).await;
    let started = legacy_call(
        &a,
        &session,
        2,
        "tools/call",
        json!({"name": "slow_compute", "arguments": {"seconds": 60}, "task": {"ttl": 60000}}),
    )
    .await;
    let id = started["result"]["task"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("a task: {started}"))
        .to_owned();
    // The same session through B: the task is listed and read there.
    let listed = legacy_call(&b, &session, 3, "tasks/list", json!({})).await;
    let ids: Vec<&str> = listed["result"]["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .map(|t| t["taskId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()], "{listed}");
    let got = legacy_call(&b, &session, 4, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["result"]["status"], "working", "{got}");
    // Another session (another owner) does not find it, on either replica.
    let other = legacy_session(&b).await;
    let hidden = legacy_call(&b, &other, 5, "tasks/get", json!({"taskId": id})).await;
    assert!(hidden.get("error").is_some(), "{hidden}");
    // Cancelled through B: cancelled on A, the replica that runs it.
    let c = legacy_call(&b, &session, 6, "tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(c["result"]["status"], "cancelled", "{c}");
    for (n, replica) in [(7, &a), (8, &b)] {
        let mut status = Value::Null;
        for attempt in 0..250 {
            let got = legacy_call(
                replica,
                &session,
                n * 1000 + attempt,
                "tasks/get",
                json!({"taskId": id}),
            )
            .await;
            status = got["result"]["status"].clone();
            if status == "cancelled" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(status, "cancelled");
    }
}
