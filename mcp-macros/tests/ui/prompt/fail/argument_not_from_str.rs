use mcp_server::prompt;

#[derive(serde::Deserialize)]
struct Options {
    depth: u8,
}

#[prompt]
fn review(code: String, options: Options) -> String {
    format!("{code} {}", options.depth)
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").prompt(Review);
}
