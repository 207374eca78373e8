//! The client against servers: our runtime in process (both eras), and a real child process.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_client::types::*;
use mcp_client::{
    Client, ClientHandler, EraChoice, Error, HandlerCapabilities, StdioServer, Transport,
};
use mcp_core::{Era, ErrorObject, ProtocolVersion};
use mcp_server::{Context, ResourceDefinition, ResourceHandler, Server, ToolHandler};
use serde_json::{Value, json};

fn schema(v: Value) -> JsonObject {
    serde_json::from_value(v).unwrap()
}

struct Add;
impl ToolHandler for Add {
    fn definition(&self) -> Tool {
        let mut t = Tool::new(
            "add",
            schema(
                json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}),
            ),
        );
        t.output_schema = Some(schema(
            json!({"type": "object", "properties": {"sum": {"type": "number"}}, "required": ["sum"]}),
        ));
        t
    }
    async fn call(&self, cx: Context, args: JsonObject) -> mcp_server::Result<CallToolResult> {
        let a = args["a"].as_f64().unwrap_or_default();
        let b = args["b"].as_f64().unwrap_or_default();
        cx.progress(1.0, Some(2.0), None);
        cx.progress(2.0, Some(2.0), None);
        Ok(CallToolResult::structured(json!({ "sum": a + b })))
    }
}

/// Declares an output schema and breaks it.
struct Liar;
impl ToolHandler for Liar {
    fn definition(&self) -> Tool {
        let mut t = Tool::new("liar", schema(json!({"type": "object"})));
        t.output_schema = Some(schema(
            json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
        ));
        t
    }
    async fn call(&self, _cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        Ok(CallToolResult::structured(json!({ "n": "not a number" })))
    }
}

/// A flag raised once, that a test can wait for.
#[derive(Default)]
struct Flag {
    raised: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Flag {
    fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    async fn raised(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.raised.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

struct Hang(Arc<Flag>);
impl ToolHandler for Hang {
    fn definition(&self) -> Tool {
        Tool::new("hang", schema(json!({"type": "object"})))
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        // Set when the handler stops, whether it sees the cancellation or is dropped first.
        struct Stopped(Arc<Flag>);
        impl Drop for Stopped {
            fn drop(&mut self) {
                self.0.raise();
            }
        }
        let _stopped = Stopped(self.0.clone());
        cx.cancelled().await;
        Ok(CallToolResult::default())
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Name {
    name: String,
}

struct Greet;
impl ToolHandler for Greet {
    fn definition(&self) -> Tool {
        Tool::new("greet", schema(json!({"type": "object"})))
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        let name = cx
            .elicit::<Name>("Who are you?")
            .await?
            .accepted()
            .map_or("stranger".to_owned(), |n| n.name);
        let roots = cx.roots().await?;
        let model = cx
            .sample(CreateMessageRequestParams::new(
                vec![SamplingMessage::user("hi")],
                10,
            ))
            .await?;
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "hello {name}, {} roots, model {}",
            roots.len(),
            model.model
        ))]))
    }
}

struct Files;
impl ResourceHandler for Files {
    fn definition(&self) -> ResourceDefinition {
        ResourceDefinition::Template(ResourceTemplate {
            uri_template: "file:///{name}".into(),
            name: "files".into(),
            ..Default::default()
        })
    }
    async fn read(
        &self,
        _cx: Context,
        uri: String,
        vars: BTreeMap<String, String>,
    ) -> mcp_server::Result<Vec<ResourceContents>> {
        Ok(vec![ResourceContents::text(
            uri,
            None,
            format!("contents of {}", vars["name"]),
        )])
    }
}

/// The server, lying about `liar`'s output: its own output check is off, so that the client's
/// can be seen at work.
fn server(hung: Arc<Flag>) -> Server {
    Server::new("srv", "9.9.9")
        .options(mcp_server::ServerOptions {
            validate: false,
            ..Default::default()
        })
        .tool(Add)
        .tool(Liar)
        .tool(Hang(hung))
        .tool(Greet)
        .resource(Files)
}

