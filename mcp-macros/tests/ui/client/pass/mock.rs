use mcp_client::Result;

#[mcp_client::client]
pub trait Calc {
    async fn add(&self, a: f64, b: f64) -> Result<f64>;
}

/// The trait is an ordinary trait: a test double implements it by hand.
pub struct Mock;

impl Calc for Mock {
    async fn add(&self, a: f64, b: f64) -> Result<f64> {
        Ok(a + b)
    }
}

async fn total(calc: &impl Calc) -> Result<f64> {
    calc.add(1.0, 2.0).await
}

fn main() {
    let _ = total(&Mock);
}
