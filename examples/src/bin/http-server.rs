//! An MCP server over Streamable HTTP, written without macros, serving both protocol eras on
//! `http://127.0.0.1:{port}/mcp`.
//!
//! `cargo run -p mcp-examples --bin http-server -- --port 8000` (8000 by default). Stop it with
//! Ctrl-C: running requests finish, streams end. Logs go to stderr (`RUST_LOG=debug` for more).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use mcp_server::http::{self, HttpConfig};
use mcp_server::types::{CallToolResult, ContentBlock, ElicitAction, JsonObject, Tool};
use mcp_server::{Context, Error, Result, Server, ToolHandler};
use serde_json::{Value, json};

fn object_schema(schema: Value) -> JsonObject {
    serde_json::from_value(schema).expect("a JSON object")
}

/// `add`: adds two numbers. Its answer is one JSON object.
struct Add;

impl ToolHandler for Add {
    fn definition(&self) -> Tool {
        let mut tool = Tool::new(
            "add",
            object_schema(json!({
                "type": "object",
                "properties": { "a": { "type": "number" }, "b": { "type": "number" } },
                "required": ["a", "b"]
            })),
        );
        tool.description = Some("Add two numbers.".into());
        tool
    }

    async fn call(&self, _cx: Context, args: JsonObject) -> Result<CallToolResult> {
        let number = |name: &str| {
            args.get(name)
                .and_then(Value::as_f64)
                .ok_or_else(|| Error::public(format!("argument `{name}` must be a number")))
        };
        let sum = number("a")? + number("b")?;
        Ok(CallToolResult::success(vec![ContentBlock::text(
            sum.to_string(),
        )]))
    }
}

/// `count_down`: reports progress once a second. Its answer is an SSE stream, and closing the
/// stream (modern clients) cancels it.
struct CountDown;

impl ToolHandler for CountDown {
    fn definition(&self) -> Tool {
        let mut tool = Tool::new(
            "count_down",
            object_schema(json!({
                "type": "object",
                "properties": { "from": { "type": "integer", "minimum": 1, "maximum": 10 } },
                "required": ["from"]
            })),
        );
        tool.description = Some("Counts down one second at a time, reporting progress.".into());
        tool
    }

    async fn call(&self, cx: Context, args: JsonObject) -> Result<CallToolResult> {
        let from = args
            .get("from")
            .and_then(Value::as_u64)
            .filter(|n| (1..=10).contains(n))
            .ok_or_else(|| Error::public("`from` must be an integer from 1 to 10"))?;
        for left in (1..=from).rev() {
            cx.progress((from - left) as f64, Some(from as f64), Some("counting"));
            cx.info(format!("{left}…"));
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = cx.cancelled() => return Err(Error::public("cancelled")),
            }
        }
        Ok(CallToolResult::success(vec![ContentBlock::text("liftoff")]))
    }
}

/// `greet`: asks the user for a name. Legacy clients get an elicitation request on the call's
/// stream; modern clients get an `input_required` result and retry.
struct Greet;

impl ToolHandler for Greet {
    fn definition(&self) -> Tool {
        let mut tool = Tool::new("greet", object_schema(json!({ "type": "object" })));
        tool.description = Some("Asks the user for a name, then greets them.".into());
        tool
    }

    async fn call(&self, cx: Context, _args: JsonObject) -> Result<CallToolResult> {
        let form = serde_json::from_value(json!({
            "type": "object",
            "properties": { "name": { "type": "string", "title": "Your name" } },
            "required": ["name"]
        }))
        .map_err(Error::internal)?;
        let answer = cx.elicit_with("Who is there?", form).await?;
        let name = match answer.action {
            ElicitAction::Accept => answer
                .content
                .as_ref()
                .and_then(|c| c.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("stranger")
                .to_owned(),
            _ => "stranger".to_owned(),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "Hello, {name}!"
        ))]))
    }
}

/// `--port N`, or 8000.
fn port() -> std::result::Result<u16, String> {
    let mut args = std::env::args().skip(1);
    let mut port = 8000;
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--port" => args.next().ok_or("`--port` needs a value")?,
            other => match other.strip_prefix("--port=") {
                Some(value) => value.to_owned(),
                None => return Err(format!("unknown argument `{other}`; usage: --port N")),
            },
        };
        port = value
            .parse()
            .map_err(|_| format!("`{value}` is not a port number"))?;
    }
    Ok(port)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let port = port().unwrap_or_else(|e| {
        eprintln!("http-server: {e}");
        std::process::exit(2);
    });
    let server = Server::new("http-example", env!("CARGO_PKG_VERSION"))
        .instructions("Arithmetic, a countdown, and a greeting.")
        .tool(Add)
        .tool(CountDown)
        .tool(Greet);
    http::serve(
        server,
        HttpConfig::new(),
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        http::shutdown_signal(),
    )
    .await
}
