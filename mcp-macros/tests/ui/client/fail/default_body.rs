#[mcp_client::client]
trait Calc {
    async fn add(&self, a: f64, b: f64) -> mcp_client::Result<f64> {
        Ok(a + b)
    }
}

fn main() {}
