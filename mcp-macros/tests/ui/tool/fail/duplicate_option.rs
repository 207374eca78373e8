use mcp_server::tool;

#[tool(title = "Add", read_only, title = "Sum")]
fn add(a: f64, b: f64) -> f64 {
    a + b
}

fn main() {}
