use mcp_server::{Context, resource};

#[resource("notes://{name}")]
fn note(name: String, #[ctx] cx: Context) -> String {
    let _ = cx;
    name
}

fn main() {}
