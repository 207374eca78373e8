//! Every accepted error type of a handler's `Result`.
use std::borrow::Cow;

use mcp_server::types::PromptMessage;
use mcp_server::{Error, IntoHandlerError, Server, prompt, resource, tool};

#[tool]
async fn with_anyhow(path: String) -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(path)?)
}

#[tool]
fn with_anyhow_error(n: i64) -> Result<i64, anyhow::Error> {
    anyhow::ensure!(n > 0, "n must be positive");
    Ok(n)
}

#[tool]
fn with_boxed(n: i64) -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
    Ok(n)
}

#[tool]
fn with_string(n: i64) -> Result<i64, String> {
    Ok(n)
}

#[tool]
fn with_str(n: i64) -> Result<i64, &'static str> {
    Ok(n)
}

#[tool]
fn with_cow(n: i64) -> Result<i64, Cow<'static, str>> {
    Ok(n)
}

#[tool]
fn with_io(n: i64) -> std::io::Result<i64> {
    Ok(n)
}

#[tool]
fn with_error(n: i64) -> Result<i64, Error> {
    Ok(n)
}

/// An error of the application's own, deciding what the model reads.
enum Lookup {
    Missing(String),
}

impl IntoHandlerError for Lookup {
    fn into_handler_error(self) -> Error {
        match self {
            Lookup::Missing(name) => Error::public(format!("no `{name}`")),
        }
    }
}

#[tool]
fn with_own(name: String) -> Result<String, Lookup> {
    Err(Lookup::Missing(name))
}

#[resource("data://a")]
async fn data_a() -> anyhow::Result<String> {
    Ok("a".into())
}

#[resource("data://b")]
fn data_b() -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    Ok(vec![1])
}

#[prompt]
fn ask(topic: String) -> Result<Vec<PromptMessage>, String> {
    Ok(vec![PromptMessage::user(topic)])
}

#[prompt]
async fn ask_more(topic: String) -> anyhow::Result<String> {
    Ok(topic)
}

fn main() {
    let _server = Server::new("s", "1")
        .tool(WithAnyhow)
        .tool(WithAnyhowError)
        .tool(WithBoxed)
        .tool(WithString)
        .tool(WithStr)
        .tool(WithCow)
        .tool(WithIo)
        .tool(WithError)
        .tool(WithOwn)
        .resource(DataA)
        .resource(DataB)
        .prompt(Ask)
        .prompt(AskMore);
}
