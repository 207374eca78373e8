//! Example MCP servers and clients live in `src/bin/` of this crate.
