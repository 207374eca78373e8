//! How the client reaches a server: a child process over stdio, or any byte stream.
//!
//! A transport is where the client's messages go (a queue a task writes from, or, over HTTP, a
//! POST each) and a stream of what the server sends; the client does not care what carries them.

use std::pin::Pin;
use std::process::Stdio;
use std::time::Duration;

use futures::Stream;
use futures::future::BoxFuture;
use mcp_core::JsonRpcMessage;
use mcp_core::codec::{CodecConfig, LineDecoder, encode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// How long a child process gets to exit after its input closes, and again after SIGTERM.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// A connection to a server: where the client's messages go, what the server sends, and how to
/// close it.
pub struct Transport {
    pub(crate) out: Outbound,
    /// What the server sends, for the client's reading task; `None` when the transport hands
    /// it to the client itself (HTTP: [`crate::http::Connection::deliver_to`]).
    pub(crate) incoming: Option<Incoming>,
    pub(crate) close: Option<BoxFuture<'static, ()>>,
}

/// Where the client's messages go.
pub(crate) enum Outbound {
    /// A queue that a task of the transport sends from (a byte stream, a pair of channels).
    Queue(mpsc::Sender<JsonRpcMessage>),
    /// Streamable HTTP: each message is a POST of its own, started by its sender (a request's
    /// by the task that waits for its answer, [`crate::http::Connection::exchange`]).
    Http(std::sync::Arc<crate::http::Connection>),
}

/// The connection is closed: a message could not be sent.
#[derive(Debug)]
pub(crate) struct Closed;

impl Outbound {
    /// Sends a message (over HTTP, starts its POST); waits for room in a queue.
    pub(crate) async fn send(&self, message: JsonRpcMessage) -> std::result::Result<(), Closed> {
        match self {
            Outbound::Queue(q) => q.send(message).await.map_err(|_| Closed),
            Outbound::Http(connection) => connection.start(message),
        }
    }

    /// Sends a message if a queue has room now (over HTTP, starts its POST).
    pub(crate) fn try_send(&self, message: JsonRpcMessage) -> std::result::Result<(), Closed> {
        match self {
            Outbound::Queue(q) => q.try_send(message).map_err(|_| Closed),
            Outbound::Http(connection) => connection.start(message),
        }
    }
}

/// What a transport receives, until the connection ends: polled by the client's own reading
/// task (a byte stream is read and decoded there, without a task of its own in between).
pub(crate) type Incoming = Pin<Box<dyn Stream<Item = JsonRpcMessage> + Send>>;

/// The messages of a channel, as [`Incoming`].
pub(crate) fn from_receiver(mut rx: mpsc::Receiver<JsonRpcMessage>) -> Incoming {
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
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
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let writer = tokio::spawn(write_loop(writer, out_rx, stop_rx));
        Transport {
            out: Outbound::Queue(out_tx),
            incoming: Some(read_lines(reader)),
            close: Some(Box::pin(async move {
                let _ = stop_tx.send(());
                let _ = writer.await;
            })),
        }
    }
}

impl Transport {
    /// A transport over two message channels: what the client sends goes to `out`, what it
    /// receives comes from `incoming` (a custom transport, or a server in the same process,
    /// see `Server::serve_channel` in `mcp-server`). `close` runs when the client closes.
    pub fn from_channels(
        out: mpsc::Sender<JsonRpcMessage>,
        incoming: mpsc::Receiver<JsonRpcMessage>,
        close: Option<BoxFuture<'static, ()>>,
    ) -> Transport {
        Transport {
            out: Outbound::Queue(out),
            incoming: Some(from_receiver(incoming)),
            close,
        }
    }
}

/// The messages of a byte stream of newline-delimited JSON-RPC, read and decoded as they are
/// polled. A line that is not a message is logged and skipped.
fn read_lines<R: AsyncRead + Unpin + Send + 'static>(reader: R) -> Incoming {
    struct Lines<R> {
        reader: R,
        decoder: LineDecoder,
        buf: Vec<u8>,
        ended: bool,
    }
    let lines = Lines {
        reader,
        decoder: LineDecoder::new(CodecConfig::default()),
        buf: vec![0u8; 64 * 1024],
        ended: false,
    };
    // Fused: an `unfold` must not be polled again once it ended.
    let stream = futures::stream::unfold(lines, |mut lines| async move {
        loop {
            let item = if lines.ended {
                lines.decoder.finish()?
            } else if let Some(item) = lines.decoder.decode_next() {
                item
            } else {
                match lines.reader.read(&mut lines.buf).await {
                    Ok(0) | Err(_) => lines.ended = true,
                    Ok(n) => lines.decoder.push(&lines.buf[..n]),
                }
                continue;
            };
            match item {
                Ok(message) => return Some((message, lines)),
                Err(e) if !lines.ended => {
                    tracing::warn!(error = %e.error, "the server sent a line that is not a message")
                }
                Err(_) => {}
            }
        }
    });
    Box::pin(futures::StreamExt::fuse(stream))
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
    /// Collect it in the log (`tracing`, target `mcp_client::stderr`, level `info`), a line at a
    /// time; a line longer than 8 KiB is cut there and the log says how many bytes were dropped.
    Capture,
    /// Discard it.
    Discard,
}

