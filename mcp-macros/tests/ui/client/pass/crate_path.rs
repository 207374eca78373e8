mod sdk {
    pub use mcp_client as client;
}

#[mcp_client::client(crate = "sdk::client")]
pub trait Calc {
    async fn add(&self, a: f64, b: f64) -> sdk::client::Result<f64>;
}

fn main() {
    fn uses(client: &mcp_client::Client) {
        let _ = client.add(1.0, 2.0);
    }
    let _ = uses;
}
