//! The policy rules, compiled: who may see and call which upstream item, with which approval
//! and limits.
//!
//! For one caller and one item, the rules that *match* are those whose patterns for the item's
//! kind match its namespaced name (or, for a rule scoped to `upstreams`, whose upstream patterns
//! match the item's upstream and whose item patterns match the name it has there) and whose
//! conditions (roles, scopes, claims, environments) hold. Then:
//!
//! - a matching `deny` rule denies (deny wins over every allow);
//! - without a matching `allow` rule the item is denied (fail closed);
//! - otherwise it is allowed. A call needs the strongest `approval` of the matching allow rules;
//!   when none of them sets one, an upstream tool whose annotations do not say read-only needs
//!   approval (unless `approval_unless_read_only = false`).
//!
//! Listing and calling ask the same question ([`RuleSet::decide`]), so an item is listed exactly
//! when it is callable. The limits of every matching allow rule apply to a call.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use mcp_core::{ErrorCode, ErrorObject};
use mcp_server::access::{Access, AccessControl, Item, ItemKind};
use mcp_server::policy::Limiter;
use mcp_server::{Approval, Identity, RateLimit};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{ApprovalConfig, Effect, Rule};

/// The JSON-RPC error code of a refused call (as the server's own policy refusals).
pub const ACCESS_DENIED: ErrorCode = ErrorCode(-32003);

/// `data.reason` of an item a deny rule matches.
pub const DENIED_BY_RULE: &str = "denied_by_rule";
/// `data.reason` of an item no allow rule matches.
pub const NO_RULE_ALLOWS: &str = "no_rule_allows";

/// One rule, with its patterns compiled and the state of its limits.
pub struct CompiledRule {
    rule: Rule,
    /// The upstreams it is scoped to, if any: its item patterns then match the names items
    /// have there.
    upstreams: Option<GlobSet>,
    tools: GlobSet,
    prompts: GlobSet,
    resources: GlobSet,
    /// Its rate limit per principal (kept in the shared store when there is one).
    limiter: Option<Arc<Limiter>>,
    /// The name of its buckets in the shared store: from what the rule says, not where it
    /// stands, so that a rule added before it does not take them over.
    bucket: String,
    concurrency: Option<Arc<Semaphore>>,
}

impl std::fmt::Debug for CompiledRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledRule")
            .field("rule", &self.rule)
            .finish_non_exhaustive()
    }
}

fn globs(patterns: &[String], field: &'static str) -> Result<GlobSet, RuleError> {
    let mut b = GlobSetBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        let glob = Glob::new(p)
            .map_err(|e| (field, Some(i), format!("bad pattern `{p}`: {}", e.kind())))?;
        b.add(glob);
    }
    b.build().map_err(|e| (field, None, e.to_string()))
}

