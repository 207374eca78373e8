use mcp_server::{handlers, tool};

struct Kpi;

#[handlers]
impl Kpi {
    #[tool(readonly)]
    fn count(&self) -> u32 {
        1
    }
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").handlers(Kpi);
}
