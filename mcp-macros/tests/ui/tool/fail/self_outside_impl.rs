use mcp_server::tool;

struct Kpi;

impl Kpi {
    #[tool]
    fn count(&self) -> u32 {
        1
    }
}

fn main() {}
