//! Per-tool metrics through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `mcp_tool_calls_total` | counter | `tool`, `outcome` (`ok`, `error`, `tool_error`, `denied`) |
//! | `mcp_tool_errors_total` | counter | `tool`, `outcome` (`error`, `tool_error`) |
//! | `mcp_tool_denials_total` | counter | `tool`, `outcome` (`denied`) |
//! | `mcp_tool_call_duration_seconds` | histogram | `tool`, `outcome` |
//! | `mcp_tool_approvals_total` | counter | `tool`, `decision` (`approved`, or why not: `declined`, `timeout`, `expired`, `unavailable`...) |
//! | `mcp_tool_approval_wait_seconds` | histogram | `tool` (how long the call waited for a human: part of its duration) |
//! | `mcp_filter_matches_total` | counter | `rule` (what a result filter rule found and acted on, by its configured name) |
//! | `mcp_filter_withheld_total` | counter | `kind` (`tool`, `resource`, `prompt`: results the filters withheld) |
//!
//! Nothing is recorded until the application installs a recorder: with the `prometheus` feature,
//! `install_prometheus(addr)` serves a Prometheus scrape endpoint; any other `metrics` recorder
//! (an OpenTelemetry bridge, StatsD, ...) works the same way. Every function here is a few atomic
//! operations once a recorder is installed; without one, the metric's key is still built (the
//! tool's name copied into its labels, then hashed) and dropped: about 0.1 µs a call.
//!
//! Label values come from the registry: pass only names of registered tools (an unknown name sent
//! by a client would let it create series at will).

use std::time::Duration;

use ::metrics::{Key, Label, Level, Metadata, SharedString};

use crate::audit::Outcome;

/// Counter of finished and denied tool calls.
pub const CALLS: &str = "mcp_tool_calls_total";
/// Counter of calls that ended in a JSON-RPC error or a tool error.
pub const ERRORS: &str = "mcp_tool_errors_total";
/// Counter of calls a policy or an approver denied.
pub const DENIALS: &str = "mcp_tool_denials_total";
/// Histogram of call durations, in seconds.
pub const DURATION: &str = "mcp_tool_call_duration_seconds";

/// Counter of the approvals asked, by tool and decision.
pub const APPROVALS: &str = "mcp_tool_approvals_total";
/// Histogram of how long calls waited for an approval, in seconds.
pub const APPROVAL_WAIT: &str = "mcp_tool_approval_wait_seconds";

/// Counter of what each result filter rule found, by rule.
pub const FILTER_MATCHES: &str = "mcp_filter_matches_total";
/// Counter of the results the filters withheld, by kind of item.
pub const FILTER_WITHHELD: &str = "mcp_filter_withheld_total";

/// The `outcome` label of a denial.
pub const DENIED: &str = "denied";

/// Registers the descriptions and units of the metrics with the installed recorder (exporters
/// show them as `# HELP` lines). Call once, after installing the recorder.
pub fn describe() {
    ::metrics::describe_counter!(
        CALLS,
        ::metrics::Unit::Count,
        "Tool calls, by tool and outcome"
    );
    ::metrics::describe_counter!(
        ERRORS,
        ::metrics::Unit::Count,
        "Tool calls that ended in an error, by tool and outcome"
    );
    ::metrics::describe_counter!(
        DENIALS,
        ::metrics::Unit::Count,
        "Tool calls denied by a policy or an approver, by tool"
    );
    ::metrics::describe_histogram!(
        DURATION,
        ::metrics::Unit::Seconds,
        "Duration of tool calls, by tool and outcome"
    );
    ::metrics::describe_counter!(
        APPROVALS,
        ::metrics::Unit::Count,
        "Approvals asked of a human, by tool and decision (approved, or why not)"
    );
    ::metrics::describe_counter!(
        FILTER_MATCHES,
        ::metrics::Unit::Count,
        "What each result filter rule found and acted on, by rule"
    );
    ::metrics::describe_counter!(
        FILTER_WITHHELD,
        ::metrics::Unit::Count,
        "Results the filters withheld (blocked, failed, not released), by kind of item"
    );
    ::metrics::describe_histogram!(
        APPROVAL_WAIT,
        ::metrics::Unit::Seconds,
        "How long tool calls waited for a human's approval, by tool"
    );
}

/// Records what the result filters did to one result: how many times each rule (by name) found
/// something, and whether the result was withheld (`kind`: `tool`, `resource` or `prompt`).
pub fn record_filtered<'a>(
    fired: impl IntoIterator<Item = (&'a String, &'a u64)>,
    kind: &'static str,
    withheld: bool,
) {
    ::metrics::with_recorder(|r| {
        for (rule, count) in fired {
            let key = Key::from_parts(
                FILTER_MATCHES,
                vec![Label::new("rule", SharedString::from(rule.clone()))],
            );
            r.register_counter(&key, &METADATA).increment(*count);
        }
        if withheld {
            let key = Key::from_parts(FILTER_WITHHELD, vec![Label::new("kind", kind)]);
            r.register_counter(&key, &METADATA).increment(1);
        }
    });
}

