//! The host: many upstreams behind one namespace, in process (both eras) and over stdio.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_client::host::{Collision, Health, HostEvents, ItemKind, Naming};
use mcp_client::types::*;
use mcp_client::{
    Change, ClientHandler, EraChoice, HandlerCapabilities, Host, HostError, HostEvent, NoHandler,
    StdioServer, Transport, Upstream,
};
use mcp_core::{ErrorCode, ErrorObject};
use mcp_server::{
    Context, PromptHandler, ResourceDefinition, ResourceHandler, Server, ToolHandler,
};
use serde_json::{Value, json};

/// A safety net for waits on events, never a synchronization.
const SAFETY: Duration = Duration::from_secs(20);

fn schema(v: Value) -> JsonObject {
    serde_json::from_value(v).unwrap()
}

/// `add`: the sum, with one progress report; `from` says which server answered.
struct Add(&'static str);
impl ToolHandler for Add {
    fn definition(&self) -> Tool {
        Tool::new("add", schema(json!({"type": "object"})))
    }
    async fn call(&self, cx: Context, args: JsonObject) -> mcp_server::Result<CallToolResult> {
        let a = args["a"].as_f64().unwrap_or_default();
        let b = args["b"].as_f64().unwrap_or_default();
        cx.progress(1.0, Some(1.0), None);
        Ok(CallToolResult::structured(
            json!({ "sum": a + b, "from": self.0 }),
        ))
    }
}

/// A tool only one server has.
struct Only(&'static str);
impl ToolHandler for Only {
    fn definition(&self) -> Tool {
        Tool::new(self.0, schema(json!({"type": "object"})))
    }
    async fn call(&self, _cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        Ok(CallToolResult::success(vec![ContentBlock::text(self.0)]))
    }
}

/// Fails with a public error whose `data` stays with the upstream.
struct Fails;
impl ToolHandler for Fails {
    fn definition(&self) -> Tool {
        Tool::new("fails", schema(json!({"type": "object"})))
    }
    async fn call(&self, _cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        Err(mcp_server::Error::invalid_params("bad input"))
    }
}

/// Never answers until cancelled.
struct Hang;
impl ToolHandler for Hang {
    fn definition(&self) -> Tool {
        Tool::new("hang", schema(json!({"type": "object"})))
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        cx.cancelled().await;
        Ok(CallToolResult::default())
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Name {
    name: String,
}

/// Reports progress `tag`, asks who is calling and greets them.
struct Greet;
impl ToolHandler for Greet {
    fn definition(&self) -> Tool {
        Tool::new("greet", schema(json!({"type": "object"})))
    }
    async fn call(&self, cx: Context, args: JsonObject) -> mcp_server::Result<CallToolResult> {
        let tag = args.get("tag").and_then(Value::as_f64).unwrap_or_default();
        cx.progress(tag, None, None);
        cx.info(format!("greeting {tag}"));
        let name = cx
            .elicit::<Name>("Who are you?")
            .await?
            .accepted()
            .map_or("stranger".to_owned(), |n| n.name);
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "hello {name}"
        ))]))
    }
}

/// `notes://{name}`, with completion.
struct Notes;
impl ResourceHandler for Notes {
    fn definition(&self) -> ResourceDefinition {
        ResourceDefinition::Template(ResourceTemplate {
            uri_template: "notes://{name}".into(),
            name: "notes".into(),
            ..Default::default()
        })
    }
    async fn read(
        &self,
        _cx: Context,
        uri: String,
        vars: BTreeMap<String, String>,
    ) -> mcp_server::Result<Vec<ResourceContents>> {
        Ok(vec![ResourceContents::text(
            uri,
            None,
            format!("note {}", vars["name"]),
        )])
    }
    async fn complete(
        &self,
        _cx: Context,
        _variable: String,
        value: String,
        _context: Option<CompletionContext>,
    ) -> mcp_server::Result<Completion> {
        Ok(Completion {
            values: vec![format!("{value}-note")],
            ..Default::default()
        })
    }
}

