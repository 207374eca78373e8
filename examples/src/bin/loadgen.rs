//! A load driver for `tools/call`: throughput and latency percentiles over stdio or Streamable
//! HTTP, and the memory a legacy HTTP session costs the server.
//!
//! ```text
//! loadgen stdio [--requests N] [--concurrency C] [--era legacy|modern] -- <server command...>
//! loadgen http  [--requests N] [--concurrency C] [--era legacy|modern] [--token T] <url>
//! loadgen client [--requests N] [--concurrency C] [--era legacy|modern] <url> | -- <server command...>
//! loadgen sessions [--sessions N] --pid <server pid> <url>
//! ```
//!
//! `client` makes the same calls through this SDK's client (`mcp_client::Client::call_tool`,
//! over Streamable HTTP to a URL or over stdio to a command): beside `http` or `stdio` on the
//! same server, what the client adds to a call.
//!
//! The server must have a tool `add` taking numbers `a` and `b` (the example servers do).
//! Every run is bounded by its request count; nothing here retries forever.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, Semaphore, oneshot};

struct Options {
    requests: usize,
    concurrency: usize,
    modern: bool,
    sessions: usize,
    pid: Option<u32>,
    token: Option<String>,
    rest: Vec<String>,
}

/// What `main` prints when the arguments do not make a run.
const USAGE: &str = "usage:
  loadgen stdio [--requests N] [--concurrency C] [--era legacy|modern] -- <server command...>
  loadgen http  [--requests N] [--concurrency C] [--era legacy|modern] [--token T] <url>
  loadgen client [--requests N] [--concurrency C] [--era legacy|modern] <url> | -- <server command...>
  loadgen sessions [--sessions N] --pid <server pid> <url>";

/// Ends the process with `problem` and the usage.
fn usage(problem: &str) -> ! {
    eprintln!("loadgen: {problem}\n{USAGE}");
    std::process::exit(2);
}

fn parse(args: &[String]) -> Options {
    let mut o = Options {
        requests: 20_000,
        concurrency: 32,
        modern: false,
        sessions: 1000,
        pid: None,
        token: None,
        rest: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || match args.next() {
            Some(v) => v.clone(),
            None => usage(&format!("{arg} needs a value")),
        };
        match arg.as_str() {
            "--requests" => o.requests = number(arg, value()),
            "--concurrency" => o.concurrency = number(arg, value()),
            "--sessions" => o.sessions = number(arg, value()),
            "--pid" => o.pid = Some(number(arg, value())),
            "--era" => {
                o.modern = match value().as_str() {
                    "legacy" => false,
                    "modern" => true,
                    other => usage(&format!("--era is legacy or modern, not `{other}`")),
                }
            }
            "--token" => o.token = Some(value()),
            "--" => {
                o.rest.extend(args.cloned());
                break;
            }
            _ => o.rest.push(arg.clone()),
        }
    }
    if o.rest.is_empty() {
        usage("no server command or URL");
    }
    o
}

/// `text` as the number `flag` takes.
fn number<T: std::str::FromStr>(flag: &str, text: String) -> T {
    text.parse()
        .unwrap_or_else(|_| usage(&format!("{flag} takes a number, not `{text}`")))
}

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "loadgen", "version": "1"}
    })
}

fn call(id: u64, modern: bool) -> Value {
    let mut params = json!({"name": "add", "arguments": {"a": id, "b": 1}});
    if modern {
        params["_meta"] = meta();
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "loadgen", "version": "1"}}})
}

/// Makes `o.requests` calls, `o.concurrency` at a time, each the future `call` makes for its
/// id, and reports their latencies as `mode`'s run.
async fn run<F, Fut>(mode: &str, o: &Options, mut call: F)
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(o.concurrency));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(o.requests);
    for id in 1..=o.requests as u64 {
        let permit = slots.clone().acquire_owned().await.expect("open");
        let call = call(id);
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            call.await;
            drop(permit);
            sent.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for t in tasks {
        latencies.push(t.await.expect("joins"));
    }
    let era = if o.modern { "modern" } else { "legacy" };
    report(
        &format!("{mode} {era} c={}", o.concurrency),
        latencies,
        start.elapsed(),
    );
}

fn report(label: &str, mut latencies: Vec<Duration>, elapsed: Duration) {
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{label}: {} calls in {:.2} s = {:.0} calls/s; latency p50 {:?} p90 {:?} p99 {:?} max {:?}",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        latencies[latencies.len() - 1]
    );
}

