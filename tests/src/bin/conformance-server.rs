//! The fixture of the official MCP conformance suite (`@modelcontextprotocol/conformance`).
//!
//! Every tool, resource, template and prompt the suite's server scenarios call, in both protocol
//! eras (legacy 2025-11-25 and modern 2026-07-28), written with the SDK's macros. What each one
//! must do is in `tests/conformance/FIXTURE.md`.
//!
//! `conformance-server --port N` serves Streamable HTTP at `http://127.0.0.1:N/mcp` (loopback
//! only); `conformance-server --stdio` serves stdio. `scripts/conformance` runs the suite.
//!
//! `--store redis://HOST:PORT` makes it a replica sharing its state with the others that name
//! the same store; `--replica-tools` adds the tools the replica tests call (`replica_deploy`,
//! approved by the user; `replica_limited`, 3 calls a minute; `replica_touch`, which announces
//! an update of a resource; `replica_metered`, rate limited but never refused, for the store
//! benchmark; and the resource `replica://note`).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use clap::Parser;
use mcp_server::types::{
    BooleanSchema, ContentBlock, CreateMessageRequestParams, CreateMessageResult, ElicitAction,
    ElicitResult, ElicitationSchema, LegacyTitledEnumSchema, NumberSchema, NumberType,
    PrimitiveSchemaDefinition, PromptMessage, ResourceContents, Role, SamplingContent,
    SamplingMessage, StringSchema, TitledEnumItems, TitledMultiSelectEnumSchema, TitledOption,
    TitledSingleSelectEnumSchema, UntitledEnumItems, UntitledMultiSelectEnumSchema,
    UntitledSingleSelectEnumSchema,
};
use mcp_server::{Context, Error, Result, Server, prompt, resource, tool};
use serde::Deserialize;
use serde_json::json;

/// A 1x1 red PNG.
const IMAGE_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A minimal WAV file.
const AUDIO_WAV: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

/// The running server, for the tools that change what it offers.
static SERVER: OnceLock<Server> = OnceLock::new();

fn server() -> Result<&'static Server> {
    SERVER
        .get()
        .ok_or_else(|| Error::internal("the server is not running yet"))
}

async fn pause() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

// ---------------------------------------------------------------------------------------------
// Content tools (both eras).

/// Tests simple text content response
#[tool]
fn test_simple_text() -> &'static str {
    "This is a simple text response for testing."
}

/// Tests image content response
#[tool]
fn test_image_content() -> ContentBlock {
    ContentBlock::image(IMAGE_PNG, "image/png")
}

/// Tests audio content response
#[tool]
fn test_audio_content() -> ContentBlock {
    ContentBlock::audio(AUDIO_WAV, "audio/wav")
}

/// Tests embedded resource content response
#[tool]
fn test_embedded_resource() -> ContentBlock {
    ContentBlock::resource(ResourceContents::text(
        "test://embedded-resource",
        Some("text/plain"),
        "This is an embedded resource content.",
    ))
}

/// Tests response with multiple content types (text, image, resource)
#[tool]
fn test_multiple_content_types() -> Vec<ContentBlock> {
    vec![
        ContentBlock::text("Multiple content types test:"),
        ContentBlock::image(IMAGE_PNG, "image/png"),
        ContentBlock::resource(ResourceContents::text(
            "test://mixed-content-resource",
            Some("application/json"),
            json!({ "test": "data", "value": 123 }).to_string(),
        )),
    ]
}

/// Tests tool that emits log messages during execution
#[tool]
async fn test_tool_with_logging(cx: Context) -> &'static str {
    cx.info("Tool execution started");
    pause().await;
    cx.info("Tool processing data");
    pause().await;
    cx.info("Tool execution completed");
    "Tool with logging executed successfully"
}

