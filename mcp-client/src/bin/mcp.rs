//! `mcp`: use any MCP server from a terminal, for people and scripts.
//!
//! ```text
//! mcp tools    <server>
//! mcp call     <server> <tool> [key=value ...] [--args '{"json": "object"}']
//! mcp resources <server>
//! mcp read     <server> <uri>
//! mcp prompts  <server>
//! mcp prompt   <server> <name> [key=value ...]
//! mcp discover <server>
//! mcp contract dump <server>              the server's contract (JSON) on stdout
//! mcp contract diff OLD.json NEW.json     breaking changes between two contracts
//! mcp lint     <server> [--profile strict|conservative]...
//! ```
//!
//! `<server>` is an `http(s)://` URL given first, or a command after `--`:
//! `mcp call add a=1 b=2 -- python server.py`. A command runs with this terminal's whole
//! environment, as the shell would run it (a library's [`StdioServer`] passes only a few
//! variables unless told).
//!
//! Exit codes: 0 success; 1 the tool reported an error (`isError`); 2 bad usage; 3 the server
//! could not be reached or the connection failed; 4 authorization is needed (HTTP 401/403);
//! 5 the server answered with a JSON-RPC error or broke the protocol. `mcp contract diff` exits 1
//! when a change is breaking and 2 when a file is not a contract (or the two were taken at
//! different protocol versions); `mcp lint` exits 1 when a tool does not fit a profile.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use mcp_client::mcp_core::ProtocolVersion;
use mcp_client::mcp_core::contract::{self, Dialect, ServerContract};
use mcp_client::types::*;
use mcp_client::{Client, EraChoice, Error, HttpServer, StderrMode, StdioServer};
use serde_json::{Map, Value};

