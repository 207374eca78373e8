//! The writer of a line-delimited connection (stdio, or any byte stream given to `serve_io`):
//! a sender writes its message itself when the stream is idle, and leaves it to the writer's task
//! only when the stream cannot take it at once.
//!
//! Through a queue, each message would wake the writer's task, which then writes it: when the
//! process slept between messages (a client that waits for each answer), that hand-off costs more
//! than the write. Here the message is encoded into the stream's pending bytes and, when nothing
//! was pending before it, written at once with a non-blocking write; what the stream does not
//! take stays pending for the task, which waits for the stream to take more. Messages leave in
//! the order they were sent, and messages sent while some are pending leave together, in one
//! write.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use mcp_core::JsonRpcMessage;
use mcp_core::codec::encode;
use tokio::io::AsyncWrite;
use tokio::sync::Notify;

/// Pending bytes beyond which a message that must arrive waits for room, and a notification is
/// dropped (a reader that stopped reading must not make the server hold its output without
/// bound).
const LIMIT: usize = 1 << 20;

/// A connection's output: see the module documentation.
pub(crate) struct Lines {
    state: Mutex<State>,
    /// Pending bytes the task must write (or the output was closed).
    work: Notify,
    /// The pending bytes fell below [`LIMIT`], or the stream failed.
    room: Notify,
}

struct State {
    writer: Box<dyn AsyncWrite + Unpin + Send>,
    /// Encoded messages not yet taken by the stream.
    pending: Vec<u8>,
    /// What of `pending` the stream took.
    written: usize,
    /// The task waits for the stream: a sender must not poll the stream itself (its waker would
    /// replace the task's).
    stalled: bool,
    /// A write or flush is owed since the last complete flush.
    unflushed: bool,
    /// Corks held: messages are left to the task, or to the last cork's release, so that the
    /// answers to a batch of requests leave in one write.
    corks: usize,
    /// No more messages will be sent (the last sender is gone).
    closed: bool,
    /// The stream failed: the first error, which the task returns.
    failed: Option<io::Error>,
    broken: bool,
}

impl State {
    fn backlog(&self) -> usize {
        self.pending.len() - self.written
    }

