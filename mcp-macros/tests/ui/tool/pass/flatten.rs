//! `#[arg(flatten)]`: the fields of a struct are top-level arguments, next to plain ones and
//! injected parameters; the typed input has the struct as a field.
use mcp_server::{Context, Server, ToolHandler, tool};

/// Paging, shared by several tools.
#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct Paging {
    /// The page.
    #[serde(default)]
    page: u32,
    /// Per page.
    per_page: Option<u32>,
}

/// Filters.
#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Filters {
    /// Only the owner's.
    owner_id: String,
}

#[tool]
async fn list_issues(
    cx: Context,
    /// The repository.
    repo: String,
    #[arg(flatten)] paging: Paging,
    #[arg(flatten)] filters: Filters,
) -> String {
    let _ = cx;
    format!("{repo} {} {:?} {}", paging.page, paging.per_page, filters.owner_id)
}

fn main() {
    let schema = ListIssues.definition().input_schema;
    assert_eq!(schema["required"], serde_json::json!(["repo", "ownerId"]));
    let input = ListIssuesInput {
        repo: "mcp".into(),
        paging: Paging { page: 2, per_page: None },
        filters: Filters { owner_id: "ada".into() },
    };
    assert_eq!(
        serde_json::to_value(&input).unwrap(),
        serde_json::json!({"repo": "mcp", "page": 2, "ownerId": "ada"})
    );
    let _server = Server::new("s", "1").tool(ListIssues);
}
