use mcp_server::mcp_core::contract::ToolContract;
use mcp_server::tool;

#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct AddInput {
    pub a: f64,
    pub b: f64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct OtherInput {
    pub a: f64,
}

pub struct AddContract;

impl ToolContract for AddContract {
    const NAME: &'static str = "add";
    type Input = AddInput;
    type Output = f64;
}

#[tool(contract = AddContract)]
async fn add(#[args] input: OtherInput) -> f64 {
    input.a
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").tool(Add);
}
