pub struct Point {
    pub x: f64,
}

#[mcp_client::client]
pub trait Geo {
    async fn locate(&self, point: Point) -> mcp_client::Result<String>;
}

fn main() {}
