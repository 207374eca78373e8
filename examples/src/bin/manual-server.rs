//! An MCP server written without macros: the handler traits implemented by hand.
//!
//! Serves on stdio: `cargo run -p mcp-examples --bin manual-server`, or on Streamable HTTP at
//! `http://127.0.0.1:N/mcp` with `--port N`. Logs go to stderr (`RUST_LOG=debug` for more).
//! `--sessions-per-client N` raises the cap on legacy sessions one client address may hold (100 by
//! default), for load tests that open many sessions from one machine.

use std::collections::BTreeMap;

use mcp_server::types::{
    CallToolResult, Completion, CompletionContext, ContentBlock, GetPromptResult, JsonObject,
    Prompt, PromptArgument, PromptMessage, ResourceContents, ResourceTemplate, Tool,
    ToolAnnotations,
};
use mcp_server::{
    Context, Error, PromptHandler, ResourceDefinition, ResourceHandler, Result, Server, ToolHandler,
};
use serde_json::{Value, json};

fn object_schema(schema: Value) -> JsonObject {
    serde_json::from_value(schema).expect("a JSON object")
}

/// `add`: adds two numbers, with a structured result.
struct Add;

impl ToolHandler for Add {
    fn definition(&self) -> Tool {
        let mut tool = Tool::new(
            "add",
            object_schema(json!({
                "type": "object",
                "properties": {
                    "a": { "type": "number", "description": "left operand" },
                    "b": { "type": "number", "description": "right operand" }
                },
                "required": ["a", "b"]
            })),
        );
        tool.description = Some("Add two numbers.".into());
        tool.output_schema = Some(object_schema(json!({
            "type": "object",
            "properties": { "result": { "type": "number" } },
            "required": ["result"]
        })));
        tool.annotations = Some(ToolAnnotations {
            read_only_hint: Some(true),
            idempotent_hint: Some(true),
            ..Default::default()
        });
        tool
    }

    async fn call(&self, _cx: Context, args: JsonObject) -> Result<CallToolResult> {
        let number = |name: &str| {
            args.get(name)
                .and_then(Value::as_f64)
                .ok_or_else(|| Error::public(format!("argument `{name}` must be a number")))
        };
        let sum = number("a")? + number("b")?;
        Ok(CallToolResult::structured(json!({ "result": sum })))
    }
}

/// `count_down`: reports progress and logs while it works.
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
        tool.description = Some("Counts down, reporting progress.".into());
        tool
    }

    async fn call(&self, cx: Context, args: JsonObject) -> Result<CallToolResult> {
        let from = args
            .get("from")
            .and_then(Value::as_u64)
            .unwrap_or(3)
            .min(10);
        for done in 1..=from {
            if cx.is_cancelled() {
                return Err(Error::public("cancelled"));
            }
            cx.progress(done as f64, Some(from as f64), Some("counting"));
            cx.info(format!("{} left", from - done));
            // The work between two reports.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Ok(CallToolResult::success(vec![ContentBlock::text("liftoff")]))
    }
}

/// `notes://{name}`: a resource template with completion.
struct Notes;

const NOTES: [(&str, &str); 2] = [
    ("welcome", "Welcome to the manual server."),
    ("usage", "Call `add` with `a` and `b`."),
];

impl ResourceHandler for Notes {
    fn definition(&self) -> ResourceDefinition {
        ResourceDefinition::Template(ResourceTemplate {
            uri_template: "notes://{name}".into(),
            name: "notes".into(),
            description: Some("Short notes, by name.".into()),
            mime_type: Some("text/plain".into()),
            ..Default::default()
        })
    }

    async fn read(
        &self,
        _cx: Context,
        uri: String,
        variables: BTreeMap<String, String>,
    ) -> Result<Vec<ResourceContents>> {
        let name = variables
            .get("name")
            .map(String::as_str)
            .unwrap_or_default();
        match NOTES.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => Ok(vec![ResourceContents::text(uri, Some("text/plain"), *text)]),
            None => Err(Error::not_found(uri)),
        }
    }

    async fn complete(
        &self,
        _cx: Context,
        _variable: String,
        value: String,
        _context: Option<CompletionContext>,
    ) -> Result<Completion> {
        Ok(Completion {
            values: NOTES
                .iter()
                .map(|(n, _)| (*n).to_owned())
                .filter(|n| n.starts_with(&value))
                .collect(),
            ..Default::default()
        })
    }
}

/// `review`: a prompt with a required and an optional argument.
struct Review;

impl PromptHandler for Review {
    fn definition(&self) -> Prompt {
        Prompt {
            name: "review".into(),
            description: Some("Review a piece of code.".into()),
            arguments: Some(vec![
                PromptArgument {
                    name: "code".into(),
                    required: Some(true),
                    ..Default::default()
                },
                PromptArgument {
                    name: "language".into(),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        }
    }

    async fn get(&self, _cx: Context, args: BTreeMap<String, String>) -> Result<GetPromptResult> {
        let code = args
            .get("code")
            .ok_or_else(|| Error::invalid_params("missing required argument `code`"))?;
        let language = args.get("language").map_or("code", String::as_str);
        Ok(GetPromptResult {
            description: Some("Code review".into()),
            messages: vec![PromptMessage::user(format!(
                "Please review this {language}:\n\n{code}"
            ))],
            ..Default::default()
        })
    }
}

/// The server, for the binaries that serve it.
fn server() -> Server {
    Server::new("manual-server", env!("CARGO_PKG_VERSION"))
        .instructions(
            "A server written without macros: `add`, `count_down`, notes and a review prompt.",
        )
        .tool(Add)
        .tool(CountDown)
        .resource(Notes)
        .prompt(Review)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        let i = args.iter().position(|a| a == flag)?;
        let n = args.get(i + 1).and_then(|n| n.parse::<usize>().ok());
        Some(n.unwrap_or_else(|| panic!("{flag} takes a number")))
    };
    match value("--port") {
        Some(port) => {
            let port = u16::try_from(port).expect("--port takes a port number");
            let mut config = mcp_server::http::HttpConfig::new();
            if let Some(n) = value("--sessions-per-client") {
                config = config.max_sessions_per_principal(n);
            }
            let addr = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port));
            let shutdown = mcp_server::http::shutdown_signal();
            mcp_server::http::serve(server(), config, addr, shutdown).await
        }
        None => server().serve_stdio().await,
    }
}
