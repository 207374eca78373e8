//! Legacy sessions: one engine connection per `Mcp-Session-Id`, with its GET stream and the
//! streams of its requests, closed on DELETE, when idle too long, or at shutdown.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_core::ProtocolVersion;
use mcp_core::types::{ClientCapabilities, Implementation, LoggingLevel};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::config::HttpConfig;
use super::sse::{self, EventLog, StoreLog};
use crate::identity::Principal;
use crate::peer::Sink;
use crate::server::Server;
use crate::session::{Connection, LegacyState};
use crate::store::{Store, StoreError};

/// Finished request streams a session keeps for a client that has not read them to the end.
const RETAINED_STREAMS: usize = 32;

/// A session id: 128 bits from the OS random source, as 32 lowercase hex digits.
fn new_session_id() -> Arc<str> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    crate::trace::hex(&bytes).into()
}

/// How often, at most, a shared session's record is written again only to push its expiry back.
const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// Where the sessions of an endpoint are shared with the other replicas of its server.
pub(super) struct Backing {
    pub(super) store: Arc<dyn Store>,
    /// The session idle timeout: how long records and event logs live without activity.
    pub(super) ttl: Duration,
    /// How many events each stream's log keeps.
    pub(super) keep: usize,
    /// This replica's name on the bus, to tell its own messages apart.
    pub(super) replica: String,
}

impl Backing {
    fn refresh_every(&self) -> Duration {
        REFRESH_EVERY.min(self.ttl / 4)
    }
}

/// The topic of the store's bus on which a replica passes a session's new record to the others
/// that hold the session ([`Changed`]).
pub(super) const SESSION_CHANGED: &str = "session-changed";

/// The topic of the store's bus on which a replica tells the others that it writes a session's
/// GET stream from now on ([`Home`]).
pub(super) const SESSION_HOME: &str = "session-home";

/// A session's new record, as a replica passes it to the others.
#[derive(Debug, Serialize, Deserialize)]
struct Changed {
    origin: String,
    record: Record,
}

/// A replica's claim to write a session's GET stream, numbered by the store: of two claims, the
/// later (greater) wins.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Home {
    pub(super) id: String,
    pub(super) claim: u64,
}

/// The store key of session `id`'s record.
pub(super) fn record_key(id: &str) -> String {
    format!("session:{id}")
}

/// The store key of the event log of stream `stream` of session `id`.
pub(super) fn stream_key(id: &str, stream: u64) -> String {
    format!("session:{id}:events:{stream}")
}

/// The store key of the log whose numbers order the claims to write session `id`'s GET stream.
fn home_key(id: &str) -> String {
    format!("session:{id}:home")
}

/// Whether `id` looks like one of our session ids, worth looking up in the store.
pub(super) fn plausible_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The owner of a session, as its record holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct OwnerRecord {
    #[serde(default)]
    issuer: Option<String>,
    subject: String,
}

/// What the store holds of a session: enough for any replica to serve it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Record {
    id: String,
    protocol_version: String,
    client_info: Implementation,
    capabilities: ClientCapabilities,
    #[serde(default)]
    owner: Option<OwnerRecord>,
    #[serde(default)]
    initialized: bool,
    #[serde(default)]
    log_level: Option<LoggingLevel>,
    #[serde(default)]
    subscriptions: Vec<String>,
}

impl Record {
    fn of(id: &str, owner: Option<&Principal>, state: LegacyState) -> Self {
        Record {
            id: id.to_owned(),
            protocol_version: state.version.as_str().to_owned(),
            client_info: state.client_info,
            capabilities: state.client_capabilities,
            owner: owner.map(|p| OwnerRecord {
                issuer: p.issuer().map(str::to_owned),
                subject: p.subject().to_owned(),
            }),
            initialized: state.initialized,
            log_level: state.log_level,
            subscriptions: state.subscriptions.into_iter().collect(),
        }
    }

    /// The record stored under `id`, if it reads as one.
    pub(super) fn decode(id: &str, bytes: &[u8]) -> Option<Self> {
        let record: Record = serde_json::from_slice(bytes)
            .inspect_err(
                |e| tracing::warn!(session = id, error = %e, "an unreadable session record"),
            )
            .ok()?;
        (record.id == id && ProtocolVersion::parse(&record.protocol_version).is_some())
            .then_some(record)
    }

