//! Admission enforces declared policies: fail closed with authorization on, scopes and roles
//! hide and refuse items, rate limits per principal, concurrency, timeouts and sizes. Each case
//! checks the exact outcome and that a good request is served right after.

use std::time::Duration;

use mcp_server::admission::ACCESS_DENIED;
use mcp_server::{Context, Identity, Policy, Server, prompt, resource, tool};
use serde_json::{Value, json};

use crate::support::{Client, modern_meta};

/// Reads a metric.
#[tool(read_only, scopes = ["kpi:read"])]
fn query(metric: String) -> String {
    format!("{metric}: 42")
}

/// Deletes a metric.
#[tool(destructive, scopes = ["kpi:admin"], roles = ["admin"])]
fn drop_metric(metric: String) -> String {
    format!("dropped {metric}")
}

/// Declares nothing: denied when authorization is on.
#[tool(read_only)]
fn undeclared() -> String {
    "should not run".into()
}

/// Public but may destroy: denied when authorization is on.
#[tool(public)]
fn reckless() -> String {
    "should not run".into()
}

/// Public and harmless.
#[tool(public, read_only)]
fn ping() -> String {
    "pong".into()
}

/// Two calls a minute per caller.
#[tool(public, read_only, rate_limit = "2/min")]
fn scarce() -> String {
    "ok".into()
}

/// Small arguments and results only.
#[tool(public, read_only, max_argument_bytes = 40, max_result_bytes = 200)]
fn sized(text: String, repeat: usize) -> String {
    text.repeat(repeat)
}

/// One at a time, 200 ms at most.
#[tool(public, read_only, max_concurrency = 1, timeout = "200ms")]
async fn sleepy(ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "awake".into()
}

/// Who is calling.
#[tool(public, read_only)]
fn whoami(cx: Context) -> String {
    cx.identity()
        .map_or_else(|| "nobody".to_owned(), |i| i.subject().to_owned())
}

/// Secret notes.
#[resource("notes://secret", scopes = ["notes:read"])]
fn secret_notes() -> String {
    "the notes".into()
}

/// A greeting for admins.
#[prompt(roles = ["admin"])]
fn admin_greeting(name: String) -> String {
    format!("Hello {name}")
}

fn server() -> Server {
    Server::new("admission-test", "1.0.0")
        .tool(Query)
        .tool(DropMetric)
        .tool(Undeclared)
        .tool(Reckless)
        .tool(Ping)
        .tool(Scarce)
        .tool(Sized)
        .tool(Sleepy)
        .tool(Whoami)
        .resource(SecretNotes)
        .prompt(AdminGreeting)
}

async fn legacy(server: Server) -> Client {
    let mut c = Client::start(server);
    let r = c.initialize("2025-11-25", json!({})).await;
    assert!(r.get("result").is_some(), "{r}");
    c
}

async fn call(c: &mut Client, id: i64, tool: &str, args: Value) -> Value {
    c.call(id, "tools/call", json!({"name": tool, "arguments": args}))
        .await
}

