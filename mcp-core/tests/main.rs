//! The integration tests of mcp-core, in one binary.

mod codec;
mod contract;
mod examples;
mod fuzz;
mod protocol;
mod schema;
mod snapshots;
mod support;
mod uri_template;
