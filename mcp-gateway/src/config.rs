//! The configuration file (TOML), and its errors: each names the file, the line and the key.
//!
//! ```toml
//! [gateway]
//! name = "acme-gateway"        # what clients see as the server's name
//! separator = "__"             # between an upstream's name and an item's
//! naming = "auto"              # auto | prefixed | kept
//! approval_unless_read_only = true  # upstream tools not annotated read-only need approval
//! audit = "audit.jsonl"        # hash-chained JSON Lines, relative to this file
//! instructions = "Tools of Acme's file server and CRM."  # for the model, before the upstreams'
//! upstream_instructions = true # each upstream's own instructions follow, under its name
//!
//! [front]                      # who the callers are
//! identity = { subject = "local", roles = ["admin"] }   # the caller on stdio (never on HTTP)
//!
//! allowed_origins = ["https://app.example.com"]   # HTTP: browser origins (default: loopback)
//! allowed_hosts = ["gateway.example.com"]        # HTTP: Host names behind a local reverse proxy
//!
//! [front.tls]                  # HTTPS; with `client_ca`, callers present certificates
//! cert = "tls/gateway.pem"
//! key = "tls/gateway.key"
//! client_ca = "tls/callers-ca.pem"           # the certificate's CN is the caller
//! client_roles = { "ops-bot" = ["admin"] }   # roles by CN, for rules
//!
//! [upstreams.fs]               # a child process over stdio
//! command = "mcp-fs"
//! args = ["--root", "/srv"]
//! env = { LOG = "info" }      # it inherits only PATH, HOME, the locale... of the gateway's
//! inherit_env = ["AWS_*"]      # and these (`"*"`: the whole environment)
//! cwd = "/srv"
//! environment = "prod"
//! roots = ["file:///srv"]     # what it is told its roots are (no caller is asked)
//!
//! [upstreams.search]           # a Streamable HTTP endpoint
//! url = "https://search.example/mcp"
//! headers = { Authorization = "Bearer ${SEARCH_TOKEN}" }
//! environment = "staging"
//!
//! [upstreams.crm]              # one behind OAuth: the gateway's own client credentials
//! url = "https://crm.example/mcp"
//! oauth = { client_id = "gateway", client_secret = "${CRM_SECRET}", issuer = "https://auth.example", scopes = ["crm:read"] }
//!
//! [[rules]]                    # who may see and call what
//! tools = ["fs__read_*", "search__*"]
//! roles = ["analyst"]
//!
//! [[rules]]
//! effect = "deny"
//! tools = ["*delete*"]
//! environments = ["prod"]
//!
//! [[rules]]                    # by the upstream's own names: the same under any separator
//! upstreams = ["crm"]
//! tools = ["get_*"]
//! roles = ["analyst"]
//!
//! [[rules]]                    # a human approves each deployment, and never the caller itself
//! tools = ["ci__deploy"]
//! roles = ["ops"]
//! approval = "out_of_band"
//!
//! [approval]                   # who approves (without it: the caller's user, by elicitation)
//! webhook = "https://approvals.example/mcp"   # posted each call; answers {"approved": bool}
//! headers = { Authorization = "Bearer ${APPROVAL_TOKEN}" }
//! timeout_secs = 300           # no decision in time denies (120)
//! ```
//!
//! # Result filters
//!
//! `[[filters]]` rules filter what upstream tools return, upstream resources hold and upstream
//! prompts say before the caller (and its model) sees it (see [`mcp_server::filter`]; they run
//! in the front server's pipeline). Each rule has a `name` (in the `[redacted:<name>]` marker
//! and the audit record, which counts how many times each rule fired and never holds the
//! value), one matcher, an `action` and an optional scope; rules apply in their order.
//!
//! | key | meaning |
//! |---|---|
//! | `name` | the rule's name (unique) |
//! | `detector` | a built-in detector by name (`aws_access_key_id`, `aws_secret_access_key`, `gcp_api_key`, `private_key`, `jwt`, `bearer_token`, `password_assignment`, `connection_string`, `email`, `phone`, `payment_card`), or a group (`secrets`, `personal`, `all`): one rule per detector, named `<name>.<detector>` |
//! | `regex` | a regular expression (the `regex` crate's syntax, linear time) |
//! | `pointer` | a JSON pointer into structured content (`/debug/token`) |
//! | `max_bytes` | a size cap per text item (with `action = "truncate"` or `"block"`) |
//! | `action` | `redact` (the match becomes `[redacted:<name>]`), `drop` (the block, member or message that holds it), `block` (the whole result is withheld), `approve` (released once a human approves), `truncate` (size caps) |
//! | `tools`, `resources`, `prompts` | glob patterns over namespaced names and URIs (`fs__*`, `fs+file:///*`); with none given, every item |
//! | `upstreams` | only for items of these upstreams (globs over their names); `tools`, `resources` and `prompts` then match the names items have there (`read_file`), under any separator or naming |
//! | `roles`, `except_roles` | only for callers with one of these roles; never for callers with one of those |
//! | `scopes`, `except_scopes` | only for callers granted one of these scopes; never for callers granted one of those (`except_scopes = ["pii:read"]`) |
//! | `environments` | only for items of upstreams with one of these `environment` labels (an upstream without a label gets the rule: fails closed) |
//!
//! ```toml
//! [[filters]]
//! name = "secrets"
//! detector = "secrets"           # secrets.aws_access_key_id, secrets.jwt, ...
//! action = "redact"
//!
//! [[filters]]
//! name = "email"
//! detector = "email"
//! action = "redact"
//! tools = ["crm__*"]
//! except_roles = ["support-lead"]
//!
//! [[filters]]
//! name = "ssn"
//! regex = '\b\d{3}-\d{2}-\d{4}\b'
//! action = "block"
//! environments = ["prod"]
//!
//! [[filters]]
//! name = "cap"
//! max_bytes = 65536
//! action = "truncate"
//! ```
//!
//! A rule that does not compile (an unknown detector, a pattern or glob that does not compile,
//! a pointer without a leading `/`, `truncate` without `max_bytes`) is an error naming the
//! file, the line and the key (`filters[2].regex`). Changing `[[filters]]` needs a restart.
//!
//! # Dedicated upstream instances per principal
//!
//! A shared upstream keeps what it learned from one caller for every other: the state it
//! keeps, the session it holds, the roots it asked one caller for and cached (server-everything's
//! `get-roots-list` shows them to the next caller). A stdio upstream written for one user can
//! run one child process per principal (the caller's issuer-qualified subject) instead:
//!
//! ```toml
//! [upstreams.notes]
//! command = "mcp-notes"
//! instances = "per_principal"    # default "shared": one process for every caller
//! idle_timeout_secs = 300        # an instance unused this long is stopped (300)
//! max_instances = 16             # at most this many at once (16)
//! ```
//!
//! A principal's instance is started on its first call, read, prompt or completion and stopped
//! after `idle_timeout_secs` without one (what it held in memory goes with it); that
//! principal's calls, reads, prompts and completions go to it, and only to it. The lists
//! (tools, resources, prompts) and resource subscriptions come from one shared instance,
//! started with the gateway; what an instance sends outside a request (list changes, resource
//! updates) is not forwarded, while what it does during one (progress, logs, elicitation,
//! sampling, roots) reaches that request's caller as usual. With `max_instances` running, a new principal's request gets an error
//! saying so (and an audit record, `reason` `instance_limit`), never a wait; a caller without
//! an identity is refused, as it has no instance of its own.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A configuration that could not be used: where (file, line, column, key) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {}{message}", file.display(), key.as_deref().map(|k| format!("`{k}`: ")).unwrap_or_default())]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// The line (from 1; 0 when the file could not be read).
    pub line: usize,
    /// The column (from 1).
    pub column: usize,
    /// The key, as a path (`rules[1].tools[0]`, `upstreams.fs.command`), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Gateway-wide settings.
    #[serde(default)]
    pub gateway: GatewaySection,
    /// Who the callers are.
    #[serde(default)]
    pub front: Front,
    /// The upstream servers, by name (the name prefixes their items).
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    /// The policy rules; no rule, no access (fail closed).
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Anomaly flags per principal (none without this section).
    #[serde(default)]
    pub anomaly: Option<AnomalyConfig>,
    /// Result filters, in the order they apply (none without this section).
    #[serde(default)]
    pub filters: Vec<FilterRule>,
    /// Who approves the calls that need a human's approval (without this section, the caller's
    /// user, through elicitation).
    #[serde(default)]
    pub approval: ApprovalSection,
    /// The file the configuration came from (set by [`Config::load`]).
    #[serde(skip)]
    pub file: PathBuf,
}

