#[mcp_client::client]
trait Calc {
    async fn reset(&self);
}

fn main() {}
