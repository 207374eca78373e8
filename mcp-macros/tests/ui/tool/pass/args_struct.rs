//! All arguments as one struct with `#[args]`; the other parameters are injected.
use mcp_server::{Context, Server, ToolHandler, tool};

/// A new user.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct NewUser {
    /// The login.
    user_name: String,
    #[serde(default)]
    is_admin: bool,
}

#[tool]
async fn create_user(cx: Context, #[args] user: NewUser) -> String {
    let _ = cx;
    format!("{} {}", user.user_name, user.is_admin)
}

fn main() {
    let schema = CreateUser.definition().input_schema;
    assert_eq!(schema["required"], serde_json::json!(["userName"]));
    let _server = Server::new("s", "1").tool(CreateUser);
}
