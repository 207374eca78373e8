//! The runtime over an in-memory byte stream, with hand-written handlers: both eras, progress,
//! logging, cancellation, panics, elicitation in both eras, pagination, list_changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mcp_server::types::*;
use mcp_server::{
    Context, Error, PromptHandler, ResourceDefinition, ResourceHandler, Result, Server,
    ServerOptions, ToolHandler,
};
use serde_json::{Value, json};

use tokio::io::AsyncWriteExt as _;

use crate::support::{Client, MODERN, modern_meta};

fn schema(v: Value) -> JsonObject {
    serde_json::from_value(v).unwrap()
}

struct Echo;
impl ToolHandler for Echo {
    fn definition(&self) -> Tool {
        let mut t = Tool::new(
            "echo",
            schema(
                json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
            ),
        );
        t.title = Some("Echo".into());
        t.output_schema = Some(schema(
            json!({"type": "object", "properties": {"text": {"type": "string"}}}),
        ));
        t
    }
    async fn call(&self, _cx: Context, args: JsonObject) -> Result<CallToolResult> {
        let text = args
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::public("`text` is required"))?;
        Ok(CallToolResult::structured(json!({ "text": text })))
    }
}

struct Slow;
impl ToolHandler for Slow {
    fn definition(&self) -> Tool {
        Tool::new("slow", schema(json!({"type": "object"})))
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> Result<CallToolResult> {
        for i in 1..=3 {
            cx.progress(f64::from(i), Some(3.0), Some("working"));
            cx.progress(f64::from(i), Some(3.0), Some("not monotonic: dropped"));
            cx.info(format!("step {i}"));
            cx.debug("below the level: dropped");
        }
        Ok(CallToolResult::success(vec![ContentBlock::text("done")]))
    }
}

/// What the `hang` tool reports: that it started, and that it stopped.
#[derive(Default)]
struct Hung {
    started: tokio::sync::Notify,
    stopped: AtomicBool,
    stopped_event: tokio::sync::Notify,
}

struct Hang(Arc<Hung>);
impl ToolHandler for Hang {
    fn definition(&self) -> Tool {
        Tool::new("hang", schema(json!({"type": "object"})))
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> Result<CallToolResult> {
        struct Flag(Arc<Hung>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.stopped.store(true, Ordering::SeqCst);
                self.0.stopped_event.notify_one();
            }
        }
        let _flag = Flag(self.0.clone());
        self.0.started.notify_one();
        cx.cancelled().await;
        Ok(CallToolResult::success(vec![]))
    }
}

struct Boom;
impl ToolHandler for Boom {
    fn definition(&self) -> Tool {
        Tool::new("boom", schema(json!({"type": "object"})))
    }
    async fn call(&self, _cx: Context, _args: JsonObject) -> Result<CallToolResult> {
        panic!("the handler broke");
    }
}

struct Secret;
impl ToolHandler for Secret {
    fn definition(&self) -> Tool {
        Tool::new("secret", schema(json!({"type": "object"})))
    }
    async fn call(&self, _cx: Context, _args: JsonObject) -> Result<CallToolResult> {
        Err(Error::internal(std::io::Error::other(
            "password=hunter2 in /etc/db.conf",
        )))
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Confirm {
    confirm: bool,
}

struct Deploy;
impl ToolHandler for Deploy {
    fn definition(&self) -> Tool {
        Tool::new(
            "deploy",
            schema(json!({"type": "object", "properties": {"env": {"type": "string"}}})),
        )
    }
    async fn call(&self, cx: Context, args: JsonObject) -> Result<CallToolResult> {
        let env = args
            .get("env")
            .and_then(Value::as_str)
            .unwrap_or("dev")
            .to_owned();
        let answer = cx.elicit::<Confirm>(format!("Deploy to {env}?")).await?;
        let roots = if cx.client_capabilities().roots.is_some() {
            cx.roots().await?.len()
        } else {
            0
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(
            match answer.accepted() {
                Some(Confirm { confirm: true }) => format!("deployed to {env} ({roots} roots)"),
                _ => "not deployed".to_owned(),
            },
        )]))
    }
}

struct Doc;
impl ResourceHandler for Doc {
    fn definition(&self) -> ResourceDefinition {
        ResourceDefinition::Template(ResourceTemplate {
            uri_template: "docs://{name}".into(),
            name: "doc".into(),
            mime_type: Some("text/plain".into()),
            ..Default::default()
        })
    }
    async fn read(
        &self,
        _cx: Context,
        uri: String,
        vars: BTreeMap<String, String>,
    ) -> Result<Vec<ResourceContents>> {
        match vars.get("name").map(String::as_str) {
            Some("missing") => Err(Error::not_found(uri)),
            Some(name) => Ok(vec![ResourceContents::text(
                uri.clone(),
                Some("text/plain"),
                format!("doc {name}"),
            )]),
            None => Err(Error::invalid_params("no name")),
        }
    }
    async fn complete(
        &self,
        _cx: Context,
        _var: String,
        value: String,
        _c: Option<CompletionContext>,
    ) -> Result<Completion> {
        Ok(Completion {
            values: ["alpha", "beta", "gamma"]
                .iter()
                .filter(|v| v.starts_with(&value))
                .map(|v| (*v).to_owned())
                .collect(),
            ..Default::default()
        })
    }
}

struct Greeting;
impl PromptHandler for Greeting {
    fn definition(&self) -> Prompt {
        Prompt {
            name: "greet".into(),
            arguments: Some(vec![PromptArgument {
                name: "name".into(),
                required: Some(true),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }
    async fn get(&self, _cx: Context, args: BTreeMap<String, String>) -> Result<GetPromptResult> {
        let name = args
            .get("name")
            .ok_or_else(|| Error::invalid_params("missing argument `name`"))?;
        Ok(GetPromptResult {
            messages: vec![PromptMessage::user(format!("Hello, {name}!"))],
            ..Default::default()
        })
    }
}

/// A tool that runs as a task: asks for a name, then answers after a moment.
struct Report(TaskSupport);
impl ToolHandler for Report {
    fn definition(&self) -> Tool {
        let mut t = Tool::new(
            if self.0 == TaskSupport::Required {
                "report_required"
            } else {
                "report"
            },
            schema(json!({"type": "object"})),
        );
        t.execution = Some(ToolExecution {
            task_support: Some(self.0),
        });
        t
    }
    async fn call(&self, cx: Context, args: JsonObject) -> Result<CallToolResult> {
        let name = if args.get("ask").and_then(Value::as_bool) == Some(true) {
            let schema = serde_json::from_value(
                json!({"type": "object", "properties": {"name": {"type": "string"}}}),
            )
            .unwrap();
            let answer = cx
                .keyed("user_name")
                .elicit_with("Who is it for?", schema)
                .await?;
            answer
                .content
                .and_then(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default()
        } else {
            "nobody".to_owned()
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "report for {name}"
        ))]))
    }
}

/// Asks for a name over multi-round trips, then goes on as a task (`defers_task`).
struct Deferred;
impl ToolHandler for Deferred {
    fn definition(&self) -> Tool {
        let mut t = Tool::new("deferred", schema(json!({"type": "object"})));
        t.execution = Some(ToolExecution {
            task_support: Some(TaskSupport::Optional),
        });
        t
    }
    fn defers_task(&self) -> bool {
        true
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> Result<CallToolResult> {
        let schema = serde_json::from_value(
            json!({"type": "object", "properties": {"name": {"type": "string"}}}),
        )
        .unwrap();
        let answer = cx
            .keyed("user_name")
            .elicit_with("Who is it for?", schema)
            .await?;
        let name = answer
            .content
            .and_then(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        // What the request's run hands over reaches the run in the task, once.
        cx.continue_as_task_with(format!("from the request of {name}"))
            .await?;
        let handed = cx.handed_over::<String>();
        let twice = cx.handed_over::<String>();
        assert!(twice.is_none(), "handed over once");
        // Asked again in the task: the answer gathered before is there.
        let again = cx.roots().await?;
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "deferred for {name}, {} roots, handed over: {}",
            again.len(),
            handed.as_deref().unwrap_or("nothing")
        ))]))
    }
}

