//! `#[arg]`: rename, description, defaults, sensitive; patterns with a name; raw identifiers.
use mcp_server::{Server, ToolHandler, tool};

const PAGE_SIZE: u32 = 20;

#[tool]
fn search(
    /// Overridden by `description`.
    #[arg(rename = "q", description = "What to look for.")]
    query: String,
    #[arg(default)] page: u32,
    #[arg(default = PAGE_SIZE)] per_page: u32,
    #[arg(default = vec!["title".to_owned()])] fields: Vec<String>,
    #[arg(sensitive)] token: Option<String>,
    #[arg(rename = "range")] (from, to): (u32, u32),
    r#type: Option<String>,
    mut tries: u8,
) -> String {
    tries += 1;
    format!("{query} {page} {per_page} {fields:?} {token:?} {from}-{to} {type:?} {tries}", type = r#type)
}

fn main() {
    let d = Search.definition();
    assert_eq!(d.input_schema["required"], serde_json::json!(["q", "range", "tries"]));
    assert!(d.input_schema["properties"]["type"].is_object());
    assert_eq!(Search.policy().sensitive, ["token"]);
    let _server = Server::new("s", "1").tool(Search);
}
