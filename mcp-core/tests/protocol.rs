//! Dispatch by method, era rules, forward compatibility, `_meta` accessors and tool names.

use mcp_core::messages::{self, ClientRequest, RequestMethod, ServerNotification};
use mcp_core::meta::keys;
use mcp_core::types::*;
use mcp_core::{ErrorCode, JsonRpcMessage, Meta, ProtocolVersion};
use serde_json::{Value, json};

fn request(text: &str) -> mcp_core::JsonRpcRequest {
    match JsonRpcMessage::from_json(text).expect("a valid message") {
        JsonRpcMessage::Request(r) => r,
        other => panic!("not a request: {other:?}"),
    }
}

#[test]
fn a_router_matches_on_the_enum() {
    let r = request(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}"#,
    );
    match ClientRequest::parse(&r.method, r.params.as_deref()).unwrap() {
        ClientRequest::CallTool(p) => {
            assert_eq!(p.name, "add");
            assert_eq!(p.arguments.unwrap()["b"], json!(2));
        }
        other => panic!("wrong variant: {other:?}"),
    }
}

#[test]
fn unknown_methods_give_32601_and_bad_params_32602() {
    let e = ClientRequest::parse("tools/frobnicate", None).unwrap_err();
    assert_eq!(e.code, ErrorCode::METHOD_NOT_FOUND);
    assert!(e.message.contains("tools/frobnicate"));

    let r = request(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#);
    let e = ClientRequest::parse(&r.method, r.params.as_deref()).unwrap_err();
    assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
    assert!(e.message.contains("name"), "{}", e.message);

    // tools/call needs params; tools/list does not.
    assert_eq!(
        ClientRequest::parse("tools/call", None).unwrap_err().code,
        ErrorCode::INVALID_PARAMS
    );
    assert_eq!(
        ClientRequest::parse("tools/list", None).unwrap(),
        ClientRequest::ListTools(None)
    );
}

#[test]
fn methods_outside_the_peers_version_are_refused() {
    let modern = ProtocolVersion::V2026_07_28;
    let legacy = ProtocolVersion::V2025_06_18;
    let init = r#"{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}"#;
    let init = serde_json::value::RawValue::from_string(init.to_owned()).unwrap();
    assert!(ClientRequest::parse_for(legacy, "initialize", Some(&init)).is_ok());
    assert_eq!(
        ClientRequest::parse_for(modern, "initialize", Some(&init))
            .unwrap_err()
            .code,
        ErrorCode::METHOD_NOT_FOUND
    );
    assert_eq!(
        ClientRequest::parse_for(legacy, "server/discover", None)
            .unwrap_err()
            .code,
        ErrorCode::METHOD_NOT_FOUND
    );
    assert!(ClientRequest::parse_for(modern, "server/discover", None).is_ok());
    assert!(!messages::Elicit::available_in(
        ProtocolVersion::V2025_03_26
    ));
    assert!(messages::Elicit::available_in(ProtocolVersion::V2025_06_18));
    assert!(!messages::Subscribe::available_in(modern));
    assert!(!messages::LegacyListTasks::available_in(
        ProtocolVersion::V2025_06_18
    ));
    assert!(messages::LegacyListTasks::available_in(
        ProtocolVersion::V2025_11_25
    ));
}

#[test]
fn every_dispatch_enum_round_trips_its_method() {
    let n = ServerNotification::parse("notifications/tools/list_changed", None).unwrap();
    assert_eq!(n.method(), "notifications/tools/list_changed");
    assert!(n.params_raw().unwrap().is_none());
    let req = ClientRequest::CallTool(CallToolRequestParams {
        name: "add".into(),
        ..Default::default()
    });
    let rpc = req.clone().into_jsonrpc(5.into()).unwrap();
    let back = ClientRequest::parse(&rpc.method, rpc.params.as_deref()).unwrap();
    assert_eq!(back, req);
}

#[test]
fn unknown_meta_keys_and_experimental_capabilities_are_kept() {
    let text = json!({
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {
                "experimental": {"x.example/thing": {"depth": 3}},
                "someFutureCapability": {"on": true}
            },
            "com.example/trace": {"span": 7},
            "progressToken": 42
        },
        "name": "add"
    });
    let p: CallToolRequestParams = serde_json::from_value(text.clone()).unwrap();
    let meta = p.meta.as_ref().unwrap();
    assert_eq!(meta.protocol_version(), Some("2026-07-28"));
    assert_eq!(meta.progress_token().unwrap(), Some(42.into()));
    let caps = meta.client_capabilities().unwrap().unwrap();
    assert_eq!(
        caps.experimental.as_ref().unwrap()["x.example/thing"]["depth"],
        json!(3)
    );
    assert_eq!(caps.other["someFutureCapability"], json!({"on": true}));
    assert_eq!(meta.get_raw("com.example/trace"), Some(&json!({"span": 7})));
    assert_eq!(serde_json::to_value(&p).unwrap(), text);
}

