use mcp_server::{Context, tool};

#[tool]
fn a(#[ctx] #[arg(description = "The context.")] cx: Context) -> String {
    let _ = cx;
    String::new()
}

#[tool]
fn b(#[ctx(optional)] cx: Context) -> String {
    let _ = cx;
    String::new()
}

fn main() {}
