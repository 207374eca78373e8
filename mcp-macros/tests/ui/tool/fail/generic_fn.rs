use mcp_server::tool;

#[tool]
fn echo<T: serde::de::DeserializeOwned>(value: T) -> String {
    let _ = value;
    String::new()
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").tool(Echo);
}
