use mcp_server::resource;

#[resource("kpi://reports/{year}")]
fn report(year: u16, month: u8) -> String {
    format!("{year}-{month}")
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").resource(Report);
}
