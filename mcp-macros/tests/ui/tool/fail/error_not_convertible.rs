use mcp_server::tool;

struct Oops;

#[tool]
fn divide(a: f64, b: f64) -> Result<f64, Oops> {
    if b == 0.0 { Err(Oops) } else { Ok(a / b) }
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").tool(Divide);
}
