//! Result filters: what a tool returns, a resource holds or a prompt says is filtered before it
//! reaches the model.
//!
//! A [`Filters`] value is a list of [`Rule`]s, compiled once at start-up
//! ([`Filters::new`]: a rule that does not compile is an error naming it) and given to the
//! server with [`Server::filters`](crate::Server::filters). Every rule has
//!
//! - a **name**, which markers, errors and audit records use (never the value found);
//! - a **matcher** ([`Matcher`]): a built-in [`Detector`] of secrets (AWS and GCP keys, private
//!   key blocks, JWTs, bearer tokens, `password=`/`secret=` assignments, connection strings
//!   with credentials) or personal data (email addresses, phone numbers, payment card numbers
//!   checked with Luhn); a custom regular expression (the linear-time [`regex`] engine); a JSON
//!   pointer into structured content; a size cap per item; or a [`CustomDetector`] written in
//!   Rust;
//! - an **action** ([`Action`]): redact (the match becomes `[redacted:<rule>]`), drop the field
//!   (the content block, resource contents, prompt message or structured member that holds it),
//!   block the whole result (the model gets an error saying a policy withheld it), require a
//!   human's approval before the result is released, or truncate an item over the size cap
//!   (with a `[truncated:<rule>: N bytes]` marker);
//! - a **scope** ([`Scope`]): which tools, resources and prompts (globs), for which roles and
//!   scopes of the caller (or all but those), in which environments (the label given with
//!   [`Filters::environment`], or each item's own with [`Filters::environment_of`], as a
//!   gateway whose upstreams carry labels), for items of which upstreams (a gateway's:
//!   [`Filters::origin_of`]).
//!
//! Rules apply in their order to every text of the result: text content, embedded text
//! resources, every string in structured content (and, for a member's name such as `password`
//! or `aws_secret_access_key`, its whole string value), resource contents of `resources/read`
//! and the text of `prompts/get` messages. A text block that repeats the structured content as
//! JSON is rewritten from the filtered structured content. Binary content (images, audio,
//! blobs) is not inspected.
//!
//! For `tools/call` the filter runs as the call pipeline's `filter` stage, after `check` and
//! before `shape` (see [the crate's file map](crate#which-file-owns-what)), so it covers local
//! handlers and tools that forward to an upstream alike; `resources/read` and `prompts/get` run
//! the same filter before their results are shaped.
//!
//! # Guarantees
//!
//! - Structured content stays valid against the tool's output schema: a redacted string stays
//!   a string, and a result whose filtered structured content no longer validates (a dropped
//!   required member, a redacted value the schema constrains) is blocked.
//! - It fails closed: a rule that fails at run time (a [`CustomDetector`] that errs or returns
//!   ranges that are not in the text) blocks the result.
//! - Every result a rule fired on gets an audit record ([`AuditKind::Filter`]) naming the item,
//!   which rules fired and how many times ([`AuditRecord::filters`]), and whether the result
//!   was released; blocked and failed results are recorded as denied with the reason. Values
//!   are never recorded.
//!
//! Approval ([`Action::Approve`]) goes through the server's approval gate
//! ([`Server::approval`](crate::Server::approval)), as for a tool that requires approval: the
//! human is asked to release the result of this item for this caller, given the rules that
//! fired and how often. In the modern era, where asking ends the round with `input_required`,
//! the handler runs again on the next round and its result is released when it fires the same
//! rules as many times.
//!
//! Rules deserialize with serde (for a configuration file), for instance from TOML:
//!
//! ```toml
//! environment = "prod"
//!
//! [[rules]]
//! name = "cloud-keys"
//! detector = "aws_access_key_id"
//! action = "redact"
//!
//! [[rules]]
//! name = "ssn"
//! regex = '\b\d{3}-\d{2}-\d{4}\b'
//! action = "block"
//! tools = ["hr_*"]
//! except_roles = ["hr-admin"]
//!
//! [[rules]]
//! name = "cap"
//! max_bytes = 16384
//! action = "truncate"
//! ```
//!
//! and in code:
//!
//! ```
//! use mcp_server::filter::{Action, Detector, Filters, Rule};
//! use mcp_server::Server;
//!
//! let filters = Filters::new(
//!     Rule::builtin(Action::Redact)
//!         .into_iter()
//!         .chain([
//!             Rule::regex("ticket", r"TCK-\d{6}", Action::Redact).tools(["support_*"]),
//!             Rule::pointer("internal", "/debug", Action::Drop),
//!             Rule::max_bytes("cap", 16 * 1024),
//!         ]),
//! )
//! .expect("the rules compile")
//! .environment("prod");
//! let server = Server::new("demo", "1.0.0").filters(filters);
//! # let _ = server;
//! ```
//!
//! [`AuditKind::Filter`]: crate::audit::AuditKind::Filter
//! [`AuditRecord::filters`]: crate::audit::AuditRecord::filters

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use globset::{GlobSet, GlobSetBuilder};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Deserialize;

