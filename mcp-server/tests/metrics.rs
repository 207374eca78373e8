//! Per-tool metrics, read back through `metrics-util`'s debugging recorder.

use std::collections::BTreeMap;
use std::time::Duration;

use mcp_server::audit::Outcome;
use mcp_server::metrics::{self, CALLS, DENIALS, DURATION, ERRORS};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// `(name, sorted labels)` → value, for everything recorded.
type Seen = BTreeMap<(String, Vec<(String, String)>), DebugValue>;

fn recorded(f: impl FnOnce()) -> Seen {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    ::metrics::with_local_recorder(&recorder, f);
    let mut seen = Seen::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let (_, key) = key.into_parts();
        let mut labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        labels.sort();
        seen.insert((key.name().to_owned(), labels), value);
    }
    seen
}

/// [`recorded`], for what a server records while `work` runs on a runtime of its own.
fn recorded_serving(work: impl std::future::Future<Output = ()>) -> Seen {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    recorded(|| runtime.block_on(work))
}

fn labels(tool: &str, outcome: &str) -> Vec<(String, String)> {
    vec![
        ("outcome".to_owned(), outcome.to_owned()),
        ("tool".to_owned(), tool.to_owned()),
    ]
}

fn counter(seen: &Seen, name: &str, tool: &str, outcome: &str) -> u64 {
    match seen.get(&(name.to_owned(), labels(tool, outcome))) {
        Some(DebugValue::Counter(n)) => *n,
        None => 0,
        Some(other) => panic!("{name} is not a counter: {other:?}"),
    }
}

#[test]
fn calls_errors_denials_and_latency_per_tool() {
    let seen = recorded(|| {
        metrics::record_call("add", Outcome::Ok, Duration::from_millis(3));
        metrics::record_call("add", Outcome::Ok, Duration::from_millis(5));
        metrics::record_call("add", Outcome::ToolError, Duration::from_millis(7));
        metrics::record_call("fetch", Outcome::Error, Duration::from_millis(11));
        metrics::record_denial("fetch", Duration::from_micros(40));
    });
    assert_eq!(counter(&seen, CALLS, "add", "ok"), 2);
    assert_eq!(counter(&seen, CALLS, "add", "tool_error"), 1);
    assert_eq!(counter(&seen, ERRORS, "add", "tool_error"), 1);
    assert_eq!(counter(&seen, ERRORS, "add", "ok"), 0);
    assert_eq!(counter(&seen, CALLS, "fetch", "error"), 1);
    assert_eq!(counter(&seen, ERRORS, "fetch", "error"), 1);
    assert_eq!(counter(&seen, CALLS, "fetch", "denied"), 1);
    assert_eq!(counter(&seen, DENIALS, "fetch", "denied"), 1);
    assert_eq!(counter(&seen, DENIALS, "add", "denied"), 0);
    match seen.get(&(DURATION.to_owned(), labels("add", "ok"))) {
        Some(DebugValue::Histogram(values)) => {
            let secs: Vec<f64> = values.iter().map(|v| v.into_inner()).collect();
            assert_eq!(secs, vec![0.003, 0.005]);
        }
        other => panic!("no latency histogram: {other:?}"),
    }
    assert!(matches!(
        seen.get(&(DURATION.to_owned(), labels("fetch", "denied"))),
        Some(DebugValue::Histogram(v)) if v.len() == 1
    ));
}

#[test]
fn descriptions_and_units_are_registered() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    ::metrics::with_local_recorder(&recorder, || {
        metrics::describe();
        metrics::record_call("add", Outcome::Ok, Duration::from_millis(1));
        metrics::record_denial("add", Duration::from_millis(1));
        metrics::record_approval("add", "approved", Duration::from_millis(1));
        let fired = BTreeMap::from([("email".to_owned(), 1_u64)]);
        metrics::record_filtered(&fired, "tool", true);
    });
    let described: BTreeMap<String, (Option<::metrics::Unit>, bool)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, unit, description, _)| {
            (key.key().name().to_owned(), (unit, description.is_some()))
        })
        .collect();
    assert_eq!(described[CALLS], (Some(::metrics::Unit::Count), true));
    assert_eq!(described[DENIALS], (Some(::metrics::Unit::Count), true));
    assert_eq!(described[DURATION], (Some(::metrics::Unit::Seconds), true));
    assert_eq!(
        described[metrics::APPROVALS],
        (Some(::metrics::Unit::Count), true)
    );
    assert_eq!(
        described[metrics::APPROVAL_WAIT],
        (Some(::metrics::Unit::Seconds), true)
    );
    for counter in [metrics::FILTER_MATCHES, metrics::FILTER_WITHHELD] {
        assert_eq!(described[counter], (Some(::metrics::Unit::Count), true));
    }
}

