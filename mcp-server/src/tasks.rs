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
        LegacyTask {
            task_id: self.id.clone(),
            status: s.status,
            status_message: s.status_message.clone(),
            created_at: self.created.clone(),
            last_updated_at: s.updated.clone(),
            ttl: Some(self.ttl.as_millis() as u64),
            poll_interval: Some(POLL_INTERVAL_MS),
        }
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
        match (s.status, &s.result, &s.error) {
            (TaskStatus::Completed, Some(result), _) => {
                let mut result = result.clone();
                let mut meta = match result.remove("_meta") {
                    Some(serde_json::Value::Object(m)) => Meta(m),
                    _ => Meta::new(),
                };
                meta.set_related_task(&self.id);
                result.insert("_meta".into(), serde_json::Value::Object(meta.0));
                Ok(result)
            }
            (TaskStatus::Failed, _, Some(e)) => Err(e.clone()),
            (TaskStatus::Cancelled, _, _) => {
                Err(ErrorObject::invalid_params("the task was cancelled"))
            }
            _ => Err(ErrorObject::internal_error("the task has no result")),
        }
    }
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
    pub(crate) fn create(
        &self,
        ttl: Option<Duration>,
        owner: TaskOwner,
        quota: usize,
        total: usize,
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
        let task = store.create(None, TaskOwner::Anonymous, 10, 10).unwrap();
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
}
