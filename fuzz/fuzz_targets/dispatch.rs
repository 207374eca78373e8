//! One message of arbitrary bytes to an in-process server (`mcp_server::__private::fuzz_dispatch`,
//! which decodes as the stdio transport does and answers on a fresh connection).
//!
//! Checks: no panic (a handler panic would be answered, so a panic here is the dispatcher's);
//! every message sent is well-formed JSON-RPC; undecodable bytes get exactly one error; a request
//! gets exactly one answer, with its id; anything else gets none.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_core::JsonRpcMessage;
use mcp_core::codec::{CodecConfig, decode, encode};
use mcp_server::types::{CallToolResult, ContentBlock, JsonObject, Tool};
use mcp_server::{Context, Result, Server, ToolHandler};

struct Echo;

impl ToolHandler for Echo {
    fn definition(&self) -> Tool {
        let schema = serde_json::json!({
            "type": "object",
            "properties": { "text": { "type": "string" } },
            "required": ["text"]
        });
        Tool::new("echo", serde_json::from_value(schema).expect("an object"))
    }

    async fn call(&self, _cx: Context, args: JsonObject) -> Result<CallToolResult> {
        let text = args.get("text").and_then(|t| t.as_str()).unwrap_or_default();
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    static SERVER: Server = Server::new("fuzz", "1.0.0").tool(Echo);
}

fuzz_target!(|data: &[u8]| {
    let out = SERVER.with(|server| {
        RUNTIME.with(|rt| rt.block_on(mcp_server::__private::fuzz_dispatch(server, data)))
    });
    for message in &out {
        let mut line = Vec::new();
        encode(message, &mut line);
        decode(&line[..line.len() - 1], &CodecConfig::default()).expect("well-formed");
    }
    let answers: Vec<&JsonRpcMessage> = out
        .iter()
        .filter(|m| matches!(m, JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_)))
        .collect();
    match decode(data, &CodecConfig::default()) {
        Err(_) => assert!(out.len() == 1 && matches!(out[0], JsonRpcMessage::Error(_))),
        Ok(JsonRpcMessage::Request(request)) => {
            assert_eq!(answers.len(), 1);
            let id = match answers[0] {
                JsonRpcMessage::Response(r) => Some(&r.id),
                JsonRpcMessage::Error(e) => e.id.as_ref(),
                _ => unreachable!(),
            };
            assert_eq!(id, Some(&request.id));
        }
        Ok(_) => assert!(answers.is_empty()),
    }
});
