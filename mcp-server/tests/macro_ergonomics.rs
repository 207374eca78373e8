//! The macros with the code applications already have (issue 17): their error types
//! (`anyhow`, boxed errors, `String` messages), blocking work on the blocking pool, argument
//! structs flattened into a tool's arguments.

use std::io::Write;
use std::sync::{Arc, Mutex};

use mcp_server::{Server, prompt, resource, tool};
use serde_json::{Value, json};

use crate::support::Client;

/// What `tracing` wrote while a test ran, on the test's thread (the runtime of `#[tokio::test]`
/// is single-threaded, so the server's tasks log here too).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures events at `level` and above until the guard drops.
    fn install(level: tracing::Level) -> (Captured, tracing::subscriber::DefaultGuard) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(level)
            .with_ansi(false)
            .finish();
        (captured, crate::support::capture_logs(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

async fn client(server: Server) -> Client {
    let mut c = Client::start(server);
    let init = c.initialize("2025-11-25", json!({})).await;
    assert!(init.get("result").is_some(), "{init}");
    c
}

async fn call_tool(c: &mut Client, id: i64, name: &str, arguments: Value) -> Value {
    let r = c
        .call(
            id,
            "tools/call",
            json!({"name": name, "arguments": arguments}),
        )
        .await;
    r.get("result").cloned().unwrap_or(r)
}

// ---------------------------------------------------------------------------------------------
// Handler errors.

/// Reads a secret file: an internal error whose details must not reach the model.
#[tool]
fn read_secret(path: String) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading the secret at {path}"))?;
    Ok(text)
}

/// Checks an amount: a `String` error is a message the model reads.
#[tool]
fn check_amount(amount: i64) -> Result<i64, String> {
    if amount < 0 {
        return Err(format!("`amount` must not be negative, got {amount}"));
    }
    Ok(amount)
}

/// A `&'static str` error.
#[tool]
fn needs_name(name: Option<String>) -> Result<String, &'static str> {
    name.ok_or("give a `name`")
}

/// A boxed error: internal.
#[tool]
fn boxed(fail: bool) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    if fail {
        return Err("the connection pool is exhausted (pool=primary-db)".into());
    }
    Ok("fine".into())
}

/// A resource failing with `anyhow`.
#[resource("secret://db")]
async fn secret_db() -> anyhow::Result<String> {
    Err(anyhow::anyhow!("db password rejected: user=admin"))
}

/// A prompt failing with a public message.
#[prompt]
fn greeting(name: String) -> Result<String, String> {
    if name.is_empty() {
        return Err("`name` is empty".into());
    }
    Ok(format!("Greet {name}"))
}

fn error_server() -> Server {
    Server::new("errors", "1")
        .tool(ReadSecret)
        .tool(CheckAmount)
        .tool(NeedsName)
        .tool(Boxed)
        .resource(SecretDb)
        .prompt(Greeting)
}

#[tokio::test]
async fn an_anyhow_error_is_logged_and_hidden_from_the_client() {
    let (log, _guard) = Captured::install(tracing::Level::ERROR);
    let mut c = client(error_server()).await;
    let r = call_tool(
        &mut c,
        1,
        "read_secret",
        json!({"path": "/nonexistent/mcp-test/secret.key"}),
    )
    .await;
    assert_eq!(
        r,
        json!({"content": [{"type": "text", "text": "internal error"}], "isError": true})
    );
    let logged = log.text();
    // The log has the context and its source; the client had neither.
    assert!(
        logged.contains(
            "reading the secret at /nonexistent/mcp-test/secret.key: No such file or directory"
        ),
        "{logged}"
    );
    assert!(logged.contains("tool failed"), "{logged}");

    // A boxed error: the same.
    let r = call_tool(&mut c, 2, "boxed", json!({"fail": true})).await;
    assert_eq!(r["content"][0]["text"], "internal error");
    assert_eq!(r["isError"], true);
    assert!(log.text().contains("pool=primary-db"), "{}", log.text());
    assert!(!r.to_string().contains("primary-db"));

    // A resource: -32603 "internal error", details only in the log.
    let r = c
        .call(3, "resources/read", json!({"uri": "secret://db"}))
        .await;
    assert_eq!(r["error"]["code"], -32603, "{r}");
    assert_eq!(r["error"]["message"], "internal error");
    assert!(!r.to_string().contains("admin"));
    assert!(log.text().contains("db password rejected: user=admin"));

    // The server keeps serving.
    let r = call_tool(&mut c, 4, "boxed", json!({"fail": false})).await;
    assert_eq!(r, json!({"content": [{"type": "text", "text": "fine"}]}));
}

