//! The contract of the connected server, for snapshots and breaking-change checks.

use mcp_core::contract::ServerContract;
use mcp_core::types::Implementation;

use crate::client::Client;
use crate::error::Result;

impl Client {
    /// The connected server's public surface as this client sees it, at the version in use:
    /// name and title, capabilities, and every tool, resource, template and prompt it lists
    /// (all pages). Stable from run to run, for `insta::assert_json_snapshot!` and for
    /// [`diff`](mcp_core::contract::diff) against a released contract.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_client::Result<()> {
    /// use mcp_client::{Client, StdioServer};
    ///
    /// let client = Client::builder().connect_stdio(StdioServer::new("my-server")).await?;
    /// let contract = client.contract().await?;
    /// std::fs::write("contract.json", contract.to_json_pretty()).unwrap();
    /// # Ok(()) }
    /// ```
    pub async fn contract(&self) -> Result<ServerContract> {
        let session = self.session();
        let caps = &session.capabilities;
        let tools = match caps.tools {
            Some(_) => self.list_tools().await?,
            None => Vec::new(),
        };
        let (resources, templates) = match caps.resources {
            Some(_) => (
                self.list_resources().await?,
                self.list_resource_templates().await?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        let prompts = match caps.prompts {
            Some(_) => self.list_prompts().await?,
            None => Vec::new(),
        };
        let info = session
            .server_info
            .clone()
            .unwrap_or_else(|| Implementation::new("", ""));
        Ok(
            ServerContract::new(session.version, &info, session.capabilities.clone())
                .with_tools(tools)
                .with_resources(resources)
                .with_resource_templates(templates)
                .with_prompts(prompts),
        )
    }
}
