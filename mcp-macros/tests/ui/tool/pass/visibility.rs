//! The marker has the function's visibility and documentation, and works from another module.
#![deny(missing_docs)]
//! A crate with every public item documented.

/// Tools.
pub mod tools {
    /// Echo the text.
    #[mcp_server::tool]
    pub fn echo(text: String) -> String {
        text
    }

    #[mcp_server::tool]
    pub(crate) fn internal() {}
}

fn main() {
    let _server = mcp_server::Server::new("s", "1").tool(tools::Echo).tool(tools::Internal);
}
