use mcp_server::tool;

#[tool(blocking)]
async fn fetch(url: String) -> String {
    url
}

fn main() {}
