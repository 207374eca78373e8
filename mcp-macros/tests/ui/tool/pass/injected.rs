//! Injected parameters, in any position, are not arguments: the known types by their name, your
//! own `FromContext` types marked `#[ctx]`.
use mcp_server::mcp_core::{Meta, ProtocolVersion};
use mcp_server::{Context, FromContext, Server, State, ToolHandler, tool};

struct Db;

struct User(String);

impl FromContext for User {
    fn from_context(cx: &Context) -> mcp_server::Result<Self> {
        Ok(User(cx.client_info().map(|c| c.name.clone()).unwrap_or_default()))
    }
}

#[tool]
async fn everything(
    cx: Context,
    query: String,
    db: State<Db>,
    meta: Meta,
    version: ProtocolVersion,
    #[ctx] user: User,
    _ignored: Context,
) -> String {
    let _ = (cx, db, meta, version);
    format!("{query} for {}", user.0)
}

fn main() {
    let schema = Everything.definition().input_schema;
    assert_eq!(schema["required"], serde_json::json!(["query"]));
    let _server = Server::new("s", "1").state(Db).tool(Everything);
}