/// The variables of this process's environment a child server inherits unless told otherwise
/// ([`StdioServer::inherit_env`], [`StdioServer::inherit_all_env`]): those the official
/// TypeScript and Python SDKs pass (enough to find programs and a home directory), and the
/// locale, time zone and temporary directory. None of them holds a secret.
#[cfg(not(windows))]
pub const DEFAULT_INHERITED_ENV: &[&str] = &[
    "HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TZ",
    "TMPDIR",
];

/// The variables of this process's environment a child server inherits unless told otherwise
/// ([`StdioServer::inherit_env`], [`StdioServer::inherit_all_env`]): those the official
/// TypeScript and Python SDKs pass (enough to find programs and a home directory), and the
/// temporary directory. None of them holds a secret.
#[cfg(windows)]
pub const DEFAULT_INHERITED_ENV: &[&str] = &[
    "APPDATA",
    "HOMEDRIVE",
    "HOMEPATH",
    "LOCALAPPDATA",
    "PATH",
    "PATHEXT",
    "PROCESSOR_ARCHITECTURE",
    "PROGRAMFILES",
    "SYSTEMDRIVE",
    "SYSTEMROOT",
    "TEMP",
    "TMP",
    "USERNAME",
    "USERPROFILE",
];

/// A server to run as a child process, speaking over its stdin and stdout.
///
/// The child does not inherit this process's whole environment: only the variables of
/// [`DEFAULT_INHERITED_ENV`], those named with [`inherit_env`](Self::inherit_env), and those set
/// with [`env`](Self::env). A program that holds credentials in its environment (tokens for
/// other servers, cloud keys) does not hand them to every server it starts; a server that needs
/// one gets it by name. [`inherit_all_env`](Self::inherit_all_env) passes everything, as a
/// shell does.
#[derive(Debug, Clone)]
pub struct StdioServer {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    inherit: Inherit,
    stderr: StderrMode,
    current_dir: Option<std::path::PathBuf>,
}

/// Which of this process's environment variables a child inherits.
#[derive(Debug, Clone)]
enum Inherit {
    /// Those of [`DEFAULT_INHERITED_ENV`], and those of these names (a trailing `*` matches any
    /// rest).
    Listed(Vec<String>),
    /// Every one.
    All,
}

impl Inherit {
    /// Whether the variable `name`, of `value`, passes to the child.
    fn passes(&self, name: &std::ffi::OsStr, value: &std::ffi::OsStr) -> bool {
        // A value that starts like a shell function's definition is never passed on (the
        // official SDKs do the same): a shell in the child would define it.
        if value.as_encoded_bytes().starts_with(b"()") {
            return false;
        }
        let names = match self {
            Inherit::All => return true,
            Inherit::Listed(names) => names,
        };
        let Some(name) = name.to_str() else {
            return false;
        };
        let same = |a: &str, b: &str| {
            if cfg!(windows) {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        DEFAULT_INHERITED_ENV.iter().any(|d| same(d, name))
            || names.iter().any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => name
                    .get(..prefix.len())
                    .is_some_and(|start| same(start, prefix)),
                None => same(pattern, name),
            })
    }
}

