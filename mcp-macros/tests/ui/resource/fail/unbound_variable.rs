use mcp_server::resource;

#[resource("kpi://reports/{year}/{month}")]
fn report(year: u16) -> String {
    year.to_string()
}

fn main() {}
