//! The properties the `dispatch` fuzz target (`fuzz/fuzz_targets/dispatch.rs`) checks, as
//! proptests in the default suite: one message of arbitrary bytes never panics the server, every
//! message it sends is well-formed JSON-RPC, a request gets exactly one answer with its id, and
//! anything else gets none.

use mcp_server::__private::fuzz_dispatch;
use mcp_server::mcp_core::JsonRpcMessage;
use mcp_server::mcp_core::codec::{CodecConfig, decode, encode};
use mcp_server::types::{CallToolResult, ContentBlock, JsonObject, Tool};
use mcp_server::{Context, Result, Server, ToolHandler};
use proptest::prelude::*;
use serde_json::{Value, json};

struct Echo;
impl ToolHandler for Echo {
    fn definition(&self) -> Tool {
        let schema = json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]});
        Tool::new("echo", serde_json::from_value(schema).unwrap())
    }
    async fn call(&self, _cx: Context, args: JsonObject) -> Result<CallToolResult> {
        let text = args.get("text").and_then(Value::as_str).unwrap_or_default();
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }
}

fn run(bytes: &[u8]) -> std::result::Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = Server::new("fuzz", "1.0.0").tool(Echo);
    let out = rt.block_on(fuzz_dispatch(&server, bytes));
    for m in &out {
        let mut line = Vec::new();
        encode(m, &mut line);
        prop_assert!(
            decode(&line[..line.len() - 1], &CodecConfig::default()).is_ok(),
            "not well-formed: {}",
            String::from_utf8_lossy(&line)
        );
    }
    let answers: Vec<&JsonRpcMessage> = out
        .iter()
        .filter(|m| matches!(m, JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_)))
        .collect();
    match decode(bytes, &CodecConfig::default()) {
        Err(_) => {
            prop_assert_eq!(out.len(), 1);
            prop_assert!(matches!(out[0], JsonRpcMessage::Error(_)));
        }
        Ok(JsonRpcMessage::Request(request)) => {
            prop_assert_eq!(answers.len(), 1, "{:?}", out);
            let id = match answers[0] {
                JsonRpcMessage::Response(r) => Some(&r.id),
                JsonRpcMessage::Error(e) => e.id.as_ref(),
                _ => unreachable!(),
            };
            prop_assert_eq!(id, Some(&request.id));
        }
        Ok(_) => prop_assert!(answers.is_empty(), "{:?}", out),
    }
    Ok(())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z/._-]{0,12}".prop_map(Value::from),
        Just(json!("2026-07-28")),
        Just(json!("2025-06-18")),
        Just(json!("echo")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "name",
                    "arguments",
                    "text",
                    "uri",
                    "cursor",
                    "level",
                    "protocolVersion",
                    "capabilities",
                    "clientInfo",
                    "taskId",
                    "ref",
                    "argument",
                    "requestId",
                    "x",
                ])
                .prop_map(str::to_owned),
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON-RPC messages with real method names and plausible, often wrong, params.
fn message() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec![
        "initialize",
        "ping",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/read",
        "resources/templates/list",
        "resources/subscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "server/discover",
        "logging/setLevel",
        "tasks/get",
        "tasks/list",
        "tasks/result",
        "tasks/cancel",
        "notifications/initialized",
        "notifications/cancelled",
        "unknown/method",
    ]);
    let id = prop_oneof![
        Just(None),
        any::<i64>().prop_map(|n| Some(json!(n))),
        "[a-z0-9]{0,8}".prop_map(|s| Some(json!(s))),
        Just(Some(json!(1.5))),
        Just(Some(Value::Null)),
    ];
    let modern = any::<bool>();
    (method, id, json_value(), modern, any::<bool>()).prop_map(
        |(method, id, params, modern, call)| {
            let mut params = if call {
                json!({"name": "echo", "arguments": params})
            } else {
                params
            };
            if modern && let Some(p) = params.as_object_mut() {
                p.insert(
                    "_meta".into(),
                    json!({
                        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                        "io.modelcontextprotocol/clientCapabilities": {},
                        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
                        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                    }),
                );
            }
            let mut m = json!({"jsonrpc": "2.0", "method": method, "params": params});
            if let Some(id) = id {
                m["id"] = id;
            }
            m.to_string().into_bytes()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_get_one_error_or_a_well_formed_answer(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        run(&bytes)?;
    }

    #[test]
    fn plausible_messages_get_exactly_the_answers_they_should(bytes in message()) {
        run(&bytes)?;
    }
}

#[test]
fn a_valid_call_is_answered() {
    let call = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {
            "name": "echo", "arguments": {"text": "hi"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}
            }
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = Server::new("fuzz", "1.0.0").tool(Echo);
    let out = rt.block_on(fuzz_dispatch(&server, call.to_string().as_bytes()));
    let answer = serde_json::to_value(&out[0]).unwrap();
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["result"]["content"][0]["text"], "hi", "{answer}");
    run(call.to_string().as_bytes()).unwrap();
}
