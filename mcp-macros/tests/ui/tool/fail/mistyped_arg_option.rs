use mcp_server::tool;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Paging {
    page: u32,
}

#[tool]
fn search(query: String, #[arg(flaten)] paging: Paging) -> String {
    format!("{query} {}", paging.page)
}

fn main() {}
