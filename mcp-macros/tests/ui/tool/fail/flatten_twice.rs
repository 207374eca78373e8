use mcp_server::tool;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Paging {
    page: u32,
}

#[tool]
fn search(#[arg(flatten)] a: Paging, #[arg(flatten)] b: Paging) -> String {
    format!("{} {}", a.page, b.page)
}

fn main() {}