/// The scrape endpoint serves what was recorded. It installs the process-wide recorder, which
/// the tests above do not use (they record through a local one).
#[cfg(feature = "prometheus")]
#[tokio::test]
async fn the_prometheus_endpoint_serves_the_metrics() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    metrics::install_prometheus(addr).unwrap();
    metrics::record_call("add", Outcome::Ok, Duration::from_millis(2));
    metrics::record_denial("add", Duration::from_millis(1));
    let mut body = String::new();
    for _ in 0..50 {
        if let Ok(r) = reqwest::get(format!("http://{addr}/metrics")).await {
            body = r.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        body.contains(r#"mcp_tool_calls_total{tool="add",outcome="ok"} 1"#)
            || body.contains(r#"mcp_tool_calls_total{outcome="ok",tool="add"} 1"#),
        "{body}"
    );
    assert!(body.contains("# HELP mcp_tool_denials_total"), "{body}");
    assert!(body.contains("mcp_tool_call_duration_seconds"), "{body}");
}

/// A tool that ends as its argument `end` says: a result, a tool error or a JSON-RPC error.
struct Ends;
impl mcp_server::ToolHandler for Ends {
    fn definition(&self) -> mcp_server::types::Tool {
        mcp_server::types::Tool::new("ends", mcp_server::types::JsonObject::new())
    }
    fn policy(&self) -> mcp_server::Policy {
        mcp_server::Policy {
            scopes: vec!["read".into()],
            ..mcp_server::Policy::public()
        }
    }
    async fn call(
        &self,
        _cx: mcp_server::Context,
        args: mcp_server::types::JsonObject,
    ) -> mcp_server::Result<mcp_server::types::CallToolResult> {
        match args.get("end").and_then(serde_json::Value::as_str) {
            Some("tool_error") => Err(mcp_server::Error::public("it failed")),
            Some("error") => Err(mcp_server::Error::protocol(
                mcp_core::ErrorObject::internal_error("broken"),
            )),
            _ => Ok(mcp_server::types::CallToolResult::success(vec![
                mcp_server::types::ContentBlock::text("done"),
            ])),
        }
    }
}

/// Needs a scope the caller here lacks: every call is denied.
struct Guarded;
impl mcp_server::ToolHandler for Guarded {
    fn definition(&self) -> mcp_server::types::Tool {
        mcp_server::types::Tool::new("guarded", mcp_server::types::JsonObject::new())
    }
    fn policy(&self) -> mcp_server::Policy {
        mcp_server::Policy {
            scopes: vec!["admin".into()],
            ..mcp_server::Policy::public()
        }
    }
    async fn call(
        &self,
        _cx: mcp_server::Context,
        _args: mcp_server::types::JsonObject,
    ) -> mcp_server::Result<mcp_server::types::CallToolResult> {
        unreachable!("denied before it runs")
    }
}

/// The server records its tools' calls itself (with the keys each tool got when registered):
/// each outcome under its own label, errors beside their calls, denials apart; an unknown tool
/// is not a label.
#[test]
fn the_server_records_each_call_under_its_outcome() {
    use serde_json::json;
    let seen = recorded_serving(async {
        let server = mcp_server::Server::new("m", "1")
            .identity(mcp_server::Identity::configured("reader").with_scopes(["read"]))
            .tool(Ends)
            .tool(Guarded);
        let mut c = crate::support::Client::start(server);
        c.initialize("2025-11-25", json!({})).await;
        let call = |end: &str| json!({"name": "ends", "arguments": {"end": end}});
        let ends = ["ok", "ok", "tool_error", "tool_error", "error"];
        for (id, end) in (1..).zip(ends) {
            c.call(id, "tools/call", call(end)).await;
        }
        c.call(
            10,
            "tools/call",
            json!({"name": "guarded", "arguments": {}}),
        )
        .await;
        c.call(
            11,
            "tools/call",
            json!({"name": "nowhere", "arguments": {}}),
        )
        .await;
    });
    assert_eq!(counter(&seen, CALLS, "ends", "ok"), 2);
    assert_eq!(counter(&seen, ERRORS, "ends", "ok"), 0);
    assert_eq!(counter(&seen, CALLS, "ends", "tool_error"), 2);
    assert_eq!(counter(&seen, ERRORS, "ends", "tool_error"), 2);
    assert_eq!(counter(&seen, CALLS, "ends", "error"), 1);
    assert_eq!(counter(&seen, ERRORS, "ends", "error"), 1);
    assert_eq!(counter(&seen, CALLS, "guarded", "denied"), 1);
    assert_eq!(counter(&seen, DENIALS, "guarded", "denied"), 1);
    assert_eq!(counter(&seen, CALLS, "ends", "denied"), 0);
    assert!(
        !seen
            .keys()
            .any(|(_, labels)| labels.iter().any(|(_, v)| v == "nowhere")),
        "{seen:?}"
    );
    match seen.get(&(DURATION.to_owned(), labels("ends", "ok"))) {
        Some(DebugValue::Histogram(values)) => assert_eq!(values.len(), 2),
        other => panic!("no latency histogram: {other:?}"),
    }
}

/// A tool whose calls a human approves.
struct Approved;
impl mcp_server::ToolHandler for Approved {
    fn definition(&self) -> mcp_server::types::Tool {
        mcp_server::types::Tool::new("deploy", mcp_server::types::JsonObject::new())
    }
    fn policy(&self) -> mcp_server::Policy {
        mcp_server::Policy {
            approval: mcp_server::Approval::Required,
            ..mcp_server::Policy::public()
        }
    }
    async fn call(
        &self,
        _cx: mcp_server::Context,
        _args: mcp_server::types::JsonObject,
    ) -> mcp_server::Result<mcp_server::types::CallToolResult> {
        Ok(mcp_server::types::CallToolResult::success(vec![]))
    }
}

/// Each approval asked is counted by its decision, and how long the call waited for it is a
/// histogram of its own (it is also part of the call's duration).
#[test]
fn approvals_are_counted_by_decision_with_the_wait() {
    use mcp_server::approval::{ApprovalGate, Approvals, ChannelApprover};
    use mcp_server::metrics::{APPROVAL_WAIT, APPROVALS};
    use serde_json::json;
    let seen = recorded_serving(async {
        let (approver, mut prompts) = ChannelApprover::new(4, Duration::from_secs(10));
        tokio::spawn(async move {
            let mut first = true;
            while let Some(prompt) = prompts.recv().await {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if std::mem::take(&mut first) {
                    prompt.approve();
                } else {
                    prompt.deny("not now");
                }
            }
        });
        let server = mcp_server::Server::new("m", "1")
            .tool(Approved)
            .approval(ApprovalGate::new(Approvals::random()).with_approver(approver));
        let mut c = crate::support::Client::start(server);
        c.initialize("2025-11-25", json!({})).await;
        for id in 1..=2 {
            c.call(id, "tools/call", json!({"name": "deploy", "arguments": {}}))
                .await;
        }
    });
    let approvals = |decision: &str| match seen.get(&(
        APPROVALS.to_owned(),
        vec![
            ("decision".to_owned(), decision.to_owned()),
            ("tool".to_owned(), "deploy".to_owned()),
        ],
    )) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{decision}: {other:?} in {seen:?}"),
    };
    assert_eq!(approvals("approved"), 1);
    assert_eq!(approvals("declined"), 1);
    match seen.get(&(
        APPROVAL_WAIT.to_owned(),
        vec![("tool".to_owned(), "deploy".to_owned())],
    )) {
        Some(DebugValue::Histogram(values)) => {
            assert_eq!(values.len(), 2);
            assert!(values.iter().all(|v| v.into_inner() >= 0.02), "{values:?}");
        }
        other => panic!("no wait histogram: {other:?}"),
    }
}

/// What the result filters find is counted by rule, and the results they withhold by kind.
#[cfg(feature = "filters")]
#[test]
fn filter_matches_and_withheld_results_are_counted() {
    use mcp_server::filter::{Action, Detector, Filters, Rule};
    use mcp_server::metrics::{FILTER_MATCHES, FILTER_WITHHELD};
    use serde_json::json;
    /// Says what it is given.
    struct Says;
    impl mcp_server::ToolHandler for Says {
        fn definition(&self) -> mcp_server::types::Tool {
            mcp_server::types::Tool::new("says", mcp_server::types::JsonObject::new())
        }
        fn policy(&self) -> mcp_server::Policy {
            mcp_server::Policy::public()
        }
        async fn call(
            &self,
            _cx: mcp_server::Context,
            args: mcp_server::types::JsonObject,
        ) -> mcp_server::Result<mcp_server::types::CallToolResult> {
            let text = args.get("text").and_then(serde_json::Value::as_str);
            Ok(mcp_server::types::CallToolResult::success(vec![
                mcp_server::types::ContentBlock::text(text.unwrap_or_default()),
            ]))
        }
    }

    let seen = recorded_serving(async {
        let filters = Filters::new([
            Rule::detector(Detector::Email, Action::Redact),
            Rule::regex("codename", "BLUEBIRD", Action::Block),
        ])
        .unwrap();
        let server = mcp_server::Server::new("m", "1")
            .tool(Says)
            .filters(filters);
        let mut c = crate::support::Client::start(server);
        c.initialize("2025-11-25", json!({})).await;
        for (id, text) in [
            (1, "a@example.com and b@example.com"),
            (2, "nothing"),
            (3, "BLUEBIRD"),
        ] {
            c.call(
                id,
                "tools/call",
                json!({"name": "says", "arguments": {"text": text}}),
            )
            .await;
        }
    });
    let counter = |name: &str, label: (&str, &str)| match seen.get(&(
        name.to_owned(),
        vec![(label.0.to_owned(), label.1.to_owned())],
    )) {
        Some(DebugValue::Counter(n)) => *n,
        None => 0,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(counter(FILTER_MATCHES, ("rule", "email")), 2);
    assert_eq!(counter(FILTER_MATCHES, ("rule", "codename")), 1);
    assert_eq!(counter(FILTER_WITHHELD, ("kind", "tool")), 1);
}
