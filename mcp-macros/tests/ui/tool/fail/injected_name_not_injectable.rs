use mcp_server::tool;

/// A type of the user's named like the injected `State<T>`, without `#[arg]`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct State {
    step: u32,
}

#[tool]
fn advance(state: State) -> u32 {
    state.step + 1
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").tool(Advance);
}
