//! The floor of what any gateway adds on stdio: a process that starts the command it is given
//! and copies bytes between its own stdin/stdout and the command's, understanding nothing.
//! `scripts/bench-mcp-gateway` measures it beside the gateway: no gateway can add less than one
//! more process on the way (two more pipe hops, and their wake-ups).
//!
//! ```text
//! relay-floor COMMAND [ARGS...]
//! ```

use std::io::{Read, Write};
use std::process::{Command, ExitCode, Stdio};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(program) = args.next() else {
        eprintln!("usage: relay-floor COMMAND [ARGS...]");
        return ExitCode::from(2);
    };
    let mut child = match Command::new(&program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("relay-floor: cannot start {program}: {e}");
            return ExitCode::from(2);
        }
    };
    let (Some(mut to_child), Some(mut from_child)) = (child.stdin.take(), child.stdout.take())
    else {
        return ExitCode::from(2);
    };
    let down = std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut stdin = std::io::stdin().lock();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || to_child.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        // Dropping `to_child` ends the command's input.
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut stdout = std::io::stdout().lock();
    while let Ok(n) = from_child.read(&mut buf) {
        if n == 0 || stdout.write_all(&buf[..n]).is_err() || stdout.flush().is_err() {
            break;
        }
    }
    let _ = down.join();
    match child.wait() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}