use crate::access::ItemKind as AccessKind;
use crate::identity::Identity;

mod apply;
mod detect;
pub(crate) mod release;

pub(crate) use apply::{Halt, Pass};
pub use detect::Detector;

/// How large a compiled custom pattern may grow (bytes), as for schema patterns.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One filter rule: a name, what it looks for, what it does, where it applies.
#[derive(Debug, Clone, Deserialize)]
pub struct Rule {
    /// The rule's name: in markers, errors and audit records.
    pub name: String,
    /// What it looks for.
    #[serde(flatten)]
    pub matcher: Matcher,
    /// What it does with what it finds.
    pub action: Action,
    /// Where it applies (everywhere by default).
    #[serde(flatten)]
    pub scope: Scope,
}

/// What a rule looks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Matcher {
    /// A built-in detector.
    Detector(Detector),
    /// A regular expression (the [`regex`] crate's syntax, linear time), found in every text.
    Regex(String),
    /// A JSON pointer (RFC 6901) into structured content: the value there, if any.
    Pointer(String),
    /// Any text item longer than this many bytes (with [`Action::Truncate`] or
    /// [`Action::Block`]).
    MaxBytes(usize),
    /// A detector written in Rust (not available in configuration files).
    #[serde(skip_deserializing)]
    Custom(Custom),
}

/// A detector written in Rust, for [`Matcher::Custom`].
pub trait CustomDetector: Send + Sync + 'static {
    /// The byte ranges of `text` it finds, in order and not overlapping, each on character
    /// boundaries. An error (or ranges that break these rules) blocks the result: the filter
    /// fails closed. The error is logged, not audited: do not put the text in it.
    fn find(&self, text: &str) -> Result<Vec<Range<usize>>, String>;
}

/// A [`CustomDetector`], shared.
#[derive(Clone)]
pub struct Custom(pub Arc<dyn CustomDetector>);

impl fmt::Debug for Custom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Custom(..)")
    }
}

/// What a rule does with what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// Replaces each match with `[redacted:<rule>]`; a pointer's value becomes that string.
    Redact,
    /// Removes what holds the match: the content block, the resource contents, the prompt
    /// message, the structured member or array element. A structured result that no longer
    /// fits its output schema without it is blocked.
    Drop,
    /// Withholds the whole result: the model gets an error saying a policy withheld it.
    Block,
    /// Releases the result (filtered by the other rules) only when a human approves.
    Approve,
    /// Cuts an item over [`Matcher::MaxBytes`] to that size and appends
    /// `[truncated:<rule>: N bytes]` (N: how many were cut).
    Truncate,
}