/// `review`, with completion.
struct Review(&'static str);
impl PromptHandler for Review {
    fn definition(&self) -> Prompt {
        Prompt {
            name: "review".into(),
            arguments: Some(vec![PromptArgument {
                name: "code".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }
    async fn get(
        &self,
        _cx: Context,
        args: BTreeMap<String, String>,
    ) -> mcp_server::Result<GetPromptResult> {
        Ok(GetPromptResult {
            messages: vec![PromptMessage::user(format!(
                "{} reviews {}",
                self.0,
                args.get("code").map_or("", String::as_str)
            ))],
            ..Default::default()
        })
    }
    async fn complete(
        &self,
        _cx: Context,
        _argument: String,
        value: String,
        _context: Option<CompletionContext>,
    ) -> mcp_server::Result<Completion> {
        Ok(Completion {
            values: vec![format!("{value}-{}", self.0)],
            ..Default::default()
        })
    }
}

fn server(name: &'static str) -> Server {
    Server::new(name, "1")
        .tool(Add(name))
        .tool(Greet)
        .tool(Hang)
        .tool(Fails)
        .resource(Notes)
        .prompt(Review(name))
}

/// A transport to an in-process server over two in-memory pipes; the server's task.
fn in_process(server: Server) -> (Transport, tokio::task::JoinHandle<std::io::Result<()>>) {
    let (client_w, server_r) = tokio::io::duplex(1 << 16);
    let (server_w, client_r) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(server.serve_io(server_r, server_w));
    (Transport::from_io(client_r, client_w), task)
}

fn upstream(name: &'static str, server: Server, era: EraChoice) -> Upstream {
    Upstream::transport(name, move || Ok(in_process(server.clone()).0)).era(era)
}

/// Waits for the first event `pick` accepts.
async fn wait_for<T>(events: &mut HostEvents, mut pick: impl FnMut(&HostEvent) -> Option<T>) -> T {
    tokio::time::timeout(SAFETY, async {
        loop {
            let e = events.next().await.expect("the host is alive");
            if let Some(t) = pick(&e) {
                return t;
            }
        }
    })
    .await
    .expect("the event arrives")
}

fn names(tools: Vec<Tool>) -> Vec<String> {
    let mut names: Vec<String> = tools.into_iter().map(|t| t.name).collect();
    names.sort();
    names
}

fn text(r: &CallToolResult) -> &str {
    r.content[0].as_text().unwrap()
}

#[tokio::test]
async fn prefixed_items_are_aggregated_and_routed_to_their_owner() {
    let host = Host::builder()
        .upstream(upstream("alpha", server("alpha"), EraChoice::Legacy))
        .upstream(upstream("beta", server("beta"), EraChoice::Modern))
        .start()
        .await
        .unwrap();
    assert!(!host.keeps_names());
    assert_eq!(
        host.health(),
        [
            ("alpha".into(), Health::Ready),
            ("beta".into(), Health::Ready)
        ]
    );
    assert_eq!(
        names(host.tools()),
        [
            "alpha__add",
            "alpha__fails",
            "alpha__greet",
            "alpha__hang",
            "beta__add",
            "beta__fails",
            "beta__greet",
            "beta__hang"
        ]
    );
    let prompts: Vec<String> = host.prompts().into_iter().map(|p| p.name).collect();
    assert_eq!(prompts, ["alpha__review", "beta__review"]);
    let templates: Vec<String> = host
        .resource_templates()
        .into_iter()
        .map(|t| t.uri_template)
        .collect();
    assert_eq!(templates, ["alpha+notes://{name}", "beta+notes://{name}"]);

    for (up, era) in [("alpha", "legacy"), ("beta", "modern")] {
        let r = host
            .call_tool(&format!("{up}__add"), json!({"a": 1, "b": 2}), NoHandler)
            .await
            .unwrap();
        assert_eq!(
            r.structured_content,
            Some(json!({"sum": 3.0, "from": up})),
            "{era}"
        );
        let contents = host
            .read_resource(&format!("{up}+notes://x"), NoHandler)
            .await
            .unwrap();
        assert!(
            matches!(&contents[0], ResourceContents::Text(t)
                if t.text == "note x" && t.uri == format!("{up}+notes://x")),
            "{era}: {contents:?}"
        );
        let p = host
            .get_prompt(&format!("{up}__review"), [("code", "x")], NoHandler)
            .await
            .unwrap();
        assert_eq!(
            p.messages[0].content.as_text(),
            Some(format!("{up} reviews x").as_str())
        );
        let c = host
            .complete(
                CompletionReference::Prompt(PromptReference {
                    kind: Default::default(),
                    name: format!("{up}__review"),
                    title: None,
                }),
                "code",
                "v",
            )
            .await
            .unwrap();
        assert_eq!(c.values, [format!("v-{up}")]);
        let c = host
            .complete(
                CompletionReference::Resource(ResourceTemplateReference {
                    kind: Default::default(),
                    uri: format!("{up}+notes://{{name}}"),
                }),
                "name",
                "w",
            )
            .await
            .unwrap();
        assert_eq!(c.values, ["w-note"]);
        // The upstream's error: its code and message, nothing else.
        let err = host
            .call_tool(&format!("{up}__fails"), json!({}), NoHandler)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            HostError::Upstream {
                upstream: up.into(),
                error: ErrorObject::new(ErrorCode::INVALID_PARAMS, "bad input"),
            }
        );
    }
    // Names that name no upstream, or no upstream's item.
    for name in ["gamma__add", "add"] {
        let err = host
            .call_tool(name, json!({}), NoHandler)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            HostError::Unknown {
                kind: ItemKind::Tool,
                name: name.into()
            }
        );
        assert_eq!(err.to_error_object().code, ErrorCode::INVALID_PARAMS);
    }
    let err = host
        .read_resource("notes://x", NoHandler)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        HostError::Unknown {
            kind: ItemKind::Resource,
            name: "notes://x".into()
        }
    );
    // Still served.
    let r = host
        .call_tool("beta__add", json!({"a": 2, "b": 2}), NoHandler)
        .await
        .unwrap();
    assert_eq!(
        r.structured_content,
        Some(json!({"sum": 4.0, "from": "beta"}))
    );
    host.close().await;
}

#[tokio::test]
async fn a_custom_separator_namespaces_with_it() {
    let host = Host::builder()
        .separator("-x-")
        .upstream(upstream("alpha", server("alpha"), EraChoice::Legacy))
        .upstream(upstream(
            "beta",
            Server::new("b", "1").tool(Only("solo")),
            EraChoice::Modern,
        ))
        .start()
        .await
        .unwrap();
    assert!(host.tools().iter().any(|t| t.name == "beta-x-solo"));
    let r = host
        .call_tool("beta-x-solo", json!({}), NoHandler)
        .await
        .unwrap();
    assert_eq!(text(&r), "solo");
    // An upstream name holding the separator is refused at start-up.
    let err = Host::builder()
        .separator("-")
        .upstream(upstream("al-pha", server("alpha"), EraChoice::Legacy))
        .start()
        .await
        .unwrap_err();
    assert_eq!(
        err,
        HostError::Config("the upstream name `al-pha` contains the separator `-`".into())
    );
}

#[tokio::test]
async fn a_single_upstream_keeps_its_names() {
    let host = Host::start([upstream("alpha", server("alpha"), EraChoice::Auto)])
        .await
        .unwrap();
    assert!(host.keeps_names());
    assert_eq!(names(host.tools()), ["add", "fails", "greet", "hang"]);
    assert_eq!(host.resource_templates()[0].uri_template, "notes://{name}");
    let r = host
        .call_tool("add", json!({"a": 1, "b": 1}), NoHandler)
        .await
        .unwrap();
    assert_eq!(
        r.structured_content,
        Some(json!({"sum": 2.0, "from": "alpha"}))
    );
    let contents = host.read_resource("notes://y", NoHandler).await.unwrap();
    assert!(matches!(&contents[0], ResourceContents::Text(t) if t.uri == "notes://y"));
}

#[tokio::test]
async fn kept_names_that_collide_are_reported_and_left_out_without_aborting_start_up() {
    let host = Host::builder()
        .naming(Naming::Kept)
        .upstream(upstream(
            "alpha",
            Server::new("a", "1")
                .tool(Add("alpha"))
                .tool(Only("a_only")),
            EraChoice::Legacy,
        ))
        .upstream(upstream(
            "beta",
            Server::new("b", "1").tool(Add("beta")).tool(Only("b_only")),
            EraChoice::Modern,
        ))
        .start()
        .await
        .unwrap();
    assert_eq!(
        host.collisions(),
        [Collision {
            kind: ItemKind::Tool,
            name: "add".into(),
            upstreams: vec!["alpha".into(), "beta".into()],
        }]
    );
    assert_eq!(names(host.tools()), ["a_only", "b_only"]);
    let err = host
        .call_tool("add", json!({}), NoHandler)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        HostError::Ambiguous {
            kind: ItemKind::Tool,
            name: "add".into(),
            upstreams: vec!["alpha".into(), "beta".into()],
        }
    );
    assert_eq!(
        err.to_string(),
        "the tool `add` is offered by several upstreams (alpha, beta); it is not served"
    );
    for name in ["a_only", "b_only"] {
        let r = host.call_tool(name, json!({}), NoHandler).await.unwrap();
        assert_eq!(text(&r), name);
    }
}

#[tokio::test]
async fn list_changes_are_propagated_in_both_eras() {
    let alpha = server("alpha");
    let beta = server("beta");
    let host = Host::builder()
        .upstream(upstream("alpha", alpha.clone(), EraChoice::Legacy))
        .upstream(upstream("beta", beta.clone(), EraChoice::Modern))
        .start()
        .await
        .unwrap();
    for (up, srv) in [("alpha", &alpha), ("beta", &beta)] {
        let mut events = host.events();
        let added = format!("{up}_new");
        srv.add_tool(Only(Box::leak(added.clone().into_boxed_str())));
        wait_for(&mut events, |e| {
            (*e == HostEvent::Changed(Change::Tools)).then_some(())
        })
        .await;
        let listed = names(host.tools());
        assert!(
            listed.contains(&format!("{up}__{added}")),
            "{up}: {listed:?}"
        );
        let r = host
            .call_tool(&format!("{up}__{added}"), json!({}), NoHandler)
            .await
            .unwrap();
        assert_eq!(text(&r), added);
    }
}

#[tokio::test]
async fn a_hung_upstream_never_delays_the_others() {
    // `mute` never answers its handshake; `slow` answers, but its `hang` never returns.
    let mute = Upstream::transport("mute", || {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move {
            let _held = theirs;
            std::future::pending::<()>().await
        });
        let (r, w) = tokio::io::split(ours);
        Ok(Transport::from_io(r, w))
    })
    .era(EraChoice::Legacy)
    .connect_timeout(Duration::from_millis(300));
    let host = Host::builder()
        .backoff(Duration::from_secs(60), Duration::from_secs(60))
        .upstream(mute)
        .upstream(
            upstream("slow", server("slow"), EraChoice::Legacy).timeout(Duration::from_secs(1)),
        )
        .upstream(upstream("fast", server("fast"), EraChoice::Modern))
        .start()
        .await
        .unwrap();
    let health = host.health();
    assert!(
        matches!(&health[0].1, Health::Failed { reason, .. }
            if reason == "no answer within the connect timeout (0.3 s)"),
        "{health:?}"
    );
    assert_eq!(health[1].1, Health::Ready);
    assert_eq!(health[2].1, Health::Ready);
    let hung = tokio::spawn({
        let host = host.clone();
        async move { host.call_tool("slow__hang", json!({}), NoHandler).await }
    });
    let r = host
        .call_tool("fast__add", json!({"a": 1, "b": 2}), NoHandler)
        .await
        .unwrap();
    assert_eq!(
        r.structured_content,
        Some(json!({"sum": 3.0, "from": "fast"}))
    );
    assert!(!hung.is_finished(), "the hung call is still waiting");
    let err = hung.await.unwrap().unwrap_err();
    assert_eq!(
        err,
        HostError::Timeout {
            upstream: "slow".into(),
            seconds: 1
        }
    );
    assert_eq!(
        err.to_error_object(),
        ErrorObject::new(
            ErrorCode::INTERNAL_ERROR,
            "upstream `slow` did not answer within 1 s"
        )
    );
    // A timeout is not a failure: `slow` still serves.
    let r = host
        .call_tool("slow__add", json!({"a": 1, "b": 1}), NoHandler)
        .await
        .unwrap();
    assert_eq!(
        r.structured_content,
        Some(json!({"sum": 2.0, "from": "slow"}))
    );
    let err = host
        .call_tool("mute__add", json!({}), NoHandler)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        HostError::Unavailable {
            upstream: "mute".into()
        }
    );
}