/// `[gateway]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// The server name clients see (`mcp-gateway`).
    #[serde(default = "default_name")]
    pub name: String,
    /// Between an upstream's name and an item's (`__`).
    #[serde(default = "default_separator")]
    pub separator: String,
    /// How items are named.
    #[serde(default)]
    pub naming: NamingConfig,
    /// Whether an upstream tool whose annotations do not say read-only needs approval when no
    /// matching rule sets `approval` (default `true`).
    #[serde(default = "yes")]
    pub approval_unless_read_only: bool,
    /// The audit trail: a hash-chained JSON Lines file (relative to the configuration file).
    #[serde(default)]
    pub audit: Option<PathBuf>,
    /// How to use the gateway, for the model: the `instructions` callers get, before the
    /// upstreams' own (see `upstream_instructions`).
    #[serde(default)]
    pub instructions: Option<String>,
    /// Whether the upstreams' instructions follow, each under its upstream's name (default
    /// `true`): those of the upstreams connected when the gateway starts.
    #[serde(default = "yes")]
    pub upstream_instructions: bool,
}

impl Default for GatewaySection {
    fn default() -> Self {
        GatewaySection {
            name: default_name(),
            separator: default_separator(),
            naming: NamingConfig::default(),
            approval_unless_read_only: true,
            audit: None,
            instructions: None,
            upstream_instructions: true,
        }
    }
}

/// The index of the first of `patterns` (globs) that matches none of `names`, if any; a pattern
/// that does not compile is another error's.
fn matching_none(patterns: &[String], names: &[&str]) -> Option<usize> {
    patterns.iter().position(|g| {
        globset::Glob::new(g).is_ok_and(|g| {
            let m = g.compile_matcher();
            !names.iter().any(|n| m.is_match(n))
        })
    })
}

fn default_name() -> String {
    "mcp-gateway".to_owned()
}

fn default_separator() -> String {
    "__".to_owned()
}

fn yes() -> bool {
    true
}

/// How items are named (see `mcp_client::host::Naming`).
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NamingConfig {
    /// Kept when exactly one upstream is configured, prefixed otherwise.
    #[default]
    Auto,
    /// `<upstream><separator><name>`.
    Prefixed,
    /// As the upstreams name them.
    Kept,
}