fn names(list: &Value, key: &str, field: &str) -> Vec<String> {
    let mut v: Vec<String> = list["result"][key]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[field].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn denied(r: &Value) -> &str {
    assert_eq!(r["error"]["code"], json!(ACCESS_DENIED.0), "{r}");
    r["error"]["data"]["reason"].as_str().unwrap()
}

fn text(r: &Value) -> &str {
    r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn without_authorization_scopes_are_not_checked_but_limits_are() {
    let mut c = legacy(server()).await;
    let list = c.call(1, "tools/list", json!({})).await;
    assert_eq!(names(&list, "tools", "name").len(), 9);
    let r = call(&mut c, 2, "undeclared", json!({})).await;
    assert_eq!(text(&r), "should not run");
    let r = call(&mut c, 3, "whoami", json!({})).await;
    assert_eq!(text(&r), "nobody");
}

#[tokio::test]
async fn authorization_fails_closed_and_filters_lists() {
    let reader = Identity::configured("alice").with_scopes(["kpi:read"]);
    let mut c = legacy(server().identity(reader)).await;

    let list = c.call(1, "tools/list", json!({})).await;
    assert_eq!(
        names(&list, "tools", "name"),
        ["ping", "query", "scarce", "sized", "sleepy", "whoami"]
    );
    let r = call(&mut c, 2, "query", json!({"metric": "revenue"})).await;
    assert_eq!(text(&r), "revenue: 42");
    let r = call(&mut c, 3, "whoami", json!({})).await;
    assert_eq!(text(&r), "alice");

    // Declares nothing: denied. May destroy yet only `public`: denied.
    let r = call(&mut c, 4, "undeclared", json!({})).await;
    assert_eq!(denied(&r), "undeclared");
    let r = call(&mut c, 5, "reckless", json!({})).await;
    assert_eq!(denied(&r), "destructive_without_scope");
    // Lacks the scope: refused, naming it.
    let r = call(&mut c, 6, "drop_metric", json!({"metric": "revenue"})).await;
    assert_eq!(denied(&r), "insufficient_scope");
    assert_eq!(r["error"]["data"]["scopes"], json!(["kpi:admin"]));
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kpi:admin")
    );

    // Resources and prompts alike.
    let list = c.call(7, "resources/list", json!({})).await;
    assert!(names(&list, "resources", "uri").is_empty());
    let r = c
        .call(8, "resources/read", json!({"uri": "notes://secret"}))
        .await;
    assert_eq!(denied(&r), "insufficient_scope");
    let list = c.call(9, "prompts/list", json!({})).await;
    assert!(names(&list, "prompts", "name").is_empty());
    let r = c
        .call(
            10,
            "prompts/get",
            json!({"name": "admin_greeting", "arguments": {"name": "x"}}),
        )
        .await;
    assert_eq!(denied(&r), "forbidden");

    // Still serving.
    let r = call(&mut c, 11, "ping", json!({})).await;
    assert_eq!(text(&r), "pong");
}

#[tokio::test]
async fn scopes_and_roles_grant_access() {
    let admin = Identity::configured("root")
        .with_scopes(["kpi:read", "kpi:admin", "notes:read"])
        .with_roles(["admin"]);
    let mut c = legacy(server().identity(admin)).await;
    let r = call(&mut c, 1, "drop_metric", json!({"metric": "m"})).await;
    assert_eq!(text(&r), "dropped m");
    let r = c
        .call(2, "resources/read", json!({"uri": "notes://secret"}))
        .await;
    assert_eq!(r["result"]["contents"][0]["text"], "the notes");
    let r = c
        .call(
            3,
            "prompts/get",
            json!({"name": "admin_greeting", "arguments": {"name": "Ada"}}),
        )
        .await;
    assert!(r["result"]["messages"].is_array(), "{r}");
    // Scopes without the role: forbidden.
    let no_role = Identity::configured("bob").with_scopes(["kpi:admin"]);
    let mut c = legacy(server().identity(no_role)).await;
    let r = call(&mut c, 1, "drop_metric", json!({"metric": "m"})).await;
    assert_eq!(denied(&r), "forbidden");
}

#[tokio::test]
async fn required_authorization_refuses_the_unauthenticated() {
    let mut c = legacy(server().require_authorization()).await;
    let list = c.call(1, "tools/list", json!({})).await;
    assert!(names(&list, "tools", "name").is_empty());
    let r = call(&mut c, 2, "ping", json!({})).await;
    assert_eq!(denied(&r), "unauthenticated");
}

#[tokio::test]
async fn rate_limits_count_per_principal() {
    let mut c = legacy(server()).await;
    for id in 1..=2 {
        let r = call(&mut c, id, "scarce", json!({})).await;
        assert_eq!(text(&r), "ok");
    }
    let r = call(&mut c, 3, "scarce", json!({})).await;
    assert_eq!(denied(&r), "rate_limited");
    assert!(r["error"]["data"]["retryAfterMs"].as_u64().unwrap() > 0);
    let r = call(&mut c, 4, "ping", json!({})).await;
    assert_eq!(text(&r), "pong");
}

#[tokio::test]
async fn sizes_are_limited_both_ways() {
    let mut c = legacy(server()).await;
    let r = call(&mut c, 1, "sized", json!({"text": "ab", "repeat": 3})).await;
    assert_eq!(text(&r), "ababab");
    // Arguments over 40 bytes of JSON: -32602, the handler never runs.
    let long = "x".repeat(64);
    let r = call(&mut c, 2, "sized", json!({"text": long, "repeat": 1})).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert_eq!(r["error"]["data"]["reason"], "arguments_too_large");
    // A result over 200 bytes is never sent.
    let r = call(
        &mut c,
        3,
        "sized",
        json!({"text": "abcdefgh", "repeat": 100}),
    )
    .await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(text(&r).contains("exceeds 200 bytes"), "{r}");
    assert!(!r.to_string().contains("abcdefghabcdefgh"));
}

/// On tokio's paused clock: the timeline below is exact, whatever the machine's load.
#[tokio::test(start_paused = true)]
async fn timeouts_and_concurrency() {
    let mut c = legacy(server()).await;
    let r = call(&mut c, 1, "sleepy", json!({"ms": 1})).await;
    assert_eq!(text(&r), "awake");
    let r = call(&mut c, 2, "sleepy", json!({"ms": 5_000})).await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(text(&r).contains("timed out after 200 ms"), "{r}");

    // Three at once with one slot: the second (sent at 50 ms) waits for the first (cut at
    // 200 ms) and then runs out of time itself (at 400 ms); the third (sent at 100 ms) waits
    // longer than its timeout (until 300 ms) and reports busy.
    for (id, ms) in [(3, 5_000), (4, 5_000), (5, 1)] {
        c.send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "sleepy", "arguments": {"ms": ms}}}))
            .await;
        // 50 ms of the paused clock apart: the first takes the slot, the others wait in order.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut answers = std::collections::BTreeMap::new();
    while answers.len() < 3 {
        let m = c.recv().await;
        if let Some(id) = m["id"].as_i64() {
            answers.insert(id, m);
        }
    }
    assert!(text(&answers[&3]).contains("timed out"), "{}", answers[&3]);
    assert!(text(&answers[&4]).contains("timed out"), "{}", answers[&4]);
    assert!(text(&answers[&5]).contains("busy"), "{}", answers[&5]);
    let r = call(&mut c, 6, "sleepy", json!({"ms": 1})).await;
    assert_eq!(text(&r), "awake");
}

