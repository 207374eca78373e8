//! The accept loop of [`super::serve`]: HTTP/1.1 on hyper (over TLS if configured) with a header
//! read timeout, a write stall timeout, a bounded number of connections, and a graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tower::ServiceExt as _;

use super::service::{LocalAddr, McpService, PeerAddr};
use crate::identity::Identity;

/// The most bytes of request head (request line and headers) a connection may buffer.
const MAX_HEAD: usize = 64 * 1024;
/// The most headers a request may have.
const MAX_HEADERS: usize = 100;
/// Connections refused at once (the others over the limit are dropped without a word).
const MAX_REFUSING: usize = 64;
/// How long refusing a connection may take.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

pub(super) async fn run(
    service: McpService,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let config = service.shared.config.clone();
    let local = listener.local_addr()?;
    tracing::info!(address = %local, path = %config.path, "serving MCP over HTTP");
    let router = service.router();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(MAX_HEAD)
        .max_headers(MAX_HEADERS);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSING));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    if !is_transient(&e) {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if let Ok(permit) = refusals.clone().try_acquire_owned() {
                tokio::spawn(refuse(stream, permit));
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            http: http.clone(),
            watcher: graceful.watcher(),
            router: router.clone(),
            local,
            peer,
            write_timeout: config.write_timeout,
        };
        #[cfg(feature = "auth")]
        let tls = config.tls.clone();
        #[cfg(feature = "auth")]
        let handshake_timeout = config.header_read_timeout;
        tokio::spawn(async move {
            #[cfg(feature = "auth")]
            if let Some(tls) = tls {
                if let Some((stream, identity)) = tls.accept(stream, handshake_timeout).await {
                    connection.serve(stream, identity).await;
                }
                drop(slot);
                return;
            }
            connection.serve(stream, None).await;
            drop(slot);
        });
    }
    drop(listener);
    service.shutdown();
    let closed = graceful.shutdown();
    tokio::pin!(closed);
    if tokio::time::timeout(config.shutdown_grace, &mut closed)
        .await
        .is_err()
    {
        tracing::warn!("requests still running after the grace period: cancelled");
        service.close();
        let _ = tokio::time::timeout(REFUSAL_TIME, &mut closed).await;
    }
    service.close();
    Ok(())
}

/// What serving one accepted connection needs.
struct Connection {
    http: hyper::server::conn::http1::Builder,
    watcher: Watcher,
    router: axum::Router,
    local: SocketAddr,
    /// The client's address (for audit records of refused requests).
    peer: SocketAddr,
    write_timeout: Duration,
}

impl Connection {
    /// Serves HTTP/1.1 on `stream` (TCP, or TLS after the handshake); every request carries the
    /// local address, the client's (`PeerAddr`, and as `ConnectInfo<SocketAddr>`) and, after a
    /// client certificate was verified, the caller's identity.
    async fn serve<S>(self, stream: S, identity: Option<Identity>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            http,
            watcher,
            router,
            local,
            peer,
            write_timeout,
        } = self;
        let handler = service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(LocalAddr(local));
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            request.extensions_mut().insert(PeerAddr(peer));
            if let Some(identity) = &identity {
                request.extensions_mut().insert(identity.clone());
            }
            router.clone().oneshot(request.map(Body::new))
        });
        let io = TokioIo::new(WriteTimeout::new(stream, write_timeout));
        if let Err(e) = watcher.watch(http.serve_connection(io, handler)).await {
            tracing::debug!(error = %e, "connection closed with an error");
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// Answers a connection over the limit with 503. The request is read first (briefly), so that
/// closing does not reset the connection under the answer.
async fn refuse(mut stream: TcpStream, _permit: OwnedSemaphorePermit) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nretry-after: 1\r\nconnection: close\r\n\r\n";
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        let mut buf = [0u8; 4096];
        let _ = tokio::time::timeout(REFUSAL_TIME / 10, stream.read(&mut buf)).await;
        stream.write_all(BUSY).await?;
        stream.shutdown().await?;
        while stream.read(&mut buf).await? > 0 {}
        Ok::<_, io::Error>(())
    })
    .await;
}

/// A connection whose writes fail when the peer stops reading for `timeout`: a client that never
/// reads its SSE stream loses the connection instead of holding it forever.
struct WriteTimeout<T> {
    inner: T,
    timeout: Duration,
    stalled_since: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteTimeout<T> {
    fn new(inner: T, timeout: Duration) -> Self {
        WriteTimeout {
            inner,
            timeout,
            stalled_since: None,
        }
    }

    /// After a write that could not proceed: an error once it has not for `timeout`.
    fn stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.timeout;
        let deadline = self
            .stalled_since
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        deadline
            .as_mut()
            .poll(cx)
            .map(|()| io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading"))
    }

    fn progress<R>(
        &mut self,
        poll: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        match poll {
            Poll::Ready(r) => {
                self.stalled_since = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.stalled(cx).map(Err),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progress(poll, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progress(poll, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.progress(poll, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.progress(poll, cx)
    }
}
