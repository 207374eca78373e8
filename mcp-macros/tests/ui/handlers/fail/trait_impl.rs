use mcp_server::{handlers, tool};

struct Kpi;

trait Named {
    fn name(&self) -> String;
}

#[handlers]
impl Named for Kpi {
    #[tool]
    fn name(&self) -> String {
        "kpi".into()
    }
}

fn main() {}
