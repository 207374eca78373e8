//! The stdio transport: newline-delimited JSON-RPC on standard input and output.
//!
//! Only MCP messages go to stdout; logs belong on stderr. At the end of input the server lets
//! running requests finish (a few seconds at most) and exits cleanly.

use std::time::Duration;

use futures::future::BoxFuture;
use mcp_core::JsonRpcMessage;
use mcp_core::codec::{CodecConfig, LineDecoder};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::lines::Lines;
use crate::peer::Sink;
use crate::server::Server;
use crate::session::Connection;

/// How long running requests may take to finish after the end of input.
const GRACE: Duration = Duration::from_secs(5);

impl Server {
    /// Serves on standard input and output until the end of input.
    ///
    /// When they are pipes or stream sockets (as when a host starts the server), they are read
    /// and written without blocking, on the runtime's own reactor; otherwise (a terminal, a
    /// file) through Tokio's blocking `stdin` and `stdout`.
    pub async fn serve_stdio(self) -> std::io::Result<()> {
        // Boxed by a plain function of this crate: see "Entry points" in `lib.rs`.
        self.serve_stdio_boxed().await
    }

    fn serve_stdio_boxed(self) -> BoxFuture<'static, std::io::Result<()>> {
        Box::pin(self.serve_stdio_unboxed())
    }

    async fn serve_stdio_unboxed(self) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::fd::AsFd as _;
            let stdin = std::io::stdin();
            let stdout = std::io::stdout();
            // Both descriptors' flags as they were before either is touched: they may be one
            // socket, and each restores what it found.
            let flags = (
                rustix::fs::fcntl_getfl(stdin.as_fd()).ok(),
                rustix::fs::fcntl_getfl(stdout.as_fd()).ok(),
            );
            if let (Some(in_flags), Some(out_flags)) = flags
                && let (Some(reader), Some(writer)) = (
                    pipe::Pipe::open(stdin.as_fd(), in_flags),
                    pipe::Pipe::open(stdout.as_fd(), out_flags),
                )
            {
                // On a worker of the runtime, not the thread that blocks on `main`'s future:
                // the requests it starts run there, and those that go on in tasks of their own
                // start on the same worker, without waking another.
                return tokio::spawn(self.serve_io_boxed(
                    Box::new(reader),
                    Box::new(writer),
                    CodecConfig::default(),
                ))
                .await
                .map_err(std::io::Error::other)?;
            }
        }
        self.serve_io_boxed(
            Box::new(tokio::io::stdin()),
            Box::new(tokio::io::stdout()),
            CodecConfig::default(),
        )
        .await
    }

    /// Serves on any byte stream pair (a socket, a pipe, a test's duplex stream) with the default
    /// codec limits.
    pub async fn serve_io<R, W>(self, reader: R, writer: W) -> std::io::Result<()>
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        self.serve_io_with(reader, writer, CodecConfig::default())
            .await
    }

    /// Like [`Server::serve_io`], with explicit size and nesting limits.
    pub async fn serve_io_with<R, W>(
        self,
        reader: R,
        writer: W,
        codec: CodecConfig,
    ) -> std::io::Result<()>
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        // The streams behind pointers and the loop boxed by a plain function of this crate:
        // see "Entry points" in `lib.rs`.
        self.serve_io_boxed(Box::new(reader), Box::new(writer), codec)
            .await
    }

    fn serve_io_boxed<'a>(
        self,
        reader: Box<dyn AsyncRead + Unpin + Send + 'a>,
        writer: Box<dyn AsyncWrite + Unpin + Send>,
        codec: CodecConfig,
    ) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(self.serve_io_unboxed(reader, writer, codec))
    }

    async fn serve_io_unboxed(
        self,
        mut reader: Box<dyn AsyncRead + Unpin + Send + '_>,
        writer: Box<dyn AsyncWrite + Unpin + Send>,
        codec: CodecConfig,
    ) -> std::io::Result<()> {
        let (lines, writer_task) = Lines::open(writer);
        let writer_task = tokio::spawn(writer_task);
        let sink = Sink::lines(lines.clone());
        let conn = Connection::new(self, sink.clone());
        let mut decoder = LineDecoder::new(codec);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    conn.end_session("the connection failed");
                    return Err(e);
                }
            };
            if n == 0 {
                break;
            }
            decoder.push(&buf[..n]);
            // Several messages in one read (a client that does not wait for each answer): the
            // answers of those that answer at once leave together, in one write.
            let _cork = memchr::memchr_iter(b'\n', &buf[..n])
                .nth(1)
                .map(|_| lines.cork());
            while let Some(item) = decoder.decode_next() {
                match item {
                    Ok(message) => conn.handle(message, sink.clone()).await,
                    Err(e) => {
                        sink.send_reliable(JsonRpcMessage::Error(e.into_response()))
                            .await;
                    }
                }
            }
        }
        if let Some(item) = decoder.finish() {
            match item {
                Ok(message) => conn.handle(message, sink.clone()).await,
                Err(e) => {
                    sink.send_reliable(JsonRpcMessage::Error(e.into_response()))
                        .await;
                }
            }
        }
        conn.drain(GRACE).await;
        conn.end_session("end of input");
        conn.close();
        drop(conn);
        drop(sink);
        drop(lines);
        writer_task.await.map_err(std::io::Error::other)?
    }
}