/// `[front]`: how callers are identified.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Front {
    /// The caller on stdio. Never an HTTP caller's: on HTTP callers are who their bearer token
    /// (`oauth`) or client certificate (`tls.client_ca`) says, or else anonymous.
    #[serde(default)]
    pub identity: Option<IdentityConfig>,
    /// OAuth 2.1 resource server on HTTP: callers present bearer tokens.
    #[serde(default)]
    pub oauth: Option<OAuthFront>,
    /// HTTP: the `Origin` values accepted from browsers, as `https://app.example.com` (scheme,
    /// host, port); `["*"]` accepts any. By default only loopback origins; a request without
    /// `Origin` (not from a browser) is always accepted.
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    /// HTTP: the `Host` values accepted, as `name` or `name:port` (the defence against DNS
    /// rebinding); `["*"]` accepts any. By default a request that arrives on a loopback address
    /// must name `localhost`, `127.0.0.1` or `[::1]`: behind a reverse proxy on the same
    /// machine, list the public names here (the loopback names stay accepted).
    #[serde(default)]
    pub allowed_hosts: Option<Vec<String>>,
    /// HTTPS, and with `client_ca` mutual TLS: callers present client certificates.
    #[serde(default)]
    pub tls: Option<TlsFront>,
}

/// `[front.tls]`: the gateway's certificate, and optionally the CA of its callers' certificates
/// (mutual TLS). Paths are relative to the configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsFront {
    /// The certificate chain (PEM, the gateway's certificate first).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA (PEM) whose client certificates are required: a caller without one fails the
    /// handshake; with one, it is the certificate's common name (CN), issued by the CA.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Roles of callers by their certificate's common name (`{ "ops-bot" = ["admin"] }`), for
    /// rules that match roles.
    #[serde(default)]
    pub client_roles: BTreeMap<String, Vec<String>>,
}

/// A fixed identity.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// The subject.
    pub subject: String,
    /// Its roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Its scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Its claims, as a token would carry them.
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// `[front.oauth]`: bearer tokens checked against a JWKS or by introspection.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OAuthFront {
    /// The canonical URI of this endpoint (`http://127.0.0.1:8080/mcp`): tokens must be issued
    /// for it.
    pub resource: String,
    /// The authorization server's issuer URL.
    pub issuer: String,
    /// Its JWKS (JWT access tokens).
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Its introspection endpoint (opaque tokens); with `client_id` and `client_secret`.
    #[serde(default)]
    pub introspection_url: Option<String>,
    /// The gateway's client id at the introspection endpoint.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Its secret: `${VAR}` takes it from the environment.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The claim that holds the caller's roles (`roles`).
    #[serde(default)]
    pub roles_claim: Option<String>,
}

/// `[upstreams.NAME]`: a stdio command or an HTTP URL, shaped like MCP host configurations.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// `stdio` or `http` (`streamable-http` too); inferred from `command` or `url` when absent.
    /// `sse` (a server of the deprecated HTTP+SSE transport, as hosts' configurations call it)
    /// is taken as `http`: a server that refuses Streamable HTTP's POST is reached over HTTP+SSE.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The program (stdio); `${VAR}` (and `${VAR:-default}`) expanded, as are `args`.
    #[serde(default)]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Variables set for it (`${VAR}` expanded). It inherits only a few of the gateway's
    /// own ([`mcp_client::DEFAULT_INHERITED_ENV`]: `PATH`, `HOME`, the locale...) and those
    /// named in `inherit_env`: the credentials the gateway holds for other upstreams stay with
    /// the gateway.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// More of the gateway's environment variables to pass on (stdio): names, a name ending in
    /// `*` for every variable that starts with the rest (`"AWS_*"`), or `"*"` for the whole
    /// environment. An upstream started with `npx` or `uvx` behind a proxy needs the proxy's:
    /// `["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"]`.
    #[serde(default)]
    pub inherit_env: Vec<String>,
    /// Its working directory (`${VAR}` expanded; relative to the configuration file).
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// The endpoint (HTTP).
    #[serde(default)]
    pub url: Option<String>,
    /// Headers sent with every request, such as the gateway's own credential for this upstream
    /// (`${VAR}` takes a value from the environment). The caller's token is never sent.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The gateway's own OAuth client at the upstream's authorization server (HTTP): tokens by
    /// the client credentials grant, for this upstream only. The caller's token is never sent.
    #[serde(default)]
    pub oauth: Option<UpstreamOAuth>,
    /// The environment label rules scope by (`prod`, `staging`).
    #[serde(default)]
    pub environment: Option<String>,
    /// The roots the upstream is told it has (`file://` URIs), in and outside calls: a
    /// filesystem server takes them as the directories it may touch. No caller is asked for its
    /// own. Without them, a caller's roots answer the upstream during that caller's call, and a
    /// request outside any call is refused.
    #[serde(default)]
    pub roots: Option<Vec<String>>,
    /// How long a request may wait for its answer, in seconds (60).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// How long connecting may take, in seconds (30).
    #[serde(default)]
    pub connect_timeout_secs: Option<u64>,
    /// How many messages per second the upstream may send before it is taken for flooding and
    /// reconnected (1000; `0`: no limit). A busy upstream answering many calls at once sends
    /// more.
    #[serde(default)]
    pub max_messages_per_second: Option<u32>,
    /// The era to speak: `auto` (default), `legacy` or `modern`.
    #[serde(default)]
    pub era: Option<String>,
    /// One process for every caller (`shared`, default) or one per principal (stdio only).
    #[serde(default)]
    pub instances: Instances,
    /// With `per_principal`: how long an instance may stay unused before it is stopped, in
    /// seconds (300).
    #[serde(default)]
    pub idle_timeout_secs: Option<u64>,
    /// With `per_principal`: how many instances may run at once (16).
    #[serde(default)]
    pub max_instances: Option<usize>,
}