#[test]
fn an_unknown_content_type_does_not_fail_the_message() {
    let result = json!({
        "content": [
            {"type": "text", "text": "hi"},
            {"type": "hologram", "frames": 3}
        ]
    });
    let r: CallToolResult = serde_json::from_value(result.clone()).unwrap();
    assert_eq!(r.content[0].as_text(), Some("hi"));
    assert!(matches!(&r.content[1], ContentBlock::Unknown(v) if v["frames"] == 3));
    assert_eq!(r.content[1].kind(), "hologram");
    assert_eq!(serde_json::to_value(&r).unwrap(), result);
}

/// A block is read the same whether its `type` comes first (read without a JSON tree), later,
/// or from a tree (whose members are sorted), and whether the text or a `Value` is read.
#[test]
fn a_content_block_reads_the_same_whatever_the_order_of_its_members() {
    let cases = [
        (
            r#"{"type":"text","text":"hi","annotations":{"priority":0.5},"_meta":{"k":1}}"#,
            r#"{"text":"hi","_meta":{"k":1},"type":"text","annotations":{"priority":0.5}}"#,
        ),
        (
            r#"{"type":"image","data":"aGk=","mimeType":"image/png"}"#,
            r#"{"mimeType":"image/png","data":"aGk=","type":"image"}"#,
        ),
        (
            r#"{"type":"resource_link","uri":"file:///a","name":"a","size":3}"#,
            r#"{"uri":"file:///a","name":"a","size":3,"type":"resource_link"}"#,
        ),
        (
            r#"{"type":"resource","resource":{"uri":"file:///a","text":"x"}}"#,
            r#"{"resource":{"uri":"file:///a","text":"x"},"type":"resource"}"#,
        ),
        (
            r#"{"type":"hologram","frames":3,"deep":{"a":[1,2]}}"#,
            r#"{"frames":3,"deep":{"a":[1,2]},"type":"hologram"}"#,
        ),
        // An escaped member name is still `type`.
        (
            r#"{"t\u0079pe":"text","text":"hi"}"#,
            r#"{"text":"hi","type":"text"}"#,
        ),
    ];
    for (first, later) in cases {
        let a: ContentBlock = serde_json::from_str(first).unwrap();
        let b: ContentBlock = serde_json::from_str(later).unwrap();
        let c: ContentBlock =
            serde_json::from_value(serde_json::from_str::<Value>(first).unwrap()).unwrap();
        assert_eq!(a, b, "{first}");
        assert_eq!(a, c, "{first}");
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::from_str::<Value>(first).unwrap(),
            "{first}"
        );
    }
    let text: ContentBlock = serde_json::from_str(r#"{"type":"text","text":"hi"}"#).unwrap();
    assert_eq!(text.as_text(), Some("hi"));
    let unknown: ContentBlock = serde_json::from_str(r#"{"type":"x-y","n":1}"#).unwrap();
    assert!(matches!(&unknown, ContentBlock::Unknown(v) if v == &json!({"type": "x-y", "n": 1})));
}

#[test]
fn a_content_block_without_a_string_type_is_an_error() {
    for bad in [
        r#"{}"#,
        r#"{"text":"hi"}"#,
        r#"{"type":5,"text":"hi"}"#,
        r#"{"text":"hi","type":null}"#,
        r#"{"type":{"a":1},"text":"hi"}"#,
        r#""text""#,
        r#"[{"type":"text"}]"#,
    ] {
        let e = serde_json::from_str::<ContentBlock>(bad).unwrap_err();
        assert!(e.to_string().contains("`type`"), "{bad}: {e}");
    }
    // A known type with a member of the wrong type names the member, wherever `type` is.
    for bad in [r#"{"type":"text","text":5}"#, r#"{"text":5,"type":"text"}"#] {
        let e = serde_json::from_str::<ContentBlock>(bad).unwrap_err();
        assert!(
            e.to_string().contains("invalid type: integer `5`"),
            "{bad}: {e}"
        );
    }
    // The same in a sampling message's content.
    let e = serde_json::from_str::<SamplingContent>(r#"{"type":"tool_use","id":5}"#).unwrap_err();
    assert!(e.to_string().contains("invalid type"), "{e}");
}

#[test]
fn a_known_content_type_with_bad_fields_is_an_error() {
    let bad = json!({"content": [{"type": "image", "data": "x"}]});
    assert!(serde_json::from_value::<CallToolResult>(bad).is_err());
}

#[test]
fn meta_accessors_read_and_write_reserved_keys() {
    let mut m = Meta::new();
    m.set_protocol_version(ProtocolVersion::V2026_07_28);
    m.set_log_level(LoggingLevel::Warning);
    m.set_client_info(&Implementation::new("c", "1.0"));
    m.set_server_info(&Implementation::new("s", "2.0"));
    m.set_subscription_id(&"sub-1".into());
    m.set_related_task("t-9");
    m.insert(
        keys::TRACEPARENT,
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    m.insert(keys::TRACESTATE, "vendor=1");
    m.insert(keys::BAGGAGE, "user=ada");
    assert_eq!(m.protocol_version(), Some("2026-07-28"));
    assert_eq!(m.log_level().unwrap(), Some(LoggingLevel::Warning));
    assert_eq!(m.client_info().unwrap().unwrap().name, "c");
    assert_eq!(m.server_info().unwrap().unwrap().version, "2.0");
    assert_eq!(m.subscription_id().unwrap(), Some("sub-1".into()));
    assert_eq!(m.related_task().unwrap().unwrap().task_id, "t-9");
    assert!(m.traceparent().unwrap().starts_with("00-0af7"));
    assert_eq!(m.tracestate(), Some("vendor=1"));
    assert_eq!(m.baggage(), Some("user=ada"));
    assert_eq!(m.get_raw(keys::LOG_LEVEL), Some(&json!("warning")));
    // A wrongly typed reserved key is an error for that accessor only.
    m.insert(keys::LOG_LEVEL, &5);
    assert!(m.log_level().is_err());
    assert_eq!(m.protocol_version(), Some("2026-07-28"));
}

#[test]
fn meta_key_names_follow_the_spec() {
    for ok in [
        "progressToken",
        "io.modelcontextprotocol/protocolVersion",
        "com.example/x-y",
        "a",
        "a.b_c",
    ] {
        assert!(Meta::is_valid_key(ok), "{ok}");
    }
    for bad in [
        "",
        "-a",
        "a-",
        "/a",
        "ex ample/x",
        "com..example/x",
        "com.example/",
        "a/b/c",
    ] {
        assert!(!Meta::is_valid_key(bad), "{bad}");
    }
}

#[test]
fn tool_names_are_validated() {
    for ok in ["add", "a", "get_weather", "ns.tool-v2", &"x".repeat(128)] {
        assert_eq!(validate_tool_name(ok), Ok(()), "{ok}");
    }
    assert_eq!(validate_tool_name(""), Err(ToolNameError::Empty));
    assert_eq!(
        validate_tool_name(&"x".repeat(129)),
        Err(ToolNameError::TooLong(129))
    );
    assert_eq!(
        validate_tool_name("has space"),
        Err(ToolNameError::InvalidChar(' ', 3))
    );
    assert_eq!(
        validate_tool_name("tool/x"),
        Err(ToolNameError::InvalidChar('/', 4))
    );
    assert_eq!(
        validate_tool_name("café"),
        Err(ToolNameError::InvalidChar('é', 3))
    );
}

#[test]
fn outcomes_dispatch_on_result_type() {
    let complete: messages::CallToolResultResponse = serde_json::from_value(json!({
        "jsonrpc": "2.0", "id": 1, "result": {"resultType": "complete", "content": []}
    }))
    .unwrap();
    assert!(matches!(complete.result, Outcome::Complete(_)));
    let legacy: messages::CallToolResultResponse = serde_json::from_value(json!({
        "jsonrpc": "2.0", "id": 1, "result": {"content": []}
    }))
    .unwrap();
    assert!(matches!(legacy.result, Outcome::Complete(_)));
    let input: Outcome<CallToolResult> = serde_json::from_value(json!({
        "resultType": "input_required",
        "inputRequests": {"r": {"method": "roots/list"}},
        "requestState": "s"
    }))
    .unwrap();
    let Outcome::InputRequired(ir) = input else {
        panic!("expected input_required")
    };
    assert!(matches!(
        ir.input_requests.unwrap()["r"],
        InputRequest::ListRoots(None)
    ));
    let task: Outcome<CallToolResult> = serde_json::from_value(json!({
        "resultType": "task", "taskId": "t", "status": "working",
        "createdAt": "2026-01-01T00:00:00Z", "lastUpdatedAt": "2026-01-01T00:00:00Z",
        "ttlMs": null, "pollIntervalMs": 1000
    }))
    .unwrap();
    let Outcome::Task(t) = task else {
        panic!("expected a task")
    };
    assert_eq!(t.task.poll_interval_ms, Some(1000));
    assert_eq!(serde_json::to_value(&t).unwrap()["ttlMs"], Value::Null);
}

/// `Outcome::from_json` (no JSON tree) reads every text as the `Deserialize` impl (through a
/// tree) does: the same variant and value, or an error for both.
#[test]
fn outcome_from_json_reads_as_the_tree_does() {
    let texts = [
        r#"{"content":[{"type":"text","text":"3"}],"isError":false}"#,
        r#"{"resultType":"complete","content":[],"structuredContent":{"sum":3}}"#,
        r#"{"resultType":"input_required","inputRequests":{"r":{"method":"roots/list"}},"requestState":"s"}"#,
        r#"{"resultType":"task","taskId":"t","status":"working","createdAt":"2026-01-01T00:00:00Z","lastUpdatedAt":"2026-01-01T00:00:00Z","ttlMs":null,"pollIntervalMs":1000}"#,
        // An escaped `resultType` is still the same string.
        r#"{"resultType":"input_\u0072equired","requestState":"s"}"#,
        // So is an escaped key: a text that never spells `resultType` is still peeked at.
        r#"{"result\u0054ype":"input_required","requestState":"s"}"#,
        r#"{"result\u0054ype":"task","content":[]}"#,
        // `complete` once is read at once, wherever it is; anything else is peeked at.
        r#"{"content":[],"resultType":"complete"}"#,
        r#"{"content":[],"structuredContent":{"resultType":"complete"}}"#,
        r#"{"resultType":"task","structuredContent":{"resultType":"complete"},"taskId":"t"}"#,
        r#"{"content":[],"resultType" : "complete"}"#,
        r#"{"content":[{"type":"text","text":"resultType"}],"resultType":"complete"}"#,
        // A `resultType` of another type or value: a complete result, as the tree reads it.
        r#"{"resultType":5,"content":[]}"#,
        r#"{"resultType":"later","content":[]}"#,
        // A key given twice: the tree keeps the last value; so does `from_json`.
        r#"{"content":[],"content":[{"type":"text","text":"last"}]}"#,
        r#"{"resultType":"task","resultType":"complete","content":[]}"#,
        // Refused by both.
        r#"{"content":5}"#,
        r#"{"resultType":"task","taskId":5}"#,
        r#"[1,2]"#,
        r#"{"content":[]"#,
    ];
    for text in texts {
        let direct = Outcome::<CallToolResult>::from_json(text);
        let tree = serde_json::from_str::<Outcome<CallToolResult>>(text);
        match (direct, tree) {
            (Ok(d), Ok(t)) => assert_eq!(d, t, "{text}"),
            (Err(d), Err(t)) => assert_eq!(d.to_string(), t.to_string(), "{text}"),
            (d, t) => panic!("{text}: from_json {d:?}, the tree {t:?}"),
        }
    }
}

#[test]
fn unsupported_version_error_has_the_defined_data() {
    let e = mcp_core::ErrorObject::unsupported_protocol_version(
        &["2026-07-28", "2025-11-25"],
        "1900-01-01",
    );
    assert_eq!(e.code, ErrorCode::UNSUPPORTED_PROTOCOL_VERSION);
    assert_eq!(
        e.data.unwrap(),
        json!({"supported": ["2026-07-28", "2025-11-25"], "requested": "1900-01-01"})
    );
}

#[test]
fn elicitation_fields_are_told_apart() {
    let schema: ElicitationSchema = serde_json::from_value(json!({
        "type": "object",
        "properties": {
            "s": {"type": "string", "format": "email"},
            "n": {"type": "integer", "minimum": 1},
            "b": {"type": "boolean", "default": true},
            "e": {"type": "string", "enum": ["a", "b"]},
            "t": {"type": "string", "oneOf": [{"const": "a", "title": "A"}]},
            "l": {"type": "string", "enum": ["a"], "enumNames": ["A"]},
            "m": {"type": "array", "items": {"type": "string", "enum": ["a"]}},
            "tm": {"type": "array", "items": {"anyOf": [{"const": "a", "title": "A"}]}}
        }
    }))
    .unwrap();
    let p = &schema.properties;
    assert!(matches!(p["s"], PrimitiveSchemaDefinition::String(_)));
    assert!(matches!(p["n"], PrimitiveSchemaDefinition::Number(_)));
    assert!(matches!(p["b"], PrimitiveSchemaDefinition::Boolean(_)));
    assert!(matches!(
        p["e"],
        PrimitiveSchemaDefinition::UntitledSingleSelect(_)
    ));
    assert!(matches!(
        p["t"],
        PrimitiveSchemaDefinition::TitledSingleSelect(_)
    ));
    assert!(matches!(
        p["l"],
        PrimitiveSchemaDefinition::LegacyTitledEnum(_)
    ));
    assert!(matches!(
        p["m"],
        PrimitiveSchemaDefinition::UntitledMultiSelect(_)
    ));
    assert!(matches!(
        p["tm"],
        PrimitiveSchemaDefinition::TitledMultiSelect(_)
    ));
    let nested = json!({"type": "object", "properties": {"o": {"type": "object"}}});
    assert!(serde_json::from_value::<ElicitationSchema>(nested).is_err());
}

#[test]
fn envelope_classification() {
    use mcp_core::JsonRpcMessage as M;
    assert!(matches!(
        M::from_json(r#"{"jsonrpc":"2.0","method":"ping","id":"a"}"#),
        Ok(M::Request(_))
    ));
    assert!(matches!(
        M::from_json(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
        Ok(M::Notification(_))
    ));
    assert!(matches!(
        M::from_json(r#"{"jsonrpc":"2.0","id":3,"result":{}}"#),
        Ok(M::Response(_))
    ));
    let e = M::from_json(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#)
        .unwrap();
    assert!(matches!(e, M::Error(ref err) if err.id.is_none()));
    for (text, code) in [
        (r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, -32600),
        (r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, -32600),
        (
            r#"{"jsonrpc":"2.0","id":9223372036854775808,"method":"ping"}"#,
            -32600,
        ),
        (r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#, -32600),
        (r#"{"id":1,"method":"ping"}"#, -32600),
        (r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, -32600),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#,
            -32600,
        ),
        (r#"{"jsonrpc":"2.0","id":1,"method":5}"#, -32600),
        (r#"{"jsonrpc":"2.0","id":1}"#, -32600),
        (r#"[]"#, -32600),
        (r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, -32600),
        (r#"7"#, -32600),
        (r#"{"jsonrpc":"2.0","#, -32700),
        ("", -32700),
    ] {
        let err = M::from_json(text).expect_err(text);
        assert_eq!(err.error.code.0, code, "{text}: {}", err.error.message);
    }
    // An id that is fine is echoed in the -32600 error.
    let err = M::from_json(r#"{"jsonrpc":"1.0","id":"x","method":"ping"}"#).unwrap_err();
    assert_eq!(err.id, Some("x".into()));
    // The largest i64 is not rounded.
    let Ok(M::Request(r)) =
        M::from_json(r#"{"jsonrpc":"2.0","id":9223372036854775807,"method":"ping"}"#)
    else {
        panic!()
    };
    assert_eq!(r.id, mcp_core::RequestId::Number(i64::MAX));
}

#[test]
fn meta_peek_reads_what_meta_reads() {
    use mcp_core::meta::MetaPeek;
    let cases = [
        r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"roots":{}}}}"#,
        // An escaped version is read as its text.
        r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026\u002d07-28"}}"#,
        // Not a string, not an object: absent for both.
        r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":20260728,"io.modelcontextprotocol/clientCapabilities":[]}}"#,
        r#"{"_meta":null,"name":"x"}"#,
        r#"{"name":"x"}"#,
        r#"{"_meta":{"other":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
    ];
    for params in cases {
        let peek = MetaPeek::of_params(params).expect(params);
        let meta: Meta = serde_json::from_str::<serde_json::Value>(params).unwrap()["_meta"]
            .as_object()
            .map(|m| Meta(m.clone()))
            .unwrap_or_default();
        assert_eq!(
            peek.protocol_version().as_deref(),
            meta.protocol_version(),
            "{params}"
        );
        assert_eq!(
            peek.has_client_capabilities(),
            meta.get_raw(mcp_core::meta::keys::CLIENT_CAPABILITIES)
                .is_some_and(serde_json::Value::is_object),
            "{params}"
        );
    }
    // A key given twice, or a `_meta` that is not an object, is left to `Meta` (which keeps the
    // last of two values, or refuses).
    assert!(MetaPeek::of_params(r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"a","io.modelcontextprotocol/protocolVersion":"b"}}"#).is_err());
    assert!(MetaPeek::of_params(r#"{"_meta":5}"#).is_err());
}