fn server(hung: Arc<Hung>) -> Server {
    Server::new("test-server", "1.2.3")
        .instructions("for tests")
        .options(ServerOptions {
            page_size: 2,
            ..Default::default()
        })
        .tool(Echo)
        .tool(Slow)
        .tool(Hang(hung))
        .tool(Boom)
        .tool(Secret)
        .tool(Deploy)
        .tool(Report(TaskSupport::Optional))
        .tool(Report(TaskSupport::Required))
        .resource(Doc)
        .prompt(Greeting)
}

fn hung() -> Arc<Hung> {
    Arc::new(Hung::default())
}

#[tokio::test]
async fn legacy_handshake_and_listing() {
    let mut c = Client::start(server(hung()));
    let init = c.initialize("2025-06-18", json!({})).await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(
        init["result"]["serverInfo"],
        json!({"name": "test-server", "version": "1.2.3"})
    );
    assert_eq!(init["result"]["instructions"], "for tests");
    assert!(init["result"]["capabilities"]["tools"].is_object());
    assert!(init["result"]["capabilities"].get("extensions").is_none());

    // Pagination: page size 2, opaque cursors, all six tools in registration order.
    let mut names = Vec::new();
    let mut cursor = Value::Null;
    for id in 1..10 {
        let params = if cursor.is_null() {
            json!({})
        } else {
            json!({"cursor": cursor})
        };
        let r = c.call(id, "tools/list", params).await;
        names.extend(
            r["result"]["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_owned()),
        );
        assert!(
            r["result"].get("ttlMs").is_none(),
            "no cache hints in the legacy era"
        );
        cursor = r["result"]["nextCursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(
        names,
        [
            "echo",
            "slow",
            "hang",
            "boom",
            "secret",
            "deploy",
            "report",
            "report_required"
        ]
    );
    let bad = c
        .call(20, "tools/list", json!({"cursor": "not-a-cursor"}))
        .await;
    assert_eq!(bad["error"]["code"], -32602);
    let ping = c.call(21, "ping", json!({})).await;
    assert_eq!(ping["result"], json!({}));
}

#[tokio::test]
async fn old_versions_never_see_new_fields() {
    let mut c = Client::start(server(hung()));
    let init = c.initialize("2025-03-26", json!({})).await;
    assert_eq!(init["result"]["protocolVersion"], "2025-03-26");
    let list = c.call(1, "tools/list", json!({})).await;
    let echo = &list["result"]["tools"][0];
    assert!(
        echo.get("title").is_none() && echo.get("outputSchema").is_none(),
        "{echo}"
    );
    let r = c
        .call(
            2,
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "hi"}}),
        )
        .await;
    assert!(r["result"].get("structuredContent").is_none());
    assert_eq!(r["result"]["content"][0]["text"], r#"{"text":"hi"}"#);
    // A version the server does not know is answered with its newest legacy version.
    let mut c = Client::start(server(hung()));
    let init = c.initialize("2099-01-01", json!({})).await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
}

