//! Tasks: the experimental tasks of 2025-11-25 (`Legacy*` types) and the tasks extension of the
//! modern era (`io.modelcontextprotocol/tasks`).

use serde::{Deserialize, Serialize};

use super::common::{Cursor, JsonObject, ResultType};
use super::mrtr::{InputRequests, InputResponses};
use crate::jsonrpc::ErrorObject;
use crate::meta::Meta;

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Running.
    Working,
    /// Waiting for input from the client.
    InputRequired,
    /// Done; the result is there.
    Completed,
    /// Failed with an error.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl TaskStatus {
    /// Whether the task can no longer change.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }
}

/// Params that name a task (`tasks/get`, `tasks/cancel`, `tasks/result`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskIdParams {
    /// The task.
    pub task_id: String,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

// ---- 2025-11-25 experimental tasks ----

/// A request to run as a task (2025-11-25).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyTaskMetadata {
    /// How long to keep the task after it is created, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
}

/// A task (2025-11-25).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyTask {
    /// Its id.
    pub task_id: String,
    /// Where it is.
    pub status: TaskStatus,
    /// A human-readable message about where it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// When it was created (ISO 8601).
    pub created_at: String,
    /// When it last changed (ISO 8601).
    pub last_updated_at: String,
    /// How long it is kept after creation, in milliseconds; `null` for ever.
    #[serde(default)]
    pub ttl: Option<u64>,
    /// How often to poll, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<u64>,
}

/// Result of a task-augmented request (2025-11-25).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyCreateTaskResult {
    /// The task.
    pub task: LegacyTask,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// Result of `tasks/get` and `tasks/cancel`, and params of `notifications/tasks/status` (2025-11-25).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyTaskResult {
    /// The task.
    #[serde(flatten)]
    pub task: LegacyTask,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// Result of `tasks/list` (2025-11-25).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyListTasksResult {
    /// The tasks on this page.
    pub tasks: Vec<LegacyTask>,
    /// The cursor of the next page, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<Cursor>,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

// ---- the tasks extension (modern era) ----

/// A task (tasks extension), with what its status calls for: input requests while
/// `input_required`, the result once `completed`, the error once `failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// Its id.
    pub task_id: String,
    /// Where it is.
    pub status: TaskStatus,
    /// A human-readable message about where it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// When it was created (ISO 8601).
    pub created_at: String,
    /// When it last changed (ISO 8601).
    pub last_updated_at: String,
    /// How long it is kept after creation, in milliseconds; `null` for ever.
    #[serde(default)]
    pub ttl_ms: Option<u64>,
    /// How often to poll, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_interval_ms: Option<u64>,
    /// What the server asks of the client (`input_required`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_requests: Option<InputRequests>,
    /// The result of the original request (`completed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<JsonObject>,
    /// The error of the original request (`failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

/// A task in place of a result (`resultType: "task"`), or the result of `tasks/get`
/// (`resultType: "complete"`); also the params of `notifications/tasks/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    /// The task.
    #[serde(flatten)]
    pub task: Task,
    /// `task` when created, `complete` from `tasks/get`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_type: Option<ResultType>,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// A task in place of a result.
pub type CreateTaskResult = TaskResult;

/// Result of `tasks/get`.
pub type GetTaskResult = TaskResult;

/// Params of `tasks/update` (tasks extension).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTaskRequestParams {
    /// The task.
    pub task_id: String,
    /// Answers to its outstanding input requests. An entry that is no answer at all is dropped
    /// when read: answers to keys the task did not ask under are ignored, so a malformed entry
    /// leaves its key unanswered rather than failing the whole update.
    #[serde(deserialize_with = "lenient_responses")]
    pub input_responses: InputResponses,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// [`InputResponses`], skipping the entries that are not input responses.
fn lenient_responses<'de, D>(deserializer: D) -> Result<InputResponses, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw = std::collections::BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
    Ok(raw
        .into_iter()
        .filter_map(|(k, v)| Some((k, serde_json::from_value(v).ok()?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_skips_entries_that_are_no_answers() {
        let p: UpdateTaskRequestParams = serde_json::from_value(serde_json::json!({
            "taskId": "t",
            "inputResponses": {
                "unknown-key": {"ignored": true},
                "k": {"action": "decline"}
            }
        }))
        .unwrap();
        assert_eq!(p.input_responses.keys().collect::<Vec<_>>(), ["k"]);
        assert!(
            serde_json::from_value::<UpdateTaskRequestParams>(
                serde_json::json!({"taskId": "t", "inputResponses": 3})
            )
            .is_err()
        );
    }
}
