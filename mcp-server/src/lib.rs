#![doc = include_str!("../README.md")]

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
pub mod metrics;
mod peer;
mod pipeline;
pub mod policy;
pub mod result;
pub mod schema;
mod server;
mod session;
mod shape;
mod state_token;
mod stdio;
pub mod store;
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
