#[mcp_client::client]
trait Calc {
    async fn reset() -> mcp_client::Result<()>;
}

fn main() {}
