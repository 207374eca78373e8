//! What one caller can reach of another's: tasks, sessions and subscriptions belong to a
//! principal (issuer and subject), over Streamable HTTP with bearer tokens from local
//! authorization servers. Each case asserts the exact refusal, then that a good request is
//! still served.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use mcp_server::audit::{Audit, AuditKind, MemorySink};
use mcp_server::http::auth::testing::TestAuthServer;
use mcp_server::http::auth::{AuthError, Jwks, JwtValidator, ResourceServer, TokenValidator};
use mcp_server::http::{self, HttpConfig};
use mcp_server::{Context, Identity, Server, ServerOptions, State, resource, tool};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

const LEGACY: &str = "2025-11-25";
const MODERN: &str = "2026-07-28";

/// Which reports may finish: a report runs until its name is released.
struct Gate(watch::Sender<BTreeSet<String>>);

/// Exports a report as a task; it finishes when the test releases its name.
#[tool(read_only, task_support = "optional", scopes = ["kpi:read"])]
async fn export_report(gate: State<Gate>, name: String) -> String {
    let mut released = gate.0.0.subscribe();
    let _ = released.wait_for(|names| names.contains(&name)).await;
    format!("report {name}")
}

/// One call per minute per principal.
#[tool(read_only, scopes = ["kpi:read"], rate_limit = "1/min")]
fn scarce() -> String {
    "ok".into()
}

/// The caller as the server sees it.
#[tool(read_only, public)]
fn whoami(cx: Context) -> String {
    let id = cx.identity().expect("authenticated");
    id.principal().to_string()
}

/// Ships a service, once the caller's user approves.
#[tool(destructive, approval = "required", scopes = ["kpi:read"])]
fn ship(service: String) -> String {
    format!("shipped {service}")
}

/// The board, for readers.
#[resource("kpi://board", scopes = ["kpi:read"])]
fn board() -> String {
    "board".into()
}

/// Payroll, for HR only.
#[resource("kpi://payroll", scopes = ["hr:read"])]
fn payroll() -> String {
    "payroll".into()
}

/// Accepts the tokens of several authorization servers (each validator checks its own issuer).
struct AnyOf(Vec<JwtValidator>);

