use mcp_server::mcp_core::contract::ToolContract;
use mcp_server::tool;

pub struct AddContract;

impl ToolContract for AddContract {
    const NAME: &'static str = "add";
    type Input = serde_json::Value;
    type Output = i64;
}

#[tool(contract = AddContract)]
async fn add() -> f64 {
    0.0
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").tool(Add);
}
