//! `#[tool]`, `#[resource]`, `#[prompt]` and `#[handlers]` through a real server: the definitions
//! they produce (snapshots of what clients list) and how calls, reads and prompts behave.
//!
//! Snapshots live in `tests/snapshots/main__macros__*.snap`; review changes with `cargo insta review`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mcp_server::mcp_core::{Meta, ProtocolVersion};
use mcp_server::types::*;
use mcp_server::{
    Context, Error, FromContext, Json, PromptHandler, ResourceHandler, Server, State, ToolHandler,
    handlers, prompt, resource, tool,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};

// ---------------------------------------------------------------------------------------------
// Items with a rich set of signatures.

/// Shared state: a database of monthly figures.
struct Db {
    revenue: f64,
}

/// A business metric.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Metric {
    /// Money coming in.
    Revenue,
    /// Customers leaving.
    Churn,
}

/// A range of dates.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Period {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day, `YYYY-MM-DD`; today when absent.
    to: Option<String>,
}

/// A filter on a dimension.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Filter {
    /// The dimension.
    field: String,
    /// Accepted values.
    values: Vec<String>,
}

/// The figures of a metric.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct Report {
    /// The metric's name.
    metric: String,
    /// Its value.
    value: f64,
    /// How many points were summed.
    points: u32,
}

/// The tenant a request is for, from `_meta` (a user type injected with `FromContext`).
struct Tenant(String);

impl FromContext for Tenant {
    fn from_context(cx: &Context) -> mcp_server::Result<Self> {
        Ok(Tenant(
            cx.meta()
                .get::<String>("tenant")
                .ok()
                .flatten()
                .unwrap_or_else(|| "default".to_owned()),
        ))
    }
}

/// Add two numbers.
#[tool]
async fn add(
    /// The left operand.
    a: f64,
    /// The right operand.
    b: f64,
) -> f64 {
    a + b
}

/// Query a business metric over a period.
///
/// Figures are in the reporting currency.
#[tool(
    title = "Query KPIs",
    read_only,
    idempotent,
    open_world = false,
    scopes = ["kpi:read"],
    rate_limit = "10/min",
    timeout = "30s",
    max_concurrency = 4
)]
async fn query(
    db: State<Db>,
    cx: Context,
    /// The metric to query.
    metric: Metric,
    period: Period,
    /// Only these slices.
    filters: Option<Vec<Filter>>,
    #[arg(default = 10)] limit: u32,
) -> Result<Json<Report>, Error> {
    cx.info("querying");
    let value = match metric {
        Metric::Revenue => db.revenue,
        Metric::Churn => 0.02,
    };
    let slices: usize = filters.map_or(0, |f| {
        f.iter().map(|f| f.values.len() + f.field.len()).sum()
    });
    let _ = (period.from, period.to, slices);
    Ok(Json(Report {
        metric: format!("{metric:?}").to_lowercase(),
        value,
        points: limit,
    }))
}

/// Search documents.
#[tool(name = "docs.search", destructive = false)]
fn search(
    #[arg(rename = "q", description = "What to look for.")] query: String,
    #[arg(default)] page: u32,
    #[arg(sensitive)] api_key: Option<String>,
    #[ctx] tenant: Tenant,
) -> Vec<ContentBlock> {
    vec![
        ContentBlock::text(format!("{} results for {query:?}, page {page}", tenant.0)),
        ContentBlock::text(format!("authenticated: {}", api_key.is_some())),
    ]
}

/// A new user.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct NewUser {
    /// The login.
    user_name: String,
    /// Whether they may administer.
    #[serde(default)]
    is_admin: bool,
}

/// Create a user.
#[tool(destructive, approval = "required", roles = ["admin"])]
async fn create_user(#[args] user: NewUser, version: ProtocolVersion) -> String {
    format!(
        "created {} (admin: {}) over {}",
        user.user_name,
        user.is_admin,
        version.as_str()
    )
}

/// Do nothing.
#[tool(public)]
fn ping() {}

/// The icons of `render`.
fn render_icons() -> Vec<Icon> {
    vec![Icon {
        src: "https://example.com/render.png".into(),
        sizes: Some(vec!["48x48".into()]),
        ..Default::default()
    }]
}

/// The `_meta` of `render`.
fn render_meta() -> Meta {
    let mut meta = Meta::new();
    meta.insert("example.com/category", "images");
    meta
}

