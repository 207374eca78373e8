use mcp_server::{handlers, tool};

struct Counter {
    n: u64,
}

#[handlers]
impl Counter {
    #[tool]
    fn get(self) -> u64 {
        self.n
    }
}

fn main() {}
