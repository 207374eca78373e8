#[derive(Debug)]
pub struct MyError;

#[mcp_client::client]
pub trait Calc {
    async fn add(&self, a: f64, b: f64) -> Result<f64, MyError>;
}

fn main() {}
