use mcp_server::tool;

#[derive(serde::Deserialize)]
struct Paging {
    page: u32,
}

#[tool]
fn search(query: String, #[arg(flatten)] p: Paging) -> String {
    format!("{query} {}", p.page)
}

fn main() {}