#[tokio::test]
async fn requests_before_initialize_and_unknown_methods() {
    let mut c = Client::start(server(hung()));
    let r = c.call(1, "tools/list", json!({})).await;
    assert_eq!(r["error"]["code"], -32600);
    assert_eq!(c.call(2, "ping", json!({})).await["result"], json!({}));
    c.initialize("2025-11-25", json!({})).await;
    assert_eq!(
        c.call(3, "tools/frob", json!({})).await["error"]["code"],
        -32601
    );
    assert_eq!(
        c.call(4, "server/discover", json!({})).await["error"]["code"],
        -32601
    );
    assert_eq!(
        c.call(5, "tools/call", json!({"name": "nope"})).await["error"]["code"],
        -32602
    );
    assert_eq!(c.call(6, "initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}})).await["error"]["code"], -32600);
}

#[tokio::test]
async fn modern_requests_are_stateless() {
    let mut c = Client::start(server(hung()));
    let d = c
        .call(
            1,
            "server/discover",
            json!({"_meta": modern_meta(json!({}))}),
        )
        .await;
    let r = &d["result"];
    assert_eq!(r["resultType"], "complete");
    assert_eq!(r["supportedVersions"][0], MODERN);
    assert!(
        r["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2024-11-05"))
    );
    assert_eq!(
        r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "test-server"
    );
    assert!(r["ttlMs"].is_u64() && r["cacheScope"] == "public");
    let list = c
        .call(2, "tools/list", json!({"_meta": modern_meta(json!({}))}))
        .await;
    assert_eq!(list["result"]["resultType"], "complete");
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 2);
    // No identity: every caller gets the same list.
    assert_eq!(list["result"]["cacheScope"], "public");
    let call = c
        .call(
            3,
            "tools/call",
            json!({"_meta": modern_meta(json!({})), "name": "echo", "arguments": {"text": "yo"}}),
        )
        .await;
    assert_eq!(call["result"]["structuredContent"], json!({"text": "yo"}));
    assert_eq!(call["result"]["resultType"], "complete");
    // Unsupported version: -32022 with the supported list.
    let bad = c.call(4, "tools/list", json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "1999-01-01", "io.modelcontextprotocol/clientCapabilities": {}}})).await;
    assert_eq!(bad["error"]["code"], -32022);
    assert_eq!(bad["error"]["data"]["requested"], "1999-01-01");
    assert!(
        bad["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .contains(&json!(MODERN))
    );
    // Legacy-only methods are unknown to a modern request.
    let sub = c
        .call(
            5,
            "resources/subscribe",
            json!({"_meta": modern_meta(json!({})), "uri": "docs://a"}),
        )
        .await;
    assert_eq!(sub["error"]["code"], -32601);
    // A legacy version in _meta is not a modern version.
    let legacy = c.call(6, "tools/list", json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2025-11-25", "io.modelcontextprotocol/clientCapabilities": {}}})).await;
    assert_eq!(legacy["error"]["code"], -32022);
}

#[tokio::test]
async fn progress_and_logs_follow_what_the_client_asked() {
    let mut c = Client::start(server(hung()));
    c.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "_meta": modern_meta(json!({"progressToken": "p1", "io.modelcontextprotocol/logLevel": "info"})),
        "name": "slow"}})).await;
    let (resp, before) = c.until(json!(1)).await;
    assert_eq!(resp["result"]["content"][0]["text"], "done");
    let progress: Vec<f64> = before
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| {
            assert_eq!(m["params"]["progressToken"], "p1");
            m["params"]["progress"].as_f64().unwrap()
        })
        .collect();
    assert_eq!(progress, [1.0, 2.0, 3.0]);
    let logs: Vec<&Value> = before
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .collect();
    assert_eq!(logs.len(), 3, "info only, no debug: {logs:?}");
    // Without a token or a level: nothing but the response.
    c.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"_meta": modern_meta(json!({})), "name": "slow"}})).await;
    let (_, before) = c.until(json!(2)).await;
    assert!(before.is_empty(), "{before:?}");
    // Legacy: logging/setLevel.
    let mut c = Client::start(server(hung()));
    c.initialize("2025-11-25", json!({})).await;
    c.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "slow"}}))
        .await;
    assert!(c.until(json!(1)).await.1.is_empty());
    assert_eq!(
        c.call(2, "logging/setLevel", json!({"level": "debug"}))
            .await["result"],
        json!({})
    );
    c.send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "slow"}}))
        .await;
    let (_, before) = c.until(json!(3)).await;
    assert_eq!(
        before
            .iter()
            .filter(|m| m["method"] == "notifications/message")
            .count(),
        6
    );
}