/// Tests tool that reports progress notifications
#[tool]
async fn test_tool_with_progress(cx: Context) -> String {
    for (i, step) in [0.0, 50.0, 100.0].into_iter().enumerate() {
        if i > 0 {
            pause().await;
        }
        cx.progress(
            step,
            Some(100.0),
            Some(&format!("Completed step {step} of 100")),
        );
    }
    match cx.meta().progress_token() {
        Ok(Some(token)) => serde_json::to_string(&token).unwrap_or_default(),
        _ => "no progress token".to_owned(),
    }
}

/// Tests error response handling
#[tool]
fn test_error_handling() -> Result<String> {
    Err(Error::public(
        "This tool intentionally returns an error for testing",
    ))
}

/// Tests SSE stream disconnection and client reconnection (SEP-1699). Server will close the stream mid-call and send the result after client reconnects.
#[tool]
async fn test_reconnection(cx: Context) -> &'static str {
    // Ends the POST's connection (not its stream): the client polls with GET and Last-Event-ID.
    mcp_server::http::close_sse_stream(&cx, Some(Duration::from_millis(500)));
    pause().await;
    pause().await;
    "Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure."
}

// ---------------------------------------------------------------------------------------------
// Server-to-client requests (legacy: requests on the session; modern: input requests).

fn sampling_text(result: &CreateMessageResult) -> String {
    result
        .content
        .as_slice()
        .iter()
        .find_map(|c| match c {
            SamplingContent::Text(t) => Some(t.text.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "No response".to_owned())
}

fn elicit_summary(result: &ElicitResult) -> String {
    let action = match result.action {
        ElicitAction::Accept => "accept",
        ElicitAction::Decline => "decline",
        ElicitAction::Cancel => "cancel",
    };
    let content = serde_json::Value::Object(result.content.clone().unwrap_or_default());
    format!("action={action}, content={content}")
}

fn string_field(description: &str) -> PrimitiveSchemaDefinition {
    PrimitiveSchemaDefinition::String(StringSchema {
        description: Some(description.to_owned()),
        ..Default::default()
    })
}

fn form(fields: Vec<(&str, PrimitiveSchemaDefinition)>, required: &[&str]) -> ElicitationSchema {
    ElicitationSchema {
        properties: fields
            .into_iter()
            .map(|(name, field)| (name.to_owned(), field))
            .collect(),
        required: Some(required.iter().map(|r| (*r).to_owned()).collect()),
        ..Default::default()
    }
}

/// Tests server-initiated sampling (LLM completion request)
#[tool]
async fn test_sampling(
    cx: Context,
    /// The prompt to send to the LLM
    prompt: String,
) -> Result<String> {
    let result = cx
        .sample(CreateMessageRequestParams::new(
            vec![SamplingMessage::user(prompt)],
            100,
        ))
        .await?;
    Ok(format!("LLM response: {}", sampling_text(&result)))
}

/// Tests server-initiated elicitation (user input request)
#[tool]
async fn test_elicitation(
    cx: Context,
    /// The message to show the user
    message: String,
) -> Result<String> {
    let schema = form(
        vec![
            ("username", string_field("User's response")),
            ("email", string_field("User's email address")),
        ],
        &["username", "email"],
    );
    let result = cx.elicit_with(message, schema).await?;
    Ok(format!("User response: {}", elicit_summary(&result)))
}

/// Tests elicitation with default values per SEP-1034
#[tool]
async fn test_elicitation_sep1034_defaults(cx: Context) -> Result<String> {
    let schema = form(
        vec![
            (
                "name",
                PrimitiveSchemaDefinition::String(StringSchema {
                    description: Some("User name".into()),
                    default: Some("John Doe".into()),
                    ..Default::default()
                }),
            ),
            (
                "age",
                PrimitiveSchemaDefinition::Number(NumberSchema {
                    kind: NumberType::Integer,
                    title: None,
                    description: Some("User age".into()),
                    minimum: None,
                    maximum: None,
                    default: Some(30.0),
                }),
            ),
            (
                "score",
                PrimitiveSchemaDefinition::Number(NumberSchema {
                    kind: NumberType::Number,
                    title: None,
                    description: Some("User score".into()),
                    minimum: None,
                    maximum: None,
                    default: Some(95.5),
                }),
            ),
            (
                "status",
                PrimitiveSchemaDefinition::UntitledSingleSelect(UntitledSingleSelectEnumSchema {
                    description: Some("User status".into()),
                    values: vec!["active".into(), "inactive".into(), "pending".into()],
                    default: Some("active".into()),
                    ..Default::default()
                }),
            ),
            (
                "verified",
                PrimitiveSchemaDefinition::Boolean(BooleanSchema {
                    description: Some("Verification status".into()),
                    default: Some(true),
                    ..Default::default()
                }),
            ),
        ],
        &[],
    );
    let result = cx
        .elicit_with(
            "Please review and update the form fields with defaults",
            schema,
        )
        .await?;
    Ok(format!(
        "Elicitation completed: {}",
        elicit_summary(&result)
    ))
}

fn titled(options: &[(&str, &str)]) -> Vec<TitledOption> {
    options
        .iter()
        .map(|(value, title)| TitledOption {
            value: (*value).to_owned(),
            title: (*title).to_owned(),
        })
        .collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// Tests elicitation with enum schema improvements per SEP-1330
#[tool]
async fn test_elicitation_sep1330_enums(cx: Context) -> Result<String> {
    let schema = form(
        vec![
            (
                "untitledSingle",
                PrimitiveSchemaDefinition::UntitledSingleSelect(UntitledSingleSelectEnumSchema {
                    description: Some("Select one option".into()),
                    values: strings(&["option1", "option2", "option3"]),
                    ..Default::default()
                }),
            ),
            (
                "titledSingle",
                PrimitiveSchemaDefinition::TitledSingleSelect(TitledSingleSelectEnumSchema {
                    description: Some("Select one option with titles".into()),
                    one_of: titled(&[
                        ("value1", "First Option"),
                        ("value2", "Second Option"),
                        ("value3", "Third Option"),
                    ]),
                    ..Default::default()
                }),
            ),
            (
                "legacyEnum",
                PrimitiveSchemaDefinition::LegacyTitledEnum(LegacyTitledEnumSchema {
                    description: Some("Select one option (legacy)".into()),
                    values: strings(&["opt1", "opt2", "opt3"]),
                    enum_names: Some(strings(&["Option One", "Option Two", "Option Three"])),
                    ..Default::default()
                }),
            ),
            (
                "untitledMulti",
                PrimitiveSchemaDefinition::UntitledMultiSelect(UntitledMultiSelectEnumSchema {
                    description: Some("Select multiple options".into()),
                    min_items: Some(1),
                    max_items: Some(3),
                    items: UntitledEnumItems {
                        values: strings(&["option1", "option2", "option3"]),
                        ..Default::default()
                    },
                    ..Default::default()
                }),
            ),
            (
                "titledMulti",
                PrimitiveSchemaDefinition::TitledMultiSelect(TitledMultiSelectEnumSchema {
                    description: Some("Select multiple options with titles".into()),
                    min_items: Some(1),
                    max_items: Some(3),
                    items: TitledEnumItems {
                        any_of: titled(&[
                            ("value1", "First Choice"),
                            ("value2", "Second Choice"),
                            ("value3", "Third Choice"),
                        ]),
                    },
                    ..Default::default()
                }),
            ),
        ],
        &[],
    );
    let result = cx
        .elicit_with("Please select options from the enum fields", schema)
        .await?;
    Ok(format!(
        "Elicitation completed: {}",
        elicit_summary(&result)
    ))
}

// ---------------------------------------------------------------------------------------------
// JSON Schema 2020-12 (SEP-1613, SEP-2106): the input schema must reach the client verbatim.

/// A postal address.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "address", extend("$anchor" = "addressDef"))]
#[allow(dead_code)]
struct Address {
    street: Option<String>,
    city: Option<String>,
}

/// How to reach someone.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum ContactMethod {
    Phone,
    Email,
}

/// The arguments of `json_schema_2020_12_tool`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend(
    "$schema" = "https://json-schema.org/draft/2020-12/schema",
    "allOf" = [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
    "if" = { "properties": { "contactMethod": { "const": "phone" } }, "required": ["contactMethod"] },
    "then" = { "required": ["phone"] },
    "else" = { "required": ["email"] },
))]
#[allow(dead_code)]
struct JsonSchemaArgs {
    name: Option<String>,
    address: Option<Address>,
    contact_method: Option<ContactMethod>,
    phone: Option<String>,
    email: Option<String>,
}

/// Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)
#[tool(raw_schema)]
fn json_schema_2020_12_tool(#[args] args: JsonSchemaArgs) -> String {
    format!("JSON Schema 2020-12 tool called with: {args:?}")
}

/// The arguments of `test_header_param`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct HeaderArgs {
    /// Where to run; mirrored in the `Mcp-Param-Region` header (SEP-2243).
    #[schemars(extend("x-mcp-header" = "Region"))]
    region: String,
}

/// Echoes a parameter that travels in an HTTP header too (SEP-2243)
#[tool]
fn test_header_param(#[args] args: HeaderArgs) -> String {
    format!("region={}", args.region)
}

// ---------------------------------------------------------------------------------------------
// Stateless-era diagnostics (server-stateless, SEP-2575).

/// Requires the sampling capability: without it, fails with -32021
#[tool]
async fn test_missing_capability(cx: Context) -> Result<String> {
    let result = cx
        .sample(CreateMessageRequestParams::new(
            vec![SamplingMessage::user("Say hello")],
            10,
        ))
        .await?;
    Ok(format!("LLM response: {}", sampling_text(&result)))
}

/// Asks for input mid-call: the answer is an input_required result, never a request
#[tool]
async fn test_streaming_elicitation(cx: Context) -> Result<String> {
    let schema = form(vec![("answer", string_field("Your answer"))], &["answer"]);
    let result = cx.elicit_with("Please answer", schema).await?;
    Ok(format!(
        "Elicitation completed: {}",
        elicit_summary(&result)
    ))
}

