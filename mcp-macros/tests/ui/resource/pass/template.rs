//! A URI template: variables parsed with `FromStr`, optional query variables, defaults,
//! injected state, completion functions (sync and async).
use mcp_server::{Context, Error, ResourceDefinition, ResourceHandler, Server, State, resource};

struct Db;

#[derive(serde::Serialize)]
struct Report {
    total: f64,
}

fn months(value: &str) -> Vec<String> {
    (1..=12).map(|m| m.to_string()).filter(|m| m.starts_with(value)).collect()
}

async fn years(_value: &str) -> Result<Vec<&'static str>, Error> {
    Ok(vec!["2025"])
}

/// A monthly report.
#[resource(
    "kpi://reports/{year}/{month}{?currency,rounding}",
    name = "monthly-report",
    title = "Monthly report",
    complete(month = months, year = years),
    scopes = ["kpi:read"],
    marker = MonthlyReport
)]
async fn report(
    db: State<Db>,
    cx: Context,
    year: u16,
    month: u8,
    currency: Option<String>,
    #[arg(default = 2)] rounding: u8,
) -> Result<Report, Error> {
    let _ = (db, cx, year, month, currency, rounding);
    Ok(Report { total: 1.0 })
}

#[resource("file:///{+path}")]
fn file(#[arg(rename = "path")] p: std::path::PathBuf) -> String {
    p.display().to_string()
}

fn main() {
    let ResourceDefinition::Template(t) = MonthlyReport.definition() else { panic!() };
    assert_eq!(t.mime_type.as_deref(), Some("application/json"));
    assert_eq!(t.name, "monthly-report");
    let _server = Server::new("s", "1").state(Db).resource(MonthlyReport).resource(File);
}
