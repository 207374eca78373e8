//! Drives `mcp-gateway` fronting the Python `mcp` example server (twice: `python`, legacy era,
//! and `pymodern`, modern era) and the TypeScript `server-everything`
//! (`examples/gateway/interop.toml`) with this SDK's client, over one HTTP endpoint: the tools
//! of both SDKs' servers are listed and called, progress and elicitation pass through, a
//! resource subscription is made at server-everything and its update comes back. Each check is
//! run in the era given (`--era auto|legacy|modern`) or at exactly one protocol version
//! (`--version 2025-06-18`), so a modern caller reaches the legacy-only server-everything and a
//! legacy caller the modern upstream.
//!
//! Prints a line per check and a closing `N passed, M failed`; exits 1 on any failure.
//!
//! `interop-gateway-client [--era auto|legacy|modern | --version V] <http-url>`

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_client::types::*;
use mcp_client::{Change, Client, EraChoice, HttpServer, Subscription};
use mcp_core::ProtocolVersion;
use mcp_examples::interop::{self, Check, Confirmer, ensure, finish};
use serde_json::{Value, json};

fn text(r: &CallToolResult) -> &str {
    r.content
        .first()
        .and_then(ContentBlock::as_text)
        .unwrap_or_default()
}

/// Calls `tool` and checks its result with `check`.
async fn call(
    client: &Client,
    tool: &str,
    arguments: Value,
    check: impl FnOnce(&CallToolResult) -> bool,
) -> Check {
    match client.call_tool(tool, arguments).await {
        Ok(r) => ensure(r.is_error != Some(true) && check(&r), || {
            format!("{tool}: {r:?}")
        }),
        Err(e) => Err(format!("{tool}: {e}")),
    }
}

/// Turns server-everything's simulated resource updates on or off (a switch of the upstream's
/// one session, which every caller of the gateway shares).
async fn toggle_updates(client: &Client, on: bool) -> Check {
    let want = if on { "Started" } else { "Stopped" };
    let mut said = String::new();
    for _ in 0..2 {
        let r = client
            .call_tool("everything__toggle-subscriber-updates", json!({}))
            .await
            .map_err(|e| e.to_string())?;
        said = text(&r).to_owned();
        if said.starts_with(want) {
            return Ok(());
        }
    }
    Err(format!("the switch says {said:?}"))
}

/// Subscribes to a server-everything resource through the gateway and waits for its update
/// (server-everything sends one as its updates start, then one every 5 s, and only to a
/// subscribed session).
async fn resource_update(client: &Client) -> Check {
    let uri = "everything+demo://resource/static/document/architecture.md";
    let mut listener = client
        .listen(Subscription::new().resource(uri))
        .await
        .map_err(|e| e.to_string())?;
    toggle_updates(client, true).await?;
    let update = tokio::time::timeout(Duration::from_secs(15), listener.next()).await;
    drop(listener);
    toggle_updates(client, false).await?;
    match update {
        Ok(Some(Change::Resource(u))) if u == uri => Ok(()),
        Ok(other) => Err(format!("{other:?}")),
        Err(_) => Err("no update within 15 s".to_owned()),
    }
}

async fn run(client: &Client, results: &mut Vec<(String, Check)>) {
    let mut record = |name: &str, r: Check| results.push((name.to_owned(), r));
    let tools = client.list_tools().await;
    record(
        "tools/list (both upstreams)",
        match &tools {
            Ok(t) => {
                let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
                ensure(
                    [
                        "python__add",
                        "python__confirm",
                        "pymodern__count_down",
                        "everything__echo",
                        "everything__get-sum",
                    ]
                    .iter()
                    .all(|want| names.contains(want)),
                    || format!("{names:?}"),
                )
            }
            Err(e) => Err(e.to_string()),
        },
    );
    // The same Python server behind a legacy and a modern connection.
    let mut python = Ok(());
    for tool in ["python__add", "pymodern__add"] {
        python = python.and(
            call(client, tool, json!({"a": 2, "b": 40}), |r| {
                r.structured_content.as_ref().map(|s| &s["result"]) == Some(&json!(42.0))
            })
            .await,
        );
    }
    record("tools/call python (structured)", python);
    let everything = call(
        client,
        "everything__echo",
        json!({"message": "through the gateway"}),
        |r| text(r).contains("through the gateway"),
    )
    .await
    .and(
        call(
            client,
            "everything__get-sum",
            json!({"a": 2, "b": 3}),
            |r| text(r).contains('5'),
        )
        .await,
    );
    record("tools/call everything", everything);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let progress = seen.clone();
    let r = client
        .call_tool_with_progress("pymodern__count_down", json!({"start": 3}), move |p| {
            progress.lock().expect("not poisoned").push(p.progress);
        })
        .await;
    record(
        "tools/call with progress",
        match &r {
            Ok(r) => ensure(
                text(r) == "liftoff" && *seen.lock().expect("not poisoned") == [1.0, 2.0, 3.0],
                || format!("{r:?} progress {:?}", seen.lock().expect("not poisoned")),
            ),
            Err(e) => Err(e.to_string()),
        },
    );
    record(
        "tools/call with elicitation",
        call(
            client,
            "python__confirm",
            json!({"action": "deploy"}),
            |r| text(r) == "deploy: confirmed",
        )
        .await,
    );
    record(
        "resource subscription (updates from server-everything)",
        resource_update(client).await,
    );
}

#[tokio::main]
async fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut era = EraChoice::Auto;
    let mut version = None;
    loop {
        match args.first().map(String::as_str) {
            Some("--era") => {
                era = interop::era(args.get(1).map(String::as_str));
                args.drain(..2);
            }
            Some("--version") => {
                version = args.get(1).and_then(|v| ProtocolVersion::parse(v));
                if version.is_none() {
                    eprintln!("--version takes a protocol version (2025-06-18, ...)");
                    std::process::exit(2);
                }
                args.drain(..2);
            }
            _ => break,
        }
    }
    let Some(url) = args.first() else {
        eprintln!(
            "usage: interop-gateway-client [--era auto|legacy|modern | --version V] <http-url>"
        );
        std::process::exit(2);
    };
    let mut builder = Client::builder().era(era).handler(Confirmer);
    let label = match version {
        Some(v) => {
            builder = builder.protocol_version(v);
            v.as_str().to_owned()
        }
        None => format!("{era:?}").to_lowercase(),
    };
    let client = builder.connect_http(HttpServer::new(url.clone())).await;
    let mut results = Vec::new();
    match &client {
        Ok(c) => {
            results.push((format!("connect ({})", c.session().version), Ok(())));
            run(c, &mut results).await;
            c.close().await;
        }
        Err(e) => results.push(("connect".to_owned(), Err(e.to_string()))),
    }
    finish("rust-client through the gateway", &label, &results);
}
