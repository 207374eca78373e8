//! Drives the TypeScript reference server `@modelcontextprotocol/server-everything` through
//! `mcp-client`: tools (plain, typed through a contract and a `#[client]` trait), progress,
//! resources, a resource subscription, prompts, completion, sampling, elicitation and
//! cancellation. Prints a line per check and a closing `N passed, M failed`; exits non-zero on
//! any failure.
//!
//! `interop-everything -- node path/to/server-everything/dist/index.js stdio`
//! (`scripts/interop-everything` runs it so).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_client::types::*;
use mcp_client::{
    Change, Client, ClientHandler, HandlerCapabilities, Result, StdioServer, Subscription,
};
use mcp_core::ErrorObject;
use serde::Deserialize;
use serde_json::json;

/// Answers the server's sampling and elicitation requests, and counts them.
#[derive(Default)]
struct Human {
    sampled: Mutex<Vec<String>>,
    elicited: Mutex<Vec<String>>,
}

impl ClientHandler for Human {
    fn capabilities(&self) -> HandlerCapabilities {
        HandlerCapabilities {
            elicitation_form: true,
            sampling: true,
            roots: true,
            ..Default::default()
        }
    }

    async fn sample(
        &self,
        params: CreateMessageRequestParams,
    ) -> std::result::Result<CreateMessageResult, ErrorObject> {
        let prompt = serde_json::to_string(&params.messages).unwrap_or_default();
        self.sampled.lock().expect("not poisoned").push(prompt);
        Ok(CreateMessageResult {
            role: Role::Assistant,
            content: OneOrMany::One(SamplingContent::Text(TextContent::new("forty-two"))),
            model: "interop-model".into(),
            stop_reason: Some("endTurn".into()),
            meta: None,
        })
    }

    async fn elicit(
        &self,
        params: ElicitRequestParams,
    ) -> std::result::Result<ElicitResult, ErrorObject> {
        let message = serde_json::to_value(&params)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
            .unwrap_or_default();
        self.elicited.lock().expect("not poisoned").push(message);
        Ok(ElicitResult {
            action: ElicitAction::Accept,
            content: Some(
                serde_json::from_value(json!({"name": "Ada Lovelace", "check": true}))
                    .expect("an object"),
            ),
            meta: None,
        })
    }

    async fn roots(&self) -> std::result::Result<Vec<Root>, ErrorObject> {
        Ok(vec![Root {
            uri: "file:///interop".into(),
            name: Some("interop".into()),
            meta: None,
        }])
    }
}

