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
pub fn record_call(tool: &str, outcome: Outcome, latency: Duration) {
    let outcome = outcome.as_str();
    // One copy of the name, shared by the keys.
    let tool = ::metrics::SharedString::from_shared(std::sync::Arc::<str>::from(tool));
    ::metrics::counter!(CALLS, "tool" => tool.clone(), "outcome" => outcome).increment(1);
    if outcome != Outcome::Ok.as_str() {
        ::metrics::counter!(ERRORS, "tool" => tool.clone(), "outcome" => outcome).increment(1);
    }
    ::metrics::histogram!(DURATION, "tool" => tool, "outcome" => outcome)
        .record(latency.as_secs_f64());
}

/// Records a denied call of `tool` (the handler never ran): one call and one denial, both with
/// outcome `denied`, and how long the decision took.
pub fn record_denial(tool: &str, latency: Duration) {
    ::metrics::counter!(CALLS, "tool" => tool.to_owned(), "outcome" => DENIED).increment(1);
    ::metrics::counter!(DENIALS, "tool" => tool.to_owned(), "outcome" => DENIED).increment(1);
    ::metrics::histogram!(DURATION, "tool" => tool.to_owned(), "outcome" => DENIED)
        .record(latency.as_secs_f64());
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