async fn stdio(o: Options) {
    let mut child = tokio::process::Command::new(&o.rest[0])
        .args(&o.rest[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the server starts");
    let mut stdin = child.stdin.take().expect("piped");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let pending: Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<()>>>> = Arc::default();
    if !o.modern {
        stdin
            .write_all(format!("{}\n", initialize()).as_bytes())
            .await
            .expect("writes");
        lines.next_line().await.expect("reads").expect("an answer");
        stdin
            .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")
            .await
            .expect("writes");
    }
    let reader = {
        let pending = pending.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let v: Value = serde_json::from_str(&line).expect("JSON");
                if let Some(id) = v["id"].as_u64() {
                    assert!(v.get("result").is_some(), "{v}");
                    let waiter = pending.lock().expect("not poisoned").remove(&id);
                    if let Some(tx) = waiter {
                        let _ = tx.send(());
                    }
                }
            }
        })
    };
    let stdin = Arc::new(Mutex::new(stdin));
    run("stdio", &o, |id| {
        let (tx, rx) = oneshot::channel();
        pending.lock().expect("not poisoned").insert(id, tx);
        let line = format!("{}\n", call(id, o.modern));
        let stdin = stdin.clone();
        async move {
            stdin
                .lock()
                .await
                .write_all(line.as_bytes())
                .await
                .expect("writes");
            tokio::time::timeout(Duration::from_secs(30), rx)
                .await
                .expect("answered in 30 s")
                .expect("answered");
        }
    })
    .await;
    drop(stdin);
    reader.abort();
}

async fn http_session(http: &reqwest::Client, url: &str) -> (String, String) {
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(initialize().to_string())
        .send()
        .await
        .expect("initialize");
    let session = r
        .headers()
        .get("mcp-session-id")
        .expect("a session id")
        .to_str()
        .expect("ASCII")
        .to_owned();
    let _ = r.text().await;
    let _ = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .body(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .send()
        .await;
    (session, "2025-11-25".to_owned())
}

async fn http(o: Options) {
    let url = o.rest[0].clone();
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = &o.token {
        let value = format!("Bearer {token}").parse().expect("a header value");
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(o.concurrency)
        .default_headers(headers)
        .build()
        .expect("a client");
    let session = if o.modern {
        None
    } else {
        Some(http_session(&client, &url).await)
    };
    run("http", &o, |id| {
        let client = client.clone();
        let url = url.clone();
        let session = session.clone();
        let modern = o.modern;
        async move {
            let mut req = client
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream");
            req = match &session {
                Some((s, v)) => req
                    .header("mcp-session-id", s)
                    .header("mcp-protocol-version", v),
                None => req
                    .header("mcp-protocol-version", "2026-07-28")
                    .header("mcp-method", "tools/call")
                    .header("mcp-name", "add"),
            };
            let body = req
                .body(call(id, modern).to_string())
                .send()
                .await
                .expect("sent")
                .text()
                .await
                .expect("a body");
            assert!(body.contains("\"result\""), "{body}");
        }
    })
    .await;
    if let Some((id, _)) = session {
        let _ = client
            .delete(&url)
            .header("mcp-session-id", id)
            .send()
            .await;
    }
}

/// The calls of `http` or `stdio` made through this SDK's client.
async fn client(o: Options) {
    let era = if o.modern {
        mcp_client::EraChoice::Modern
    } else {
        mcp_client::EraChoice::Legacy
    };
    let builder = mcp_client::Client::builder().era(era);
    let (client, over) = if o.rest[0].starts_with("http://") || o.rest[0].starts_with("https://") {
        let server = mcp_client::HttpServer::new(o.rest[0].clone());
        (builder.connect_http(server).await, "http")
    } else {
        let server = mcp_client::StdioServer::new(o.rest[0].clone()).args(o.rest[1..].iter());
        (builder.connect_stdio(server).await, "stdio")
    };
    let client = client.expect("connected");
    run(&format!("client {over}"), &o, |id| {
        let client = client.clone();
        async move {
            let result = client
                .call_tool("add", json!({"a": id, "b": 1}))
                .await
                .expect("answered");
            assert!(!result.is_error.unwrap_or(false), "{result:?}");
        }
    })
    .await;
    client.close().await;
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("a Linux process");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmRSS")
}

async fn sessions(o: Options) {
    let pid = o.pid.expect("--pid of the server");
    let url = o.rest[0].clone();
    let client = reqwest::Client::new();
    let before = rss_kib(pid);
    let mut ids = Vec::with_capacity(o.sessions);
    for _ in 0..o.sessions {
        ids.push(http_session(&client, &url).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss_kib(pid);
    println!(
        "{} legacy sessions: server RSS {} KiB -> {} KiB, {:.1} KiB per session",
        o.sessions,
        before,
        after,
        after.saturating_sub(before) as f64 / o.sessions as f64
    );
    for (s, _) in ids {
        let _ = client.delete(&url).header("mcp-session-id", s).send().await;
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((mode, rest)) = args.split_first() else {
        usage("no mode");
    };
    let o = parse(rest);
    match mode.as_str() {
        "stdio" => stdio(o).await,
        "http" => http(o).await,
        "client" => client(o).await,
        "sessions" => sessions(o).await,
        other => usage(&format!("unknown mode `{other}`")),
    }
}
