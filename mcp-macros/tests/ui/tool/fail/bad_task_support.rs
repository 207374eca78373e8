use mcp_server::tool;

#[tool(task_support = "sometimes")]
fn ping() {}

fn main() {}
