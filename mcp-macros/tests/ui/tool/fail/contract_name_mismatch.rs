use mcp_server::mcp_core::contract::ToolContract;
use mcp_server::tool;

pub struct SumContract;

impl ToolContract for SumContract {
    const NAME: &'static str = "sum";
    type Input = serde_json::Value;
    type Output = f64;
}

#[tool(contract = SumContract)]
async fn add() -> f64 {
    0.0
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").tool(Add);
}