    /// A record another replica passed on the store's bus ([`SESSION_CHANGED`]); `None` for
    /// this replica's own.
    pub(super) fn from_message(bytes: &[u8], replica: &str) -> Option<Self> {
        let message: Changed = serde_json::from_slice(bytes).ok()?;
        (message.origin != replica && plausible_id(&message.record.id)).then_some(message.record)
    }

    /// The session's id.
    pub(super) fn id(&self) -> &str {
        &self.id
    }

    /// Whose session it is.
    pub(super) fn owner(&self) -> Option<Principal> {
        self.owner
            .as_ref()
            .map(|o| Principal::new(o.issuer.clone(), o.subject.clone()))
    }

    fn state(&self) -> Option<LegacyState> {
        Some(LegacyState {
            version: ProtocolVersion::parse(&self.protocol_version)?,
            client_capabilities: self.capabilities.clone(),
            client_info: self.client_info.clone(),
            log_level: self.log_level,
            initialized: self.initialized,
            subscriptions: self.subscriptions.iter().cloned().collect(),
        })
    }
}

/// A random number, nonzero, under 2^52: where a replica numbers the request streams of a shared
/// session from, so that two replicas do not give the same number to different streams.
fn stream_base() -> u64 {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    (u64::from(u32::from_le_bytes(bytes)) | 1) << 20
}

/// What a shared session keeps about its record.
struct Saved {
    /// The connection's revision last written.
    revision: Option<u64>,
    at: Instant,
}

struct Streams {
    last_id: u64,
    open: BTreeMap<u64, Arc<EventLog>>,
}

/// One legacy session.
pub(super) struct Session {
    pub(super) id: Arc<str>,
    /// Who created the session: requests of any other principal are refused as if the session
    /// did not exist. Without authentication it is `None`, and the session id alone admits.
    owner: Option<Principal>,
    /// Whose quota of sessions it counts against.
    caller: Caller,
    pub(super) conn: Arc<Connection>,
    /// Stream 0: what the session sends outside of requests, read by the GET stream.
    pub(super) standalone: Arc<EventLog>,
    streams: Mutex<Streams>,
    last_active: Mutex<Instant>,
    /// Requests being answered and streams being read: while any, the session is not idle.
    busy: AtomicUsize,
    /// With a store: where the session's record and event logs are.
    backing: Option<Arc<Backing>>,
    /// The last write of the record (and the lock that keeps writes in order).
    saved: tokio::sync::Mutex<Saved>,
    /// A write that only pushes the expiry back is under way.
    refreshing: AtomicBool,
    /// Whether this replica writes the session's GET stream (stream 0): the server's
    /// notifications reach every replica that holds the session, and only one of them, the one
    /// that took the session over or opened its GET stream last, passes them on. Always true
    /// without a store.
    home: Arc<AtomicBool>,
    /// This replica's last claim to be the home (0: none, the replica that created the session).
    claim: AtomicU64,
    /// Closed here: the record is no longer written from this replica (a write that was late
    /// would bring a deleted session back).
    ended: AtomicBool,
}

impl Session {
    pub(super) fn new(
        server: Server,
        config: &HttpConfig,
        owner: Option<Principal>,
        caller: Caller,
        backing: Option<Arc<Backing>>,
    ) -> Arc<Self> {
        Self::build(server, config, new_session_id(), owner, caller, backing)
    }

    /// The session a record of the store describes, served from now on by this replica too.
    pub(super) fn adopt(
        server: Server,
        config: &HttpConfig,
        record: &Record,
        caller: Caller,
        backing: Arc<Backing>,
    ) -> Option<Arc<Self>> {
        let state = record.state()?;
        let session = Self::build(
            server,
            config,
            record.id.as_str().into(),
            record.owner(),
            caller,
            Some(backing),
        );
        session.conn.restore(state);
        // The record is what the store holds: nothing to write until something changes.
        session.saved.try_lock().expect("not shared yet").revision = Some(session.conn.revision());
        Some(session)
    }

