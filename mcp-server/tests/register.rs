//! SECURITY.md: "registering a tool with a bad or duplicate name while serving | an error returned
//! to the caller; every other request still served". `try_add_*` return a [`RegisterError`];
//! `add_*` panic before the registry is touched, and the registry's lock cannot be poisoned.

use std::collections::BTreeMap;

use mcp_server::types::{CallToolResult, JsonObject, ResourceContents, ResourceTemplate, Tool};
use mcp_server::{
    Context, RegisterError, ResourceDefinition, ResourceHandler, Server, ToolHandler, prompt,
    resource, tool,
};
use serde_json::json;

use crate::support::Client;

/// Adds two numbers.
#[tool]
fn add(a: f64, b: f64) -> f64 {
    a + b
}

/// Multiplies two numbers.
#[tool]
fn mul(a: f64, b: f64) -> f64 {
    a * b
}

#[resource("file:///notes.txt")]
fn notes() -> String {
    "notes".into()
}

/// Reviews code.
#[prompt]
fn review(code: String) -> String {
    format!("Review: {code}")
}

/// A tool whose name no client accepts.
struct BadName;

impl ToolHandler for BadName {
    fn definition(&self) -> Tool {
        Tool::new(
            "bad name",
            serde_json::from_value(json!({"type": "object"})).unwrap(),
        )
    }

    async fn call(&self, _: Context, _: JsonObject) -> mcp_server::Result<CallToolResult> {
        unreachable!("never registered")
    }
}

/// A resource template that does not parse.
struct BadTemplate;

impl ResourceHandler for BadTemplate {
    fn definition(&self) -> ResourceDefinition {
        ResourceDefinition::Template(ResourceTemplate {
            uri_template: "notes://{name".into(),
            name: "bad".into(),
            ..ResourceTemplate::default()
        })
    }

    async fn read(
        &self,
        _: Context,
        _: String,
        _: BTreeMap<String, String>,
    ) -> mcp_server::Result<Vec<ResourceContents>> {
        unreachable!("never registered")
    }
}

fn server() -> Server {
    Server::new("register", "1.0.0")
        .tool(Add)
        .resource(Notes)
        .prompt(Review)
}

async fn started(server: &Server) -> Client {
    let mut c = Client::start(server.clone());
    c.initialize("2025-06-18", json!({})).await;
    c
}

/// Every kind of request is still answered, and `tools/list` has exactly `tools`.
async fn still_served(c: &mut Client, id: i64, tools: &[&str]) {
    let r = c
        .call(
            id,
            "tools/call",
            json!({"name": "add", "arguments": {"a": 1, "b": 2}}),
        )
        .await;
    assert_eq!(
        r["result"]["structuredContent"],
        json!({"result": 3.0}),
        "{r}"
    );
    let r = c.call(id + 1, "tools/list", json!({})).await;
    let names: Vec<&str> = r["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, tools);
    let r = c
        .call(
            id + 2,
            "resources/read",
            json!({"uri": "file:///notes.txt"}),
        )
        .await;
    assert_eq!(r["result"]["contents"][0]["text"], "notes", "{r}");
    let r = c
        .call(
            id + 3,
            "prompts/get",
            json!({"name": "review", "arguments": {"code": "x"}}),
        )
        .await;
    assert!(r.get("result").is_some(), "{r}");
}

#[tokio::test]
async fn try_add_tool_duplicate_is_an_error_and_server_keeps_serving() {
    let server = server();
    let mut c = started(&server).await;
    assert_eq!(
        server.try_add_tool(Add),
        Err(RegisterError::DuplicateTool("add".into()))
    );
    assert_eq!(
        server.try_add_tool(Add).unwrap_err().to_string(),
        "a tool named `add` is already registered"
    );
    still_served(&mut c, 1, &["add"]).await;
    // A good registration still works, and is listed.
    assert_eq!(server.try_add_tool(Mul), Ok(()));
    still_served(&mut c, 10, &["add", "mul"]).await;
}

#[tokio::test]
async fn try_add_tool_invalid_name_is_an_error_and_server_keeps_serving() {
    let server = server();
    let mut c = started(&server).await;
    let err = server.try_add_tool(BadName).unwrap_err();
    assert!(
        matches!(&err, RegisterError::InvalidToolName { name, .. } if name == "bad name"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "invalid tool name `bad name`: a tool name may only use `A-Z`, `a-z`, `0-9`, `_`, `-` and `.`; found ' ' at byte 3"
    );
    still_served(&mut c, 1, &["add"]).await;
}

#[tokio::test]
async fn try_add_resource_and_prompt_errors_leave_the_server_serving() {
    let server = server();
    let mut c = started(&server).await;
    assert_eq!(
        server.try_add_resource(Notes),
        Err(RegisterError::DuplicateResource("file:///notes.txt".into()))
    );
    let err = server.try_add_resource(BadTemplate).unwrap_err();
    assert!(
        matches!(&err, RegisterError::InvalidUriTemplate { template, .. } if template == "notes://{name"),
        "{err:?}"
    );
    assert_eq!(
        server.try_add_prompt(Review),
        Err(RegisterError::DuplicatePrompt("review".into()))
    );
    still_served(&mut c, 1, &["add"]).await;
}

#[tokio::test]
async fn add_tool_panic_does_not_poison_the_registry() {
    let server = server();
    let mut c = started(&server).await;
    let s = server.clone();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || s.add_tool(Add)))
        .unwrap_err();
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or_default();
    assert_eq!(message, "a tool named `add` is already registered");
    let s = server.clone();
    let panic =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || s.add_prompt(Review)))
            .unwrap_err();
    assert_eq!(
        panic.downcast_ref::<String>().map(String::as_str),
        Some("a prompt named `review` is already registered")
    );
    // Reads and writes of the registry still work.
    still_served(&mut c, 1, &["add"]).await;
    server.add_tool(Mul);
    assert!(server.remove_tool("mul"));
    still_served(&mut c, 10, &["add"]).await;
}

#[test]
fn register_errors_are_errors() {
    fn is_error<E: std::error::Error + Send + Sync + 'static>(_: &E) {}
    let e = RegisterError::DuplicateTool("x".into());
    is_error(&e);
    let e: mcp_server::Error = e.into();
    assert_eq!(
        e.to_string(),
        "internal error: a tool named `x` is already registered"
    );
}
