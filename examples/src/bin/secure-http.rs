//! An MCP server behind the whole security stack, over Streamable HTTP on `http://127.0.0.1:{port}/mcp`:
//!
//! - an OAuth 2.1 resource server: every request needs a bearer token (a JWT checked against
//!   the JWKS of a local test authorization server started in the same process), whose audience
//!   is this server; `/.well-known/oauth-protected-resource/mcp` describes it (RFC 9728);
//! - scopes per tool, fail closed (`require_authorization`): a tool without a policy is denied,
//!   a token without a tool's scope gets 403 `insufficient_scope`;
//! - `deploy`, which waits for a human's approval (through the client's elicitation, or in this
//!   terminal with `--approve-here`), bound to the exact arguments, single use;
//! - `export_report`, which runs as a task for clients that ask: the task belongs to the token's
//!   principal (issuer and subject); another token finds no such task, and each principal may
//!   keep a bounded number of unfinished tasks;
//! - legacy sessions bound to the principal, at most a bounded number per principal;
//! - every request, response, decision and approval in a hash-chained JSON Lines audit file
//!   (check it with `mcp-audit verify FILE`).
//!
//! ```text
//! cargo run -p mcp-examples --bin secure-http -- --port 8443 [--audit audit.jsonl] [--approve-here]
//! ```
//!
//! At start it prints tokens to stderr (and writes them to `--tokens FILE` if given): `reader`
//! (kpi:read), `operator` (kpi:read deploy) and `bench` (calc). Use one as
//! `Authorization: Bearer <token>`, e.g. with the `mcp` command:
//! `mcp tools http://127.0.0.1:8443/mcp --header "Authorization: Bearer $TOKEN"`.
//!
//! `--open` serves the same tools with no authentication, policy, validation or audit: the
//! baseline of the overhead benchmark (`scripts/bench-security`).
//!
//! `--store redis://HOST:PORT` makes it a replica: approvals, rate limits, tasks, legacy
//! sessions and notifications are shared with the other replicas naming the same store. (Each
//! replica starts its own local authorization server, so a token works only on the replica
//! that printed it; a real deployment validates one issuer's tokens on every replica.)

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use mcp_server::approval::{ApprovalGate, Approvals, TerminalApprover};
use mcp_server::audit::{Audit, JsonlSink, TracingSink};
use mcp_server::http::auth::testing::TestAuthServer;
use mcp_server::http::auth::{Jwks, JwtValidator, ResourceServer};
use mcp_server::http::{self, HttpConfig};
use mcp_server::{Context, Error, Result, Server, ServerOptions, tool};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A business metric.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Metric {
    /// Monthly recurring revenue.
    Mrr,
    /// Customers lost this month, in percent.
    Churn,
}

/// The value of a metric.
#[derive(Debug, Serialize, JsonSchema)]
struct Reading {
    metric: Metric,
    value: f64,
}

/// Reads a business metric.
#[tool(read_only, scopes = ["kpi:read"], rate_limit = "120/min")]
fn kpi_query(metric: Metric) -> Reading {
    let value = match metric {
        Metric::Mrr => 48_250.0,
        Metric::Churn => 1.7,
    };
    Reading { metric, value }
}

/// Deploys a version of a service to production. Waits for a human's approval.
#[tool(
    destructive,
    scopes = ["deploy"],
    approval = "required",
    rate_limit = "10/h",
    timeout = "30s"
)]
fn deploy(
    /// The service, e.g. `billing`.
    service: String,
    /// The version to deploy, e.g. `2.4.1`.
    version: String,
) -> Result<String> {
    if service.is_empty() || version.is_empty() {
        return Err(Error::public("service and version must not be empty"));
    }
    Ok(format!("{service} {version} is rolling out"))
}

/// Exports the metrics as a report. Runs as a task for clients that ask for one (2025-11-25
/// `task`, or the 2026-07-28 tasks extension): the task belongs to the caller, and another
/// token's `tasks/get`, `tasks/result`, `tasks/list` or `tasks/cancel` finds no such task.
#[tool(read_only, task_support = "optional", scopes = ["kpi:read"], timeout = "60s")]
async fn export_report(
    cx: Context,
    /// The metrics to include.
    metrics: Vec<Metric>,
) -> String {
    let mut lines = Vec::with_capacity(metrics.len());
    for (i, metric) in metrics.into_iter().enumerate() {
        // Each line takes a moment, so that the task can be seen working.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let reading = kpi_query(metric);
        cx.info(format!("{metric:?} exported"));
        lines.push(format!(
            "{}. {:?}: {}",
            i + 1,
            reading.metric,
            reading.value
        ));
    }
    let owner = cx
        .identity()
        .map_or_else(|| "anonymous".to_owned(), |id| id.principal().to_string());
    format!("report for {owner}\n{}", lines.join("\n"))
}

