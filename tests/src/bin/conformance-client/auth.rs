//! The `auth/*` scenarios of the conformance suite: connect with OAuth, list the tools, call
//! one, close. Everything goes through `mcp_client`; the scenario's context gives
//! pre-registered credentials or keys.

use std::time::Duration;

use mcp_client::auth::{HeadlessHandler, IdJagExchange, OAuthConfig, StaticAssertion};
use mcp_client::{Client, HttpServer};
use serde_json::Value;

/// The Client ID Metadata Document URL the suite expects a CIMD-capable client to present.
const CLIENT_METADATA_URL: &str = "https://conformance-test.local/client-metadata.json";

fn text<'a>(context: Option<&'a Value>, key: &str) -> Option<&'a str> {
    context.and_then(|c| c.get(key)).and_then(Value::as_str)
}

/// The OAuth configuration for a scenario.
fn config(scenario: &str, context: Option<&Value>) -> Result<OAuthConfig, String> {
    let client_id = text(context, "client_id");
    if scenario.starts_with("auth/client-credentials") {
        let client_id = client_id.ok_or("the scenario context has no client_id")?;
        let config = OAuthConfig::client_credentials(client_id);
        return Ok(
            match (
                text(context, "private_key_pem"),
                text(context, "client_secret"),
            ) {
                (Some(pem), _) => config
                    .private_key_jwt(pem, text(context, "signing_algorithm").unwrap_or("ES256")),
                (None, Some(secret)) => config.client_secret(secret),
                (None, None) => config,
            },
        );
    }
    if let Some(jwt) = text(context, "valid_jwt") {
        // Workload identity federation: the workload's own token is the assertion.
        let config = OAuthConfig::jwt_bearer(StaticAssertion::new(jwt));
        return Ok(match client_id {
            Some(id) => config.client_id(id),
            None => config,
        });
    }
    if let (Some(endpoint), Some(id_token)) = (
        text(context, "idp_token_endpoint"),
        text(context, "idp_id_token"),
    ) {
        // Enterprise-managed authorization: an ID-JAG from the identity provider.
        let mut exchange = IdJagExchange::new(endpoint, id_token);
        if let Some(idp_client) = text(context, "idp_client_id") {
            exchange = exchange.client(idp_client, None);
        }
        let mut config = OAuthConfig::jwt_bearer(exchange);
        if let Some(id) = client_id {
            config = config.client_id(id);
            if let Some(secret) = text(context, "client_secret") {
                config = config.client_secret(secret);
            }
        }
        return Ok(config);
    }
    let mut config = OAuthConfig::authorization_code(HeadlessHandler::default())
        .client_name("mcp-rs conformance client")
        .client_metadata_url(CLIENT_METADATA_URL);
    if let Some(id) = client_id {
        config = config.client_id(id);
        if let Some(secret) = text(context, "client_secret") {
            config = config.client_secret(secret);
        }
    }
    Ok(config)
}

/// Runs one `auth/*` scenario against the server at `url`.
pub(crate) async fn run(
    scenario: &str,
    url: &str,
    context: Option<Value>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config = config(scenario, context.as_ref())?;
    let server = HttpServer::new(url).oauth(config);
    let client = Client::builder()
        .info("mcp-rs-conformance-client", env!("CARGO_PKG_VERSION"))
        .probe_timeout(Duration::from_secs(30))
        .connect_http(server)
        .await?;
    let result = async {
        let tools = client.list_tools().await?;
        if let Some(tool) = tools.first() {
            client.call_tool(&tool.name, serde_json::json!({})).await?;
        }
        Ok::<_, mcp_client::Error>(())
    }
    .await;
    client.close().await;
    result?;
    Ok(())
}
