//! `crate = "..."` for a runtime re-exported under another path.
mod facade {
    pub use mcp_server as runtime;
}

#[facade::runtime::tool(crate = "crate::facade::runtime")]
fn hello() -> String {
    "hello".into()
}

#[facade::runtime::handlers(crate = "crate::facade::runtime")]
impl Greeter {
    #[facade::runtime::tool]
    fn greet(&self) -> &'static str {
        "hi"
    }
}

struct Greeter;

fn main() {
    let _server = facade::runtime::Server::new("s", "1").tool(Hello).handlers(Greeter);
}
