use mcp_server::tool;

#[tool]
fn search(query: String, #[arg(flatten)] tags: Vec<String>) -> String {
    format!("{query} {tags:?}")
}

fn main() {}
