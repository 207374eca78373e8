//! Prompt arguments (strings, `FromStr` types, optional, defaulted), injected parameters,
//! completion, and every kind of result.
use mcp_server::types::{GetPromptResult, PromptMessage, Role, ImageContent};
use mcp_server::{Context, Error, PromptHandler, Server, prompt};

fn languages(value: &str) -> Vec<&'static str> {
    ["rust", "python"].into_iter().filter(|l| l.starts_with(value)).collect()
}

/// Review code.
#[prompt(title = "Code review", complete(language = languages), roles = ["dev"])]
fn review(
    /// The code.
    code: String,
    language: Option<String>,
    #[arg(default = 3)] depth: u8,
    #[arg(rename = "max-issues")] max_issues: Option<usize>,
    cx: Context,
    #[ctx] _again: Context,
) -> Vec<PromptMessage> {
    let _ = (language, depth, max_issues, cx);
    vec![PromptMessage::user(code)]
}

#[prompt(name = "one")]
async fn single(text: String) -> Result<PromptMessage, Error> {
    Ok(PromptMessage::new(Role::Assistant, ImageContent::new(text, "image/png")))
}

#[prompt]
fn plain(ip: std::net::IpAddr) -> String {
    format!("Explain {ip}")
}

#[prompt]
fn full() -> mcp_server::Result<GetPromptResult> {
    Ok(GetPromptResult::default())
}

#[prompt]
fn fixed() -> &'static str {
    "Say hi"
}

fn main() {
    let p = Review.definition();
    assert_eq!(p.arguments.as_ref().unwrap().len(), 4);
    let _server = Server::new("s", "1")
        .prompt(Review).prompt(Single).prompt(Plain).prompt(Full).prompt(Fixed);
}
