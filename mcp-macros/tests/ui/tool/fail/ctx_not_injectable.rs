use mcp_server::tool;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Point {
    x: f64,
}

/// `#[ctx]` on an argument type.
#[tool]
fn norm(#[ctx] point: Point) -> f64 {
    point.x.abs()
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").tool(Norm);
}