#[tokio::test]
async fn cancelled_requests_stop_and_get_no_response() {
    let flag = hung();
    let mut c = Client::start(server(flag.clone()));
    c.initialize("2025-11-25", json!({})).await;
    c.send(json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "hang"}}))
        .await;
    tokio::time::timeout(Duration::from_secs(10), flag.started.notified())
        .await
        .expect("the handler starts");
    assert!(!flag.stopped.load(Ordering::SeqCst));
    c.send(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7, "reason": "user"}})).await;
    // The next response is to the ping: nothing for request 7.
    let r = c.call(8, "ping", json!({})).await;
    assert_eq!(r["id"], 8);
    tokio::time::timeout(Duration::from_secs(10), flag.stopped_event.notified())
        .await
        .expect("the handler is stopped");
    assert!(
        flag.stopped.load(Ordering::SeqCst),
        "the handler was stopped"
    );
}

#[tokio::test]
async fn a_panicking_handler_fails_only_its_own_request() {
    let mut c = Client::start(server(hung()));
    c.initialize("2025-11-25", json!({})).await;
    let r = c.call(1, "tools/call", json!({"name": "boom"})).await;
    assert_eq!(r["error"]["code"], -32603);
    let r = c
        .call(
            2,
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "still here"}}),
        )
        .await;
    assert_eq!(r["result"]["structuredContent"]["text"], "still here");
}

#[tokio::test]
async fn internal_errors_are_not_shown() {
    let mut c = Client::start(server(hung()));
    c.initialize("2025-11-25", json!({})).await;
    let r = c.call(1, "tools/call", json!({"name": "secret"})).await;
    assert_eq!(r["result"]["isError"], true);
    let text = r.to_string();
    assert!(
        !text.contains("hunter2") && !text.contains("/etc/db.conf"),
        "{text}"
    );
    let r = c
        .call(2, "tools/call", json!({"name": "echo", "arguments": {}}))
        .await;
    assert_eq!(r["result"]["isError"], true);
    assert_eq!(
        r["result"]["content"][0]["text"],
        "missing required argument `text`"
    );
}

#[tokio::test]
async fn legacy_elicitation_is_a_server_to_client_request() {
    let mut c = Client::start(server(hung()));
    c.initialize("2025-11-25", json!({"elicitation": {}, "roots": {}}))
        .await;
    c.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "deploy", "arguments": {"env": "prod"}}})).await;
    let ask = c.recv().await;
    assert_eq!(ask["method"], "elicitation/create");
    assert_eq!(
        ask["params"]["requestedSchema"]["properties"]["confirm"]["type"],
        "boolean"
    );
    c.send(json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "accept", "content": {"confirm": true}}})).await;
    let roots = c.recv().await;
    assert_eq!(roots["method"], "roots/list");
    c.send(json!({"jsonrpc": "2.0", "id": roots["id"], "result": {"roots": [{"uri": "file:///a"}, {"uri": "file:///b"}]}})).await;
    let (r, _) = c.until(json!(1)).await;
    assert_eq!(
        r["result"]["content"][0]["text"],
        "deployed to prod (2 roots)"
    );
    // A client without the capability: -32021.
    let mut c = Client::start(server(hung()));
    c.initialize("2025-11-25", json!({})).await;
    let r = c.call(1, "tools/call", json!({"name": "deploy"})).await;
    assert_eq!(r["error"]["code"], -32021);
}

#[tokio::test]
async fn an_unanswered_request_to_the_client_times_out_and_is_cancelled() {
    let server = server(hung()).options(ServerOptions {
        peer_request_timeout: Duration::from_millis(100),
        ..Default::default()
    });
    let mut c = Client::start(server);
    c.initialize("2025-11-25", json!({"elicitation": {}})).await;
    c.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "deploy", "arguments": {"env": "prod"}}})).await;
    let ask = c.recv().await;
    assert_eq!(ask["method"], "elicitation/create");
    // Never answered: the client is told, and the call ends with an error.
    let (r, before) = c.until(json!(1)).await;
    assert!(
        before
            .iter()
            .any(|m| m["method"] == "notifications/cancelled"
                && m["params"]["requestId"] == ask["id"]),
        "{before:?}"
    );
    assert!(
        r.get("error").is_some() || r["result"]["isError"] == true,
        "{r}"
    );
    let r = c
        .call(
            2,
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "hi"}}),
        )
        .await;
    assert_eq!(r["result"]["structuredContent"]["text"], "hi");
}

