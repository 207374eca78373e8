#[mcp_client::client]
trait Calc {
    async fn echo<T: serde::Serialize + Send>(&self, value: T) -> mcp_client::Result<String>;
}

fn main() {}
