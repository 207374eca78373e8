//! Sync and async functions, doc comments as descriptions, markers registered with a server.
use mcp_server::{Server, ToolHandler, tool};

/// Add two numbers.
#[tool]
async fn add(
    /// The left operand.
    a: f64,
    /// The right operand.
    b: f64,
) -> f64 {
    a + b
}

/// Say hello.
#[tool]
fn hello(name: String) -> String {
    format!("hello {name}")
}

#[tool]
fn nothing() {}

fn main() {
    // The functions stay ordinary Rust.
    let _ = add(1.0, 2.0);
    assert_eq!(hello("ada".into()), "hello ada");
    nothing();
    assert_eq!(Add.definition().description.as_deref(), Some("Add two numbers."));
    let _server = Server::new("s", "1").tool(Add).tool(Hello).tool(Nothing);
}