impl StdioServer {
    /// A server started as `program`.
    pub fn new(program: impl Into<String>) -> Self {
        StdioServer {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            inherit: Inherit::Listed(Vec::new()),
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

    /// Passes this process's variable `name` on to the child too, when it is set (beyond
    /// [`DEFAULT_INHERITED_ENV`]); a trailing `*` passes every variable whose name starts with
    /// what precedes it (`"AWS_*"`).
    #[must_use]
    pub fn inherit_env(mut self, name: impl Into<String>) -> Self {
        if let Inherit::Listed(names) = &mut self.inherit {
            names.push(name.into());
        }
        self
    }

    /// Passes this process's whole environment on to the child, as a shell does: every
    /// credential in it included.
    #[must_use]
    pub fn inherit_all_env(mut self) -> Self {
        self.inherit = Inherit::All;
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
            .env_clear()
            .envs(std::env::vars_os().filter(|(name, value)| self.inherit.passes(name, value)));
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
            tokio::spawn(log_stderr(stderr));
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

/// The longest line of a child's stderr that is logged; the rest of a longer line is dropped
/// (the log says how much).
pub(crate) const MAX_STDERR_LINE: usize = 8 * 1024;

/// Logs a child's stderr line by line (target `mcp_client::stderr`), each line cut at
/// [`MAX_STDERR_LINE`] bytes: a line without end holds no more memory than that.
async fn log_stderr<R: AsyncRead + Unpin>(stderr: R) {
    use tokio::io::AsyncBufReadExt;
    let mut reader = tokio::io::BufReader::new(stderr);
    let mut line: Vec<u8> = Vec::new();
    let mut dropped = 0usize;
    let emit = |line: &mut Vec<u8>, dropped: &mut usize| {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let text = String::from_utf8_lossy(line);
        if *dropped > 0 {
            tracing::info!(target: "mcp_client::stderr", "{text}… ({dropped} more bytes cut)");
        } else {
            tracing::info!(target: "mcp_client::stderr", "{text}");
        }
        line.clear();
        *dropped = 0;
    };
    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(buf) => buf,
        };
        let (part, ends) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = MAX_STDERR_LINE.saturating_sub(line.len());
        let mut keep = part.len().min(room);
        // Cut on a character boundary.
        while keep < part.len() && keep > 0 && (part[keep] & 0xc0) == 0x80 {
            keep -= 1;
        }
        line.extend_from_slice(&part[..keep]);
        dropped += part.len() - keep;
        let used = ends.unwrap_or(buf.len());
        reader.consume(used);
        if ends.is_some() {
            emit(&mut line, &mut dropped);
        }
    }
    if !line.is_empty() || dropped > 0 {
        emit(&mut line, &mut dropped);
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

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    fn passes(server: &StdioServer, name: &str, value: &str) -> bool {
        server.inherit.passes(OsStr::new(name), OsStr::new(value))
    }

    #[test]
    fn a_child_inherits_only_the_default_variables_and_those_named() {
        let plain = StdioServer::new("server");
        assert!(passes(&plain, "PATH", "/usr/bin"));
        assert!(passes(&plain, "HOME", "/home/ann"));
        assert!(!passes(&plain, "GITHUB_TOKEN", "ghp_x"));
        assert!(!passes(&plain, "AWS_SECRET_ACCESS_KEY", "x"));
        // No prefix match without a `*`.
        assert!(!passes(&plain, "PATHS", "x"));

        let named = StdioServer::new("server")
            .inherit_env("GITHUB_TOKEN")
            .inherit_env("AWS_*");
        assert!(passes(&named, "PATH", "/usr/bin"));
        assert!(passes(&named, "GITHUB_TOKEN", "ghp_x"));
        assert!(passes(&named, "AWS_REGION", "eu-west-1"));
        assert!(passes(&named, "AWS_", "x"));
        assert!(!passes(&named, "GITHUB_TOKEN_2", "x"));
        assert!(!passes(&named, "AW", "x"));
        assert!(!passes(&named, "OPENAI_API_KEY", "sk-x"));

        let all = StdioServer::new("server").inherit_all_env();
        assert!(passes(&all, "OPENAI_API_KEY", "sk-x"));
        // Naming more after `inherit_all_env` keeps everything.
        assert!(passes(&all.inherit_env("X"), "OPENAI_API_KEY", "sk-x"));
    }

    #[test]
    fn a_shell_function_is_never_inherited() {
        let all = StdioServer::new("server").inherit_all_env();
        assert!(!passes(&all, "BASH_FUNC_f%%", "() { :; }"));
        assert!(!passes(
            &StdioServer::new("server"),
            "PATH",
            "() { :; }; echo"
        ));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_child_sees_the_variables_it_was_given_and_the_default_ones() {
        // `sh` prints its environment's names and exits; the transport reads its output as
        // lines that are not JSON-RPC, so the names are read from a file instead.
        let dir = std::env::temp_dir().join(format!("mcp-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("env");
        let server = StdioServer::new("sh")
            .arg("-c")
            .arg("env > \"$OUT\"")
            .env("OUT", out.to_str().unwrap())
            .env("GIVEN", "1")
            .stderr(StderrMode::Discard);
        let mut transport = server.spawn().unwrap();
        // The child exits at once: its output ends.
        let incoming = transport.incoming.as_mut().expect("a byte stream");
        while futures::StreamExt::next(incoming).await.is_some() {}
        let seen = std::fs::read_to_string(&out).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let names: Vec<&str> = seen
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k))
            .collect();
        assert!(names.contains(&"GIVEN"), "{names:?}");
        assert!(names.contains(&"OUT"), "{names:?}");
        if std::env::var_os("PATH").is_some() {
            assert!(names.contains(&"PATH"), "{names:?}");
        }
        // Whatever else this test runs with (cargo's own variables, for one) stays here; `sh`
        // sets a few of its own.
        let shells = ["PWD", "OLDPWD", "SHLVL", "_"];
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if !DEFAULT_INHERITED_ENV.contains(&name.as_ref()) && !shells.contains(&name.as_ref()) {
                assert!(
                    !names.contains(&name.as_ref()),
                    "{name} was inherited: {names:?}"
                );
            }
        }
    }
}
