//! The `auth/*` scenarios. A placeholder until the OAuth client lands: it connects without
//! authorization and lists the tools, so each scenario fails at the server's 401 with a clear
//! message instead of passing by accident.

use mcp_client::{Client, HttpServer};

/// Runs one `auth/*` scenario against `url`; `context` is the suite's `MCP_CONFORMANCE_CONTEXT`.
pub(crate) async fn run(
    scenario: &str,
    url: &str,
    context: Option<serde_json::Value>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let _ = (scenario, context);
    let client = Client::builder()
        .info("mcp-rs-conformance-client", env!("CARGO_PKG_VERSION"))
        .connect_http(HttpServer::new(url))
        .await?;
    client.list_tools().await?;
    client.close().await;
    Ok(())
}
