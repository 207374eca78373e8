use mcp_server::resource;

fn days(_: &str) -> Vec<String> {
    Vec::new()
}

#[resource("kpi://reports/{year}/{month}", complete(day = days))]
fn report(year: u16, month: u8) -> String {
    format!("{year}-{month}")
}

fn main() {}