#[tokio::test]
async fn string_errors_are_messages_the_model_reads() {
    let mut c = client(error_server()).await;
    let r = call_tool(&mut c, 1, "check_amount", json!({"amount": -5})).await;
    assert_eq!(
        r,
        json!({"content": [{"type": "text", "text": "`amount` must not be negative, got -5"}], "isError": true})
    );
    let r = call_tool(&mut c, 2, "needs_name", json!({})).await;
    assert_eq!(
        r,
        json!({"content": [{"type": "text", "text": "give a `name`"}], "isError": true})
    );
    // A prompt: -32603 with the message.
    let r = c
        .call(
            3,
            "prompts/get",
            json!({"name": "greeting", "arguments": {"name": ""}}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32603, "{r}");
    assert_eq!(r["error"]["message"], "`name` is empty");
    // Good requests are still served.
    let r = call_tool(&mut c, 4, "check_amount", json!({"amount": 7})).await;
    assert_eq!(r["structuredContent"], json!({"result": 7}), "{r}");
    let r = c
        .call(
            5,
            "prompts/get",
            json!({"name": "greeting", "arguments": {"name": "Ada"}}),
        )
        .await;
    assert_eq!(
        r["result"]["messages"][0]["content"]["text"], "Greet Ada",
        "{r}"
    );
}

// ---------------------------------------------------------------------------------------------
// Blocking work.

/// What the blocking tool and the test signal each other, outside the runtime.
struct Gate {
    /// The blocking tool has started (a tokio channel: the test awaits it).
    started: tokio::sync::mpsc::UnboundedSender<()>,
    /// The test lets the blocking tool finish (a std channel: the tool blocks its thread on it).
    release: Mutex<std::sync::mpsc::Receiver<()>>,
}

/// Blocks its thread until released, like a slow SQLite query.
#[tool(blocking)]
fn slow_query(gate: mcp_server::State<Gate>) -> String {
    gate.started.send(()).unwrap();
    gate.release.lock().unwrap().recv().unwrap();
    "slow query done".into()
}

/// A quick tool.
#[tool]
async fn quick() -> &'static str {
    "quick done"
}

/// A plain sync tool doing blocking work inline (what `blocking` is for).
#[tool]
fn busy_inline() -> &'static str {
    // The work being measured, not a synchronization: it holds the worker past the threshold.
    std::thread::sleep(mcp_server::__private::INLINE_WARN_AFTER * 3);
    "busy done"
}

/// The same on the blocking pool, as a resource and a prompt.
#[resource("files://count", blocking)]
fn file_count() -> String {
    "3".into()
}

#[prompt(blocking)]
fn describe_files(pattern: String) -> String {
    format!("Describe the files matching {pattern}")
}

#[tokio::test]
async fn a_blocking_tool_does_not_delay_a_concurrent_call_of_another_tool() {
    // One runtime thread: a tool blocking it inline would stall every other request.
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let server = Server::new("blocking", "1")
        .state(Gate {
            started: started_tx,
            release: Mutex::new(release_rx),
        })
        .tool(SlowQuery)
        .tool(Quick)
        .resource(FileCount)
        .prompt(DescribeFiles);
    let mut c = client(server).await;
    c.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "slow_query", "arguments": {}}}))
        .await;
    started.recv().await.expect("the blocking tool started");

    // The blocking tool holds its thread (for as long as the test wants); the other tool, a
    // resource and a prompt on the blocking pool are answered meanwhile, before it.
    c.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "quick", "arguments": {}}}))
        .await;
    let (quick, before) = c.until(json!(2)).await;
    assert_eq!(
        quick["result"]["content"][0]["text"], "quick done",
        "{quick}"
    );
    assert!(
        before.iter().all(|m| m.get("id") != Some(&json!(1))),
        "{before:?}"
    );
    let r = c
        .call(3, "resources/read", json!({"uri": "files://count"}))
        .await;
    assert_eq!(r["result"]["contents"][0]["text"], "3", "{r}");
    let r = c
        .call(
            4,
            "prompts/get",
            json!({"name": "describe_files", "arguments": {"pattern": "*.rs"}}),
        )
        .await;
    assert_eq!(
        r["result"]["messages"][0]["content"]["text"], "Describe the files matching *.rs",
        "{r}"
    );

    // Released, the blocking tool answers.
    release.send(()).unwrap();
    let (slow, _) = c.until(json!(1)).await;
    assert_eq!(
        slow["result"]["content"][0]["text"], "slow query done",
        "{slow}"
    );
}

