//! Enforcement of the declared [`Policy`] of every tool, resource and prompt: who may see and use
//! it, how often, how many at once, for how long, and with how much data.
//!
//! # When authorization is on
//!
//! Authorization is on for a request when the server requires it
//! ([`crate::Server::require_authorization`]) or when the request carries an authenticated
//! [`Identity`] (a bearer token, a client certificate, or the identity configured for stdio).
//! Then, failing closed:
//!
//! - an unauthenticated request is refused;
//! - an item that declares no policy (neither `scopes`, `roles` nor `public`) is denied;
//! - the caller needs every declared scope and, when roles are declared, one of them;
//! - a tool whose annotations do not say it is harmless (by the specification's defaults a tool
//!   is destructive unless `readOnlyHint` is true or `destructiveHint` is false) must declare a
//!   scope or a role: `public` is not enough to expose it;
//! - what the caller may not use is absent from every list, and refused when asked for.
//!
//! Without authorization, scopes and roles are not checked (there is no one to check them
//! against); the limits below apply in both cases.
//!
//! # Limits
//!
//! Rate limits count per principal (the subject, or `anonymous`), per item. The concurrency
//! limit bounds the calls of an item running at once across the server (others wait, within
//! the timeout). The timeout bounds a call from the moment it is admitted. Arguments and
//! results are measured as JSON bytes. A server-wide default policy
//! ([`crate::Server::default_policy`]) fills in every limit an item leaves unset.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mcp_core::types::Tool;
use mcp_core::{ErrorCode, ErrorObject};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::access::{Access, Item, ItemKind, stronger};
use crate::identity::Identity;
use crate::policy::{Approval, Limiter, Policy};

/// The JSON-RPC error code of a request the policy refuses (implementation-defined range).
/// `data.reason` says why: `unauthenticated`, `insufficient_scope` (with `data.scopes`),
/// `forbidden`, `undeclared`, `rate_limited` (with `data.retryAfterMs`), and for a task over
/// the caller's quota `task_quota` (with `data.limit`).
pub const ACCESS_DENIED: ErrorCode = ErrorCode(-32003);

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// Authorization is required and the request carries no identity.
    Unauthenticated,
    /// The caller lacks scopes; all the item's scopes are named.
    InsufficientScope(Vec<String>),
    /// The caller has none of the item's roles.
    Forbidden(Vec<String>),
    /// The item declares no policy and authorization is on.
    Undeclared,
    /// A tool that may be destructive declares neither scope nor role.
    DestructiveWithoutScope,
    /// Over the rate limit; try again after this long.
    RateLimited(Duration),
    /// The arguments are larger than allowed.
    ArgumentsTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The server's [`AccessControl`](crate::access::AccessControl) refused, for this reason.
    Refused(&'static str),
    /// The rate limit is kept in the store shared by the server's replicas, which could not be
    /// reached: refused rather than let through uncounted ([`crate::store`]).
    StoreUnavailable,
}

impl Denial {
    /// A short machine-readable reason, as in audit records and `data.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Denial::Unauthenticated => "unauthenticated",
            Denial::InsufficientScope(_) => "insufficient_scope",
            Denial::Forbidden(_) => "forbidden",
            Denial::Undeclared => "undeclared",
            Denial::DestructiveWithoutScope => "destructive_without_scope",
            Denial::RateLimited(_) => "rate_limited",
            Denial::ArgumentsTooLarge { .. } => "arguments_too_large",
            Denial::Refused(reason) => reason,
            Denial::StoreUnavailable => "store_unavailable",
        }
    }

    /// The JSON-RPC error the client receives.
    pub fn to_error_object(&self, kind: &str, name: &str) -> ErrorObject {
        let reason = self.reason();
        match self {
            Denial::ArgumentsTooLarge { limit } => ErrorObject::invalid_params(format!(
                "the arguments of {kind} `{name}` exceed {limit} bytes"
            ))
            .with_data(serde_json::json!({ "reason": reason, "limit": limit })),
            Denial::InsufficientScope(scopes) => ErrorObject::new(
                ACCESS_DENIED,
                format!(
                    "access denied to {kind} `{name}`: it needs the scope {}",
                    scopes.join(" ")
                ),
            )
            .with_data(serde_json::json!({ "reason": reason, "scopes": scopes })),
            Denial::RateLimited(wait) => ErrorObject::new(
                ACCESS_DENIED,
                format!("too many calls of {kind} `{name}`: try again later"),
            )
            .with_data(serde_json::json!({
                "reason": reason,
                "retryAfterMs": u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            })),
            Denial::StoreUnavailable => ErrorObject::new(
                crate::store::STORE_UNAVAILABLE,
                format!(
                    "{kind} `{name}` is rate limited across the server's replicas, and their shared state is unavailable: try again shortly"
                ),
            )
            .with_data(serde_json::json!({ "reason": reason })),
            _ => ErrorObject::new(ACCESS_DENIED, format!("access denied to {kind} `{name}`"))
                .with_data(serde_json::json!({ "reason": reason })),
        }
    }
}

