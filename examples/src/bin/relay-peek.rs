//! The floor of a pass-through gateway on stdio: `relay-floor` plus the least a gateway must do
//! per message. It starts the command it is given and, for every line, peeks at the JSON-RPC
//! envelope without building a tree; for a `tools/call` it decides on the tool's name (an allow
//! list given with `--allow`), hashes the arguments and appends one hash-chained audit line;
//! every request gets an id of its own upstream and every answer its caller's id back. It knows
//! nothing else of MCP (no schemas, no approval, no tasks, no bridging): a benchmark reference for
//! `scripts/bench-mcp-gateway`, beside `relay-floor`, of what a gateway that forwarded the bytes
//! of a call instead of re-building it could cost.
//!
//! ```text
//! relay-peek --audit FILE [--allow NAME]... -- COMMAND [ARGS...]
//! ```

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// The envelope's members a relay needs, borrowed from the line.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    method: Option<&'a str>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

/// What a `tools/call` decision needs.
#[derive(Deserialize)]
struct CallParams<'a> {
    name: &'a str,
    #[serde(borrow)]
    arguments: Option<&'a RawValue>,
}

/// The caller's ids of the requests in flight upstream, by the relay's own id.
type InFlight = Arc<Mutex<HashMap<u64, Box<RawValue>>>>;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut audit = None;
    let mut allow = HashSet::new();
    let mut command = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--audit" => audit = args.next(),
            "--allow" => allow.extend(args.next()),
            "--" => command.extend(args.by_ref()),
            _ => command.push(arg),
        }
    }
    let (Some(audit), Some(program)) = (audit, command.first()) else {
        eprintln!("usage: relay-peek --audit FILE [--allow NAME]... -- COMMAND [ARGS...]");
        return ExitCode::from(2);
    };
    let audit = match std::fs::File::create(&audit) {
        Ok(file) => BufWriter::new(file),
        Err(e) => {
            eprintln!("relay-peek: cannot create {audit}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut child = match Command::new(program)
        .args(&command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("relay-peek: cannot start {program}: {e}");
            return ExitCode::from(2);
        }
    };
    let (Some(to_child), Some(from_child)) = (child.stdin.take(), child.stdout.take()) else {
        return ExitCode::from(2);
    };
    let in_flight = InFlight::default();
    let down = {
        let in_flight = in_flight.clone();
        std::thread::spawn(move || downstream(to_child, audit, &allow, &in_flight))
    };
    // Not locked for the whole loop: the other thread writes refusals to it.
    let mut stdout = std::io::stdout();
    for line in BufReader::new(from_child).lines() {
        let Ok(line) = line else { break };
        let out = match serde_json::from_str::<Envelope<'_>>(&line) {
            Ok(Envelope {
                id: Some(id),
                method: None,
                ..
            }) => {
                let caller = id
                    .get()
                    .parse::<u64>()
                    .ok()
                    .and_then(|mine| in_flight.lock().expect("not poisoned").remove(&mine));
                match caller {
                    Some(caller) => with_id(&line, id, caller.get()),
                    None => line,
                }
            }
            _ => line,
        };
        if writeln!(stdout, "{out}").is_err() || stdout.flush().is_err() {
            break;
        }
    }
    let _ = down.join();
    match child.wait() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// Caller to upstream: decides and audits calls, renumbers requests.
fn downstream(
    mut to_child: std::process::ChildStdin,
    mut audit: BufWriter<std::fs::File>,
    allow: &HashSet<String>,
    in_flight: &InFlight,
) {
    let mut next = 1u64;
    let mut prev = "0".repeat(64);
    let mut stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let Ok(envelope) = serde_json::from_str::<Envelope<'_>>(&line) else {
            continue;
        };
        let (Some(id), Some(method)) = (envelope.id, envelope.method) else {
            // Notifications and answers to the upstream's requests pass as they are.
            if writeln!(to_child, "{line}").is_err() {
                break;
            }
            continue;
        };
        if method == "tools/call" {
            let call = envelope
                .params
                .and_then(|p| serde_json::from_str::<CallParams<'_>>(p.get()).ok());
            let Some(call) = call.filter(|c| allow.contains(c.name)) else {
                let refusal = format!(
                    r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-32003,"message":"access denied"}}}}"#,
                    id.get()
                );
                let _ = writeln!(stdout, "{refusal}").and_then(|()| stdout.flush());
                continue;
            };
            let arguments = call.arguments.map_or("{}", |a| a.get());
            let record = format!(
                r#"{{"args_hash":"{:x}","prev":"{prev}","tool":{}}}"#,
                Sha256::digest(arguments.as_bytes()),
                serde_json::Value::from(call.name)
            );
            prev = format!("{:x}", Sha256::digest(record.as_bytes()));
            // Buffered, as a gateway's audit writer batches: written when the buffer fills
            // and when the relay ends.
            if writeln!(audit, "{record}").is_err() {
                break;
            }
        }
        let mine = next;
        next += 1;
        in_flight
            .lock()
            .expect("not poisoned")
            .insert(mine, id.to_owned());
        if writeln!(to_child, "{}", with_id(&line, id, &mine.to_string())).is_err() {
            break;
        }
    }
}

/// The message `line` with `new` in place of `id`, its own id (a slice of `line`, as the peek
/// borrowed it): the bytes around the id are kept as they are.
fn with_id(line: &str, id: &RawValue, new: &str) -> String {
    let start = (id.get().as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
    let end = start.saturating_add(id.get().len());
    if line.get(start..end) != Some(id.get()) {
        return line.to_owned(); // not a slice of `line`: nothing to splice
    }
    let mut out = String::with_capacity(line.len() + new.len());
    out.push_str(&line[..start]);
    out.push_str(new);
    out.push_str(&line[end..]);
    out
}
