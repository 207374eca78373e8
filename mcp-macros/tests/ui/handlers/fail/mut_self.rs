use mcp_server::{handlers, tool};

struct Counter {
    n: u64,
}

#[handlers]
impl Counter {
    #[tool]
    fn bump(&mut self) -> u64 {
        self.n += 1;
        self.n
    }
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").handlers(Counter { n: 0 });
}
