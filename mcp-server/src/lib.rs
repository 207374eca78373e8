#![doc = include_str!("../README.md")]

// Entry points. The public ways to serve (`Server::serve_stdio`, `serve_io`, `serve_channel`,
// `http::serve`, `McpService::serve`) are `async fn`s whose bodies only await a future boxed
// by a plain (non-`async`, non-generic) function of this crate. The future of an `async fn`
// counts as generic: a crate that awaits it compiles it again, and with it every future it
// awaits, which here is the whole runtime (the dispatcher, the pipeline, the sessions). Boxed
// here, a program polls the runtime compiled in this crate through a pointer: its own crate
// compiles its `main` and its tools (a two-tool stdio server: 339k lines of LLVM IR -> 31k,
// and a binary 1.5 MB smaller, since the runtime's spawned tasks kept this crate's copy too).

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
pub mod access;
pub mod admission;
pub mod approval;
pub mod audit;
mod channel;
pub mod context;
pub mod error;
#[cfg(feature = "filters")]
pub mod filter;
pub mod fs;
pub mod handler;
#[cfg(feature = "http")]
pub mod http;
pub mod identity;
mod lines;
pub mod metrics;
mod peer;
mod pipeline;
pub mod policy;
mod request_meta;
pub mod result;
pub mod schema;
mod server;
mod session;
mod shape;
mod state_token;
mod stdio;
pub mod store;
pub mod subscriptions;
mod tasks;
pub mod trace;
pub mod validate;

pub use audit::{Audit, AuditRecord, AuditSink};
pub use context::{Context, Elicitation, FromContext, Keyed, State};
pub use error::{Error, IntoHandlerError, RegisterError, Result};
pub use handler::{
    Handlers, IntoShared, PromptHandler, ResourceDefinition, ResourceHandler, ToolHandler,
};
pub use identity::{AuthMethod, Identity, Principal};
pub use policy::{Approval, Policy, RateLimit};
pub use server::{Server, ServerOptions};

pub use mcp_macros::{handlers, prompt, resource, tool};
pub use result::{IntoCompletion, IntoPromptResult, IntoResourceContents, IntoToolResult, Json};

/// The protocol crate.
pub use mcp_core;
/// The protocol types ([`mcp_core::types`]).
pub use mcp_core::types;
