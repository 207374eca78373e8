use mcp_server::resource;

#[resource("config://app", mimetype = "application/json")]
fn config() -> String {
    "{}".into()
}

fn main() {}
