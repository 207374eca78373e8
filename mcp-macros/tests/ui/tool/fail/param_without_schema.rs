use mcp_server::tool;

/// Deserializable, but `JsonSchema` was forgotten.
#[derive(serde::Deserialize)]
struct Point {
    x: f64,
}

#[tool]
fn norm(point: Point) -> f64 {
    point.x.abs()
}

fn main() {
    let _ = mcp_server::Server::new("s", "1").tool(Norm);
}