/// Records an approval asked for a call of `tool`: its decision (`approved`, or the reason it
/// was not) and how long the call waited for it.
pub fn record_approval(tool: &str, decision: &'static str, waited: Duration) {
    let tool = shared(tool);
    let counter = Key::from_parts(
        APPROVALS,
        vec![
            Label::new("tool", tool.clone()),
            Label::new("decision", decision),
        ],
    );
    let wait = Key::from_parts(APPROVAL_WAIT, vec![Label::new("tool", tool)]);
    ::metrics::with_recorder(|r| {
        r.register_counter(&counter, &METADATA).increment(1);
        r.register_histogram(&wait, &METADATA)
            .record(waited.as_secs_f64());
    });
}

/// Records a finished call of `tool`: one call, one error if the outcome is one, and its
/// duration.
///
/// This builds the keys for the one call; the server records its tools' calls through keys
/// built once, when each tool is registered.
pub fn record_call(tool: &str, outcome: Outcome, latency: Duration) {
    let tool = shared(tool);
    let o = outcome.as_str();
    let errors = (outcome != Outcome::Ok).then(|| key(ERRORS, &tool, o));
    call(
        &key(CALLS, &tool, o),
        errors.as_ref(),
        &key(DURATION, &tool, o),
        latency,
    );
}

/// Records a denied call of `tool` (the handler never ran): one call and one denial, both with
/// outcome `denied`, and how long the decision took.
pub fn record_denial(tool: &str, latency: Duration) {
    let tool = shared(tool);
    call(
        &key(CALLS, &tool, DENIED),
        Some(&key(DENIALS, &tool, DENIED)),
        &key(DURATION, &tool, DENIED),
        latency,
    );
}

/// Where the recorder is told the metrics come from (what the `metrics` macros would say).
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// One copy of a tool's name, for the keys to share.
fn shared(tool: &str) -> SharedString {
    SharedString::from_shared(std::sync::Arc::<str>::from(tool))
}

/// The key of metric `name` for `tool` and `outcome`.
fn key(name: &'static str, tool: &SharedString, outcome: &'static str) -> Key {
    Key::from_parts(
        name,
        vec![
            Label::new("tool", tool.clone()),
            Label::new("outcome", outcome),
        ],
    )
}

/// Records one call with its keys: the call, its error or denial if any, its duration.
fn call(calls: &Key, also: Option<&Key>, duration: &Key, latency: Duration) {
    ::metrics::with_recorder(|r| {
        r.register_counter(calls, &METADATA).increment(1);
        if let Some(also) = also {
            r.register_counter(also, &METADATA).increment(1);
        }
        r.register_histogram(duration, &METADATA)
            .record(latency.as_secs_f64());
    });
}

/// One tool's metric keys, built once: recording a call with them copies nothing (each key
/// holds the tool's name and caches its hash), where the macros would build and drop a key,
/// with the name copied into its labels, for every metric of every call.
pub(crate) struct ToolMetrics {
    /// By outcome, in [`OUTCOMES`]' order: [`CALLS`], [`ERRORS`] (none for `ok`), [`DURATION`].
    calls: [Key; 3],
    errors: [Option<Key>; 3],
    durations: [Key; 3],
    /// With outcome `denied`: [`CALLS`], [`DENIALS`], [`DURATION`].
    denied: [Key; 3],
}

/// The outcomes of a finished call, in the order of [`ToolMetrics`]' arrays.
const OUTCOMES: [Outcome; 3] = [Outcome::Ok, Outcome::Error, Outcome::ToolError];

impl ToolMetrics {
    pub(crate) fn new(tool: &str) -> Self {
        let tool = shared(tool);
        ToolMetrics {
            calls: OUTCOMES.map(|o| key(CALLS, &tool, o.as_str())),
            errors: OUTCOMES.map(|o| (o != Outcome::Ok).then(|| key(ERRORS, &tool, o.as_str()))),
            durations: OUTCOMES.map(|o| key(DURATION, &tool, o.as_str())),
            denied: [CALLS, DENIALS, DURATION].map(|name| key(name, &tool, DENIED)),
        }
    }

    /// A finished call: as [`record_call`].
    pub(crate) fn call(&self, outcome: Outcome, latency: Duration) {
        // Exhaustive: an outcome added to the enum must find its place here.
        let i = match outcome {
            Outcome::Ok => 0,
            Outcome::Error => 1,
            Outcome::ToolError => 2,
        };
        debug_assert_eq!(OUTCOMES[i], outcome);
        call(
            &self.calls[i],
            self.errors[i].as_ref(),
            &self.durations[i],
            latency,
        );
    }

    /// A denied call: as [`record_denial`].
    pub(crate) fn denial(&self, latency: Duration) {
        let [calls, denials, duration] = &self.denied;
        call(calls, Some(denials), duration, latency);
    }
}

/// Installs a Prometheus exporter as the global recorder, serving the metrics as text on
/// `http://<addr>/metrics` (any path answers), and registers their descriptions ([`describe`]).
///
/// Inside a Tokio runtime the endpoint runs on it; outside one, on a thread of its own. Only with
/// the `prometheus` feature.
///
/// # Errors
///
/// When a global recorder is already installed, or the address cannot be bound.
#[cfg(feature = "prometheus")]
pub fn install_prometheus(
    addr: std::net::SocketAddr,
) -> Result<(), metrics_exporter_prometheus::BuildError> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()?;
    describe();
    Ok(())
}
