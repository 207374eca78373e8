//! The MCP client (in progress): re-exports the protocol types it builds on.

pub use mcp_core as core;