/// A transport to an in-process server over two in-memory pipes.
fn in_process(server: Server) -> Transport {
    let (client_w, server_r) = tokio::io::duplex(1 << 16);
    let (server_w, client_r) = tokio::io::duplex(1 << 16);
    tokio::spawn(server.serve_io(server_r, server_w));
    Transport::from_io(client_r, client_w)
}

#[derive(Default)]
struct App {
    elicited: AtomicUsize,
    changes: Mutex<Vec<mcp_client::Change>>,
    changed: Flag,
}

impl ClientHandler for App {
    fn capabilities(&self) -> HandlerCapabilities {
        HandlerCapabilities {
            elicitation_form: true,
            sampling: true,
            roots: true,
            ..Default::default()
        }
    }
    async fn elicit(&self, _params: ElicitRequestParams) -> Result<ElicitResult, ErrorObject> {
        self.elicited.fetch_add(1, Ordering::SeqCst);
        Ok(ElicitResult {
            action: ElicitAction::Accept,
            content: Some(schema(json!({"name": "Ada"}))),
            meta: None,
        })
    }
    async fn sample(
        &self,
        _params: CreateMessageRequestParams,
    ) -> Result<CreateMessageResult, ErrorObject> {
        Ok(CreateMessageResult {
            role: Role::Assistant,
            content: OneOrMany::One(SamplingContent::Text(TextContent::new("ok"))),
            model: "test-model".into(),
            stop_reason: None,
            meta: None,
        })
    }
    async fn roots(&self) -> Result<Vec<Root>, ErrorObject> {
        Ok(vec![Root {
            uri: "file:///r".into(),
            name: None,
            meta: None,
        }])
    }
    fn on_change(&self, change: mcp_client::Change) {
        self.changes.lock().unwrap().push(change);
        self.changed.raise();
    }
}

async fn connect(era: EraChoice, app: Arc<App>) -> (Client, Server) {
    let srv = server(Arc::default());
    let client = Client::builder()
        .era(era)
        .handler(app)
        .connect(in_process(srv.clone()))
        .await
        .unwrap();
    (client, srv)
}

#[tokio::test]
async fn auto_detects_a_modern_server() {
    let (client, _) = connect(EraChoice::Auto, Arc::default()).await;
    let s = client.session();
    assert_eq!(s.version, ProtocolVersion::V2026_07_28);
    assert_eq!(s.server_info.unwrap().name, "srv");
    assert!(s.capabilities.tools.is_some());
}

#[tokio::test]
async fn a_pinned_legacy_era_initializes() {
    let (client, _) = connect(EraChoice::Legacy, Arc::default()).await;
    assert_eq!(client.session().version, ProtocolVersion::V2025_11_25);
    assert_eq!(client.session().era(), Era::Legacy);
    client.ping().await.unwrap();
}

#[tokio::test]
async fn typed_calls_in_both_eras() {
    for era in [EraChoice::Legacy, EraChoice::Modern] {
        let (client, _) = connect(era, Arc::default()).await;
        let names: Vec<String> = client
            .list_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["add", "liar", "hang", "greet"]);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let r = client
            .call_tool_with_progress("add", json!({"a": 1, "b": 2}), move |p| {
                seen2.lock().unwrap().push(p.progress)
            })
            .await
            .unwrap();
        assert_eq!(r.structured_content, Some(json!({"sum": 3.0})));
        assert_eq!(*seen.lock().unwrap(), [1.0, 2.0], "{era:?}");
        let contents = client.read_resource("file:///notes.txt").await.unwrap();
        assert!(
            matches!(&contents[0], ResourceContents::Text(t) if t.text == "contents of notes.txt")
        );
        let templates = client.list_resource_templates().await.unwrap();
        assert_eq!(templates[0].uri_template, "file:///{name}");
        // A typed request by method marker.
        let listed = client
            .request::<mcp_core::messages::ListTools>(None)
            .await
            .unwrap();
        assert_eq!(listed.tools.len(), 4);
        // A server error is a typed error.
        let err = client.call_tool("nope", json!({})).await.unwrap_err();
        assert_eq!(
            err.server_error().unwrap().code,
            mcp_core::ErrorCode::INVALID_PARAMS
        );
    }
}

