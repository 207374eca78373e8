//! Every `#[tool]` option.
use mcp_server::mcp_core::Meta;
use mcp_server::types::Icon;
use mcp_server::{Server, ToolHandler, tool};

fn icons() -> Vec<Icon> {
    vec![Icon { src: "https://example.com/i.png".into(), ..Default::default() }]
}

fn meta() -> Meta {
    Meta::new()
}

/// Described by the doc comment, overridden below.
#[tool(
    name = "kpi.query-v2",
    title = "Query KPIs",
    description = "Query a metric.",
    read_only,
    destructive = false,
    idempotent = true,
    open_world = false,
    icons = ["https://example.com/q.svg"],
    meta = meta,
    task_support = "optional",
    scopes = ["kpi:read", "kpi:export"],
    roles = ["analyst"],
    approval = "required",
    rate_limit = "100/min",
    max_concurrency = 4,
    timeout = "1500ms",
    max_argument_bytes = 4096,
    max_result_bytes = 1_000_000,
    raw_schema,
    marker = KpiQuery,
    crate = "::mcp_server"
)]
async fn query(metric: String) -> String {
    metric
}

#[tool(icons = icons, public, rate_limit = "5/s")]
fn open() {}

fn main() {
    let d = KpiQuery.definition();
    assert_eq!(d.name, "kpi.query-v2");
    assert_eq!(d.description.as_deref(), Some("Query a metric."));
    let p = KpiQuery.policy();
    assert!(p.declared);
    assert_eq!(p.timeout, Some(std::time::Duration::from_millis(1500)));
    assert!(Open.policy().declared);
    let _server = Server::new("s", "1").tool(KpiQuery).tool(Open);
}
