use mcp_server::tool;

#[tool(destructive, approval = "admin_only")]
fn wipe() {}

fn main() {}
