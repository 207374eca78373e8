use mcp_server::tool;

#[tool]
fn search(query: String, #[arg(rename = "query")] q2: String) -> String {
    query + &q2
}

fn main() {}
