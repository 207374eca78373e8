use mcp_server::resource;

#[resource("kpi://readme", audience = ["human"])]
fn readme() -> String {
    String::new()
}

fn main() {}
