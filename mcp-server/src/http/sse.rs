//! SSE streams: a bounded log of encoded events per stream, read by at most one HTTP response at
//! a time, and kept (legacy sessions) so that a client that reconnects with `Last-Event-ID` gets
//! what it missed.
//!
//! A stream's events are numbered from 1. On a resumable (legacy) stream each event carries the id
//! `{stream}-{number}`, unique within the session; the stream number tells a `Last-Event-ID` which
//! stream to resume, and only that stream is replayed. A modern stream has no ids: its reader is
//! its only consumer, and a reader that falls more than the buffer behind ends the stream, which
//! cancels the request.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, Response, StatusCode};
use bytes::{Bytes, BytesMut};
use mcp_core::codec::encode;
use mcp_core::{JsonRpcMessage, RequestId};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::peer::StreamControl;
use crate::session::Connection;
use crate::store::Store;

/// At most this much is written to a response in one piece.
const MAX_CHUNK: usize = 64 * 1024;

const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// Whether `message` is the response to the request `id`, the last message of its stream.
pub(super) fn is_final(message: &JsonRpcMessage, id: &RequestId) -> bool {
    match message {
        JsonRpcMessage::Response(r) => r.id == *id,
        JsonRpcMessage::Error(e) => e.id.as_ref() == Some(id),
        _ => false,
    }
}

/// The `retry` field alone, as its own event.
fn retry_event(retry: Duration) -> Bytes {
    Bytes::from(format!("retry: {}\n\n", retry.as_millis()))
}

/// An event with an id and no data: it gives the client a position to resume from before the
/// first message arrives (2025-11-25 and later).
pub(super) fn priming_event(stream: u64, last_seq: u64, retry: Duration) -> Bytes {
    Bytes::from(format!(
        "id: {stream}-{last_seq}\nretry: {}\ndata: \n\n",
        retry.as_millis()
    ))
}

/// Parses a `Last-Event-ID` of ours: `{stream}-{number}`.
pub(super) fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let (stream, seq) = id.trim().split_once('-')?;
    Some((stream.parse().ok()?, seq.parse().ok()?))
}

/// The first byte of an event kept in a store log: the request's response, which ends its stream.
const STORED_FINAL: u8 = b'F';
/// The first byte of any other event kept in a store log.
const STORED_OTHER: u8 = b'M';

/// How often a stream that another replica feeds is read again from the store.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// The SSE event numbered `seq` of stream `stream`, whose data is `data` (an encoded message,
/// ending with its newline).
fn format_event(stream: u64, seq: u64, data: &[u8]) -> Vec<u8> {
    let mut event = String::with_capacity(40 + data.len());
    let _ = write!(event, "id: {stream}-{seq}\nevent: message\ndata: ");
    let mut bytes = event.into_bytes();
    bytes.extend_from_slice(data);
    bytes.push(b'\n');
    bytes
}

/// An event as a store log keeps it: whether it is final, and its data.
fn stored(value: &[u8]) -> Option<(bool, &[u8])> {
    match value.split_first()? {
        (&STORED_FINAL, data) => Some((true, data)),
        (&STORED_OTHER, data) => Some((false, data)),
        _ => None,
    }
}

/// The events of store log entries, ready to send, for a reader resuming stream `stream`.
pub(super) fn replayed(stream: u64, entries: &[(u64, Vec<u8>)]) -> Bytes {
    let mut out = BytesMut::new();
    for (seq, value) in entries {
        if let Some((_, data)) = stored(value) {
            out.extend_from_slice(&format_event(stream, *seq, data));
        }
    }
    out.freeze()
}

/// Where the events of a resumable stream are also kept when legacy sessions are shared through
/// a store: a log of the store ([`Store::append`]), whose sequence numbers are the events'.
pub(super) struct StoreLog {
    store: Arc<dyn Store>,
    key: String,
    keep: usize,
    ttl: Duration,
    /// This replica appends one event at a time, so that its events are numbered in the order
    /// it queues them.
    order: tokio::sync::Mutex<()>,
}

