//! The integration tests of mcp-client, in one binary.

mod cli;
mod client;
mod security;
