//! Legacy sessions: one engine connection per `Mcp-Session-Id`, with its GET stream and the
//! streams of its requests, closed on DELETE, when idle too long, or at shutdown.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::config::HttpConfig;
use super::sse::{self, EventLog};
use crate::identity::Principal;
use crate::peer::Sink;
use crate::server::Server;
use crate::session::Connection;

/// Finished request streams a session keeps for a client that has not read them to the end.
const RETAINED_STREAMS: usize = 32;

/// A session id: 128 bits from the OS random source, as 32 lowercase hex digits.
fn new_session_id() -> Arc<str> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    let mut id = String::with_capacity(32);
    for b in bytes {
        let _ = write!(id, "{b:02x}");
    }
    id.into()
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
}

impl Session {
    pub(super) fn new(
        server: Server,
        config: &HttpConfig,
        owner: Option<Principal>,
        caller: Caller,
    ) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(config.event_buffer);
        let max_in_flight = config
            .max_in_flight
            .unwrap_or(server.inner.options.max_in_flight);
        let id = new_session_id();
        let conn = Connection::session(server, Sink::new(tx), max_in_flight, Some(id.clone()));
        let standalone = EventLog::new(0, true, config.event_buffer);
        tokio::spawn(sse::pump(rx, standalone.clone(), None, conn.clone(), None));
        Arc::new(Session {
            id,
            owner,
            caller,
            conn,
            standalone,
            streams: Mutex::new(Streams {
                last_id: 0,
                open: BTreeMap::new(),
            }),
            last_active: Mutex::new(Instant::now()),
            busy: AtomicUsize::new(0),
        })
    }

    fn touch(&self) {
        *self.last_active.lock().expect("not poisoned") = Instant::now();
    }

    /// Marks the session busy until the guard is dropped.
    pub(super) fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        self.touch();
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
        let log = EventLog::new(streams.last_id, true, cap);
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

    /// Ends the session: running requests are cancelled and every stream ends.
    pub(super) fn close(&self) {
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
            session.close();
            return None;
        }
        (session.owner.as_ref() == principal).then_some(session)
    }

    /// Removes and closes the session `id`.
    pub(super) fn remove(&self, id: &str) {
        let removed = self.map.lock().expect("not poisoned").remove(id);
        if let Some(session) = removed {
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
            }
            keep
        });
        for session in expired {
            tracing::debug!(session = %session.id, "idle session closed");
            session.close();
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
        }
    }
}
