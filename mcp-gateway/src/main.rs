//! `mcp-gateway`: many MCP servers behind one endpoint, with per-caller rules, approval and audit.
//!
//! ```text
//! mcp-gateway --config FILE [--port N | --listen ADDR | --stdio] [--store redis://HOST:PORT]
//!             [--metrics ADDR] [--log-format text|json] [--threads N]
//!                                                 serve (HTTP on 127.0.0.1:N/mcp, probes at
//!                                                 /healthz and /readyz, or stdio), sharing state
//!                                                 with other replicas
//! mcp-gateway check [--offline] FILE              validate (offline: without starting the
//!                                                 upstreams) and print the effective table
//! ```
//!
//! Ctrl-C or SIGTERM stops it gracefully (HTTP: the calls in flight finish; every audit record
//! is written). On Unix, SIGHUP reopens the audit file (after a rotation) and reloads the
//! configuration: it is checked first, and swapped in only when
//! valid (rules, anomaly flags and environment labels; the connections are kept). A change a
//! swap cannot apply (an upstream's entry, naming, filters, the front, the name or the audit
//! file) is refused with a message, and the old configuration stays.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use mcp_gateway::{Config, Gateway};

#[derive(Parser)]
#[command(
    name = "mcp-gateway",
    version,
    about = "Many MCP servers behind one endpoint"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Serve Streamable HTTP on 127.0.0.1 at this port, endpoint /mcp (default 8080).
    #[arg(long, conflicts_with = "stdio")]
    port: Option<u16>,
    /// Serve Streamable HTTP on this address instead (e.g. 0.0.0.0:8080 in a container),
    /// endpoint /mcp. Beyond loopback, give the front authentication (`[front.oauth]`, or
    /// `[front.tls]` with `client_ca`): without it, anyone who reaches the port is an
    /// anonymous caller.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["stdio", "port"])]
    listen: Option<SocketAddr>,
    /// Serve one client on stdin/stdout.
    #[arg(long)]
    stdio: bool,
    /// Serve HTTP on this many threads (default: one per core). With 1, one thread runs
    /// everything, so that no message waits for another thread to wake: on a small machine
    /// shared with the upstreams, faster (README, benchmarks). stdio always runs on one.
    #[arg(long, value_name = "N", conflicts_with = "stdio", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Share state with the other replicas of this gateway through this store
    /// (`redis://HOST:PORT`): approvals, rate limits, tasks, legacy sessions, notifications.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Serve the metrics (Prometheus text: tool calls, denials, latency, anomaly flags,
    /// `mcp_gateway_upstream_up`) on this address, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// How the log on stderr is written (its level: `RUST_LOG`, `warn` by default).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
}

/// What the binary says to its operator (serving where, reloaded, refused, a warning):
/// a plain line on stderr, or with `--log-format json` a log event like every other (target
/// `mcp_gateway::notice`, shown whatever `RUST_LOG` says), so that the stream stays JSON.
static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn notice(level: tracing::Level, message: &str) {
    if !JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("mcp-gateway: {message}");
    } else if level == tracing::Level::ERROR {
        tracing::error!(target: "mcp_gateway::notice", "{message}");
    } else if level == tracing::Level::WARN {
        tracing::warn!(target: "mcp_gateway::notice", "{message}");
    } else {
        tracing::info!(target: "mcp_gateway::notice", "{message}");
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Validates a configuration, connects to its upstreams, and prints for each kind of caller
    /// and environment which tools are listed, callable and need approval.
    Check {
        /// The configuration file.
        file: PathBuf,
        /// Only what can be checked without starting the upstreams (the file, the front, each
        /// upstream's entry and variables, the rules, anomaly flags and filters): for CI, where
        /// the upstreams' commands and credentials may be missing. Prints `valid` when it is.
        #[arg(long)]
        offline: bool,
        /// Fails (exit status 1) when the table has warnings (a rule that matches nothing, a
        /// name clients drop, a name several upstreams serve...): for CI.
        #[arg(long)]
        strict: bool,
        /// A caller of your own to show besides those the rules name: comma-separated
        /// `subject=NAME`, `role=NAME`, `scope=NAME`, `claim.KEY=VALUE`
        /// (`--caller role=ops,scope=files:read`); repeatable.
        #[arg(long = "caller", value_name = "SPEC")]
        callers: Vec<String>,
    },
    /// Prints a configuration (TOML) whose upstreams are the MCP servers of a host's JSON
    /// configuration (`mcpServers` of Claude Desktop, Claude Code, Cursor; `servers` of VS
    /// Code), with a starting rule: `mcp-gateway import claude_desktop_config.json > gw.toml`.
    Import {
        /// The host's configuration file (JSON).
        file: PathBuf,
    },
}

/// mimalloc instead of the system allocator: a proxied call allocates for both of its sides
/// (A/B through a stdio gateway at 32 calls in flight, three runs each: 24.7k to 26.0k calls/s
/// with glibc's malloc, 27.8k to 29.2k with mimalloc; at 1 in flight a few percent less CPU per
/// call). Built without transparent huge pages (`no_thp`): with them the idle gateway's resident
/// memory went from 20 to 33 MB; without, 21.6 MB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One client on stdio: one thread runs everything (the upstreams are other processes, on
    // the other cores), so that no message waits for a thread to wake. HTTP: every core, or as
    // many threads as `--threads` says (1: the same as stdio).
    let runtime = match cli.threads {
        _ if cli.stdio => tokio::runtime::Builder::new_current_thread(),
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n.into());
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build();
    match runtime {
        Ok(runtime) => runtime.block_on(serve(cli)),
        Err(e) => {
            eprintln!("mcp-gateway: cannot start the runtime: {e}");
            ExitCode::from(2)
        }
    }
}