#[tokio::test]
async fn modern_requests_are_checked_the_same_way() {
    let reader = Identity::configured("alice").with_scopes(["kpi:read", "notes:read"]);
    let mut c = Client::start(server().identity(reader));
    let r = c
        .call(
            1,
            "tools/call",
            json!({"name": "drop_metric", "arguments": {"metric": "m"}, "_meta": modern_meta(json!({}))}),
        )
        .await;
    assert_eq!(denied(&r), "insufficient_scope");
    let r = c
        .call(2, "tools/list", json!({"_meta": modern_meta(json!({}))}))
        .await;
    assert!(!names(&r, "tools", "name").contains(&"drop_metric".to_owned()));
    // The list depends on who asks: no cache shared across callers may keep it.
    assert_eq!(r["result"]["cacheScope"], "private", "{r}");
    let r = c
        .call(
            3,
            "resources/read",
            json!({"uri": "notes://secret", "_meta": modern_meta(json!({}))}),
        )
        .await;
    assert_eq!(r["result"]["cacheScope"], "private", "{r}");
}

#[tokio::test]
async fn a_default_policy_fills_unset_limits() {
    let server = server().default_policy(Policy {
        rate_limit: mcp_server::RateLimit::parse("1/h"),
        ..Policy::default()
    });
    let mut c = legacy(server).await;
    let r = call(&mut c, 1, "ping", json!({})).await;
    assert_eq!(text(&r), "pong");
    let r = call(&mut c, 2, "ping", json!({})).await;
    assert_eq!(denied(&r), "rate_limited");
    // `scarce` declares its own limit (2/min), which wins over the default.
    for id in 3..=4 {
        let r = call(&mut c, id, "scarce", json!({})).await;
        assert_eq!(text(&r), "ok");
    }
}

/// Logs in somewhere.
#[tool(public, read_only)]
fn login(user: String, #[arg(sensitive)] password: String) -> String {
    format!("{user} logged in ({} chars)", password.len())
}

