pub struct Sum {
    pub total: f64,
}

#[mcp_client::client]
pub trait Calc {
    async fn add(&self, a: f64, b: f64) -> mcp_client::Result<Sum>;
}

fn main() {}