/// Which field of a rule is wrong (and which element of it), and why.
pub(crate) type RuleError = (&'static str, Option<usize>, String);

impl CompiledRule {
    /// Compiles a rule, or says which field is wrong.
    pub(crate) fn compile(rule: &Rule) -> Result<CompiledRule, RuleError> {
        if rule.tools.is_empty() && rule.prompts.is_empty() && rule.resources.is_empty() {
            return Err((
                "tools",
                None,
                "the rule matches nothing: give `tools`, `prompts` or `resources` patterns".into(),
            ));
        }
        for (field, patterns) in [("tools", &rule.tools), ("prompts", &rule.prompts)] {
            if let Some((i, p)) = patterns
                .iter()
                .enumerate()
                .find(|(_, p)| p.starts_with('^') || p.ends_with('$'))
            {
                return Err((
                    field,
                    Some(i),
                    format!(
                        "`{p}` looks like a regular expression, and patterns are globs (`*` any \
                         characters, `?` one, `[abc]` one of them): as it is, it matches no name"
                    ),
                ));
            }
        }
        if rule.tools.is_empty() && matches!(rule.approval, Some(a) if a != ApprovalConfig::None) {
            return Err((
                "approval",
                None,
                "approval is asked of tool calls, and the rule has no `tools` patterns: resource \
                 reads and prompts are not held for approval (give the rule `tools`, or deny \
                 what needs a human)"
                    .into(),
            ));
        }
        let limiter = match &rule.rate_limit {
            None => None,
            Some(s) => {
                let r = RateLimit::parse(s).ok_or_else(|| {
                    (
                        "rate_limit",
                        None,
                        format!("`{s}` is not a rate: expected `N/s`, `N/min`, `N/h` or `N/day`"),
                    )
                })?;
                Some(Arc::new(Limiter::new(r).ok_or_else(|| {
                    ("rate_limit", None, format!("`{s}` is too fast"))
                })?))
            }
        };
        if rule.max_concurrency == Some(0) {
            return Err(("max_concurrency", None, "must be at least 1".into()));
        }
        if rule.timeout_ms == Some(0) {
            return Err(("timeout_ms", None, "must be at least 1".into()));
        }
        if rule.effect == Effect::Deny
            && (rule.approval.is_some()
                || rule.rate_limit.is_some()
                || rule.max_concurrency.is_some()
                || rule.timeout_ms.is_some()
                || rule.max_argument_bytes.is_some()
                || rule.max_result_bytes.is_some())
        {
            return Err((
                "effect",
                None,
                "a deny rule takes no approval or limits (they would never apply)".into(),
            ));
        }
        Ok(CompiledRule {
            upstreams: if rule.upstreams.is_empty() {
                None
            } else {
                Some(globs(&rule.upstreams, "upstreams")?)
            },
            tools: globs(&rule.tools, "tools")?,
            prompts: globs(&rule.prompts, "prompts")?,
            resources: globs(&rule.resources, "resources")?,
            limiter,
            bucket: String::new(),
            concurrency: rule
                .max_concurrency
                .map(|n| Arc::new(Semaphore::new(n as usize))),
            rule: rule.clone(),
        })
    }

    /// The rule as configured.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    fn patterns(&self, kind: ItemKind) -> &GlobSet {
        match kind {
            ItemKind::Tool => &self.tools,
            ItemKind::Prompt => &self.prompts,
            _ => &self.resources,
        }
    }

    /// Whether the rule matches this caller and item.
    pub fn matches(&self, identity: Option<&Identity>, item: &ItemInfo<'_>) -> bool {
        let r = &self.rule;
        let name = match &self.upstreams {
            None => item.name,
            Some(upstreams) if upstreams.is_match(item.upstream) => item.original,
            Some(_) => return false,
        };
        if !self.patterns(item.kind).is_match(name) {
            return false;
        }
        if !r.roles.is_empty() && !identity.is_some_and(|id| r.roles.iter().any(|x| id.has_role(x)))
        {
            return false;
        }
        if !r.scopes.is_empty()
            && !identity.is_some_and(|id| r.scopes.iter().all(|s| id.has_scope(s)))
        {
            return false;
        }
        if !r.claims.iter().all(|(k, v)| claim_has(identity, k, v)) {
            return false;
        }
        if !r.environments.is_empty()
            && !item
                .environment
                .is_some_and(|e| r.environments.iter().any(|x| x == e))
        {
            return false;
        }
        if let Some(claim) = &r.environment_claim
            && !item
                .environment
                .is_some_and(|e| claim_has(identity, claim, e))
        {
            return false;
        }
        true
    }
}

/// Whether the caller's claim `name` is `value`, or an array holding it.
fn claim_has(identity: Option<&Identity>, name: &str, value: &str) -> bool {
    let Some(claim) = identity.and_then(|id| id.claims().get(name)) else {
        return false;
    };
    let is = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s == value,
        serde_json::Value::Bool(b) => value.parse::<bool>() == Ok(*b),
        serde_json::Value::Number(n) => {
            value.parse::<serde_json::Number>().ok().as_ref() == Some(n)
        }
        _ => false,
    };
    match claim {
        serde_json::Value::Array(items) => items.iter().any(is),
        other => is(other),
    }
}