/// `println!` without its panic when stdout is closed: a reader that went away
/// (`mcp tools -- server | head -1`) is not this program's error; what is left is dropped.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` likewise.
macro_rules! print {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Exit codes that scripts can rely on.
mod exit {
    pub(crate) const TOOL_ERROR: u8 = 1;
    pub(crate) const USAGE: u8 = 2;
    pub(crate) const CONNECTION: u8 = 3;
    pub(crate) const AUTHORIZATION: u8 = 4;
    pub(crate) const SERVER_ERROR: u8 = 5;
}

#[derive(Parser, Debug)]
#[command(name = "mcp", version, about = "Use any MCP server from a terminal.", after_help = AFTER_HELP)]
struct Cli {
    /// Which protocol era to speak.
    #[arg(long, value_enum, default_value_t = Era::Auto, global = true)]
    era: Era,
    /// Print raw JSON results instead of readable text.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 60, global = true)]
    timeout: u64,
    /// An HTTP header for every request, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H', global = true)]
    headers: Vec<String>,
    /// Show the server's stderr (stdio servers).
    #[arg(long, global = true)]
    server_stderr: bool,
    /// Speak exactly this protocol version (e.g. 2025-06-18), instead of negotiating.
    #[arg(long, global = true, value_parser = parse_version)]
    protocol_version: Option<ProtocolVersion>,
    #[command(subcommand)]
    command: Command,
}

const AFTER_HELP: &str = "\
<SERVER> is an http(s):// URL given first, or a command after `--`:
  mcp tools http://127.0.0.1:8000/mcp
  mcp call add a=1 b=2 -- python server.py

Exit codes: 0 success, 1 tool error (isError), a breaking change (contract diff) or a lint
finding, 2 bad usage or a file that is not a contract, 3 connection failure,
4 authorization needed, 5 JSON-RPC error or protocol violation.";

fn parse_version(s: &str) -> Result<ProtocolVersion, String> {
    ProtocolVersion::parse(s).ok_or_else(|| {
        let known: Vec<&str> = ProtocolVersion::ALL.iter().map(|v| v.as_str()).collect();
        format!(
            "unknown protocol version `{s}`; expected one of {}",
            known.join(", ")
        )
    })
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum Era {
    Auto,
    Legacy,
    Modern,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the tools.
    Tools(Target),
    /// Call a tool: arguments as key=value (JSON values are parsed), or `--args '{...}'`.
    Call(Target),
    /// List the resources and resource templates.
    Resources(Target),
    /// Read a resource.
    Read(Target),
    /// List the prompts.
    Prompts(Target),
    /// Get a prompt: arguments as key=value.
    Prompt(Target),
    /// Show what the server is and can do.
    Discover(Target),
    /// The server's contract: dump it, or compare two dumps for breaking changes.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// Check the tools' schemas against what model providers' function calling accepts.
    Lint(LintArgs),
}

#[derive(Subcommand, Debug)]
enum ContractCommand {
    /// Print the server's contract as JSON (tools, resources, templates, prompts, capabilities).
    Dump(Target),
    /// Compare two contracts: list the changes, exit 1 if one breaks clients of OLD.
    Diff {
        /// The contract clients were written against.
        old: std::path::PathBuf,
        /// The new contract.
        new: std::path::PathBuf,
    },
}

#[derive(clap::Args, Debug)]
struct LintArgs {
    /// A profile to check against (repeatable; all by default).
    #[arg(long = "profile", value_parser = parse_profile)]
    profiles: Vec<Dialect>,
    #[command(flatten)]
    target: Target,
}

fn parse_profile(s: &str) -> Result<Dialect, String> {
    Dialect::parse(s)
}

#[derive(clap::Args, Debug)]
struct Target {
    /// The server URL (when it is a URL), then the command's own words; after `--`, the
    /// server command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    words: Vec<String>,
}

/// A server and the command's own words, split out of the positional words.
struct Parsed {
    server: Server,
    words: Vec<String>,
}

enum Server {
    Http(String),
    Stdio(Vec<String>),
}

fn split(words: &[String]) -> Result<Parsed, String> {
    if let Some(first) = words
        .first()
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
    {
        return Ok(Parsed {
            server: Server::Http(first.clone()),
            words: words[1..].to_vec(),
        });
    }
    match words.iter().position(|w| w == "--") {
        Some(i) if i + 1 < words.len() => Ok(Parsed {
            server: Server::Stdio(words[i + 1..].to_vec()),
            words: words[..i].to_vec(),
        }),
        _ => Err("give the server as an http(s):// URL first, or as a command after `--`".into()),
    }
}

fn code_of(e: &Error) -> u8 {
    match e {
        Error::Http {
            status: 401 | 403, ..
        } => exit::AUTHORIZATION,
        Error::Http { .. } | Error::Connection(_) | Error::Timeout { .. } => exit::CONNECTION,
        _ => exit::SERVER_ERROR,
    }
}

fn fail(e: &Error) -> ExitCode {
    eprintln!("mcp: {e}");
    ExitCode::from(code_of(e))
}

/// `key=value` words into arguments: a value that parses as JSON is taken as JSON, unless the
/// schema says the property is a string.
fn parse_args(words: &[String], schema: Option<&JsonObject>) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for w in words {
        let (k, v) = w
            .split_once('=')
            .ok_or_else(|| format!("`{w}` is not key=value"))?;
        let is_string = schema
            .and_then(|s| s.get("properties"))
            .and_then(|p| p.get(k))
            .and_then(|p| p.get("type"))
            .is_some_and(|t| t == "string");
        let value = if is_string {
            Value::String(v.to_owned())
        } else {
            serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()))
        };
        out.insert(k.to_owned(), value);
    }
    Ok(out)
}

fn print_json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).expect("serializes"));
}

fn print_content(content: &[ContentBlock]) {
    for block in content {
        match block {
            ContentBlock::Text(t) => println!("{}", t.text),
            ContentBlock::Image(i) => {
                println!("[image {}, {} base64 bytes]", i.mime_type, i.data.len())
            }
            ContentBlock::Audio(a) => {
                println!("[audio {}, {} base64 bytes]", a.mime_type, a.data.len())
            }
            ContentBlock::ResourceLink(l) => println!("[resource link {} ({})]", l.name, l.uri),
            ContentBlock::Resource(r) => match &r.resource {
                ResourceContents::Text(t) => println!("[resource {}]\n{}", t.uri, t.text),
                ResourceContents::Blob(b) => {
                    println!("[resource {}, {} base64 bytes]", b.uri, b.blob.len())
                }
            },
            ContentBlock::Unknown(v) => println!("[{} content] {v}", block.kind()),
        }
    }
}