/// Render a chart.
#[tool(
    name = "chart.render",
    icons = render_icons,
    meta = render_meta,
    task_support = "optional",
    max_result_bytes = 1048576
)]
fn render(width: u16, height: u16) -> ImageContent {
    ImageContent::new(format!("{width}x{height}"), "image/png")
}

/// List the metrics.
#[tool(read_only, icons = ["https://example.com/list.svg"])]
fn metrics(meta: Meta) -> Vec<String> {
    let _ = meta;
    vec!["revenue".into(), "churn".into()]
}

/// Divide, failing on zero.
#[tool]
fn divide(a: i64, b: i64) -> Result<i64, Error> {
    if b == 0 {
        return Err(Error::public("cannot divide by zero"));
    }
    Ok(a / b)
}

/// Read a file that is not there.
#[tool]
fn broken() -> Result<String, std::io::Error> {
    Err(std::io::Error::other("password=hunter2 in /etc/db.conf"))
}

/// Schemars' output as it is.
#[tool(raw_schema)]
fn raw(period: Option<Period>) -> String {
    format!("{period:?}")
}

/// The configuration.
#[derive(serde::Serialize)]
struct Settings {
    currency: &'static str,
}

/// The reporting configuration.
#[resource("kpi://config", title = "Configuration")]
fn config() -> Settings {
    Settings { currency: "EUR" }
}

/// The monthly report.
#[resource(
    "kpi://reports/{year}/{month}",
    mime_type = "application/json",
    complete(month = complete_month, year = complete_year),
    scopes = ["kpi:read"],
    marker = MonthlyReport
)]
async fn report(db: State<Db>, year: u16, month: u8) -> Result<Report, Error> {
    if !(1..=12).contains(&month) {
        return Err(Error::invalid_params(format!("no month {month}")));
    }
    Ok(Report {
        metric: format!("revenue {year}-{month:02}"),
        value: db.revenue,
        points: 30,
    })
}

/// Months starting with what was typed.
fn complete_month(value: &str) -> Vec<String> {
    (1..=12)
        .map(|m| m.to_string())
        .filter(|m| m.starts_with(value))
        .collect()
}

/// Years, asynchronously.
async fn complete_year(value: &str) -> Result<Vec<&'static str>, Error> {
    tokio::task::yield_now().await;
    Ok(["2024", "2025"]
        .into_iter()
        .filter(|y| y.starts_with(value))
        .collect())
}

/// The last lines of a log.
#[resource("kpi://logs/{name}{?lines}", mime_type = "text/plain")]
fn logs(name: String, #[arg(default = 2)] lines: usize) -> String {
    format!("{name}: last {lines} lines")
}

/// The logo.
#[resource(
    "kpi://logo.png",
    mime_type = "image/png",
    audience = ["user"],
    priority = 0.25,
    size = 4
)]
fn logo() -> Vec<u8> {
    vec![0x89, b'P', b'N', b'G']
}

/// Review code.
#[prompt(title = "Code review")]
fn review(
    /// The code to review.
    code: String,
    /// Its language; guessed when absent.
    language: Option<String>,
) -> Vec<PromptMessage> {
    vec![
        PromptMessage::user(format!(
            "Review this {} code:\n{code}",
            language.as_deref().unwrap_or("unknown")
        )),
        PromptMessage::assistant("Looking at it."),
    ]
}

/// A style of summary.
#[derive(Debug)]
enum Style {
    Short,
    Detailed,
}

impl std::str::FromStr for Style {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "short" => Ok(Style::Short),
            "detailed" => Ok(Style::Detailed),
            other => Err(format!(
                "unknown style {other:?}; expected short or detailed"
            )),
        }
    }
}

/// Styles starting with what was typed.
fn complete_style(value: &str) -> Vec<&'static str> {
    ["short", "detailed"]
        .into_iter()
        .filter(|s| s.starts_with(value))
        .collect()
}

/// Summarize a text.
#[prompt(name = "summarize", complete(style = complete_style), public)]
async fn summary(
    cx: Context,
    text: String,
    /// How many sentences.
    #[arg(default = 3)]
    sentences: u8,
    style: Option<Style>,
) -> Result<String, Error> {
    let _ = cx.protocol_version();
    Ok(format!(
        "Summarize in {sentences} sentences ({style:?}): {text}"
    ))
}

/// A chart with its picture.
#[prompt]
fn chart() -> GetPromptResult {
    GetPromptResult {
        description: Some("A chart".into()),
        messages: vec![
            PromptMessage::new(Role::User, ImageContent::new("iVBORw0KGgo=", "image/png")),
            PromptMessage::new(
                Role::User,
                EmbeddedResource::new(ResourceContents::text(
                    "kpi://config",
                    Some("application/json"),
                    "{}",
                )),
            ),
        ],
        ..Default::default()
    }
}