/// What the rules need to know about an item.
#[derive(Debug, Clone, Copy)]
pub struct ItemInfo<'a> {
    /// Its kind.
    pub kind: ItemKind,
    /// Its namespaced name (a URI or URI template for resources).
    pub name: &'a str,
    /// The upstream that serves it.
    pub upstream: &'a str,
    /// Its name (URI, URI template) there, as the upstream lists it.
    pub original: &'a str,
    /// The environment label of its upstream.
    pub environment: Option<&'a str>,
    /// Whether its annotations say it is read-only (tools).
    pub read_only: bool,
}

/// The decision for one caller and one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Listed and callable, with this approval; the matching allow rules (by index) limit calls.
    Allow {
        /// The approval a call needs.
        approval: Approval,
        /// The matching allow rules.
        rules: Vec<usize>,
    },
    /// Neither listed nor callable.
    Deny {
        /// [`DENIED_BY_RULE`] or [`NO_RULE_ALLOWS`].
        reason: &'static str,
        /// The deny rule that matched.
        rule: Option<usize>,
    },
}

/// The compiled rules of a configuration.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    approval_unless_read_only: bool,
}

fn approval_of(a: ApprovalConfig) -> Approval {
    match a {
        ApprovalConfig::None => Approval::None,
        ApprovalConfig::Required => Approval::Required,
        ApprovalConfig::OutOfBand => Approval::OutOfBand,
    }
}

fn rank(a: Approval) -> u8 {
    match a {
        Approval::None => 0,
        Approval::Required => 1,
        _ => 2,
    }
}

impl RuleSet {
    /// Compiles rules (already checked by [`crate::Config::load`]).
    pub fn new(rules: &[Rule], approval_unless_read_only: bool) -> Result<RuleSet, String> {
        let mut compiled: Vec<CompiledRule> = Vec::with_capacity(rules.len());
        for (i, r) in rules.iter().enumerate() {
            let mut rule = CompiledRule::compile(r)
                .map_err(|(field, _, m)| format!("rules[{i}].{field}: {m}"))?;
            // The same rule twice keeps two sets of buckets.
            let twin = compiled.iter().filter(|c| c.rule == *r).count();
            let digest =
                mcp_server::approval::arguments_hash(&serde_json::Value::String(format!("{r:?}")));
            rule.bucket = format!("gw-rate:{}:{twin}", &digest[..16]);
            compiled.push(rule);
        }
        let rules = compiled;
        Ok(RuleSet {
            rules,
            approval_unless_read_only,
        })
    }

    /// These rules, with the state of their limits taken over from `old` (the rules before a
    /// reload): a rule configured exactly as one of `old`'s keeps its rate buckets and its
    /// concurrency slots. A reload (`SIGHUP`, which log rotation sends too) then neither
    /// refills every bucket nor lets a rule's calls in flight and the new ones run twice its
    /// `max_concurrency`; a rule whose text changed starts afresh.
    #[must_use]
    pub fn carry_over(mut self, old: &RuleSet) -> RuleSet {
        let mut taken = vec![false; old.rules.len()];
        for rule in &mut self.rules {
            let same = (0..old.rules.len()).find(|&i| !taken[i] && old.rules[i].rule == rule.rule);
            if let Some(i) = same {
                taken[i] = true;
                rule.limiter.clone_from(&old.rules[i].limiter);
                rule.concurrency.clone_from(&old.rules[i].concurrency);
            }
        }
        self
    }

