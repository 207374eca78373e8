//! The smallest useful server, as in the README: two tools over stdio.
//!
//! `cargo run -p mcp-examples --bin calc`

use mcp_server::{Context, Error, Server, tool};

/// Add two numbers.
#[tool(read_only, idempotent)]
async fn add(
    /// The left operand.
    a: f64,
    b: f64,
) -> f64 {
    a + b
}

/// Divide, with an error the model can read.
#[tool]
fn divide(cx: Context, a: f64, b: f64) -> Result<f64, Error> {
    cx.info("dividing");
    if b == 0.0 {
        return Err(Error::public("`b` must not be zero"));
    }
    Ok(a / b)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    Server::new("calc", env!("CARGO_PKG_VERSION"))
        .tool(Add)
        .tool(Divide)
        .serve_stdio()
        .await
}
