//! The integration tests of mcp-client, in one binary.

mod cli;
mod client;
mod macros_ui;
mod typed;
