use mcp_client::{Client, Error, Result};

#[derive(serde::Serialize, schemars::JsonSchema)]
pub enum Metric {
    Revenue,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct Report {
    pub value: f64,
}

/// An output without a schema: decoded, not compared.
#[derive(Debug, serde::Deserialize)]
pub struct Loose {
    pub anything: serde_json::Value,
}

#[derive(Debug)]
pub struct AppError(pub Error);

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        AppError(e)
    }
}

/// The KPI tools.
#[mcp_client::client]
pub trait Kpi {
    /// Queries a metric.
    async fn query(&self, metric: Metric) -> Result<Report>;

    #[tool(name = "kpi.convert")]
    async fn convert(&self, amount: f64, #[arg(rename = "to-currency")] to: &str) -> mcp_client::Result<String>;

    async fn r#loose(&self) -> std::result::Result<Loose, AppError>;

    async fn nothing(&self, r#type: Option<String>) -> Result<()>;
}

async fn use_it(client: Client) -> Result<f64> {
    let report = client.query(Metric::Revenue).await?;
    let _: String = client.convert(1.0, "EUR").await?;
    let _: std::result::Result<Loose, AppError> = client.r#loose().await;
    client.nothing(None).await?;
    Ok(report.value)
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    let _ = use_it;
    fn spawnable(client: &Client) {
        assert_send(client.query(Metric::Revenue));
    }
    let _ = spawnable;
}
