//! Procedural macros for MCP servers: `#[tool]`, `#[resource]` and `#[prompt]` (in progress).
