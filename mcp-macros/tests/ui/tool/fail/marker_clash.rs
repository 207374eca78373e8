use mcp_server::tool;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Report {
    total: f64,
}

#[tool]
fn report() -> Report {
    Report { total: 1.0 }
}

fn main() {}