    fn build(
        server: Server,
        config: &HttpConfig,
        id: Arc<str>,
        owner: Option<Principal>,
        caller: Caller,
        backing: Option<Arc<Backing>>,
    ) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(config.event_buffer);
        let max_in_flight = config
            .max_in_flight
            .unwrap_or(server.inner.options.max_in_flight);
        let conn = Connection::session(server, Sink::new(tx), max_in_flight, Some(id.clone()));
        let standalone = match &backing {
            None => EventLog::new(0, true, config.event_buffer),
            Some(b) => EventLog::shared(
                0,
                config.event_buffer,
                StoreLog::new(b.store.clone(), stream_key(&id, 0), b.keep, b.ttl),
            ),
        };
        let home = Arc::new(AtomicBool::new(true));
        let rx = if backing.is_some() {
            // Only the home replica writes the GET stream: the others drop what they would.
            let (home_tx, home_rx) = mpsc::channel(config.event_buffer);
            let home = home.clone();
            let mut rx = rx;
            tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    if home.load(Ordering::SeqCst) && home_tx.send(m).await.is_err() {
                        return;
                    }
                }
            });
            home_rx
        } else {
            rx
        };
        tokio::spawn(sse::pump(rx, standalone.clone(), None, conn.clone(), None));
        // Request streams are numbered from here on: a random base when other replicas number
        // this session's streams too.
        let stream_base = if backing.is_some() { stream_base() } else { 0 };
        let session = Arc::new(Session {
            id,
            owner,
            caller,
            conn,
            standalone,
            streams: Mutex::new(Streams {
                last_id: stream_base,
                open: BTreeMap::new(),
            }),
            last_active: Mutex::new(Instant::now()),
            busy: AtomicUsize::new(0),
            backing,
            saved: tokio::sync::Mutex::new(Saved {
                revision: None,
                at: Instant::now(),
            }),
            refreshing: AtomicBool::new(false),
            home,
            claim: AtomicU64::new(0),
            ended: AtomicBool::new(false),
        });
        if session.backing.is_some() {
            // A change the client makes by a request (log level, subscriptions) is written
            // before the request is answered.
            let weak = Arc::downgrade(&session);
            session.conn.on_change(Box::new(move || {
                let weak = weak.clone();
                Box::pin(async move {
                    if let Some(session) = weak.upgrade() {
                        session.save_if_changed().await;
                    }
                })
            }));
        }
        session
    }

    /// Where the session is shared, if it is.
    pub(super) fn backing(&self) -> Option<&Arc<Backing>> {
        self.backing.as_ref()
    }

    /// Writes the session's record to the store (with a store; otherwise does nothing).
    pub(super) async fn save(&self) -> Result<(), StoreError> {
        let Some(backing) = &self.backing else {
            return Ok(());
        };
        let mut saved = self.saved.lock().await;
        if self.ended.load(Ordering::SeqCst) {
            return Ok(());
        }
        let revision = self.conn.revision();
        let Some(state) = self.conn.legacy_state() else {
            return Ok(());
        };
        let record = Record::of(&self.id, self.owner.as_ref(), state);
        let bytes = serde_json::to_vec(&record).expect("a record serializes");
        backing
            .store
            .put(&record_key(&self.id), &bytes, backing.ttl)
            .await?;
        let changed = saved.revision.is_some_and(|r| r != revision);
        saved.revision = Some(revision);
        saved.at = Instant::now();
        if changed {
            // The other replicas that hold the session apply the change too.
            let message = serde_json::to_vec(&Changed {
                origin: backing.replica.clone(),
                record,
            })
            .expect("serializes");
            if let Err(e) = backing.store.publish(SESSION_CHANGED, &message).await {
                tracing::debug!(session = %self.id, error = %e, "a session change was not passed to the other replicas");
            }
        }
        Ok(())
    }

    /// Applies a change the client made through another replica.
    pub(super) fn apply(&self, record: &Record) {
        if let Some(state) = record.state() {
            self.conn.update(&state);
        }
    }

    /// Makes this replica the one that writes the session's GET stream, and tells the others.
    pub(super) async fn claim_home(&self) {
        let Some(backing) = &self.backing else {
            return;
        };
        match backing
            .store
            .append(&home_key(&self.id), b"", 1, backing.ttl)
            .await
        {
            Ok(claim) => {
                self.claim.fetch_max(claim, Ordering::SeqCst);
                self.home.store(true, Ordering::SeqCst);
                let message = serde_json::to_vec(&Home {
                    id: self.id.to_string(),
                    claim,
                })
                .expect("serializes");
                if let Err(e) = backing.store.publish(SESSION_HOME, &message).await {
                    tracing::debug!(session = %self.id, error = %e, "the other replicas were not told which one writes the GET stream");
                }
            }
            Err(e) => {
                // Better twice than never.
                self.home.store(true, Ordering::SeqCst);
                tracing::debug!(session = %self.id, error = %e, "the GET stream claimed without the store");
            }
        }
    }

    /// Another replica claimed the session's GET stream: unless this one's claim is later, it
    /// stops writing it.
    pub(super) fn yield_home(&self, claim: u64) {
        if claim > self.claim.load(Ordering::SeqCst) {
            self.home.store(false, Ordering::SeqCst);
        }
    }

    /// Ends the session for every replica (DELETE): its record and its GET stream's log leave
    /// the store, after any write of the record under way.
    pub(super) async fn delete_shared(&self) -> Result<(), StoreError> {
        let Some(backing) = &self.backing else {
            return Ok(());
        };
        self.ended.store(true, Ordering::SeqCst);
        let _saved = self.saved.lock().await;
        backing.store.delete(&record_key(&self.id)).await?;
        for key in [stream_key(&self.id, 0), home_key(&self.id)] {
            if let Err(e) = backing.store.delete(&key).await {
                tracing::debug!(session = %self.id, error = %e, "a deleted session's key is left to expire");
            }
        }
        Ok(())
    }

    /// Writes the record if the session changed since it was last written; a failure is
    /// logged (the change holds on this replica).
    pub(super) async fn save_if_changed(&self) {
        if self.backing.is_none() {
            return;
        }
        if self.saved.lock().await.revision == Some(self.conn.revision()) {
            return;
        }
        if let Err(e) = self.save().await {
            tracing::warn!(
                session = %self.id,
                error = %e,
                "the session's record was not updated in the shared store"
            );
        }
    }

    /// Pushes the record's expiry back, at most every few seconds, in the background.
    fn refresh(self: &Arc<Self>) {
        let Some(backing) = &self.backing else {
            return;
        };
        let due = self
            .saved
            .try_lock()
            .is_ok_and(|s| s.at.elapsed() >= backing.refresh_every());
        if !due || self.refreshing.swap(true, Ordering::SeqCst) {
            return;
        }
        let session = self.clone();
        tokio::spawn(async move {
            if let Err(e) = session.save().await {
                tracing::debug!(session = %session.id, error = %e, "the session's record was not refreshed");
            }
            session.refreshing.store(false, Ordering::SeqCst);
        });
    }

    fn touch(&self) {
        *self.last_active.lock().expect("not poisoned") = Instant::now();
    }

    /// Marks the session busy until the guard is dropped.
    pub(super) fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        self.touch();
        self.refresh();
        Busy(self.clone())
    }

    fn expired(&self, now: Instant, idle: Duration) -> bool {
        self.busy.load(Ordering::SeqCst) == 0
            && now.saturating_duration_since(*self.last_active.lock().expect("not poisoned")) > idle
    }

    /// A new stream for a request's messages.
    pub(super) fn open_stream(&self, cap: usize) -> Arc<EventLog> {
        let mut streams = self.streams.lock().expect("not poisoned");
        streams.last_id += 1;
        let log = match &self.backing {
            None => EventLog::new(streams.last_id, true, cap),
            Some(b) => EventLog::shared(
                streams.last_id,
                cap,
                StoreLog::new(
                    b.store.clone(),
                    stream_key(&self.id, streams.last_id),
                    cap,
                    b.ttl,
                ),
            ),
        };
        let finished: Vec<u64> = streams
            .open
            .iter()
            .filter(|(_, log)| log.is_done())
            .map(|(id, _)| *id)
            .collect();
        for id in finished
            .iter()
            .take((finished.len() + 1).saturating_sub(RETAINED_STREAMS))
        {
            streams.open.remove(id);
        }
        streams.open.insert(log.id(), log.clone());
        log
    }

    /// The stream numbered `id` (0: the GET stream), if the session still holds it.
    pub(super) fn stream(&self, id: u64) -> Option<Arc<EventLog>> {
        if id == 0 {
            return Some(self.standalone.clone());
        }
        self.streams
            .lock()
            .expect("not poisoned")
            .open
            .get(&id)
            .cloned()
    }

    /// Forgets a request stream whose response was delivered.
    pub(super) fn forget_stream(&self, id: u64) {
        self.streams.lock().expect("not poisoned").open.remove(&id);
    }

    /// Closes the session after its idle timeout; audited as its end when no other replica
    /// shares it (a shared one may be in use there, and its record expires in the store).
    fn expire(&self) {
        if self.backing.is_none() {
            self.conn.end_session("idle past the session timeout");
        }
        self.close();
    }

    /// Ends the session: running requests are cancelled and every stream ends.
    pub(super) fn close(&self) {
        self.ended.store(true, Ordering::SeqCst);
        self.conn.close();
        self.standalone.finish();
        let open = std::mem::take(&mut self.streams.lock().expect("not poisoned").open);
        for log in open.values() {
            log.finish();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}

/// Keeps a session busy (not idle) while it lives.
pub(super) struct Busy(Arc<Session>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whose quota of sessions a session counts against: its principal, or without authentication
/// the client's address (an IPv6 address by its /64 prefix, which one client usually holds).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Caller {
    Principal(Principal),
    Address(IpAddr),
    /// No authentication and no known address (behind [`super::McpService::router`] without
    /// `ConnectInfo`): bounded by the total only.
    Unknown,
}

impl Caller {
    pub(super) fn of(principal: Option<&Principal>, address: Option<IpAddr>) -> Self {
        match (principal, address.map(|a| a.to_canonical())) {
            (Some(p), _) => Caller::Principal(p.clone()),
            (None, Some(IpAddr::V6(v6))) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Caller::Address(IpAddr::V6(prefix.into()))
            }
            (None, Some(v4)) => Caller::Address(v4),
            (None, None) => Caller::Unknown,
        }
    }
}

