//! The typed contract (`{Marker}Input`) and the runtime agree on injected parameters: `#[ctx]`
//! injects your `FromContext` types (any path), `#[arg]` makes a type named like an injected one
//! an argument, and a `Result` alias is read as a `Result`.
use mcp_server::mcp_core::contract::ToolContract;
use mcp_server::{Server, ToolHandler, tool};

mod my_mod {
    pub struct Tenant(pub String);

    impl mcp_server::FromContext for Tenant {
        fn from_context(_: &mcp_server::Context) -> mcp_server::Result<Self> {
            Ok(Tenant("acme".into()))
        }
    }

    /// A type of the user's named like the injected `Meta`.
    #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    pub struct Meta {
        pub tag: String,
    }
}

/// A type of the user's named like the injected `State<T>`.
#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct State {
    step: u32,
}

type SearchResult<T> = Result<T, mcp_server::Error>;

#[tool]
fn search(
    query: String,
    #[ctx] tenant: my_mod::Tenant,
    #[arg] state: State,
    #[arg(description = "A tag.")] meta: my_mod::Meta,
    cx: mcp_server::Context,
) -> SearchResult<Vec<String>> {
    let _ = cx;
    Ok(vec![format!("{query} {} {} {}", tenant.0, state.step, meta.tag)])
}

fn main() {
    // Exactly the arguments, under their names.
    let _input = SearchInput {
        query: "milk".into(),
        state: State { step: 1 },
        meta: my_mod::Meta { tag: "t".into() },
    };
    let _output: <Search as ToolContract>::Output = vec![String::new()];
    let schema = Search.definition().input_schema;
    assert_eq!(
        schema["required"],
        serde_json::json!(["query", "state", "meta"])
    );
    let _server = Server::new("s", "1").tool(Search);
}
