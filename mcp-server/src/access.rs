//! Access decided per caller: a hook consulted whenever a list is filtered and whenever a call
//! is admitted, so that what a caller sees and what it may call never differ.
//!
//! An item's declared [`Policy`](crate::Policy) names scopes and roles once, for every caller.
//! Rules that depend on more than that (glob patterns over item names, the environment an item
//! belongs to, a claim of the caller's token) are an [`AccessControl`], set with
//! [`Server::access_control`](crate::Server::access_control). For each item and caller it
//! answers [`Access::Allow`] (with the approval the call needs), [`Access::Deny`], or
//! [`Access::Declared`] to leave the decision to the item's declared policy.
//!
//! The same answer filters `tools/list`, `resources/list`, `resources/templates/list`,
//! `prompts/list` and completion, and admits `tools/call`, `resources/read`,
//! `resources/subscribe` and `prompts/get`; a denied call is refused with -32003 and
//! `data.reason` the [`Access::Deny`] reason. The declared limits (rate, concurrency, timeout,
//! sizes) still apply to an allowed call, and an access control may add limits of its own per
//! caller with [`AccessControl::enter`], checked before any approval is asked.
//!
//! ```
//! use mcp_server::access::{Access, AccessControl, Item};
//! use mcp_server::{Approval, Identity, Server};
//!
//! /// Callers with the role `ops` may use everything; writes need approval.
//! struct OpsOnly;
//!
//! impl AccessControl for OpsOnly {
//!     fn decide(&self, identity: Option<&Identity>, item: &Item<'_>) -> Access {
//!         match identity {
//!             Some(id) if id.has_role("ops") => Access::Allow {
//!                 approval: if item.name.starts_with("write") { Approval::Required } else { Approval::None },
//!             },
//!             _ => Access::Deny("forbidden"),
//!         }
//!     }
//! }
//!
//! let server = Server::new("ops", "1.0.0").access_control(OpsOnly);
//! # let _ = server;
//! ```

use std::any::Any;

use futures::future::BoxFuture;
use mcp_core::types::JsonObject;

use crate::context::Context;
use crate::error::Error;
use crate::identity::Identity;
use crate::policy::Approval;

/// What kind of item is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// A tool (`tools/list`, `tools/call`).
    Tool,
    /// A resource with a fixed URI (`resources/list`, `resources/read`).
    Resource,
    /// A resource template (`resources/templates/list`, reads of URIs it matches).
    ResourceTemplate,
    /// A prompt (`prompts/list`, `prompts/get`).
    Prompt,
}

/// The item asked about: its kind and its registered name (a tool's or prompt's name, a
/// resource's URI, a template's URI template).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item<'a> {
    /// What kind of item.
    pub kind: ItemKind,
    /// Its registered name.
    pub name: &'a str,
}

/// The decision about one item for one caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The item's declared policy decides, as without an access control.
    Declared,
    /// The caller may see and use the item; a call needs this approval (at least what the item
    /// declares).
    Allow {
        /// The approval a call needs.
        approval: Approval,
    },
    /// The caller may neither see nor use the item; the reason is the refusal's `data.reason`
    /// and the audit record's.
    Deny(&'static str),
}

/// Decides per caller who may see and use each item; see the [module documentation](self).
///
/// Called for every item of every list and for every admitted request: keep it cheap (no I/O).
pub trait AccessControl: Send + Sync + 'static {
    /// The decision for `identity` (`None`: an unauthenticated caller) about `item`.
    fn decide(&self, identity: Option<&Identity>, item: &Item<'_>) -> Access;

    /// The decision when a call of `item` is admitted (not when lists are filtered): by default
    /// [`AccessControl::decide`]. An access control that watches calls (anomaly flags) may ask
    /// for a stronger approval here, or deny; it should never allow what `decide` denies, or the
    /// lists would hide something callable.
    fn admit(&self, identity: Option<&Identity>, item: &Item<'_>) -> Access {
        self.decide(identity, item)
    }

    /// Admits a call of the tool `item` that [`AccessControl::admit`] allowed, in the call
    /// pipeline's admit stage: after the declared policy's limits, before the arguments are
    /// validated and before any approval is asked. An access control with limits of its own
    /// per caller (a gateway's rules: rates, argument sizes, concurrency; state kept in a store
    /// shared between replicas) applies them here, so that nobody is asked to approve a call
    /// that would then be refused.
    ///
    /// `None` (the default): nothing more to check, and nothing is allocated. Otherwise the
    /// future's `Ok` value is kept until the call ends (a concurrency permit held with it) and
    /// handed to the handler, which takes it with [`Context::entered`]; its `Err` refuses the
    /// call: a JSON-RPC error as it is, any other error as a tool error, audited as a denial
    /// whose reason is the error's `data.reason` (else `busy`).
    fn enter<'a>(
        &'a self,
        cx: &'a Context,
        item: &'a Item<'a>,
        arguments: &'a JsonObject,
    ) -> Option<BoxFuture<'a, Result<Box<dyn Any + Send>, Error>>> {
        let _ = (cx, item, arguments);
        None
    }
}

/// The access control of a server, as its settings hold it.
#[derive(Clone)]
pub(crate) struct AccessHook(pub(crate) std::sync::Arc<dyn AccessControl>);

impl std::fmt::Debug for AccessHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessHook")
    }
}

/// The stronger of two approvals: out of band over required over none.
pub(crate) fn stronger(a: Approval, b: Approval) -> Approval {
    let rank = |x: Approval| match x {
        Approval::None => 0,
        Approval::Required => 1,
        Approval::OutOfBand => 2,
    };
    if rank(a) >= rank(b) { a } else { b }
}
