use mcp_server::resource;

struct Html;

#[resource("kpi://page")]
fn page() -> Html {
    Html
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").resource(Page);
}
