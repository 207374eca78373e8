#[mcp_client::client]
trait Calc {
    async fn add(&self, (a, b): (f64, f64)) -> mcp_client::Result<f64>;
}

fn main() {}
