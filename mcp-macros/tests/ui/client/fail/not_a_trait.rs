#[mcp_client::client]
struct Calc;

fn main() {}
