use mcp_server::tool;

#[tool(descripton = "Add two numbers.")]
fn add(a: f64, b: f64) -> f64 {
    a + b
}

fn main() {}