/// A stateful server: its methods are tools, resources and prompts.
struct Kpi {
    currency: String,
    calls: AtomicU32,
}

#[handlers]
impl Kpi {
    /// Convert an amount to the reporting currency.
    #[tool(read_only)]
    async fn convert(&self, amount: f64, #[arg(default = 1.0)] rate: f64) -> String {
        self.calls.fetch_add(1, Ordering::Relaxed);
        format!("{:.2} {}", amount * rate, self.currency)
    }

    /// How many conversions ran.
    #[tool(marker = KpiCalls)]
    fn calls(self: Arc<Self>) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The reporting currency.
    #[resource("kpi://currency")]
    fn currency(&self) -> String {
        self.currency.clone()
    }

    /// Explain a figure.
    #[prompt]
    fn explain(&self, figure: f64) -> String {
        format!("Explain {figure} {}", self.currency)
    }

    /// Not a handler: left alone.
    fn helper(&self) -> usize {
        self.currency.len()
    }
}

/// Approves every call (the approval flow itself is tested in `approval`).
struct AutoApprove;

impl mcp_server::approval::Approver for AutoApprove {
    async fn approve(
        &self,
        _request: &mcp_server::approval::ApprovalRequest,
        _summary: &str,
    ) -> mcp_server::approval::Decision {
        mcp_server::approval::Decision::Approved
    }
}

fn server() -> Server {
    let gate = mcp_server::approval::ApprovalGate::new(mcp_server::approval::Approvals::random())
        .with_approver(AutoApprove);
    Server::new("macros-test", "1.0.0")
        .approval(gate)
        .state(Db { revenue: 1234.5 })
        .tool(Add)
        .tool(Query)
        .tool(Search)
        .tool(CreateUser)
        .tool(Ping)
        .tool(Render)
        .tool(Metrics)
        .tool(Divide)
        .tool(Broken)
        .tool(Raw)
        .resource(Config)
        .resource(MonthlyReport)
        .resource(Logs)
        .resource(Logo)
        .prompt(Review)
        .prompt(Summary)
        .prompt(Chart)
        .handlers(Kpi {
            currency: "EUR".into(),
            calls: AtomicU32::new(0),
        })
}

// ---------------------------------------------------------------------------------------------
// A client over an in-memory byte stream.

struct Client {
    tx: DuplexStream,
    rx: Lines<BufReader<DuplexStream>>,
    next_id: i64,
}

impl Client {
    async fn start(server: Server, version: &str) -> Client {
        let (tx, server_r) = tokio::io::duplex(1 << 20);
        let (server_w, rx) = tokio::io::duplex(1 << 20);
        tokio::spawn(server.serve_io(server_r, server_w));
        let mut client = Client {
            tx,
            rx: BufReader::new(rx).lines(),
            next_id: 0,
        };
        let init = client
            .request(
                "initialize",
                json!({"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
            )
            .await;
        assert_eq!(init["result"]["protocolVersion"], version, "{init}");
        client
            .send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        client
    }

    async fn send(&mut self, v: Value) {
        self.tx.write_all(v.to_string().as_bytes()).await.unwrap();
        self.tx.write_all(b"\n").await.unwrap();
    }

    /// Sends a request; returns its response, skipping notifications.
    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), self.rx.next_line())
                .await
                .expect("the server answers within 10 s")
                .unwrap()
                .expect("the server did not close");
            let m: Value = serde_json::from_str(&line).unwrap();
            if m["id"] == json!(id) {
                return m;
            }
        }
    }

    async fn call_tool(&mut self, name: &str, arguments: Value) -> Value {
        let r = self
            .request("tools/call", json!({"name": name, "arguments": arguments}))
            .await;
        r.get("result").cloned().unwrap_or(r)
    }
}

const VERSION: &str = "2025-11-25";

// ---------------------------------------------------------------------------------------------
// Definitions: what clients list.

#[tokio::test]
async fn tools_list() {
    let mut c = Client::start(server(), VERSION).await;
    let r = c.request("tools/list", json!({})).await;
    insta::assert_json_snapshot!("tools_list", r["result"]["tools"]);
}

