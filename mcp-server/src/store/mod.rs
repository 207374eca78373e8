//! The state that replicas of one server share: the seam between the runtime and where that
//! state lives.
//!
//! A server alone keeps everything in its own memory, as it always has: nothing here is used
//! unless a store is attached with [`Server::store`](crate::Server::store) or
//! [`Server::connect_store`](crate::Server::connect_store). Behind a load balancer, several
//! replicas attach the same store and behave as one server:
//!
//! | state | shared as | without it |
//! | --- | --- | --- |
//! | approval and round nonces | [`Store::take`]: a nonce is spent once, on whichever replica | a replayed approval runs once per replica |
//! | rate-limit buckets | [`Store::rate`]: one bucket per principal and item | N replicas allow N times the rate |
//! | tasks | records and an owner index, cancellation and answers on the bus | a task is unknown to the other replicas |
//! | legacy sessions and their event buffers | records and [`Store::append`] logs | a stream cannot resume on another replica |
//! | notifications | [`Store::publish`] | subscribers on other replicas miss list changes and updates |
//!
//! The store is made of a few primitives with the semantics of Redis commands, so that an
//! implementation is a thin mapping: [`MemoryStore`] (one process: tests, and replicas that are
//! tasks of one process) and, with the `redis` feature, `RedisStore`. Every key is relative:
//! the store puts its own namespace in front.
//!
//! When the store cannot be reached, every operation returns a [`StoreError`]; the runtime then
//! fails closed (an approval or a rate-limited call is refused with
//! [`STORE_UNAVAILABLE`], and the refusal audited) while calls that need no shared state go on.
//! `RedisStore` reconnects by itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

mod memory;
#[cfg(feature = "redis")]
mod redis;

pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::RedisStore;

/// The entries of a log, with their sequence numbers ([`Store::read_after`]).
pub type LogEntries = Vec<(u64, Vec<u8>)>;

/// A boxed future of a store operation.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The JSON-RPC error code of a request refused because the shared store is unreachable
/// (`data.reason` is `"store_unavailable"`). The request may be retried.
pub const STORE_UNAVAILABLE: mcp_core::ErrorCode = mcp_core::ErrorCode(-32004);

/// The shared store could not be reached, or answered something unexpected.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the shared store is unavailable: {0}")]
pub struct StoreError(String);

impl StoreError {
    /// An error with this description.
    pub fn new(detail: impl Into<String>) -> Self {
        StoreError(detail.into())
    }

    /// The JSON-RPC error a request refused for it gets: [`STORE_UNAVAILABLE`], with
    /// `data.reason` `"store_unavailable"`. It does not say more to the caller than that.
    pub fn to_error_object(&self) -> mcp_core::ErrorObject {
        mcp_core::ErrorObject::new(
            STORE_UNAVAILABLE,
            "the server's shared state is unavailable: try again shortly",
        )
        .with_data(serde_json::json!({ "reason": "store_unavailable" }))
    }
}

/// A message on the store's bus ([`Store::publish`], [`Store::subscribe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// What it is about (`"events"`, `"task-cancel"`, ...).
    pub topic: String,
    /// Its content.
    pub payload: Vec<u8>,
}

