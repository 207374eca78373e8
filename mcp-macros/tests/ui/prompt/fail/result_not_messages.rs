use mcp_server::prompt;

#[prompt]
fn review(code: String) -> Vec<String> {
    vec![code]
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").prompt(Review);
}