/// Logs at every level; a request without a log level gets none of it
#[tool]
fn test_logging_tool(cx: Context) -> &'static str {
    cx.debug("debug message from test_logging_tool");
    cx.info("info message from test_logging_tool");
    cx.warning("warning message from test_logging_tool");
    cx.error("error message from test_logging_tool");
    "logged"
}

/// A tool that comes and goes (see test_trigger_tool_change)
#[tool]
fn test_dynamic_tool() -> &'static str {
    "dynamic tool called"
}

/// Adds or removes test_dynamic_tool, so that the tool list changes
#[tool]
fn test_trigger_tool_change() -> Result<&'static str> {
    let server = server()?;
    if server.remove_tool("test_dynamic_tool") {
        Ok("removed test_dynamic_tool")
    } else {
        server.add_tool(TestDynamicTool);
        Ok("added test_dynamic_tool")
    }
}

/// A prompt added by test_trigger_prompt_change
#[prompt]
fn test_dynamic_prompt() -> &'static str {
    "This prompt was added at run time."
}

/// Adds or removes test_dynamic_prompt, so that the prompt list changes
#[tool]
fn test_trigger_prompt_change() -> Result<&'static str> {
    let server = server()?;
    if server.remove_prompt("test_dynamic_prompt") {
        Ok("removed test_dynamic_prompt")
    } else {
        server.add_prompt(TestDynamicPrompt);
        Ok("added test_dynamic_prompt")
    }
}

// ---------------------------------------------------------------------------------------------
// Tasks extension (`io.modelcontextprotocol/tasks`, 2026-07-28): a tool with `task_support`
// becomes a task when the client declared the extension (the `tasks-*` scenarios).

