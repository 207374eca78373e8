//! Fixed URIs and every kind of contents, plain or in a `Result`.
use mcp_server::mcp_core::Meta;
use mcp_server::types::ResourceContents;
use mcp_server::{Error, ResourceDefinition, ResourceHandler, Server, resource};

#[derive(serde::Serialize)]
struct Config {
    currency: &'static str,
}

fn meta() -> Meta {
    Meta::new()
}

#[resource("kpi://text", mime_type = "text/plain", audience = ["user", "assistant"], priority = 0.5)]
fn text() -> String { String::new() }
#[resource("kpi://str", description = "A static string.", icons = ["https://example.com/s.png"])]
fn r_str() -> &'static str { "" }
#[resource("kpi://bytes", mime_type = "image/png", size = 3, meta = meta)]
fn bytes() -> Vec<u8> { vec![1, 2, 3] }
#[resource("kpi://slice")]
fn slice() -> &'static [u8] { b"abc" }
#[resource("kpi://one")]
fn one() -> ResourceContents { ResourceContents::text("kpi://one", None, "") }
#[resource("kpi://many")]
async fn many() -> Vec<ResourceContents> { vec![] }
#[resource("kpi://config", marker = ConfigResource)]
fn config() -> Config { Config { currency: "EUR" } }
#[resource("kpi://fallible", public)]
fn fallible() -> Result<String, Error> { Err(Error::not_found("kpi://fallible")) }
#[resource("kpi://io")]
fn io() -> Result<Vec<u8>, std::io::Error> { Ok(vec![]) }

fn main() {
    let ResourceDefinition::Static(r) = ConfigResource.definition() else { panic!() };
    assert_eq!(r.mime_type.as_deref(), Some("application/json"));
    let _server = Server::new("s", "1")
        .resource(Text).resource(RStr).resource(Bytes).resource(Slice).resource(One)
        .resource(Many).resource(ConfigResource).resource(Fallible).resource(Io);
}
