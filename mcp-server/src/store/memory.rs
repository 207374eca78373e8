//! [`MemoryStore`]: the store's semantics in one process.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use super::{BoxFuture, Message, Store, StoreError};

/// A [`Store`] in this process's memory: replicas that are servers of one process share it
/// (tests, and a process serving several listeners). Expired entries are dropped as they are
/// met and, every thousand writes, all at once.
///
/// [`MemoryStore::set_available`] makes it fail like an unreachable Redis, for fault tests.
pub struct MemoryStore {
    state: Mutex<State>,
    bus: broadcast::Sender<Message>,
}

#[derive(Default)]
#[allow(clippy::type_complexity)]
struct State {
    values: HashMap<String, (Vec<u8>, Instant)>,
    /// Theoretical arrival time of each bucket's next request (GCRA), and when it expires.
    buckets: HashMap<String, (Instant, Instant)>,
    logs: HashMap<String, Log>,
    indexes: HashMap<String, (BTreeMap<(u64, String), ()>, Instant)>,
    writes: u64,
    unavailable: bool,
}

struct Log {
    next: u64,
    entries: VecDeque<(u64, Vec<u8>)>,
    expires: Instant,
}

impl State {
    fn check(&self) -> Result<(), StoreError> {
        if self.unavailable {
            Err(StoreError::new("the memory store is set unavailable"))
        } else {
            Ok(())
        }
    }

    fn wrote(&mut self, now: Instant) {
        self.writes += 1;
        if self.writes.is_multiple_of(1000) {
            self.values.retain(|_, (_, e)| *e > now);
            self.buckets.retain(|_, (_, e)| *e > now);
            self.logs.retain(|_, l| l.expires > now);
            self.indexes.retain(|_, (_, e)| *e > now);
        }
    }

    fn live_value(&mut self, key: &str, now: Instant) -> Option<&(Vec<u8>, Instant)> {
        if self.values.get(key).is_some_and(|(_, e)| *e <= now) {
            self.values.remove(key);
        }
        self.values.get(key)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore {
            state: Mutex::new(State::default()),
            bus: broadcast::channel(1024).0,
        }
    }

