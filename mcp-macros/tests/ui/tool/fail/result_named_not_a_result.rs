use mcp_server::tool;

/// A type of the user's whose name ends in `Result`, but is not a `Result`.
#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct SearchResult<T> {
    items: Vec<T>,
}

#[tool]
fn search(query: String) -> SearchResult<String> {
    SearchResult { items: vec![query] }
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").tool(Search);
}
