//! Representative instances of every message type, built from our types, validate against the
//! official JSON Schema of each version that has the type.

use std::collections::{BTreeMap, BTreeSet};

use mcp_core::messages::{self, Notification, Request, Response};
use mcp_core::types::*;
use mcp_core::{ErrorObject, Meta, ProtocolVersion, RequestId};
use serde::Serialize;
use serde_json::{Value, json};

use crate::support::spec_dir;

fn v<T: Serialize>(t: T) -> Value {
    serde_json::to_value(t).expect("serializes")
}

/// What differs between eras in otherwise equal instances.
struct Shape {
    version: ProtocolVersion,
}

impl Shape {
    fn modern(&self) -> bool {
        self.version == ProtocolVersion::V2026_07_28
    }

    /// A request's `_meta`: required in the modern era, absent in the legacy one.
    fn req_meta(&self) -> Option<Meta> {
        self.modern().then(|| {
            let mut m = Meta::new();
            m.set_protocol_version(self.version);
            m.set_client_capabilities(&ClientCapabilities::default());
            m.set_client_info(&Implementation::new("test-client", "1.0.0"));
            m
        })
    }

    fn result_type(&self) -> Option<ResultType> {
        self.modern().then_some(ResultType::Complete)
    }

    fn ttl(&self) -> Option<u64> {
        self.modern().then_some(60_000)
    }

    fn scope(&self) -> Option<CacheScope> {
        self.modern().then_some(CacheScope::Public)
    }

    fn paginated(&self) -> Option<PaginatedRequestParams> {
        Some(PaginatedRequestParams {
            meta: self.req_meta(),
            cursor: None,
        })
    }

    fn plain(&self) -> Option<RequestParams> {
        Some(RequestParams {
            meta: self.req_meta(),
        })
    }

    fn request<M: messages::RequestMethod>(&self, params: M::Params) -> Value {
        v(Request::<M>::new(7, params))
    }

    fn response<R: Serialize>(&self, result: R) -> Value {
        v(Response::new(RequestId::from("r-1"), result))
    }
}

fn tool(s: &Shape) -> Tool {
    let mut input = JsonObject::new();
    input.insert("type".into(), json!("object"));
    input.insert("properties".into(), json!({"a": {"type": "number"}}));
    input.insert("required".into(), json!(["a"]));
    Tool {
        name: "add".into(),
        title: Some("Add".into()),
        description: Some("Adds numbers".into()),
        input_schema: input,
        output_schema: Some(serde_json::from_value(json!({"type": "object"})).unwrap()),
        annotations: Some(ToolAnnotations {
            read_only_hint: Some(true),
            ..Default::default()
        }),
        execution: (s.version == ProtocolVersion::V2025_11_25).then_some(ToolExecution {
            task_support: Some(TaskSupport::Optional),
        }),
        icons: Some(vec![Icon {
            src: "https://example.com/i.png".into(),
            mime_type: Some("image/png".into()),
            sizes: Some(vec!["48x48".into()]),
            theme: Some(IconTheme::Light),
        }]),
        meta: None,
    }
}

fn content() -> Vec<ContentBlock> {
    vec![
        ContentBlock::text("hello"),
        ContentBlock::image("aGk=", "image/png"),
        ContentBlock::resource(ResourceContents::text("test://a", Some("text/plain"), "a")),
    ]
}

fn legacy_task() -> LegacyTask {
    LegacyTask {
        task_id: "t1".into(),
        status: TaskStatus::Working,
        status_message: None,
        created_at: "2025-11-25T00:00:00Z".into(),
        last_updated_at: "2025-11-25T00:00:00Z".into(),
        ttl: None,
        poll_interval: Some(500),
    }
}

fn elicit_form() -> ElicitRequestParams {
    let mut properties = BTreeMap::new();
    properties.insert(
        "name".to_owned(),
        PrimitiveSchemaDefinition::String(StringSchema {
            description: Some("Your name".into()),
            ..Default::default()
        }),
    );
    properties.insert(
        "color".to_owned(),
        PrimitiveSchemaDefinition::UntitledSingleSelect(UntitledSingleSelectEnumSchema {
            values: vec!["red".into(), "blue".into()],
            ..Default::default()
        }),
    );
    ElicitRequestParams::Form(ElicitRequestFormParams {
        mode: None,
        message: "Who are you?".into(),
        requested_schema: ElicitationSchema {
            properties,
            required: Some(vec!["name".into()]),
            ..Default::default()
        },
        task: None,
        meta: None,
    })
}

