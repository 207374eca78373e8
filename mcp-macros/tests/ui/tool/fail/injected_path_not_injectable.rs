use mcp_server::tool;

mod my_mod {
    /// A type of the user's named like the injected `Meta`, by a path, without `#[arg]`.
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    pub struct Meta {
        pub tag: String,
    }
}

#[tool]
fn tag(meta: my_mod::Meta) -> String {
    meta.tag
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").tool(Tag);
}