/// `[upstreams.NAME.oauth]`: the gateway as an OAuth client of an HTTP upstream (the client
/// credentials grant). The upstream's resource metadata (RFC 9728) names its authorization
/// server, which must be `issuer`: the secret is sent to that server's token endpoint only.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamOAuth {
    /// The gateway's client id there (`${VAR}` expanded).
    pub client_id: String,
    /// Its secret (`${VAR}` takes it from the environment).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The issuer identifier of the authorization server the client is registered with.
    pub issuer: String,
    /// The scopes to ask for (none: the upstream's own choice, from its challenge or metadata).
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl UpstreamConfig {
    /// How long an instance of a principal may stay unused.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.unwrap_or(300))
    }

    /// How many instances may run at once.
    pub fn max_instances(&self) -> usize {
        self.max_instances.unwrap_or(16)
    }
}

/// How many processes of a stdio upstream run.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Instances {
    /// One, for every caller.
    #[default]
    Shared,
    /// One per principal, started on its first use and stopped when idle; the lists come from
    /// a shared one.
    PerPrincipal,
}

/// `[[filters]]`: one result filter rule (see [the module documentation](self#result-filters)).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FilterRule {
    /// Its name: in markers and audit records.
    pub name: String,
    /// A built-in detector by name, or a group (`secrets`, `personal`, `all`).
    #[serde(default)]
    pub detector: Option<String>,
    /// A regular expression.
    #[serde(default)]
    pub regex: Option<String>,
    /// A JSON pointer into structured content.
    #[serde(default)]
    pub pointer: Option<String>,
    /// A size cap per text item, in bytes.
    #[serde(default)]
    pub max_bytes: Option<usize>,
    /// What it does with what it finds.
    pub action: mcp_server::filter::Action,
    /// Glob patterns over upstream names: when given, the rule applies only to their items,
    /// and `tools`, `resources` and `prompts` match the names the items have there.
    #[serde(default)]
    pub upstreams: Vec<String>,
    /// Glob patterns over namespaced tool names (or, with `upstreams`, the upstreams' own).
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Glob patterns over namespaced resource URIs (or, with `upstreams`, the upstreams' own).
    #[serde(default)]
    pub resources: Option<Vec<String>>,
    /// Glob patterns over namespaced prompt names (or, with `upstreams`, the upstreams' own).
    #[serde(default)]
    pub prompts: Option<Vec<String>>,
    /// Only for callers with one of these roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Never for callers with one of these roles.
    #[serde(default)]
    pub except_roles: Vec<String>,
    /// Only for callers granted one of these scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Never for callers granted one of these scopes.
    #[serde(default)]
    pub except_scopes: Vec<String>,
    /// Only for items of upstreams with one of these environment labels.
    #[serde(default)]
    pub environments: Vec<String>,
}

/// `allow` or `deny`.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The rule allows what it matches.
    #[default]
    Allow,
    /// The rule denies what it matches; a deny wins over every allow.
    Deny,
}

/// `[approval]`: a server-side approver, asked instead of the caller's user for every call that
/// needs approval, and the only one a rule with `approval = "out_of_band"` accepts.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSection {
    /// An HTTP(S) endpoint (`http` only on loopback) posted `{"request": ..., "summary": ...}`
    /// for each call, answering `{"approved": true|false, "reason": "..."}` (`${VAR}` expanded).
    #[serde(default)]
    pub webhook: Option<String>,
    /// Headers sent to the webhook (`${VAR}` expanded): its credentials.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The operator at the gateway's controlling terminal (`/dev/tty`) answers `y` or `n`.
    #[serde(default)]
    pub terminal: bool,
    /// How long a call waits for the decision, in seconds (120); no decision in time denies.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

impl ApprovalSection {
    /// Whether a server-side approver is configured.
    pub fn has_approver(&self) -> bool {
        self.webhook.is_some() || self.terminal
    }

    /// How long a call waits for the decision.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.unwrap_or(120))
    }
}

/// The approval a rule asks for.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalConfig {
    /// No approval.
    None,
    /// A human approves each call (the server-side approver, else the client's user).
    Required,
    /// The server-side approver only, never the calling client.
    OutOfBand,
}