#[tokio::test]
async fn resources_and_templates_list() {
    let mut c = Client::start(server(), VERSION).await;
    let resources = c.request("resources/list", json!({})).await;
    insta::assert_json_snapshot!("resources_list", resources["result"]["resources"]);
    let templates = c.request("resources/templates/list", json!({})).await;
    insta::assert_json_snapshot!(
        "resource_templates_list",
        templates["result"]["resourceTemplates"]
    );
}

#[tokio::test]
async fn prompts_list() {
    let mut c = Client::start(server(), VERSION).await;
    let r = c.request("prompts/list", json!({})).await;
    insta::assert_json_snapshot!("prompts_list", r["result"]["prompts"]);
}

#[test]
fn declared_policies() {
    let kpi = Arc::new(Kpi {
        currency: "EUR".into(),
        calls: AtomicU32::new(0),
    });
    let policies = [
        ("add", Add.policy()),
        ("query", Query.policy()),
        ("docs.search", Search.policy()),
        ("create_user", CreateUser.policy()),
        ("ping", Ping.policy()),
        ("chart.render", Render.policy()),
        ("report", ResourceHandler::policy(&MonthlyReport)),
        ("summarize", PromptHandler::policy(&Summary)),
        ("calls", KpiCalls(kpi).policy()),
    ];
    insta::assert_debug_snapshot!("policies", policies);
}