#[tokio::test]
async fn every_request_response_and_decision_is_audited_once() {
    use mcp_server::audit::{AuditKind, Decision, MemorySink, Outcome};
    use std::sync::Arc;

    let memory = Arc::new(MemorySink::default());
    let reader = Identity::configured("alice").with_scopes(["kpi:read"]);
    let server = server()
        .tool(Login)
        .identity(reader)
        .audit(mcp_server::Audit::new().with_sink(memory.clone()));
    let mut c = legacy(server).await;
    memory.take();

    let r = call(&mut c, 1, "query", json!({"metric": "revenue"})).await;
    assert_eq!(text(&r), "revenue: 42");
    let records = memory.take();
    let kinds: Vec<_> = records.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [AuditKind::Request, AuditKind::Decision, AuditKind::Response]
    );
    for r in &records {
        assert_eq!(r.principal.as_deref(), Some("alice"));
        assert_eq!(r.item.as_deref(), Some("query"));
        assert_eq!(r.method, "tools/call");
        assert_eq!(
            r.request_id,
            Some(mcp_server::mcp_core::RequestId::Number(1))
        );
    }
    assert_eq!(records[1].decision, Some(Decision::Allow));
    assert_eq!(records[2].outcome, Some(Outcome::Ok));
    assert!(records[2].latency_ms.is_some());
    assert!(records[0].args_hash.is_some());

    // A denial: the decision says why; the response is the error.
    let r = call(&mut c, 2, "drop_metric", json!({"metric": "m"})).await;
    denied(&r);
    let records = memory.take();
    assert_eq!(records.len(), 3);
    assert_eq!(records[1].decision, Some(Decision::Deny));
    assert_eq!(records[1].reason.as_deref(), Some("insufficient_scope"));
    assert_eq!(records[2].outcome, Some(Outcome::Error));
    assert_eq!(records[2].error_code, Some(i64::from(ACCESS_DENIED.0)));

    // A sensitive argument never appears, and does not change the hash.
    let r = call(
        &mut c,
        3,
        "login",
        json!({"user": "ada", "password": "hunter2"}),
    )
    .await;
    assert!(text(&r).contains("7 chars"));
    let r = call(
        &mut c,
        4,
        "login",
        json!({"user": "ada", "password": "other"}),
    )
    .await;
    assert!(text(&r).contains("5 chars"));
    let records = memory.take();
    let lines: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("hunter2") && !l.contains("ada"))
    );
    assert_eq!(records[0].args_hash, records[3].args_hash);

    // A list is audited too (request and response).
    c.call(5, "tools/list", json!({})).await;
    let kinds: Vec<_> = memory.take().iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [AuditKind::Request, AuditKind::Response]);
}

// -------------------------------------------------------------------------------------------
// Validation and approval.

/// Releases per service (each test uses its own service: tests run in parallel).
static RELEASED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Releases a version to production.
#[tool(destructive, scopes = ["deploy"], approval = "required")]
fn release(service: String, version: String) -> String {
    RELEASED.lock().unwrap().push(service.clone());
    format!("released {service} {version}")
}

/// Claims an output schema it does not keep.
struct Liar;

impl mcp_server::ToolHandler for Liar {
    fn policy(&self) -> Policy {
        Policy {
            scopes: vec!["deploy".into()],
            declared: true,
            ..Policy::default()
        }
    }
    fn definition(&self) -> mcp_server::types::Tool {
        let schema = |v: Value| serde_json::from_value(v).unwrap();
        let mut t = mcp_server::types::Tool::new("liar", schema(json!({"type": "object"})));
        t.output_schema = Some(schema(json!({
            "type": "object",
            "properties": {"total": {"type": "integer"}},
            "required": ["total"]
        })));
        t
    }
    async fn call(
        &self,
        _cx: Context,
        _args: mcp_server::types::JsonObject,
    ) -> mcp_server::Result<mcp_server::types::CallToolResult> {
        Ok(mcp_server::types::CallToolResult::structured(
            json!({"total": "secret-internal-value"}),
        ))
    }
}

fn deployer() -> Server {
    Server::new("deployer", "1.0.0")
        .tool(Release)
        .tool(Liar)
        .tool(Sized)
        .identity(Identity::configured("ops-bob").with_scopes(["deploy"]))
}

fn released(service: &str) -> usize {
    RELEASED
        .lock()
        .unwrap()
        .iter()
        .filter(|s| *s == service)
        .count()
}

