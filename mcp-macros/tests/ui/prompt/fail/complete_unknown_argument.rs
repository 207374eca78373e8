use mcp_server::prompt;

fn languages(_: &str) -> Vec<String> {
    Vec::new()
}

#[prompt(complete(lang = languages))]
fn review(code: String, language: Option<String>) -> String {
    format!("{code} {language:?}")
}

fn main() {}
