//! `mcp-audit`: checks the hash chain of an audit log written by `mcp_server::audit::JsonlSink`.
//!
//! ```text
//! mcp-audit verify [--key-file KEY] FILE
//! ```
//!
//! Prints `ok: N records` and exits 0 when the chain holds; prints `altered at line K: reason`
//! and exits 1 at the first line that does not verify; exits 2 on a usage or I/O error. With
//! `--key-file`, the chain is checked as HMAC-SHA256 under the file's bytes: a log rewritten,
//! chain included, by someone without the key fails. `mcp-audit --help` says more.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use mcp_server::audit::{VerifyError, read_key_file, verify, verify_with_key};

const USAGE: &str = "usage: mcp-audit verify [--key-file KEY] FILE";

const HELP: &str = "\
mcp-audit: checks the hash chain of an audit log written by mcp_server::audit::JsonlSink

usage: mcp-audit verify [--key-file KEY] FILE

  verify FILE      check the chain: every line's `hash` covers its record and the `prev` hash,
                   and `prev` is the hash of the line before (JsonlSinkBuilder::chained)
  --key-file KEY   check a keyed chain: HMAC-SHA256 under all the bytes of KEY, a trailing
                   newline included (JsonlSinkBuilder::hmac_key_file reads the key the same
                   way). A log rewritten by someone without the key fails at its first line,
                   even with its whole chain recomputed.
  -h, --help       print this help

Exit status:
  0  the chain holds: prints `ok: N records` and the last hash. Keep that hash elsewhere: lines
     cut from the end of a log leave a valid chain. A file that continues a rotated one starts
     with a record of kind `continued`: `continues from: HASH` is printed, and HASH must be the
     last hash of the file before it.
  1  a line does not verify: prints `altered at line K: reason` for the first one
  2  usage error, or the log or key cannot be read

A verified log may still show losses and refusals, as records: kind `dropped` (the writer fell
behind and dropped the number of records in `dropped`, in the time in `time` and `reason`) and
kind `refusal` (a request refused before dispatch, with its `status` or `error_code`).";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("mcp-audit: {message}");
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[OsString]) -> Result<ExitCode, String> {
    let mut args = args.iter();
    match args.next().and_then(|a| a.to_str()) {
        Some("verify") => {}
        Some("-h" | "--help") => {
            println!("{HELP}");
            return Ok(ExitCode::SUCCESS);
        }
        Some(other) => return Err(format!("unknown command `{other}`")),
        None => return Err("missing command".to_owned()),
    }
    let mut key_file = None;
    let mut file = None;
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--key-file") => {
                key_file = Some(args.next().ok_or("`--key-file` needs a path")?);
            }
            Some(flag) if flag.starts_with("--") => {
                return Err(format!("unknown option `{flag}`"));
            }
            _ if file.is_none() => file = Some(arg),
            _ => return Err("more than one file".to_owned()),
        }
    }
    let file = file.ok_or("missing FILE")?;
    let keyed = key_file.is_some();
    let result = match key_file {
        Some(k) => {
            let key = read_key_file(Path::new(k))
                .map_err(|e| format!("cannot read the key file {}: {e}", k.to_string_lossy()))?;
            verify_with_key(file, &key)
        }
        None => verify(file),
    };
    match result {
        Ok(report) => {
            println!("ok: {} records", report.records);
            if let Some(hash) = report.continues {
                println!("continues from: {hash} (the last hash of the file before, rotated)");
            }
            if let Some(hash) = report.last_hash {
                println!("last hash: {hash}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ VerifyError::Altered { .. }) => {
            println!("{e}");
            if !keyed
                && matches!(&e, VerifyError::Altered { line: 1, reason } if reason.contains("does not match its hash"))
            {
                println!("(if the log was written with a key, check it with --key-file KEY)");
            }
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(format!("{}: {e}", file.to_string_lossy())),
    }
}