/// Where a rule applies. Empty lists do not restrict.
///
/// With none of `tools`, `resources` and `prompts` given, a rule applies to every tool result,
/// resource and prompt; with any given, only to the items they name (globs: `*`, `?`,
/// `[a-z]`, `{a,b}`; resources by URI).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Scope {
    /// The tools whose results it filters.
    pub tools: Option<Vec<String>>,
    /// The resources (URIs) whose contents it filters.
    pub resources: Option<Vec<String>>,
    /// The prompts whose messages it filters.
    pub prompts: Option<Vec<String>>,
    /// Applies only to callers with one of these roles.
    pub roles: Vec<String>,
    /// Never applies to callers with one of these roles.
    pub except_roles: Vec<String>,
    /// Applies only to callers granted one of these scopes (a token's `scope`).
    pub scopes: Vec<String>,
    /// Never applies to callers granted one of these scopes: `except_scopes = ["pii:read"]`
    /// shows personal data to the callers whose token says they may read it.
    pub except_scopes: Vec<String>,
    /// Applies only in these environments (the item's, [`Filters::environment_of`], else the
    /// server's, [`Filters::environment`]); an item without an environment label gets it
    /// everywhere (fails closed).
    pub environments: Vec<String>,
    /// Applies only to items served from these upstreams (globs over their names, as
    /// [`Filters::origin_of`] tells an item's); `tools`, `resources` and `prompts` then match
    /// the names the items have there (`read_file`, not a gateway's `fs__read_file`). An item
    /// without an upstream (a server's own) does not get such a rule.
    pub upstreams: Vec<String>,
}

/// Filter rules as a configuration file declares them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FilterConfig {
    /// The server's environment label ([`Filters::environment`]).
    pub environment: Option<String>,
    /// The rules, in the order they apply.
    pub rules: Vec<Rule>,
}

impl Rule {
    fn new(name: impl Into<String>, matcher: Matcher, action: Action) -> Self {
        Rule {
            name: name.into(),
            matcher,
            action,
            scope: Scope::default(),
        }
    }

    /// A rule of a built-in detector, named after it.
    pub fn detector(detector: Detector, action: Action) -> Self {
        Rule::new(detector.name(), Matcher::Detector(detector), action)
    }

    /// One rule per built-in detector ([`Detector::ALL`]), each named after its detector.
    pub fn builtin(action: Action) -> Vec<Rule> {
        Detector::ALL
            .iter()
            .map(|d| Rule::detector(*d, action))
            .collect()
    }

    /// A rule of a regular expression.
    pub fn regex(name: impl Into<String>, pattern: impl Into<String>, action: Action) -> Self {
        Rule::new(name, Matcher::Regex(pattern.into()), action)
    }

    /// A rule of a JSON pointer into structured content.
    pub fn pointer(name: impl Into<String>, pointer: impl Into<String>, action: Action) -> Self {
        Rule::new(name, Matcher::Pointer(pointer.into()), action)
    }

    /// A size cap: text items over `max_bytes` are truncated with a marker.
    pub fn max_bytes(name: impl Into<String>, max_bytes: usize) -> Self {
        Rule::new(name, Matcher::MaxBytes(max_bytes), Action::Truncate)
    }

    /// A rule of a detector written in Rust.
    pub fn custom(name: impl Into<String>, detector: impl CustomDetector, action: Action) -> Self {
        Rule::new(name, Matcher::Custom(Custom(Arc::new(detector))), action)
    }

    /// Only for these tools (globs).
    #[must_use]
    pub fn tools<S: Into<String>>(mut self, globs: impl IntoIterator<Item = S>) -> Self {
        self.scope.tools = Some(globs.into_iter().map(Into::into).collect());
        self
    }

    /// Only for these resources (globs over URIs).
    #[must_use]
    pub fn resources<S: Into<String>>(mut self, globs: impl IntoIterator<Item = S>) -> Self {
        self.scope.resources = Some(globs.into_iter().map(Into::into).collect());
        self
    }

    /// Only for these prompts (globs).
    #[must_use]
    pub fn prompts<S: Into<String>>(mut self, globs: impl IntoIterator<Item = S>) -> Self {
        self.scope.prompts = Some(globs.into_iter().map(Into::into).collect());
        self
    }