#[test]
fn an_old_client_sees_no_output_schema_but_the_text_copy() {
    // The definition is built once; shaping for old versions happens in the runtime.
    let definition = Query.definition();
    assert!(definition.output_schema.is_some());
    assert_eq!(
        Add.definition().output_schema,
        Some(
            serde_json::from_value(json!({
                "type": "object",
                "properties": {"result": {"type": "number", "format": "double"}},
                "required": ["result"]
            }))
            .unwrap()
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Calls.

#[tokio::test]
async fn tool_calls() {
    let mut c = Client::start(server(), VERSION).await;

    // A non-object result is wrapped in `result`, with a JSON text copy.
    let r = c.call_tool("add", json!({"a": 1.5, "b": 2})).await;
    assert_eq!(r["structuredContent"], json!({"result": 3.5}));
    assert_eq!(
        r["content"],
        json!([{"type": "text", "text": "{\"result\":3.5}"}])
    );
    assert!(r.get("isError").is_none());

    // Structured output with injected state and context, a default and an optional argument.
    let r = c
        .call_tool(
            "query",
            json!({"metric": "revenue", "period": {"from": "2025-01-01"}}),
        )
        .await;
    assert_eq!(
        r["structuredContent"],
        json!({"metric": "revenue", "value": 1234.5, "points": 10})
    );
    let text: Value = serde_json::from_str(r["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, r["structuredContent"]);

    // Renamed arguments, `#[arg(default)]`, a user type injected from `_meta`.
    let r = c
        .request(
            "tools/call",
            json!({"name": "docs.search", "arguments": {"q": "mcp", "api_key": "k"}, "_meta": {"tenant": "acme"}}),
        )
        .await;
    assert_eq!(
        r["result"]["content"],
        json!([
            {"type": "text", "text": "acme results for \"mcp\", page 0"},
            {"type": "text", "text": "authenticated: true"}
        ])
    );

    // All arguments as one struct, with serde's renames.
    let r = c
        .call_tool("create_user", json!({"userName": "ada", "isAdmin": true}))
        .await;
    assert_eq!(
        r["content"][0]["text"],
        "created ada (admin: true) over 2025-11-25"
    );

    // `()` is empty content; content types are content.
    let r = c.call_tool("ping", json!({})).await;
    assert_eq!(r["content"], json!([]));
    let r = c
        .call_tool("chart.render", json!({"width": 640, "height": 480}))
        .await;
    assert_eq!(
        r["content"],
        json!([{"type": "image", "data": "640x480", "mimeType": "image/png"}])
    );
    let r = c.call_tool("metrics", json!({})).await;
    assert_eq!(
        r["structuredContent"],
        json!({"result": ["revenue", "churn"]})
    );
    let r = c.call_tool("divide", json!({"a": 7, "b": 2})).await;
    assert_eq!(r["structuredContent"], json!({"result": 3}));
}

#[tokio::test]
async fn bad_arguments_are_tool_errors_the_model_can_read() {
    let mut c = Client::start(server(), VERSION).await;

    let r = c.call_tool("add", json!({"a": 1})).await;
    assert_eq!(r["isError"], true);
    assert_eq!(r["content"][0]["text"], "missing required argument `b`");

    let r = c.call_tool("add", json!({"a": 1, "b": "two"})).await;
    assert_eq!(r["isError"], true);
    assert_eq!(
        r["content"][0]["text"],
        "invalid argument `b`: \"two\" is not of type \"number\""
    );

    let r = c
        .call_tool(
            "query",
            json!({"metric": "profit", "period": {"from": "2025-01-01"}}),
        )
        .await;
    assert_eq!(r["isError"], true);
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("invalid argument `metric`: \"profit\" is not one of"),
        "{text}"
    );

    let r = c.call_tool("create_user", json!({"isAdmin": true})).await;
    assert_eq!(r["isError"], true);
    assert_eq!(
        r["content"][0]["text"],
        "missing required argument `userName`"
    );

    // A public error is shown; an internal one is not.
    let r = c.call_tool("divide", json!({"a": 1, "b": 0})).await;
    assert_eq!(r["isError"], true);
    assert_eq!(r["content"][0]["text"], "cannot divide by zero");
    let r = c.call_tool("broken", json!({})).await;
    assert_eq!(r["isError"], true);
    assert_eq!(r["content"][0]["text"], "internal error");
}

#[tokio::test]
async fn resources_read() {
    let mut c = Client::start(server(), VERSION).await;

    let r = c
        .request("resources/read", json!({"uri": "kpi://reports/2025/3"}))
        .await;
    assert_eq!(
        r["result"]["contents"],
        json!([{
            "uri": "kpi://reports/2025/3",
            "mimeType": "application/json",
            "text": "{\"metric\":\"revenue 2025-03\",\"value\":1234.5,\"points\":30}"
        }])
    );

    // A value that does not parse is -32602, naming the variable.
    let r = c
        .request("resources/read", json!({"uri": "kpi://reports/2025/march"}))
        .await;
    assert_eq!(r["error"]["code"], -32602);
    let message = r["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("invalid value for URI variable `month`"),
        "{message}"
    );
    // The handler's own -32602.
    let r = c
        .request("resources/read", json!({"uri": "kpi://reports/2025/13"}))
        .await;
    assert_eq!(r["error"]["code"], -32602);

    // A static resource returning a `Serialize` type is JSON.
    let r = c
        .request("resources/read", json!({"uri": "kpi://config"}))
        .await;
    assert_eq!(
        r["result"]["contents"],
        json!([{"uri": "kpi://config", "mimeType": "application/json", "text": "{\"currency\":\"EUR\"}"}])
    );

    // Bytes are a base64 blob.
    let r = c
        .request("resources/read", json!({"uri": "kpi://logo.png"}))
        .await;
    assert_eq!(
        r["result"]["contents"],
        json!([{"uri": "kpi://logo.png", "mimeType": "image/png", "blob": "iVBORw=="}])
    );

    // An optional query variable, with a default when absent.
    let r = c
        .request("resources/read", json!({"uri": "kpi://logs/api?lines=5"}))
        .await;
    assert_eq!(r["result"]["contents"][0]["text"], "api: last 5 lines");
    assert_eq!(r["result"]["contents"][0]["mimeType"], "text/plain");
    let r = c
        .request("resources/read", json!({"uri": "kpi://logs/api"}))
        .await;
    assert_eq!(r["result"]["contents"][0]["text"], "api: last 2 lines");
}

#[tokio::test]
async fn prompts_get() {
    let mut c = Client::start(server(), VERSION).await;

    let r = c
        .request(
            "prompts/get",
            json!({"name": "review", "arguments": {"code": "fn main() {}", "language": "rust"}}),
        )
        .await;
    assert_eq!(
        r["result"],
        json!({
            "description": "Review code.",
            "messages": [
                {"role": "user", "content": {"type": "text", "text": "Review this rust code:\nfn main() {}"}},
                {"role": "assistant", "content": {"type": "text", "text": "Looking at it."}}
            ]
        })
    );

    // Typed arguments parse with `FromStr`; defaults fill in.
    let r = c
        .request(
            "prompts/get",
            json!({"name": "summarize", "arguments": {"text": "abc", "style": "short"}}),
        )
        .await;
    assert_eq!(
        r["result"]["messages"][0]["content"]["text"],
        "Summarize in 3 sentences (Some(Short)): abc"
    );

    // A bad typed value is -32602 naming the argument.
    let r = c
        .request(
            "prompts/get",
            json!({"name": "summarize", "arguments": {"text": "abc", "sentences": "three"}}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32602);
    assert_eq!(
        r["error"]["message"],
        "invalid argument `sentences`: invalid digit found in string"
    );
    let r = c
        .request(
            "prompts/get",
            json!({"name": "summarize", "arguments": {"text": "abc", "style": "long"}}),
        )
        .await;
    assert_eq!(
        r["error"]["message"],
        "invalid argument `style`: unknown style \"long\"; expected short or detailed"
    );

    // A missing required argument is -32602 too.
    let r = c
        .request("prompts/get", json!({"name": "review", "arguments": {}}))
        .await;
    assert_eq!(r["error"]["code"], -32602);
    assert_eq!(r["error"]["message"], "missing required argument `code`");

    // Images and embedded resources are content like any other.
    let r = c.request("prompts/get", json!({"name": "chart"})).await;
    assert_eq!(r["result"]["description"], "A chart");
    assert_eq!(r["result"]["messages"][0]["content"]["type"], "image");
    assert_eq!(r["result"]["messages"][1]["content"]["type"], "resource");
}

#[tokio::test]
async fn completions() {
    let mut c = Client::start(server(), VERSION).await;
    let complete = |reference: Value, name: &str, value: &str| json!({"ref": reference, "argument": {"name": name, "value": value}});
    let template = json!({"type": "ref/resource", "uri": "kpi://reports/{year}/{month}"});

    let r = c
        .request(
            "completion/complete",
            complete(template.clone(), "month", "1"),
        )
        .await;
    assert_eq!(
        r["result"]["completion"]["values"],
        json!(["1", "10", "11", "12"])
    );
    // An async completion function.
    let r = c
        .request(
            "completion/complete",
            complete(template.clone(), "year", "202"),
        )
        .await;
    assert_eq!(r["result"]["completion"]["values"], json!(["2024", "2025"]));
    // A variable without completion: no suggestions.
    let r = c
        .request("completion/complete", complete(template, "day", "1"))
        .await;
    assert_eq!(r["result"]["completion"]["values"], json!([]));

    let prompt = json!({"type": "ref/prompt", "name": "summarize"});
    let r = c
        .request("completion/complete", complete(prompt, "style", "d"))
        .await;
    assert_eq!(r["result"]["completion"]["values"], json!(["detailed"]));
}

#[tokio::test]
async fn handlers_of_an_impl_block_share_the_value() {
    let mut c = Client::start(server(), VERSION).await;
    let r = c
        .call_tool("convert", json!({"amount": 10, "rate": 1.1}))
        .await;
    assert_eq!(r["content"][0]["text"], "11.00 EUR");
    let r = c.call_tool("convert", json!({"amount": 2})).await;
    assert_eq!(r["content"][0]["text"], "2.00 EUR");
    let r = c.call_tool("calls", json!({})).await;
    assert_eq!(r["structuredContent"], json!({"result": 2}));

    let r = c
        .request("resources/read", json!({"uri": "kpi://currency"}))
        .await;
    assert_eq!(
        r["result"]["contents"],
        json!([{"uri": "kpi://currency", "text": "EUR"}])
    );
    let r = c
        .request(
            "prompts/get",
            json!({"name": "explain", "arguments": {"figure": "1.5"}}),
        )
        .await;
    assert_eq!(
        r["result"]["messages"][0]["content"]["text"],
        "Explain 1.5 EUR"
    );
}

#[test]
fn functions_stay_callable_and_markers_stand_alone() {
    // The annotated functions are ordinary Rust.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(add(1.0, 2.0)), 3.0);
    assert_eq!(divide(6, 3).unwrap(), 2);
    let kpi = Arc::new(Kpi {
        currency: "USD".into(),
        calls: AtomicU32::new(0),
    });
    assert_eq!(kpi.helper(), 3);
    // A named marker of a method registers one handler alone.
    let server = Server::new("one", "1").tool(KpiCalls(kpi));
    assert_eq!(server.info().name, "one");
    assert_eq!(
        KpiCalls(Arc::new(Kpi {
            currency: String::new(),
            calls: AtomicU32::new(0),
        }))
        .definition()
        .name,
        "calls"
    );
}

/// Asks, then goes on as a task.
#[tool(task_support = "required", defer_task)]
async fn deferred_job(cx: Context) -> Result<String, Error> {
    cx.continue_as_task().await?;
    Ok("done".into())
}

#[test]
fn defer_task_is_a_runtime_option_not_a_wire_field() {
    assert!(DeferredJob.defers_task());
    assert!(!Render.defers_task());
    let definition = DeferredJob.definition();
    assert_eq!(
        definition.execution.and_then(|e| e.task_support),
        Some(TaskSupport::Required)
    );
}