fn create_message() -> CreateMessageRequestParams {
    let mut p = CreateMessageRequestParams::new(vec![SamplingMessage::user("What is 2+2?")], 100);
    p.system_prompt = Some("Be brief.".into());
    p.model_preferences = Some(ModelPreferences {
        hints: Some(vec![ModelHint {
            name: Some("claude".into()),
        }]),
        intelligence_priority: Some(0.8),
        ..Default::default()
    });
    p
}

fn create_message_result() -> CreateMessageResult {
    CreateMessageResult {
        role: Role::Assistant,
        content: OneOrMany::One(SamplingContent::Text(TextContent::new("4"))),
        model: "claude".into(),
        stop_reason: Some("endTurn".into()),
        meta: None,
    }
}

/// Instances for a version, by the name of their definition in the official schema.
fn instances(s: &Shape) -> Vec<(&'static str, Value)> {
    use messages as m;
    let modern = s.modern();
    let call_params = CallToolRequestParams {
        name: "add".into(),
        arguments: Some(serde_json::from_value(json!({"a": 1})).unwrap()),
        meta: s.req_meta(),
        ..Default::default()
    };
    let call_result = CallToolResult {
        content: content(),
        structured_content: Some(json!({"sum": 3})),
        is_error: Some(false),
        result_type: s.result_type(),
        meta: None,
    };
    let list_tools = ListToolsResult {
        tools: vec![tool(s)],
        next_cursor: Some("c2".into()),
        ttl_ms: s.ttl(),
        cache_scope: s.scope(),
        result_type: s.result_type(),
        meta: None,
    };
    let resource = Resource {
        uri: "test://static-text".into(),
        name: "static".into(),
        title: Some("Static".into()),
        mime_type: Some("text/plain".into()),
        size: Some(5),
        annotations: Some(Annotations {
            audience: Some(vec![Role::User]),
            priority: Some(0.5),
            last_modified: None,
        }),
        ..Default::default()
    };
    let template = ResourceTemplate {
        uri_template: "test://template/{id}/data".into(),
        name: "data".into(),
        mime_type: Some("application/json".into()),
        ..Default::default()
    };
    let read_result = ReadResourceResult {
        contents: vec![
            ResourceContents::text("test://static-text", Some("text/plain"), "hello"),
            ResourceContents::blob("test://static-binary", Some("image/png"), "aGk="),
        ],
        ttl_ms: s.ttl(),
        cache_scope: s.scope(),
        result_type: s.result_type(),
        meta: None,
    };
    let prompt = Prompt {
        name: "review".into(),
        description: Some("Review code".into()),
        arguments: Some(vec![PromptArgument {
            name: "code".into(),
            required: Some(true),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let get_prompt = GetPromptResult {
        description: Some("Review".into()),
        messages: vec![
            PromptMessage::user("Review this"),
            PromptMessage::assistant("OK"),
        ],
        result_type: s.result_type(),
        meta: None,
    };
    let complete = CompleteRequestParams {
        reference: CompletionReference::Prompt(PromptReference {
            name: "review".into(),
            ..Default::default()
        }),
        argument: CompletionArgument {
            name: "language".into(),
            value: "ru".into(),
        },
        context: None,
        meta: s.req_meta(),
    };
    let complete_result = CompleteResult {
        completion: Completion {
            values: vec!["rust".into(), "ruby".into()],
            total: Some(2),
            has_more: Some(false),
        },
        result_type: s.result_type(),
        meta: None,
    };
    let server_caps = ServerCapabilities {
        tools: Some(ListChangedCapability {
            list_changed: Some(true),
        }),
        resources: Some(ResourcesCapability {
            subscribe: Some(!modern),
            list_changed: Some(true),
        }),
        prompts: Some(ListChangedCapability::default()),
        logging: Some(JsonObject::new()),
        completions: Some(JsonObject::new()),
        ..Default::default()
    };
    let progress = ProgressNotificationParams {
        progress_token: RequestId::from("tok"),
        progress: 50.0,
        total: Some(100.0),
        message: Some("half".into()),
        meta: None,
    };
    let log = LoggingMessageNotificationParams {
        level: LoggingLevel::Info,
        logger: Some("db".into()),
        data: json!({"rows": 3}),
        meta: None,
    };
    let cancelled = CancelledNotificationParams {
        request_id: Some(RequestId::from(7)),
        reason: Some("user".into()),
        meta: None,
    };
    let empty = EmptyResult {
        meta: None,
        result_type: s.result_type(),
    };
    let list_roots = ListRootsResult {
        roots: vec![Root {
            uri: "file:///home/me".into(),
            name: Some("home".into()),
            meta: None,
        }],
        meta: None,
    };
    let elicit_result = ElicitResult {
        action: ElicitAction::Accept,
        content: Some(serde_json::from_value(json!({"name": "Ada", "color": "red"})).unwrap()),
        meta: None,
    };

    let mut out: Vec<(&'static str, Value)> = vec![
        (
            "CallToolRequest",
            s.request::<m::CallTool>(call_params.clone()),
        ),
        ("CallToolResult", v(&call_result)),
        ("ListToolsRequest", s.request::<m::ListTools>(s.paginated())),
        ("ListToolsResult", v(&list_tools)),
        ("Tool", v(tool(s))),
        (
            "ListResourcesRequest",
            s.request::<m::ListResources>(s.paginated()),
        ),
        (
            "ListResourcesResult",
            v(ListResourcesResult {
                resources: vec![resource.clone()],
                next_cursor: None,
                ttl_ms: s.ttl(),
                cache_scope: s.scope(),
                result_type: s.result_type(),
                meta: None,
            }),
        ),
        (
            "ListResourceTemplatesRequest",
            s.request::<m::ListResourceTemplates>(s.paginated()),
        ),
        (
            "ListResourceTemplatesResult",
            v(ListResourceTemplatesResult {
                resource_templates: vec![template],
                next_cursor: None,
                ttl_ms: s.ttl(),
                cache_scope: s.scope(),
                result_type: s.result_type(),
                meta: None,
            }),
        ),
        (
            "ReadResourceRequest",
            s.request::<m::ReadResource>(ReadResourceRequestParams {
                uri: "test://static-text".into(),
                meta: s.req_meta(),
                ..Default::default()
            }),
        ),
        ("ReadResourceResult", v(&read_result)),
        (
            "ListPromptsRequest",
            s.request::<m::ListPrompts>(s.paginated()),
        ),
        (
            "ListPromptsResult",
            v(ListPromptsResult {
                prompts: vec![prompt],
                next_cursor: None,
                ttl_ms: s.ttl(),
                cache_scope: s.scope(),
                result_type: s.result_type(),
                meta: None,
            }),
        ),
        (
            "GetPromptRequest",
            s.request::<m::GetPrompt>(GetPromptRequestParams {
                name: "review".into(),
                arguments: Some([("code".to_owned(), "fn main() {}".to_owned())].into()),
                meta: s.req_meta(),
                ..Default::default()
            }),
        ),
        ("GetPromptResult", v(&get_prompt)),
        ("CompleteRequest", s.request::<m::Complete>(complete)),
        ("CompleteResult", v(&complete_result)),
        (
            "ProgressNotification",
            v(Notification::<m::Progress>::new(progress)),
        ),
        (
            "LoggingMessageNotification",
            v(Notification::<m::LoggingMessage>::new(log)),
        ),
        (
            "CancelledNotification",
            v(Notification::<m::Cancelled>::new(cancelled)),
        ),
        (
            "ResourceUpdatedNotification",
            v(Notification::<m::ResourceUpdated>::new(
                ResourceUpdatedNotificationParams {
                    uri: "test://watched-resource".into(),
                    meta: None,
                },
            )),
        ),
        (
            "ResourceListChangedNotification",
            v(Notification::<m::ResourceListChanged>::new(None)),
        ),
        (
            "ToolListChangedNotification",
            v(Notification::<m::ToolListChanged>::new(None)),
        ),
        (
            "PromptListChangedNotification",
            v(Notification::<m::PromptListChanged>::new(None)),
        ),
        ("CreateMessageResult", v(create_message_result())),
        ("ListRootsResult", v(&list_roots)),
        ("EmptyResult", v(&empty)),
        ("ServerCapabilities", v(&server_caps)),
        ("Resource", v(&resource)),
        (
            "Error",
            v(ErrorObject::invalid_params("unknown tool: nope")),
        ),
        (
            "JSONRPCErrorResponse",
            v(messages::ErrorResponse {
                jsonrpc: Default::default(),
                id: Some(RequestId::from(1)),
                error: ErrorObject::method_not_found("nope"),
            }),
        ),
    ];

    if modern {
        let mut ir = InputRequests::new();
        ir.insert("who".into(), InputRequest::Elicit(elicit_form()));
        ir.insert("math".into(), InputRequest::CreateMessage(create_message()));
        ir.insert("roots".into(), InputRequest::ListRoots(None));
        let input_required = InputRequiredResult {
            input_requests: Some(ir),
            request_state: Some("opaque".into()),
            result_type: Some(ResultType::InputRequired),
            meta: None,
        };
        let mut responses = InputResponses::new();
        responses.insert("who".into(), InputResponse::Elicit(elicit_result.clone()));
        responses.insert(
            "math".into(),
            InputResponse::CreateMessage(create_message_result()),
        );
        responses.insert("roots".into(), InputResponse::ListRoots(list_roots.clone()));
        let mut retry = call_params.clone();
        retry.input_responses = Some(responses);
        retry.request_state = Some("opaque".into());
        let mut server_info = Meta::new();
        server_info.set_server_info(&Implementation::new("test-server", "1.0.0"));
        let discover = DiscoverResult {
            supported_versions: vec!["2026-07-28".into(), "2025-11-25".into()],
            capabilities: server_caps.clone(),
            instructions: Some("Be nice".into()),
            ttl_ms: s.ttl(),
            cache_scope: s.scope(),
            result_type: s.result_type(),
            meta: Some(server_info),
        };
        let filter = SubscriptionFilter {
            tools_list_changed: Some(true),
            resource_subscriptions: Some(vec!["test://watched-resource".into()]),
            ..Default::default()
        };
        let mut sub_meta = Meta::new();
        sub_meta.set_subscription_id(&RequestId::from("listen-1"));
        out.extend([
            ("DiscoverRequest", s.request::<m::Discover>(s.plain())),
            ("DiscoverResult", v(&discover)),
            ("DiscoverResultResponse", s.response(&discover)),
            ("InputRequiredResult", v(&input_required)),
            ("CallToolRequest", s.request::<m::CallTool>(retry)),
            (
                "CallToolResultResponse",
                s.response(Outcome::Complete(call_result.clone())),
            ),
            (
                "CallToolResultResponse",
                s.response(Outcome::<CallToolResult>::InputRequired(
                    input_required.clone(),
                )),
            ),
            ("ListToolsResultResponse", s.response(&list_tools)),
            (
                "ReadResourceResultResponse",
                s.response(Outcome::Complete(read_result.clone())),
            ),
            (
                "GetPromptResultResponse",
                s.response(Outcome::Complete(get_prompt.clone())),
            ),
            ("CompleteResultResponse", s.response(&complete_result)),
            (
                "ListResourcesResultResponse",
                s.response(ListResourcesResult {
                    resources: vec![],
                    next_cursor: None,
                    ttl_ms: s.ttl(),
                    cache_scope: s.scope(),
                    result_type: s.result_type(),
                    meta: None,
                }),
            ),
            (
                "ListResourceTemplatesResultResponse",
                s.response(ListResourceTemplatesResult {
                    resource_templates: vec![],
                    next_cursor: None,
                    ttl_ms: s.ttl(),
                    cache_scope: s.scope(),
                    result_type: s.result_type(),
                    meta: None,
                }),
            ),
            (
                "ListPromptsResultResponse",
                s.response(ListPromptsResult {
                    prompts: vec![],
                    next_cursor: None,
                    ttl_ms: s.ttl(),
                    cache_scope: s.scope(),
                    result_type: s.result_type(),
                    meta: None,
                }),
            ),
            (
                "SubscriptionsListenRequest",
                s.request::<m::SubscriptionsListen>(SubscriptionsListenRequestParams {
                    notifications: filter.clone(),
                    meta: s.req_meta(),
                }),
            ),
            (
                "SubscriptionsListenResult",
                v(SubscriptionsListenResult {
                    result_type: s.result_type(),
                    meta: Some(sub_meta.clone()),
                }),
            ),
            (
                "SubscriptionsListenResultResponse",
                s.response(SubscriptionsListenResult {
                    result_type: s.result_type(),
                    meta: Some(sub_meta.clone()),
                }),
            ),
            (
                "SubscriptionsAcknowledgedNotification",
                v(Notification::<m::SubscriptionsAcknowledged>::new(
                    SubscriptionsAcknowledgedNotificationParams {
                        notifications: filter,
                        meta: Some(sub_meta),
                    },
                )),
            ),
            // Input requests travel without id and jsonrpc in the modern era.
            (
                "CreateMessageRequest",
                v(Request::<m::CreateMessage> {
                    jsonrpc: None,
                    id: None,
                    params: create_message(),
                }),
            ),
            (
                "ElicitRequest",
                v(Request::<m::Elicit> {
                    jsonrpc: None,
                    id: None,
                    params: elicit_form(),
                }),
            ),
            (
                "ListRootsRequest",
                v(Request::<m::ListRoots> {
                    jsonrpc: None,
                    id: None,
                    params: None,
                }),
            ),
            ("ElicitResult", v(&elicit_result)),
            (
                "UnsupportedProtocolVersionError",
                v(messages::ErrorResponse {
                    jsonrpc: Default::default(),
                    id: Some(RequestId::from(1)),
                    error: ErrorObject::unsupported_protocol_version(&["2026-07-28"], "1999-01-01"),
                }),
            ),
            (
                "HeaderMismatchError",
                v(messages::ErrorResponse {
                    jsonrpc: Default::default(),
                    id: Some(RequestId::from(1)),
                    error: ErrorObject::new(
                        mcp_core::ErrorCode::HEADER_MISMATCH,
                        "Mcp-Name does not match",
                    ),
                }),
            ),
            (
                "MissingRequiredClientCapabilityError",
                v(messages::ErrorResponse {
                    jsonrpc: Default::default(),
                    id: Some(RequestId::from(1)),
                    error: ErrorObject::new(
                        mcp_core::ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY,
                        "needs sampling",
                    )
                    .with_data(json!({"requiredCapabilities": {"sampling": {}}})),
                }),
            ),
            ("ParseError", v(ErrorObject::parse_error("bad json"))),
            (
                "InvalidRequestError",
                v(ErrorObject::invalid_request("bad request")),
            ),
            (
                "MethodNotFoundError",
                v(ErrorObject::method_not_found("nope")),
            ),
            ("InvalidParamsError", v(ErrorObject::invalid_params("bad"))),
            ("InternalError", v(ErrorObject::internal_error("oops"))),
        ]);
    } else {
        let init = InitializeRequestParams {
            protocol_version: s.version.as_str().into(),
            capabilities: ClientCapabilities {
                roots: Some(RootsCapability {
                    list_changed: Some(true),
                }),
                sampling: Some(SamplingCapability::default()),
                ..Default::default()
            },
            client_info: Implementation::new("test-client", "1.0.0"),
            meta: None,
        };
        out.extend([
            ("InitializeRequest", s.request::<m::Initialize>(init)),
            (
                "InitializeResult",
                v(InitializeResult {
                    protocol_version: s.version.as_str().into(),
                    capabilities: server_caps.clone(),
                    server_info: Implementation::new("test-server", "1.0.0"),
                    instructions: Some("Be nice".into()),
                    meta: None,
                }),
            ),
            (
                "InitializedNotification",
                v(Notification::<m::Initialized>::new(None)),
            ),
            ("PingRequest", s.request::<m::Ping>(None)),
            (
                "SetLevelRequest",
                s.request::<m::SetLevel>(SetLevelRequestParams {
                    level: LoggingLevel::Warning,
                    meta: None,
                }),
            ),
            (
                "SubscribeRequest",
                s.request::<m::Subscribe>(SubscribeRequestParams {
                    uri: "test://watched-resource".into(),
                    meta: None,
                }),
            ),
            (
                "UnsubscribeRequest",
                s.request::<m::Unsubscribe>(SubscribeRequestParams {
                    uri: "test://watched-resource".into(),
                    meta: None,
                }),
            ),
            (
                "RootsListChangedNotification",
                v(Notification::<m::RootsListChanged>::new(None)),
            ),
            (
                "CreateMessageRequest",
                s.request::<m::CreateMessage>(create_message()),
            ),
            ("ListRootsRequest", s.request::<m::ListRoots>(None)),
            ("ElicitRequest", s.request::<m::Elicit>(elicit_form())),
            ("ElicitResult", v(&elicit_result)),
            (
                "JSONRPCError",
                v(messages::ErrorResponse {
                    jsonrpc: Default::default(),
                    id: Some(RequestId::from(1)),
                    error: ErrorObject::method_not_found("nope"),
                }),
            ),
        ]);
        if s.version == ProtocolVersion::V2025_11_25 {
            let task_id = || TaskIdParams {
                task_id: "t1".into(),
                meta: None,
            };
            let task_result = LegacyTaskResult {
                task: legacy_task(),
                meta: None,
            };
            let mut url_params = ElicitRequestUrlParams {
                message: "Open this".into(),
                url: "https://example.com/auth".into(),
                elicitation_id: Some("e1".into()),
                ..Default::default()
            };
            url_params.task = None;
            out.extend([
                (
                    "CreateTaskResult",
                    v(LegacyCreateTaskResult {
                        task: legacy_task(),
                        meta: None,
                    }),
                ),
                ("GetTaskRequest", s.request::<m::LegacyGetTask>(task_id())),
                ("GetTaskResult", v(&task_result)),
                (
                    "CancelTaskRequest",
                    s.request::<m::LegacyCancelTask>(task_id()),
                ),
                ("CancelTaskResult", v(&task_result)),
                (
                    "GetTaskPayloadRequest",
                    s.request::<m::LegacyTaskPayload>(task_id()),
                ),
                (
                    "GetTaskPayloadResult",
                    v(json!({"content": [], "isError": false})),
                ),
                (
                    "ListTasksRequest",
                    s.request::<m::LegacyListTasks>(s.paginated()),
                ),
                (
                    "ListTasksResult",
                    v(LegacyListTasksResult {
                        tasks: vec![legacy_task()],
                        next_cursor: None,
                        meta: None,
                    }),
                ),
                (
                    "TaskStatusNotification",
                    v(Notification::<m::LegacyTaskStatusNotification>::new(
                        task_result.clone(),
                    )),
                ),
                (
                    "ElicitationCompleteNotification",
                    v(Notification::<m::ElicitationComplete>::new(
                        ElicitationCompleteNotificationParams {
                            elicitation_id: "e1".into(),
                            meta: None,
                        },
                    )),
                ),
                (
                    "ElicitRequest",
                    s.request::<m::Elicit>(ElicitRequestParams::Url(url_params.clone())),
                ),
                (
                    "URLElicitationRequiredError",
                    v(messages::ErrorResponse {
                        jsonrpc: Default::default(),
                        id: Some(RequestId::from(1)),
                        error: ErrorObject::new(
                            mcp_core::ErrorCode::URL_ELICITATION_REQUIRED,
                            "authorize first",
                        )
                        .with_data(json!({"elicitations": [url_params]})),
                    }),
                ),
            ]);
        }
    }
    out
}

/// Definitions that are message types; each must have an instance.
fn is_message_type(name: &str) -> bool {
    const GENERIC: &[&str] = &[
        "Request",
        "Notification",
        "Result",
        "PaginatedRequest",
        "PaginatedResult",
        "ClientRequest",
        "ServerRequest",
        "ClientNotification",
        "ServerNotification",
        "ClientResult",
        "ServerResult",
        "JSONRPCRequest",
        "JSONRPCNotification",
        "JSONRPCResponse",
        "JSONRPCResultResponse",
        "CacheableResult",
        "InputRequest",
        "InputResponse",
        // Batches exist only in 2025-03-26; this crate neither sends them nor accepts them (-32600).
        "JSONRPCBatchRequest",
        "JSONRPCBatchResponse",
    ];
    !GENERIC.contains(&name)
        && ["Request", "Notification", "Result", "Response", "Error"]
            .iter()
            .any(|s| name.ends_with(s))
}

#[test]
fn instances_validate_against_every_official_schema() {
    let mut failures = Vec::new();
    let mut validated = 0;
    for version in ProtocolVersion::ALL {
        let path = spec_dir().join(version.as_str()).join("schema.json");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let defs_key = if doc.get("$defs").is_some() {
            "$defs"
        } else {
            "definitions"
        };
        let defs = doc[defs_key].as_object().unwrap();
        let shape = Shape { version };
        let instances = instances(&shape);
        let covered: BTreeSet<&str> = instances.iter().map(|(n, _)| *n).collect();
        for name in defs.keys().filter(|n| is_message_type(n)) {
            if !covered.contains(name.as_str()) {
                failures.push(format!("{version}: no instance of {name}"));
            }
        }
        for (name, instance) in &instances {
            if !defs.contains_key(*name) {
                continue;
            }
            let mut root = doc.clone();
            root.as_object_mut()
                .unwrap()
                .insert("$ref".into(), json!(format!("#/{defs_key}/{name}")));
            let validator = jsonschema::validator_for(&root)
                .unwrap_or_else(|e| panic!("{version}: schema for {name} does not compile: {e}"));
            validated += 1;
            let errors: Vec<String> = validator
                .iter_errors(instance)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            if !errors.is_empty() {
                failures.push(format!(
                    "{version} {name}: {}\n  instance: {instance}",
                    errors.join("; ")
                ));
            }
        }
    }
    assert!(validated > 150, "only {validated} validations ran");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
