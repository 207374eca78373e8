//! [`RedisStore`]: the shared state of replicas in Redis (or a server speaking its protocol,
//! such as Valkey), version 6.2 or later.

use std::time::Duration;

use futures::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands as _, Script};
use tokio::sync::broadcast;

use super::{BoxFuture, LogEntries, Message, Store, StoreError, ttl_ms};

/// How long one command may take before it fails (and the decision that needed it fails
/// closed).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest pause between two attempts to reconnect the bus.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// GCRA (as `governor`): `KEYS[1]` holds the theoretical arrival time of the next request in
/// microseconds of the server's clock; `ARGV[1]` the interval between requests, `ARGV[2]` the
/// period (burst times interval). Returns 0 if allowed, else the microseconds to wait.
const RATE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nxt = tat + interval
local allowed_at = nxt - period
if allowed_at > now then return allowed_at - now end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1)
return 0
";

/// Appends `ARGV[1]` to the log `KEYS[1]` (a sorted set scored by sequence number, each member
/// prefixed with its number to keep equal values apart), its counter in `KEYS[2]`; keeps the
/// last `ARGV[2]` entries; both expire after `ARGV[3]` ms. Returns the sequence number.
const APPEND: &str = r"
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], seq, seq .. ':' .. ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[2]) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return seq
";

