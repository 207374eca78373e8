//! Drives any server with the contract of our example servers (tools `add` and `count_down`,
//! template `notes://{name}`, prompt `review`, optionally `confirm`) through `mcp-client`, and
//! prints a line per check and a closing `N passed, M failed`.
//!
//! `interop-client [--era auto|legacy|modern] [--elicit] <http-url | -- command args...>`

use std::sync::{Arc, Mutex};

use mcp_client::types::*;
use mcp_client::{Client, EraChoice, HttpServer, StdioServer};
use mcp_examples::interop::{self, Check, Confirmer, ensure, finish};
use serde_json::json;

async fn run(client: &Client, elicit: bool, results: &mut Vec<(String, Check)>) {
    let mut record = |name: &str, r: Check| results.push((name.to_owned(), r));
    let tools = client.list_tools().await;
    record(
        "tools/list",
        match &tools {
            Ok(t) => ensure(
                t.iter().any(|t| t.name == "add") && t.iter().any(|t| t.name == "count_down"),
                || format!("{t:?}"),
            ),
            Err(e) => Err(e.to_string()),
        },
    );
    let r = client.call_tool("add", json!({"a": 2, "b": 40})).await;
    record(
        "tools/call",
        match &r {
            Ok(r) => ensure(
                r.structured_content
                    .as_ref()
                    .and_then(|s| s["result"].as_f64())
                    == Some(42.0),
                || format!("{r:?}"),
            ),
            Err(e) => Err(e.to_string()),
        },
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let arg = if tools.as_ref().is_ok_and(|t| {
        t.iter().any(|t| {
            t.input_schema
                .get("properties")
                .is_some_and(|p| p.get("start").is_some())
        })
    }) {
        "start"
    } else {
        "from"
    };
    let r = client
        .call_tool_with_progress("count_down", json!({ arg: 3 }), move |p| {
            seen2.lock().expect("not poisoned").push(p.progress)
        })
        .await;
    record(
        "tools/call with progress",
        match &r {
            Ok(r) => ensure(
                r.content
                    .first()
                    .and_then(ContentBlock::as_text)
                    .is_some_and(|t| t.contains("liftoff"))
                    && *seen.lock().expect("not poisoned") == [1.0, 2.0, 3.0],
                || format!("{r:?} progress {:?}", seen.lock().expect("not poisoned")),
            ),
            Err(e) => Err(e.to_string()),
        },
    );
    let r = client.read_resource("notes://welcome").await;
    record(
        "resources/read",
        match &r {
            Ok(c) => ensure(
                matches!(c.first(), Some(ResourceContents::Text(t)) if t.text == "Welcome to the manual server."),
                || format!("{c:?}"),
            ),
            Err(e) => Err(e.to_string()),
        },
    );
    let r = client
        .get_prompt("review", [("code", "fn main() {}"), ("language", "Rust")])
        .await;
    record(
        "prompts/get",
        match &r {
            Ok(p) => ensure(
                p.messages
                    .first()
                    .and_then(|m| m.content.as_text())
                    .is_some_and(|t| t.contains("Rust") && t.contains("fn main")),
                || format!("{p:?}"),
            ),
            Err(e) => Err(e.to_string()),
        },
    );
    if elicit {
        let r = client
            .call_tool("confirm", json!({"action": "deploy"}))
            .await;
        record(
            "elicitation",
            match &r {
                Ok(r) => ensure(
                    r.content.first().and_then(ContentBlock::as_text) == Some("deploy: confirmed"),
                    || format!("{r:?}"),
                ),
                Err(e) => Err(e.to_string()),
            },
        );
    }
}

#[tokio::main]
async fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut era = EraChoice::Auto;
    let mut elicit = false;
    loop {
        match args.first().map(String::as_str) {
            Some("--era") => {
                era = interop::era(args.get(1).map(String::as_str));
                args.drain(..2);
            }
            Some("--elicit") => {
                elicit = true;
                args.remove(0);
            }
            _ => break,
        }
    }
    let builder = Client::builder().era(era).handler(Confirmer);
    let client = if args.first().map(String::as_str) == Some("--") {
        builder
            .connect_stdio(StdioServer::new(&args[1]).args(args[2..].iter().cloned()))
            .await
    } else {
        builder
            .connect_http(HttpServer::new(args.first().cloned().unwrap_or_default()))
            .await
    };
    let label = format!("{era:?}").to_lowercase();
    let mut results = Vec::new();
    match &client {
        Ok(c) => {
            results.push((format!("connect ({})", c.session().version), Ok(())));
            run(c, elicit, &mut results).await;
            c.close().await;
        }
        Err(e) => results.push(("connect".to_owned(), Err(e.to_string()))),
    }
    finish("rust-client", &label, &results);
}
