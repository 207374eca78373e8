use mcp_server::prompt;

#[prompt(read_only)]
fn review(code: String) -> String {
    code
}

fn main() {}
