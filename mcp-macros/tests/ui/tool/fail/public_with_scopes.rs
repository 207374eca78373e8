use mcp_server::tool;

#[tool(public, scopes = ["kpi:read"])]
fn ping() {}

fn main() {}