/// The server-wide settings of admission.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub(crate) require_authorization: bool,
    pub(crate) defaults: Policy,
    /// Access decided per caller ([`crate::Server::access_control`]).
    pub(crate) access: Option<crate::access::AccessHook>,
    /// Where rate-limit buckets are kept when replicas share them ([`crate::Server::store`]).
    pub(crate) store: Option<Arc<dyn crate::store::Store>>,
}

/// The declared policy of one item, with the state that enforces it (rate limiter, concurrency
/// semaphore; built at first use, when the server-wide defaults are known).
pub(crate) struct ItemPolicy {
    declared: Policy,
    /// Whether the item may be destructive (tools only).
    destructive: bool,
    /// The item's kind and registered name, for the access control.
    item: Option<(ItemKind, String)>,
    state: OnceLock<Limits>,
}

struct Limits {
    policy: Policy,
    limiter: Option<Limiter>,
    concurrency: Option<Arc<Semaphore>>,
}

/// What a call holds while it runs: its concurrency permit.
pub(crate) struct Admission {
    _permit: Option<OwnedSemaphorePermit>,
    /// How long the call may run.
    pub(crate) timeout: Option<Duration>,
    /// The largest result, in bytes of JSON.
    pub(crate) max_result_bytes: Option<usize>,
    /// The approval a call needs: the declared one, or the access control's when stronger.
    pub(crate) approval: Approval,
    /// What the access control's `enter` admitted it with, for the handler.
    pub(crate) entered: Option<Box<dyn std::any::Any + Send>>,
}

/// Whether a tool may change or destroy things, by its annotations and the specification's
/// defaults (`readOnlyHint` false, `destructiveHint` true).
pub(crate) fn may_destroy(tool: &Tool) -> bool {
    let a = tool.annotations.as_ref();
    let read_only = a.and_then(|a| a.read_only_hint).unwrap_or(false);
    let destructive = a.and_then(|a| a.destructive_hint).unwrap_or(true);
    !read_only && destructive
}

impl ItemPolicy {
    pub(crate) fn new(declared: Policy, destructive: bool) -> Self {
        ItemPolicy {
            declared,
            destructive,
            item: None,
            state: OnceLock::new(),
        }
    }

    /// The item this guard protects, as the access control is asked about it.
    pub(crate) fn for_item(mut self, kind: ItemKind, name: &str) -> Self {
        self.item = Some((kind, name.to_owned()));
        self
    }

    fn limits(&self, settings: &Settings) -> &Limits {
        self.state.get_or_init(|| {
            let policy = effective(&self.declared, &settings.defaults);
            let limiter = policy.rate_limit.and_then(Limiter::new);
            let concurrency = policy
                .max_concurrency
                .map(|n| Arc::new(Semaphore::new(n.max(1) as usize)));
            Limits {
                policy,
                limiter,
                concurrency,
            }
        })
    }

    /// The policy in force: the declared one, with unset limits from the defaults.
    pub(crate) fn in_force(&self, settings: &Settings) -> &Policy {
        &self.limits(settings).policy
    }

    /// Whether `identity` may see and use the item (scopes, roles, fail-closed rules).
    pub(crate) fn access(
        &self,
        settings: &Settings,
        identity: Option<&Identity>,
    ) -> Result<(), Denial> {
        self.decide(settings, identity, false).map(|_| ())
    }

