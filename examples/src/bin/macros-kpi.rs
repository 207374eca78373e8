//! A KPI server written with the macros: free-function tools, a resource template with
//! completion, a prompt, and the methods of a stateful value as handlers.
//!
//! Serves on stdio: `cargo run -p mcp-examples --bin macros-kpi`. Logs go to stderr
//! (`RUST_LOG=debug` for more). `MCP_MACROS_DEBUG=1 cargo build ...` prints the expansions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mcp_server::types::PromptMessage;
use mcp_server::{Context, Error, Json, Server, State, handlers, prompt, resource, tool};

/// Monthly revenue by `(year, month)`: the shared state of the free functions.
struct Ledger {
    revenue: BTreeMap<(u16, u8), f64>,
}

impl Ledger {
    fn sample() -> Self {
        let revenue = (1..=12)
            .map(|m| ((2025, m), 10_000.0 + f64::from(m) * 750.0))
            .collect();
        Ledger { revenue }
    }
}

/// A business metric.
#[derive(Debug, Clone, Copy, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Metric {
    /// Money coming in, summed over the months.
    Revenue,
    /// Average monthly revenue.
    AverageRevenue,
}

/// The value of a metric over a range of months.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct Figure {
    /// The metric.
    metric: String,
    /// Its value.
    value: f64,
    /// How many months were counted.
    months: usize,
}

/// Add two numbers.
#[tool(read_only, idempotent)]
async fn add(
    /// The left operand.
    a: f64,
    /// The right operand.
    b: f64,
) -> f64 {
    a + b
}

/// Compute a metric over the months of 2025.
#[tool(title = "Query KPIs", read_only, scopes = ["kpi:read"], rate_limit = "60/min")]
async fn query(
    ledger: State<Ledger>,
    cx: Context,
    /// The metric to compute.
    metric: Metric,
    /// First month, 1 to 12.
    #[arg(default = 1)]
    from: u8,
    /// Last month, 1 to 12.
    #[arg(default = 12)]
    to: u8,
) -> Result<Json<Figure>, Error> {
    if !(1..=12).contains(&from) || !(from..=12).contains(&to) {
        return Err(Error::public(format!(
            "months must satisfy 1 <= from <= to <= 12; got {from} and {to}"
        )));
    }
    cx.info(format!("{metric:?} from {from} to {to}"));
    let values: Vec<f64> = (from..=to)
        .filter_map(|m| ledger.revenue.get(&(2025, m)).copied())
        .collect();
    let total: f64 = values.iter().sum();
    let value = match metric {
        Metric::Revenue => total,
        Metric::AverageRevenue => total / values.len().max(1) as f64,
    };
    Ok(Json(Figure {
        metric: format!("{metric:?}"),
        value,
        months: values.len(),
    }))
}

/// The figures of one month.
#[derive(serde::Serialize)]
struct MonthlyFigures {
    year: u16,
    month: u8,
    revenue: f64,
}

/// The revenue of a month, as JSON.
#[resource(
    "kpi://reports/{year}/{month}",
    title = "Monthly report",
    complete(year = complete_year, month = complete_month),
    marker = MonthlyReport
)]
async fn report(ledger: State<Ledger>, year: u16, month: u8) -> Result<MonthlyFigures, Error> {
    let revenue = ledger
        .revenue
        .get(&(year, month))
        .copied()
        .ok_or_else(|| Error::not_found(format!("kpi://reports/{year}/{month}")))?;
    Ok(MonthlyFigures {
        year,
        month,
        revenue,
    })
}

fn complete_year(typed: &str) -> Vec<&'static str> {
    ["2025"]
        .into_iter()
        .filter(|y| y.starts_with(typed))
        .collect()
}

fn complete_month(typed: &str) -> Vec<String> {
    (1..=12)
        .map(|m| m.to_string())
        .filter(|m| m.starts_with(typed))
        .collect()
}

/// Ask the model to explain a month's figures.
#[prompt(title = "Explain a month")]
fn explain_month(
    /// The year.
    year: u16,
    /// The month, 1 to 12.
    month: u8,
    /// Who the explanation is for; a general audience when absent.
    audience: Option<String>,
) -> Vec<PromptMessage> {
    vec![
        PromptMessage::user(format!(
            "Read kpi://reports/{year}/{month} and explain the month's revenue to {}.",
            audience.as_deref().unwrap_or("a general audience")
        )),
        PromptMessage::assistant("I will read the report first."),
    ]
}

/// Targets set by the business, with a counter of checks: a stateful value whose methods are
/// handlers.
struct Targets {
    monthly_revenue: f64,
    checks: AtomicU64,
}

#[handlers]
impl Targets {
    /// Whether a month met the revenue target.
    #[tool(read_only)]
    async fn check_target(&self, ledger: State<Ledger>, month: u8) -> Result<String, Error> {
        self.checks.fetch_add(1, Ordering::Relaxed);
        let revenue = ledger
            .revenue
            .get(&(2025, month))
            .ok_or_else(|| Error::public(format!("no figures for month {month}")))?;
        Ok(if *revenue >= self.monthly_revenue {
            format!(
                "month {month} met the target ({revenue:.0} >= {:.0})",
                self.monthly_revenue
            )
        } else {
            format!(
                "month {month} missed the target ({revenue:.0} < {:.0})",
                self.monthly_revenue
            )
        })
    }

    /// How many checks ran since the server started.
    #[tool(read_only)]
    fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// The monthly revenue target.
    #[resource("kpi://targets/revenue", mime_type = "text/plain")]
    fn revenue_target(&self) -> String {
        format!("{:.0}", self.monthly_revenue)
    }
}

fn server() -> Server {
    Server::new("macros-kpi", env!("CARGO_PKG_VERSION"))
        .instructions(
            "Business KPIs for 2025: `query` metrics, read monthly reports, check targets.",
        )
        .state(Ledger::sample())
        .tool(Add)
        .tool(Query)
        .resource(MonthlyReport)
        .prompt(ExplainMonth)
        .handlers(Arc::new(Targets {
            monthly_revenue: 15_000.0,
            checks: AtomicU64::new(0),
        }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    server().serve_stdio().await
}