async fn serve(cli: Cli) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt().with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.with_env_filter(filter).init(),
        // One JSON object per line, for log collectors; the operator's notices among them.
        LogFormat::Json => {
            let notices = "mcp_gateway::notice=info".parse().expect("a directive");
            JSON_LOGS.store(true, std::sync::atomic::Ordering::Relaxed);
            logs.with_env_filter(filter.add_directive(notices))
                .json()
                .flatten_event(true)
                .init();
        }
    }
    match run(cli).await {
        Ok(code) => code,
        Err(message) => {
            notice(tracing::Level::ERROR, &message);
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    if let Some(Command::Import { file }) = &cli.command {
        let json = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let toml = mcp_gateway::import::import(&json, &file.display().to_string(), "__")?;
        print!("{toml}");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(Command::Check {
        file,
        offline,
        strict,
        callers,
    }) = cli.command
    {
        let callers = callers
            .iter()
            .map(|spec| {
                mcp_gateway::table::caller(spec)
                    .map(|id| (spec.clone(), id))
                    .map_err(|e| format!("--caller {spec}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let config = Config::load(&file).map_err(|e| e.to_string())?;
        if offline {
            mcp_gateway::validate(&config).map_err(|e| e.to_string())?;
            println!(
                "valid: {} ({} upstreams, {} rules)",
                file.display(),
                config.upstreams.len(),
                config.rules.len()
            );
            return Ok(ExitCode::SUCCESS);
        }
        // The front's settings too: its certificate and key read, its validators built.
        mcp_gateway::http_config(&config).map_err(|e| e.to_string())?;
        let gateway = Gateway::start(config).await.map_err(|e| e.to_string())?;
        let table = gateway.table_for(&callers);
        print!("{table}");
        gateway.close().await;
        let warnings = table.matches("\nwarning: ").count();
        if strict && warnings > 0 {
            notice(
                tracing::Level::ERROR,
                &format!("{warnings} warnings (--strict)"),
            );
            return Ok(ExitCode::from(1));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(file) = cli.config else {
        return Err("give --config FILE (or `check FILE`)".into());
    };
    let config = Config::load(&file).map_err(|e| e.to_string())?;
    let http = mcp_gateway::http_config(&config).map_err(|e| e.to_string())?;
    let front_authenticates = config.front.oauth.is_some()
        || config
            .front
            .tls
            .as_ref()
            .is_some_and(|t| t.client_ca.is_some());
    let scheme = if config.front.tls.is_some() {
        "https"
    } else {
        "http"
    };
    if let Some(addr) = cli.metrics {
        mcp_server::metrics::install_prometheus(addr)
            .map_err(|e| format!("cannot serve the metrics on {addr}: {e}"))?;
        notice(
            tracing::Level::INFO,
            &format!("metrics on http://{addr}/metrics"),
        );
    }
    let mut builder = Gateway::builder(config);
    if let Some(url) = &cli.store {
        let store = mcp_server::store::connect(url)
            .await
            .map_err(|e| e.to_string())?;
        builder = builder.store(store);
    }
    let gateway = Arc::new(builder.start().await.map_err(|e| e.to_string())?);
    reload_on_hangup(gateway.clone(), file);
    let server = gateway.server().clone();
    // Ctrl-C or SIGTERM (`docker stop`, Kubernetes): HTTP lets the calls in flight finish;
    // both close the upstreams and write every audit record queued before the process ends.
    let shutdown = mcp_server::http::shutdown_signal();
    let served = if cli.stdio {
        tokio::select! {
            served = server.serve_stdio() => served,
            () = shutdown => Ok(()),
        }
    } else {
        let addr = cli
            .listen
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, cli.port.unwrap_or(8080))));
        if !addr.ip().is_loopback() && !front_authenticates {
            notice(
                tracing::Level::WARN,
                &format!(
                    "warning: {addr} is reachable beyond this machine and the front \
                     authenticates no one ([front.oauth], or [front.tls] with client_ca): every \
                     caller is anonymous, and gets what the rules give anonymous callers"
                ),
            );
        }
        notice(
            tracing::Level::INFO,
            &format!("serving {scheme}://{addr}/mcp"),
        );
        // `/healthz` and `/readyz` beside `/mcp`.
        mcp_server::http::McpService::new(server, http)
            .with_routes(gateway.health_routes())
            .serve(addr, shutdown)
            .await
    };
    gateway.close().await;
    served
        .map(|()| ExitCode::SUCCESS)
        .map_err(|e| e.to_string())
}

/// SIGHUP: load the file again; swap it in when it is valid, keep the old one otherwise.
#[cfg(unix)]
fn reload_on_hangup(gateway: Arc<Gateway>, file: PathBuf) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP: no reload");
        return;
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            // The audit file first: after `logrotate` renamed it (its `postrotate` sends SIGHUP).
            if let Err(e) = gateway.reopen_audit().await {
                notice(
                    tracing::Level::ERROR,
                    &format!("cannot reopen the audit file, the records go on to the old one: {e}"),
                );
            }
            match Config::load(&file)
                .map_err(|e| e.to_string())
                .and_then(|c| gateway.reload(c).map_err(|e| e.to_string()))
            {
                Ok(()) => notice(
                    tracing::Level::INFO,
                    &format!("reloaded {}", file.display()),
                ),
                Err(e) => notice(
                    tracing::Level::ERROR,
                    &format!("reload refused, the old configuration stays: {e}"),
                ),
            }
        }
    });
}

#[cfg(not(unix))]
fn reload_on_hangup(_: Arc<Gateway>, _: PathBuf) {}
