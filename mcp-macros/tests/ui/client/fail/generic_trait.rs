#[mcp_client::client]
trait Calc<T> {
    async fn add(&self, a: f64, b: f64) -> mcp_client::Result<T>;
}

fn main() {}