fn progress_bar(p: &ProgressNotificationParams) {
    let mut err = std::io::stderr();
    if !err.is_terminal() {
        return;
    }
    let line = match p.total {
        Some(total) if total > 0.0 => {
            let width = 30usize;
            let filled = ((p.progress / total).clamp(0.0, 1.0) * width as f64) as usize;
            format!(
                "[{}{}] {}/{}",
                "#".repeat(filled),
                " ".repeat(width - filled),
                p.progress,
                total
            )
        }
        _ => format!("{} done", p.progress),
    };
    let _ = write!(err, "\r{line} {}\x1b[K", p.message.as_deref().unwrap_or(""));
    let _ = err.flush();
}

async fn connect(cli: &Cli, server: &Server) -> Result<Client, Error> {
    let builder = Client::builder()
        .info("mcp-cli", env!("CARGO_PKG_VERSION"))
        .era(match cli.era {
            Era::Auto => EraChoice::Auto,
            Era::Legacy => EraChoice::Legacy,
            Era::Modern => EraChoice::Modern,
        })
        .timeout(Duration::from_secs(cli.timeout));
    let builder = match cli.protocol_version {
        Some(v) => builder.protocol_version(v),
        None => builder,
    };
    match server {
        Server::Http(url) => {
            let mut http = HttpServer::new(url.clone());
            for h in &cli.headers {
                let (k, v) = h.split_once(':').ok_or_else(|| {
                    Error::Connection(format!("header `{h}` is not `Name: value`"))
                })?;
                http = http.header(k.trim(), v.trim());
            }
            builder.connect_http(http).await
        }
        Server::Stdio(cmd) => {
            let stderr = if cli.server_stderr {
                StderrMode::Inherit
            } else {
                StderrMode::Discard
            };
            builder
                .connect_stdio(
                    StdioServer::new(&cmd[0])
                        .args(cmd[1..].iter().cloned())
                        .inherit_all_env()
                        .stderr(stderr),
                )
                .await
        }
    }
}

/// Takes `-H`/`--header` options given among the words (after the server URL) out of them:
/// they belong to the command line, not to the tool's arguments.
fn take_headers(words: &mut Vec<String>) -> Result<Vec<String>, String> {
    let end = words.iter().position(|w| w == "--").unwrap_or(words.len());
    let mut headers = Vec::new();
    let mut kept = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        if i < end && (w == "-H" || w == "--header") {
            let value = words
                .get(i + 1)
                .filter(|_| i + 1 < end)
                .ok_or_else(|| format!("`{w}` needs a value, `Name: value`"))?;
            headers.push(value.clone());
            i += 2;
            continue;
        }
        if i < end
            && let Some(v) = w.strip_prefix("--header=")
        {
            headers.push(v.to_owned());
        } else {
            kept.push(w.clone());
        }
        i += 1;
    }
    *words = kept;
    Ok(headers)
}