/// Where the shared state of a server's replicas lives.
///
/// Each method has the semantics of the Redis command or script its documentation names, and
/// must be atomic the way they are: two replicas that [`take`](Store::take) the same key at
/// once must not both get its value.
pub trait Store: Send + Sync + 'static {
    /// Stores `value` under `key` until `ttl` passes (`SET key value PX ttl`).
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Stores `value` under `key` until `ttl` passes, unless `key` holds a value already
    /// (`SET key value NX PX ttl`). Returns whether it was stored.
    fn put_new<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// The value under `key`, if any (`GET`).
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;

    /// Removes `key` and returns what it held (`GETDEL`): of two replicas taking the same key,
    /// only one gets the value. Single-use nonces are spent with it.
    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;

    /// Removes `key` (`DEL`).
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Takes one request from the bucket `key`, which allows `burst` requests per `period`
    /// (the generic cell rate algorithm, as `governor` implements it): `Ok(())` if allowed,
    /// `Err(wait)` with how long until the next one would be.
    fn rate<'a>(
        &'a self,
        key: &'a str,
        burst: u32,
        period: Duration,
    ) -> BoxFuture<'a, Result<Result<(), Duration>, StoreError>>;

    /// Appends `value` to the log `key`, keeping its last `keep` entries, the log living until
    /// `ttl` passes without an append. Returns the entry's sequence number: 1 for a log's first
    /// entry, one more for each next.
    fn append<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        keep: usize,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// The entries of the log `key` after sequence number `after` that it still keeps, in order.
    fn read_after<'a>(
        &'a self,
        key: &'a str,
        after: u64,
    ) -> BoxFuture<'a, Result<LogEntries, StoreError>>;

    /// Adds `member` to the ordered index `key` with `order` (`ZADD`); the index lives until
    /// `ttl` passes without an addition.
    fn index_add<'a>(
        &'a self,
        key: &'a str,
        member: &'a str,
        order: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Removes `member` from the index `key` (`ZREM`).
    fn index_remove<'a>(
        &'a self,
        key: &'a str,
        member: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The members of the index `key`, in order (`ZRANGE key 0 -1`).
    fn index_members<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<String>, StoreError>>;

    /// Sends a message to every subscriber of every replica, this one included (`PUBLISH`).
    /// Delivery is at most once: a replica that is disconnected at the time misses it.
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        payload: &'a [u8],
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The messages published from now on, by any replica.
    fn subscribe(&self) -> broadcast::Receiver<Message>;

    /// Where the store is, for logs (no credentials).
    fn describe(&self) -> String;
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("at", &self.describe())
            .finish()
    }
}

/// Opens the store a URL names: `memory:` (this process only) or, with the `redis` feature,
/// `redis://[user:password@]host:port[/db]` (and `rediss://` is refused: TLS to Redis is not
/// built in). The Redis store is checked with a `PING` before it is returned.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url == "memory:" || url == "memory://" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    if url.starts_with("redis://") {
        #[cfg(feature = "redis")]
        {
            return Ok(Arc::new(RedisStore::connect(url).await?));
        }
        #[cfg(not(feature = "redis"))]
        {
            return Err(StoreError::new(
                "this build has no Redis store: enable the `redis` feature of mcp-server",
            ));
        }
    }
    Err(StoreError::new(format!(
        "unknown store URL {:?}: expected memory: or redis://HOST:PORT",
        redact_url(url)
    )))
}

/// `url` without its password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The 32-byte key replicas share (`requestState` and approval seals), agreed through the
/// store: the first replica's random key is stored with `put_new`, and every replica reads it.
/// [`Server::connect_store`](crate::Server::connect_store) calls it; give the key to
/// [`Server::request_state_key`](crate::Server::request_state_key) when you attach a store
/// with [`Server::store`](crate::Server::store).
pub async fn agree_key(store: &dyn Store) -> Result<[u8; 32], StoreError> {
    const KEY: &str = "server-key";
    // Ten years: the key outlives every deployment that does not rotate it on purpose (delete
    // the key to rotate: replicas restarted after that agree on a new one).
    const TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh).expect("the OS random source works");
    store.put_new(KEY, &fresh, TTL).await?;
    let stored = store
        .get(KEY)
        .await?
        .ok_or_else(|| StoreError::new("the shared server key vanished as it was agreed"))?;
    stored
        .try_into()
        .map_err(|_| StoreError::new("the shared server key is not 32 bytes"))
}

/// Milliseconds of a duration, at least 1 (stores count expiry in whole milliseconds, and 0
/// would mean "never" or "now" depending on the command).
#[cfg(feature = "redis")]
pub(crate) fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_left_out_of_urls() {
        assert_eq!(
            redact_url("redis://user:secret@cache:6379/0"),
            "redis://***@cache:6379/0"
        );
        assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
    }

    #[tokio::test]
    async fn unknown_urls_are_refused() {
        let err = connect("postgres://db").await.err().unwrap();
        assert!(err.to_string().contains("unknown store URL"), "{err}");
    }

    #[tokio::test]
    async fn replicas_agree_on_one_key() {
        let store = MemoryStore::new();
        let a = agree_key(&store).await.unwrap();
        let b = agree_key(&store).await.unwrap();
        assert_eq!(a, b);
        assert_ne!(a, [0; 32]);
    }
}
