use mcp_server::tool;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Paging {
    page: u32,
}

#[tool]
fn search(query: String, #[arg(flatten, rename = "paging")] p: Paging) -> String {
    format!("{query} {}", p.page)
}

fn main() {}