/// Reads a contract file, or says which file is not one.
fn read_contract(path: &std::path::Path) -> Result<ServerContract, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    ServerContract::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `mcp contract diff OLD NEW`: 0 compatible, 1 breaking, 2 not comparable.
fn contract_diff(cli: &Cli, old: &std::path::Path, new: &std::path::Path) -> ExitCode {
    let compared = read_contract(old).and_then(|o| {
        let n = read_contract(new)?;
        contract::diff(&o, &n).map_err(|e| format!("{} and {}: {e}", old.display(), new.display()))
    });
    let d = match compared {
        Ok(d) => d,
        Err(e) => {
            eprintln!("mcp: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    if cli.json {
        print_json(&d.findings);
    } else if d.findings.is_empty() {
        println!("no changes");
    } else {
        print!("{d}");
    }
    if d.is_breaking() {
        ExitCode::from(exit::TOOL_ERROR)
    } else {
        ExitCode::SUCCESS
    }
}

async fn run(mut cli: Cli, server_command: Option<Vec<String>>) -> ExitCode {
    let target = match &cli.command {
        Command::Tools(t)
        | Command::Call(t)
        | Command::Resources(t)
        | Command::Read(t)
        | Command::Prompts(t)
        | Command::Prompt(t)
        | Command::Discover(t)
        | Command::Contract(ContractCommand::Dump(t))
        | Command::Lint(LintArgs { target: t, .. }) => t,
        Command::Contract(ContractCommand::Diff { old, new }) => {
            return contract_diff(&cli, old, new);
        }
    };
    let mut words = target.words.clone();
    words.extend(server_command.unwrap_or_default());
    match take_headers(&mut words) {
        Ok(h) => cli.headers.extend(h),
        Err(e) => {
            eprintln!("mcp: {e}");
            return ExitCode::from(exit::USAGE);
        }
    }
    let parsed = match split(&words) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mcp: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let client = match connect(&cli, &parsed.server).await {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let code = command(&cli, &client, &parsed.words).await;
    client.close().await;
    code
}

async fn command(cli: &Cli, client: &Client, words: &[String]) -> ExitCode {
    let usage = |m: &str| {
        eprintln!("mcp: {m}");
        ExitCode::from(exit::USAGE)
    };
    match &cli.command {
        Command::Tools(_) => match client.list_tools().await {
            Ok(tools) if cli.json => print_json(&tools),
            Ok(tools) => {
                for t in tools {
                    println!(
                        "{}{}",
                        t.name,
                        t.description.map(|d| format!(" - {d}")).unwrap_or_default()
                    );
                    let props = t.input_schema.get("properties").and_then(Value::as_object);
                    let required: Vec<&str> = t
                        .input_schema
                        .get("required")
                        .and_then(Value::as_array)
                        .map(|r| r.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    for (name, schema) in props.into_iter().flatten() {
                        let ty = schema
                            .get("type")
                            .map(|t| t.to_string().replace('"', ""))
                            .unwrap_or_else(|| "any".into());
                        let opt = if required.contains(&name.as_str()) {
                            ""
                        } else {
                            "?"
                        };
                        let desc = schema
                            .get("description")
                            .and_then(Value::as_str)
                            .map(|d| format!("  {d}"))
                            .unwrap_or_default();
                        println!("    {name}{opt}: {ty}{desc}");
                    }
                }
            }
            Err(e) => return fail(&e),
        },
        Command::Call(_) => {
            let Some((tool, rest)) = words.split_first() else {
                return usage("`call` needs a tool name");
            };
            // `--args JSON` may stand anywhere among the key=value words.
            let mut json_args = None;
            let mut pairs = Vec::new();
            let mut it = rest.iter();
            while let Some(w) = it.next() {
                if w == "--args" {
                    match it.next() {
                        Some(j) => json_args = Some(j.clone()),
                        None => return usage("--args needs a JSON object"),
                    }
                } else {
                    pairs.push(w.clone());
                }
            }
            let rest = &pairs;
            let tools = client.list_tools().await.unwrap_or_default();
            let schema = tools
                .iter()
                .find(|t| &t.name == tool)
                .map(|t| &t.input_schema);
            let mut args = match parse_args(rest, schema) {
                Ok(a) => a,
                Err(e) => return usage(&e),
            };
            if let Some(j) = &json_args {
                match serde_json::from_str::<Map<String, Value>>(j) {
                    Ok(extra) => args.extend(extra),
                    Err(e) => return usage(&format!("--args is not a JSON object: {e}")),
                }
            }
            let result = client
                .call_tool_with_progress(tool, Value::Object(args), progress_bar)
                .await;
            if std::io::stderr().is_terminal() {
                eprint!("\r\x1b[K");
            }
            match result {
                Ok(r) => {
                    if cli.json {
                        print_json(&r);
                    } else if let Some(s) = r
                        .structured_content
                        .as_ref()
                        .filter(|_| r.is_error != Some(true))
                    {
                        print_json(s);
                    } else {
                        print_content(&r.content);
                    }
                    if r.is_error == Some(true) {
                        return ExitCode::from(exit::TOOL_ERROR);
                    }
                }
                Err(e) => return fail(&e),
            }
        }
        Command::Resources(_) => {
            let resources = match client.list_resources().await {
                Ok(r) => r,
                Err(e) => return fail(&e),
            };
            let templates = match client.list_resource_templates().await {
                Ok(t) => t,
                Err(e) => return fail(&e),
            };
            if cli.json {
                print_json(
                    &serde_json::json!({ "resources": resources, "resourceTemplates": templates }),
                );
            } else {
                for r in resources {
                    println!(
                        "{} ({}){}",
                        r.uri,
                        r.name,
                        r.mime_type.map(|m| format!(" {m}")).unwrap_or_default()
                    );
                }
                for t in templates {
                    println!(
                        "{} ({}, template){}",
                        t.uri_template,
                        t.name,
                        t.mime_type.map(|m| format!(" {m}")).unwrap_or_default()
                    );
                }
            }
        }
        Command::Read(_) => {
            let Some(uri) = words.first() else {
                return usage("`read` needs a URI");
            };
            match client.read_resource(uri).await {
                Ok(c) if cli.json => print_json(&c),
                Ok(c) => {
                    for item in c {
                        match item {
                            ResourceContents::Text(t) => println!("{}", t.text),
                            ResourceContents::Blob(b) => println!(
                                "[{} base64 bytes of {}]",
                                b.blob.len(),
                                b.mime_type.unwrap_or_default()
                            ),
                        }
                    }
                }
                Err(e) => return fail(&e),
            }
        }
        Command::Prompts(_) => match client.list_prompts().await {
            Ok(p) if cli.json => print_json(&p),
            Ok(prompts) => {
                for p in prompts {
                    println!(
                        "{}{}",
                        p.name,
                        p.description.map(|d| format!(" - {d}")).unwrap_or_default()
                    );
                    for a in p.arguments.into_iter().flatten() {
                        let opt = if a.required == Some(true) { "" } else { "?" };
                        println!(
                            "    {}{opt}{}",
                            a.name,
                            a.description.map(|d| format!("  {d}")).unwrap_or_default()
                        );
                    }
                }
            }
            Err(e) => return fail(&e),
        },
        Command::Prompt(_) => {
            let Some((name, rest)) = words.split_first() else {
                return usage("`prompt` needs a prompt name");
            };
            let mut pairs = Vec::new();
            for w in rest {
                match w.split_once('=') {
                    Some(p) => pairs.push(p),
                    None => return usage(&format!("`{w}` is not key=value")),
                }
            }
            match client.get_prompt(name, pairs).await {
                Ok(p) if cli.json => print_json(&p),
                Ok(p) => {
                    for m in p.messages {
                        println!(
                            "[{}]",
                            serde_json::to_value(m.role)
                                .expect("serializes")
                                .as_str()
                                .unwrap_or("")
                        );
                        print_content(std::slice::from_ref(&m.content));
                    }
                }
                Err(e) => return fail(&e),
            }
        }
        Command::Discover(_) => {
            let s = client.session();
            if cli.json {
                print_json(&serde_json::json!({
                    "protocolVersion": s.version.as_str(),
                    "serverInfo": s.server_info,
                    "capabilities": s.capabilities,
                    "instructions": s.instructions,
                }));
            } else {
                let info = s.server_info.as_ref();
                println!(
                    "server: {} {}",
                    info.map_or("?", |i| i.name.as_str()),
                    info.map_or("", |i| i.version.as_str())
                );
                println!("protocol: {} ({:?} era)", s.version, s.era());
                let caps = serde_json::to_value(&s.capabilities).expect("serializes");
                let names: Vec<&String> = caps
                    .as_object()
                    .map(|o| o.keys().collect())
                    .unwrap_or_default();
                println!(
                    "capabilities: {}",
                    names
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                if let Some(i) = s.instructions {
                    println!("instructions: {i}");
                }
            }
        }
        Command::Contract(ContractCommand::Dump(_)) => match client.contract().await {
            Ok(c) => print!("{}", c.to_json_pretty()),
            Err(e) => return fail(&e),
        },
        Command::Contract(ContractCommand::Diff { .. }) => unreachable!("needs no server"),
        Command::Lint(args) => {
            let tools = match client.list_tools().await {
                Ok(t) => t,
                Err(e) => return fail(&e),
            };
            let profiles = if args.profiles.is_empty() {
                Dialect::ALL.to_vec()
            } else {
                args.profiles.clone()
            };
            let findings: Vec<_> = profiles
                .iter()
                .flat_map(|p| contract::lint(&tools, *p))
                .collect();
            if cli.json {
                print_json(&findings);
            } else if findings.is_empty() {
                let names: Vec<&str> = profiles.iter().map(|p| p.as_str()).collect();
                println!("{} tools fit {}", tools.len(), names.join(", "));
            } else {
                for f in &findings {
                    println!("{f}");
                }
            }
            if !findings.is_empty() {
                return ExitCode::from(exit::TOOL_ERROR);
            }
        }
    }
    ExitCode::SUCCESS
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("MCP_LOG"))
        .init();
    let mut args: Vec<String> = std::env::args().collect();
    let server_command = args
        .iter()
        .position(|a| a == "--")
        .map(|i| args.split_off(i));
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    run(cli, server_command).await
}