    /// Makes every operation fail with a [`StoreError`] (`false`) or work again (`true`), as if
    /// the store's server went away and came back. What it held is kept.
    pub fn set_available(&self, available: bool) {
        self.lock().unavailable = !available;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn with<T>(&self, f: impl FnOnce(&mut State, Instant) -> T) -> Result<T, StoreError> {
        let mut state = self.lock();
        state.check()?;
        let now = Instant::now();
        Ok(f(&mut state, now))
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl Store for MemoryStore {
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        ready(self.with(|s, now| {
            s.values.insert(key.to_owned(), (value.to_vec(), now + ttl));
            s.wrote(now);
        }))
    }

    fn put_new<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        ready(self.with(|s, now| {
            if s.live_value(key, now).is_some() {
                return false;
            }
            s.values.insert(key.to_owned(), (value.to_vec(), now + ttl));
            s.wrote(now);
            true
        }))
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        ready(self.with(|s, now| s.live_value(key, now).map(|(v, _)| v.clone())))
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        ready(self.with(|s, now| {
            s.live_value(key, now)?;
            s.values.remove(key).map(|(v, _)| v)
        }))
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        ready(self.with(|s, _| {
            s.values.remove(key);
            s.logs.remove(key);
            s.indexes.remove(key);
            s.buckets.remove(key);
        }))
    }

    fn rate<'a>(
        &'a self,
        key: &'a str,
        burst: u32,
        period: Duration,
    ) -> BoxFuture<'a, Result<Result<(), Duration>, StoreError>> {
        ready(self.with(|s, now| {
            let burst = burst.max(1);
            let interval = period / burst;
            let tat = s.buckets.get(key).map_or(now, |(tat, _)| *tat).max(now);
            let next = tat + interval;
            // Allowed while the next arrival time stays within `period` of now.
            let allowed_at = next.checked_sub(period).unwrap_or(now);
            if allowed_at > now {
                return Err(allowed_at - now);
            }
            s.buckets.insert(key.to_owned(), (next, next));
            s.wrote(now);
            Ok(())
        }))
    }

    fn append<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        keep: usize,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        ready(self.with(|s, now| {
            let log = s.logs.entry(key.to_owned()).or_insert_with(|| Log {
                next: 1,
                entries: VecDeque::new(),
                expires: now + ttl,
            });
            if log.expires <= now {
                *log = Log {
                    next: 1,
                    entries: VecDeque::new(),
                    expires: now + ttl,
                };
            }
            let seq = log.next;
            log.next += 1;
            log.entries.push_back((seq, value.to_vec()));
            while log.entries.len() > keep.max(1) {
                log.entries.pop_front();
            }
            log.expires = now + ttl;
            s.wrote(now);
            seq
        }))
    }

    fn read_after<'a>(
        &'a self,
        key: &'a str,
        after: u64,
    ) -> BoxFuture<'a, Result<Vec<(u64, Vec<u8>)>, StoreError>> {
        ready(self.with(|s, now| {
            match s.logs.get(key) {
                Some(log) if log.expires > now => log
                    .entries
                    .iter()
                    .filter(|(seq, _)| *seq > after)
                    .cloned()
                    .collect(),
                _ => Vec::new(),
            }
        }))
    }

    fn index_add<'a>(
        &'a self,
        key: &'a str,
        member: &'a str,
        order: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        ready(self.with(|s, now| {
            let (index, expires) = s
                .indexes
                .entry(key.to_owned())
                .or_insert_with(|| (BTreeMap::new(), now + ttl));
            if *expires <= now {
                index.clear();
            }
            index.retain(|(_, m), _| m != member);
            index.insert((order, member.to_owned()), ());
            *expires = now + ttl;
            s.wrote(now);
        }))
    }

    fn index_remove<'a>(
        &'a self,
        key: &'a str,
        member: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        ready(self.with(|s, _| {
            if let Some((index, _)) = s.indexes.get_mut(key) {
                index.retain(|(_, m), _| m != member);
            }
        }))
    }

    fn index_members<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        ready(self.with(|s, now| match s.indexes.get(key) {
            Some((index, expires)) if *expires > now => {
                index.keys().map(|(_, m)| m.clone()).collect()
            }
            _ => Vec::new(),
        }))
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        payload: &'a [u8],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        ready(self.with(|_, _| {
            // No subscriber is not an error: nobody is listening yet.
            let _ = self.bus.send(Message {
                topic: topic.to_owned(),
                payload: payload.to_vec(),
            });
        }))
    }

    fn subscribe(&self) -> broadcast::Receiver<Message> {
        self.bus.subscribe()
    }

    fn describe(&self) -> String {
        "memory:".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_value_is_taken_once() {
        let s = MemoryStore::new();
        s.put("n", b"v", Duration::from_secs(60)).await.unwrap();
        assert_eq!(s.take("n").await.unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(s.take("n").await.unwrap(), None);
        assert!(s.put_new("k", b"1", Duration::from_secs(60)).await.unwrap());
        assert!(!s.put_new("k", b"2", Duration::from_secs(60)).await.unwrap());
        assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"1"[..]));
    }

    #[tokio::test]
    async fn values_expire() {
        let s = MemoryStore::new();
        s.put("n", b"v", Duration::from_millis(1)).await.unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(s.get("n").await.unwrap(), None);
        assert!(s.put_new("n", b"w", Duration::from_secs(1)).await.unwrap());
    }

    #[tokio::test]
    async fn a_bucket_allows_its_burst_then_says_how_long_to_wait() {
        let s = MemoryStore::new();
        for _ in 0..3 {
            assert_eq!(
                s.rate("b", 3, Duration::from_secs(60)).await.unwrap(),
                Ok(())
            );
        }
        let wait = s
            .rate("b", 3, Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert_eq!(
            s.rate("other", 3, Duration::from_secs(60)).await.unwrap(),
            Ok(())
        );
    }

    #[tokio::test]
    async fn a_log_keeps_its_last_entries_in_order() {
        let s = MemoryStore::new();
        for i in 0..5u8 {
            let seq = s
                .append("l", &[i], 3, Duration::from_secs(60))
                .await
                .unwrap();
            assert_eq!(seq, u64::from(i) + 1);
        }
        let all = s.read_after("l", 0).await.unwrap();
        assert_eq!(all, vec![(3, vec![2]), (4, vec![3]), (5, vec![4])]);
        assert_eq!(s.read_after("l", 4).await.unwrap(), vec![(5, vec![4])]);
        assert!(s.read_after("none", 0).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_index_lists_members_in_order() {
        let s = MemoryStore::new();
        let ttl = Duration::from_secs(60);
        s.index_add("i", "b", 2, ttl).await.unwrap();
        s.index_add("i", "a", 1, ttl).await.unwrap();
        s.index_add("i", "c", 3, ttl).await.unwrap();
        s.index_remove("i", "b").await.unwrap();
        assert_eq!(s.index_members("i").await.unwrap(), ["a", "c"]);
    }

    #[tokio::test]
    async fn an_unavailable_store_fails_every_operation_and_comes_back() {
        let s = MemoryStore::new();
        s.put("k", b"v", Duration::from_secs(60)).await.unwrap();
        s.set_available(false);
        assert!(s.get("k").await.is_err());
        assert!(s.rate("b", 1, Duration::from_secs(1)).await.is_err());
        assert!(s.publish("t", b"").await.is_err());
        s.set_available(true);
        assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[tokio::test]
    async fn messages_reach_every_subscriber() {
        let s = MemoryStore::new();
        let mut a = s.subscribe();
        let mut b = s.subscribe();
        s.publish("t", b"x").await.unwrap();
        for rx in [&mut a, &mut b] {
            let m = rx.recv().await.unwrap();
            assert_eq!((m.topic.as_str(), m.payload.as_slice()), ("t", &b"x"[..]));
        }
    }
}
