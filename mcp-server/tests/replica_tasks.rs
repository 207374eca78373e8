//! Tasks across replicas: two `Server`s sharing one `MemoryStore` behave as one server. A task
//! started on replica A is read, listed, answered, waited for and cancelled through replica B,
//! by its owner only; and B answers -32004 for it when the store cannot be reached.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use mcp_server::mcp_core::JsonRpcMessage;
use mcp_server::store::MemoryStore;
use mcp_server::types::*;
use mcp_server::{AuthMethod, Context, Identity, Policy, Result, Server, ToolHandler};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

const LEGACY: &str = "2025-11-25";
const MODERN: &str = "2026-07-28";

/// Which jobs may finish: a job runs until its name is released.
#[derive(Clone)]
struct Gate(Arc<watch::Sender<BTreeSet<String>>>);

impl Gate {
    fn release(&self, name: &str) {
        self.0.send_modify(|names| {
            names.insert(name.to_owned());
        });
    }
}

/// A task tool: asks who it is for when `ask`, then waits until its name is released.
struct Job(Gate);

impl ToolHandler for Job {
    fn definition(&self) -> Tool {
        let mut t = Tool::new(
            "job",
            serde_json::from_value(json!({"type": "object"})).unwrap(),
        );
        t.execution = Some(ToolExecution {
            task_support: Some(TaskSupport::Optional),
        });
        t.annotations = Some(ToolAnnotations {
            read_only_hint: Some(true),
            ..Default::default()
        });
        t
    }

    fn policy(&self) -> Policy {
        Policy::public()
    }

    async fn call(&self, cx: Context, args: JsonObject) -> Result<CallToolResult> {
        let name = args["name"].as_str().unwrap_or_default().to_owned();
        let mut who = "nobody".to_owned();
        if args.get("ask").and_then(Value::as_bool) == Some(true) {
            let schema = serde_json::from_value(
                json!({"type": "object", "properties": {"name": {"type": "string"}}}),
            )
            .unwrap();
            let answer = cx
                .keyed("who")
                .elicit_with("Who is it for?", schema)
                .await?;
            who = answer
                .content
                .and_then(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default();
        }
        let mut released = self.0.0.subscribe();
        let _ = released.wait_for(|names| names.contains(&name)).await;
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "{name} for {who}"
        ))]))
    }
}

/// Two replicas sharing one store, and the gate of their jobs.
struct Replicas {
    a: Server,
    b: Server,
    store: Arc<MemoryStore>,
    gate: Gate,
}

fn replicas() -> Replicas {
    let store = Arc::new(MemoryStore::new());
    let gate = Gate(Arc::new(watch::channel(BTreeSet::new()).0));
    let replica = || {
        Server::new("replicated", "1.0.0")
            .tool(Job(gate.clone()))
            .store(store.clone())
    };
    Replicas {
        a: replica(),
        b: replica(),
        store,
        gate,
    }
}

fn person(name: &str) -> Identity {
    Identity::new(name, AuthMethod::Bearer)
}

/// A connection to one replica, as one caller, speaking raw JSON-RPC.
struct Conn {
    tx: mpsc::Sender<JsonRpcMessage>,
    rx: mpsc::Receiver<JsonRpcMessage>,
    next: i64,
    /// `_meta` of every request (modern), or `None` (legacy, initialized).
    meta: Option<Value>,
}

impl Conn {
    fn open(server: &Server, who: &str) -> Conn {
        let (tx, incoming) = mpsc::channel(64);
        let (outgoing, rx) = mpsc::channel(64);
        tokio::spawn(
            server
                .clone()
                .serve_channel_as(Some(person(who)), incoming, outgoing),
        );
        Conn {
            tx,
            rx,
            next: 1,
            meta: None,
        }
    }

    async fn legacy(server: &Server, who: &str) -> Conn {
        let mut c = Conn::open(server, who);
        let init = c
            .call(
                "initialize",
                json!({"protocolVersion": LEGACY, "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}),
            )
            .await;
        assert_eq!(init["result"]["protocolVersion"], LEGACY, "{init}");
        c.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        c
    }

    fn modern(server: &Server, who: &str) -> Conn {
        let mut c = Conn::open(server, who);
        c.meta = Some(json!({
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities":
                {"elicitation": {}, "extensions": {"io.modelcontextprotocol/tasks": {}}},
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}
        }));
        c
    }

    async fn send(&mut self, v: Value) {
        let message = JsonRpcMessage::from_json(&v.to_string()).unwrap();
        self.tx.send(message).await.unwrap();
    }

    /// Sends a request and waits for its answer (what comes before it is dropped).
    async fn call(&mut self, method: &str, mut params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        if let Some(meta) = &self.meta {
            params["_meta"] = meta.clone();
        }
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
                .await
                .expect("the replica answers within 10 s")
                .expect("the replica did not close");
            let m = serde_json::to_value(&m).unwrap();
            if m["id"] == json!(id) && (m.get("result").is_some() || m.get("error").is_some()) {
                return m;
            }
        }
    }

