//! The client of the official MCP conformance suite's client mode (`conformance client`).
//!
//! The suite starts a mock server for a scenario, then runs this binary with the server's URL as
//! the last argument, the scenario's name in `MCP_CONFORMANCE_SCENARIO` and, for some scenarios,
//! JSON in `MCP_CONFORMANCE_CONTEXT`. Each scenario is a short session written with `mcp-client`:
//! what the suite checks (headers, retries, `requestState`, schema defaults, ...) is the library's
//! own behaviour, not something this binary puts on the wire. Exit status 0 when the session
//! succeeded; otherwise 1, with the reason on stderr. `scripts/conformance-client` runs the suite.

mod auth;

use std::process::ExitCode;
use std::time::Duration;

use mcp_client::mcp_core::ErrorObject;
use mcp_client::types::{CallToolResult, ElicitAction, ElicitRequestParams, ElicitResult, Tool};
use mcp_client::{Client, ClientHandler, HandlerCapabilities, HttpServer};
use serde_json::{Map, Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long one request may take before the run fails (the suite has its own, longer bound).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    match run(&scenario).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance-client: scenario `{scenario}`: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(scenario: &str) -> Result<(), BoxError> {
    let Some(url) = std::env::args().skip(1).last() else {
        return Err("usage: conformance-client <server URL> (the suite appends it)".into());
    };
    if scenario.is_empty() {
        return Err("MCP_CONFORMANCE_SCENARIO is not set".into());
    }
    let context = match std::env::var("MCP_CONFORMANCE_CONTEXT") {
        Ok(text) if !text.trim().is_empty() => Some(
            serde_json::from_str::<Value>(&text)
                .map_err(|e| format!("MCP_CONFORMANCE_CONTEXT is not JSON: {e}"))?,
        ),
        _ => None,
    };
    if scenario.starts_with("auth/") {
        return auth::run(scenario, &url, context).await;
    }
    match scenario {
        "initialize" | "request-metadata" | "json-schema-ref-no-deref" => {
            let client = connect(&url).await?;
            client.list_tools().await?;
            client.close().await;
        }
        "tools_call" => {
            let client = connect(&url).await?;
            require_tool(&client.list_tools().await?, "add_numbers")?;
            let result = client
                .call_tool("add_numbers", json!({ "a": 5, "b": 3 }))
                .await?;
            expect_success(&result, "add_numbers")?;
            client.close().await;
        }
        "elicitation-sep1034-client-defaults" => {
            let client = connect(&url).await?;
            require_tool(
                &client.list_tools().await?,
                "test_client_elicitation_defaults",
            )?;
            let result = client
                .call_tool("test_client_elicitation_defaults", json!({}))
                .await?;
            expect_success(&result, "test_client_elicitation_defaults")?;
            client.close().await;
        }
        "sse-retry" => {
            let client = connect(&url).await?;
            require_tool(&client.list_tools().await?, "test_reconnection")?;
            let result = client.call_tool("test_reconnection", json!({})).await?;
            expect_success(&result, "test_reconnection")?;
            client.close().await;
        }
        "http-standard-headers" => {
            let client = connect(&url).await?;
            for tool in client.list_tools().await? {
                let result = client
                    .call_tool(&tool.name, example_arguments(&tool))
                    .await?;
                expect_success(&result, &tool.name)?;
            }
            for resource in client.list_resources().await? {
                client.read_resource(&resource.uri).await?;
            }
            for prompt in client.list_prompts().await? {
                client.get_prompt(&prompt.name, []).await?;
            }
            client.close().await;
        }
        "http-custom-headers" => {
            let calls = context
                .as_ref()
                .and_then(|c| c.get("toolCalls"))
                .and_then(Value::as_array)
                .ok_or("the scenario's context has no `toolCalls` list")?;
            let client = connect(&url).await?;
            let tools = client.list_tools().await?;
            for call in calls {
                let name = call
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or("a `toolCalls` entry has no `name`")?;
                require_tool(&tools, name)?;
                let arguments = call.get("arguments").cloned().unwrap_or(json!({}));
                let result = client.call_tool(name, arguments).await?;
                expect_success(&result, name)?;
            }
            client.close().await;
        }
        "http-invalid-tool-headers" => {
            // The library leaves the invalid tools out of the listing; every tool it kept is
            // called, so a tool it wrongly kept would show up at the server.
            let client = connect(&url).await?;
            for tool in client.list_tools().await? {
                let result = client
                    .call_tool(&tool.name, example_arguments(&tool))
                    .await?;
                expect_success(&result, &tool.name)?;
            }
            client.close().await;
        }
        "json-schema-2020-12-preservation" => {
            let client = connect(&url).await?;
            let tools = client.list_tools().await?;
            let focal = require_tool(&tools, "json_schema_2020_12_tool")?;
            require_tool(&tools, "json_schema_echo")?;
            let result = client
                .call_tool(
                    "json_schema_echo",
                    json!({ "schema": Value::Object(focal.input_schema.clone()) }),
                )
                .await?;
            expect_success(&result, "json_schema_echo")?;
            client.close().await;
        }
        "sep-2322-client-request-state" => {
            let client = connect(&url).await?;
            let tools = client.list_tools().await?;
            for name in [
                "test_mrtr_echo_state",
                "test_mrtr_no_state",
                "test_mrtr_unrelated",
                "test_mrtr_no_result_type",
            ] {
                require_tool(&tools, name)?;
                let result = client.call_tool(name, json!({})).await?;
                expect_success(&result, name)?;
            }
            client.close().await;
        }
        s if s.starts_with("sep-2640-") => {
            return Err(
                "the skills extension (SEP-2640: skills/list, digest checks) is not implemented by mcp-client"
                    .into(),
            );
        }
        other => {
            return Err(format!("no client behaviour is defined for scenario `{other}`").into());
        }
    }
    Ok(())
}

/// Answers elicitation by accepting without filling anything in: the library completes the form
/// with the schema's defaults (SEP-1034).
struct AcceptDefaults;

impl ClientHandler for AcceptDefaults {
    fn capabilities(&self) -> HandlerCapabilities {
        HandlerCapabilities {
            elicitation_form: true,
            ..HandlerCapabilities::default()
        }
    }

    async fn elicit(&self, params: ElicitRequestParams) -> Result<ElicitResult, ErrorObject> {
        Ok(ElicitResult {
            action: match params {
                ElicitRequestParams::Form(_) => ElicitAction::Accept,
                _ => ElicitAction::Decline,
            },
            content: None,
            meta: None,
        })
    }
}

/// Connects over Streamable HTTP, detecting the era.
async fn connect(url: &str) -> Result<Client, BoxError> {
    Ok(Client::builder()
        .info("mcp-rs-conformance-client", env!("CARGO_PKG_VERSION"))
        .handler(AcceptDefaults)
        .timeout(REQUEST_TIMEOUT)
        // Every mock server answers the probe; under load an answer may take more than 5 s.
        .probe_timeout(REQUEST_TIMEOUT)
        .connect_http(HttpServer::new(url))
        .await?)
}

fn require_tool<'a>(tools: &'a [Tool], name: &str) -> Result<&'a Tool, BoxError> {
    tools.iter().find(|t| t.name == name).ok_or_else(|| {
        let listed: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        format!("the server did not list tool `{name}` (listed: {listed:?})").into()
    })
}

fn expect_success(result: &CallToolResult, name: &str) -> Result<(), BoxError> {
    if result.is_error == Some(true) {
        let text = serde_json::to_string(&result.content).unwrap_or_default();
        return Err(format!("tool `{name}` failed: {text}").into());
    }
    Ok(())
}

/// Arguments that satisfy a tool's required parameters: a sample value of each one's type.
fn example_arguments(tool: &Tool) -> Value {
    let properties = tool
        .input_schema
        .get("properties")
        .and_then(Value::as_object);
    let required = tool
        .input_schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    let mut arguments = Map::new();
    for name in required {
        let kind = properties
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str);
        let value = match kind {
            Some("integer" | "number") => json!(1),
            Some("boolean") => json!(true),
            Some("object") => json!({}),
            Some("array") => json!([]),
            Some("null") => Value::Null,
            _ => json!("example"),
        };
        arguments.insert(name.to_owned(), value);
    }
    Value::Object(arguments)
}
