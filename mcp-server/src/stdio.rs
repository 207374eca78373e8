//! The stdio transport: newline-delimited JSON-RPC on standard input and output.
//!
//! Only MCP messages go to stdout; logs belong on stderr. At the end of input the server lets
//! running requests finish (a few seconds at most) and exits cleanly.

use std::time::Duration;

use mcp_core::JsonRpcMessage;
use mcp_core::codec::{CodecConfig, LineDecoder, encode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::peer::Sink;
use crate::server::Server;
use crate::session::Connection;

/// How long running requests may take to finish after the end of input.
const GRACE: Duration = Duration::from_secs(5);

impl Server {
    /// Serves on standard input and output until the end of input.
    pub async fn serve_stdio(self) -> std::io::Result<()> {
        self.serve_io(tokio::io::stdin(), tokio::io::stdout()).await
    }

    /// Serves on any byte stream pair (a socket, a pipe, a test's duplex stream) with the default
    /// codec limits.
    pub async fn serve_io<R, W>(self, reader: R, writer: W) -> std::io::Result<()>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        self.serve_io_with(reader, writer, CodecConfig::default())
            .await
    }

    /// Like [`Server::serve_io`], with explicit size and nesting limits.
    pub async fn serve_io_with<R, W>(
        self,
        mut reader: R,
        writer: W,
        codec: CodecConfig,
    ) -> std::io::Result<()>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<JsonRpcMessage>(1024);
        let writer_task = tokio::spawn(write_loop(writer, rx));
        let sink = Sink::new(tx);
        let conn = Connection::new(self, sink.clone());
        let mut decoder = LineDecoder::new(codec);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            decoder.push(&buf[..n]);
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
        conn.close();
        drop(conn);
        drop(sink);
        writer_task.await.map_err(std::io::Error::other)?
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::Receiver<JsonRpcMessage>,
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(4096);
    while let Some(message) = rx.recv().await {
        out.clear();
        encode(&message, &mut out);
        // Write whatever else is queued in the same syscall.
        while out.len() < 64 * 1024 {
            match rx.try_recv() {
                Ok(m) => encode(&m, &mut out),
                Err(_) => break,
            }
        }
        writer.write_all(&out).await?;
        writer.flush().await?;
    }
    writer.flush().await
}