#[tokio::test]
async fn modern_elicitation_is_an_input_required_round() {
    let mut c = Client::start(server(hung()));
    let params =
        json!({"_meta": modern_meta(json!({})), "name": "deploy", "arguments": {"env": "prod"}});
    let r = c.call(1, "tools/call", params.clone()).await;
    let result = &r["result"];
    assert_eq!(result["resultType"], "input_required");
    let requests = result["inputRequests"].as_object().unwrap();
    assert_eq!(requests.len(), 1);
    let (key, req) = requests.iter().next().unwrap();
    assert_eq!(req["method"], "elicitation/create");
    let state = result["requestState"].as_str().unwrap().to_owned();

    // The retry, with the answer and the state.
    let mut retry = params.clone();
    retry["inputResponses"] = json!({ key: {"action": "accept", "content": {"confirm": true}} });
    retry["requestState"] = json!(state);
    let r = c.call(2, "tools/call", retry.clone()).await;
    assert_eq!(
        r["result"]["content"][0]["text"],
        "deployed to prod (0 roots)"
    );
    assert_eq!(r["result"]["resultType"], "complete");

    // Tampered state, or state replayed on other arguments: refused.
    let mut tampered = retry.clone();
    let mut s = state.clone();
    s.insert(0, 'x');
    tampered["requestState"] = json!(s);
    assert_eq!(
        c.call(3, "tools/call", tampered).await["error"]["code"],
        -32602
    );
    let mut replayed = retry.clone();
    replayed["arguments"] = json!({"env": "dev"});
    assert_eq!(
        c.call(4, "tools/call", replayed).await["error"]["code"],
        -32602
    );
    // Declined.
    let mut declined = params.clone();
    declined["inputResponses"] = json!({ key: {"action": "decline"} });
    assert_eq!(
        c.call(5, "tools/call", declined).await["result"]["content"][0]["text"],
        "not deployed"
    );
}

#[tokio::test]
async fn resources_templates_prompts_and_completion() {
    let mut c = Client::start(server(hung()));
    c.initialize("2025-11-25", json!({})).await;
    let t = c.call(1, "resources/templates/list", json!({})).await;
    assert_eq!(
        t["result"]["resourceTemplates"][0]["uriTemplate"],
        "docs://{name}"
    );
    let r = c
        .call(2, "resources/read", json!({"uri": "docs://intro"}))
        .await;
    assert_eq!(r["result"]["contents"][0]["text"], "doc intro");
    assert_eq!(
        c.call(3, "resources/read", json!({"uri": "docs://missing"}))
            .await["error"]["code"],
        -32002
    );
    assert_eq!(
        c.call(4, "resources/read", json!({"uri": "other://x"}))
            .await["error"]["code"],
        -32002
    );
    let comp = c.call(5, "completion/complete", json!({"ref": {"type": "ref/resource", "uri": "docs://{name}"}, "argument": {"name": "name", "value": "b"}})).await;
    assert_eq!(comp["result"]["completion"]["values"], json!(["beta"]));
    let p = c
        .call(
            6,
            "prompts/get",
            json!({"name": "greet", "arguments": {"name": "Ada"}}),
        )
        .await;
    assert_eq!(p["result"]["messages"][0]["content"]["text"], "Hello, Ada!");
    assert_eq!(
        c.call(7, "prompts/get", json!({"name": "greet"})).await["error"]["code"],
        -32602
    );
    assert_eq!(
        c.call(8, "prompts/get", json!({"name": "nope"})).await["error"]["code"],
        -32602
    );
    // Modern: not found is -32602.
    let m = c
        .call(
            9,
            "resources/read",
            json!({"_meta": modern_meta(json!({})), "uri": "docs://missing"}),
        )
        .await;
    assert_eq!(m["error"]["code"], -32602);
}

#[tokio::test]
async fn list_changed_and_resource_updates_reach_subscribers() {
    let srv = server(hung());
    let mut c = Client::start(srv.clone());
    c.initialize("2025-11-25", json!({})).await;
    assert_eq!(
        c.call(1, "resources/subscribe", json!({"uri": "docs://a"}))
            .await["result"],
        json!({})
    );
    // The session listens for changes from its start: no wait is needed.
    assert!(srv.remove_tool("boom"));
    let n = c.recv().await;
    assert_eq!(n["method"], "notifications/tools/list_changed");
    srv.notify_resource_updated("docs://other");
    srv.notify_resource_updated("docs://a");
    let n = c.recv().await;
    assert_eq!(n["method"], "notifications/resources/updated");
    assert_eq!(n["params"]["uri"], "docs://a");
}

#[tokio::test]
async fn modern_subscriptions_listen() {
    let srv = server(hung());
    let mut c = Client::start(srv.clone());
    c.send(
        json!({"jsonrpc": "2.0", "id": "listen-1", "method": "subscriptions/listen", "params": {
        "_meta": modern_meta(json!({})),
        "notifications": {"toolsListChanged": true, "resourceSubscriptions": ["docs://a"]}}}),
    )
    .await;
    let ack = c.recv().await;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "listen-1"
    );
    assert_eq!(ack["params"]["notifications"]["toolsListChanged"], true);
    srv.remove_tool("boom");
    let n = c.recv().await;
    assert_eq!(n["method"], "notifications/tools/list_changed");
    assert_eq!(
        n["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "listen-1"
    );
    srv.notify_resource_updated("docs://a");
    assert_eq!(c.recv().await["params"]["uri"], "docs://a");
}

#[tokio::test]
async fn bad_lines_get_errors_and_serving_goes_on() {
    let mut c = Client::start(server(hung()));
    c.send_raw("{not json").await;
    let e = c.recv().await;
    assert_eq!(e["error"]["code"], -32700);
    assert_eq!(e["id"], Value::Null);
    c.send_raw("[]").await;
    assert_eq!(c.recv().await["error"]["code"], -32600);
    c.send_raw(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#)
        .await;
    assert_eq!(c.recv().await["error"]["code"], -32600);
    c.send_raw(&format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)))
        .await;
    assert_eq!(c.recv().await["error"]["code"], -32700);
    assert_eq!(c.call(9, "ping", json!({})).await["result"], json!({}));
}