    /// Only for callers with one of these roles.
    #[must_use]
    pub fn roles<S: Into<String>>(mut self, roles: impl IntoIterator<Item = S>) -> Self {
        self.scope.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Never for callers with one of these roles.
    #[must_use]
    pub fn except_roles<S: Into<String>>(mut self, roles: impl IntoIterator<Item = S>) -> Self {
        self.scope.except_roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Only for callers granted one of these scopes.
    #[must_use]
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scope.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Never for callers granted one of these scopes.
    #[must_use]
    pub fn except_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scope.except_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Only in these environments.
    #[must_use]
    pub fn environments<S: Into<String>>(mut self, envs: impl IntoIterator<Item = S>) -> Self {
        self.scope.environments = envs.into_iter().map(Into::into).collect();
        self
    }

    /// Only for items of these upstreams (globs), by the names they have there
    /// ([`Scope::upstreams`]).
    #[must_use]
    pub fn upstreams<S: Into<String>>(mut self, globs: impl IntoIterator<Item = S>) -> Self {
        self.scope.upstreams = globs.into_iter().map(Into::into).collect();
        self
    }

    /// With this action instead.
    #[must_use]
    pub fn action(mut self, action: Action) -> Self {
        self.action = action;
        self
    }
}

/// A filter rule that does not compile, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter rule `{rule}`: {reason}")]
pub struct FilterError {
    /// The rule's name.
    pub rule: String,
    /// What is wrong with it.
    pub reason: String,
}

/// What kind of item a result comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemKind {
    Tool,
    Resource,
    Prompt,
}

impl ItemKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ItemKind::Tool => "tool",
            ItemKind::Resource => "resource",
            ItemKind::Prompt => "prompt",
        }
    }

    pub(crate) fn method(self) -> &'static str {
        match self {
            ItemKind::Tool => "tools/call",
            ItemKind::Resource => "resources/read",
            ItemKind::Prompt => "prompts/get",
        }
    }
}

/// How a compiled rule finds things.
pub(crate) enum Find {
    /// A pattern in text (index in the filters' [`RegexSet`]), its redacted group, the check
    /// of a built-in detector, the pattern of a structured member's name.
    Text {
        set_index: usize,
        regex: Regex,
        group: Option<usize>,
        detector: Option<Detector>,
        key: Option<Regex>,
    },
    Pointer(String),
    MaxBytes(usize),
    Custom(Arc<dyn CustomDetector>),
}

struct CompiledScope {
    tools: Option<GlobSet>,
    resources: Option<GlobSet>,
    prompts: Option<GlobSet>,
    roles: Vec<String>,
    except_roles: Vec<String>,
    scopes: Vec<String>,
    except_scopes: Vec<String>,
    environments: Vec<String>,
    upstreams: Option<GlobSet>,
}

pub(crate) struct CompiledRule {
    pub(crate) name: String,
    pub(crate) action: Action,
    pub(crate) find: Find,
    scope: CompiledScope,
}

/// The environment label of an item, by kind and name (a resource by its URI).
type EnvironmentOf = Arc<dyn Fn(AccessKind, &str) -> Option<String> + Send + Sync>;

/// The upstream of an item and its name there, by kind and name.
type OriginOf = Arc<dyn Fn(AccessKind, &str) -> Option<(String, String)> + Send + Sync>;

/// Compiled filter rules, and the server's environment label.
pub struct Filters {
    environment: Option<String>,
    environment_of: Option<EnvironmentOf>,
    origin_of: Option<OriginOf>,
    pub(crate) rules: Vec<CompiledRule>,
    /// Every text pattern at once: which rules may match a text, in one pass.
    pub(crate) set: RegexSet,
}