/// Standard input and output as non-blocking pipes on the runtime's reactor: a read or a write
/// is a syscall on the task's own thread, not a hand-off to a blocking thread and back (which
/// costs each message two thread wake-ups).
#[cfg(unix)]
mod pipe {
    use std::io;
    use std::os::fd::{BorrowedFd, OwnedFd};
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use rustix::fs::{FileType, OFlags};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::unix::pipe::{Receiver, Sender};

    enum End {
        Read(Receiver),
        Write(Sender),
        /// A stream socket (hosts built on libuv, such as Node.js, give their children
        /// socket pairs as stdio).
        Socket(tokio::net::UnixStream),
    }

    /// A duplicate of fd 0 (read) or 1 (written), set non-blocking; its original flags come
    /// back when dropped (a duplicate shares them with the original descriptor).
    pub(super) struct Pipe {
        end: End,
        /// Another duplicate, to restore the flags through.
        restore: OwnedFd,
        flags: OFlags,
    }

    impl Pipe {
        /// `fd` as a non-blocking pipe (`flags`: its flags before, restored when dropped), if it
        /// is a pipe or a stream socket (never a terminal or a file, whose flags other processes
        /// may share and which the reactor cannot watch; never a datagram socket, which is not a
        /// byte stream).
        pub(super) fn open(fd: BorrowedFd<'_>, flags: OFlags) -> Option<Pipe> {
            let stat = rustix::fs::fstat(fd).ok()?;
            let kind = FileType::from_raw_mode(stat.st_mode);
            let stream = match kind {
                FileType::Fifo => true,
                FileType::Socket => rustix::net::sockopt::socket_type(fd)
                    .is_ok_and(|t| t == rustix::net::SocketType::STREAM),
                _ => false,
            };
            if !stream {
                return None;
            }
            let restore = rustix::io::fcntl_dupfd_cloexec(fd, 3).ok()?;
            let dup = rustix::io::fcntl_dupfd_cloexec(fd, 3).ok()?;
            let end = if kind == FileType::Socket {
                let socket = std::os::unix::net::UnixStream::from(dup);
                socket
                    .set_nonblocking(true)
                    .and_then(|()| tokio::net::UnixStream::from_std(socket))
                    .map(End::Socket)
            } else if flags.contains(OFlags::WRONLY) {
                // Tokio checks the access mode and sets the pipe non-blocking.
                Sender::from_owned_fd(dup).map(End::Write)
            } else {
                Receiver::from_owned_fd(dup).map(End::Read)
            };
            match end {
                Ok(end) => Some(Pipe {
                    end,
                    restore,
                    flags,
                }),
                Err(_) => {
                    let _ = rustix::fs::fcntl_setfl(&restore, flags);
                    None
                }
            }
        }
    }

