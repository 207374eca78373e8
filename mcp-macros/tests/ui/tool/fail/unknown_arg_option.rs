use mcp_server::tool;

#[tool]
fn search(#[arg(renam = "q")] query: String) -> String {
    query
}

fn main() {}