/// Writes `total` bytes of `x` to the server in 64 KiB chunks: a huge line is streamed, never
/// held whole by the test.
async fn stream_padding(tx: &mut tokio::io::DuplexStream, total: usize) {
    let chunk = vec![b'x'; 64 * 1024];
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk.len());
        tx.write_all(&chunk[..n]).await.unwrap();
        left -= n;
    }
}

/// SECURITY.md: a 100 MB stdio line gets -32700 (its id comes too late to be found), the line
/// is discarded, and the running server goes on answering: the next request on the same
/// stream is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_line_through_the_running_server_gets_32700_and_serving_goes_on() {
    const HUNDRED_MB: usize = 100 * 1024 * 1024;
    let mut c = Client::start(server(hung()));
    assert_eq!(c.call(1, "ping", json!({})).await["result"], json!({}));
    c.tx.write_all(br#"{"jsonrpc":"2.0","method":"ping","params":{"pad":""#)
        .await
        .unwrap();
    stream_padding(&mut c.tx, HUNDRED_MB).await;
    c.tx.write_all(br#""},"id":2}"#).await.unwrap();
    c.tx.write_all(b"\n").await.unwrap();
    let e = c.recv().await;
    assert_eq!(e["error"]["code"], -32700, "{e}");
    assert_eq!(e["id"], Value::Null);
    assert_eq!(
        e["error"]["data"]["maxMessageSize"],
        json!(mcp_server::mcp_core::codec::CodecConfig::DEFAULT_MAX_MESSAGE_SIZE),
        "{e}"
    );
    // Nothing of the line is taken for a message: the next one is answered, and nothing else.
    assert_eq!(c.call(3, "ping", json!({})).await["result"], json!({}));
    c.tx.shutdown().await.unwrap();
    assert_eq!(c.rx.next_line().await.unwrap(), None);
    let done = tokio::time::timeout(Duration::from_secs(10), c.task)
        .await
        .expect("exits")
        .unwrap();
    assert!(done.is_ok());
}

/// A 100 MB line that never ends (no newline before the end of input) gets -32700 too, and the
/// server exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_line_without_a_newline_gets_32700_then_a_clean_exit() {
    let mut c = Client::start(server(hung()));
    assert_eq!(c.call(1, "ping", json!({})).await["result"], json!({}));
    stream_padding(&mut c.tx, 100 * 1024 * 1024).await;
    c.tx.shutdown().await.unwrap();
    let e = c.recv().await;
    assert_eq!(e["error"]["code"], -32700, "{e}");
    assert_eq!(e["id"], Value::Null);
    assert_eq!(c.rx.next_line().await.unwrap(), None);
    let done = tokio::time::timeout(Duration::from_secs(10), c.task)
        .await
        .expect("exits")
        .unwrap();
    assert!(done.is_ok());
}

#[tokio::test]
async fn end_of_input_is_a_clean_exit() {
    let mut c = Client::start(server(hung()));
    c.initialize("2025-11-25", json!({})).await;
    c.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "slow"}}))
        .await;
    c.tx.shutdown().await.unwrap();
    let (r, _) = c.until(json!(1)).await;
    assert_eq!(
        r["result"]["content"][0]["text"], "done",
        "in-flight work finishes"
    );
    let done = tokio::time::timeout(Duration::from_secs(10), c.task)
        .await
        .expect("exits")
        .unwrap();
    assert!(done.is_ok());
}

async fn poll_until_done(c: &mut Client, mut id: i64, task: &str, meta: Option<Value>) -> Value {
    for _ in 0..200 {
        let mut params = json!({"taskId": task});
        if let Some(m) = &meta {
            params["_meta"] = m.clone();
        }
        let r = c.call(id, "tasks/get", params).await;
        id += 1;
        let status = r["result"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if ["completed", "failed", "cancelled"].contains(&status.as_str()) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the task did not finish")
}

#[tokio::test]
async fn legacy_tasks_of_2025_11_25() {
    let mut c = Client::start(server(hung()));
    let init = c.initialize("2025-11-25", json!({})).await;
    assert_eq!(
        init["result"]["capabilities"]["tasks"]["requests"]["tools"]["call"],
        json!({})
    );
    let r = c
        .call(
            1,
            "tools/call",
            json!({"name": "report", "task": {"ttl": 60000}}),
        )
        .await;
    let task = &r["result"]["task"];
    assert_eq!(task["status"], "working");
    assert_eq!(task["ttl"], 60000);
    let id = task["taskId"].as_str().unwrap().to_owned();
    // tasks/result waits for the end, and names the task.
    let payload = c.call(2, "tasks/result", json!({"taskId": id})).await;
    assert_eq!(payload["result"]["content"][0]["text"], "report for nobody");
    assert_eq!(
        payload["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        id.as_str()
    );
    let got = c.call(3, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["result"]["status"], "completed");
    let list = c.call(4, "tasks/list", json!({})).await;
    assert_eq!(list["result"]["tasks"][0]["taskId"], id.as_str());
    assert_eq!(
        c.call(5, "tasks/cancel", json!({"taskId": id})).await["error"]["code"],
        -32602
    );
    assert_eq!(
        c.call(6, "tasks/get", json!({"taskId": "nope"})).await["error"]["code"],
        -32602
    );
    // A tool that only runs as a task, called without one; a plain tool called as a task.
    assert_eq!(
        c.call(7, "tools/call", json!({"name": "report_required"}))
            .await["error"]["code"],
        -32601
    );
    assert_eq!(
        c.call(
            8,
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "x"}, "task": {}})
        )
        .await["error"]["code"],
        -32601
    );
    // Without a task the optional tool answers at once.
    let r = c.call(9, "tools/call", json!({"name": "report"})).await;
    assert_eq!(r["result"]["content"][0]["text"], "report for nobody");
    // Older versions know nothing of tasks.
    let mut old = Client::start(server(hung()));
    let init = old.initialize("2025-06-18", json!({})).await;
    assert!(init["result"]["capabilities"].get("tasks").is_none());
}