#[tokio::test]
async fn a_sync_handler_holding_a_worker_is_named_in_a_debug_event() {
    let (log, _guard) = Captured::install(tracing::Level::DEBUG);
    let mut c = client(Server::new("inline", "1").tool(BusyInline).tool(Quick)).await;
    let r = call_tool(&mut c, 1, "busy_inline", json!({})).await;
    assert_eq!(r["content"][0]["text"], "busy done", "{r}");
    let logged = log.text();
    let line = logged
        .lines()
        .find(|l| l.contains("the synchronous tool `busy_inline` held a runtime worker"))
        .unwrap_or_else(|| panic!("no event naming the tool in:\n{logged}"));
    assert!(line.contains("DEBUG"), "{line}");
    assert!(line.contains("mark it `blocking`"), "{line}");
    // An async tool is never named.
    let r = call_tool(&mut c, 2, "quick", json!({})).await;
    assert_eq!(r["content"][0]["text"], "quick done");
    assert!(!log.text().contains("`quick` held"), "{}", log.text());
}

// ---------------------------------------------------------------------------------------------
// Flattened argument structs.

/// Search options, shared with a REST handler.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct SearchOptions {
    /// Results per page.
    #[serde(default = "default_limit")]
    limit: u32,
    /// The language of the documents.
    language: String,
    /// `newest` or `relevance`.
    sort: Option<String>,
}

fn default_limit() -> u32 {
    10
}

/// Search the documents.
#[tool]
fn search_docs(
    /// What to look for.
    query: String,
    #[arg(flatten)] options: SearchOptions,
) -> String {
    format!(
        "{query}: {} in {} by {}",
        options.limit,
        options.language,
        options.sort.as_deref().unwrap_or("relevance")
    )
}

/// Search options with a field named like the tool's own argument.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Clashing {
    /// Also a query.
    query: String,
}

#[tool]
fn clash(query: String, #[arg(flatten)] other: Clashing) -> String {
    format!("{query} {}", other.query)
}

#[test]
fn a_flattened_struct_s_fields_are_the_tool_s_arguments() {
    use mcp_server::ToolHandler;
    let tool = SearchDocs.definition();
    assert_eq!(
        Value::Object(tool.input_schema),
        json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for."},
                "limit": {"type": "integer", "format": "uint32", "minimum": 0, "default": 10, "description": "Results per page."},
                "language": {"type": "string", "description": "The language of the documents."},
                "sort": {"type": "string", "description": "`newest` or `relevance`."}
            },
            "required": ["query", "language"]
        })
    );
    // The typed contract agrees: the struct's fields at the top level, `None` left out.
    let input = SearchDocsInput {
        query: "tokio".into(),
        options: SearchOptions {
            limit: 5,
            language: "en".into(),
            sort: None,
        },
    };
    assert_eq!(
        serde_json::to_value(&input).unwrap(),
        json!({"query": "tokio", "limit": 5, "language": "en"})
    );
}

#[tokio::test]
async fn flattened_arguments_are_read_from_the_top_level() {
    let mut c = client(Server::new("flatten", "1").tool(SearchDocs)).await;
    let input = SearchDocsInput {
        query: "tokio".into(),
        options: SearchOptions {
            limit: 5,
            language: "en".into(),
            sort: Some("newest".into()),
        },
    };
    let r = call_tool(
        &mut c,
        1,
        "search_docs",
        serde_json::to_value(&input).unwrap(),
    )
    .await;
    assert_eq!(
        r,
        json!({"content": [{"type": "text", "text": "tokio: 5 in en by newest"}]})
    );
    // A missing field of the struct is an error the model reads.
    let r = call_tool(&mut c, 2, "search_docs", json!({"query": "tokio"})).await;
    assert_eq!(
        r,
        json!({"content": [{"type": "text", "text": "missing required argument `language`"}], "isError": true})
    );
    // Defaults of the struct apply; the server keeps serving.
    let r = call_tool(
        &mut c,
        3,
        "search_docs",
        json!({"query": "axum", "language": "de"}),
    )
    .await;
    assert_eq!(
        r["content"][0]["text"], "axum: 10 in de by relevance",
        "{r}"
    );
}

#[test]
fn a_flattened_field_clashing_with_an_argument_fails_registration_clearly() {
    let panic = std::panic::catch_unwind(|| Server::new("s", "1").tool(Clash))
        .expect_err("registration fails");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert_eq!(
        message,
        "cannot register the tool `clash`: `#[arg(flatten)] other: main::macro_ergonomics::Clashing`: \
         its field `query` has the name of another argument of the tool; rename one \
         (`#[arg(rename = \"...\")]`, `#[serde(rename = \"...\")]`)"
    );
}
