//! The integration tests of mcp-server, in one binary (one link of the heavy dependencies).

mod approval;
#[cfg(feature = "http")]
mod http;
mod macros;
mod macros_ui;
mod runtime;
mod validate;
