use mcp_server::tool;

#[tool]
struct Add;

fn main() {}
