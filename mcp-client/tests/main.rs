//! The integration tests of mcp-client, in one binary.

mod auth;
mod cli;
mod client;
mod host;
mod macros_ui;
mod security;
mod typed;