#[tokio::test]
async fn a_crashed_upstream_is_marked_failed_restarted_and_the_others_are_unaffected() {
    let connections = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(Mutex::new(
        None::<tokio::task::JoinHandle<std::io::Result<()>>>,
    ));
    let crashy = {
        let connections = connections.clone();
        let running = running.clone();
        let srv = server("crashy");
        Upstream::transport("crashy", move || {
            connections.fetch_add(1, Ordering::SeqCst);
            let (transport, task) = in_process(srv.clone());
            *running.lock().unwrap() = Some(task);
            Ok(transport)
        })
        .era(EraChoice::Legacy)
    };
    let host = Host::builder()
        .backoff(Duration::from_millis(500), Duration::from_secs(5))
        .upstream(crashy)
        .upstream(upstream("steady", server("steady"), EraChoice::Modern))
        .start()
        .await
        .unwrap();
    let mut events = host.events();
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    // The server dies: its end of the pipes closes.
    running.lock().unwrap().take().unwrap().abort();
    let reason = wait_for(&mut events, |e| match e {
        HostEvent::Health {
            upstream,
            health: Health::Failed { reason, .. },
        } if upstream == "crashy" => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, "the connection closed");
    assert!(
        !names(host.tools())
            .iter()
            .any(|n| n.starts_with("crashy__"))
    );
    let err = host
        .call_tool("crashy__add", json!({}), NoHandler)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        HostError::Unavailable {
            upstream: "crashy".into()
        }
    );
    assert_eq!(err.to_string(), "upstream `crashy` unavailable");
    let r = host
        .call_tool("steady__add", json!({"a": 1, "b": 2}), NoHandler)
        .await
        .unwrap();
    assert_eq!(
        r.structured_content,
        Some(json!({"sum": 3.0, "from": "steady"}))
    );
    // Restarted after the backoff.
    wait_for(&mut events, |e| match e {
        HostEvent::Health {
            upstream,
            health: Health::Restarting,
        } if upstream == "crashy" => Some(()),
        _ => None,
    })
    .await;
    wait_for(&mut events, |e| match e {
        HostEvent::Health {
            upstream,
            health: Health::Ready,
        } if upstream == "crashy" => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    let r = host
        .call_tool("crashy__add", json!({"a": 2, "b": 2}), NoHandler)
        .await
        .unwrap();
    assert_eq!(
        r.structured_content,
        Some(json!({"sum": 4.0, "from": "crashy"}))
    );
}

/// A raw legacy server that answers the handshake and `tools/list`, then floods.
fn flooding() -> Transport {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (client_w, server_r) = tokio::io::duplex(1 << 16);
    let (mut server_w, client_r) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        let mut lines = BufReader::new(server_r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let m: Value = serde_json::from_str(&line).unwrap();
            let (Some(id), Some(method)) = (m.get("id"), m["method"].as_str()) else {
                continue;
            };
            let result = match method {
                "initialize" => json!({"protocolVersion": "2025-11-25",
                    "capabilities": {"tools": {}}, "serverInfo": {"name": "flood", "version": "1"}}),
                "tools/list" => json!({"tools": []}),
                _ => json!({}),
            };
            let answer = json!({"jsonrpc": "2.0", "id": id, "result": result});
            if server_w
                .write_all(format!("{answer}\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
            if method == "tools/list" {
                let spam = json!({"jsonrpc": "2.0", "method": "notifications/message",
                    "params": {"level": "info", "data": "spam"}});
                let line = format!("{spam}\n");
                while server_w.write_all(line.as_bytes()).await.is_ok() {}
                return;
            }
        }
    });
    Transport::from_io(client_r, client_w)
}

#[tokio::test]
async fn a_flooding_upstream_is_cut_off() {
    let host = Host::builder()
        .backoff(Duration::from_secs(60), Duration::from_secs(60))
        .upstream(
            Upstream::transport("flood", || Ok(flooding()))
                .era(EraChoice::Legacy)
                .max_messages_per_second(Some(100)),
        )
        .upstream(upstream("calm", server("calm"), EraChoice::Legacy))
        .start()
        .await
        .unwrap();
    let mut events = host.events();
    // Already cut off, or about to be.
    let reason = match host.health().remove(0).1 {
        Health::Failed { reason, .. } => reason,
        _ => {
            wait_for(&mut events, |e| match e {
                HostEvent::Health {
                    upstream,
                    health: Health::Failed { reason, .. },
                } if upstream == "flood" => Some(reason.clone()),
                _ => None,
            })
            .await
        }
    };
    assert_eq!(
        reason,
        "flooded: more than 100 messages in a second; cut off"
    );
    let r = host
        .call_tool("calm__add", json!({"a": 1, "b": 2}), NoHandler)
        .await
        .unwrap();
    assert_eq!(
        r.structured_content,
        Some(json!({"sum": 3.0, "from": "calm"}))
    );
}

/// A caller's side of a call: answers elicitation with its name, records progress and logs.
#[derive(Default)]
struct Caller {
    name: &'static str,
    progress: Mutex<Vec<f64>>,
    logs: Mutex<Vec<Value>>,
}

impl ClientHandler for Caller {
    async fn elicit(&self, _params: ElicitRequestParams) -> Result<ElicitResult, ErrorObject> {
        Ok(ElicitResult {
            action: ElicitAction::Accept,
            content: Some(schema(json!({"name": self.name}))),
            meta: None,
        })
    }
    fn on_progress(&self, params: &ProgressNotificationParams) {
        self.progress.lock().unwrap().push(params.progress);
    }
    fn on_log(&self, params: &LoggingMessageNotificationParams) {
        self.logs.lock().unwrap().push(params.data.clone());
    }
}

fn caller(name: &'static str) -> Arc<Caller> {
    Arc::new(Caller {
        name,
        ..Default::default()
    })
}

#[tokio::test]
async fn progress_and_elicitation_reach_the_caller_of_the_call_in_both_eras() {
    let host = Host::builder()
        .capabilities(HandlerCapabilities {
            elicitation_form: true,
            ..Default::default()
        })
        .log_level(LoggingLevel::Info)
        .upstream(upstream("old", server("old"), EraChoice::Legacy))
        .upstream(upstream("new", server("new"), EraChoice::Modern))
        .start()
        .await
        .unwrap();
    // One call in flight per legacy upstream; two at once on the modern one, each with its
    // own rounds.
    let (ada, bob, cy) = (caller("Ada"), caller("Bob"), caller("Cy"));
    let (a, b, c) = tokio::join!(
        host.call_tool("old__greet", json!({"tag": 1}), ada.clone()),
        host.call_tool("new__greet", json!({"tag": 2}), bob.clone()),
        host.call_tool("new__greet", json!({"tag": 3}), cy.clone()),
    );
    assert_eq!(text(&a.unwrap()), "hello Ada");
    assert_eq!(text(&b.unwrap()), "hello Bob");
    assert_eq!(text(&c.unwrap()), "hello Cy");
    assert_eq!(*ada.progress.lock().unwrap(), [1.0]);
    // A modern call runs once per round: its progress is reported in each.
    assert!(bob.progress.lock().unwrap().iter().all(|p| *p == 2.0));
    assert!(!bob.progress.lock().unwrap().is_empty());
    assert!(cy.progress.lock().unwrap().iter().all(|p| *p == 3.0));
    assert!(!cy.progress.lock().unwrap().is_empty());
    // Log messages reach the call in flight.
    assert_eq!(*ada.logs.lock().unwrap(), [json!("greeting 1")]);
    let dan = caller("Dan");
    let r = host
        .call_tool("new__greet", json!({"tag": 4}), dan.clone())
        .await
        .unwrap();
    assert_eq!(text(&r), "hello Dan");
    let logs = dan.logs.lock().unwrap().clone();
    assert!(
        !logs.is_empty() && logs.iter().all(|l| *l == json!("greeting 4")),
        "{logs:?}"
    );
    // Without a bridge that answers, the elicitation is declined.
    let r = host
        .call_tool("old__greet", json!({}), NoHandler)
        .await
        .unwrap();
    assert_eq!(text(&r), "hello stranger");
}

/// Says what its caller declared: which of sampling, form elicitation and roots.
struct Declared;
impl ToolHandler for Declared {
    fn definition(&self) -> Tool {
        Tool::new("declared", schema(json!({"type": "object"})))
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        let caps = cx.client_capabilities();
        let said = format!(
            "sampling={} form={} roots={}",
            caps.sampling.is_some(),
            caps.supports_form_elicitation(),
            caps.roots.is_some()
        );
        Ok(CallToolResult::success(vec![ContentBlock::text(said)]))
    }
}

/// A caller that declares `caps` for its own calls.
struct Declares(HandlerCapabilities);
impl ClientHandler for Declares {
    fn call_capabilities(&self) -> Option<HandlerCapabilities> {
        Some(self.0)
    }
}

#[tokio::test]
async fn a_modern_upstream_sees_each_callers_own_capabilities() {
    let all = HandlerCapabilities {
        elicitation_form: true,
        elicitation_url: true,
        sampling: true,
        roots: true,
    };
    let host = Host::builder()
        .capabilities(all)
        .upstream(upstream(
            "new",
            Server::new("new", "1").tool(Declared),
            EraChoice::Modern,
        ))
        .start()
        .await
        .unwrap();
    let sampling = HandlerCapabilities {
        sampling: true,
        ..Default::default()
    };
    let roots = HandlerCapabilities {
        roots: true,
        ..Default::default()
    };
    // Alternating callers, and each again: every request carries its own caller's.
    for (caps, said) in [
        (sampling, "sampling=true form=false roots=false"),
        (roots, "sampling=false form=false roots=true"),
        (sampling, "sampling=true form=false roots=false"),
        (all, "sampling=true form=true roots=true"),
        (roots, "sampling=false form=false roots=true"),
    ] {
        let r = host
            .call_tool("declared", json!({}), Declares(caps))
            .await
            .unwrap();
        assert_eq!(text(&r), said, "{caps:?}");
    }
    // With the tasks extension asked for too.
    let r = host
        .call_tool_or_task("declared", json!({}), Declares(roots))
        .await
        .unwrap();
    let mcp_client::host::HostToolCall::Complete(r) = r else {
        panic!("a task: {r:?}")
    };
    assert_eq!(text(&r), "sampling=false form=false roots=true");
}

#[tokio::test]
async fn resource_updates_arrive_with_the_namespaced_uri_in_both_eras() {
    let alpha = server("alpha");
    let beta = server("beta");
    let host = Host::builder()
        .upstream(upstream("alpha", alpha.clone(), EraChoice::Legacy))
        .upstream(upstream("beta", beta.clone(), EraChoice::Modern))
        .start()
        .await
        .unwrap();
    for (up, srv) in [("alpha", &alpha), ("beta", &beta)] {
        let mut events = host.events();
        host.subscribe(&format!("{up}+notes://a")).await.unwrap();
        srv.notify_resource_updated("notes://a");
        let uri = wait_for(&mut events, |e| match e {
            HostEvent::Changed(Change::Resource(uri)) => Some(uri.clone()),
            _ => None,
        })
        .await;
        assert_eq!(uri, format!("{up}+notes://a"));
        host.unsubscribe(&format!("{up}+notes://a")).await.unwrap();
    }
}

#[tokio::test]
async fn legacy_requests_go_to_the_oldest_call_in_flight() {
    // The documented limitation: a legacy server-to-client request does not say which call
    // caused it; with two calls in flight, the oldest call's bridge answers.
    let host = Host::builder()
        .capabilities(HandlerCapabilities {
            elicitation_form: true,
            ..Default::default()
        })
        .upstream(upstream("old", server("old"), EraChoice::Legacy))
        .upstream(upstream("other", server("other"), EraChoice::Legacy))
        .start()
        .await
        .unwrap();
    let (ada, bob) = (caller("Ada"), caller("Bob"));
    let first = host.call_tool("old__hang", json!({}), ada.clone());
    tokio::pin!(first);
    // The first call is registered in flight when first polled, before the second starts.
    let r = tokio::select! {
        biased;
        _ = &mut first => panic!("`hang` answered"),
        r = async {
            tokio::task::yield_now().await;
            host.call_tool("old__greet", json!({}), bob.clone()).await
        } => r,
    };
    assert_eq!(text(&r.unwrap()), "hello Ada");
    // Another upstream's calls are its own.
    let r = host
        .call_tool("other__greet", json!({}), bob.clone())
        .await
        .unwrap();
    assert_eq!(text(&r), "hello Bob");
}

/// Serves `server` over Streamable HTTP on a free loopback port; the URL of its endpoint.
async fn serve_http(server: Server) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(mcp_server::http::serve(
        server,
        mcp_server::http::HttpConfig::new(),
        listener,
        std::future::pending::<()>(),
    ));
    url
}

#[tokio::test]
async fn http_upstreams_are_served_and_an_unreachable_one_fails_alone() {
    let url = serve_http(server("web")).await;
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/mcp", l.local_addr().unwrap())
    };
    let host = Host::builder()
        .backoff(Duration::from_secs(60), Duration::from_secs(60))
        .upstream(Upstream::http("web", mcp_client::HttpServer::new(url)).era(EraChoice::Modern))
        .upstream(
            Upstream::http("gone", mcp_client::HttpServer::new(closed)).era(EraChoice::Modern),
        )
        .start()
        .await
        .unwrap();
    let health = host.health();
    assert_eq!(health[0].1, Health::Ready);
    assert!(
        matches!(&health[1].1, Health::Failed { reason, .. } if reason.starts_with("cannot connect: connection:")),
        "{health:?}"
    );
    let r = host
        .call_tool("web__add", json!({"a": 1, "b": 2}), NoHandler)
        .await
        .unwrap();
    assert_eq!(
        r.structured_content,
        Some(json!({"sum": 3.0, "from": "web"}))
    );
    let err = host
        .call_tool("gone__add", json!({}), NoHandler)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        HostError::Unavailable {
            upstream: "gone".into()
        }
    );
}

