#![doc = include_str!("../README.md")]

pub mod auth;
mod client;
mod contract;
pub mod error;
pub mod handler;
pub mod host;
pub mod http;
mod listen;
mod param_headers;
mod sse_legacy;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transport;
mod typed;

pub use auth::OAuthConfig;
pub use client::{Client, ClientBuilder, EraChoice, ServerSession, ToolCall};
pub use error::{Error, Result};
pub use handler::{Change, ClientHandler, HandlerCapabilities, NoHandler};
pub use host::{Host, HostBuilder, HostError, HostEvent, HostToolCall, Upstream, UpstreamTask};
pub use http::HttpServer;
pub use listen::{Listener, Subscription};
pub use mcp_core::contract::ToolContract;
pub use mcp_macros::client;
pub use transport::{DEFAULT_INHERITED_ENV, StderrMode, StdioServer, Transport};
#[doc(hidden)]
pub use typed::{__private, Expect};

/// The protocol crate.
pub use mcp_core;
/// The protocol types ([`mcp_core::types`]).
pub use mcp_core::types;
