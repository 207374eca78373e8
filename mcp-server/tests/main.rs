//! The integration tests of mcp-server, in one binary (one link of the heavy dependencies).

mod admission;
mod approval;
mod audit;
#[cfg(feature = "auth")]
mod auth;
#[cfg(feature = "filters")]
mod filter;
mod fs;
mod fuzz;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "auth")]
mod isolation;
mod macro_ergonomics;
mod macros;
mod macros_ui;
mod metrics;
mod nulls;
mod register;
#[cfg(feature = "http")]
mod replica_sessions;
mod replica_tasks;
mod runtime;
#[cfg(feature = "auth")]
mod secure_http;
#[cfg(feature = "http")]
mod sse_support;
mod support;
mod validate;
