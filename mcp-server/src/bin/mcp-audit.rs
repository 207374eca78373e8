//! `mcp-audit`: checks the hash chain of an audit log written by `mcp_server::audit::JsonlSink`.
//!
//! ```text
//! mcp-audit verify [--key-file KEY] FILE
//! ```
//!
//! Prints `ok: N records` and exits 0 when the chain holds; prints `altered at line K: reason`
//! and exits 1 at the first line that does not verify; exits 2 on a usage or I/O error. With
//! `--key-file`, the chain is checked as HMAC-SHA256 under the file's bytes.

use std::ffi::OsString;
use std::process::ExitCode;

use mcp_server::audit::{VerifyError, verify, verify_with_key};

const USAGE: &str = "usage: mcp-audit verify [--key-file KEY] FILE";

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
            println!("{USAGE}");
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
    let result = match key_file {
        Some(k) => {
            let key = std::fs::read(k)
                .map_err(|e| format!("cannot read the key file {}: {e}", k.to_string_lossy()))?;
            verify_with_key(file, &key)
        }
        None => verify(file),
    };
    match result {
        Ok(report) => {
            println!("ok: {} records", report.records);
            if let Some(hash) = report.last_hash {
                println!("last hash: {hash}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ VerifyError::Altered { .. }) => {
            println!("{e}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(format!("{}: {e}", file.to_string_lossy())),
    }
}