/// Why there is no room for another session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Full {
    /// The endpoint holds its maximum.
    Total,
    /// The caller holds its maximum, this many.
    Caller(usize),
}

/// The sessions of an endpoint.
pub(super) struct Sessions {
    map: Mutex<HashMap<Arc<str>, Arc<Session>>>,
    max: usize,
    per_caller: usize,
    idle: Duration,
}

impl Sessions {
    pub(super) fn new(max: usize, per_caller: usize, idle: Duration) -> Self {
        Sessions {
            map: Mutex::new(HashMap::new()),
            max,
            per_caller,
            idle,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.map.lock().expect("not poisoned").len()
    }

    /// Whether another session of `caller` fits, once the expired ones are gone.
    pub(super) fn room_for(&self, caller: &Caller) -> Result<(), Full> {
        self.reap();
        Self::check(
            &self.map.lock().expect("not poisoned"),
            caller,
            self.max,
            self.per_caller,
        )
    }

    fn check(
        map: &HashMap<Arc<str>, Arc<Session>>,
        caller: &Caller,
        max: usize,
        per_caller: usize,
    ) -> Result<(), Full> {
        if *caller != Caller::Unknown
            && map.values().filter(|s| s.caller == *caller).count() >= per_caller
        {
            return Err(Full::Caller(per_caller));
        }
        if map.len() >= max {
            return Err(Full::Total);
        }
        Ok(())
    }

    /// Adds a session taken over from the store, unless there is no room for it; if another
    /// request took it over meanwhile, that one.
    pub(super) fn adopt(&self, session: Arc<Session>) -> Result<Arc<Session>, Full> {
        let mut map = self.map.lock().expect("not poisoned");
        if let Some(existing) = map.get(&session.id)
            && !existing.expired(Instant::now(), self.idle)
        {
            return Ok(existing.clone());
        }
        map.remove(&session.id);
        Self::check(&map, &session.caller, self.max, self.per_caller)?;
        map.insert(session.id.clone(), session.clone());
        Ok(session)
    }

    /// Adds a session, unless there is no room for it.
    pub(super) fn insert(&self, session: Arc<Session>) -> Result<(), Full> {
        let mut map = self.map.lock().expect("not poisoned");
        Self::check(&map, &session.caller, self.max, self.per_caller)?;
        map.insert(session.id.clone(), session);
        Ok(())
    }

    /// The session `id`, if it exists, has not expired and belongs to `principal`.
    pub(super) fn get(&self, id: &str, principal: Option<&Principal>) -> Option<Arc<Session>> {
        let mut map = self.map.lock().expect("not poisoned");
        let session = map.get(id)?.clone();
        if session.expired(Instant::now(), self.idle) {
            map.remove(id);
            drop(map);
            session.expire();
            return None;
        }
        (session.owner.as_ref() == principal).then_some(session)
    }

    /// The session `id` if this replica holds it, whoever owns it.
    pub(super) fn held(&self, id: &str) -> Option<Arc<Session>> {
        self.map.lock().expect("not poisoned").get(id).cloned()
    }

    /// Removes and closes the session `id`.
    pub(super) fn remove(&self, id: &str) {
        let removed = self.map.lock().expect("not poisoned").remove(id);
        if let Some(session) = removed {
            session.close();
        }
    }

    /// Removes and closes the session `id`, which its client ended (`DELETE`).
    pub(super) fn delete(&self, id: &str) {
        let removed = self.map.lock().expect("not poisoned").remove(id);
        if let Some(session) = removed {
            session.conn.end_session("the client ended it (DELETE)");
            session.close();
        }
    }

    /// Closes the sessions idle for longer than the timeout.
    pub(super) fn reap(&self) {
        let now = Instant::now();
        let mut expired = Vec::new();
        self.map.lock().expect("not poisoned").retain(|_, s| {
            let keep = !s.expired(now, self.idle);
            if !keep {
                expired.push(s.clone());
            } else if s.busy.load(Ordering::SeqCst) > 0 {
                // A session busy for long (a GET stream open) keeps its record alive.
                s.refresh();
            }
            keep
        });
        for session in expired {
            tracing::debug!(session = %session.id, "idle session closed");
            session.expire();
        }
    }

    /// How often [`Sessions::reap`] should run.
    pub(super) fn reap_period(&self) -> Duration {
        (self.idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(60))
    }

    /// Closes every session.
    pub(super) fn close_all(&self) {
        let all = std::mem::take(&mut *self.map.lock().expect("not poisoned"));
        for session in all.into_values() {
            // Shared with other replicas, it lives on there.
            if session.backing.is_none() {
                session.conn.end_session("the server shut down");
            }
            session.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_without_authentication_are_told_apart_by_address() {
        let v6 = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // One client's IPv6 addresses share a /64; a v4-mapped address is the v4 address.
        assert_eq!(
            Caller::of(None, v6("2001:db8:1:2::1")),
            Caller::of(None, v6("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            Caller::of(None, v6("2001:db8:1:2::1")),
            Caller::of(None, v6("2001:db8:1:3::1"))
        );
        assert_eq!(
            Caller::of(None, v6("::ffff:10.0.0.1")),
            Caller::of(None, v6("10.0.0.1"))
        );
        assert_eq!(Caller::of(None, None), Caller::Unknown);
        let alice = Principal::new(Some("https://x".into()), "alice");
        assert_eq!(
            Caller::of(Some(&alice), v6("10.0.0.1")),
            Caller::Principal(alice)
        );
    }

    #[test]
    fn records_round_trip() {
        let state = LegacyState {
            version: ProtocolVersion::V2025_11_25,
            client_capabilities: ClientCapabilities::default(),
            client_info: serde_json::from_value(serde_json::json!({"name": "c", "version": "1"}))
                .unwrap(),
            log_level: Some(LoggingLevel::Warning),
            initialized: true,
            subscriptions: ["file:///a".to_owned()].into_iter().collect(),
        };
        let alice = Principal::new(Some("https://x".into()), "alice");
        let id = "0123456789abcdef0123456789abcdef";
        let bytes = serde_json::to_vec(&Record::of(id, Some(&alice), state)).unwrap();
        let record = Record::decode(id, &bytes).unwrap();
        assert_eq!(record.owner(), Some(alice));
        let back = record.state().unwrap();
        assert_eq!(back.version, ProtocolVersion::V2025_11_25);
        assert_eq!(back.log_level, Some(LoggingLevel::Warning));
        assert!(back.initialized);
        assert!(back.subscriptions.contains("file:///a"));
        // A record is only read under its own id.
        assert!(Record::decode("ffffffffffffffffffffffffffffffff", &bytes).is_none());
        assert!(Record::decode(id, b"{}").is_none());
        assert!(plausible_id(id));
        assert!(!plausible_id("0123456789ABCDEF0123456789ABCDEF"));
        assert!(!plausible_id("nonsense"));
    }

    #[test]
    fn session_ids() {
        let ids: std::collections::HashSet<Arc<str>> =
            (0..1000).map(|_| new_session_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_hexdigit() && (0x21..=0x7e).contains(&b))
            );
            // Lowercase, as the server reads the ids it is sent back.
            assert!(plausible_id(id), "{id}");
        }
    }
}