/// Greets someone (runs synchronously, never as a task)
#[tool]
fn greet(name: String) -> String {
    format!("Hello, {name}!")
}

/// Works for `seconds` seconds, then reports (runs as a task when it can)
#[tool(task_support = "optional")]
async fn slow_compute(seconds: Option<u64>, label: Option<String>) -> String {
    let seconds = seconds.unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    format!(
        "Computed {} after {seconds}s",
        label.as_deref().unwrap_or("result")
    )
}

/// Fails with a tool execution error after about a second (only runs as a task)
#[tool(task_support = "required")]
async fn failing_job() -> Result<String> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    Err(Error::public("The job failed"))
}

/// Fails with a protocol-level error (runs as a task when it can)
#[tool(task_support = "optional")]
async fn protocol_error_job() -> Result<String> {
    pause().await;
    Err(Error::protocol(
        mcp_server::mcp_core::ErrorObject::internal_error("The job crashed"),
    ))
}

fn confirm_form() -> ElicitationSchema {
    form(
        vec![(
            "confirm",
            PrimitiveSchemaDefinition::Boolean(BooleanSchema::default()),
        )],
        &["confirm"],
    )
}

/// Asks to confirm a deletion (elicitation), then reports (runs as a task when it can)
#[tool(task_support = "optional")]
async fn confirm_delete(cx: Context, filename: Option<String>) -> Result<String> {
    let filename = filename.unwrap_or_else(|| "the file".into());
    let answer = cx
        .elicit_with(format!("Delete {filename}?"), confirm_form())
        .await?;
    Ok(format!("{filename}: {}", elicit_summary(&answer)))
}

/// Asks two questions at once (elicitation), then reports both (runs as a task when it can)
#[tool(task_support = "optional")]
async fn multi_input(cx: Context) -> Result<String> {
    let (name, confirm) = tokio::join!(
        cx.keyed("name")
            .elicit_with("What is your name?", name_form()),
        cx.keyed("confirm")
            .elicit_with("Please confirm", confirm_form()),
    );
    let (name, confirm) = (name?, confirm?);
    Ok(format!(
        "name {}, confirmation {}",
        accepted_string(&name, "name"),
        elicit_summary(&confirm)
    ))
}

/// Asks for the user's name over multi-round trips, then goes on as a task that greets them
#[tool(task_support = "required", defer_task)]
async fn test_tool_with_task(cx: Context) -> Result<String> {
    let answer = cx
        .keyed("user_name")
        .elicit_with("What is your name?", name_form())
        .await?;
    cx.continue_as_task().await?;
    pause().await;
    Ok(format!("Hello, {}!", accepted_string(&answer, "name")))
}

// Multi-round-trip requests (SEP-2322, 2026-07-28): each `cx.elicit_with`, `cx.sample` or
// `cx.roots` without an answer yet ends the round with `input_required`; the handler runs again
// when the client retries with the answers.

fn name_form() -> ElicitationSchema {
    form(vec![("name", string_field("Your name"))], &["name"])
}

fn accepted_string(result: &ElicitResult, field: &str) -> String {
    result
        .content
        .as_ref()
        .and_then(|c| c.get(field))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("(none)")
        .to_owned()
}

/// Asks for the user's name (elicitation), then greets them
#[tool]
async fn test_input_required_result_elicitation(cx: Context) -> Result<String> {
    let answer = cx
        .keyed("user_name")
        .elicit_with("What is your name?", name_form())
        .await?;
    Ok(format!("Hello, {}!", accepted_string(&answer, "name")))
}

/// Asks the client's model a question (sampling), then reports the answer
#[tool]
async fn test_input_required_result_sampling(cx: Context) -> Result<String> {
    let result = cx
        .sample(CreateMessageRequestParams::new(
            vec![SamplingMessage::user("What is the capital of France?")],
            100,
        ))
        .await?;
    Ok(format!("The model said: {}", sampling_text(&result)))
}

