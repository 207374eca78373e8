//! Per-tool metrics through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `mcp_tool_calls_total` | counter | `tool`, `outcome` (`ok`, `error`, `tool_error`, `denied`) |
//! | `mcp_tool_errors_total` | counter | `tool`, `outcome` (`error`, `tool_error`) |
//! | `mcp_tool_denials_total` | counter | `tool`, `outcome` (`denied`) |
//! | `mcp_tool_call_duration_seconds` | histogram | `tool`, `outcome` |
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
}

/// Records a finished call of `tool`: one call, one error if the outcome is one, and its
/// duration.
///
/// This builds the metrics' keys for the one call; the server records its tools' calls through
/// keys built once, when each tool is registered.
pub fn record_call(tool: &str, outcome: Outcome, latency: Duration) {
    ToolMetrics::new(tool).call(outcome, latency);
}

/// Records a denied call of `tool` (the handler never ran): one call and one denial, both with
/// outcome `denied`, and how long the decision took.
pub fn record_denial(tool: &str, latency: Duration) {
    ToolMetrics::new(tool).denial(latency);
}

/// Where the recorder is told the metrics come from (what the `metrics` macros would say).
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// One tool's metric keys, built once: recording a call with them copies nothing (each key
/// holds the tool's name and caches its hash), where the macros would build and drop a key,
/// with the name copied into its labels, for every metric of every call.
pub(crate) struct ToolMetrics {
    /// [`CALLS`], [`DURATION`] and [`ERRORS`] (`None` for `ok`), by outcome as [`slot`] orders them.
    calls: [Key; 3],
    durations: [Key; 3],
    errors: [Option<Key>; 3],
    denied_calls: Key,
    denials: Key,
    denied_duration: Key,
}

/// The index of `outcome` in [`ToolMetrics`]' arrays.
fn slot(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Ok => 0,
        Outcome::Error => 1,
        Outcome::ToolError => 2,
    }
}

impl ToolMetrics {
    pub(crate) fn new(tool: &str) -> Self {
        // One copy of the name, shared by the keys.
        let tool = SharedString::from_shared(std::sync::Arc::<str>::from(tool));
        let key = |name: &'static str, outcome: &'static str| {
            Key::from_parts(
                name,
                vec![
                    Label::new("tool", tool.clone()),
                    Label::new("outcome", outcome),
                ],
            )
        };
        let outcomes = [Outcome::Ok, Outcome::Error, Outcome::ToolError].map(Outcome::as_str);
        ToolMetrics {
            calls: outcomes.map(|o| key(CALLS, o)),
            durations: outcomes.map(|o| key(DURATION, o)),
            errors: outcomes.map(|o| (o != Outcome::Ok.as_str()).then(|| key(ERRORS, o))),
            denied_calls: key(CALLS, DENIED),
            denials: key(DENIALS, DENIED),
            denied_duration: key(DURATION, DENIED),
        }
    }

    /// A finished call: one call, one error if the outcome is one, and its duration.
    pub(crate) fn call(&self, outcome: Outcome, latency: Duration) {
        let i = slot(outcome);
        ::metrics::with_recorder(|r| {
            r.register_counter(&self.calls[i], &METADATA).increment(1);
            if let Some(errors) = &self.errors[i] {
                r.register_counter(errors, &METADATA).increment(1);
            }
            r.register_histogram(&self.durations[i], &METADATA)
                .record(latency.as_secs_f64());
        });
    }

    /// A denied call: one call and one denial, both with outcome `denied`, and how long the
    /// decision took.
    pub(crate) fn denial(&self, latency: Duration) {
        ::metrics::with_recorder(|r| {
            r.register_counter(&self.denied_calls, &METADATA)
                .increment(1);
            r.register_counter(&self.denials, &METADATA).increment(1);
            r.register_histogram(&self.denied_duration, &METADATA)
                .record(latency.as_secs_f64());
        });
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