/// A legacy Streamable HTTP server with the tools `ok` and `drop`: a call of `drop` closes its
/// connection unanswered; everything else is answered on a kept-alive connection. Counts the
/// pings it answers in `pings`.
async fn dropping_http(pings: Arc<AtomicUsize>) -> String {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let pings = pings.clone();
            tokio::spawn(async move {
                while let Some(body) = crate::client::read_request(&mut socket).await {
                    let message: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let answer = |outcome| crate::client::json_rpc_answer(&message["id"], outcome);
                    let head = match message["method"].as_str().unwrap_or("") {
                        // A GET (no body).
                        "" => "HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n"
                            .to_owned(),
                        m if m.starts_with("notifications/") => crate::client::ACCEPTED.to_owned(),
                        "initialize" => answer((
                            "result",
                            json!({
                                "protocolVersion": "2025-06-18",
                                "capabilities": {"tools": {}},
                                "serverInfo": {"name": "dropping", "version": "1"},
                            }),
                        )),
                        "tools/list" => answer((
                            "result",
                            json!({"tools": [
                                {"name": "ok", "inputSchema": {"type": "object"}},
                                {"name": "drop", "inputSchema": {"type": "object"}},
                            ]}),
                        )),
                        "tools/call" if message["params"]["name"] == "drop" => return,
                        "tools/call" => answer((
                            "result",
                            json!({"content": [{"type": "text", "text": "ok"}]}),
                        )),
                        "ping" => {
                            pings.fetch_add(1, Ordering::SeqCst);
                            answer(("result", json!({})))
                        }
                        _ => answer(("error", json!({"code": -32601, "message": "no"}))),
                    };
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn an_http_upstream_whose_request_fails_in_transit_is_asked_before_it_is_taken_down() {
    // One POST failing at the transport (its connection closed unanswered) fails that call; the
    // server still answers a ping, so the upstream and its items stay.
    let pings = Arc::new(AtomicUsize::new(0));
    let url = dropping_http(pings.clone()).await;
    let host = Host::builder()
        .backoff(Duration::from_secs(60), Duration::from_secs(60))
        .upstream(Upstream::http("web", mcp_client::HttpServer::new(url)).era(EraChoice::Legacy))
        .start()
        .await
        .unwrap();
    assert_eq!(host.health()[0].1, Health::Ready);
    let names: Vec<String> = host.tools().into_iter().map(|t| t.name).collect();
    let (ok, drop) = (names[0].clone(), names[1].clone());
    assert!(ok.ends_with("ok") && drop.ends_with("drop"), "{names:?}");
    let err = host
        .call_tool(&drop, json!({}), NoHandler)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        HostError::Unavailable {
            upstream: "web".into()
        }
    );
    // The ping that asks the server.
    for _ in 0..100 {
        if pings.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(pings.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(host.health()[0].1, Health::Ready);
    assert_eq!(host.tools().len(), 2);
    let r = host.call_tool(&ok, json!({}), NoHandler).await.unwrap();
    assert_eq!(text(&r), "ok");
}

#[tokio::test]
async fn a_stdio_upstream_runs_in_its_working_directory() {
    let bin = crate::client::manual_server();
    let dir = std::env::temp_dir();
    let dir = dir.canonicalize().unwrap();
    // The child refuses to serve unless it runs in `dir`.
    let stdio = StdioServer::new("sh")
        .arg("-c")
        .arg(r#"[ "$(pwd -P)" = "$EXPECTED" ] && exec "$SERVER""#)
        .env("EXPECTED", dir.to_str().unwrap())
        .env("SERVER", bin.to_str().unwrap())
        .current_dir(&dir)
        .stderr(mcp_client::StderrMode::Discard);
    let host = Host::builder()
        .upstream(Upstream::stdio("manual", stdio))
        .upstream(upstream("alpha", server("alpha"), EraChoice::Legacy))
        .start()
        .await
        .unwrap();
    assert_eq!(host.health()[0].1, Health::Ready, "{:?}", host.health());
    let r = host
        .call_tool("manual__add", json!({"a": 20, "b": 22}), NoHandler)
        .await
        .unwrap();
    assert_eq!(r.structured_content, Some(json!({"result": 42.0})));
    tokio::time::timeout(SAFETY, host.close())
        .await
        .expect("the child exits");
}

#[tokio::test]
async fn a_stdio_child_that_exits_is_started_again_after_a_backoff() {
    let bin = crate::client::manual_server();
    let mark = std::env::temp_dir().join(format!("mcp-host-restart-{}", std::process::id()));
    let _ = std::fs::remove_file(&mark);
    // The first child exits at once; the next one serves.
    let stdio = StdioServer::new("sh")
        .arg("-c")
        .arg(r#"[ -e "$MARK" ] || { touch "$MARK"; exit 3; }; exec "$SERVER""#)
        .env("MARK", mark.to_str().unwrap())
        .env("SERVER", bin.to_str().unwrap())
        .stderr(mcp_client::StderrMode::Discard);
    let host = Host::builder()
        .backoff(Duration::from_millis(200), Duration::from_secs(5))
        .upstream(
            Upstream::stdio("flaky", stdio)
                .era(EraChoice::Legacy)
                .connect_timeout(Duration::from_secs(5)),
        )
        .upstream(upstream("steady", server("steady"), EraChoice::Legacy))
        .start()
        .await
        .unwrap();
    let mut events = host.events();
    let health = host.health();
    assert!(
        matches!(&health[0].1, Health::Failed { reason, .. } if reason.starts_with("cannot connect: connection: ")),
        "{health:?}"
    );
    assert_eq!(health[1].1, Health::Ready);
    let r = host
        .call_tool("steady__add", json!({"a": 1, "b": 2}), NoHandler)
        .await
        .unwrap();
    assert_eq!(
        r.structured_content,
        Some(json!({"sum": 3.0, "from": "steady"}))
    );
    if host.health()[0].1 != Health::Ready {
        wait_for(&mut events, |e| match e {
            HostEvent::Health {
                upstream,
                health: Health::Ready,
            } if upstream == "flaky" => Some(()),
            _ => None,
        })
        .await;
    }
    let r = host
        .call_tool("flaky__add", json!({"a": 20, "b": 22}), NoHandler)
        .await
        .unwrap();
    assert_eq!(r.structured_content, Some(json!({"result": 42.0})));
    tokio::time::timeout(SAFETY, host.close())
        .await
        .expect("the child exits");
    let _ = std::fs::remove_file(&mark);
}

/// Asks its caller's model, then lists its caller's roots; answers with both.
struct AskAndList;
impl ToolHandler for AskAndList {
    fn definition(&self) -> Tool {
        Tool::new("ask", schema(json!({"type": "object"})))
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        let params = serde_json::from_value(json!({
            "messages": [{"role": "user", "content": {"type": "text", "text": "who?"}}],
            "maxTokens": 5
        }))
        .unwrap();
        let sampled = serde_json::to_value(cx.sample(params).await?.content).unwrap();
        let roots = cx.roots().await?;
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "{} {}",
            sampled["text"].as_str().unwrap_or_default(),
            roots.first().map_or("", |r| r.uri.as_str())
        ))]))
    }
}

/// Never answers; says when its call is dropped (cancelled: the server drops the handler's
/// future).
struct Cancellable(Arc<tokio::sync::Notify>);
impl ToolHandler for Cancellable {
    fn definition(&self) -> Tool {
        Tool::new("wait", schema(json!({"type": "object"})))
    }
    async fn call(&self, _cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        struct Dropped(Arc<tokio::sync::Notify>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.notify_one();
            }
        }
        let _dropped = Dropped(self.0.clone());
        std::future::pending().await
    }
}

/// A caller whose model and roots are named after it.
struct Answers(&'static str);
impl ClientHandler for Answers {
    async fn sample(
        &self,
        _params: CreateMessageRequestParams,
    ) -> Result<CreateMessageResult, ErrorObject> {
        Ok(serde_json::from_value(json!({
            "role": "assistant",
            "content": {"type": "text", "text": self.0},
            "model": "test"
        }))
        .unwrap())
    }
    async fn roots(&self) -> Result<Vec<Root>, ErrorObject> {
        Ok(vec![
            serde_json::from_value(json!({"uri": format!("file:///{}", self.0)})).unwrap(),
        ])
    }
}

#[tokio::test]
async fn sampling_roots_and_cancellation_reach_across_in_both_eras() {
    let cancelled = Arc::new(tokio::sync::Notify::new());
    let with = |name| {
        Server::new(name, "1")
            .tool(AskAndList)
            .tool(Cancellable(cancelled.clone()))
    };
    let host = Host::builder()
        .capabilities(HandlerCapabilities {
            sampling: true,
            roots: true,
            ..Default::default()
        })
        .upstream(upstream("old", with("old"), EraChoice::Legacy))
        .upstream(upstream("new", with("new"), EraChoice::Modern))
        .start()
        .await
        .unwrap();
    for up in ["old", "new"] {
        // The call's own caller answers: its model, its roots.
        for who in ["ada", "bob"] {
            let r = host
                .call_tool(&format!("{up}__ask"), json!({}), Arc::new(Answers(who)))
                .await
                .unwrap();
            assert_eq!(text(&r), format!("{who} file:///{who}"), "{up}");
        }
        // A caller that answers neither: the upstream's request is refused, and the call fails
        // with the upstream's error, which names what was refused.
        let r = host
            .call_tool(&format!("{up}__ask"), json!({}), NoHandler)
            .await;
        assert!(
            matches!(&r, Err(HostError::Upstream { error, .. })
                if error.message.contains("sampling/createMessage")),
            "{up}: {r:?}"
        );
        // Dropping the call cancels it upstream.
        let told = cancelled.notified();
        tokio::pin!(told);
        told.as_mut().enable();
        let wait = format!("{up}__wait");
        let call = host.call_tool(&wait, json!({}), NoHandler);
        assert!(
            tokio::time::timeout(Duration::from_millis(200), call)
                .await
                .is_err()
        );
        tokio::time::timeout(SAFETY, told)
            .await
            .unwrap_or_else(|_| panic!("{up}: the upstream's call was never cancelled"));
    }
    host.close().await;
}