    /// The rules.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// Decides for one caller and one item.
    pub fn decide(&self, identity: Option<&Identity>, item: &ItemInfo<'_>) -> Verdict {
        let mut allows = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.matches(identity, item) {
                continue;
            }
            match rule.rule.effect {
                Effect::Deny => {
                    return Verdict::Deny {
                        reason: DENIED_BY_RULE,
                        rule: Some(i),
                    };
                }
                Effect::Allow => allows.push(i),
            }
        }
        if allows.is_empty() {
            return Verdict::Deny {
                reason: NO_RULE_ALLOWS,
                rule: None,
            };
        }
        let explicit = allows
            .iter()
            .filter_map(|&i| self.rules[i].rule.approval.map(approval_of))
            .max_by_key(|a| rank(*a));
        let approval = explicit.unwrap_or(
            if item.kind == ItemKind::Tool && self.approval_unless_read_only && !item.read_only {
                Approval::Required
            } else {
                Approval::None
            },
        );
        Verdict::Allow {
            approval,
            rules: allows,
        }
    }

    /// Admits a call under the limits of `rules` (the matching allow rules): rate limits per
    /// principal, argument size, then a concurrency slot of each (waiting at most the timeout).
    pub(crate) async fn enter(
        &self,
        rules: &[usize],
        identity: Option<&Identity>,
        kind: &str,
        name: &str,
        argument_bytes: impl FnOnce() -> usize,
        store: Option<&dyn mcp_server::store::Store>,
    ) -> Result<Entered, mcp_server::Error> {
        let limits: Vec<&CompiledRule> = rules.iter().filter_map(|&i| self.rules.get(i)).collect();
        let timeout = limits.iter().filter_map(|r| r.rule.timeout()).min();
        let max_result_bytes = limits.iter().filter_map(|r| r.rule.max_result_bytes).min();
        if let Some(limit) = limits
            .iter()
            .filter_map(|r| r.rule.max_argument_bytes)
            .min()
            && argument_bytes() > limit
        {
            return Err(mcp_server::Error::protocol(
                ErrorObject::invalid_params(format!(
                    "the arguments of {kind} `{name}` exceed {limit} bytes"
                ))
                .with_data(serde_json::json!({ "reason": "arguments_too_large", "limit": limit })),
            ));
        }
        let key = identity.map_or_else(|| "[]".to_owned(), |i| i.principal().key().into_owned());
        for &index in rules {
            let Some(r) = self.rules.get(index) else {
                continue;
            };
            let Some(limiter) = &r.limiter else {
                continue;
            };
            // Across replicas: one bucket per rule and principal in the shared store.
            let shared = store.map(|store| (store, r.bucket.as_str()));
            let over = match limiter.check(&key, shared).await {
                Ok(verdict) => verdict.err(),
                Err(e) => {
                    tracing::warn!(error = %e, "a rate-limited call was refused: the shared store is unavailable");
                    return Err(mcp_server::Error::protocol(
                        ErrorObject::new(
                            mcp_server::store::STORE_UNAVAILABLE,
                            format!(
                                "{kind} `{name}` is rate limited across the gateway's replicas, and their shared state is unavailable: try again shortly"
                            ),
                        )
                        .with_data(serde_json::json!({ "reason": "store_unavailable" })),
                    ));
                }
            };
            if let Some(wait) = over {
                return Err(mcp_server::Error::protocol(
                    ErrorObject::new(
                        ACCESS_DENIED,
                        format!("too many calls of {kind} `{name}`: try again later"),
                    )
                    .with_data(serde_json::json!({
                        "reason": "rate_limited",
                        "retryAfterMs": u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    })),
                ));
            }
        }
        let mut permits = Vec::new();
        for r in &limits {
            if let Some(sem) = &r.concurrency {
                let acquire = sem.clone().acquire_owned();
                let permit = match timeout {
                    Some(t) => tokio::time::timeout(t, acquire).await.ok(),
                    None => Some(acquire.await),
                };
                match permit {
                    Some(Ok(p)) => permits.push(p),
                    _ => {
                        return Err(mcp_server::Error::public(format!(
                            "{kind} `{name}` is busy: try again later"
                        )));
                    }
                }
            }
        }
        Ok(Entered {
            _permits: permits,
            timeout,
            max_result_bytes,
        })
    }
}

