use mcp_server::tool;

#[tool]
fn shout(text: &str) -> String {
    text.to_uppercase()
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").tool(Shout);
}