#[tokio::test]
async fn output_is_checked_against_the_schema() {
    let (client, _) = connect(EraChoice::Auto, Arc::default()).await;
    client.list_tools().await.unwrap();
    let err = client.call_tool("liar", json!({})).await.unwrap_err();
    assert!(
        matches!(err, Error::OutputSchema { ref tool, .. } if tool == "liar"),
        "{err}"
    );
}

#[tokio::test]
async fn handlers_answer_in_both_eras() {
    for era in [EraChoice::Legacy, EraChoice::Modern] {
        let app = Arc::new(App::default());
        let (client, _) = connect(era, app.clone()).await;
        let r = client.call_tool("greet", json!({})).await.unwrap();
        assert_eq!(
            r.content[0].as_text(),
            Some("hello Ada, 1 roots, model test-model"),
            "{era:?}"
        );
        assert!(app.elicited.load(Ordering::SeqCst) >= 1);
    }
}

/// A legacy client of the fixture server with a 200 ms timeout, and the flag its `hang` tool
/// raises when it is cancelled.
async fn client_with_200ms_timeout() -> (Client, Arc<Flag>) {
    let hung = Arc::new(Flag::default());
    let srv = server(hung.clone());
    let client = Client::builder()
        .era(EraChoice::Legacy)
        .timeout(Duration::from_millis(200))
        .connect(in_process(srv))
        .await
        .unwrap();
    (client, hung)
}

#[tokio::test]
async fn timeouts_cancel_the_request_on_the_server() {
    let (client, hung) = client_with_200ms_timeout().await;
    let err = client.call_tool("hang", json!({})).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    // The server saw the cancellation: the handler stops.
    hung.raised().await;
    // The connection still works.
    assert_eq!(
        client
            .call_tool("add", json!({"a": 2, "b": 2}))
            .await
            .unwrap()
            .structured_content,
        Some(json!({"sum": 4.0}))
    );
}

/// Deadlines are kept by one sweeper per client, which parks when nothing has been pending for a
/// whole timeout: a request after such an idle spell still times out, and one whose answer comes
/// in time is not touched by another's deadline.
#[tokio::test]
async fn timeouts_hold_after_an_idle_spell_and_between_answers() {
    let (client, hung) = client_with_200ms_timeout().await;
    let add = || client.call_tool("add", json!({"a": 2, "b": 2}));
    add().await.unwrap();
    // Nothing pending for more than two timeouts: the sweeper has parked.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let started = std::time::Instant::now();
    let hang = client.call_tool("hang", json!({}));
    let both = async {
        tokio::join!(hang, async {
            // Calls answered while the hung one waits are answered, not timed out.
            let mut sums = Vec::new();
            for _ in 0..5 {
                sums.push(add().await.unwrap().structured_content);
            }
            sums
        })
    };
    // A sweeper that never woke would leave the hung call waiting for ever.
    let (hang, quick) = tokio::time::timeout(Duration::from_secs(10), both)
        .await
        .expect("the hung call timed out");
    let err = hang.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(quick, vec![Some(json!({"sum": 4.0})); 5]);
    hung.raised().await;
}

#[tokio::test]
async fn list_changed_reaches_the_handler() {
    let app = Arc::new(App::default());
    let (client, srv) = connect(EraChoice::Legacy, app.clone()).await;
    client.list_tools().await.unwrap();
    srv.remove_tool("liar");
    app.changed.raised().await;
    assert_eq!(*app.changes.lock().unwrap(), [mcp_client::Change::Tools]);
}

pub(crate) fn manual_server() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), std::path::PathBuf::from);
    let bin = target.join("debug/manual-server");
    if !bin.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "mcp-examples", "--bin", "manual-server"])
            .current_dir(&root)
            .status()
            .unwrap();
        assert!(status.success());
    }
    bin
}