#[tokio::test]
async fn arguments_and_outputs_are_validated() {
    let mut c = legacy(server()).await;
    // A wrong type: isError naming the field; the handler never runs.
    let r = call(&mut c, 1, "sized", json!({"text": 5, "repeat": 1})).await;
    assert_eq!(r["result"]["isError"], true);
    assert_eq!(
        text(&r),
        "invalid argument `text`: 5 is not of type \"string\""
    );
    let r = call(&mut c, 2, "sized", json!({"text": "x"})).await;
    assert_eq!(text(&r), "missing required argument `repeat`");

    // Output that breaks the declared schema is never sent.
    let mut c = legacy(deployer()).await;
    let r = call(&mut c, 3, "liar", json!({})).await;
    assert_eq!(r["error"]["code"], -32603, "{r}");
    assert!(!r.to_string().contains("secret-internal-value"));
    let r = call(&mut c, 4, "sized", json!({"text": "ok", "repeat": 1})).await;
    assert_eq!(text(&r), "ok");
}

#[tokio::test]
async fn legacy_approval_asks_the_user_and_binds_the_answer() {
    use mcp_server::audit::{AuditKind, Decision, MemorySink};
    use std::sync::Arc;

    let memory = Arc::new(MemorySink::default());
    let server = deployer().audit(mcp_server::Audit::new().with_sink(memory.clone()));
    let mut c = Client::start(server);
    c.initialize("2025-11-25", json!({"elicitation": {}})).await;
    let before = released("api");

    // Approved: the tool runs once.
    c.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "release", "arguments": {"service": "api", "version": "1.2"}}}))
        .await;
    let ask = c.recv().await;
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    let message = ask["params"]["message"].as_str().unwrap();
    assert!(
        message.contains("release") && message.contains("1.2"),
        "{message}"
    );
    assert_eq!(
        ask["params"]["requestedSchema"]["properties"]["approve"]["type"],
        "boolean"
    );
    c.send(json!({"jsonrpc": "2.0", "id": ask["id"],
        "result": {"action": "accept", "content": {"approve": true}}}))
        .await;
    let (r, _) = c.until(json!(1)).await;
    assert_eq!(text(&r), "released api 1.2");
    assert_eq!(released("api"), before + 1);

    // Declined, or accepted without approving: denied, the tool does not run.
    for (id, answer) in [
        (2, json!({"action": "decline"})),
        (
            3,
            json!({"action": "accept", "content": {"approve": false}}),
        ),
        (4, json!({"action": "cancel"})),
    ] {
        c.send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "release", "arguments": {"service": "api", "version": "1.3"}}}))
            .await;
        let ask = c.recv().await;
        c.send(json!({"jsonrpc": "2.0", "id": ask["id"], "result": answer}))
            .await;
        let (r, _) = c.until(json!(id)).await;
        assert_eq!(r["result"]["isError"], true, "{r}");
        assert!(text(&r).starts_with("not approved"), "{r}");
    }
    assert_eq!(released("api"), before + 1);

    let approvals: Vec<_> = memory
        .take()
        .into_iter()
        .filter(|r| r.kind == AuditKind::Approval)
        .collect();
    assert_eq!(approvals.len(), 4);
    assert_eq!(approvals[0].decision, Some(Decision::Allow));
    assert_eq!(approvals[0].principal.as_deref(), Some("ops-bob"));
    assert!(
        approvals[1..]
            .iter()
            .all(|a| a.decision == Some(Decision::Deny) && a.reason.as_deref() == Some("declined"))
    );

    // A client that cannot ask its user: denied.
    let mut c = legacy(deployer()).await;
    let r = call(
        &mut c,
        1,
        "release",
        json!({"service": "api", "version": "2"}),
    )
    .await;
    assert!(text(&r).starts_with("not approved"), "{r}");
}

