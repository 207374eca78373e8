use mcp_server::resource;

struct Year(u16);

#[resource("kpi://reports/{year}")]
fn report(year: Year) -> String {
    year.0.to_string()
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").resource(Report);
}