/// Asks for the client's roots, then lists them
#[tool]
async fn test_input_required_result_list_roots(cx: Context) -> Result<String> {
    let roots = cx.roots().await?;
    let uris: Vec<&str> = roots.iter().map(|r| r.uri.as_str()).collect();
    Ok(format!("Roots: {}", uris.join(", ")))
}

/// Asks for a confirmation; the answer comes back with the sealed request state
#[tool]
async fn test_input_required_result_request_state(cx: Context) -> Result<String> {
    let schema = form(
        vec![(
            "ok",
            PrimitiveSchemaDefinition::Boolean(BooleanSchema::default()),
        )],
        &["ok"],
    );
    let answer = cx.elicit_with("Please confirm", schema).await?;
    Ok(format!(
        "state-ok: confirmation {}",
        elicit_summary(&answer)
    ))
}

/// Asks for a name, a greeting and the roots in one round
#[tool]
async fn test_input_required_result_multiple_inputs(cx: Context) -> Result<String> {
    let sampling =
        CreateMessageRequestParams::new(vec![SamplingMessage::user("Generate a greeting")], 50);
    let (name, greeting, roots) = tokio::join!(
        cx.elicit_with("What is your name?", name_form()),
        cx.sample(sampling),
        cx.roots(),
    );
    let (name, greeting, roots) = (name?, greeting?, roots?);
    Ok(format!(
        "{} {}! ({} roots)",
        sampling_text(&greeting),
        accepted_string(&name, "name"),
        roots.len()
    ))
}

/// Asks for a name, then for a colour, in two rounds
#[tool]
async fn test_input_required_result_multi_round(cx: Context) -> Result<String> {
    let name = cx
        .elicit_with("Step 1: What is your name?", name_form())
        .await?;
    let colour = cx
        .elicit_with(
            "Step 2: What is your favorite color?",
            form(
                vec![("color", string_field("Your favorite color"))],
                &["color"],
            ),
        )
        .await?;
    Ok(format!(
        "{} likes {}",
        accepted_string(&name, "name"),
        accepted_string(&colour, "color")
    ))
}

/// Asks for a confirmation; a tampered request state is refused
#[tool]
async fn test_input_required_result_tampered_state(cx: Context) -> Result<String> {
    let schema = form(
        vec![(
            "ok",
            PrimitiveSchemaDefinition::Boolean(BooleanSchema::default()),
        )],
        &["ok"],
    );
    let answer = cx.elicit_with("Please confirm", schema).await?;
    Ok(format!("confirmed: {}", elicit_summary(&answer)))
}

/// Asks only for what the client can give: elicitation and/or sampling, by its capabilities
#[tool]
async fn test_input_required_result_capabilities(cx: Context) -> Result<String> {
    let caps = cx.client_capabilities();
    let (can_elicit, can_sample) = (caps.elicitation.is_some(), caps.sampling.is_some());
    let elicit = async {
        if can_elicit {
            Some(cx.elicit_with("What is your name?", name_form()).await)
        } else {
            None
        }
    };
    let sample = async {
        if can_sample {
            let params =
                CreateMessageRequestParams::new(vec![SamplingMessage::user("Say hello")], 20);
            Some(cx.sample(params).await)
        } else {
            None
        }
    };
    let (elicited, sampled) = tokio::join!(elicit, sample);
    let elicited = elicited.transpose()?;
    let sampled = sampled.transpose()?;
    Ok(format!(
        "elicited: {}, sampled: {}",
        elicited.map_or_else(|| "no".to_owned(), |e| elicit_summary(&e)),
        sampled.map_or_else(|| "no".to_owned(), |s| sampling_text(&s)),
    ))
}

// ---------------------------------------------------------------------------------------------
// Resources and templates.

