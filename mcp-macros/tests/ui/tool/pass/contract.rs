//! A tool agreeing with a contract declared apart (here by hand; usually `tool_contract!` in a
//! crate of contracts).
use mcp_server::mcp_core::contract::ToolContract;
use mcp_server::tool;

#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct AddInput {
    pub a: f64,
    pub b: f64,
}

pub struct AddContract;

impl ToolContract for AddContract {
    const NAME: &'static str = "add";
    type Input = AddInput;
    type Output = f64;
}

#[tool(contract = AddContract)]
async fn add(#[args] input: AddInput) -> f64 {
    input.a + input.b
}

/// Without `contract`, the marker is a contract of its own, with a generated input type.
#[tool]
pub fn scale(value: f64, factor: f64) -> f64 {
    value * factor
}

fn main() {
    assert_eq!(<Add as ToolContract>::NAME, "add");
    let _: <Add as ToolContract>::Input = AddInput { a: 1.0, b: 2.0 };
    let _ = ScaleInput { value: 1.0, factor: 2.0 };
    assert_eq!(<Scale as ToolContract>::NAME, "scale");
    let _ = mcp_server::Server::new("s", "1").tool(Add).tool(Scale);
}
