use mcp_server::prompt;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Review {
    code: String,
}

#[prompt(marker = ReviewPrompt)]
fn review(#[args] input: Review) -> String {
    input.code
}

fn main() {}
