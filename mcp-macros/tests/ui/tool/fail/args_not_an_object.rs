use mcp_server::tool;

#[tool]
fn sum(#[args] values: Vec<f64>) -> f64 {
    values.iter().sum()
}

fn main() {}