/// `[[rules]]`: whom (roles, scopes, claims), what (glob patterns over namespaced names), where
/// (environments), and how (approval, limits).
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `allow` (default) or `deny`.
    #[serde(default)]
    pub effect: Effect,
    /// Glob patterns over upstream names: when given, the rule applies only to their items,
    /// and `tools`, `prompts` and `resources` match the names the items have there
    /// (`read_file`, not `fs__read_file`), whatever the separator and the naming.
    #[serde(default)]
    pub upstreams: Vec<String>,
    /// Glob patterns over namespaced tool names (or, with `upstreams`, the upstreams' own).
    #[serde(default)]
    pub tools: Vec<String>,
    /// Glob patterns over namespaced prompt names (or, with `upstreams`, the upstreams' own).
    #[serde(default)]
    pub prompts: Vec<String>,
    /// Glob patterns over namespaced resource URIs and URI templates (or, with `upstreams`,
    /// the upstreams' own).
    #[serde(default)]
    pub resources: Vec<String>,
    /// The caller has one of these roles (any caller when empty).
    #[serde(default)]
    pub roles: Vec<String>,
    /// The caller has all of these scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The caller's token has these claims: each equal to the value, or an array containing it.
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
    /// The item's upstream carries one of these environment labels (every one when empty).
    #[serde(default)]
    pub environments: Vec<String>,
    /// The item's environment is the value of this claim of the caller's token (or one of its
    /// values, for an array).
    #[serde(default)]
    pub environment_claim: Option<String>,
    /// The approval a matched call needs; when no matching rule says, upstream tools not
    /// annotated read-only need approval (see `approval_unless_read_only`).
    #[serde(default)]
    pub approval: Option<ApprovalConfig>,
    /// Calls per principal (`10/s`, `100/min`, `1000/h`, `5/day`).
    #[serde(default)]
    pub rate_limit: Option<String>,
    /// Calls at once, across callers.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// How long a call may run, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Largest arguments, in bytes of JSON.
    #[serde(default)]
    pub max_argument_bytes: Option<usize>,
    /// Largest result, in bytes of JSON.
    #[serde(default)]
    pub max_result_bytes: Option<usize>,
}

impl Rule {
    /// The rule's timeout.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_ms.map(Duration::from_millis)
    }
}

/// What a raised anomaly flag does to the call (each flag is audited and counted in any case).
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FlagAction {
    /// Only the audit record and the metric.
    #[default]
    Audit,
    /// The call waits for a human's approval.
    Approval,
    /// The call is refused (-32003, `data.reason` `anomaly_<flag>`).
    Deny,
}

/// `[anomaly]`: flags raised per principal when a tool call is admitted.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AnomalyConfig {
    /// A call rate far above the principal's own baseline: the last minute's calls exceed this
    /// factor times its average minute over the baseline period (10).
    #[serde(default = "default_rate_factor")]
    pub rate_factor: f64,
    /// ... and number at least this many (20).
    #[serde(default = "default_rate_min_calls")]
    pub rate_min_calls: usize,
    /// The baseline period, in minutes (60); a principal seen for less than two minutes has no
    /// baseline yet.
    #[serde(default = "default_rate_baseline_mins")]
    pub rate_baseline_mins: u64,
    /// What a rate flag does.
    #[serde(default)]
    pub rate_action: FlagAction,
    /// What the first call of a destructive tool (by its annotations) by a principal does.
    #[serde(default)]
    pub first_destructive_action: FlagAction,
    /// Tags of tools: by glob patterns over namespaced names (`secret = ["vault__*"]`), or by
    /// upstream (`egress = { upstreams = ["web"] }`).
    #[serde(default)]
    pub tags: BTreeMap<String, TagConfig>,
    /// Sequences: a call of a tool tagged `then` within `within_secs` of a call of a tool
    /// tagged `first`, by the same principal.
    #[serde(default)]
    pub sequences: Vec<SequenceConfig>,
}

fn default_rate_factor() -> f64 {
    10.0
}

fn default_rate_min_calls() -> usize {
    20
}

fn default_rate_baseline_mins() -> u64 {
    60
}

/// The tools a tag of `[anomaly.tags]` covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagConfig {
    /// Glob patterns over namespaced tool names: `["vault__*", "kms__decrypt"]`.
    Tools(Vec<String>),
    /// `{ upstreams = ["vault"], tools = ["read_*"] }`: tools of the upstreams the first
    /// patterns name (every one of them without `tools`), by the names they have there, as a
    /// rule with `upstreams` matches them.
    Upstreams {
        /// Glob patterns over upstream names.
        upstreams: Vec<String>,
        /// Glob patterns over the upstreams' own tool names.
        tools: Vec<String>,
    },
}

