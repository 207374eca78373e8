use mcp_server::tool;

#[tool(timeout = "30 seconds")]
fn ping() {}

fn main() {}
