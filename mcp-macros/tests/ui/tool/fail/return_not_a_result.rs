use mcp_server::tool;

struct Sum(f64);

#[tool]
fn add(a: f64, b: f64) -> Sum {
    Sum(a + b)
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").tool(Add);
}