impl StoreLog {
    pub(super) fn new(store: Arc<dyn Store>, key: String, keep: usize, ttl: Duration) -> Self {
        StoreLog {
            store,
            key,
            keep: keep.max(1),
            ttl,
            order: tokio::sync::Mutex::new(()),
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pushed {
    /// Queued.
    Queued,
    /// The stream already ended; the message was dropped.
    Ended,
    /// The reader fell more than the buffer behind: the stream ended (modern streams only).
    Overflowed,
}

struct LogState {
    /// `(number, encoded event)`, oldest first; at most `cap` of them.
    events: VecDeque<(u64, Bytes)>,
    next_seq: u64,
    /// The number of the last event dropped for room (0: none). Numbers may have gaps (a store
    /// log's, which other replicas append to), so this, not the oldest number held, tells a
    /// reader that fell behind.
    evicted: u64,
    cap: usize,
    /// No more events will come.
    done: bool,
    /// The stream holds its request's response (as opposed to ending without one).
    completed: bool,
    /// Bumped whenever a reader attaches or is sent away; a reader of an older generation ends.
    generation: u64,
    /// The next event the current reader needs (modern overflow detection).
    reader_cursor: u64,
    /// The current reader should stop before this event, send `retry` and end its connection.
    close_at: Option<(u64, Duration)>,
}

/// The events of one SSE stream.
pub(super) struct EventLog {
    id: u64,
    resumable: bool,
    /// With a store: where the events go first ([`EventLog::record`]).
    shared: Option<StoreLog>,
    state: Mutex<LogState>,
    notify: Notify,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("id", &self.id)
            .field("resumable", &self.resumable)
            .finish_non_exhaustive()
    }
}

impl EventLog {
    /// A stream holding at most `cap` events; `resumable` streams have event ids and outlive
    /// their readers.
    pub(super) fn new(id: u64, resumable: bool, cap: usize) -> Arc<Self> {
        Self::build(id, resumable, cap, None)
    }

    /// A resumable stream whose events are numbered and kept by the store log `shared`, so that
    /// any replica can replay them.
    pub(super) fn shared(id: u64, cap: usize, shared: StoreLog) -> Arc<Self> {
        Self::build(id, true, cap, Some(shared))
    }

    fn build(id: u64, resumable: bool, cap: usize, shared: Option<StoreLog>) -> Arc<Self> {
        Arc::new(EventLog {
            id,
            resumable,
            shared,
            state: Mutex::new(LogState {
                events: VecDeque::new(),
                next_seq: 1,
                evicted: 0,
                cap: cap.max(1),
                done: false,
                completed: false,
                generation: 0,
                reader_cursor: 1,
                close_at: None,
            }),
            notify: Notify::new(),
        })
    }

    pub(super) fn id(&self) -> u64 {
        self.id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state.lock().expect("not poisoned")
    }

    /// Whether no more events will come.
    pub(super) fn is_done(&self) -> bool {
        self.lock().done
    }

    /// Numbers the next events from `next` on (at least): a stream whose store log already
    /// holds events.
    pub(super) fn skip_to(&self, next: u64) {
        let mut st = self.lock();
        if st.events.is_empty() && next > st.next_seq {
            st.next_seq = next;
            st.reader_cursor = next;
        }
    }

    /// Appends a message, first to the store log when there is one (see [`EventLog::shared`]):
    /// the event then has the store's number. An append that fails is logged, and the event
    /// still goes to this replica's readers.
    pub(super) async fn record(&self, message: &JsonRpcMessage, last: bool) -> Pushed {
        let Some(shared) = &self.shared else {
            return self.push(message, last);
        };
        if self.is_done() {
            return Pushed::Ended;
        }
        let _order = shared.order.lock().await;
        let mut value = Vec::with_capacity(128);
        value.push(if last { STORED_FINAL } else { STORED_OTHER });
        encode(message, &mut value);
        let seq = match shared
            .store
            .append(&shared.key, &value, shared.keep, shared.ttl)
            .await
        {
            Ok(seq) => Some(seq),
            Err(e) => {
                tracing::warn!(
                    stream = self.id,
                    error = %e,
                    "an SSE event was not saved to the shared store: only this replica can replay it"
                );
                None
            }
        };
        self.push_encoded(seq, &value[1..], last)
    }

    /// Appends an encoded message numbered `seq` (`None`, or a number this stream already
    /// passed: the next number).
    fn push_encoded(&self, seq: Option<u64>, data: &[u8], last: bool) -> Pushed {
        let mut st = self.lock();
        if st.done {
            return Pushed::Ended;
        }
        let seq = seq.map_or(st.next_seq, |s| s.max(st.next_seq));
        let event = format_event(self.id, seq, data);
        st.next_seq = seq + 1;
        st.events.push_back((seq, Bytes::from(event)));
        self.queued(st, last)
    }

    /// Appends a message; `last` marks the request's response, which ends the stream.
    pub(super) fn push(&self, message: &JsonRpcMessage, last: bool) -> Pushed {
        let mut st = self.lock();
        if st.done {
            return Pushed::Ended;
        }
        let seq = st.next_seq;
        let mut event = String::with_capacity(64);
        if self.resumable {
            let _ = writeln!(event, "id: {}-{seq}", self.id);
        }
        event.push_str("event: message\ndata: ");
        let mut bytes = event.into_bytes();
        encode(message, &mut bytes);
        bytes.push(b'\n');
        st.next_seq += 1;
        st.events.push_back((seq, Bytes::from(bytes)));
        self.queued(st, last)
    }

    /// The end of a push: the buffer bound, the end of the stream, the readers woken.
    fn queued(&self, mut st: std::sync::MutexGuard<'_, LogState>, last: bool) -> Pushed {
        let mut outcome = Pushed::Queued;
        if st.events.len() > st.cap
            && let Some((evicted, _)) = st.events.pop_front()
        {
            st.evicted = evicted;
            if !self.resumable && evicted >= st.reader_cursor {
                st.done = true;
                outcome = Pushed::Overflowed;
            }
        }
        if last && outcome == Pushed::Queued {
            st.done = true;
            st.completed = true;
        }
        drop(st);
        self.notify.notify_waiters();
        outcome
    }

    /// Ends the stream without a response (the request was cancelled, the session closed).
    pub(super) fn finish(&self) {
        self.lock().done = true;
        self.notify.notify_waiters();
    }

    /// Asks the current reader to end its connection after the events pushed so far, with a
    /// `retry` hint; the stream itself goes on. `false` when the stream already ended.
    pub(super) fn close_connection(&self, retry: Duration) -> bool {
        let mut st = self.lock();
        if st.done {
            return false;
        }
        st.close_at = Some((st.next_seq, retry));
        drop(st);
        self.notify.notify_waiters();
        true
    }

    /// A reader of the events after number `after` (`None`: of events still to come), which
    /// replaces the current reader, if any.
    pub(super) fn attach(self: &Arc<Self>, after: Option<u64>) -> Reader {
        let mut st = self.lock();
        st.generation += 1;
        st.close_at = None;
        let oldest = st.events.front().map_or(st.next_seq, |e| e.0);
        let cursor = match after {
            None => st.next_seq,
            Some(seq) => {
                let wanted = seq.saturating_add(1).min(st.next_seq);
                if wanted <= st.evicted {
                    tracing::warn!(
                        stream = self.id,
                        lost = st.evicted + 1 - wanted,
                        "resumed stream: events no longer held are lost"
                    );
                }
                wanted.max(oldest)
            }
        };
        st.reader_cursor = cursor;
        let generation = st.generation;
        drop(st);
        self.notify.notify_waiters();
        Reader {
            log: self.clone(),
            generation,
            cursor,
            prelude: None,
            keep_alive: None,
            stop: CancellationToken::new(),
            ended: false,
            guards: Vec::new(),
            on_complete: None,
        }
    }

    /// The next piece for the reader, or `None` when it must wait.
    fn take(&self, reader: &mut Reader) -> Option<Step> {
        let mut st = self.lock();
        if st.generation != reader.generation {
            return Some(Step::End);
        }
        if reader.cursor <= st.evicted {
            tracing::debug!(stream = self.id, "SSE reader fell behind: stream closed");
            return Some(Step::End);
        }
        let oldest = st.events.front().map_or(st.next_seq, |e| e.0);
        let limit = st
            .close_at
            .map_or(st.next_seq, |(at, _)| at.min(st.next_seq));
        if reader.cursor < limit {
            let mut skip =
                usize::try_from(reader.cursor.saturating_sub(oldest)).unwrap_or(usize::MAX);
            if st.events.get(skip).is_none_or(|e| e.0 != reader.cursor) {
                // Numbers with gaps: a store log's, where other replicas append too.
                skip = st.events.partition_point(|e| e.0 < reader.cursor);
            }
            let mut chunk = BytesMut::new();
            for (seq, event) in st.events.iter().skip(skip) {
                if *seq >= limit || (!chunk.is_empty() && chunk.len() + event.len() > MAX_CHUNK) {
                    break;
                }
                chunk.extend_from_slice(event);
                reader.cursor = seq + 1;
            }
            st.reader_cursor = reader.cursor;
            return Some(Step::Data(chunk.freeze()));
        }
        if let Some((_, retry)) = st.close_at.take() {
            // Send the reader away; the stream waits for the client to come back.
            st.generation += 1;
            return Some(Step::Last(retry_event(retry)));
        }
        if st.done {
            return Some(if st.completed {
                Step::Completed
            } else {
                Step::End
            });
        }
        None
    }
}

enum Step {
    Data(Bytes),
    /// Send this, then end.
    Last(Bytes),
    /// The response was sent: end.
    Completed,
    End,
}

/// One HTTP response reading a stream.
pub(super) struct Reader {
    log: Arc<EventLog>,
    generation: u64,
    cursor: u64,
    prelude: Option<Bytes>,
    keep_alive: Option<Duration>,
    stop: CancellationToken,
    ended: bool,
    /// Held while the response lives (session activity, cancellation on drop).
    guards: Vec<Box<dyn std::any::Any + Send + Sync>>,
    on_complete: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Reader {
    /// The number of the last event this reader skips or has sent (0: none).
    pub(super) fn position(&self) -> u64 {
        self.cursor - 1
    }

    /// Sends `event` before anything else.
    pub(super) fn prelude(mut self, event: Bytes) -> Self {
        self.prelude = Some(event);
        self
    }

    /// Sends a comment when there has been nothing to send for `interval`.
    pub(super) fn keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.keep_alive = interval;
        self
    }

    /// Ends the response when `stop` is cancelled.
    pub(super) fn stop_on(mut self, stop: CancellationToken) -> Self {
        self.stop = stop;
        self
    }

    /// Keeps `guard` alive as long as the response.
    pub(super) fn guard(mut self, guard: impl Send + Sync + 'static) -> Self {
        self.guards.push(Box::new(guard));
        self
    }

    /// Runs `f` once the response has carried the request's result.
    pub(super) fn on_complete(mut self, f: impl FnOnce() + Send + Sync + 'static) -> Self {
        self.on_complete = Some(Box::new(f));
        self
    }

    async fn next(&mut self) -> Option<Bytes> {
        if self.ended {
            return None;
        }
        if let Some(prelude) = self.prelude.take() {
            return Some(prelude);
        }
        loop {
            let log = self.log.clone();
            let notified = log.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match log.take(self) {
                Some(Step::Data(bytes)) => return Some(bytes),
                Some(Step::Last(bytes)) => {
                    self.ended = true;
                    return Some(bytes);
                }
                Some(Step::Completed) => {
                    if let Some(f) = self.on_complete.take() {
                        f();
                    }
                    self.ended = true;
                    return None;
                }
                Some(Step::End) => {
                    self.ended = true;
                    return None;
                }
                None => {}
            }
            let keep_alive = async {
                match self.keep_alive {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut notified => {}
                () = self.stop.cancelled() => {
                    self.ended = true;
                    return None;
                }
                () = keep_alive => return Some(Bytes::from_static(KEEP_ALIVE)),
            }
        }
    }

    /// The `text/event-stream` response that carries the stream.
    pub(super) fn into_response(self) -> Response<Body> {
        let body = futures::stream::unfold(self, |mut reader| async move {
            let chunk = reader.next().await?;
            Some((Ok::<_, Infallible>(chunk), reader))
        });
        let mut response = Response::new(Body::from_stream(body));
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        response
    }
}

/// A request's handle on its stream, for [`crate::http::close_sse_stream`]: the request may end
/// the connection early and have the client reconnect.
pub(super) struct EarlyClose {
    /// Whether the client can resume (a legacy session at 2025-11-25 or later, streaming).
    allowed: bool,
    default_retry: Duration,
    requested: Mutex<Option<Duration>>,
    notify: Notify,
}

impl EarlyClose {
    pub(super) fn new(allowed: bool, default_retry: Duration) -> Arc<Self> {
        Arc::new(EarlyClose {
            allowed,
            default_retry,
            requested: Mutex::new(None),
            notify: Notify::new(),
        })
    }

    /// Completes with the `retry` hint when the request asks for its connection to be closed.
    pub(super) async fn requested(&self) -> Duration {
        loop {
            if let Some(retry) = self.requested.lock().expect("not poisoned").take() {
                return retry;
            }
            self.notify.notified().await;
        }
    }
}

impl StreamControl for EarlyClose {
    fn close_connection(&self, retry: Option<Duration>) -> bool {
        if !self.allowed {
            return false;
        }
        *self.requested.lock().expect("not poisoned") = Some(retry.unwrap_or(self.default_retry));
        self.notify.notify_one();
        true
    }
}

async fn close_requested(early_close: Option<&EarlyClose>) -> Duration {
    match early_close {
        Some(c) => c.requested().await,
        None => std::future::pending().await,
    }
}

/// Moves a request's messages (or a session's) from the engine to the stream's log, until the
/// response, the end of the messages, or the connection's close.
pub(super) async fn pump(
    mut rx: mpsc::Receiver<JsonRpcMessage>,
    log: Arc<EventLog>,
    request: Option<RequestId>,
    conn: Arc<Connection>,
    early_close: Option<Arc<EarlyClose>>,
) {
    let push = async |m: &JsonRpcMessage| -> bool {
        let last = request.as_ref().is_some_and(|id| is_final(m, id));
        let pushed = if log.shared.is_some() {
            log.record(m, last).await
        } else {
            log.push(m, last)
        };
        match pushed {
            Pushed::Queued => !last,
            Pushed::Ended => false,
            Pushed::Overflowed => {
                // Only modern streams overflow: their reader is gone, and so is the request.
                conn.close();
                false
            }
        }
    };
    loop {
        tokio::select! {
            biased;
            message = rx.recv() => match message {
                Some(m) => {
                    if !push(&m).await {
                        return;
                    }
                }
                None => break,
            },
            retry = close_requested(early_close.as_deref()) => {
                // What the request sent before asking goes out before the connection closes.
                while let Ok(m) = rx.try_recv() {
                    if !push(&m).await {
                        return;
                    }
                }
                log.close_connection(retry);
            }
            () = conn.closed() => break,
        }
    }
    log.finish();
}

/// A stream of this session that another replica feeds (or fed): what the store log `key` keeps,
/// `entries`, then what it gets from now on, read every [`FOLLOW_POLL`] until the stream's
/// response arrives or its reader goes away.
pub(super) fn follow(
    stream: u64,
    cap: usize,
    entries: Vec<(u64, Vec<u8>)>,
    store: Arc<dyn Store>,
    key: String,
) -> Arc<EventLog> {
    let log = EventLog::new(stream, true, cap.max(entries.len()));
    let mut after = 0;
    for (seq, value) in &entries {
        after = *seq;
        if let Some((last, data)) = stored(value) {
            log.push_encoded(Some(*seq), data, last);
        }
    }
    if !log.is_done() {
        let weak = Arc::downgrade(&log);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(FOLLOW_POLL).await;
                let Some(log) = weak.upgrade() else { return };
                if log.is_done() {
                    return;
                }
                match store.read_after(&key, after).await {
                    Ok(entries) => {
                        for (seq, value) in entries {
                            after = seq;
                            if let Some((last, data)) = stored(&value) {
                                log.push_encoded(Some(seq), data, last);
                            }
                        }
                    }
                    Err(e) => {
                        tracing::debug!(stream, error = %e, "a followed stream could not be read");
                    }
                }
            }
        });
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn note(n: u32) -> JsonRpcMessage {
        JsonRpcMessage::Notification(
            mcp_core::jsonrpc::JsonRpcNotification::new(format!("n/{n}"), &serde_json::json!({}))
                .unwrap(),
        )
    }

    async fn read_now(reader: &mut Reader) -> String {
        let mut out = String::new();
        while let Ok(Some(chunk)) =
            tokio::time::timeout(Duration::from_millis(50), reader.next()).await
        {
            out.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        out
    }

    fn ids(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("id: "))
            .map(str::to_owned)
            .collect()
    }

    #[tokio::test]
    async fn shared_logs_are_numbered_by_the_store_and_resume_across_gaps() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let key = "session:s:events:0".to_owned();
        let log = EventLog::shared(
            0,
            8,
            StoreLog::new(store.clone(), key.clone(), 8, Duration::from_secs(60)),
        );
        log.record(&note(1), false).await;
        // Another replica appends to the same log: this one's numbers skip it.
        store
            .append(&key, b"M{}\n", 8, Duration::from_secs(60))
            .await
            .unwrap();
        log.record(&note(3), false).await;
        log.record(&note(4), false).await;
        let mut reader = log.attach(Some(1));
        assert_eq!(ids(&read_now(&mut reader).await), ["0-3", "0-4"]);
        let mut reader = log.attach(Some(2));
        assert_eq!(ids(&read_now(&mut reader).await), ["0-3", "0-4"]);
        // The store holds all four, with the ids readers saw.
        let entries = store.read_after(&key, 1).await.unwrap();
        let replay = replayed(0, &entries);
        let text = std::str::from_utf8(&replay).unwrap();
        assert_eq!(ids(text), ["0-2", "0-3", "0-4"]);
        assert!(text.contains("n/3"));
    }

