//! The server's contract: its public surface at one protocol version, taken from the registry.

use mcp_core::ProtocolVersion;
use mcp_core::contract::ServerContract;

use super::Server;
use crate::shape::Shape;

fn shaped<'a, T: Shape + Clone + 'a>(
    items: impl Iterator<Item = &'a T>,
    v: ProtocolVersion,
) -> Vec<T> {
    items
        .map(|item| {
            let mut item = item.clone();
            item.shape(v);
            item
        })
        .collect()
}

impl Server {
    /// The server's public surface as a client of `version` sees it: every tool, resource,
    /// template and prompt it holds (whatever callers may be allowed), its name, title and
    /// capabilities, shaped to the version. Made for a snapshot test:
    ///
    /// ```
    /// use mcp_server::{Server, tool};
    /// use mcp_server::mcp_core::ProtocolVersion;
    ///
    /// /// Adds two numbers.
    /// #[tool]
    /// fn add(a: f64, b: f64) -> f64 {
    ///     a + b
    /// }
    ///
    /// let server = Server::new("calc", "1.0.0").tool(Add);
    /// let contract = server.contract(ProtocolVersion::V2025_11_25);
    /// assert_eq!(contract.tools[0].name, "add");
    /// // In a test: insta::assert_json_snapshot!(contract);
    /// ```
    ///
    /// A connected client's [`contract`](https://docs.rs/mcp-client) lists what that client may
    /// see; with policies in force the two can differ.
    pub fn contract(&self, version: ProtocolVersion) -> ServerContract {
        let mut info = self.inner.info.clone();
        info.shape(version);
        let mut capabilities = self.capabilities();
        capabilities.shape(version);
        let reg = self.inner.registry.read().expect("not poisoned");
        let mut tools = shaped(reg.tools.iter().map(|t| &t.definition), version);
        if let Some(dialect) = self.inner.options.tool_schema_dialect {
            for tool in &mut tools {
                tool.input_schema = dialect.rewrite(&tool.input_schema);
            }
        }
        ServerContract::new(version, &info, capabilities)
            .with_tools(tools)
            .with_resources(shaped(reg.resources.iter().map(|r| &r.definition), version))
            .with_resource_templates(shaped(reg.templates.iter().map(|t| &t.definition), version))
            .with_prompts(shaped(reg.prompts.iter().map(|p| &p.definition), version))
    }
}
