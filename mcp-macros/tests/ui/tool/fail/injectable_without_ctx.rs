use mcp_server::{Context, FromContext, tool};

struct Tenant(String);

impl FromContext for Tenant {
    fn from_context(_: &Context) -> mcp_server::Result<Self> {
        Ok(Tenant("acme".into()))
    }
}

/// An injectable type of the user's, unmarked: injected or an argument?
#[tool]
fn whoami(tenant: Tenant) -> String {
    tenant.0
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").tool(Whoami);
}
