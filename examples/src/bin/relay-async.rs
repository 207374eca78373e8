//! The floor of an async stdio relay: `relay-floor` on a Tokio current-thread runtime (as
//! `mcp-gateway --stdio` runs), its stdin, stdout and the command's pipes read and written
//! without blocking on the runtime's reactor. `scripts/bench-mcp-gateway` measures it beside
//! `relay-floor` (two blocking threads): the difference is what the runtime's wake-ups cost.
//!
//! ```text
//! relay-async COMMAND [ARGS...]
//! ```

use std::os::fd::AsFd as _;
use std::process::{ExitCode, Stdio};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::unix::pipe;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(program) = args.next() else {
        eprintln!("usage: relay-async COMMAND [ARGS...]");
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let mut child = match tokio::process::Command::new(&program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                eprintln!("relay-async: cannot start {program}: {e}");
                return ExitCode::from(2);
            }
        };
        let (Some(to_child), Some(from_child)) = (child.stdin.take(), child.stdout.take()) else {
            return ExitCode::from(2);
        };
        // Duplicates of fds 0 and 1, set non-blocking (only pipes are accepted).
        let dup =
            |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().map(std::fs::File::from);
        let (Ok(Ok(stdin)), Ok(Ok(stdout))) = (
            dup(std::io::stdin().as_fd()).map(pipe::Receiver::from_file),
            dup(std::io::stdout().as_fd()).map(pipe::Sender::from_file),
        ) else {
            eprintln!("relay-async: stdin and stdout must be pipes");
            return ExitCode::from(2);
        };
        let down = tokio::spawn(copy(stdin, to_child));
        copy(from_child, stdout).await;
        let _ = down.await;
        match child.wait().await {
            Ok(status) if status.success() => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        }
    })
}

/// Copies bytes from `from` to `to` until either ends.
async fn copy(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
}
