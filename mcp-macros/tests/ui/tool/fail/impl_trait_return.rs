use mcp_server::tool;

#[tool]
fn hello() -> impl Into<String> {
    "hello"
}

fn main() {}