#[tokio::test]
async fn a_child_process_over_stdio_in_both_eras() {
    let bin = manual_server();
    for (era, version) in [
        (EraChoice::Auto, ProtocolVersion::V2026_07_28),
        (EraChoice::Legacy, ProtocolVersion::V2025_11_25),
    ] {
        let client = Client::builder()
            .era(era)
            .connect_stdio(
                StdioServer::new(bin.to_str().unwrap()).stderr(mcp_client::StderrMode::Discard),
            )
            .await
            .unwrap();
        assert_eq!(client.session().version, version);
        let r = client
            .call_tool("add", json!({"a": 20, "b": 22}))
            .await
            .unwrap();
        assert_eq!(r.structured_content, Some(json!({"result": 42.0})));
        let p = client.get_prompt("review", [("code", "x")]).await.unwrap();
        assert!(p.messages[0].content.as_text().unwrap().contains('x'));
        let c = client
            .complete(
                CompletionReference::Resource(ResourceTemplateReference {
                    kind: Default::default(),
                    uri: "notes://{name}".into(),
                }),
                "name",
                "w",
            )
            .await
            .unwrap();
        assert_eq!(c.values, ["welcome"]);
        // Closing stdin ends the child; close() waits for it.
        tokio::time::timeout(Duration::from_secs(10), client.close())
            .await
            .expect("the child exits");
    }
}

/// A tool whose definition is any input schema; a call answers with its arguments.
struct Echo(&'static str, Value);
impl ToolHandler for Echo {
    fn definition(&self) -> Tool {
        Tool::new(self.0, schema(self.1.clone()))
    }
    async fn call(&self, _cx: Context, args: JsonObject) -> mcp_server::Result<CallToolResult> {
        Ok(CallToolResult::structured(Value::Object(args)))
    }
}

/// Serves `server` over Streamable HTTP on a free loopback port; the URL of its endpoint.
async fn serve_http(server: Server) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(mcp_server::http::serve(
        server,
        mcp_server::http::HttpConfig::new(),
        listener,
        std::future::pending::<()>(),
    ));
    url
}

#[tokio::test]
async fn x_mcp_header_parameters_travel_in_mcp_param_headers() {
    let tool = Echo(
        "route",
        json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "greeting": {"type": "string", "x-mcp-header": "Greeting"},
            "count": {"type": "integer", "x-mcp-header": "Count"},
            "note": {"type": "string"}
        }}),
    );
    // A null argument breaks the schema; the server's check is off to show what the client sends.
    let server = Server::new("srv", "1")
        .options(mcp_server::ServerOptions {
            validate: false,
            ..Default::default()
        })
        .tool(tool);
    let url = serve_http(server).await;
    let client = Client::builder()
        .era(EraChoice::Modern)
        .connect_http(mcp_client::HttpServer::new(url))
        .await
        .unwrap();
    let args = json!({"region": "eu-west", "greeting": " Hello, 世界 ", "count": 3, "note": "n"});
    // The server checks each `Mcp-Param-*` header against the body (-32020 when one is missing):
    // before listing, the client does not know which parameters to mirror.
    let err = client.call_tool("route", args.clone()).await.unwrap_err();
    assert_eq!(err.server_error().map(|e| e.code.0), Some(-32020), "{err}");
    client.list_tools().await.unwrap();
    let r = client.call_tool("route", args.clone()).await.unwrap();
    assert_eq!(r.structured_content, Some(args));
    // A null value gets no header, and the server expects none.
    let r = client
        .call_tool("route", json!({"region": null, "count": 1}))
        .await
        .unwrap();
    assert_eq!(r.is_error, None);
    client.close().await;
}

#[tokio::test]
async fn tools_with_invalid_x_mcp_header_are_left_out() {
    let prop = |p: Value| json!({"type": "object", "properties": p});
    let srv = Server::new("srv", "1")
        .tool(Echo(
            "valid",
            prop(json!({"region": {"type": "string", "x-mcp-header": "Region"}})),
        ))
        .tool(Echo(
            "on_number",
            prop(json!({"score": {"type": "number", "x-mcp-header": "Score"}})),
        ))
        .tool(Echo(
            "duplicate",
            prop(json!({
                "a": {"type": "string", "x-mcp-header": "Field"},
                "b": {"type": "string", "x-mcp-header": "field"}
            })),
        ))
        .tool(Echo(
            "space",
            prop(json!({"v": {"type": "string", "x-mcp-header": "My Region"}})),
        ))
        .tool(Echo(
            "under_items",
            prop(json!({"v": {"type": "array", "items": {"type": "string", "x-mcp-header": "V"}}})),
        ))
        .tool(Echo("plain", prop(json!({"v": {"type": "string"}}))));
    for era in [EraChoice::Legacy, EraChoice::Modern] {
        let client = Client::builder()
            .era(era)
            .connect(in_process(srv.clone()))
            .await
            .unwrap();
        let names: Vec<String> = client
            .list_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["valid", "plain"], "{era:?}");
    }
}

