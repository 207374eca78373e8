use mcp_server::tool;

pub struct NotAContract;

#[tool(contract = NotAContract)]
async fn add() -> f64 {
    0.0
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").tool(Add);
}