/// Adds a member to an ordered index and renews its expiry.
const INDEX_ADD: &str = r"
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// A [`Store`] in Redis.
///
/// Commands go through one multiplexed connection that reconnects by itself (a command sent
/// while Redis is away fails at once or within two seconds, and the next one tries again);
/// the bus is a pub/sub subscription to one channel, re-established with backoff after every
/// disconnection (messages published meanwhile are missed, as pub/sub delivers at most once).
/// Keys are prefixed with `mcp:` (or the URL's `?prefix=...`), so that one Redis can serve
/// several deployments.
pub struct RedisStore {
    commands: ConnectionManager,
    prefix: String,
    described: String,
    bus: broadcast::Sender<Message>,
    rate: Script,
    append: Script,
    index_add: Script,
    /// The task keeping the bus subscription: stopped with the store.
    subscriber: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("at", &self.described)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

fn failed(e: redis::RedisError) -> StoreError {
    StoreError::new(e.to_string())
}

impl RedisStore {
    /// Connects to `redis://[user:password@]host:port[/db][?prefix=P]` and checks the
    /// connection with a `PING`. Must be called within a Tokio runtime.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let described = super::redact_url(url);
        let (url, prefix) = match url.split_once("?prefix=") {
            Some((url, prefix)) if !prefix.is_empty() => (url, format!("{prefix}:")),
            _ => (url, "mcp:".to_owned()),
        };
        let client =
            redis::Client::open(url).map_err(|e| StoreError::new(format!("{described}: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let mut commands = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| StoreError::new(format!("{described}: {e}")))?;
        let _: String = redis::cmd("PING")
            .query_async(&mut commands)
            .await
            .map_err(|e| StoreError::new(format!("{described}: {e}")))?;
        let bus = broadcast::channel(1024).0;
        let subscriber = tokio::spawn(subscribe_forever(
            client,
            format!("{prefix}bus"),
            bus.clone(),
            described.clone(),
        ));
        tracing::info!(store = %described, "connected to the shared store");
        Ok(RedisStore {
            commands,
            prefix,
            described,
            bus,
            rate: Script::new(RATE),
            append: Script::new(APPEND),
            index_add: Script::new(INDEX_ADD),
            subscriber,
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn conn(&self) -> ConnectionManager {
        self.commands.clone()
    }
}

/// Keeps a subscription to the bus channel, forwarding what it receives, and re-establishes it
/// after every disconnection.
async fn subscribe_forever(
    client: redis::Client,
    channel: String,
    bus: broadcast::Sender<Message>,
    described: String,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let subscribed = async {
            let mut pubsub = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub())
                .await
                .map_err(|_| StoreError::new("connecting timed out"))?
                .map_err(failed)?;
            pubsub.subscribe(&channel).await.map_err(failed)?;
            Ok::<_, StoreError>(pubsub)
        }
        .await;
        match subscribed {
            Ok(pubsub) => {
                backoff = Duration::from_millis(100);
                let mut messages = pubsub.into_on_message();
                while let Some(msg) = messages.next().await {
                    if let Some(message) = decode(msg.get_payload_bytes()) {
                        // No local subscriber is not an error.
                        let _ = bus.send(message);
                    }
                }
                tracing::warn!(store = %described, "the shared store's bus disconnected; reconnecting");
            }
            Err(e) => {
                tracing::warn!(store = %described, error = %e, "cannot subscribe to the shared store's bus; retrying");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A bus message on the wire: the topic, a newline, the payload.
fn encode(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(topic.len() + 1 + payload.len());
    out.extend_from_slice(topic.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload);
    out
}

fn decode(bytes: &[u8]) -> Option<Message> {
    let at = bytes.iter().position(|b| *b == b'\n')?;
    Some(Message {
        topic: String::from_utf8(bytes[..at].to_vec()).ok()?,
        payload: bytes[at + 1..].to_vec(),
    })
}

impl Store for RedisStore {
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.conn()
                .pset_ex::<_, _, ()>(self.key(key), value, ttl_ms(ttl))
                .await
                .map_err(failed)
        })
    }

    fn put_new<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let stored: Option<String> = redis::cmd("SET")
                .arg(self.key(key))
                .arg(value)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms(ttl))
                .query_async(&mut self.conn())
                .await
                .map_err(failed)?;
            Ok(stored.is_some())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move { self.conn().get(self.key(key)).await.map_err(failed) })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move { self.conn().get_del(self.key(key)).await.map_err(failed) })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let k = self.key(key);
            self.conn()
                .del::<_, ()>(&[k.clone(), format!("{k}:n")])
                .await
                .map_err(failed)
        })
    }

    fn rate<'a>(
        &'a self,
        key: &'a str,
        burst: u32,
        period: Duration,
    ) -> BoxFuture<'a, Result<Result<(), Duration>, StoreError>> {
        Box::pin(async move {
            let period_us = u64::try_from(period.as_micros()).unwrap_or(u64::MAX);
            let interval_us = (period_us / u64::from(burst.max(1))).max(1);
            let wait_us: u64 = self
                .rate
                .key(self.key(key))
                .arg(interval_us)
                .arg(period_us)
                .invoke_async(&mut self.conn())
                .await
                .map_err(failed)?;
            Ok(if wait_us == 0 {
                Ok(())
            } else {
                Err(Duration::from_micros(wait_us))
            })
        })
    }

    fn append<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        keep: usize,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let k = self.key(key);
            self.append
                .key(&k)
                .key(format!("{k}:n"))
                .arg(value)
                .arg(keep.max(1))
                .arg(ttl_ms(ttl))
                .invoke_async(&mut self.conn())
                .await
                .map_err(failed)
        })
    }

    fn read_after<'a>(
        &'a self,
        key: &'a str,
        after: u64,
    ) -> BoxFuture<'a, Result<LogEntries, StoreError>> {
        Box::pin(async move {
            let members: Vec<Vec<u8>> = self
                .conn()
                .zrangebyscore(self.key(key), format!("({after}"), "+inf")
                .await
                .map_err(failed)?;
            members
                .into_iter()
                .map(|m| {
                    let at = m
                        .iter()
                        .position(|b| *b == b':')
                        .ok_or_else(|| StoreError::new("a log entry without its number"))?;
                    let seq = std::str::from_utf8(&m[..at])
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| StoreError::new("a log entry with a bad number"))?;
                    Ok((seq, m[at + 1..].to_vec()))
                })
                .collect()
        })
    }

    fn index_add<'a>(
        &'a self,
        key: &'a str,
        member: &'a str,
        order: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.index_add
                .key(self.key(key))
                .arg(member)
                .arg(order)
                .arg(ttl_ms(ttl))
                .invoke_async::<i64>(&mut self.conn())
                .await
                .map(|_| ())
                .map_err(failed)
        })
    }

    fn index_remove<'a>(
        &'a self,
        key: &'a str,
        member: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.conn()
                .zrem::<_, _, ()>(self.key(key), member)
                .await
                .map_err(failed)
        })
    }

    fn index_members<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            self.conn()
                .zrange(self.key(key), 0, -1)
                .await
                .map_err(failed)
        })
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        payload: &'a [u8],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.conn()
                .publish::<_, _, ()>(format!("{}bus", self.prefix), encode(topic, payload))
                .await
                .map_err(failed)
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<Message> {
        self.bus.subscribe()
    }

    fn describe(&self) -> String {
        self.described.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_messages_round_trip() {
        let m = decode(&encode("events", b"a\nb")).unwrap();
        assert_eq!(m.topic, "events");
        assert_eq!(m.payload, b"a\nb");
        assert!(decode(b"no newline").is_none());
    }
}
