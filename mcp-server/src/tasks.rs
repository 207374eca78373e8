//! Tasks: a tools/call that runs on after its request is answered, polled by the client.
//!
//! Both forms are served from one store: the experimental tasks of 2025-11-25 (the client asks
//! with `task` in the params; `tasks/get`, `tasks/result`, `tasks/list`, `tasks/cancel`) and the
//! tasks extension of the modern era (`io.modelcontextprotocol/tasks`: the server answers a
//! task-capable tool with `resultType: "task"`; `tasks/get` carries the result inline,
//! `tasks/update` answers the task's input requests, `tasks/cancel`). A task's handler asks the
//! client for input the same way as any handler: legacy tasks send server-to-client requests,
//! modern tasks park the question in `tasks/get` until `tasks/update` answers it.
//!
//! A task belongs to whoever created it ([`TaskOwner`]): every task method finds only the
//! caller's own tasks, and another owner's task id is answered exactly like an unknown one. Each
//! owner may keep a bounded number of tasks ([`crate::ServerOptions::max_tasks_per_principal`]);
//! making room never cancels anyone's running task.
//!
//! **Replicas.** Without a shared store ([`crate::Server::store`]) all of this lives in the
//! process, and no store is called. With one, the replica running a task writes a record of it
//! (`task:{id}`: owner, times, status, result or error, pending input requests) with the task's
//! remaining time to live: when it is created (awaited: a task whose record cannot be written is
//! refused with the store's -32004 error), and after every change (in the background; a failed
//! write is logged and retried until a newer state is written or the task expires). It also adds
//! the task to its owner's index (`tasks-of:{hash of the owner}`, by creation time). A replica
//! asked about a task it does not hold answers from the record, with the same ownership rule:
//! `tasks/get` and `tasks/list` read it; `tasks/result` waits for a terminal record, woken by the
//! running replica's `task-changed` message and reading it again at least every second.
//! `tasks/cancel` through another replica writes the cancelled status to the record, so that it
//! reads as cancelled everywhere (also when the running replica is gone), then publishes
//! `task-cancel`, on which the running replica cancels the task; a running replica that misses
//! the message (off the bus at the time) finishes the task, and its next write replaces the
//! cancelled record. `tasks/update` through another replica publishes the answers
//! (`task-update`), which the running replica takes as if received itself. The quota per owner
//! counts this replica's tasks only. A task method that needs the store while it is unreachable
//! is answered with [`crate::store::StoreError::to_error_object`] (-32004).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_core::types::*;
use mcp_core::{ErrorCode, ErrorObject, Meta};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreError};

/// How long a task is kept after it is created, unless the client asks for less.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// How often clients are asked to poll.
pub(crate) const POLL_INTERVAL_MS: u64 = 500;

/// Whose a task is, decided once, when it is created, from the request that creates it.
///
/// Only its owner finds it: [`TaskSlot::visible_to`] is the one place that decides.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TaskOwner {
    /// An authenticated caller (a bearer token, a client certificate, the identity configured
    /// for stdio): the principal, issuer and subject, across all of its sessions.
    Principal(crate::Principal),
    /// No authentication: the legacy HTTP session that created it.
    Session(Arc<str>),
    /// No authentication and no session (stateless modern HTTP, stdio without an identity):
    /// nothing tells callers apart, so they share one owner and one quota; a task is reached by
    /// its id, 128 random bits (the modern era has no `tasks/list`).
    Anonymous,
}

impl TaskOwner {
    /// The owner of what a request creates: its principal, or else its legacy session.
    pub(crate) fn of(identity: Option<&crate::Identity>, session: Option<&Arc<str>>) -> Self {
        match (identity, session) {
            (Some(identity), _) => TaskOwner::Principal(identity.principal()),
            (None, Some(session)) => TaskOwner::Session(session.clone()),
            (None, None) => TaskOwner::Anonymous,
        }
    }

    /// The owner as records and index keys in the shared store name it: a SHA-256 (hex) of its
    /// kind and key, so that the store holds neither principals nor session ids.
    pub(crate) fn shared_key(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        match self {
            TaskOwner::Principal(p) => {
                h.update(b"principal\0");
                h.update(p.key().as_bytes());
            }
            TaskOwner::Session(s) => {
                h.update(b"session\0");
                h.update(s.as_bytes());
            }
            TaskOwner::Anonymous => h.update(b"anonymous\0"),
        }
        crate::trace::hex(&h.finalize())
    }
}