    impl Drop for Pipe {
        fn drop(&mut self) {
            let _ = rustix::fs::fcntl_setfl(&self.restore, self.flags);
        }
    }

    impl AsyncRead for Pipe {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            match &mut self.get_mut().end {
                End::Read(r) => Pin::new(r).poll_read(cx, buf),
                End::Socket(s) => Pin::new(s).poll_read(cx, buf),
                End::Write(_) => Poll::Ready(Err(io::Error::other("a pipe open for writing"))),
            }
        }
    }

    impl AsyncWrite for Pipe {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bytes: &[u8],
        ) -> Poll<io::Result<usize>> {
            match &mut self.get_mut().end {
                End::Write(w) => Pin::new(w).poll_write(cx, bytes),
                End::Socket(s) => Pin::new(s).poll_write(cx, bytes),
                End::Read(_) => Poll::Ready(Err(io::Error::other("a pipe open for reading"))),
            }
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[cfg(test)]
    mod tests {
        use std::os::fd::AsFd as _;

        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

        use super::*;

        #[tokio::test]
        async fn a_pipe_is_read_and_written_without_blocking_and_its_flags_come_back() {
            let (read_end, write_end) = rustix::pipe::pipe().unwrap();
            let before = rustix::fs::fcntl_getfl(&read_end).unwrap();
            let mut reader = Pipe::open(read_end.as_fd(), before).expect("a pipe");
            let write_flags = rustix::fs::fcntl_getfl(&write_end).unwrap();
            let mut writer = Pipe::open(write_end.as_fd(), write_flags).expect("a pipe");
            assert!(
                rustix::fs::fcntl_getfl(&read_end)
                    .unwrap()
                    .contains(OFlags::NONBLOCK)
            );
            let sent = tokio::spawn(async move {
                // More than a pipe holds: the writer waits for the reader.
                let big = vec![b'x'; 1 << 20];
                writer.write_all(&big).await.unwrap();
            });
            let mut got = vec![0u8; 1 << 20];
            reader.read_exact(&mut got).await.unwrap();
            sent.await.unwrap();
            assert!(got.iter().all(|b| *b == b'x'));
            drop(reader);
            assert_eq!(rustix::fs::fcntl_getfl(&read_end).unwrap(), before);
        }

        #[tokio::test]
        async fn a_socket_pair_serves_as_stdio_and_its_flags_come_back() {
            let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
            let before = rustix::fs::fcntl_getfl(&ours).unwrap();
            // One socket as both stdin and stdout, as an inetd-style parent may give.
            let mut reader = Pipe::open(ours.as_fd(), before).expect("a socket");
            let mut writer = Pipe::open(ours.as_fd(), before).expect("a socket");
            let mut theirs = tokio::net::UnixStream::from_std({
                theirs.set_nonblocking(true).unwrap();
                theirs
            })
            .unwrap();
            theirs.write_all(b"ping\n").await.unwrap();
            let mut got = [0u8; 5];
            reader.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"ping\n");
            writer.write_all(b"pong\n").await.unwrap();
            theirs.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"pong\n");
            drop((reader, writer));
            assert_eq!(rustix::fs::fcntl_getfl(&ours).unwrap(), before);
        }

        #[tokio::test]
        async fn a_datagram_socket_is_not_a_stream() {
            let (ours, _theirs) = std::os::unix::net::UnixDatagram::pair().unwrap();
            let flags = rustix::fs::fcntl_getfl(&ours).unwrap();
            assert!(Pipe::open(ours.as_fd(), flags).is_none());
        }

        #[tokio::test]
        async fn a_file_is_not_a_pipe() {
            let file = tempfile::tempfile().unwrap();
            let flags = rustix::fs::fcntl_getfl(&file).unwrap();
            assert!(Pipe::open(file.as_fd(), flags).is_none());
        }
    }
}
