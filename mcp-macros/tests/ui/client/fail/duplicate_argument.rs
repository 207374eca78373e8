#[mcp_client::client]
trait Calc {
    async fn add(&self, a: f64, #[arg(rename = "a")] b: f64) -> mcp_client::Result<f64>;
}

fn main() {}