/// The error of a task method naming a task the caller cannot see: the same for a task that
/// never existed, expired, or belongs to someone else.
fn unknown_task(id: &str) -> ErrorObject {
    ErrorObject::invalid_params(format!("unknown task: {id}"))
}

fn now_rfc3339() -> String {
    crate::audit::rfc3339_with(SystemTime::now(), false)
}

/// The state of a task that changes.
pub(crate) struct TaskState {
    pub(crate) status: TaskStatus,
    pub(crate) status_message: Option<String>,
    pub(crate) updated: String,
    /// The result of the request (a `CallToolResult`), once completed.
    pub(crate) result: Option<JsonObject>,
    /// The error of the request, once failed.
    pub(crate) error: Option<ErrorObject>,
    /// Questions to the client not answered yet (modern tasks).
    pub(crate) pending: InputRequests,
    /// Answers from `tasks/update`.
    pub(crate) responses: InputResponses,
}

/// One task.
pub(crate) struct TaskSlot {
    pub(crate) id: String,
    owner: TaskOwner,
    pub(crate) created: String,
    created_at: Instant,
    pub(crate) ttl: Duration,
    pub(crate) cancel: CancellationToken,
    pub(crate) state: Mutex<TaskState>,
    changed: watch::Sender<u64>,
    next_key: AtomicUsize,
    /// What the request's run handed over to the run in the task
    /// ([`crate::Context::continue_as_task_with`]).
    pub(crate) handover: Mutex<Option<Box<dyn std::any::Any + Send>>>,
    /// With a shared store: where the task's record is written through.
    mirror: Option<Arc<Mirror>>,
}

/// The bus topic on which the running replica tells that a task's record changed.
pub(crate) const TASK_CHANGED: &str = "task-changed";
/// The bus topic on which another replica asks the running one to cancel a task.
pub(crate) const TASK_CANCEL: &str = "task-cancel";
/// The bus topic on which another replica passes `tasks/update` answers to the running one.
pub(crate) const TASK_UPDATE: &str = "task-update";
/// How long a replica waiting for another's task (`tasks/result`) waits at most between reads
/// of its record, should a `task-changed` message be missed.
const REMOTE_POLL: Duration = Duration::from_secs(1);
/// The longest wait between two attempts at writing a task's record while the store is
/// unreachable (retried until a newer state is written, or the task expires).
const RETRY_MAX: Duration = Duration::from_secs(5);

/// How a task is written through to the shared store.
struct Mirror {
    store: Arc<dyn Store>,
    /// [`TaskOwner::shared_key`].
    owner: String,
    /// Creation time, milliseconds since the Unix epoch (the index order).
    created_ms: u64,
    /// The version of the state last written, if any (a write never replaces a newer one).
    written: tokio::sync::Mutex<Option<u64>>,
    /// The newest version to write: a failed write is retried until a newer one exists.
    latest: std::sync::atomic::AtomicU64,
}

/// The key of a task's record.
fn record_key(id: &str) -> String {
    format!("task:{id}")
}

/// The key of an owner's index of tasks.
fn index_key(owner: &str) -> String {
    format!("tasks-of:{owner}")
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A task as the shared store keeps it: what another replica needs to answer `tasks/get`,
/// `tasks/result` and `tasks/list` for it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskRecord {
    pub(crate) id: String,
    /// [`TaskOwner::shared_key`].
    owner: String,
    created: String,
    created_ms: u64,
    ttl_ms: u64,
    pub(crate) status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_message: Option<String>,
    updated: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<JsonObject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<ErrorObject>,
    #[serde(default, skip_serializing_if = "InputRequests::is_empty")]
    pending: InputRequests,
}

/// The message of `task-cancel` and `task-update`.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Remote {
    id: String,
    /// [`TaskOwner::shared_key`] of the caller, checked again by the running replica.
    owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input_responses: Option<InputResponses>,
}

/// The message of `task-changed`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Changed {
    id: String,
}

impl TaskSlot {
    fn expired(&self) -> bool {
        self.created_at.elapsed() > self.ttl
    }

    /// Whether `caller` may see this task (get, result, list, cancel, update): only its owner.
    pub(crate) fn visible_to(&self, caller: &TaskOwner) -> bool {
        self.owner == *caller
    }