    /// [`ItemPolicy::access`], with the approval the access control asks for when it decided.
    fn decide(
        &self,
        settings: &Settings,
        identity: Option<&Identity>,
        admitting: bool,
    ) -> Result<Option<Approval>, Denial> {
        if settings.require_authorization && identity.is_none() {
            return Err(Denial::Unauthenticated);
        }
        if let (Some(hook), Some((kind, name))) = (&settings.access, &self.item) {
            let item = Item { kind: *kind, name };
            let access = if admitting {
                hook.0.admit(identity, &item)
            } else {
                hook.0.decide(identity, &item)
            };
            match access {
                Access::Declared => {}
                Access::Allow { approval } => return Ok(Some(approval)),
                Access::Deny(reason) => return Err(Denial::Refused(reason)),
            }
        }
        let Some(identity) = identity else {
            return Ok(None);
        };
        let p = &self.declared;
        if !p.declared {
            return Err(Denial::Undeclared);
        }
        if self.destructive && p.scopes.is_empty() && p.roles.is_empty() {
            return Err(Denial::DestructiveWithoutScope);
        }
        if !p.scopes.iter().all(|s| identity.has_scope(s)) {
            return Err(Denial::InsufficientScope(p.scopes.clone()));
        }
        if !p.roles.is_empty() && !p.roles.iter().any(|r| identity.has_role(r)) {
            return Err(Denial::Forbidden(p.roles.clone()));
        }
        Ok(None)
    }

    /// Admits a call: access, argument size and rate limit; then waits for a concurrency
    /// permit (within the timeout). The size of the arguments is measured only when the policy
    /// limits it.
    pub(crate) async fn admit(
        &self,
        settings: &Settings,
        identity: Option<&Identity>,
        arguments_bytes: impl FnOnce() -> usize,
    ) -> Result<Admission, AdmitError> {
        let decided = self.decide(settings, identity, true)?;
        let limits = self.limits(settings);
        let policy = &limits.policy;
        if let Some(limit) = policy.max_argument_bytes
            && arguments_bytes() > limit
        {
            return Err(Denial::ArgumentsTooLarge { limit }.into());
        }
        if let Some(limiter) = &limits.limiter {
            // Per principal (issuer and subject); unauthenticated callers share `[]`, which no
            // principal's key can be. With replicas, one bucket per item and principal in the
            // store they share.
            let principal =
                identity.map_or(std::borrow::Cow::Borrowed("[]"), |i| i.principal_key());
            let bucket = settings.store.as_ref().map(|store| {
                let item = self
                    .item
                    .as_ref()
                    .map_or_else(String::new, |(kind, name)| format!("{kind:?}:{name}"));
                (store.as_ref(), format!("rate:{item}"))
            });
            let shared = bucket.as_ref().map(|(store, name)| (*store, name.as_str()));
            match limiter.check(&principal, shared).await {
                Ok(Ok(())) => {}
                Ok(Err(wait)) => return Err(Denial::RateLimited(wait).into()),
                Err(e) => {
                    tracing::warn!(error = %e, "a rate-limited call was refused: the shared store is unavailable");
                    return Err(Denial::StoreUnavailable.into());
                }
            }
        }
        let permit = match &limits.concurrency {
            None => None,
            Some(sem) => {
                let acquire = sem.clone().acquire_owned();
                let permit = match policy.timeout {
                    Some(t) => tokio::time::timeout(t, acquire)
                        .await
                        .map_err(|_| AdmitError::Busy)?,
                    None => acquire.await,
                };
                Some(permit.map_err(|_| AdmitError::Busy)?)
            }
        };
        Ok(Admission {
            _permit: permit,
            timeout: policy.timeout,
            max_result_bytes: policy.max_result_bytes,
            approval: decided.map_or(policy.approval, |a| stronger(a, policy.approval)),
            entered: None,
        })
    }
}

/// Why a call was not admitted.
#[derive(Debug)]
pub(crate) enum AdmitError {
    /// The policy refuses it.
    Denied(Denial),
    /// Every concurrency slot stayed busy for the whole timeout.
    Busy,
}

impl From<Denial> for AdmitError {
    fn from(d: Denial) -> Self {
        AdmitError::Denied(d)
    }
}

/// The declared policy with unset limits taken from `defaults`.
fn effective(declared: &Policy, defaults: &Policy) -> Policy {
    let mut p = declared.clone();
    p.rate_limit = p.rate_limit.or(defaults.rate_limit);
    p.max_concurrency = p.max_concurrency.or(defaults.max_concurrency);
    p.timeout = p.timeout.or(defaults.timeout);
    p.max_argument_bytes = p.max_argument_bytes.or(defaults.max_argument_bytes);
    p.max_result_bytes = p.max_result_bytes.or(defaults.max_result_bytes);
    if p.approval == crate::policy::Approval::None {
        p.approval = defaults.approval;
    }
    for s in &defaults.sensitive {
        if !p.sensitive.contains(s) {
            p.sensitive.push(s.clone());
        }
    }
    p
}

