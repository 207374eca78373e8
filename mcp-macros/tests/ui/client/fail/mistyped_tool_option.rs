#[mcp_client::client]
trait Calc {
    #[tool(nmae = "add")]
    async fn add(&self, a: f64, b: f64) -> mcp_client::Result<f64>;
}

fn main() {}