/// A call admitted under its rules' limits; holds their concurrency slots.
pub(crate) struct Entered {
    _permits: Vec<OwnedSemaphorePermit>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_result_bytes: Option<usize>,
}

/// What the access control knows of a served item.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    /// The upstream that serves it, and its name there.
    pub(crate) upstream: String,
    pub(crate) original: String,
    pub(crate) environment: Option<String>,
    pub(crate) read_only: bool,
    /// Whether its annotations say it may destroy (tools; for the anomaly flags).
    pub(crate) destructive: bool,
}

/// The served items by kind and name: looked up by a borrowed name on every decision (a
/// `(kind, String)` key took a copy of the name per lookup).
#[derive(Debug, Default)]
pub(crate) struct ServedItems(HashMap<ItemKind, HashMap<String, Served>>);

impl ServedItems {
    pub(crate) fn insert(&mut self, kind: ItemKind, name: String, served: Served) {
        self.0.entry(kind).or_default().insert(name, served);
    }

    pub(crate) fn get(&self, kind: ItemKind, name: &str) -> Option<&Served> {
        self.0.get(&kind)?.get(name)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (ItemKind, &str, &Served)> {
        self.0.iter().flat_map(|(kind, items)| {
            items
                .iter()
                .map(move |(name, served)| (*kind, name.as_str(), served))
        })
    }
}

/// The rules and the served items, swapped as a whole on reload and on upstream changes.
pub(crate) struct Policy {
    pub(crate) rules: RwLock<Arc<RuleSet>>,
    pub(crate) items: RwLock<ServedItems>,
}

impl Policy {
    pub(crate) fn rules(&self) -> Arc<RuleSet> {
        self.rules.read().expect("not poisoned").clone()
    }

    /// Admits a call of a served item under the limits of the rules that allow it; one they
    /// deny (after a reload since its access was decided) is refused as access is.
    pub(crate) async fn enter(
        &self,
        identity: Option<&Identity>,
        kind: ItemKind,
        name: &str,
        argument_bytes: impl FnOnce() -> usize,
        store: Option<&dyn mcp_server::store::Store>,
    ) -> Result<Entered, mcp_server::Error> {
        let rules = self.rules();
        let label = match kind {
            ItemKind::Tool => "tool",
            ItemKind::Prompt => "prompt",
            _ => "resource",
        };
        match self.verdict(&rules, identity, kind, name) {
            Verdict::Allow { rules: allows, .. } => {
                rules
                    .enter(&allows, identity, label, name, argument_bytes, store)
                    .await
            }
            Verdict::Deny { reason, .. } => Err(mcp_server::Error::protocol(
                ErrorObject::new(ACCESS_DENIED, format!("access denied to {label} `{name}`"))
                    .with_data(serde_json::json!({ "reason": reason })),
            )),
        }
    }

