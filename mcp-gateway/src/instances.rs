//! Dedicated upstream instances per principal (`instances = "per_principal"`): one child
//! process of a stdio upstream per caller, started on first use, stopped when idle, at most
//! `max_instances` at once.
//!
//! Each instance is a [`Host`] of that one upstream, named as the gateway's host names it, so a
//! namespaced tool name, prompt name or resource URI routes on it exactly as on the shared
//! host (which still serves the lists). A principal's requests go to its instance and no other:
//! the key is [`Principal::key`](mcp_server::Principal::key), issuer-qualified, so the same
//! subject from two issuers gets two instances.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_client::host::{Host, Naming, Upstream};
use mcp_server::audit::{Audit, AuditKind, AuditRecord, Decision};
use mcp_server::{Context, Error, Result};
use tokio::sync::{Notify, OnceCell};
use tokio::time::Instant;

/// How the instances' hosts are set up: as the gateway's.
#[derive(Clone)]
pub(crate) struct HostSettings {
    pub(crate) separator: String,
    pub(crate) kept: bool,
    pub(crate) name: String,
}

/// One principal's instance.
struct Slot {
    host: Arc<OnceCell<Host>>,
    /// Requests in flight; an instance with any is never stopped.
    inflight: usize,
    /// When the last request ended (or the instance was made).
    last_used: Instant,
}

/// The instances of one upstream.
pub(crate) struct Instances {
    upstream: Upstream,
    settings: HostSettings,
    idle: Duration,
    max: usize,
    audit: Option<Audit>,
    slots: Mutex<HashMap<String, Arc<Mutex<Slot>>>>,
    /// Wakes the reaper: a request ended, the pool is closed or dropped.
    wake: Arc<Notify>,
    closed: std::sync::atomic::AtomicBool,
}

/// A request's hold on its instance: while it lives, the instance is not stopped. Made before
/// the instance starts, so that a request cancelled meanwhile lets go of it too.
struct Hold {
    pool: Arc<Instances>,
    slot: Arc<Mutex<Slot>>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut s = self.slot.lock().expect("not poisoned");
        s.inflight -= 1;
        s.last_used = Instant::now();
        drop(s);
        self.pool.wake.notify_one();
    }
}

/// A request's instance, held while the request runs.
pub(crate) struct Lease {
    _hold: Hold,
    pub(crate) host: Host,
}

impl Instances {
    /// The pool of `upstream`, and its reaper (which ends when the pool is closed).
    pub(crate) fn start(
        upstream: Upstream,
        settings: HostSettings,
        idle: Duration,
        max: usize,
        audit: Option<Audit>,
    ) -> Arc<Instances> {
        let pool = Arc::new(Instances {
            upstream,
            settings,
            idle,
            max,
            audit,
            slots: Mutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
        });
        tokio::spawn(reap(Arc::downgrade(&pool), pool.wake.clone()));
        pool
    }

    /// How many instances run.
    pub(crate) fn running(&self) -> usize {
        self.slots.lock().expect("not poisoned").len()
    }

