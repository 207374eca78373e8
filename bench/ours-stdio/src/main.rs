//! The same tools as `rmcp-stdio` (../shared/bench), served over stdio with this SDK.

use mcp_server::{Server, tool};

/// Tests simple text content response
#[tool]
async fn test_simple_text() -> String {
    "This is a simple text response for testing.".to_string()
}

/// Add two numbers
#[tool]
async fn add(
    /// left operand
    a: f64,
    /// right operand
    b: f64,
) -> String {
    (a + b).to_string()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    Server::new("ours-stdio", env!("CARGO_PKG_VERSION"))
        .tool(TestSimpleText)
        .tool(Add)
        .serve_stdio()
        .await
}