/// The size of arguments as JSON.
pub(crate) fn json_size(arguments: &impl serde::Serialize) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter(0);
    let _ = serde_json::to_writer(&mut c, arguments);
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RateLimit;

    fn scoped(scopes: &[&str]) -> Policy {
        Policy {
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            declared: true,
            ..Policy::default()
        }
    }

    fn on() -> Settings {
        Settings {
            require_authorization: true,
            defaults: Policy::default(),
            access: None,
            store: None,
        }
    }

    #[test]
    fn access_fails_closed() {
        let alice = Identity::configured("alice").with_scopes(["kpi:read"]);
        let off = Settings::default();
        // Without authorization and identity, nothing is checked.
        assert_eq!(
            ItemPolicy::new(Policy::default(), true).access(&off, None),
            Ok(())
        );
        // Required: no identity is refused.
        assert_eq!(
            ItemPolicy::new(Policy::public(), false).access(&on(), None),
            Err(Denial::Unauthenticated)
        );
        // An identity turns checks on, even when not required.
        assert_eq!(
            ItemPolicy::new(Policy::default(), false).access(&off, Some(&alice)),
            Err(Denial::Undeclared)
        );
        assert_eq!(
            ItemPolicy::new(Policy::public(), true).access(&on(), Some(&alice)),
            Err(Denial::DestructiveWithoutScope)
        );
        assert_eq!(
            ItemPolicy::new(Policy::public(), false).access(&on(), Some(&alice)),
            Ok(())
        );
        assert_eq!(
            ItemPolicy::new(scoped(&["kpi:read"]), true).access(&on(), Some(&alice)),
            Ok(())
        );
        assert_eq!(
            ItemPolicy::new(scoped(&["kpi:read", "kpi:write"]), true).access(&on(), Some(&alice)),
            Err(Denial::InsufficientScope(vec![
                "kpi:read".into(),
                "kpi:write".into()
            ]))
        );
        let admins = Policy {
            roles: vec!["admin".into()],
            declared: true,
            ..Policy::default()
        };
        assert_eq!(
            ItemPolicy::new(admins.clone(), true).access(&on(), Some(&alice)),
            Err(Denial::Forbidden(vec!["admin".into()]))
        );
        let root = alice.clone().with_roles(["admin"]);
        assert_eq!(
            ItemPolicy::new(admins, true).access(&on(), Some(&root)),
            Ok(())
        );
    }

    #[tokio::test]
    async fn limits_apply_per_principal() {
        let policy = Policy {
            rate_limit: RateLimit::parse("2/min"),
            max_argument_bytes: Some(10),
            ..Policy::public()
        };
        let item = ItemPolicy::new(policy, false);
        let off = Settings::default();
        let alice = Identity::configured("alice");
        let bob = Identity::configured("bob");
        assert!(item.admit(&off, Some(&alice), || 5).await.is_ok());
        assert!(item.admit(&off, Some(&alice), || 5).await.is_ok());
        match item.admit(&off, Some(&alice), || 5).await {
            Err(AdmitError::Denied(Denial::RateLimited(wait))) => {
                assert!(wait > Duration::ZERO);
            }
            other => panic!("expected a rate limit, got {:?}", other.err()),
        }
        // Another principal has its own budget.
        assert!(item.admit(&off, Some(&bob), || 5).await.is_ok());
        assert!(matches!(
            item.admit(&off, Some(&bob), || 11).await,
            Err(AdmitError::Denied(Denial::ArgumentsTooLarge { limit: 10 }))
        ));
    }

    #[tokio::test]
    async fn concurrency_waits_within_the_timeout() {
        let policy = Policy {
            max_concurrency: Some(1),
            timeout: Some(Duration::from_millis(50)),
            ..Policy::public()
        };
        let item = ItemPolicy::new(policy, false);
        let off = Settings::default();
        let first = item.admit(&off, None, || 0).await.expect("admitted");
        assert!(matches!(
            item.admit(&off, None, || 0).await,
            Err(AdmitError::Busy)
        ));
        drop(first);
        assert!(item.admit(&off, None, || 0).await.is_ok());
    }

    #[test]
    fn defaults_fill_unset_limits() {
        let defaults = Policy {
            timeout: Some(Duration::from_secs(30)),
            max_result_bytes: Some(1 << 20),
            sensitive: vec!["password".into()],
            ..Policy::default()
        };
        let declared = Policy {
            timeout: Some(Duration::from_secs(5)),
            ..Policy::public()
        };
        let p = effective(&declared, &defaults);
        assert_eq!(p.timeout, Some(Duration::from_secs(5)));
        assert_eq!(p.max_result_bytes, Some(1 << 20));
        assert_eq!(p.sensitive, vec!["password".to_owned()]);
        assert!(p.declared);
    }
}