/// The weather `get-structured-content` reports (its zod `outputSchema`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct Weather {
    temperature: f64,
    conditions: String,
    humidity: f64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Location {
    location: String,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Pair {
    a: f64,
    b: f64,
}

mcp_client::mcp_core::tool_contract! {
    /// The weather of a city, as structured content.
    struct GetWeather = "get-structured-content" (Location) -> Weather;
    /// The sum of two numbers, as text.
    struct GetSum = "get-sum" (Pair) -> String as text;
}

/// The server's echo tool, typed.
#[mcp_client::client]
trait Everything {
    /// `echo`.
    async fn echo(&self, message: &str) -> Result<String>;
}

type Check = std::result::Result<String, String>;

fn ensure(ok: bool, detail: impl FnOnce() -> String) -> Check {
    let detail = detail();
    if ok { Ok(detail) } else { Err(detail) }
}

fn text(r: &CallToolResult) -> String {
    let texts: Vec<&str> = r.content.iter().filter_map(ContentBlock::as_text).collect();
    texts.join("\n")
}

/// Lists the tools until the ones registered after initialization are there.
async fn tools(client: &Client) -> Result<Vec<Tool>> {
    let mut tools = client.list_tools().await?;
    for _ in 0..50 {
        if tools.iter().any(|t| t.name == "trigger-sampling-request") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        tools = client.list_tools().await?;
    }
    Ok(tools)
}

async fn run(client: &Client, human: &Human, record: &mut impl FnMut(&str, Check)) {
    let names: Vec<String> = match tools(client).await {
        Ok(t) => t.into_iter().map(|t| t.name).collect(),
        Err(e) => {
            record("tools/list", Err(e.to_string()));
            Vec::new()
        }
    };
    let wanted = [
        "echo",
        "get-sum",
        "get-structured-content",
        "trigger-long-running-operation",
        "trigger-sampling-request",
        "trigger-elicitation-request",
    ];
    record(
        "tools/list",
        ensure(wanted.iter().all(|w| names.iter().any(|n| n == w)), || {
            format!("{} tools", names.len())
        }),
    );

    let r = client.call_tool("echo", json!({"message": "hello"})).await;
    record(
        "tools/call echo",
        match r {
            Ok(r) => ensure(text(&r) == "Echo: hello", || text(&r)),
            Err(e) => Err(e.to_string()),
        },
    );
    let r = client.echo("typed").await;
    record(
        "#[client] trait: echo",
        match r {
            Ok(t) => ensure(t == "Echo: typed", || t),
            Err(e) => Err(e.to_string()),
        },
    );
    let r = client.call(GetSum, Pair { a: 2.0, b: 40.0 }).await;
    record(
        "typed call: get-sum",
        match r {
            Ok(t) => ensure(t.contains("42"), || t),
            Err(e) => Err(e.to_string()),
        },
    );
    let r = client
        .call(
            GetWeather,
            Location {
                location: "Chicago".into(),
            },
        )
        .await;
    record(
        "typed call: get-structured-content (outputSchema agrees)",
        match r {
            Ok(w) => ensure(
                w.temperature > 0.0 && !w.conditions.is_empty() && w.humidity > 0.0,
                || format!("{w:?}"),
            ),
            Err(e) => Err(e.to_string()),
        },
    );

    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let r = client
        .call_tool_with_progress(
            "trigger-long-running-operation",
            json!({"duration": 1, "steps": 3}),
            move |p| seen2.lock().expect("not poisoned").push(p.progress),
        )
        .await;
    record(
        "progress",
        match r {
            Ok(r) => {
                let progress = seen.lock().expect("not poisoned").clone();
                ensure(
                    text(&r).contains("completed") && progress == [1.0, 2.0, 3.0],
                    || format!("progress {progress:?}"),
                )
            }
            Err(e) => Err(e.to_string()),
        },
    );

    let resources = client.list_resources().await;
    record(
        "resources/list",
        match &resources {
            Ok(r) => ensure(!r.is_empty(), || format!("{} resources", r.len())),
            Err(e) => Err(e.to_string()),
        },
    );
    let templates = client.list_resource_templates().await;
    record(
        "resources/templates/list",
        match &templates {
            Ok(t) => ensure(
                t.iter()
                    .any(|t| t.uri_template == "demo://resource/dynamic/text/{resourceId}"),
                || format!("{} templates", t.len()),
            ),
            Err(e) => Err(e.to_string()),
        },
    );
    let uri = "demo://resource/dynamic/text/1";
    let r = client.read_resource(uri).await;
    record(
        "resources/read",
        match r {
            Ok(c) => ensure(
                matches!(c.first(), Some(ResourceContents::Text(t)) if t.text.starts_with("Resource 1")),
                || format!("{c:?}"),
            ),
            Err(e) => Err(e.to_string()),
        },
    );
    record("resources/subscribe + updates", listen(client, uri).await);

    let prompts = client.list_prompts().await;
    record(
        "prompts/list",
        match &prompts {
            Ok(p) => ensure(
                p.iter().any(|p| p.name == "simple-prompt")
                    && p.iter().any(|p| p.name == "completable-prompt"),
                || format!("{} prompts", p.len()),
            ),
            Err(e) => Err(e.to_string()),
        },
    );
    let r = client
        .get_prompt(
            "completable-prompt",
            [("department", "Engineering"), ("name", "Alice")],
        )
        .await;
    record(
        "prompts/get",
        match r {
            Ok(p) => {
                let t = p
                    .messages
                    .first()
                    .and_then(|m| m.content.as_text())
                    .unwrap_or_default()
                    .to_owned();
                ensure(t.contains("Alice") && t.contains("Engineering"), || t)
            }
            Err(e) => Err(e.to_string()),
        },
    );
    let reference = serde_json::from_value::<CompletionReference>(
        json!({"type": "ref/prompt", "name": "completable-prompt"}),
    );
    let r = match reference {
        Ok(reference) => client.complete(reference, "department", "Eng").await,
        Err(e) => Err(mcp_client::Error::Protocol(e.to_string())),
    };
    record(
        "completion/complete",
        match r {
            Ok(c) => ensure(c.values == ["Engineering"], || format!("{:?}", c.values)),
            Err(e) => Err(e.to_string()),
        },
    );

    let r = client
        .call_tool(
            "trigger-sampling-request",
            json!({"prompt": "the answer", "maxTokens": 5}),
        )
        .await;
    record(
        "sampling (handler answers)",
        match r {
            Ok(r) => {
                let t = text(&r);
                let asked = human.sampled.lock().expect("not poisoned").len();
                ensure(
                    asked == 1 && t.contains("forty-two") && t.contains("interop-model"),
                    || format!("{asked} requests; {t}"),
                )
            }
            Err(e) => Err(e.to_string()),
        },
    );
    let r = client
        .call_tool("trigger-elicitation-request", json!({}))
        .await;
    record(
        "elicitation (handler answers)",
        match r {
            Ok(r) => {
                let t = text(&r);
                let asked = human.elicited.lock().expect("not poisoned").len();
                ensure(asked == 1 && t.contains("Name: Ada Lovelace"), || {
                    format!("{asked} requests; {t}")
                })
            }
            Err(e) => Err(e.to_string()),
        },
    );

    record("cancellation", cancellation(client).await);
}

/// Subscribes to a resource, turns the server's simulated updates on, and waits for one.
async fn listen(client: &Client, uri: &str) -> Check {
    let mut changes = client
        .listen(Subscription::new().resource(uri))
        .await
        .map_err(|e| e.to_string())?;
    client
        .call_tool("toggle-subscriber-updates", json!({}))
        .await
        .map_err(|e| e.to_string())?;
    let change = tokio::time::timeout(Duration::from_secs(15), changes.next()).await;
    // Off again, so that the rest of the run is quiet.
    let _ = client
        .call_tool("toggle-subscriber-updates", json!({}))
        .await;
    match change {
        Ok(Some(Change::Resource(updated))) if updated == uri => Ok(updated),
        Ok(other) => Err(format!("unexpected {other:?}")),
        Err(_) => Err("no update within 15 s".into()),
    }
}

/// A call given up on (its future dropped) sends `notifications/cancelled`; the session goes on.
async fn cancellation(client: &Client) -> Check {
    let call = client.call_tool(
        "trigger-long-running-operation",
        json!({"duration": 2, "steps": 2}),
    );
    if tokio::time::timeout(Duration::from_millis(300), call)
        .await
        .is_ok()
    {
        return Err("the operation finished before it could be cancelled".into());
    }
    // Past the operation's end: an answer the server might still send is ignored.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = client
        .call_tool("echo", json!({"message": "still here"}))
        .await
        .map_err(|e| e.to_string())?;
    ensure(text(&r) == "Echo: still here", || text(&r))
}

/// The first line of a detail, at most 80 characters.
fn summary(detail: &str) -> String {
    let line = detail.lines().next().unwrap_or_default();
    match line.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_owned(),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.first().map(String::as_str) {
        Some("--") if args.len() > 1 => &args[1..],
        _ => {
            eprintln!("usage: interop-everything -- <command> [args...]");
            std::process::exit(2);
        }
    };
    let human = Arc::new(Human::default());
    let client = Client::builder()
        .info("interop-everything", env!("CARGO_PKG_VERSION"))
        .handler(human.clone())
        .connect_stdio(StdioServer::new(&command[0]).args(command[1..].iter().cloned()))
        .await;
    let mut results: Vec<(String, Check)> = Vec::new();
    match &client {
        Ok(c) => {
            results.push((
                "connect".to_owned(),
                Ok(format!("protocol {}", c.session().version)),
            ));
            let mut record = |name: &str, r: Check| results.push((name.to_owned(), r));
            run(c, &human, &mut record).await;
            c.close().await;
        }
        Err(e) => results.push(("connect".to_owned(), Err(e.to_string()))),
    }
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    for (name, r) in &results {
        match r {
            Ok(detail) => println!("ok   everything: {name} ({})", summary(detail)),
            Err(e) => println!("FAIL everything: {name}: {e}"),
        }
    }
    println!(
        "rust-client vs server-everything: {} passed, {failed} failed",
        results.len() - failed
    );
    std::process::exit(i32::from(failed > 0));
}