    /// The caller's instance, started if it has none: an error when the caller has no
    /// identity or when `max_instances` run already (audited).
    pub(crate) async fn lease(
        self: &Arc<Self>,
        cx: &Context,
        method: &str,
        item: &str,
    ) -> Result<Lease> {
        let upstream = self.upstream.name();
        let Some(identity) = cx.identity() else {
            return Err(Error::public(format!(
                "upstream `{upstream}` runs one instance per principal: the caller has no identity"
            )));
        };
        let key = identity.principal().key().into_owned();
        let slot = {
            let mut slots = self.slots.lock().expect("not poisoned");
            // Checked under the lock `close` drains the slots under: nothing starts after it.
            if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Error::public(format!("upstream `{upstream}` is closed")));
            }
            let slot = match slots.get(&key) {
                Some(s) => s.clone(),
                None => {
                    if slots.len() >= self.max {
                        drop(slots);
                        tracing::warn!(upstream, principal = %key, max = self.max, "no instance left for a principal");
                        metrics::counter!("mcp_gateway_instance_limit_total", "upstream" => upstream.to_owned()).increment(1);
                        if let Some(audit) = &self.audit {
                            audit.record(
                                &AuditRecord::new(AuditKind::Decision, method)
                                    .with_principal(Some(identity))
                                    .with_item(item)
                                    .with_decision(Decision::Deny, Some("instance_limit")),
                            );
                        }
                        return Err(Error::public(format!(
                            "upstream `{upstream}` runs one instance per principal and all {} are in use: try again later",
                            self.max
                        )));
                    }
                    let s = Arc::new(Mutex::new(Slot {
                        host: Arc::new(OnceCell::new()),
                        inflight: 0,
                        last_used: Instant::now(),
                    }));
                    slots.insert(key.clone(), s.clone());
                    s
                }
            };
            // Counted under the pool's lock: the reaper, which takes it too, never stops an
            // instance between its lookup and this.
            slot.lock().expect("not poisoned").inflight += 1;
            slot
        };
        let hold = Hold {
            pool: self.clone(),
            slot: slot.clone(),
        };
        match self.host_of(&slot).await {
            Ok(host) => Ok(Lease { _hold: hold, host }),
            Err(e) => {
                drop(hold);
                // The reaper lets go of the slot (it has no host): room for the next start.
                Err(Error::public(format!(
                    "upstream `{upstream}`: an instance could not start: {e}"
                )))
            }
        }
    }

    /// The slot's host, started once (concurrent first requests of the principal wait for
    /// the same start). The start runs in its own task: a request cancelled meanwhile does not
    /// cut it short, and the instance it started is stopped when idle.
    async fn host_of(&self, slot: &Arc<Mutex<Slot>>) -> std::result::Result<Host, String> {
        // The slot's lock is not held across the start: the cell is shared.
        let once = slot.lock().expect("not poisoned").host.clone();
        if let Some(host) = once.get() {
            return Ok(host.clone());
        }
        let settings = self.settings.clone();
        let upstream = self.upstream.clone();
        let start = async move {
            Host::builder()
                .separator(settings.separator)
                .naming(if settings.kept {
                    Naming::Kept
                } else {
                    Naming::Prefixed
                })
                .capabilities(crate::forward::all_capabilities())
                .log_level(mcp_core::types::LoggingLevel::Debug)
                .info(settings.name, env!("CARGO_PKG_VERSION"))
                .upstream(upstream)
                .start()
                .await
                .map_err(|e| e.to_string())
        };
        let name = self.upstream.name().to_owned();
        tokio::spawn(async move {
            let host = once.get_or_try_init(|| start).await.cloned();
            if host.is_ok() {
                tracing::info!(upstream = %name, "an instance started");
            }
            host
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Stops every instance.
    pub(crate) async fn close(&self) {
        let slots: Vec<_> = {
            let mut slots = self.slots.lock().expect("not poisoned");
            self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
            slots.drain().map(|(_, s)| s).collect()
        };
        self.wake.notify_one();
        for s in slots {
            let host = s.lock().expect("not poisoned").host.get().cloned();
            if let Some(h) = host {
                h.close().await;
            }
        }
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        // The reaper holds no reference to the pool while it waits: it is told to end.
        self.wake.notify_one();
    }
}

/// Stops the instances idle for the pool's idle timeout, until the pool is closed or dropped.
async fn reap(pool: std::sync::Weak<Instances>, wake: Arc<Notify>) {
    loop {
        let deadline = {
            let Some(pool) = pool.upgrade() else { return };
            if pool.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            let now = Instant::now();
            let mut stopped = Vec::new();
            let mut next: Option<Instant> = None;
            pool.slots
                .lock()
                .expect("not poisoned")
                .retain(|key, slot| {
                    let s = slot.lock().expect("not poisoned");
                    if s.inflight > 0 {
                        return true;
                    }
                    // No request and no instance: its start failed.
                    if s.host.get().is_none() {
                        return false;
                    }
                    let due = s.last_used + pool.idle;
                    if due <= now {
                        if let Some(h) = s.host.get() {
                            stopped.push((key.clone(), h.clone()));
                        }
                        return false;
                    }
                    next = Some(next.map_or(due, |n| n.min(due)));
                    true
                });
            for (key, host) in stopped {
                tracing::info!(upstream = pool.upstream.name(), principal = %key, "an idle instance stopped");
                tokio::spawn(async move { host.close().await });
            }
            next
        };
        // `notify_one` keeps a permit when nobody waits: a wake-up in between is not lost.
        match deadline {
            Some(d) => {
                tokio::select! {
                    () = tokio::time::sleep_until(d) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}
