//! How the client reaches a server: a child process over stdio, or any byte stream.
//!
//! A transport is a pair of message channels; the client does not care what carries them.

use std::process::Stdio;
use std::time::Duration;

use futures::future::BoxFuture;
use mcp_core::JsonRpcMessage;
use mcp_core::codec::{CodecConfig, LineDecoder, encode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// How long a child process gets to exit after its input closes, and again after SIGTERM.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// A connection to a server as two message channels, and how to close it.
pub struct Transport {
    pub(crate) out: mpsc::Sender<JsonRpcMessage>,
    pub(crate) incoming: mpsc::Receiver<JsonRpcMessage>,
    pub(crate) close: Option<BoxFuture<'static, ()>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport").finish_non_exhaustive()
    }
}

impl Transport {
    /// A transport over any byte streams carrying newline-delimited JSON-RPC (a socket, a pipe,
    /// an in-memory duplex stream).
    pub fn from_io<R, W>(reader: R, writer: W) -> Transport
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (out_tx, out_rx) = mpsc::channel(256);
        let (in_tx, in_rx) = mpsc::channel(256);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(read_loop(reader, in_tx));
        let writer = tokio::spawn(write_loop(writer, out_rx, stop_rx));
        Transport {
            out: out_tx,
            incoming: in_rx,
            close: Some(Box::pin(async move {
                let _ = stop_tx.send(());
                let _ = writer.await;
            })),
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(mut reader: R, tx: mpsc::Sender<JsonRpcMessage>) {
    let mut decoder = LineDecoder::new(CodecConfig::default());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        while let Some(item) = decoder.decode_next() {
            match item {
                Ok(message) => {
                    if tx.send(message).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e.error, "the server sent a line that is not a message")
                }
            }
        }
    }
    while let Some(item) = decoder.finish() {
        if let Ok(message) = item {
            let _ = tx.send(message).await;
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::Receiver<JsonRpcMessage>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut out = Vec::with_capacity(4096);
    loop {
        let message = tokio::select! {
            m = rx.recv() => m,
            _ = &mut stop => None,
        };
        let Some(message) = message else { break };
        out.clear();
        encode(&message, &mut out);
        if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
            break;
        }
    }
    let _ = writer.shutdown().await;
}

/// What to do with a child server's stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StderrMode {
    /// Pass it through to this process's stderr (the default).
    #[default]
    Inherit,
    /// Collect it in the log (`tracing`, target `mcp_client::stderr`).
    Capture,
    /// Discard it.
    Discard,
}

/// A server to run as a child process, speaking over its stdin and stdout.
#[derive(Debug, Clone)]
pub struct StdioServer {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stderr: StderrMode,
    current_dir: Option<std::path::PathBuf>,
}

impl StdioServer {
    /// A server started as `program`.
    pub fn new(program: impl Into<String>) -> Self {
        StdioServer {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            stderr: StderrMode::default(),
            current_dir: None,
        }
    }

    /// Adds an argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the child.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The child's working directory (this process's by default).
    #[must_use]
    pub fn current_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// The program, for messages.
    pub(crate) fn program(&self) -> &str {
        &self.program
    }

    /// What to do with the child's stderr.
    #[must_use]
    pub fn stderr(mut self, mode: StderrMode) -> Self {
        self.stderr = mode;
        self
    }

    /// Starts the child and returns the transport to it. Closing the transport closes the
    /// child's stdin, then sends SIGTERM, then SIGKILL, and always reaps it.
    pub fn spawn(self) -> Result<Transport> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(match self.stderr {
                StderrMode::Inherit => Stdio::inherit(),
                StderrMode::Capture => Stdio::piped(),
                StderrMode::Discard => Stdio::null(),
            })
            .kill_on_drop(true);
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        let mut child = command
            .spawn()
            .map_err(|e| Error::Connection(format!("cannot start `{}`: {e}", self.program)))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::info!(target: "mcp_client::stderr", "{line}");
                }
            });
        }
        let mut transport = Transport::from_io(stdout, stdin);
        let writer_done = transport.close.take();
        transport.close = Some(Box::pin(async move {
            if let Some(w) = writer_done {
                w.await;
            }
            stop_child(child).await;
        }));
        Ok(transport)
    }
}

/// Stdin is closed by now; give the child time to exit, then SIGTERM, then SIGKILL.
async fn stop_child(mut child: Child) {
    if tokio::time::timeout(EXIT_GRACE, child.wait()).await.is_ok() {
        return;
    }
    if let Some(pid) = child.id() {
        let pid = nix::unistd::Pid::from_raw(pid as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        if tokio::time::timeout(EXIT_GRACE, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}
