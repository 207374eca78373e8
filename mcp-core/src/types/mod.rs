//! Every message type of both eras: params, results, definitions and content.
//!
//! One Rust type serves every version: fields that only some versions have are `Option`s, and the
//! runtime leaves out what a peer's version does not know (see [`crate::version`]).

mod capabilities;
mod common;
mod completion;
mod content;
mod elicitation;
mod lifecycle;
mod logging;
mod mrtr;
mod notifications;
mod prompts;
mod resources;
mod roots;
mod sampling;
mod tasks;
mod tools;

pub use capabilities::*;
pub use common::*;
pub use completion::*;
pub use content::*;
pub use elicitation::*;
pub use lifecycle::*;
pub use logging::*;
pub use mrtr::*;
pub use notifications::*;
pub use prompts::*;
pub use resources::*;
pub use roots::*;
pub use sampling::*;
pub use tasks::*;
pub use tools::*;