    /// Starts a job as a task; returns its id.
    async fn start(&mut self, arguments: Value) -> String {
        let mut params = json!({"name": "job", "arguments": arguments});
        if self.meta.is_none() {
            params["task"] = json!({"ttl": 60000});
        }
        let r = self.call("tools/call", params).await;
        let task = if self.meta.is_some() {
            assert_eq!(r["result"]["resultType"], "task", "{r}");
            &r["result"]
        } else {
            &r["result"]["task"]
        };
        assert_eq!(task["status"], "working", "{r}");
        task["taskId"].as_str().unwrap().to_owned()
    }

    /// Calls `tasks/get` until the task's status is `status`.
    async fn until_status(&mut self, id: &str, status: &str) -> Value {
        for _ in 0..1000 {
            let r = self.call("tasks/get", json!({"taskId": id})).await;
            // Both eras answer with the task's fields in the result.
            let task = &r["result"];
            if task["status"] == status {
                return task.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("task {id} never reached {status}")
    }
}

fn unknown_task(id: &str) -> Value {
    json!({"code": -32602, "message": format!("unknown task: {id}")})
}

fn store_unavailable() -> Value {
    json!({"code": -32004,
           "message": "the server's shared state is unavailable: try again shortly",
           "data": {"reason": "store_unavailable"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_task_of_one_replica_is_served_by_another() {
    let r = replicas();
    let mut alice_a = Conn::legacy(&r.a, "alice").await;
    let mut alice_b = Conn::legacy(&r.b, "alice").await;
    let mut bob_b = Conn::legacy(&r.b, "bob").await;
    let id = alice_a.start(json!({"name": "l1"})).await;

    // B reads and lists A's task.
    let got = alice_b.call("tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["result"]["taskId"], id.as_str(), "{got}");
    assert_eq!(got["result"]["status"], "working");
    assert_eq!(got["result"]["ttl"], 60000);
    let list = alice_b.call("tasks/list", json!({})).await;
    assert_eq!(list["result"]["tasks"][0]["taskId"], id.as_str(), "{list}");
    assert_eq!(list["result"]["tasks"].as_array().unwrap().len(), 1);

    // Bob, through B, finds nothing of Alice's.
    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        let a = bob_b.call(method, json!({"taskId": id})).await;
        assert_eq!(a["error"], unknown_task(&id), "{method}: {a}");
    }
    let list = bob_b.call("tasks/list", json!({})).await;
    assert_eq!(list["result"]["tasks"], json!([]), "{list}");

    // B's tasks/result waits for A to finish, then carries the result and names the task.
    let waiting = tokio::spawn(async move {
        let payload = alice_b.call("tasks/result", json!({"taskId": id})).await;
        (alice_b, id, payload)
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished(), "tasks/result waits for the end");
    r.gate.release("l1");
    let (mut alice_b, id, payload) = waiting.await.unwrap();
    assert_eq!(
        payload["result"]["content"][0]["text"], "l1 for nobody",
        "{payload}"
    );
    assert_eq!(
        payload["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        id.as_str()
    );
    let done = alice_b.until_status(&id, "completed").await;
    assert_eq!(done["taskId"], id.as_str());
    // A finished task cannot be cancelled, through B either.
    let a = alice_b.call("tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(a["error"]["code"], -32602, "{a}");
    assert_eq!(
        a["error"]["message"],
        "Cannot cancel task: already in terminal status"
    );

    // Cancelled through B: B answers cancelled, and A stops the task.
    let second = alice_a.start(json!({"name": "l2"})).await;
    let a = alice_b
        .call("tasks/cancel", json!({"taskId": second}))
        .await;
    assert_eq!(a["result"]["taskId"], second.as_str(), "{a}");
    assert_eq!(a["result"]["status"], "cancelled", "{a}");
    // A holds the task: its own status moved, so the bus message reached it.
    alice_a.until_status(&second, "cancelled").await;
    let got = alice_b.call("tasks/get", json!({"taskId": second})).await;
    assert_eq!(got["result"]["status"], "cancelled", "{got}");
    let payload = alice_b
        .call("tasks/result", json!({"taskId": second}))
        .await;
    assert_eq!(payload["error"]["code"], -32602, "{payload}");
    // Both tasks are listed through B, oldest first.
    let list = alice_b.call("tasks/list", json!({})).await;
    let ids: Vec<&str> = list["result"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str(), second.as_str()], "{list}");
    r.gate.release("l2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modern_task_of_one_replica_is_answered_and_cancelled_through_another() {
    let r = replicas();
    let mut alice_a = Conn::modern(&r.a, "alice");
    let mut alice_b = Conn::modern(&r.b, "alice");
    let mut bob_b = Conn::modern(&r.b, "bob");
    let id = alice_a.start(json!({"name": "m1", "ask": true})).await;

    // The question the task asks on A is read through B, and answered through B.
    let asked = alice_b.until_status(&id, "input_required").await;
    assert_eq!(
        asked["inputRequests"]["who"]["method"], "elicitation/create",
        "{asked}"
    );
    for method in ["tasks/get", "tasks/update", "tasks/cancel"] {
        let mut params = json!({"taskId": id});
        if method == "tasks/update" {
            params["inputResponses"] =
                json!({"who": {"action": "accept", "content": {"name": "Mallory"}}});
        }
        let a = bob_b.call(method, params).await;
        assert_eq!(a["error"], unknown_task(&id), "{method}: {a}");
    }
    let u = alice_b
        .call(
            "tasks/update",
            json!({"taskId": id,
                   "inputResponses": {"who": {"action": "accept", "content": {"name": "Alice"}}}}),
        )
        .await;
    assert_eq!(u["result"]["resultType"], "complete", "{u}");
    // A took the answer as its own: the task works on, and its result is read through B.
    alice_a.until_status(&id, "working").await;
    r.gate.release("m1");
    let done = alice_b.until_status(&id, "completed").await;
    assert_eq!(
        done["result"]["content"][0]["text"], "m1 for Alice",
        "{done}"
    );

    // Cancelled through B.
    let second = alice_a.start(json!({"name": "m2"})).await;
    let c = alice_b
        .call("tasks/cancel", json!({"taskId": second}))
        .await;
    assert_eq!(c["result"]["resultType"], "complete", "{c}");
    let got = alice_b.call("tasks/get", json!({"taskId": second})).await;
    assert_eq!(got["result"]["status"], "cancelled", "{got}");
    alice_a.until_status(&second, "cancelled").await;
    // Bob sees none of it through A either.
    let mut bob_a = Conn::modern(&r.a, "bob");
    let a = bob_a.call("tasks/get", json!({"taskId": second})).await;
    assert_eq!(a["error"], unknown_task(&second), "{a}");
    r.gate.release("m2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_gives_32004_for_another_replicas_task() {
    let r = replicas();
    let mut alice_a = Conn::legacy(&r.a, "alice").await;
    let mut alice_b = Conn::legacy(&r.b, "alice").await;
    let mut modern_b = Conn::modern(&r.b, "alice");
    let id = alice_a.start(json!({"name": "s1"})).await;
    let modern_id = Conn::modern(&r.a, "alice")
        .start(json!({"name": "s2"}))
        .await;

    r.store.set_available(false);
    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        let a = alice_b.call(method, json!({"taskId": id})).await;
        assert_eq!(a["error"], store_unavailable(), "{method}: {a}");
    }
    let a = alice_b.call("tasks/list", json!({})).await;
    assert_eq!(a["error"], store_unavailable(), "tasks/list: {a}");
    for method in ["tasks/get", "tasks/update", "tasks/cancel"] {
        let mut params = json!({"taskId": modern_id});
        if method == "tasks/update" {
            params["inputResponses"] = json!({});
        }
        let a = modern_b.call(method, params).await;
        assert_eq!(a["error"], store_unavailable(), "{method}: {a}");
    }
    // A new task cannot be made visible to the other replicas: refused alike.
    let a = alice_a
        .call(
            "tools/call",
            json!({"name": "job", "arguments": {"name": "s3"}, "task": {}}),
        )
        .await;
    assert_eq!(a["error"], store_unavailable(), "{a}");
    // The replica holding the task still answers for it; the servers keep serving.
    let got = alice_a.call("tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["result"]["status"], "working", "{got}");
    assert_eq!(alice_b.call("ping", json!({})).await["result"], json!({}));
    // The task ends while the store is away: its record is written once the store is back.
    r.gate.release("s1");
    alice_a.until_status(&id, "completed").await;

    r.store.set_available(true);
    let done = alice_b.until_status(&id, "completed").await;
    assert_eq!(done["taskId"], id.as_str());
    let payload = alice_b.call("tasks/result", json!({"taskId": id})).await;
    assert_eq!(
        payload["result"]["content"][0]["text"], "s1 for nobody",
        "{payload}"
    );
    r.gate.release("s2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_store_a_replica_knows_only_its_own_tasks() {
    let gate = Gate(Arc::new(watch::channel(BTreeSet::new()).0));
    let a = Server::new("alone", "1").tool(Job(gate.clone()));
    let b = Server::new("alone", "1").tool(Job(gate.clone()));
    let mut alice_a = Conn::legacy(&a, "alice").await;
    let mut alice_b = Conn::legacy(&b, "alice").await;
    let id = alice_a.start(json!({"name": "x"})).await;
    let got = alice_b.call("tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["error"], unknown_task(&id), "{got}");
    let list = alice_b.call("tasks/list", json!({})).await;
    assert_eq!(list["result"]["tasks"], json!([]), "{list}");
    gate.release("x");
    alice_a.until_status(&id, "completed").await;
}
