use mcp_server::tool;

/// An alias of `Result` whose name does not say so.
type Outcome = Result<String, mcp_server::Error>;

#[tool]
fn search(query: String) -> Outcome {
    Ok(query)
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").tool(Search);
}