    /// The verdict for a served item; an item the gateway does not serve is denied.
    pub(crate) fn verdict(
        &self,
        rules: &RuleSet,
        identity: Option<&Identity>,
        kind: ItemKind,
        name: &str,
    ) -> Verdict {
        let items = self.items.read().expect("not poisoned");
        let Some(served) = items.get(kind, name) else {
            return Verdict::Deny {
                reason: NO_RULE_ALLOWS,
                rule: None,
            };
        };
        let info = ItemInfo {
            kind: match kind {
                ItemKind::ResourceTemplate => ItemKind::Resource,
                k => k,
            },
            name,
            upstream: &served.upstream,
            original: &served.original,
            environment: served.environment.as_deref(),
            read_only: served.read_only,
        };
        rules.decide(identity, &info)
    }
}

/// The server's access control: every upstream item is decided by the rules; a tool call
/// admitted is watched by the anomaly flags.
pub(crate) struct RulesAccess {
    pub(crate) policy: Arc<Policy>,
    /// The store shared with other replicas: the rules' rate limits are kept there.
    pub(crate) store: Option<Arc<dyn mcp_server::store::Store>>,
    pub(crate) anomaly: Arc<RwLock<Option<Arc<crate::anomaly::Detector>>>>,
    pub(crate) audit: Option<mcp_server::audit::Audit>,
}

impl AccessControl for RulesAccess {
    /// A tool call's limits (rate, argument size, concurrency) are applied before it is held
    /// for approval: the handler takes the [`Entered`] admission from its context.
    fn enter<'a>(
        &'a self,
        cx: &'a mcp_server::Context,
        item: &'a Item<'a>,
        arguments: &'a mcp_server::types::JsonObject,
    ) -> Option<
        futures::future::BoxFuture<'a, Result<Box<dyn std::any::Any + Send>, mcp_server::Error>>,
    > {
        if item.kind != ItemKind::Tool {
            return None;
        }
        Some(Box::pin(async move {
            let size = || serde_json::to_vec(arguments).map_or(0, |v| v.len());
            let entered = self
                .policy
                .enter(
                    cx.identity(),
                    item.kind,
                    item.name,
                    size,
                    self.store.as_deref(),
                )
                .await?;
            Ok(Box::new(entered) as Box<dyn std::any::Any + Send>)
        }))
    }

    fn decide(&self, identity: Option<&Identity>, item: &Item<'_>) -> Access {
        match self
            .policy
            .verdict(&self.policy.rules(), identity, item.kind, item.name)
        {
            Verdict::Allow { approval, .. } => Access::Allow { approval },
            Verdict::Deny { reason, .. } => Access::Deny(reason),
        }
    }

    fn admit(&self, identity: Option<&Identity>, item: &Item<'_>) -> Access {
        use crate::config::FlagAction;
        use mcp_server::audit::{AuditKind, AuditRecord, Decision};
        let access = self.decide(identity, item);
        let Access::Allow { approval } = access else {
            return access;
        };
        if item.kind != ItemKind::Tool {
            return access;
        }
        let Some(detector) = self.anomaly.read().expect("not poisoned").clone() else {
            return access;
        };
        let principal =
            identity.map_or_else(|| "[]".to_owned(), |i| i.principal().key().into_owned());
        let flags = {
            let items = self.policy.items.read().expect("not poisoned");
            let served = items.get(ItemKind::Tool, item.name);
            let tool = crate::anomaly::Tool {
                name: item.name,
                origin: served.map(|s| (s.upstream.as_str(), s.original.as_str())),
                destructive: served.is_some_and(|s| s.destructive),
            };
            detector.check(&principal, &tool, tokio::time::Instant::now())
        };
        for f in &flags {
            tracing::warn!(principal = %principal, tool = item.name, flag = f.name, "anomaly flag");
            metrics::counter!("mcp_gateway_anomalies_total", "flag" => f.name).increment(1);
            if let Some(audit) = &self.audit {
                let decision = if f.action == FlagAction::Deny {
                    Decision::Deny
                } else {
                    Decision::Allow
                };
                audit.record(
                    &AuditRecord::new(AuditKind::Decision, "tools/call")
                        .with_principal(identity)
                        .with_item(item.name)
                        .with_decision(decision, Some(f.reason())),
                );
            }
        }
        match crate::anomaly::strongest(&flags) {
            FlagAction::Deny => {
                let reason = flags
                    .iter()
                    .find(|f| f.action == FlagAction::Deny)
                    .map_or("anomaly", |f| f.reason());
                Access::Deny(reason)
            }
            FlagAction::Approval if approval == Approval::None => Access::Allow {
                approval: Approval::Required,
            },
            _ => access,
        }
    }
}