/// A static text resource for testing
#[resource(
    "test://static-text",
    name = "static-text",
    title = "Static Text Resource",
    mime_type = "text/plain"
)]
fn static_text() -> &'static str {
    "This is the content of the static text resource."
}

/// A static binary resource (image) for testing
#[resource(
    "test://static-binary",
    name = "static-binary",
    title = "Static Binary Resource",
    mime_type = "image/png"
)]
fn static_binary() -> Result<ResourceContents> {
    Ok(ResourceContents::blob(
        "test://static-binary",
        Some("image/png"),
        IMAGE_PNG,
    ))
}

/// A resource that auto-updates every 3 seconds
#[resource(
    "test://watched-resource",
    name = "watched-resource",
    title = "Watched Resource",
    mime_type = "text/plain"
)]
fn watched_resource() -> &'static str {
    "Watched resource content"
}

/// A resource template with parameter substitution
#[resource(
    "test://template/{id}/data",
    name = "template",
    title = "Resource Template",
    mime_type = "application/json"
)]
fn template(id: String) -> String {
    json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") }).to_string()
}

// ---------------------------------------------------------------------------------------------
// Prompts.

/// A simple prompt without arguments
#[prompt(title = "Simple Test Prompt")]
fn test_simple_prompt() -> &'static str {
    "This is a simple prompt for testing."
}

fn complete_arg(value: &str) -> Vec<String> {
    ["paris", "park", "party", "test", "testing"]
        .into_iter()
        .filter(|v| v.starts_with(value))
        .map(str::to_owned)
        .collect()
}

/// A prompt with required arguments
#[prompt(title = "Prompt With Arguments", complete(arg1 = complete_arg, arg2 = complete_arg))]
fn test_prompt_with_arguments(
    /// First test argument
    arg1: String,
    /// Second test argument
    arg2: String,
) -> String {
    format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")
}

/// A prompt that includes an embedded resource
#[prompt(title = "Prompt With Embedded Resource")]
fn test_prompt_with_embedded_resource(
    /// URI of the resource to embed
    #[arg(rename = "resourceUri")]
    resource_uri: String,
) -> Vec<PromptMessage> {
    vec![
        PromptMessage::new(
            Role::User,
            ContentBlock::resource(ResourceContents::text(
                resource_uri,
                Some("text/plain"),
                "Embedded resource content for testing.",
            )),
        ),
        PromptMessage::user("Please process the embedded resource above."),
    ]
}

/// A prompt that includes image content
#[prompt(title = "Prompt With Image")]
fn test_prompt_with_image() -> Vec<PromptMessage> {
    vec![
        PromptMessage::new(Role::User, ContentBlock::image(IMAGE_PNG, "image/png")),
        PromptMessage::user("Please analyze the image above."),
    ]
}

/// A prompt that needs context from the user first (input_required on prompts/get)
#[prompt]
async fn test_input_required_result_prompt(cx: Context) -> Result<Vec<PromptMessage>> {
    let answer = cx
        .elicit_with(
            "What context should the prompt use?",
            form(vec![("context", string_field("The context"))], &["context"]),
        )
        .await?;
    Ok(vec![PromptMessage::user(format!(
        "Use this context: {}",
        accepted_string(&answer, "context")
    ))])
}

// ---------------------------------------------------------------------------------------------
// Replica tools (`--replica-tools`).

/// Deploys a version (pretends to): every call needs the user's approval.
#[tool(approval = "required")]
fn replica_deploy(version: String) -> String {
    format!("deployed {version}")
}

/// A tool limited to 3 calls a minute per principal, across every replica.
#[tool(read_only, rate_limit = "3/min")]
fn replica_limited() -> &'static str {
    "within the limit"
}

/// The simple text answer, rate limited so high that it never refuses: each call takes a token
/// from its bucket (in the shared store, with `--store`). For the store benchmark.
#[tool(read_only, rate_limit = "1000000/s")]
fn replica_metered() -> &'static str {
    "This is a simple text response for testing."
}