/// On tokio's paused clock: polling `tasks/get` takes no real time and cannot run out of
/// patience on a busy machine.
#[tokio::test(start_paused = true)]
async fn modern_tasks_extension() {
    let mut c = Client::start(server(hung()));
    let tasks_meta = || {
        let mut m = modern_meta(json!({}));
        m["io.modelcontextprotocol/clientCapabilities"] =
            json!({"elicitation": {}, "extensions": {"io.modelcontextprotocol/tasks": {}}});
        m
    };
    let d = c
        .call(1, "server/discover", json!({"_meta": tasks_meta()}))
        .await;
    assert_eq!(
        d["result"]["capabilities"]["extensions"]["io.modelcontextprotocol/tasks"],
        json!({})
    );
    assert!(d["result"]["capabilities"].get("tasks").is_none());
    // A task-capable tool becomes a task for a client that declared the extension.
    let r = c
        .call(
            2,
            "tools/call",
            json!({"_meta": tasks_meta(), "name": "report", "arguments": {"ask": true}}),
        )
        .await;
    assert_eq!(r["result"]["resultType"], "task");
    let id = r["result"]["taskId"].as_str().unwrap().to_owned();
    assert!(r["result"].get("requestState").is_none());
    // The task asks for input through tasks/get, and tasks/update answers.
    let mut asked = Value::Null;
    for n in 0..200 {
        let g = c
            .call(
                10 + n,
                "tasks/get",
                json!({"_meta": tasks_meta(), "taskId": id}),
            )
            .await;
        if g["result"]["status"] == "input_required" {
            asked = g;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        asked["result"]["inputRequests"]["user_name"]["method"],
        "elicitation/create"
    );
    let u = c
        .call(
            300,
            "tasks/update",
            json!({"_meta": tasks_meta(), "taskId": id,
        "inputResponses": {"user_name": {"action": "accept", "content": {"name": "Alice"}}}}),
        )
        .await;
    assert_eq!(u["result"]["resultType"], "complete");
    let done = poll_until_done(&mut c, 400, &id, Some(tasks_meta())).await;
    assert_eq!(done["result"]["status"], "completed");
    assert_eq!(
        done["result"]["result"]["content"][0]["text"],
        "report for Alice"
    );
    // Without the extension, the optional tool answers at once and the required one is refused.
    let r = c
        .call(
            600,
            "tools/call",
            json!({"_meta": modern_meta(json!({})), "name": "report"}),
        )
        .await;
    assert_eq!(r["result"]["content"][0]["text"], "report for nobody");
    let r = c
        .call(
            601,
            "tools/call",
            json!({"_meta": modern_meta(json!({})), "name": "report_required"}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32021);
    assert_eq!(
        r["error"]["data"]["requiredCapabilities"]["extensions"]["io.modelcontextprotocol/tasks"],
        json!({})
    );
    // Cancel.
    let r = c
        .call(
            602,
            "tools/call",
            json!({"_meta": tasks_meta(), "name": "report_required", "arguments": {"ask": true}}),
        )
        .await;
    let id = r["result"]["taskId"].as_str().unwrap().to_owned();
    assert_eq!(
        c.call(
            603,
            "tasks/cancel",
            json!({"_meta": tasks_meta(), "taskId": id})
        )
        .await["result"]["resultType"],
        "complete"
    );
    let done = poll_until_done(&mut c, 700, &id, Some(tasks_meta())).await;
    assert_eq!(done["result"]["status"], "cancelled");
}

/// On tokio's paused clock: polling `tasks/get` takes no real time and cannot run out of
/// patience on a busy machine.
#[tokio::test(start_paused = true)]
async fn modern_tasks_after_multi_round_trips() {
    let mut c = Client::start(Server::new("t", "1").tool(Deferred));
    let caps = json!({"elicitation": {}, "roots": {}, "extensions": {"io.modelcontextprotocol/tasks": {}}});
    let tasks_meta = || {
        let mut m = modern_meta(json!({}));
        m["io.modelcontextprotocol/clientCapabilities"] = caps.clone();
        m
    };
    // Round 1: an ordinary input_required, no task yet.
    let r = c
        .call(
            1,
            "tools/call",
            json!({"_meta": tasks_meta(), "name": "deferred"}),
        )
        .await;
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
    assert!(r["result"].get("taskId").is_none());
    let state = r["result"]["requestState"].clone();
    // Round 2 answers the question: the handler moves into a task.
    let r = c
        .call(
            2,
            "tools/call",
            json!({"_meta": tasks_meta(), "name": "deferred", "requestState": state,
                "inputResponses": {"user_name": {"action": "accept", "content": {"name": "Alice"}}}}),
        )
        .await;
    assert_eq!(r["result"]["resultType"], "task", "{r}");
    assert!(r["result"].get("requestState").is_none());
    assert!(r["result"].get("inputRequests").is_none());
    let id = r["result"]["taskId"].as_str().unwrap().to_owned();
    // In the task the handler asks for what it did not gather before: through tasks/get.
    let mut asked = Value::Null;
    for n in 0..200 {
        let g = c
            .call(
                10 + n,
                "tasks/get",
                json!({"_meta": tasks_meta(), "taskId": id}),
            )
            .await;
        if g["result"]["status"] == "input_required" {
            asked = g;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let keys: Vec<&String> = asked["result"]["inputRequests"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, ["roots.list-0"], "{asked}");
    c.call(
        300,
        "tasks/update",
        json!({"_meta": tasks_meta(), "taskId": id,
            "inputResponses": {"roots.list-0": {"roots": []}, "unknown": {"x": 1}}}),
    )
    .await;
    let done = poll_until_done(&mut c, 400, &id, Some(tasks_meta())).await;
    assert_eq!(
        done["result"]["result"]["content"][0]["text"],
        "deferred for Alice, 0 roots, handed over: from the request of Alice"
    );
    // Without the extension the same tool runs to the end in the request.
    let r = c
        .call(
            600,
            "tools/call",
            json!({"_meta": modern_meta(json!({"io.modelcontextprotocol/clientCapabilities": {"elicitation": {}, "roots": {}}})),
                "name": "deferred",
                "inputResponses": {"user_name": {"action": "accept", "content": {"name": "Bob"}},
                    "roots.list-0": {"roots": []}}}),
        )
        .await;
    assert_eq!(
        r["result"]["content"][0]["text"], "deferred for Bob, 0 roots, handed over: nothing",
        "{r}"
    );
    // The task methods need the extension (-32021).
    for (n, method) in ["tasks/get", "tasks/cancel"].into_iter().enumerate() {
        let r = c
            .call(
                700 + n as i64,
                method,
                json!({"_meta": modern_meta(json!({})), "taskId": id}),
            )
            .await;
        assert_eq!(r["error"]["code"], -32021, "{method}: {r}");
    }
    let r = c
        .call(
            710,
            "tasks/update",
            json!({"_meta": modern_meta(json!({})), "taskId": id, "inputResponses": {}}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32021, "{r}");
}

#[tokio::test]
async fn requests_right_behind_initialize_find_the_session() {
    for _ in 0..20 {
        let mut c = Client::start(server(hung()));
        c.send(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})).await;
        c.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        c.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
            .await;
        let (r, _) = c.until(json!(1)).await;
        assert!(r["result"]["tools"].is_array(), "{r}");
    }
}

/// Each way to serve awaits the runtime behind a pointer boxed in `mcp-server` ("Entry points"
/// in `lib.rs`): the future a program awaits holds what it was handed (twice at most: a public
/// `async fn` awaiting another inline) and that pointer, not the runtime's own futures, which
/// every crate that held them inline would compile again. Inline, the loops' futures made these
/// 1,712 (`serve_io`), 1,032 (`serve_channel`) and 1,456 bytes (`http::serve`).
#[tokio::test]
async fn the_serving_futures_hold_the_runtime_behind_a_pointer() {
    fn holds_only_its_arguments(entry: &str, future: usize, arguments: usize) {
        assert!(
            future <= 2 * arguments + 128,
            "{entry}: a future of {future} bytes for {arguments} bytes of arguments"
        );
    }
    let server = Server::new("small", "1.0.0");
    let stdio = server.clone().serve_stdio();
    holds_only_its_arguments("serve_stdio", size_of_val(&stdio), size_of_val(&server));

    let (a, _b) = tokio::io::duplex(64);
    let (reader, writer) = tokio::io::split(a);
    let arguments = size_of_val(&server) + size_of_val(&reader) + size_of_val(&writer);
    let io = server.clone().serve_io(reader, writer);
    holds_only_its_arguments("serve_io", size_of_val(&io), arguments);

    let (_to_server, incoming) = tokio::sync::mpsc::channel(1);
    let (outgoing, _from_server) = tokio::sync::mpsc::channel(1);
    let arguments = size_of_val(&server) + size_of_val(&incoming) + size_of_val(&outgoing);
    let channel = server.clone().serve_channel(incoming, outgoing);
    holds_only_its_arguments("serve_channel", size_of_val(&channel), arguments);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = mcp_server::http::HttpConfig::new();
    let arguments = size_of_val(&server) + size_of_val(&config) + size_of_val(&listener);
    let http = mcp_server::http::serve(server, config, listener, std::future::pending());
    holds_only_its_arguments("http::serve", size_of_val(&http), arguments);
}
