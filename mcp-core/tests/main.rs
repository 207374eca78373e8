//! The integration tests of mcp-core, in one binary.

// mod codec;
mod examples;
mod schema;
mod support;
// mod uri_template;