    #[tokio::test]
    async fn a_reader_waits_across_numbers_other_replicas_took() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let key = "session:s:events:0".to_owned();
        let ttl = Duration::from_secs(60);
        let log = EventLog::shared(0, 2, StoreLog::new(store.clone(), key.clone(), 2, ttl));
        let mut reader = log.attach(None);
        store.append(&key, b"M{}\n", 2, ttl).await.unwrap();
        store.append(&key, b"M{}\n", 2, ttl).await.unwrap();
        log.record(&note(3), false).await;
        assert_eq!(ids(&read_now(&mut reader).await), ["0-3"]);
        log.record(&note(4), false).await;
        log.record(&note(5), false).await;
        assert_eq!(ids(&read_now(&mut reader).await), ["0-4", "0-5"]);
        // Falling behind is still told apart from a gap: 3 is gone.
        let mut late = log.attach(Some(1));
        assert_eq!(ids(&read_now(&mut late).await), ["0-4", "0-5"]);
    }

    #[tokio::test]
    async fn a_store_outage_leaves_the_live_stream_going() {
        let memory = Arc::new(MemoryStore::new());
        let store: Arc<dyn Store> = memory.clone();
        let log = EventLog::shared(
            5,
            8,
            StoreLog::new(store, "k".into(), 8, Duration::from_secs(60)),
        );
        let mut reader = log.attach(None);
        log.record(&note(1), false).await;
        memory.set_available(false);
        assert_eq!(log.record(&note(2), false).await, Pushed::Queued);
        assert_eq!(ids(&read_now(&mut reader).await), ["5-1", "5-2"]);
    }

    #[tokio::test]
    async fn a_followed_stream_ends_with_its_response() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let ttl = Duration::from_secs(60);
        store.append("k", b"M{\"a\":1}\n", 8, ttl).await.unwrap();
        let entries = store.read_after("k", 0).await.unwrap();
        let log = follow(9, 8, entries, store.clone(), "k".into());
        let mut reader = log.attach(Some(0));
        store.append("k", b"F{\"b\":2}\n", 8, ttl).await.unwrap();
        let mut text = String::new();
        while let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), reader.next())
            .await
            .expect("the followed stream ends")
        {
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        assert_eq!(ids(&text), ["9-1", "9-2"]);
    }
}