#[tokio::test]
async fn modern_approval_is_single_use_and_bound_to_the_call() {
    let mut c = Client::start(deployer());
    let before = released("db");
    let params = json!({"_meta": modern_meta(json!({})), "name": "release",
        "arguments": {"service": "db", "version": "9"}});
    let r = c.call(1, "tools/call", params.clone()).await;
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
    let requests = r["result"]["inputRequests"].as_object().unwrap();
    let (key, _) = requests.iter().next().unwrap();
    assert!(key.starts_with("approval:"), "{key}");
    let state = r["result"]["requestState"].clone();
    let approve = json!({"action": "accept", "content": {"approve": true}});

    let mut retry = params.clone();
    retry["inputResponses"] = json!({ key: approve });
    retry["requestState"] = state.clone();
    let r = c.call(2, "tools/call", retry.clone()).await;
    assert_eq!(text(&r), "released db 9", "{r}");
    assert_eq!(released("db"), before + 1);

    // The same approval again: a replay, denied.
    let r = c.call(3, "tools/call", retry.clone()).await;
    assert_eq!(
        text(&r),
        "not approved: the approval was used already, or is unknown to this server"
    );
    // An approval forged from a fresh, unspent request (its seal altered): denied for the
    // forgery, not for its nonce; the genuine answer to that request is served afterwards.
    let r = c.call(4, "tools/call", params.clone()).await;
    let (fresh, _) = r["result"]["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    let fresh = fresh.clone();
    let state = r["result"]["requestState"].clone();
    let mut forged_key = fresh.clone().into_bytes();
    let at = forged_key.len() - 5;
    forged_key[at] = if forged_key[at] == b'A' { b'B' } else { b'A' };
    let forged_key = String::from_utf8(forged_key).unwrap();
    let mut forged = params.clone();
    forged["inputResponses"] = json!({ forged_key: approve });
    forged["requestState"] = state.clone();
    let r = c.call(5, "tools/call", forged).await;
    assert_eq!(
        text(&r),
        "not approved: the approval token's seal does not verify",
        "{r}"
    );
    let mut genuine = params.clone();
    genuine["inputResponses"] = json!({ fresh: approve });
    genuine["requestState"] = state;
    let r = c.call(6, "tools/call", genuine).await;
    assert_eq!(text(&r), "released db 9", "{r}");
    assert_eq!(released("db"), before + 2);
    // A fresh approval used for other arguments: refused (bound to the exact arguments).
    let r = c.call(7, "tools/call", params.clone()).await;
    let (key, _) = r["result"]["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    let mut other = params.clone();
    other["arguments"] = json!({"service": "db", "version": "10"});
    other["inputResponses"] = json!({ key: approve });
    let r = c.call(8, "tools/call", other).await;
    assert_eq!(
        text(&r),
        "not approved: the approval was issued for another tool, other arguments or another \
         principal",
        "{r}"
    );
    assert_eq!(released("db"), before + 2);
}

#[tokio::test]
async fn a_server_side_approver_decides_alone() {
    use mcp_server::approval::{ApprovalGate, Approvals, ChannelApprover};

    let (approver, mut prompts) = ChannelApprover::new(4, Duration::from_secs(5));
    let gate = ApprovalGate::new(Approvals::random()).with_approver(approver);
    let mut c = legacy(deployer().approval(gate)).await;
    let human = tokio::spawn(async move {
        let first = prompts.recv().await.unwrap();
        first.approve();
        let second = prompts.recv().await.unwrap();
        second.deny("not on a Friday");
    });
    let before = released("web");
    let r = call(
        &mut c,
        1,
        "release",
        json!({"service": "web", "version": "3"}),
    )
    .await;
    assert_eq!(text(&r), "released web 3");
    let r = call(
        &mut c,
        2,
        "release",
        json!({"service": "web", "version": "4"}),
    )
    .await;
    assert!(text(&r).contains("not approved"), "{r}");
    human.await.unwrap();
    assert_eq!(released("web"), before + 1);
}

/// Asks for confirmation, then answers.
#[tool(public, read_only)]
async fn confirm_twice(cx: Context) -> mcp_server::Result<String> {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Sure {
        sure: bool,
    }
    let answer = cx.elicit::<Sure>("Sure?").await?;
    Ok(format!(
        "sure: {}",
        matches!(answer.accepted(), Some(Sure { sure: true }))
    ))
}

#[tokio::test]
async fn a_state_handle_is_bound_to_its_principal() {
    // Two instances with the same key (behind a load balancer), one request per principal.
    let key = [7u8; 32];
    let as_alice = Server::new("s", "1")
        .request_state_key(key)
        .identity(Identity::configured("alice"))
        .tool(ConfirmTwice);
    let as_bob = Server::new("s", "1")
        .request_state_key(key)
        .identity(Identity::configured("bob"))
        .tool(ConfirmTwice);
    let mut alice = Client::start(as_alice);
    let params = json!({"_meta": modern_meta(json!({})), "name": "confirm_twice", "arguments": {}});
    let r = alice.call(1, "tools/call", params.clone()).await;
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
    let (key, _) = r["result"]["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    let mut retry = params.clone();
    retry["inputResponses"] = json!({ key: {"action": "accept", "content": {"sure": true}} });
    retry["requestState"] = r["result"]["requestState"].clone();
    // Bob presents Alice's state handle: refused.
    let mut bob = Client::start(as_bob);
    let r = bob.call(2, "tools/call", retry.clone()).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    // Alice's own retry is served.
    let r = alice.call(3, "tools/call", retry).await;
    assert_eq!(text(&r), "sure: true", "{r}");
}

/// A long job, as a task: 100 ms at most.
#[tool(public, read_only, task_support = "optional", timeout = "100ms")]
async fn long_job(ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "finished".into()
}

/// A task whose result is too large to send.
#[tool(public, read_only, task_support = "optional", max_result_bytes = 100)]
fn big_job() -> String {
    "x".repeat(1000)
}

#[tokio::test]
async fn tasks_keep_the_timeout_and_limits_of_their_tool() {
    let server = Server::new("tasks", "1").tool(LongJob).tool(BigJob);
    let mut c = legacy(server).await;
    let mut id = 1;
    for (tool, args, expect) in [
        ("long_job", json!({"ms": 1}), "finished"),
        ("long_job", json!({"ms": 5_000}), "timed out after 100 ms"),
        ("big_job", json!({}), "exceeds 100 bytes"),
    ] {
        let r = c
            .call(
                id,
                "tools/call",
                json!({"name": tool, "arguments": args, "task": {"ttl": 60000}}),
            )
            .await;
        let task = r["result"]["task"]["taskId"].as_str().unwrap().to_owned();
        let payload = c
            .call(id + 1, "tasks/result", json!({"taskId": task}))
            .await;
        assert!(text(&payload).contains(expect), "{tool}: {payload}");
        id += 2;
    }
}

/// Says what its access control admitted it with.
#[tool(public, read_only)]
fn ticketed(cx: Context) -> String {
    cx.entered::<Ticket>()
        .map_or_else(|| "no ticket".to_owned(), |t| format!("ticket {}", t.0))
}

/// What [`Quota`] admits a call with.
struct Ticket(u32);

/// An access control with a quota of its own: two calls, then refused with a reason.
struct Quota(std::sync::atomic::AtomicU32);

impl mcp_server::access::AccessControl for Quota {
    fn decide(
        &self,
        _: Option<&Identity>,
        _: &mcp_server::access::Item<'_>,
    ) -> mcp_server::access::Access {
        mcp_server::access::Access::Declared
    }

    fn enter<'a>(
        &'a self,
        _cx: &'a Context,
        _item: &'a mcp_server::access::Item<'a>,
        _arguments: &'a mcp_server::types::JsonObject,
    ) -> Option<
        futures::future::BoxFuture<'a, Result<Box<dyn std::any::Any + Send>, mcp_server::Error>>,
    > {
        Some(Box::pin(async move {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if n > 2 {
                return Err(mcp_server::Error::protocol(
                    mcp_server::mcp_core::ErrorObject::new(ACCESS_DENIED, "over quota")
                        .with_data(json!({"reason": "quota"})),
                ));
            }
            Ok(Box::new(Ticket(n)) as Box<dyn std::any::Any + Send>)
        }))
    }
}

/// An access control's `enter` admits a call (its value reaches the handler) or refuses it,
/// audited as a denial with its reason, and before the handler runs.
#[tokio::test]
async fn an_access_controls_own_admission_reaches_the_handler_or_refuses() {
    use mcp_server::audit::{AuditKind, Decision, MemorySink};
    use std::sync::Arc;
    let memory = Arc::new(MemorySink::default());
    let server = Server::new("quota", "1.0.0")
        .tool(Ticketed)
        .access_control(Quota(Default::default()))
        .audit(mcp_server::Audit::new().with_sink(memory.clone()));
    let mut c = legacy(server).await;
    assert_eq!(
        text(&call(&mut c, 1, "ticketed", json!({})).await),
        "ticket 1"
    );
    assert_eq!(
        text(&call(&mut c, 2, "ticketed", json!({})).await),
        "ticket 2"
    );
    memory.take();
    let r = call(&mut c, 3, "ticketed", json!({})).await;
    assert_eq!(denied(&r), "quota");
    let decisions: Vec<_> = memory
        .take()
        .into_iter()
        .filter(|r| r.kind == AuditKind::Decision)
        .map(|r| (r.decision, r.reason))
        .collect();
    assert_eq!(
        decisions,
        [(Some(Decision::Deny), Some("quota".to_owned()))]
    );
}