    fn is_finished(&self) -> bool {
        self.state
            .lock()
            .expect("not poisoned")
            .status
            .is_terminal()
    }

    fn touch(&self, state: &mut TaskState) {
        state.updated = now_rfc3339();
        self.changed.send_modify(|n| *n += 1);
        if let Some(mirror) = &self.mirror {
            self.write_through(mirror, state);
        }
    }

    /// The record of the task in this state.
    fn record(&self, mirror: &Mirror, s: &TaskState) -> TaskRecord {
        TaskRecord {
            id: self.id.clone(),
            owner: mirror.owner.clone(),
            created: self.created.clone(),
            created_ms: mirror.created_ms,
            ttl_ms: self.ttl.as_millis() as u64,
            status: s.status,
            status_message: s.status_message.clone(),
            updated: s.updated.clone(),
            result: s.result.clone(),
            error: s.error.clone(),
            pending: s.pending.clone(),
        }
    }

    /// Writes the record of the task in `state` (held locked by the caller) to the store in
    /// the background, then tells the other replicas it changed. A write that finds a newer
    /// one done is dropped; a failed one is logged.
    fn write_through(&self, mirror: &Arc<Mirror>, state: &TaskState) {
        let left = self.ttl.saturating_sub(self.created_at.elapsed());
        if left.is_zero() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let version = *self.changed.borrow();
        let bytes = serde_json::to_vec(&self.record(mirror, state)).expect("serializes");
        let changed = serde_json::to_vec(&Changed {
            id: self.id.clone(),
        })
        .expect("serializes");
        let key = record_key(&self.id);
        mirror.latest.store(version, Ordering::Relaxed);
        let mirror = mirror.clone();
        let expires = tokio::time::Instant::now() + left;
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(100);
            let mut logged = false;
            loop {
                {
                    let mut written = mirror.written.lock().await;
                    if written.is_some_and(|w| w >= version) {
                        return;
                    }
                    let left = expires.saturating_duration_since(tokio::time::Instant::now());
                    if left.is_zero() {
                        return;
                    }
                    match mirror.store.put(&key, &bytes, left).await {
                        Ok(()) => {
                            *written = Some(version);
                            break;
                        }
                        Err(e) if !logged => {
                            logged = true;
                            tracing::warn!(error = %e, task = %key, "a task's record was not written to the shared store: retrying");
                        }
                        Err(_) => {}
                    }
                }
                // A newer state has its own write (and retries): this one is moot.
                if mirror.latest.load(Ordering::Relaxed) != version {
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RETRY_MAX);
            }
            if let Err(e) = mirror.store.publish(TASK_CHANGED, &changed).await {
                tracing::warn!(error = %e, task = %key, "a task's change was not told to the other replicas");
            }
        });
    }

    /// With a shared store: writes the new task's record and adds it to its owner's index.
    pub(crate) async fn persist_new(&self) -> Result<(), StoreError> {
        let Some(mirror) = &self.mirror else {
            return Ok(());
        };
        let (version, bytes) = {
            let s = self.state.lock().expect("not poisoned");
            let bytes = serde_json::to_vec(&self.record(mirror, &s)).expect("serializes");
            (*self.changed.borrow(), bytes)
        };
        let mut written = mirror.written.lock().await;
        if !written.is_some_and(|w| w >= version) {
            mirror
                .store
                .put(&record_key(&self.id), &bytes, self.ttl)
                .await?;
            *written = Some(version);
        }
        drop(written);
        mirror
            .store
            .index_add(
                &index_key(&mirror.owner),
                &self.id,
                mirror.created_ms,
                DEFAULT_TTL * 24,
            )
            .await
    }

    /// Writes the task's record again as this replica has it (after another replica wrote
    /// over it).
    fn rewrite(&self) {
        let mut s = self.state.lock().expect("not poisoned");
        self.touch(&mut s);
    }

    /// Moves to a new status, unless the task already ended. Returns whether it moved.
    pub(crate) fn set_status(&self, status: TaskStatus, message: Option<String>) -> bool {
        let mut s = self.state.lock().expect("not poisoned");
        if s.status.is_terminal() {
            return false;
        }
        s.status = status;
        s.status_message = message;
        self.touch(&mut s);
        true
    }

    pub(crate) fn complete(&self, result: JsonObject) {
        let mut s = self.state.lock().expect("not poisoned");
        if s.status.is_terminal() {
            return;
        }
        s.status = TaskStatus::Completed;
        s.result = Some(result);
        s.pending.clear();
        self.touch(&mut s);
    }

    pub(crate) fn fail(&self, error: ErrorObject) {
        let mut s = self.state.lock().expect("not poisoned");
        if s.status.is_terminal() {
            return;
        }
        s.status = TaskStatus::Failed;
        s.status_message = Some(error.message.clone());
        s.error = Some(error);
        s.pending.clear();
        self.touch(&mut s);
    }

    /// Cancels the task; false when it had already ended.
    pub(crate) fn cancel(&self) -> bool {
        self.cancel.cancel();
        self.set_status(
            TaskStatus::Cancelled,
            Some("The task was cancelled by request.".into()),
        )
    }

    /// Waits until the task ends.
    pub(crate) async fn finished(&self) {
        let mut rx = self.changed.subscribe();
        loop {
            if self
                .state
                .lock()
                .expect("not poisoned")
                .status
                .is_terminal()
            {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// The key of the next unnamed input request.
    pub(crate) fn next_key(&self, method: &str) -> String {
        let n = self.next_key.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", method.replace('/', "."))
    }

    /// Parks an input request until `tasks/update` answers it (or the task is cancelled).
    pub(crate) async fn ask(&self, key: String, request: InputRequest) -> Option<InputResponse> {
        {
            let mut s = self.state.lock().expect("not poisoned");
            if let Some(answer) = s.responses.get(&key) {
                return Some(answer.clone());
            }
            s.pending.insert(key.clone(), request);
            if !s.status.is_terminal() {
                s.status = TaskStatus::InputRequired;
            }
            self.touch(&mut s);
        }
        let mut rx = self.changed.subscribe();
        loop {
            {
                let mut s = self.state.lock().expect("not poisoned");
                if let Some(answer) = s.responses.get(&key).cloned() {
                    if s.pending.is_empty() && s.status == TaskStatus::InputRequired {
                        s.status = TaskStatus::Working;
                        self.touch(&mut s);
                    }
                    return Some(answer);
                }
                if s.status.is_terminal() {
                    return None;
                }
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { return None },
                () = self.cancel.cancelled() => return None,
            }
        }
    }

    /// Takes answers gathered before the task started (multi-round trips), for the handler to
    /// find when it asks again.
    pub(crate) fn seed(&self, answers: InputResponses) {
        if answers.is_empty() {
            return;
        }
        let mut s = self.state.lock().expect("not poisoned");
        s.responses.extend(answers);
    }

    /// Takes answers from `tasks/update`; answers to unknown or answered keys are ignored.
    pub(crate) fn update(&self, responses: InputResponses) {
        let mut s = self.state.lock().expect("not poisoned");
        for (key, answer) in responses {
            if s.pending.remove(&key).is_some() {
                s.responses.insert(key, answer);
            }
        }
        self.touch(&mut s);
    }

    /// The legacy (2025-11-25) wire form.
    pub(crate) fn legacy(&self) -> LegacyTask {
        let s = self.state.lock().expect("not poisoned");
        legacy_form(
            &self.id,
            &self.created,
            self.ttl.as_millis() as u64,
            s.status,
            &s.status_message,
            &s.updated,
        )
    }

    /// The extension's wire form, with what the status calls for when `detailed`.
    pub(crate) fn modern(&self, detailed: bool) -> Task {
        let s = self.state.lock().expect("not poisoned");
        Task {
            task_id: self.id.clone(),
            status: s.status,
            status_message: s.status_message.clone(),
            created_at: self.created.clone(),
            last_updated_at: s.updated.clone(),
            ttl_ms: Some(self.ttl.as_millis() as u64),
            poll_interval_ms: Some(POLL_INTERVAL_MS),
            input_requests: (detailed
                && s.status == TaskStatus::InputRequired
                && !s.pending.is_empty())
            .then(|| s.pending.clone()),
            result: detailed.then(|| s.result.clone()).flatten(),
            error: detailed.then(|| s.error.clone()).flatten(),
        }
    }

    /// The stored result of a completed task, with `_meta` naming the task (legacy `tasks/result`).
    pub(crate) fn payload(&self) -> Result<JsonObject, ErrorObject> {
        let s = self.state.lock().expect("not poisoned");
        payload_of(&self.id, s.status, &s.result, &s.error)
    }
}

fn legacy_form(
    id: &str,
    created: &str,
    ttl_ms: u64,
    status: TaskStatus,
    status_message: &Option<String>,
    updated: &str,
) -> LegacyTask {
    LegacyTask {
        task_id: id.to_owned(),
        status,
        status_message: status_message.clone(),
        created_at: created.to_owned(),
        last_updated_at: updated.to_owned(),
        ttl: Some(ttl_ms),
        poll_interval: Some(POLL_INTERVAL_MS),
    }
}

fn payload_of(
    id: &str,
    status: TaskStatus,
    result: &Option<JsonObject>,
    error: &Option<ErrorObject>,
) -> Result<JsonObject, ErrorObject> {
    match (status, result, error) {
        (TaskStatus::Completed, Some(result), _) => {
            let mut result = result.clone();
            let mut meta = match result.remove("_meta") {
                Some(serde_json::Value::Object(m)) => Meta(m),
                _ => Meta::new(),
            };
            meta.set_related_task(id);
            result.insert("_meta".into(), serde_json::Value::Object(meta.0));
            Ok(result)
        }
        (TaskStatus::Failed, _, Some(e)) => Err(e.clone()),
        (TaskStatus::Cancelled, _, _) => Err(ErrorObject::invalid_params("the task was cancelled")),
        _ => Err(ErrorObject::internal_error("the task has no result")),
    }
}

impl TaskRecord {
    fn expired(&self) -> bool {
        unix_ms(SystemTime::now()) > self.created_ms.saturating_add(self.ttl_ms)
    }

    /// How long the record has to live.
    fn left(&self) -> Duration {
        Duration::from_millis(
            self.created_ms
                .saturating_add(self.ttl_ms)
                .saturating_sub(unix_ms(SystemTime::now())),
        )
    }

    /// The legacy (2025-11-25) wire form.
    pub(crate) fn legacy(&self) -> LegacyTask {
        legacy_form(
            &self.id,
            &self.created,
            self.ttl_ms,
            self.status,
            &self.status_message,
            &self.updated,
        )
    }

    /// The extension's wire form, in full (`tasks/get`).
    pub(crate) fn modern(self) -> Task {
        let asking = self.status == TaskStatus::InputRequired && !self.pending.is_empty();
        Task {
            task_id: self.id,
            status: self.status,
            status_message: self.status_message,
            created_at: self.created,
            last_updated_at: self.updated,
            ttl_ms: Some(self.ttl_ms),
            poll_interval_ms: Some(POLL_INTERVAL_MS),
            input_requests: asking.then_some(self.pending),
            result: self.result,
            error: self.error,
        }
    }

    /// The result of the task (legacy `tasks/result`).
    pub(crate) fn payload(&self) -> Result<JsonObject, ErrorObject> {
        payload_of(&self.id, self.status, &self.result, &self.error)
    }
}

/// The record of task `id` in `store`, if `caller` may see it and it has not expired; otherwise
/// the same error as for an unknown task. A store that cannot be reached gives its -32004 error.
pub(crate) async fn read_record(
    store: &dyn Store,
    id: &str,
    caller: &TaskOwner,
) -> Result<TaskRecord, ErrorObject> {
    read_record_of(store, id, &caller.shared_key()).await
}

async fn read_record_of(
    store: &dyn Store,
    id: &str,
    owner: &str,
) -> Result<TaskRecord, ErrorObject> {
    let bytes = store
        .get(&record_key(id))
        .await
        .map_err(|e| e.to_error_object())?
        .ok_or_else(|| unknown_task(id))?;
    let record: TaskRecord = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, task = id, "a malformed task record in the shared store");
            return Err(unknown_task(id));
        }
    };
    if record.owner != owner || record.expired() {
        return Err(unknown_task(id));
    }
    Ok(record)
}

