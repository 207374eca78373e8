use mcp_server::handlers;

struct Kpi;

#[handlers]
impl Kpi {
    fn helper(&self) {}
}

fn main() {}
