//! Every kind of tool result, plain or in a `Result`.
use mcp_server::types::*;
use mcp_server::{Error, Json, Server, ToolHandler, tool};

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Report {
    total: f64,
}

#[derive(Debug)]
struct MyError;
impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("mine")
    }
}
impl std::error::Error for MyError {}

#[tool] fn r_string() -> String { String::new() }
#[tool] fn r_str() -> &'static str { "" }
#[tool] fn r_unit() {}
#[tool] fn r_block() -> ContentBlock { ContentBlock::text("") }
#[tool] fn r_blocks() -> Vec<ContentBlock> { vec![] }
#[tool] fn r_text() -> TextContent { TextContent::new("") }
#[tool] fn r_image() -> ImageContent { ImageContent::new("", "image/png") }
#[tool] fn r_audio() -> AudioContent { AudioContent::new("", "audio/wav") }
#[tool] fn r_embedded() -> EmbeddedResource { EmbeddedResource::new(ResourceContents::text("x://", None, "")) }
#[tool] fn r_link() -> ResourceLink { ResourceLink::default() }
#[tool] fn r_result() -> CallToolResult { CallToolResult::success(vec![]) }
#[tool] fn r_json() -> Json<Report> { Json(Report { total: 1.0 }) }
#[tool] fn r_struct() -> Report { Report { total: 1.0 } }
#[tool] fn r_number() -> u64 { 1 }
#[tool] fn r_list() -> Vec<Report> { vec![] }
#[tool] fn r_option() -> Option<String> { None }
#[tool] async fn r_fallible() -> Result<Json<Report>, Error> { Err(Error::public("no")) }
#[tool] fn r_std_error() -> Result<String, std::io::Error> { Ok(String::new()) }
#[tool] fn r_own_error() -> Result<Report, MyError> { Err(MyError) }
#[tool] fn r_alias() -> mcp_server::Result<()> { Ok(()) }

fn main() {
    assert!(RJson.definition().output_schema.is_some());
    assert!(RStruct.definition().output_schema.is_some());
    assert!(RNumber.definition().output_schema.is_some());
    assert!(RFallible.definition().output_schema.is_some());
    assert!(RString.definition().output_schema.is_none());
    assert!(RResult.definition().output_schema.is_none());
    let _server = Server::new("s", "1")
        .tool(RString).tool(RStr).tool(RUnit).tool(RBlock).tool(RBlocks).tool(RText)
        .tool(RImage).tool(RAudio).tool(REmbedded).tool(RLink).tool(RResult).tool(RJson)
        .tool(RStruct).tool(RNumber).tool(RList).tool(ROption).tool(RFallible)
        .tool(RStdError).tool(ROwnError).tool(RAlias);
}