/// Waits until the record of another replica's task is terminal (legacy `tasks/result`):
/// woken by `task-changed`, reading the record again at least every [`REMOTE_POLL`].
pub(crate) async fn finished_record(
    store: &dyn Store,
    id: &str,
    caller: &TaskOwner,
) -> Result<TaskRecord, ErrorObject> {
    let owner = caller.shared_key();
    let mut bus = store.subscribe();
    loop {
        let record = read_record_of(store, id, &owner).await?;
        if record.status.is_terminal() {
            return Ok(record);
        }
        let changed = async {
            loop {
                match bus.recv().await {
                    Ok(m) if m.topic == TASK_CHANGED => {
                        if serde_json::from_slice::<Changed>(&m.payload).is_ok_and(|c| c.id == id) {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await
                    }
                }
            }
        };
        let _ = tokio::time::timeout(REMOTE_POLL, changed).await;
    }
}

/// Cancels another replica's task (`tasks/cancel`): writes the cancelled status to its record,
/// then asks the running replica to cancel it. Returns the cancelled record, or `None` when the
/// task had already ended.
pub(crate) async fn cancel_record(
    store: &dyn Store,
    id: &str,
    caller: &TaskOwner,
) -> Result<Option<TaskRecord>, ErrorObject> {
    let owner = caller.shared_key();
    let mut record = read_record_of(store, id, &owner).await?;
    if record.status.is_terminal() {
        return Ok(None);
    }
    record.status = TaskStatus::Cancelled;
    record.status_message = Some("The task was cancelled by request.".into());
    record.updated = now_rfc3339();
    record.pending.clear();
    let left = record.left();
    if !left.is_zero() {
        let bytes = serde_json::to_vec(&record).expect("serializes");
        store
            .put(&record_key(id), &bytes, left)
            .await
            .map_err(|e| e.to_error_object())?;
    }
    let message = serde_json::to_vec(&Remote {
        id: id.to_owned(),
        owner,
        input_responses: None,
    })
    .expect("serializes");
    store
        .publish(TASK_CANCEL, &message)
        .await
        .map_err(|e| e.to_error_object())?;
    Ok(Some(record))
}

/// Passes `tasks/update` answers to the replica running another replica's task.
pub(crate) async fn update_record(
    store: &dyn Store,
    id: &str,
    caller: &TaskOwner,
    responses: InputResponses,
) -> Result<(), ErrorObject> {
    let owner = caller.shared_key();
    read_record_of(store, id, &owner).await?;
    let message = serde_json::to_vec(&Remote {
        id: id.to_owned(),
        owner,
        input_responses: Some(responses),
    })
    .expect("serializes");
    store
        .publish(TASK_UPDATE, &message)
        .await
        .map_err(|e| e.to_error_object())
}

/// The tasks by id, and their ids oldest first.
type Tasks = (HashMap<String, Arc<TaskSlot>>, Vec<String>);

/// Every task of a server.
#[derive(Default)]
pub(crate) struct TaskStore {
    tasks: Mutex<Tasks>,
}

impl TaskStore {
    /// A new task of `owner` in the `working` state, unless `owner` already keeps `quota`
    /// unfinished tasks (its oldest finished ones make room first), or the server keeps `total`
    /// unfinished tasks (the oldest finished ones of anyone make room first). Nobody's running
    /// task is ever cancelled to make room.
    ///
    /// With a shared `store`, the task is written through to it ([`TaskSlot::persist_new`] is
    /// then for the caller to await). The quota counts this replica's tasks only.
    pub(crate) fn create(
        &self,
        ttl: Option<Duration>,
        owner: TaskOwner,
        quota: usize,
        total: usize,
        store: Option<&Arc<dyn Store>>,
    ) -> Result<Arc<TaskSlot>, ErrorObject> {
        let quota = quota.max(1);
        let mut t = self.tasks.lock().expect("not poisoned");
        Self::reap(&mut t);
        let own = t.1.iter().filter(|id| t.0[*id].owner == owner).count();
        if own >= quota && !Self::drop_oldest_finished(&mut t, Some(&owner)) {
            return Err(ErrorObject::new(
                crate::admission::ACCESS_DENIED,
                format!(
                    "too many tasks: you already have {quota} unfinished tasks, the most one caller may have; wait for one to finish or cancel one"
                ),
            )
            .with_data(serde_json::json!({ "reason": "task_quota", "limit": quota })));
        }
        if t.1.len() >= total.max(1) && !Self::drop_oldest_finished(&mut t, None) {
            return Err(ErrorObject::new(
                ErrorCode(-32000),
                "the server holds too many unfinished tasks: try again later",
            )
            .with_data(serde_json::json!({ "reason": "server_busy" })));
        }
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).expect("the OS random source works");
        let now = now_rfc3339();
        let mirror = store.map(|store| {
            Arc::new(Mirror {
                store: store.clone(),
                owner: owner.shared_key(),
                created_ms: unix_ms(SystemTime::now()),
                written: tokio::sync::Mutex::new(None),
                latest: std::sync::atomic::AtomicU64::new(0),
            })
        });
        let slot = Arc::new(TaskSlot {
            id: URL_SAFE_NO_PAD.encode(id),
            owner,
            created: now.clone(),
            created_at: Instant::now(),
            ttl: ttl.unwrap_or(DEFAULT_TTL).min(DEFAULT_TTL * 24),
            cancel: CancellationToken::new(),
            state: Mutex::new(TaskState {
                status: TaskStatus::Working,
                status_message: None,
                updated: now,
                result: None,
                error: None,
                pending: InputRequests::new(),
                responses: InputResponses::new(),
            }),
            changed: watch::channel(0).0,
            next_key: AtomicUsize::new(0),
            handover: Mutex::new(None),
            mirror,
        });
        t.0.insert(slot.id.clone(), slot.clone());
        t.1.push(slot.id.clone());
        Ok(slot)
    }

    /// Forgets the oldest finished task (of `owner`, or of anyone); false when there is none.
    fn drop_oldest_finished(t: &mut Tasks, owner: Option<&TaskOwner>) -> bool {
        let (map, order) = t;
        let found = order.iter().position(|id| {
            let slot = &map[id];
            owner.is_none_or(|o| slot.owner == *o) && slot.is_finished()
        });
        match found {
            Some(i) => {
                let id = order.remove(i);
                map.remove(&id);
                true
            }
            None => false,
        }
    }

    /// Forgets the tasks past their time to live, cancelling those still running.
    fn reap(t: &mut Tasks) {
        let (map, order) = t;
        order.retain(|id| match map.get(id) {
            Some(slot) if slot.expired() => {
                slot.cancel.cancel();
                map.remove(id);
                false
            }
            Some(_) => true,
            None => false,
        });
    }

    /// The task with this id, if `caller` may see it and it has not expired; otherwise the
    /// same error whether it never existed, expired or belongs to someone else.
    pub(crate) fn get(&self, id: &str, caller: &TaskOwner) -> Result<Arc<TaskSlot>, ErrorObject> {
        let mut t = self.tasks.lock().expect("not poisoned");
        Self::reap(&mut t);
        t.0.get(id)
            .filter(|slot| slot.visible_to(caller))
            .cloned()
            .ok_or_else(|| unknown_task(id))
    }

    /// The tasks `caller` may see, oldest first.
    pub(crate) fn list(&self, caller: &TaskOwner) -> Vec<Arc<TaskSlot>> {
        let mut t = self.tasks.lock().expect("not poisoned");
        Self::reap(&mut t);
        t.1.iter()
            .filter_map(|id| t.0.get(id))
            .filter(|slot| slot.visible_to(caller))
            .cloned()
            .collect()
    }

    /// Forgets a task just created whose record could not be written.
    pub(crate) fn remove(&self, id: &str) {
        let mut t = self.tasks.lock().expect("not poisoned");
        if let Some(slot) = t.0.remove(id) {
            slot.cancel.cancel();
        }
        t.1.retain(|i| i != id);
    }

    /// The tasks `caller` may see on every replica sharing `store`, oldest first (legacy
    /// `tasks/list`): this replica's, and the records in the caller's index.
    pub(crate) async fn list_shared(
        &self,
        store: &dyn Store,
        caller: &TaskOwner,
    ) -> Result<Vec<LegacyTask>, ErrorObject> {
        let owner = caller.shared_key();
        let index = index_key(&owner);
        let members = store
            .index_members(&index)
            .await
            .map_err(|e| e.to_error_object())?;
        let local = self.list(caller);
        let mut all: Vec<(u64, LegacyTask)> = local
            .iter()
            .map(|slot| {
                let at = slot.mirror.as_ref().map_or(0, |m| m.created_ms);
                (at, slot.legacy())
            })
            .collect();
        for id in members {
            if local.iter().any(|slot| slot.id == id) {
                continue;
            }
            match read_record_of(store, &id, &owner).await {
                Ok(record) => all.push((record.created_ms, record.legacy())),
                Err(e) if e.code == crate::store::STORE_UNAVAILABLE => return Err(e),
                Err(_) => {
                    // Expired (or never written): out of the index.
                    if let Err(e) = store.index_remove(&index, &id).await {
                        tracing::warn!(error = %e, "a stale task was not removed from its owner's index");
                    }
                }
            }
        }
        all.sort_by_key(|(at, _)| *at);
        Ok(all.into_iter().map(|(_, task)| task).collect())
    }

    /// Applies a `task-cancel` or `task-update` message of another replica to the task it
    /// names, if this replica runs it and the caller the message names owns it.
    pub(crate) fn apply_remote(&self, message: &crate::store::Message) {
        if message.topic != TASK_CANCEL && message.topic != TASK_UPDATE {
            return;
        }
        let remote: Remote = match serde_json::from_slice(&message.payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, topic = %message.topic, "a malformed task message on the store's bus");
                return;
            }
        };
        let slot = {
            let t = self.tasks.lock().expect("not poisoned");
            t.0.get(&remote.id).cloned()
        };
        let Some(slot) = slot else { return };
        if slot.mirror.as_ref().is_none_or(|m| m.owner != remote.owner) {
            return;
        }
        if message.topic == TASK_CANCEL {
            if !slot.cancel() {
                // It had ended: the record says so again, over the other replica's cancel.
                slot.rewrite();
            }
        } else if let Some(responses) = remote.input_responses {
            slot.update(responses);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(
            t.ends_with('Z') && &t[4..5] == "-" && &t[10..11] == "T",
            "{t}"
        );
    }

    #[tokio::test]
    async fn input_is_parked_until_update() {
        let store = TaskStore::default();
        let task = store
            .create(None, TaskOwner::Anonymous, 10, 10, None)
            .unwrap();
        let t2 = task.clone();
        let asked =
            tokio::spawn(async move { t2.ask("k".into(), InputRequest::ListRoots(None)).await });
        for _ in 0..100 {
            if task.state.lock().unwrap().status == TaskStatus::InputRequired {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(task.modern(true).input_requests.is_some());
        let mut answers = InputResponses::new();
        answers.insert(
            "unknown".into(),
            InputResponse::ListRoots(ListRootsResult::default()),
        );
        answers.insert(
            "k".into(),
            InputResponse::ListRoots(ListRootsResult::default()),
        );
        task.update(answers);
        assert!(asked.await.unwrap().is_some());
        assert_eq!(task.state.lock().unwrap().status, TaskStatus::Working);
        assert!(task.cancel());
        assert!(!task.cancel(), "a second cancel finds it ended");
        assert!(store.get("nope", &TaskOwner::Anonymous).is_err());
    }

    #[tokio::test]
    async fn records_are_written_through_and_remote_messages_check_the_owner() {
        let shared: Arc<dyn Store> = Arc::new(crate::store::MemoryStore::new());
        let tasks = TaskStore::default();
        let alice = TaskOwner::Principal(crate::Principal::new(None, "alice"));
        let bob = TaskOwner::Principal(crate::Principal::new(None, "bob"));
        let task = tasks
            .create(None, alice.clone(), 10, 10, Some(&shared))
            .unwrap();
        task.persist_new().await.unwrap();
        let record = read_record(shared.as_ref(), &task.id, &alice)
            .await
            .unwrap();
        assert_eq!(record.status, TaskStatus::Working);
        assert_eq!(
            read_record(shared.as_ref(), &task.id, &bob)
                .await
                .unwrap_err(),
            unknown_task(&task.id)
        );
        // A change is written through.
        task.set_status(TaskStatus::Working, Some("halfway".into()));
        let mut seen = None;
        for _ in 0..1000 {
            let r = read_record(shared.as_ref(), &task.id, &alice)
                .await
                .unwrap();
            if r.status_message.is_some() {
                seen = r.status_message;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(seen.as_deref(), Some("halfway"));
        // A cancel naming another owner is ignored; the owner's is applied.
        let cancel = |owner: &TaskOwner| crate::store::Message {
            topic: TASK_CANCEL.into(),
            payload: serde_json::to_vec(&Remote {
                id: task.id.clone(),
                owner: owner.shared_key(),
                input_responses: None,
            })
            .unwrap(),
        };
        tasks.apply_remote(&cancel(&bob));
        assert_eq!(task.state.lock().unwrap().status, TaskStatus::Working);
        tasks.apply_remote(&cancel(&alice));
        assert_eq!(task.state.lock().unwrap().status, TaskStatus::Cancelled);
        // The owner's index names it.
        let listed = tasks.list_shared(shared.as_ref(), &alice).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(
            tasks
                .list_shared(shared.as_ref(), &bob)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