impl fmt::Debug for Filters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filters")
            .field("environment", &self.environment)
            .field("environment_of", &self.environment_of.is_some())
            .field("origin_of", &self.origin_of.is_some())
            .field(
                "rules",
                &self.rules.iter().map(|r| &r.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn globs(rule: &str, globs: Option<&[String]>) -> Result<Option<GlobSet>, FilterError> {
    let Some(globs) = globs else {
        return Ok(None);
    };
    let mut builder = GlobSetBuilder::new();
    for g in globs {
        let glob = globset::GlobBuilder::new(g)
            .literal_separator(false)
            .build()
            .map_err(|e| FilterError {
                rule: rule.to_owned(),
                reason: format!("the glob `{g}` does not compile: {e}"),
            })?;
        builder.add(glob);
    }
    builder.build().map(Some).map_err(|e| FilterError {
        rule: rule.to_owned(),
        reason: e.to_string(),
    })
}

impl Filters {
    /// Compiles `rules`, in the order they apply. A rule that does not compile is an error
    /// naming it: an empty or repeated name, a pattern or glob that does not compile, a pointer
    /// that does not start with `/`, a size cap of 0 or without [`Action::Truncate`] or
    /// [`Action::Block`], truncation on anything but a size cap.
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Result<Filters, FilterError> {
        let mut compiled = Vec::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut names = HashSet::new();
        for rule in rules {
            let fail = |reason: String| FilterError {
                rule: rule.name.clone(),
                reason,
            };
            if rule.name.is_empty() {
                return Err(fail("a rule needs a name".into()));
            }
            if !names.insert(rule.name.clone()) {
                return Err(fail("two rules have this name".into()));
            }
            let is_cap = matches!(rule.matcher, Matcher::MaxBytes(_));
            if rule.action == Action::Truncate && !is_cap {
                return Err(fail("`truncate` needs a size cap (`max_bytes`)".into()));
            }
            let find = match &rule.matcher {
                Matcher::Detector(d) => {
                    let regex = Regex::new(d.pattern()).map_err(|e| fail(e.to_string()))?;
                    let key = match d.key_pattern() {
                        Some(k) => Some(Regex::new(k).map_err(|e| fail(e.to_string()))?),
                        None => None,
                    };
                    let group = regex.capture_names().position(|n| n == Some("s"));
                    patterns.push(d.pattern().to_owned());
                    Find::Text {
                        set_index: patterns.len() - 1,
                        regex,
                        group,
                        detector: Some(*d),
                        key,
                    }
                }
                Matcher::Regex(pattern) => {
                    let regex = RegexBuilder::new(pattern)
                        .size_limit(REGEX_SIZE_LIMIT)
                        .build()
                        .map_err(|e| fail(format!("the pattern does not compile: {e}")))?;
                    if regex.is_match("") {
                        return Err(fail("the pattern matches the empty text".into()));
                    }
                    patterns.push(pattern.clone());
                    Find::Text {
                        set_index: patterns.len() - 1,
                        regex,
                        group: None,
                        detector: None,
                        key: None,
                    }
                }
                Matcher::Pointer(p) => {
                    if !p.starts_with('/') {
                        return Err(fail(format!(
                            "the JSON pointer `{p}` does not start with `/`"
                        )));
                    }
                    Find::Pointer(p.clone())
                }
                Matcher::MaxBytes(n) => {
                    if *n == 0 {
                        return Err(fail("the size cap is 0 bytes".into()));
                    }
                    if !matches!(rule.action, Action::Truncate | Action::Block) {
                        return Err(fail("a size cap's action is `truncate` or `block`".into()));
                    }
                    Find::MaxBytes(*n)
                }
                Matcher::Custom(c) => Find::Custom(c.0.clone()),
            };
            let scope = CompiledScope {
                tools: globs(&rule.name, rule.scope.tools.as_deref())?,
                resources: globs(&rule.name, rule.scope.resources.as_deref())?,
                prompts: globs(&rule.name, rule.scope.prompts.as_deref())?,
                roles: rule.scope.roles.clone(),
                except_roles: rule.scope.except_roles.clone(),
                scopes: rule.scope.scopes.clone(),
                except_scopes: rule.scope.except_scopes.clone(),
                environments: rule.scope.environments.clone(),
                upstreams: globs(
                    &rule.name,
                    Some(rule.scope.upstreams.as_slice()).filter(|u| !u.is_empty()),
                )?,
            };
            compiled.push(CompiledRule {
                name: rule.name,
                action: rule.action,
                find,
                scope,
            });
        }
        let set = RegexSetBuilder::new(&patterns)
            .size_limit(REGEX_SIZE_LIMIT * patterns.len().max(1))
            .build()
            .map_err(|e| FilterError {
                rule: "(all patterns)".into(),
                reason: e.to_string(),
            })?;
        Ok(Filters {
            environment: None,
            environment_of: None,
            origin_of: None,
            rules: compiled,
            set,
        })
    }

    /// Compiles the rules of a configuration file, with its environment label.
    pub fn from_config(config: FilterConfig) -> Result<Filters, FilterError> {
        let mut filters = Filters::new(config.rules)?;
        filters.environment = config.environment;
        Ok(filters)
    }

    /// The server's environment label (`prod`, `staging`…), for rules scoped by
    /// [`Scope::environments`].
    #[must_use]
    pub fn environment(mut self, label: impl Into<String>) -> Self {
        self.environment = Some(label.into());
        self
    }

    /// Each item's own environment label, for rules scoped by [`Scope::environments`]: `label`
    /// is given the kind of item and its name (a resource's URI) and answers its label, or
    /// `None` for the server's ([`Filters::environment`]). A gateway answers the label of the
    /// upstream that serves the item.
    #[must_use]
    pub fn environment_of(
        mut self,
        label: impl Fn(AccessKind, &str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.environment_of = Some(Arc::new(label));
        self
    }

    /// Each item's upstream and its name there, for rules scoped by [`Scope::upstreams`]:
    /// `origin` is given the kind of item and its name (a resource's URI) and answers
    /// `(upstream, name there)`, or `None` for an item of the server's own. A gateway answers
    /// for the upstream that serves the item.
    #[must_use]
    pub fn origin_of(
        mut self,
        origin: impl Fn(AccessKind, &str) -> Option<(String, String)> + Send + Sync + 'static,
    ) -> Self {
        self.origin_of = Some(Arc::new(origin));
        self
    }

    /// The rules' names, in order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// The indices of the rules that apply to this item and caller.
    pub(crate) fn active(
        &self,
        kind: ItemKind,
        name: &str,
        identity: Option<&Identity>,
    ) -> Vec<usize> {
        let empty = BTreeSet::new();
        let roles: &BTreeSet<String> = identity.map_or(&empty, |i| i.roles());
        let scopes: &BTreeSet<String> = identity.map_or(&empty, |i| i.scopes());
        let access = match kind {
            ItemKind::Tool => AccessKind::Tool,
            ItemKind::Resource => AccessKind::Resource,
            ItemKind::Prompt => AccessKind::Prompt,
        };
        // The item's label and origin are asked for once each, and only when a rule is scoped
        // by them.
        let mut item_environment: Option<Option<String>> = None;
        let mut environment = || -> Option<String> {
            item_environment
                .get_or_insert_with(|| {
                    self.environment_of
                        .as_ref()
                        .and_then(|f| f(access, name))
                        .or_else(|| self.environment.clone())
                })
                .clone()
        };
        let mut item_origin: Option<Option<(String, String)>> = None;
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                let s = &r.scope;
                // With `upstreams`, the item's upstream must match, and the names its name there.
                let name = match &s.upstreams {
                    None => name,
                    Some(upstreams) => {
                        let origin = item_origin.get_or_insert_with(|| {
                            self.origin_of.as_ref().and_then(|f| f(access, name))
                        });
                        match origin {
                            Some((upstream, original)) if upstreams.is_match(upstream.as_str()) => {
                                original.as_str()
                            }
                            _ => return false,
                        }
                    }
                };
                let named = if s.tools.is_none() && s.resources.is_none() && s.prompts.is_none() {
                    true
                } else {
                    let globs = match kind {
                        ItemKind::Tool => &s.tools,
                        ItemKind::Resource => &s.resources,
                        ItemKind::Prompt => &s.prompts,
                    };
                    globs.as_ref().is_some_and(|g| g.is_match(name))
                };
                named
                    && (s.roles.is_empty() || s.roles.iter().any(|r| roles.contains(r)))
                    && !s.except_roles.iter().any(|r| roles.contains(r))
                    && (s.scopes.is_empty() || s.scopes.iter().any(|r| scopes.contains(r)))
                    && !s.except_scopes.iter().any(|r| scopes.contains(r))
                    && (s.environments.is_empty()
                        || environment().is_none_or(|e| s.environments.contains(&e)))
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// What filtering found: how many times each rule fired.
pub(crate) type Fired = BTreeMap<String, u64>;
