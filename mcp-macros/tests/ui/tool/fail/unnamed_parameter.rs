use mcp_server::tool;

#[tool]
fn area((w, h): (f64, f64)) -> f64 {
    w * h
}

fn main() {}