impl<'de> Deserialize<'de> for TagConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = TagConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a list of tool name patterns, or a table with `upstreams` (and `tools`)",
                )
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<TagConfig, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(TagConfig::Tools)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<TagConfig, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Scoped {
                    upstreams: Vec<String>,
                    #[serde(default)]
                    tools: Vec<String>,
                }
                let s = Scoped::deserialize(MapAccessDeserializer::new(map))?;
                Ok(TagConfig::Upstreams {
                    upstreams: s.upstreams,
                    tools: s.tools,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `[[anomaly.sequences]]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SequenceConfig {
    /// The tag of the first call.
    pub first: String,
    /// The tag of the call that raises the flag.
    pub then: String,
    /// Within how long, in seconds.
    pub within_secs: u64,
    /// What the flag does.
    #[serde(default)]
    pub action: FlagAction,
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

pub(crate) fn key_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for s in path {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Where a key path's value (or, when absent, its deepest present parent) is in the document.
fn locate(root: &Spanned<DeTable<'_>>, path: &[Seg]) -> std::ops::Range<usize> {
    let mut span = root.span();
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut array: Option<&[Spanned<DeValue<'_>>]> = None;
    for seg in path {
        let next: Option<&Spanned<DeValue<'_>>> = match (seg, table, array) {
            (Seg::Key(k), Some(t), _) => t
                .iter()
                .find(|(key, _)| key.get_ref().as_ref() == k.as_str())
                .map(|(key, v)| {
                    // A table's own span can be far from its header: point at the key.
                    if matches!(v.get_ref(), DeValue::Table(_)) {
                        span = key.span();
                    }
                    v
                }),
            (Seg::Index(i), _, Some(a)) => a.get(*i),
            _ => None,
        };
        let Some(v) = next else { break };
        if !matches!(v.get_ref(), DeValue::Table(_)) || !matches!(seg, Seg::Key(_)) {
            span = v.span();
        }
        table = None;
        array = None;
        match v.get_ref() {
            DeValue::Table(t) => table = Some(t),
            DeValue::Array(a) => array = Some(a),
            _ => {}
        }
    }
    span
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |n| offset - n - 1) + 1;
    (line, column)
}

/// A configuration file being checked: its text, for errors that point into it.
pub(crate) struct Source<'a> {
    pub(crate) file: &'a Path,
    pub(crate) text: &'a str,
    root: Option<Spanned<DeTable<'a>>>,
}

impl<'a> Source<'a> {
    pub(crate) fn new(file: &'a Path, text: &'a str) -> Self {
        Source {
            file,
            text,
            root: DeTable::parse(text).ok(),
        }
    }

    fn at(&self, offset: usize, key: Option<String>, message: String) -> ConfigError {
        let (line, column) = line_col(self.text, offset);
        ConfigError {
            file: self.file.to_owned(),
            line,
            column,
            key,
            message,
        }
    }

    /// An error about the value at `path`.
    pub(crate) fn error(&self, path: &[Seg], message: impl Into<String>) -> ConfigError {
        let offset = self.root.as_ref().map_or(0, |r| locate(r, path).start);
        self.at(offset, Some(key_path(path)), message.into())
    }
}

/// `k` as a path step.
pub(crate) fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

impl Config {
    /// An error about the value at `path`, located in the file as it reads now (for what is
    /// checked after parsing: environment variables, files the configuration names).
    pub(crate) fn error_at(&self, path: &[Seg], message: impl Into<String>) -> ConfigError {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        Source::new(&self.file, &text).error(path, message)
    }

    /// Reads and checks a configuration file.
    pub fn load(file: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let file = file.as_ref();
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError {
            file: file.to_owned(),
            line: 0,
            column: 0,
            key: None,
            message: format!("cannot read the file: {e}"),
        })?;
        Config::parse(file, &text)
    }

    /// Parses and checks a configuration given as text; `file` names it in errors and anchors
    /// relative paths.
    pub fn parse(file: impl AsRef<Path>, text: &str) -> Result<Config, ConfigError> {
        let file = file.as_ref();
        let source = Source::new(file, text);
        let de = toml::Deserializer::parse(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            source.at(offset, None, e.message().to_owned())
        })?;
        let mut config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path: Vec<Seg> = e
                .path()
                .iter()
                .filter_map(|s| match s {
                    serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                    serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                    serde_path_to_error::Segment::Enum { variant } => {
                        Some(Seg::Key(variant.clone()))
                    }
                    _ => None,
                })
                .collect();
            let inner = e.inner();
            let offset = match inner.span() {
                Some(s) => s.start,
                None => source.root.as_ref().map_or(0, |r| locate(r, &path).start),
            };
            let key = (!path.is_empty()).then(|| key_path(&path));
            source.at(offset, key, inner.message().to_owned())
        })?;
        config.file = file.to_owned();
        config.check(&source)?;
        Ok(config)
    }

    /// Checks what serde cannot: names, patterns, limits, one of `command` and `url`.
    fn check(&self, source: &Source<'_>) -> Result<(), ConfigError> {
        let g = &self.gateway;
        if g.separator.is_empty() {
            return Err(source.error(&[key("gateway"), key("separator")], "is empty"));
        }
        if let Some(c) = g
            .separator
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return Err(source.error(
                &[key("gateway"), key("separator")],
                format!(
                    "`{c}` is not a character of tool names (letters, digits, `_`, `-` and `.`, \
                     as the specification says and clients check): a tool named with it would \
                     be refused or dropped by some clients"
                ),
            ));
        }
        if self.upstreams.is_empty() {
            return Err(source.error(&[key("upstreams")], "no upstream is configured"));
        }
        let a = &self.approval;
        if a.webhook.is_some() && a.terminal {
            return Err(source.error(
                &[key("approval"), key("terminal")],
                "give either `webhook` or `terminal`, not both",
            ));
        }
        if a.webhook.is_none() && !a.headers.is_empty() {
            return Err(source.error(
                &[key("approval"), key("headers")],
                "headers are for the `webhook`, and none is given",
            ));
        }
        if a.timeout_secs == Some(0) {
            return Err(source.error(&[key("approval"), key("timeout_secs")], "is 0"));
        }
        if let Some(url) = &a.webhook
            && let Err(m) = expand(url)
        {
            return Err(source.error(&[key("approval"), key("webhook")], m));
        }
        for (h, value) in &a.headers {
            if let Err(m) = expand(value) {
                return Err(source.error(&[key("approval"), key("headers"), key(h)], m));
            }
        }
        if !a.has_approver()
            && let Some(i) = self
                .rules
                .iter()
                .position(|r| r.approval == Some(ApprovalConfig::OutOfBand))
        {
            return Err(source.error(
                &[key("rules"), Seg::Index(i), key("approval")],
                "`out_of_band` is approved by a server-side approver, and none is configured: \
                 add `[approval]` with `webhook` or `terminal` (without one, every call it \
                 matches would be denied)",
            ));
        }
        for (name, u) in &self.upstreams {
            let at = |k: &str| [key("upstreams"), key(name), key(k)];
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !valid {
                return Err(source.error(
                    &[key("upstreams"), key(name)],
                    format!("the upstream name `{name}` does not match ^[A-Za-z][A-Za-z0-9-]*$"),
                ));
            }
            if name.contains(&g.separator) {
                return Err(source.error(
                    &[key("upstreams"), key(name)],
                    format!("the upstream name contains the separator `{}`", g.separator),
                ));
            }
            if !splits_after(name, &g.separator) {
                return Err(source.error(
                    &[key("upstreams"), key(name)],
                    format!(
                        "the upstream name's end and the separator `{}` make another separator \
                         (`{name}{}...` would split before the name's end)",
                        g.separator, g.separator
                    ),
                ));
            }
            for (i, root) in u.roots.iter().flatten().enumerate() {
                if !root.starts_with("file://") {
                    let hint = if root.starts_with('/') {
                        format!(": write `file://{root}`")
                    } else {
                        String::new()
                    };
                    return Err(source.error(
                        &[key("upstreams"), key(name), key("roots"), Seg::Index(i)],
                        format!("`{root}` is not a `file://` URI{hint}"),
                    ));
                }
            }
            match (&u.command, &u.url) {
                (Some(_), Some(_)) => {
                    return Err(
                        source.error(&at("url"), "give either `command` or `url`, not both")
                    );
                }
                (None, None) => {
                    return Err(source.error(
                        &[key("upstreams"), key(name)],
                        "give `command` (stdio) or `url` (HTTP)",
                    ));
                }
                _ => {}
            }
            if let Some(kind) = &u.kind {
                let ok = match kind.as_str() {
                    "stdio" => u.command.is_some(),
                    // `sse`: an HTTP+SSE server (2024-11-05), reached by the fallback of
                    // Streamable HTTP; hosts' configurations name it so.
                    "http" | "streamable-http" | "streamableHttp" | "sse" => u.url.is_some(),
                    _ => {
                        return Err(source.error(
                            &at("type"),
                            format!("unknown type `{kind}`: expected `stdio`, `http` or `sse`"),
                        ));
                    }
                };
                if !ok {
                    return Err(source.error(
                        &at("type"),
                        format!("type `{kind}` does not fit the entry's `command`/`url`"),
                    ));
                }
            }
            if let Some(url) = &u.url
                && !url.starts_with("${")
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(source.error(&at("url"), format!("`{url}` is not an http(s) URL")));
            }
            if let Some(era) = &u.era
                && !matches!(era.as_str(), "auto" | "legacy" | "modern")
            {
                return Err(source.error(
                    &at("era"),
                    format!("unknown era `{era}`: expected `auto`, `legacy` or `modern`"),
                ));
            }
            for (h, value) in &u.headers {
                if let Err(m) = expand(value) {
                    return Err(
                        source.error(&[key("upstreams"), key(name), key("headers"), key(h)], m)
                    );
                }
            }
            for (k, value) in &u.env {
                if let Err(m) = expand(value) {
                    return Err(source.error(&[key("upstreams"), key(name), key("env"), key(k)], m));
                }
            }
            if let Some(o) = &u.oauth {
                let oauth = |k: &str| [key("upstreams"), key(name), key("oauth"), key(k)];
                if u.url.is_none() {
                    return Err(source.error(&at("oauth"), "OAuth is for HTTP upstreams (`url`)"));
                }
                for (k, value) in [
                    ("client_id", Some(&o.client_id)),
                    ("client_secret", o.client_secret.as_ref()),
                    ("issuer", Some(&o.issuer)),
                ] {
                    if let Some(Err(m)) = value.map(|v| expand(v)) {
                        return Err(source.error(&oauth(k), m));
                    }
                }
                if !["${", "https://", "http://"]
                    .iter()
                    .any(|p| o.issuer.starts_with(p))
                {
                    return Err(source.error(
                        &oauth("issuer"),
                        format!("`{}` is not an http(s) URL", o.issuer),
                    ));
                }
            }
            for (i, pattern) in u.inherit_env.iter().enumerate() {
                let path = [
                    key("upstreams"),
                    key(name),
                    key("inherit_env"),
                    Seg::Index(i),
                ];
                if u.command.is_none() {
                    return Err(source.error(
                        &path[..3],
                        "an HTTP upstream has no environment: `inherit_env` is for stdio upstreams",
                    ));
                }
                let bare = pattern.strip_suffix('*').unwrap_or(pattern);
                if (bare.is_empty() && pattern != "*") || bare.contains(['*', '=', '\0']) {
                    return Err(source.error(
                        &path,
                        format!(
                            "`{pattern}` is not a variable name: a name, a name ending in `*`, or `*`"
                        ),
                    ));
                }
            }
            if u.instances == Instances::PerPrincipal {
                if u.command.is_none() {
                    return Err(source.error(
                        &at("instances"),
                        "instances per principal need a stdio upstream (`command`)",
                    ));
                }
                if u.idle_timeout_secs == Some(0) {
                    return Err(source.error(&at("idle_timeout_secs"), "is 0"));
                }
                if u.max_instances == Some(0) {
                    return Err(source.error(&at("max_instances"), "is 0"));
                }
            } else {
                for (k, given) in [
                    ("idle_timeout_secs", u.idle_timeout_secs.is_some()),
                    ("max_instances", u.max_instances.is_some()),
                ] {
                    if given {
                        return Err(source
                            .error(&at(k), "applies only with `instances = \"per_principal\"`"));
                    }
                }
            }
        }
        let upstream_names: Vec<&str> = self.upstreams.keys().map(String::as_str).collect();
        // The error of a pattern among `patterns` (the `upstreams` of the entry at `at`) that
        // names no configured upstream: the entry would apply to nothing, silently.
        let unknown_upstream = |at: &[Seg], patterns: &[String]| {
            let Some(j) = matching_none(patterns, &upstream_names) else {
                return Ok(());
            };
            let mut path = at.to_vec();
            path.extend([key("upstreams"), Seg::Index(j)]);
            Err(source.error(
                &path,
                format!(
                    "`{}` names no upstream (the upstreams: {})",
                    patterns[j],
                    if upstream_names.is_empty() {
                        "none".to_owned()
                    } else {
                        upstream_names.join(", ")
                    }
                ),
            ))
        };
        for (i, rule) in self.rules.iter().enumerate() {
            crate::rules::CompiledRule::compile(rule).map_err(|(field, index, message)| {
                let mut path = vec![key("rules"), Seg::Index(i), key(field)];
                if let Some(j) = index {
                    path.push(Seg::Index(j));
                }
                source.error(&path, message)
            })?;
            unknown_upstream(&[key("rules"), Seg::Index(i)], &rule.upstreams)?;
        }
        crate::filters::compile(&self.filters)
            .map_err(|(path, message)| source.error(&path, message))?;
        for (i, f) in self.filters.iter().enumerate() {
            unknown_upstream(&[key("filters"), Seg::Index(i)], &f.upstreams)?;
        }
        if let Some(a) = &self.anomaly {
            crate::anomaly::Detector::new(a)
                .map_err(|(path, message): (Vec<Seg>, String)| source.error(&path, message))?;
            for (tag, spec) in &a.tags {
                if let TagConfig::Upstreams { upstreams, .. } = spec {
                    unknown_upstream(&[key("anomaly"), key("tags"), key(tag)], upstreams)?;
                }
            }
        }
        for (i, o) in self.front.allowed_origins.iter().flatten().enumerate() {
            let authority = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"));
            if o != "*"
                && authority.is_none_or(|a| a.is_empty() || a.trim_end_matches('/').contains('/'))
            {
                return Err(source.error(
                    &[key("front"), key("allowed_origins"), Seg::Index(i)],
                    format!(
                        "`{o}` is not an origin: `https://host` or `http://host:port`, no path"
                    ),
                ));
            }
        }
        if let Some(t) = &self.front.tls
            && t.client_ca.is_none()
            && !t.client_roles.is_empty()
        {
            return Err(source.error(
                &[key("front"), key("tls"), key("client_roles")],
                "roles by client certificate need `client_ca` (mutual TLS)",
            ));
        }
        if let Some(o) = &self.front.oauth {
            let at = |k: &str| [key("front"), key("oauth"), key(k)];
            match (&o.jwks_url, &o.introspection_url) {
                (Some(_), Some(_)) => {
                    return Err(source.error(
                        &at("introspection_url"),
                        "give either `jwks_url` or `introspection_url`, not both",
                    ));
                }
                (None, None) => {
                    return Err(source.error(
                        &[key("front"), key("oauth")],
                        "give `jwks_url` or `introspection_url`",
                    ));
                }
                (None, Some(_)) if o.client_id.is_none() || o.client_secret.is_none() => {
                    return Err(source.error(
                        &at("introspection_url"),
                        "introspection needs `client_id` and `client_secret`",
                    ));
                }
                _ => {}
            }
            if let Some(secret) = &o.client_secret
                && let Err(m) = expand(secret)
            {
                return Err(source.error(&at("client_secret"), m));
            }
        }
        Ok(())
    }

    /// A path from the configuration, relative to its file.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            return path.to_owned();
        }
        match self.file.parent() {
            Some(dir) => dir.join(path),
            None => path.to_owned(),
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        })
    }
}

/// Whether `<name><separator><item>` splits at its first separator into `name` and `item`:
/// `name` holds no separator and its end makes none with the separator's start (`a_` with `__`
/// would, as `a___b` splits into `a` and `_b`).
pub(crate) fn splits_after(name: &str, separator: &str) -> bool {
    format!("{name}{separator}").find(separator) == Some(name.len())
}

/// Expands `${VAR}` from the environment, and `${VAR:-default}` (the default when the variable
/// is unset or empty, as in a shell and in Claude Code's `.mcp.json`); `$$` is a literal `$`. A
/// variable that is not set and has no default is an error naming it.
pub fn expand(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err("an unclosed `${`".to_owned());
            };
            let (name, default) = match body[..end].split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (&body[..end], None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`${{{}}}` is not a variable name", &body[..end]));
            }
            match (std::env::var(name), default) {
                (Ok(v), None) => out.push_str(&v),
                (Ok(v), Some(_)) if !v.is_empty() => out.push_str(&v),
                (_, Some(default)) => out.push_str(default),
                (Err(_), None) => {
                    return Err(format!("the environment variable `{name}` is not set"));
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}
