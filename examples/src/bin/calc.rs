//! The smallest useful server, as in the README: two tools over stdio, or HTTP with `--port N`.
//!
//! `cargo run -p mcp-examples --bin calc`, `cargo run -p mcp-examples --bin calc -- --port 8000`

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
    let server = Server::new("calc", env!("CARGO_PKG_VERSION"))
        .tool(Add)
        .tool(Divide);
    // `--port N`: Streamable HTTP at http://127.0.0.1:N/mcp; stdio otherwise.
    match std::env::args().skip_while(|a| a != "--port").nth(1) {
        Some(port) => {
            let port = port
                .parse()
                .map_err(|e| std::io::Error::other(format!("--port {port}: {e}")))?;
            mcp_server::http::serve_local(server, port).await
        }
        None => server.serve_stdio().await,
    }
}