/// A tool that asks for a form with a default for every field and answers with what came back.
struct Survey;
impl ToolHandler for Survey {
    fn definition(&self) -> Tool {
        Tool::new("survey", schema(json!({"type": "object"})))
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        let form: ElicitationSchema = serde_json::from_value(json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "default": "John Doe"},
                "age": {"type": "integer", "default": 30},
                "score": {"type": "number", "default": 95.5},
                "status": {"type": "string", "enum": ["active", "inactive"], "default": "active"},
                "verified": {"type": "boolean", "default": true},
                "nickname": {"type": "string"}
            }
        }))
        .expect("a valid form");
        let answer = cx.elicit_with("Tell me about you", form).await?;
        Ok(CallToolResult::structured(Value::Object(
            answer.content.unwrap_or_default(),
        )))
    }
}

#[tokio::test]
async fn accepted_forms_are_completed_with_the_schema_defaults() {
    // The handler fills in only `name`: the others come from the defaults (SEP-1034), and a
    // field without a default stays out.
    for era in [EraChoice::Legacy, EraChoice::Modern] {
        let client = Client::builder()
            .era(era)
            .handler(Arc::new(App::default()))
            .connect(in_process(Server::new("srv", "1").tool(Survey)))
            .await
            .unwrap();
        let r = client.call_tool("survey", json!({})).await.unwrap();
        assert_eq!(
            r.structured_content,
            Some(json!({
                "name": "Ada", "age": 30, "score": 95.5, "status": "active", "verified": true
            })),
            "{era:?}"
        );
    }
}

/// A modern server over an in-memory pipe that refuses the first `server/discover` with -32022
/// (listing 2026-07-28) and answers the next; the protocol versions the client asked for.
fn refusing_server() -> (Transport, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (client_w, server_r) = tokio::io::duplex(1 << 16);
    let (mut server_w, client_r) = tokio::io::duplex(1 << 16);
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(server_r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let m: Value = serde_json::from_str(&line).unwrap();
            let Some(id) = m.get("id").cloned() else {
                continue;
            };
            let method = m["method"].as_str().unwrap_or_default().to_owned();
            let version = m["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"]
                .as_str()
                .unwrap_or("(none)")
                .to_owned();
            seen.lock().unwrap().push(format!("{method} {version}"));
            let answer = match (method.as_str(), seen.lock().unwrap().len()) {
                ("server/discover", 1) => json!({"jsonrpc": "2.0", "id": id, "error": {
                    "code": -32022, "message": "Unsupported protocol version",
                    "data": {"supported": ["2026-07-28"], "requested": version}}}),
                ("server/discover", _) => json!({"jsonrpc": "2.0", "id": id, "result": {
                    "supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}}}}),
                _ => json!({"jsonrpc": "2.0", "id": id, "error": {
                    "code": -32601, "message": "Method not found"}}),
            };
            let mut text = answer.to_string();
            text.push('\n');
            if server_w.write_all(text.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    (Transport::from_io(client_r, client_w), asked)
}

#[tokio::test]
async fn discover_is_retried_at_a_version_the_server_lists() {
    for era in [EraChoice::Auto, EraChoice::Modern] {
        let (transport, asked) = refusing_server();
        let client = Client::builder().era(era).connect(transport).await.unwrap();
        assert_eq!(client.session().version, ProtocolVersion::V2026_07_28);
        assert_eq!(
            *asked.lock().unwrap(),
            ["server/discover 2026-07-28", "server/discover 2026-07-28"],
            "{era:?}"
        );
    }
}

/// Reads one HTTP/1.1 request (its head, then as much body as `Content-Length` says) from a
/// connection; its body, or `None` when the connection ended first.
pub(crate) async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        request.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&request).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .to_ascii_lowercase()
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(str::to_owned))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                return Some(text[end + 4..end + 4 + length].to_owned());
            }
        }
    }
}