/// A note that `replica_touch` announces updates of.
#[resource("replica://note", name = "replica-note", mime_type = "text/plain")]
fn replica_note() -> &'static str {
    "a note"
}

/// Tells subscribers, on every replica, that the resource at `uri` changed.
#[tool(read_only)]
fn replica_touch(uri: String) -> Result<String> {
    server()?.notify_resource_updated(uri.clone());
    Ok(format!("touched {uri}"))
}

// ---------------------------------------------------------------------------------------------

fn build() -> Server {
    Server::new("mcp-conformance-test-server", "1.0.0")
        .instructions("The fixture of the MCP conformance suite.")
        // Content and utilities.
        .tool(TestSimpleText)
        .tool(TestImageContent)
        .tool(TestAudioContent)
        .tool(TestEmbeddedResource)
        .tool(TestMultipleContentTypes)
        .tool(TestToolWithLogging)
        .tool(TestToolWithProgress)
        .tool(TestErrorHandling)
        .tool(TestReconnection)
        // Server-to-client requests.
        .tool(TestSampling)
        .tool(TestElicitation)
        .tool(TestElicitationSep1034Defaults)
        .tool(TestElicitationSep1330Enums)
        // Schemas and headers.
        .tool(JsonSchema202012Tool)
        .tool(TestHeaderParam)
        // Stateless diagnostics.
        .tool(TestMissingCapability)
        .tool(TestStreamingElicitation)
        .tool(TestLoggingTool)
        .tool(TestTriggerToolChange)
        .tool(TestTriggerPromptChange)
        // Multi-round-trip requests.
        .tool(TestInputRequiredResultElicitation)
        .tool(TestInputRequiredResultSampling)
        .tool(TestInputRequiredResultListRoots)
        .tool(TestInputRequiredResultRequestState)
        .tool(TestInputRequiredResultMultipleInputs)
        .tool(TestInputRequiredResultMultiRound)
        .tool(TestInputRequiredResultTamperedState)
        .tool(TestInputRequiredResultCapabilities)
        .tool(Greet)
        .tool(SlowCompute)
        .tool(FailingJob)
        .tool(ProtocolErrorJob)
        .tool(ConfirmDelete)
        .tool(MultiInput)
        .tool(TestToolWithTask)
        // Resources.
        .resource(StaticText)
        .resource(StaticBinary)
        .resource(WatchedResource)
        .resource(Template)
        // Prompts.
        .prompt(TestSimplePrompt)
        .prompt(TestPromptWithArguments)
        .prompt(TestPromptWithEmbeddedResource)
        .prompt(TestPromptWithImage)
        .prompt(TestInputRequiredResultPrompt)
}

/// The fixture server of the MCP conformance suite.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Serve Streamable HTTP on 127.0.0.1 at this port, path /mcp.
    #[arg(long, default_value_t = 3000, conflicts_with = "stdio")]
    port: u16,
    /// Serve stdio instead of HTTP.
    #[arg(long)]
    stdio: bool,
    /// Share state with other replicas through this store (`redis://HOST:PORT`).
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Add the tools the replica tests call.
    #[arg(long)]
    replica_tools: bool,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let mut server = build();
    if args.replica_tools {
        server = server
            .tool(ReplicaDeploy)
            .tool(ReplicaLimited)
            .tool(ReplicaTouch)
            .tool(ReplicaMetered)
            .resource(ReplicaNote);
    }
    if let Some(url) = &args.store {
        server = server
            .connect_store(url)
            .await
            .map_err(std::io::Error::other)?;
    }
    SERVER
        .set(server.clone())
        .expect("the server is built once");
    if args.stdio {
        server.serve_stdio().await
    } else {
        eprintln!(
            "conformance-server: http://{}/mcp",
            SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))
        );
        mcp_server::http::serve_local(server, args.port).await
    }
}
