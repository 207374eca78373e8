use mcp_server::{handlers, prompt, tool};

struct Kpi;

#[handlers]
impl Kpi {
    #[tool]
    #[prompt]
    fn count(&self) -> String {
        "1".into()
    }
}

fn main() {}