/// An HTTP/1.1 response carrying a JSON-RPC answer to `id`: `outcome` is `("result", value)`
/// or `("error", value)`.
pub(crate) fn json_rpc_answer(id: &Value, outcome: (&str, Value)) -> String {
    let mut reply = json!({"jsonrpc": "2.0", "id": id});
    reply[outcome.0] = outcome.1;
    let body = reply.to_string();
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// An HTTP/1.1 `202 Accepted` without a body: the answer to a notification.
pub(crate) const ACCEPTED: &str = "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n";

/// An HTTP server that answers every request with `status` and `body` (JSON), on a free
/// loopback port; the URL of its endpoint.
async fn fixed_http(status: &'static str, body: &'static str) -> String {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                // Read the head and the body the client sends, then answer and close.
                if read_request(&mut socket).await.is_none() {
                    return;
                }
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test]
async fn an_http_error_without_an_id_answers_the_request() {
    // A legacy server refusing a request without a session: HTTP 400 with an id-less JSON-RPC
    // error. The request fails with that error at once instead of waiting for its timeout.
    let url = fixed_http(
        "400 Bad Request",
        r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Invalid or missing session ID"},"id":null}"#,
    )
    .await;
    let err = Client::builder()
        .era(EraChoice::Modern)
        .timeout(Duration::from_secs(30))
        .connect_http(mcp_client::HttpServer::new(url))
        .await
        .unwrap_err();
    assert_eq!(err.server_error().map(|e| e.code.0), Some(-32000), "{err}");
}

/// A legacy server over HTTP, written by hand, that records what arrived in order: it takes a
/// while to accept the `initialized` notification, and answers a `tools/call` after 500 ms
/// unless the client closed the connection first (recorded as `abandoned`).
async fn slow_legacy_http(
    arrived: Arc<Mutex<Vec<String>>>,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let arrived = arrived.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 16];
                loop {
                    let Some(body) = read_request(&mut socket).await else {
                        return;
                    };
                    let message: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let method = message["method"].as_str().unwrap_or("").to_owned();
                    let answer = match method.as_str() {
                        "notifications/initialized" => {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            None
                        }
                        "initialize" => Some(json!({
                            "protocolVersion": "2025-06-18",
                            "capabilities": {},
                            "serverInfo": { "name": "slow", "version": "1" },
                        })),
                        "tools/call" => {
                            let closed = tokio::time::timeout(
                                Duration::from_millis(500),
                                socket.read(&mut buf),
                            )
                            .await;
                            if let Ok(Ok(0) | Err(_)) = closed {
                                arrived.lock().unwrap().push("abandoned".into());
                                return;
                            }
                            Some(json!({ "content": [] }))
                        }
                        _ => Some(json!({})),
                    };
                    arrived.lock().unwrap().push(method);
                    let head = match answer {
                        None => ACCEPTED.to_owned(),
                        Some(result) => json_rpc_answer(&message["id"], ("result", result)),
                    };
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn over_http_a_notification_is_posted_before_what_is_sent_after_it() {
    // `initialized` must reach the server before the first request of the session, even when
    // the server is slow to accept it and the request is posted by another task.
    let arrived = Arc::new(Mutex::new(Vec::new()));
    let url = slow_legacy_http(arrived.clone(), Default::default()).await;
    let client = Client::builder()
        .era(EraChoice::Legacy)
        .connect_http(mcp_client::HttpServer::new(url))
        .await
        .unwrap();
    let other = client.clone();
    tokio::spawn(async move { other.ping().await })
        .await
        .unwrap()
        .unwrap();
    client.ping().await.unwrap();
    assert_eq!(
        *arrived.lock().unwrap(),
        ["initialize", "notifications/initialized", "ping", "ping"]
    );
}

#[tokio::test]
async fn over_http_a_request_timed_out_is_still_read_to_its_end() {
    // The caller stops waiting; the POST goes on in a task of its own (an authorization under
    // way would be finished, the connection kept), and its late answer is dropped.
    let arrived = Arc::new(Mutex::new(Vec::new()));
    let url = slow_legacy_http(arrived.clone(), Default::default()).await;
    let client = Client::builder()
        .era(EraChoice::Legacy)
        .timeout(Duration::from_millis(400))
        .connect_http(mcp_client::HttpServer::new(url))
        .await
        .unwrap();
    // Once `initialized` is through, the call is posted at once.
    client.ping().await.unwrap();
    let err = client.call_tool("slow", json!({})).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let arrived = arrived.lock().unwrap().clone();
    // The server is told the request is cancelled, and still reads its POST to the end (in
    // either order: the call is recorded when it is answered).
    let (before, mut after) = (&arrived[..3], arrived[3..].to_vec());
    after.sort();
    assert_eq!(before, ["initialize", "notifications/initialized", "ping"]);
    assert_eq!(after, ["notifications/cancelled", "tools/call"]);
}

#[tokio::test]
async fn over_http_a_connection_idle_past_the_pool_idle_timeout_is_not_reused() {
    // A server closes a kept-alive connection after its own idle timeout, and a request sent on
    // it at that moment fails: the client stops reusing a connection before that (its timeout
    // is 4 seconds by default, below the 5 of Node's server and uvicorn; 200 ms here).
    use std::sync::atomic::Ordering::SeqCst;
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let url = slow_legacy_http(Default::default(), accepted.clone()).await;
    let server = mcp_client::HttpServer::new(url).pool_idle_timeout(Duration::from_millis(200));
    let client = Client::builder()
        .era(EraChoice::Legacy)
        .connect_http(server)
        .await
        .unwrap();
    client.ping().await.unwrap();
    client.ping().await.unwrap();
    let settled = accepted.load(SeqCst);
    client.ping().await.unwrap();
    assert_eq!(
        accepted.load(SeqCst),
        settled,
        "a connection just used is used again"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    client.ping().await.unwrap();
    assert_eq!(
        accepted.load(SeqCst),
        settled + 1,
        "a connection idle past the timeout is not"
    );
}

/// Answers the `_meta` its request carried, as structured content.
struct EchoMeta;
impl ToolHandler for EchoMeta {
    fn definition(&self) -> Tool {
        Tool::new("echo_meta", schema(json!({"type": "object"})))
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        Ok(CallToolResult::structured(Value::Object(
            cx.meta().0.clone(),
        )))
    }
}

/// A handler that adds trace context to every request, and tries to override what is the
/// client's own.
struct Traced;
impl ClientHandler for Traced {
    fn request_meta(&self) -> Option<serde_json::Map<String, Value>> {
        json!({
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "progressToken": "not-the-clients",
            "io.modelcontextprotocol/protocolVersion": "1999-01-01",
        })
        .as_object()
        .cloned()
    }
}

#[tokio::test]
async fn the_handlers_request_meta_goes_with_every_request_but_the_clients_own_members() {
    for era in [EraChoice::Legacy, EraChoice::Modern] {
        let server = Server::new("srv", "1.0.0").tool(EchoMeta);
        let client = Client::builder()
            .era(era)
            .handler(Traced)
            .connect(in_process(server))
            .await
            .unwrap();
        let seen = |r: CallToolResult| r.structured_content.expect("structured");
        let meta = seen(client.call_tool("echo_meta", json!({})).await.unwrap());
        assert_eq!(
            meta["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "{era:?}: {meta}"
        );
        assert!(meta.get("progressToken").is_none(), "{era:?}: {meta}");
        let meta = seen(
            client
                .call_tool_with_progress("echo_meta", json!({}), |_| {})
                .await
                .unwrap(),
        );
        assert_ne!(meta["progressToken"], "not-the-clients", "{era:?}: {meta}");
        assert!(meta["progressToken"].is_number(), "{era:?}: {meta}");
        let version = &meta["io.modelcontextprotocol/protocolVersion"];
        match era {
            EraChoice::Modern => assert_eq!(version, "2026-07-28", "{meta}"),
            _ => assert!(version.is_null(), "{meta}"),
        }
    }
}
