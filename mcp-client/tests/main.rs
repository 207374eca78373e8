//! The integration tests of mcp-client, in one binary.

mod auth;
mod cli;
mod host;
mod client;
mod macros_ui;
mod security;
mod typed;