impl TokenValidator for AnyOf {
    async fn validate(&self, token: &str) -> Result<Identity, AuthError> {
        let mut last = AuthError::invalid("no validator");
        for v in &self.0 {
            match v.validate(token).await {
                Ok(identity) => return Ok(identity),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

struct Fixture {
    issuers: Vec<TestAuthServer>,
    url: String,
    gate: Arc<Gate>,
    audit: Arc<MemorySink>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start_with(options: ServerOptions, config: HttpConfig, issuers: usize) -> Fixture {
    let mut servers = Vec::new();
    for _ in 0..issuers {
        servers.push(TestAuthServer::start().await.unwrap());
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let validators = servers
        .iter()
        .map(|a| JwtValidator::new(&url, a.issuer(), Jwks::url(a.jwks_url())))
        .collect();
    let mut rs = ResourceServer::new(&url, servers[0].issuer(), AnyOf(validators)).unwrap();
    for a in &servers[1..] {
        rs = rs.authorization_server(a.issuer());
    }
    let gate = Arc::new(Gate(watch::channel(BTreeSet::new()).0));
    let audit = Arc::new(MemorySink::default());
    let server = Server::new("isolation", "1.0.0")
        .options(options)
        .require_authorization()
        .audit(Audit::new().with_sink(audit.clone()))
        .state(Gate(gate.0.clone()))
        .tool(ExportReport)
        .tool(Scarce)
        .tool(Whoami)
        .tool(Ship)
        .resource(Board)
        .resource(Payroll);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(http::serve(server, config.auth(rs), listener, async move {
        let _ = stopped.await;
    }));
    Fixture {
        issuers: servers,
        url,
        gate,
        audit,
        _stop: stop,
    }
}

async fn start() -> Fixture {
    start_with(ServerOptions::default(), HttpConfig::new(), 1).await
}

/// An HTTP answer: status and body (the last JSON-RPC message of an SSE stream).
struct Answer {
    status: u16,
    body: Value,
    session: Option<String>,
}

impl Fixture {
    /// A token of `subject` from the first issuer.
    fn token(&self, subject: &str, scopes: &[&str]) -> String {
        self.issuers[0].access_token(&self.url, subject, scopes)
    }

    fn release(&self, name: &str) {
        self.gate.0.send_modify(|names| {
            names.insert(name.to_owned());
        });
    }

    async fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = reqwest::Client::new()
            .request(method, &self.url)
            .timeout(Duration::from_secs(10))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        let session = r
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let sse = r
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"));
        let text = r.text().await.unwrap();
        let body = if sse {
            text.lines()
                .rev()
                .filter_map(|l| l.strip_prefix("data:"))
                .find_map(|d| serde_json::from_str(d.trim()).ok())
                .unwrap_or(Value::Null)
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        Answer {
            status,
            body,
            session,
        }
    }

    /// A new legacy session of the token's principal.
    async fn session(&self, token: &str) -> String {
        let a = self.initialize(token).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let session = a.session.expect("a session id");
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let h = [
            ("mcp-session-id", session.as_str()),
            ("mcp-protocol-version", LEGACY),
        ];
        let a = self
            .send(reqwest::Method::POST, token, Some(&initialized), &h)
            .await;
        assert_eq!(a.status, 202);
        session
    }

    async fn initialize(&self, token: &str) -> Answer {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": LEGACY, "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}});
        self.send(reqwest::Method::POST, token, Some(&init), &[])
            .await
    }

    /// A request of a legacy session.
    async fn legacy(&self, token: &str, session: &str, method: &str, params: Value) -> Answer {
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
        let h = [
            ("mcp-session-id", session),
            ("mcp-protocol-version", LEGACY),
        ];
        self.send(reqwest::Method::POST, token, Some(&body), &h)
            .await
    }

    /// A modern request from a client that declared the tasks extension.
    async fn modern(&self, token: &str, method: &str, params: Value) -> Answer {
        let mut params = params;
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {
                "extensions": {"io.modelcontextprotocol/tasks": {}}
            },
        });
        let name = params
            .get("name")
            .or_else(|| params.get("uri"))
            .or_else(|| params.get("taskId"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let body = json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": params});
        let mut h = vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
        if let Some(name) = &name {
            h.push(("mcp-name", name.as_str()));
        }
        self.send(reqwest::Method::POST, token, Some(&body), &h)
            .await
    }

    /// A modern `tools/call` from a client that can elicit (so it can be asked for approval).
    async fn modern_call(&self, token: &str, params: Value) -> Answer {
        let mut params = params;
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
        });
        let name = params["name"].as_str().unwrap().to_owned();
        let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": params});
        let h = [
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/call"),
            ("mcp-name", name.as_str()),
        ];
        self.send(reqwest::Method::POST, token, Some(&body), &h)
            .await
    }

    /// Starts `export_report` as a legacy task in `session`; its task id.
    async fn start_task(&self, token: &str, session: &str, name: &str) -> String {
        let a = self
            .legacy(
                token,
                session,
                "tools/call",
                json!({"name": "export_report", "arguments": {"name": name}, "task": {"ttl": 60000}}),
            )
            .await;
        assert_eq!(a.body["result"]["task"]["status"], "working", "{}", a.body);
        a.body["result"]["task"]["taskId"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

fn unknown_task(id: &str) -> Value {
    json!({"code": -32602, "message": format!("unknown task: {id}")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_of_another_principal_is_unknown() {
    let fx = start().await;
    let alice = fx.token("alice", &["kpi:read"]);
    let bob = fx.token("bob", &["kpi:read"]);
    let alice_session = fx.session(&alice).await;
    let bob_session = fx.session(&bob).await;
    let id = fx.start_task(&alice, &alice_session, "q3").await;
    let never = "AAAAAAAAAAAAAAAAAAAAAA";

    // Bob, legacy: every task method answers as for an id that never existed.
    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        for task in [id.as_str(), never] {
            let a = fx
                .legacy(&bob, &bob_session, method, json!({"taskId": task}))
                .await;
            assert_eq!(a.status, 200);
            assert_eq!(a.body["error"], unknown_task(task), "{method}");
        }
    }
    let a = fx.legacy(&bob, &bob_session, "tasks/list", json!({})).await;
    assert_eq!(a.body["result"]["tasks"], json!([]), "{}", a.body);
    // Bob, modern: the same for get, update and cancel.
    for method in ["tasks/get", "tasks/update", "tasks/cancel"] {
        for task in [id.as_str(), never] {
            let mut params = json!({"taskId": task});
            if method == "tasks/update" {
                params["inputResponses"] = json!({});
            }
            let a = fx.modern(&bob, method, params).await;
            assert_eq!(a.status, 200);
            assert_eq!(a.body["error"], unknown_task(task), "{method}");
        }
    }
    // Bob's own task is his to see; Alice's is still running, untouched.
    let own = fx.start_task(&bob, &bob_session, "bob").await;
    let a = fx.legacy(&bob, &bob_session, "tasks/list", json!({})).await;
    assert_eq!(a.body["result"]["tasks"][0]["taskId"], own.as_str());
    assert_eq!(a.body["result"]["tasks"].as_array().unwrap().len(), 1);

    // Alice is served: she sees, lists and reads her task, from any of her sessions.
    let other_session = fx.session(&alice).await;
    let a = fx
        .legacy(&alice, &other_session, "tasks/list", json!({}))
        .await;
    assert_eq!(a.body["result"]["tasks"][0]["taskId"], id.as_str());
    assert_eq!(a.body["result"]["tasks"][0]["status"], "working");
    fx.release("q3");
    let a = fx
        .legacy(
            &alice,
            &alice_session,
            "tasks/result",
            json!({"taskId": id}),
        )
        .await;
    assert_eq!(
        a.body["result"]["content"][0]["text"], "report q3",
        "{}",
        a.body
    );
    let a = fx.modern(&alice, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(a.body["result"]["status"], "completed", "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_quota_per_principal_refuses_with_clear_error() {
    let options = ServerOptions {
        max_tasks_per_principal: 2,
        ..ServerOptions::default()
    };
    let fx = start_with(options, HttpConfig::new(), 1).await;
    let alice = fx.token("alice", &["kpi:read"]);
    let bob = fx.token("bob", &["kpi:read"]);
    let session = fx.session(&alice).await;
    let first = fx.start_task(&alice, &session, "a1").await;
    fx.start_task(&alice, &session, "a2").await;
    // The third unfinished task of Alice is refused, naming the limit.
    let third = json!({"name": "export_report", "arguments": {"name": "a3"}, "task": {}});
    let a = fx
        .legacy(&alice, &session, "tools/call", third.clone())
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body["error"],
        json!({
            "code": -32003,
            "message": "too many tasks: you already have 2 unfinished tasks, the most one caller may have; wait for one to finish or cancel one",
            "data": {"reason": "task_quota", "limit": 2}
        })
    );
    // In the modern era too.
    let a = fx
        .modern(
            &alice,
            "tools/call",
            json!({"name": "export_report", "arguments": {"name": "a3"}}),
        )
        .await;
    assert_eq!(
        a.body["error"]["data"]["reason"], "task_quota",
        "{}",
        a.body
    );
    // Another principal is served.
    let bob_session = fx.session(&bob).await;
    fx.start_task(&bob, &bob_session, "b1").await;
    fx.start_task(&bob, &bob_session, "b2").await;
    // Once one of hers ends (here: cancelled), Alice is served again; the ended one makes room.
    let a = fx
        .legacy(&alice, &session, "tasks/cancel", json!({"taskId": first}))
        .await;
    assert_eq!(a.body["result"]["status"], "cancelled", "{}", a.body);
    let a = fx.legacy(&alice, &session, "tools/call", third).await;
    assert_eq!(a.body["result"]["task"]["status"], "working", "{}", a.body);
    let a = fx.legacy(&alice, &session, "tasks/list", json!({})).await;
    assert_eq!(a.body["result"]["tasks"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_never_cancels_another_principals_running_task() {
    let options = ServerOptions {
        max_tasks: 2,
        max_tasks_per_principal: 10,
        ..ServerOptions::default()
    };
    let fx = start_with(options, HttpConfig::new(), 1).await;
    let alice = fx.token("alice", &["kpi:read"]);
    let bob = fx.token("bob", &["kpi:read"]);
    let alice_session = fx.session(&alice).await;
    let bob_session = fx.session(&bob).await;
    let alices = fx.start_task(&alice, &alice_session, "alice").await;
    let bobs = fx.start_task(&bob, &bob_session, "bob").await;
    // The server is full of running tasks: the new one is refused; the oldest (Alice's) is not
    // cancelled to make room.
    let call = json!({"name": "export_report", "arguments": {"name": "bob-2"}, "task": {}});
    let a = fx
        .legacy(&bob, &bob_session, "tools/call", call.clone())
        .await;
    assert_eq!(
        a.body["error"],
        json!({
            "code": -32000,
            "message": "the server holds too many unfinished tasks: try again later",
            "data": {"reason": "server_busy"}
        })
    );
    let a = fx
        .legacy(
            &alice,
            &alice_session,
            "tasks/get",
            json!({"taskId": alices}),
        )
        .await;
    assert_eq!(a.body["result"]["status"], "working");
    // A finished task makes room: Bob's own, not Alice's running one.
    fx.release("bob");
    let a = fx
        .legacy(&bob, &bob_session, "tasks/result", json!({"taskId": bobs}))
        .await;
    assert_eq!(a.body["result"]["content"][0]["text"], "report bob");
    let a = fx.legacy(&bob, &bob_session, "tools/call", call).await;
    assert_eq!(a.body["result"]["task"]["status"], "working", "{}", a.body);
    let a = fx
        .legacy(
            &alice,
            &alice_session,
            "tasks/get",
            json!({"taskId": alices}),
        )
        .await;
    assert_eq!(a.body["result"]["status"], "working");
    fx.release("alice");
    let a = fx
        .legacy(
            &alice,
            &alice_session,
            "tasks/result",
            json!({"taskId": alices}),
        )
        .await;
    assert_eq!(a.body["result"]["content"][0]["text"], "report alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_flood_is_capped_per_principal() {
    let config = HttpConfig::new()
        .max_sessions(10)
        .max_sessions_per_principal(3);
    let fx = start_with(ServerOptions::default(), config, 1).await;
    let mallory = fx.token("mallory", &["kpi:read"]);
    let alice = fx.token("alice", &["kpi:read"]);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(fx.session(&mallory).await);
    }
    for _ in 0..5 {
        let a = fx.initialize(&mallory).await;
        assert_eq!(a.status, 429);
        assert!(a.session.is_none());
        assert_eq!(
            a.body["error"],
            json!({
                "code": -32000,
                "message": "too many sessions: you already hold 3, the most one caller may; close one (DELETE) or let one expire",
                "data": {"reason": "session_quota", "limit": 3}
            })
        );
    }
    // Everyone else is still served.
    let session = fx.session(&alice).await;
    let a = fx
        .legacy(
            &alice,
            &session,
            "tools/call",
            json!({"name": "whoami", "arguments": {}}),
        )
        .await;
    assert!(
        a.body["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("alice ("),
        "{}",
        a.body
    );
    // Closing one of its sessions gives the flooder room for one more.
    let h = [("mcp-session-id", held[0].as_str())];
    let a = fx.send(reqwest::Method::DELETE, &mallory, None, &h).await;
    assert_eq!(a.status, 204);
    fx.session(&mallory).await;
    assert_eq!(fx.initialize(&mallory).await.status, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_delete_of_another_principals_session_refused() {
    let fx = start().await;
    let alice = fx.token("alice", &["kpi:read"]);
    let bob = fx.token("bob", &["kpi:read"]);
    let session = fx.session(&alice).await;
    let h = [
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", LEGACY),
    ];
    let not_found =
        json!({"code": -32600, "message": "no such session: send `initialize` to start a new one"});
    // Bob's POST, GET and DELETE with Alice's session id: 404, as for a session that does not
    // exist.
    let a = fx
        .legacy(
            &bob,
            &session,
            "tools/call",
            json!({"name": "whoami", "arguments": {}}),
        )
        .await;
    assert_eq!((a.status, &a.body["error"]), (404, &not_found));
    let a = fx.send(reqwest::Method::GET, &bob, None, &h).await;
    assert_eq!((a.status, &a.body["error"]), (404, &not_found));
    let a = fx.send(reqwest::Method::DELETE, &bob, None, &h).await;
    assert_eq!((a.status, &a.body["error"]), (404, &not_found));
    let unknown = [
        ("mcp-session-id", "0123456789abcdef0123456789abcdef"),
        ("mcp-protocol-version", LEGACY),
    ];
    let a = fx.send(reqwest::Method::DELETE, &bob, None, &unknown).await;
    assert_eq!((a.status, &a.body["error"]), (404, &not_found));
    // The session survived Bob's DELETE: Alice is served, then closes it herself.
    let a = fx
        .legacy(
            &alice,
            &session,
            "tools/call",
            json!({"name": "whoami", "arguments": {}}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("alice (")
    );
    let a = fx.send(reqwest::Method::DELETE, &alice, None, &h).await;
    assert_eq!(a.status, 204);
    let a = fx.send(reqwest::Method::DELETE, &alice, None, &h).await;
    assert_eq!(a.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_to_unreadable_resource_refused_like_read() {
    let fx = start().await;
    let reader = fx.token("alice", &["kpi:read"]);
    let session = fx.session(&reader).await;
    let read = fx
        .legacy(
            &reader,
            &session,
            "resources/read",
            json!({"uri": "kpi://payroll"}),
        )
        .await;
    let denied = json!({
        "code": -32003,
        "message": "access denied to resource `kpi://payroll`: it needs the scope hr:read",
        "data": {"reason": "insufficient_scope", "scopes": ["hr:read"]}
    });
    assert_eq!(read.body["error"], denied);
    // Legacy subscribe: the same error as the read.
    let sub = fx
        .legacy(
            &reader,
            &session,
            "resources/subscribe",
            json!({"uri": "kpi://payroll"}),
        )
        .await;
    assert_eq!(sub.body["error"], read.body["error"]);
    // A resource that does not exist: as its read.
    let read = fx
        .legacy(
            &reader,
            &session,
            "resources/read",
            json!({"uri": "kpi://nothing"}),
        )
        .await;
    let sub = fx
        .legacy(
            &reader,
            &session,
            "resources/subscribe",
            json!({"uri": "kpi://nothing"}),
        )
        .await;
    assert_eq!(read.body["error"]["code"], -32002);
    assert_eq!(sub.body["error"], read.body["error"]);
    // Modern listen: refused as the read, whatever else it asks for.
    let listen = fx
        .modern(
            &reader,
            "subscriptions/listen",
            json!({"notifications": {"toolsListChanged": true,
                "resourceSubscriptions": ["kpi://board", "kpi://payroll"]}}),
        )
        .await;
    assert_eq!(listen.body["error"], denied, "{}", listen.body);
    // What the reader may read, it may subscribe to.
    let sub = fx
        .legacy(
            &reader,
            &session,
            "resources/subscribe",
            json!({"uri": "kpi://board"}),
        )
        .await;
    assert_eq!(sub.body["result"], json!({}), "{}", sub.body);
    let hr = fx.token("hal", &["hr:read"]);
    let hr_session = fx.session(&hr).await;
    let sub = fx
        .legacy(
            &hr,
            &hr_session,
            "resources/subscribe",
            json!({"uri": "kpi://payroll"}),
        )
        .await;
    assert_eq!(sub.body["result"], json!({}), "{}", sub.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_subject_from_two_issuers_are_two_principals() {
    let fx = start_with(ServerOptions::default(), HttpConfig::new(), 2).await;
    let x = fx.issuers[0].access_token(&fx.url, "alice", &["kpi:read"]);
    let y = fx.issuers[1].access_token(&fx.url, "alice", &["kpi:read"]);
    let (ix, iy) = (fx.issuers[0].issuer(), fx.issuers[1].issuer());

    // The handler sees two principals.
    let whoami = json!({"name": "whoami", "arguments": {}});
    let a = fx.modern(&x, "tools/call", whoami.clone()).await;
    assert_eq!(
        a.body["result"]["content"][0]["text"],
        format!("alice ({ix})")
    );
    let a = fx.modern(&y, "tools/call", whoami.clone()).await;
    assert_eq!(
        a.body["result"]["content"][0]["text"],
        format!("alice ({iy})")
    );

    // Sessions: X's session is not Y's, and the refusal's audit record names Y's issuer.
    let session = fx.session(&x).await;
    let a = fx.legacy(&y, &session, "tools/call", whoami.clone()).await;
    assert_eq!(a.status, 404);
    let refusals: Vec<_> = fx
        .audit
        .records()
        .into_iter()
        .filter(|r| r.kind == AuditKind::Refusal)
        .collect();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].status, Some(404));
    assert_eq!(refusals[0].principal.as_deref(), Some("alice"));
    assert_eq!(refusals[0].issuer.as_deref(), Some(iy));

    // Tasks: Y cannot see X's.
    let task = fx.start_task(&x, &session, "x").await;
    let a = fx.modern(&y, "tasks/get", json!({"taskId": task})).await;
    assert_eq!(a.body["error"], unknown_task(&task));

    // Rate limits: X's use does not count against Y.
    let scarce = json!({"name": "scarce", "arguments": {}});
    let a = fx.modern(&x, "tools/call", scarce.clone()).await;
    assert_eq!(a.body["result"]["content"][0]["text"], "ok", "{}", a.body);
    let a = fx.modern(&x, "tools/call", scarce.clone()).await;
    assert_eq!(
        a.body["error"]["data"]["reason"], "rate_limited",
        "{}",
        a.body
    );
    let a = fx.modern(&y, "tools/call", scarce).await;
    assert_eq!(a.body["result"]["content"][0]["text"], "ok", "{}", a.body);

    // Audit: the records name the issuer beside the subject.
    let issuers: BTreeSet<Option<String>> = fx
        .audit
        .records()
        .iter()
        .filter(|r| r.kind == AuditKind::Request && r.principal.as_deref() == Some("alice"))
        .map(|r| r.issuer.clone())
        .collect();
    assert_eq!(
        issuers,
        BTreeSet::from([Some(ix.to_owned()), Some(iy.to_owned())])
    );

    // X is still served in its session, and its task completes.
    fx.release("x");
    let a = fx
        .legacy(&x, &session, "tasks/result", json!({"taskId": task}))
        .await;
    assert_eq!(
        a.body["result"]["content"][0]["text"], "report x",
        "{}",
        a.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_authentication_a_task_belongs_to_its_session() {
    let gate = Gate(watch::channel(BTreeSet::new()).0);
    let release = gate.0.clone();
    let server = Server::new("open", "1.0.0").state(gate).tool(ExportReport);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(http::serve(
        server,
        HttpConfig::new(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    // The fixture's helpers, with a token no one checks.
    let fx = Fixture {
        issuers: Vec::new(),
        url,
        gate: Arc::new(Gate(release)),
        audit: Arc::new(MemorySink::default()),
        _stop,
    };
    let (one, two) = (fx.session("-").await, fx.session("-").await);
    let id = fx.start_task("-", &one, "open").await;
    let a = fx
        .legacy("-", &two, "tasks/get", json!({"taskId": id}))
        .await;
    assert_eq!(a.body["error"], unknown_task(&id));
    let a = fx.legacy("-", &two, "tasks/list", json!({})).await;
    assert_eq!(a.body["result"]["tasks"], json!([]));
    // Its own session is served.
    fx.release("open");
    let a = fx
        .legacy("-", &one, "tasks/result", json!({"taskId": id}))
        .await;
    assert_eq!(a.body["result"]["content"][0]["text"], "report open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_of_one_issuers_alice_is_not_the_others() {
    let fx = start_with(ServerOptions::default(), HttpConfig::new(), 2).await;
    let x = fx.issuers[0].access_token(&fx.url, "alice", &["kpi:read"]);
    let y = fx.issuers[1].access_token(&fx.url, "alice", &["kpi:read"]);
    let ship = json!({"name": "ship", "arguments": {"service": "api"}});

    // X's call asks X's user for approval.
    let a = fx.modern_call(&x, ship.clone()).await;
    assert_eq!(
        a.body["result"]["resultType"], "input_required",
        "{}",
        a.body
    );
    let requests = a.body["result"]["inputRequests"].as_object().unwrap();
    let key = requests.keys().next().unwrap().clone();
    let state = a.body["result"]["requestState"].clone();
    let approve = json!({ &key: {"action": "accept", "content": {"approve": true}} });
    let answered = |mut p: Value| {
        p["requestState"] = state.clone();
        p["inputResponses"] = approve.clone();
        p
    };

    // The other issuer's alice answers it with X's state: refused, nothing runs.
    let a = fx.modern_call(&y, answered(ship.clone())).await;
    assert_eq!(
        a.body["error"],
        json!({"code": -32602, "message": "invalid requestState (WrongRequest)"}),
        "{}",
        a.body
    );

    // X's own answer is served, once.
    let a = fx.modern_call(&x, answered(ship.clone())).await;
    assert_eq!(
        a.body["result"]["content"][0]["text"], "shipped api",
        "{}",
        a.body
    );
    let a = fx.modern_call(&x, answered(ship.clone())).await;
    assert_eq!(
        a.body["result"]["content"][0]["text"],
        "not approved: the approval was used already, or is unknown to this server",
        "{}",
        a.body
    );

    // Y is asked for its own approval, which it can give.
    let a = fx.modern_call(&y, ship.clone()).await;
    assert_eq!(
        a.body["result"]["resultType"], "input_required",
        "{}",
        a.body
    );
    let own = a.body["result"]["inputRequests"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    assert_ne!(own, key, "each call has its own approval request");
    let mut p = ship.clone();
    p["requestState"] = a.body["result"]["requestState"].clone();
    p["inputResponses"] = json!({ &own: {"action": "accept", "content": {"approve": true}} });
    let a = fx.modern_call(&y, p).await;
    assert_eq!(
        a.body["result"]["content"][0]["text"], "shipped api",
        "{}",
        a.body
    );
}