    /// Writes pending bytes, then flushes, until done (`Ready(Ok)`), the stream cannot take more
    /// now (`Pending`), or it fails.
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            match Pin::new(&mut self.writer).poll_write(cx, &self.pending[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.written += n;
                    self.unflushed = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.pending.clear();
        self.written = 0;
        if self.pending.capacity() > LIMIT {
            // A large message passed: give its room back.
            self.pending.shrink_to(4096);
        }
        if self.unflushed {
            std::task::ready!(Pin::new(&mut self.writer).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    fn fail(&mut self, e: io::Error) {
        self.broken = true;
        self.pending.clear();
        self.written = 0;
        if self.failed.is_none() {
            self.failed = Some(e);
        }
    }
}

impl Lines {
    /// The output over `writer`, and the task that writes what senders could not (run it; it ends
    /// once the last [`LinesSender`] is dropped and everything sent was written).
    pub(crate) fn open(
        writer: Box<dyn AsyncWrite + Unpin + Send>,
    ) -> (
        LinesSender,
        impl Future<Output = io::Result<()>> + Send + 'static,
    ) {
        let lines = Arc::new(Lines {
            state: Mutex::new(State {
                writer,
                pending: Vec::with_capacity(4096),
                written: 0,
                stalled: false,
                unflushed: false,
                corks: 0,
                closed: false,
                failed: None,
                broken: false,
            }),
            work: Notify::new(),
            room: Notify::new(),
        });
        let sender = LinesSender(Arc::new(SenderInner(lines.clone())));
        (sender, lines.run())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while encoding or writing leaves the state whole (bytes appended or not).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Encodes `message` into the pending bytes and, if nothing else was pending, writes it now
    /// (corked: wakes the task, which writes it if the cork is not released first).
    fn push(&self, state: &mut State, message: &JsonRpcMessage) {
        let idle = state.backlog() == 0 && !state.stalled;
        encode(message, &mut state.pending);
        if !idle {
            return;
        }
        if state.corks > 0 {
            self.work.notify_one();
            return;
        }
        self.write_now(state);
    }

    /// Writes what is pending from the sender's side; what the stream does not take is left to
    /// the task.
    fn write_now(&self, state: &mut State) {
        // A waker that does nothing: if the stream cannot take it all, the task polls again with
        // its own.
        let mut cx = Context::from_waker(Waker::noop());
        match state.drive(&mut cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => {
                state.fail(e);
                self.room.notify_waiters();
            }
            Poll::Pending => {
                state.stalled = true;
                self.work.notify_one();
            }
        }
    }

    async fn run(self: Arc<Self>) -> io::Result<()> {
        loop {
            self.work.notified().await;
            let done = std::future::poll_fn(|cx| {
                let mut state = self.lock();
                if state.broken {
                    return Poll::Ready(true);
                }
                match state.drive(cx) {
                    Poll::Pending => {
                        state.stalled = true;
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => state.fail(e),
                }
                state.stalled = false;
                Poll::Ready(state.closed || state.broken)
            })
            .await;
            self.room.notify_waiters();
            if done {
                break;
            }
        }
        match self.lock().failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Sends messages to a [`Lines`]; cheap to clone. When the last clone is dropped, the writer's
/// task writes what is pending and ends.
#[derive(Clone)]
pub(crate) struct LinesSender(Arc<SenderInner>);

struct SenderInner(Arc<Lines>);

impl Drop for SenderInner {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.closed = true;
        drop(state);
        self.0.work.notify_one();
    }
}

impl LinesSender {
    /// Sends a notification without waiting; dropped when the reader let [`LIMIT`] bytes pile
    /// up. `false` if it was not sent.
    pub(crate) fn send(&self, message: &JsonRpcMessage) -> bool {
        let lines = &self.0.0;
        let mut state = lines.lock();
        if state.broken || state.backlog() >= LIMIT {
            return false;
        }
        lines.push(&mut state, message);
        true
    }

    /// Holds the messages sent until the returned cork is dropped, then writes them together
    /// (the answers to the requests of one read). A message is never held for long: the
    /// writer's task writes it when it runs, cork or not, so that a sender that waits (for room,
    /// or for an answer to what it sent) while a cork is held does not wait forever.
    pub(crate) fn cork(&self) -> Cork<'_> {
        self.0.0.lock().corks += 1;
        Cork(&self.0.0)
    }

    /// Whether the stream failed (nothing sent arrives any more).
    pub(crate) fn is_broken(&self) -> bool {
        self.0.0.lock().broken
    }

    /// Sends a message that must arrive, waiting for room. `false` if the stream failed.
    pub(crate) async fn send_reliable(&self, message: &JsonRpcMessage) -> bool {
        let lines = &self.0.0;
        loop {
            let room = lines.room.notified();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            {
                let mut state = lines.lock();
                if state.broken {
                    return false;
                }
                if state.backlog() < LIMIT {
                    lines.push(&mut state, message);
                    return !state.broken;
                }
            }
            room.await;
        }
    }
}

/// See [`LinesSender::cork`].
pub(crate) struct Cork<'a>(&'a Lines);

impl Drop for Cork<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.corks -= 1;
        if state.corks == 0 && state.backlog() > 0 && !state.stalled && !state.broken {
            self.0.write_now(&mut state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn log(data: serde_json::Value) -> JsonRpcMessage {
        let params = serde_json::json!({ "level": "info", "data": data });
        JsonRpcMessage::Notification(
            mcp_core::JsonRpcNotification::new("notifications/message", &params).unwrap(),
        )
    }

    fn message(i: u64) -> JsonRpcMessage {
        log(i.into())
    }

    #[tokio::test]
    async fn messages_arrive_whole_and_in_order_when_the_reader_is_slow() {
        // A pipe that holds 4 KiB: most messages wait for the task.
        let (mut reader, writer) = tokio::io::duplex(4096);
        let (sender, task) = Lines::open(Box::new(writer));
        let task = tokio::spawn(task);
        let senders = tokio::spawn(async move {
            for i in 0..2000 {
                assert!(sender.send_reliable(&message(i)).await);
                if i % 100 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        let mut text = String::new();
        reader.read_to_string(&mut text).await.unwrap();
        senders.await.unwrap();
        task.await.unwrap().unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2000);
        for (i, line) in lines.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["params"]["data"], i as u64, "line {i}");
        }
    }

    #[tokio::test]
    async fn an_idle_stream_is_written_by_the_sender_itself() {
        let (mut reader, writer) = tokio::io::duplex(1 << 16);
        let (sender, task) = Lines::open(Box::new(writer));
        // The task is not running: the line can only have been written by `send_reliable`.
        assert!(sender.send_reliable(&message(7)).await);
        let mut buf = vec![0; 1024];
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), reader.read(&mut buf));
        let n = read.await.expect("the line was written").unwrap();
        assert!(buf[..n].ends_with(b"\n"));
        assert!(
            std::str::from_utf8(&buf[..n])
                .unwrap()
                .contains("\"data\":7")
        );
        drop(sender);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_cork_holds_answers_for_one_write_and_never_for_good() {
        let (mut reader, writer) = tokio::io::duplex(1 << 16);
        let (sender, task) = Lines::open(Box::new(writer));
        let mut buf = vec![0; 4096];
        let cork = sender.cork();
        for i in 0..3 {
            assert!(sender.send_reliable(&message(i)).await);
        }
        // Held: the task does not run, and the cork is not released.
        let read =
            tokio::time::timeout(std::time::Duration::from_millis(50), reader.read(&mut buf));
        assert!(read.await.is_err(), "written under a cork");
        drop(cork);
        let n = reader.read(&mut buf).await.unwrap();
        assert_eq!(
            buf[..n].iter().filter(|&&b| b == b'\n').count(),
            3,
            "one write"
        );
        // Under a cork that is not released, the task writes what waits.
        let task = tokio::spawn(task);
        let held = sender.cork();
        assert!(sender.send_reliable(&message(3)).await);
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), reader.read(&mut buf));
        let n = read.await.expect("the task wrote it").unwrap();
        assert!(
            std::str::from_utf8(&buf[..n])
                .unwrap()
                .contains("\"data\":3")
        );
        drop(held);
        drop(sender);
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn notifications_are_dropped_and_requests_wait_when_the_reader_stops() {
        let (mut reader, writer) = tokio::io::duplex(1024);
        let (sender, task) = Lines::open(Box::new(writer));
        let task = tokio::spawn(task);
        let big = log("x".repeat(64 * 1024).into());
        let mut sent = 0;
        while sender.send(&big) {
            sent += 1;
            assert!(sent < 100, "the backlog has no bound");
        }
        // A message that must arrive waits for room instead.
        let waiting = tokio::spawn({
            let sender = sender.clone();
            async move { sender.send_reliable(&message(1)).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(sender);
        let mut text = String::new();
        reader.read_to_string(&mut text).await.unwrap();
        assert!(waiting.await.unwrap());
        task.await.unwrap().unwrap();
        assert_eq!(text.lines().count(), sent + 1);
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last["params"]["data"], 1);
    }

    #[tokio::test]
    async fn a_failed_stream_is_reported_to_senders_and_by_the_task() {
        let (reader, writer) = tokio::io::duplex(64);
        drop(reader);
        let (sender, task) = Lines::open(Box::new(writer));
        let task = tokio::spawn(task);
        assert!(!sender.send_reliable(&message(1)).await);
        assert!(!sender.send(&message(2)));
        drop(sender);
        let error = task.await.unwrap().expect_err("the write failed");
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe, "{error}");
    }
}