/// Who the server thinks you are.
#[tool(read_only, public)]
fn whoami(cx: Context) -> String {
    match cx.identity() {
        Some(id) => format!(
            "{} (scopes: {})",
            id.subject(),
            id.scopes().iter().cloned().collect::<Vec<_>>().join(" ")
        ),
        None => "anonymous".into(),
    }
}

/// Adds two numbers (the benchmark's tool).
#[tool(read_only, scopes = ["calc"])]
fn add(a: f64, b: f64) -> f64 {
    a + b
}

struct Options {
    port: u16,
    audit: String,
    tokens: Option<String>,
    approve_here: bool,
    open: bool,
    store: Option<String>,
}

fn parse() -> Options {
    let mut o = Options {
        port: 8443,
        audit: "audit.jsonl".into(),
        tokens: None,
        approve_here: false,
        open: false,
        store: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    let value = |i: usize| {
        args.get(i + 1).cloned().unwrap_or_else(|| {
            eprintln!("{} needs a value", args[i]);
            std::process::exit(2)
        })
    };
    while i < args.len() {
        match args[i].as_str() {
            "--port" => {
                o.port = value(i).parse().unwrap_or_else(|_| {
                    eprintln!("--port takes a port number");
                    std::process::exit(2)
                });
                i += 1;
            }
            "--audit" => {
                o.audit = value(i);
                i += 1;
            }
            "--tokens" => {
                o.tokens = Some(value(i));
                i += 1;
            }
            "--store" => {
                o.store = Some(value(i));
                i += 1;
            }
            "--approve-here" => o.approve_here = true,
            "--open" => o.open = true,
            other => {
                eprintln!(
                    "unknown argument {other}\nusage: secure-http [--port N] [--audit FILE] [--tokens FILE] [--approve-here] [--open] [--store redis://HOST:PORT]"
                );
                std::process::exit(2);
            }
        }
        i += 1;
    }
    o
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,mcp::audit=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let o = parse();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, o.port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    let mut tools = Server::new("secure-http", env!("CARGO_PKG_VERSION"))
        .instructions("Business metrics, and deployments that a human approves.");
    if let Some(url) = &o.store {
        tools = tools
            .connect_store(url)
            .await
            .map_err(std::io::Error::other)?;
    }

    if o.open {
        let server = tools
            .options(ServerOptions {
                validate: false,
                ..ServerOptions::default()
            })
            .tool(KpiQuery)
            .tool(ExportReport)
            .tool(Whoami)
            .tool(Add);
        eprintln!("secure-http (open, no security): {url}");
        return http::serve(server, HttpConfig::new(), listener, http::shutdown_signal()).await;
    }

    // The local authorization server: holds a signing key, serves its JWKS on 127.0.0.1.
    let authz = TestAuthServer::start().await?;
    let validator = JwtValidator::new(&url, authz.issuer(), Jwks::url(authz.jwks_url()));
    let resource = ResourceServer::new(&url, authz.issuer(), validator)
        .map_err(std::io::Error::other)?
        .scopes_supported(["kpi:read", "deploy", "calc"])
        .resource_name("secure-http example");

    let sink = JsonlSink::builder(&o.audit).chained().open()?;
    let audit = Audit::new().with_sink(sink).with_sink(TracingSink);
    let mut server = tools.require_authorization().audit(audit);
    // Without a gate of its own, the server asks the client's user, with requests sealed under
    // its key (the key its replicas agree on, with `--store`).
    if o.approve_here {
        let gate = ApprovalGate::new(Approvals::random())
            .with_timeout(Duration::from_secs(120))
            .with_approver(TerminalApprover::tty());
        server = server.approval(gate);
    }
    let server = server
        .tool(KpiQuery)
        .tool(ExportReport)
        .tool(Deploy)
        .tool(Whoami)
        .tool(Add);

    let mut printed = String::new();
    for (name, scopes) in [
        ("reader", &["kpi:read"][..]),
        ("operator", &["kpi:read", "deploy"][..]),
        ("bench", &["calc"][..]),
    ] {
        let claims = authz.claims(&url, name, scopes);
        let mut claims = claims;
        // Valid for a day, so that a benchmark or a demo does not run out.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        claims["exp"] = (now + 86_400).into();
        printed.push_str(&format!("{name}={}\n", authz.token(&claims)));
    }
    eprintln!("secure-http: {url}  (audit: {})", o.audit);
    eprintln!("tokens (Authorization: Bearer <token>):\n{printed}");
    if let Some(path) = &o.tokens {
        std::fs::write(path, &printed)?;
    }
    let config = HttpConfig::new().auth(resource);
    let served = http::serve(server, config, listener, http::shutdown_signal()).await;
    drop(authz);
    served
}
