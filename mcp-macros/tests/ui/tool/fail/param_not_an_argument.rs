use mcp_server::tool;

/// Neither deserializable with a schema, nor injectable.
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
