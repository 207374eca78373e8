use mcp_server::tool;

#[tool(rate_limit = "10 per minute")]
fn ping() {}

fn main() {}
