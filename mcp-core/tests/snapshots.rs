//! What canonical messages of each era look like on the wire (insta snapshots; review changes with
//! `cargo insta review`).

use mcp_core::messages::{self, Notification, Request, Response};
use mcp_core::types::*;
use mcp_core::{ErrorObject, JsonRpcError, JsonRpcMessage, Meta, ProtocolVersion, RequestId};

fn modern_meta() -> Meta {
    let mut m = Meta::new();
    m.set_protocol_version(ProtocolVersion::V2026_07_28);
    m.set_client_capabilities(&ClientCapabilities {
        elicitation: Some(ElicitationCapability::default()),
        ..Default::default()
    });
    m.set_client_info(&Implementation::new("example-client", "1.0.0"));
    m
}

#[test]
fn legacy_initialize() {
    let req = Request::<messages::Initialize>::new(
        0,
        InitializeRequestParams {
            protocol_version: "2025-11-25".into(),
            capabilities: ClientCapabilities {
                roots: Some(RootsCapability {
                    list_changed: Some(true),
                }),
                ..Default::default()
            },
            client_info: Implementation::new("example-client", "1.0.0"),
            meta: None,
        },
    );
    insta::assert_json_snapshot!("legacy_initialize_request", req);
    let res = Response::new(
        RequestId::from(0),
        InitializeResult {
            protocol_version: ProtocolVersion::negotiate_legacy("2025-11-25")
                .as_str()
                .into(),
            capabilities: ServerCapabilities {
                tools: Some(ListChangedCapability {
                    list_changed: Some(true),
                }),
                logging: Some(JsonObject::new()),
                ..Default::default()
            },
            server_info: Implementation::new("example-server", "0.1.0"),
            instructions: Some("Use `add` to add numbers.".into()),
            meta: None,
        },
    );
    insta::assert_json_snapshot!("legacy_initialize_result", res);
}

#[test]
fn legacy_tool_call_and_progress() {
    let res = Response::new(
        RequestId::from("call-1"),
        CallToolResult::error("b must not be zero"),
    );
    insta::assert_json_snapshot!("legacy_tool_error_result", res);
    let progress = Notification::<messages::Progress>::new(ProgressNotificationParams {
        progress_token: RequestId::from("tok-1"),
        progress: 3.0,
        total: Some(10.0),
        message: Some("3 of 10 rows".into()),
        meta: None,
    });
    insta::assert_json_snapshot!("legacy_progress", progress);
}

#[test]
fn modern_discover() {
    let req = Request::<messages::Discover>::new(
        "d-1",
        Some(RequestParams {
            meta: Some(modern_meta()),
        }),
    );
    insta::assert_json_snapshot!("modern_discover_request", req);
    let mut meta = Meta::new();
    meta.set_server_info(&Implementation::new("example-server", "0.1.0"));
    let res = Response::new(
        RequestId::from("d-1"),
        DiscoverResult {
            supported_versions: vec!["2026-07-28".into(), "2025-11-25".into()],
            capabilities: ServerCapabilities {
                tools: Some(ListChangedCapability::default()),
                extensions: Some([(TASKS_EXTENSION.to_owned(), JsonObject::new())].into()),
                ..Default::default()
            },
            instructions: None,
            ttl_ms: Some(3_600_000),
            cache_scope: Some(CacheScope::Public),
            result_type: Some(ResultType::Complete),
            meta: Some(meta),
        },
    );
    insta::assert_json_snapshot!("modern_discover_result", res);
}

#[test]
fn modern_input_required_round() {
    let mut requests = InputRequests::new();
    requests.insert(
        "confirm".into(),
        InputRequest::Elicit(ElicitRequestParams::Form(ElicitRequestFormParams {
            mode: Some(FormModeTag),
            message: "Deploy to production?".into(),
            requested_schema: ElicitationSchema {
                properties: [(
                    "confirm".to_owned(),
                    PrimitiveSchemaDefinition::Boolean(BooleanSchema {
                        default: Some(false),
                        ..Default::default()
                    }),
                )]
                .into(),
                required: Some(vec!["confirm".into()]),
                ..Default::default()
            },
            task: None,
            meta: None,
        })),
    );
    let res = Response::new(
        RequestId::from(4),
        Outcome::<CallToolResult>::InputRequired(InputRequiredResult {
            input_requests: Some(requests),
            request_state: Some("c3RhdGU".into()),
            result_type: Some(ResultType::InputRequired),
            meta: None,
        }),
    );
    insta::assert_json_snapshot!("modern_input_required", res);
}

#[test]
fn errors() {
    let e = JsonRpcMessage::Error(JsonRpcError::new(
        Some(RequestId::from(1)),
        ErrorObject::unsupported_protocol_version(&["2026-07-28", "2025-11-25"], "2099-01-01"),
    ));
    insta::assert_snapshot!("modern_unsupported_version", e.to_json());
    let parse = JsonRpcMessage::from_json("{oops")
        .unwrap_err()
        .into_response();
    insta::assert_snapshot!("parse_error", JsonRpcMessage::Error(parse).to_json());
}
