//! run: the handler, within the timeout admit granted; or, for a call that runs as a task, the
//! rest of the pipeline in a task.
//!
//! Whether a call becomes a task: in 2025-11-25 when the client asks (`task` in the params), in
//! the modern era when the tool can run as a task and the client declared the tasks extension.
//! A tool that defers its task ([`crate::ToolHandler::defers_task`]) first runs as an ordinary
//! modern request and becomes a task only when its handler calls
//! [`Context::continue_as_task`]. The handler's error is the call's failure (a tool error, or
//! `input_required`); running out of time is a tool error too.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use mcp_core::ErrorObject;
use mcp_core::types::*;

use super::{Call, Detach, Flow, Stage, Step, Stop};
use crate::context::{Context, ContextInner, InputMode};
use crate::error::Error;
use crate::server::{Server, tasks_extension_missing};
use crate::tasks::TaskSlot;

/// The run stage.
pub(crate) struct Run;

impl Stage for Run {
    fn name(&self) -> &'static str {
        "run"
    }

    fn apply<'a>(&'a self, server: &'a Server, call: &'a mut Call) -> Step<'a> {
        Step::Wait(Box::pin(run(server, call)))
    }
}

async fn run(server: &Server, call: &mut Call) -> Result<Flow, Stop> {
    // A deferred task starts when the handler calls `continue_as_task`.
    let mut deferred = None;
    if call.task.is_none()
        && let Some(ttl) = task_for(
            &call.cx,
            call.callee.task_support,
            call.requested_task.as_ref(),
        )
        .map_err(Stop::Error)?
    {
        match &call.cx.inner.input {
            InputMode::Modern(mrtr) if call.callee.defers_task => {
                mrtr.task_allowed.store(true, Ordering::Relaxed);
                deferred = Some(ttl);
            }
            _ => {
                return Ok(Flow::Detach(Detach {
                    ttl,
                    answers: InputResponses::new(),
                    handover: None,
                }));
            }
        }
    }
    // A deferred task calls the handler again with the same arguments, and a result filter's
    // release approval is bound to them: kept then, otherwise handed over without a copy.
    let keep = deferred.is_some() || server.has_filters();
    let arguments = match &mut call.arguments {
        serde_json::Value::Object(arguments) if keep => arguments.clone(),
        serde_json::Value::Object(arguments) => std::mem::take(arguments),
        _ => unreachable!("the arguments are an object"),
    };
    let timeout = call.admission.as_ref().and_then(|a| a.timeout);
    let work = call.callee.handler.call(call.cx.clone(), arguments);
    let outcome = match call.admission.as_mut().and_then(|a| a.entered.take()) {
        None => bounded(timeout, "tool", &call.name, work).await,
        Some(entered) => {
            let work = crate::context::with_entered(entered, work);
            bounded(timeout, "tool", &call.name, work).await
        }
    };
    if let (Some(ttl), InputMode::Modern(mrtr)) = (deferred, &call.cx.inner.input)
        && mrtr.continue_as_task.load(Ordering::Relaxed)
    {
        return Ok(Flow::Detach(Detach {
            ttl,
            answers: mrtr.responses.clone(),
            handover: mrtr.handover.lock().expect("not poisoned").take(),
        }));
    }
    call.result = Some(outcome.map_err(Stop::Failed)?);
    Ok(Flow::Next)
}

/// Runs a handler within its timeout; when it expires the handler is dropped (cancelled).
pub(crate) async fn bounded<T>(
    timeout: Option<std::time::Duration>,
    kind: &str,
    name: &str,
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let Some(limit) = timeout else {
        return work.await;
    };
    match tokio::time::timeout(limit, work).await {
        Ok(outcome) => outcome,
        Err(_) => {
            tracing::warn!(kind, name, ?limit, "a handler ran out of time");
            Err(Error::public(format!(
                "{kind} `{name}` timed out after {} ms",
                limit.as_millis()
            )))
        }
    }
}

/// Whether this call becomes a task, and for how long it is kept: in 2025-11-25 when the
/// client asks (`task` in the params), in the modern era when the tool can run as a task and
/// the client declared the tasks extension.
pub(crate) fn task_for(
    cx: &Context,
    support: TaskSupport,
    requested: Option<&LegacyTaskMetadata>,
) -> Result<Option<Option<std::time::Duration>>, ErrorObject> {
    let v = cx.protocol_version();
    if v.supports(mcp_core::Feature::LegacyTasks) {
        return match (requested, support) {
            (Some(_), TaskSupport::Forbidden) => Err(ErrorObject::method_not_found(
                "tools/call as a task (this tool does not run as a task)",
            )),
            (None, TaskSupport::Required) => Err(ErrorObject::method_not_found(
                "tools/call without a task (this tool only runs as a task)",
            )),
            (Some(t), _) => Ok(Some(t.ttl.map(std::time::Duration::from_millis))),
            (None, _) => Ok(None),
        };
    }
    if v.supports(mcp_core::Feature::Extensions) && support != TaskSupport::Forbidden {
        if cx.client_capabilities().has_extension(TASKS_EXTENSION) {
            return Ok(Some(None));
        }
        if support == TaskSupport::Required {
            return Err(tasks_extension_missing(
                "this tool only runs as a task: declare the tasks extension",
            ));
        }
    }
    Ok(None)
}

/// The context a task's handler runs in: the request's, with the task's cancellation, and (in
/// the modern era) questions to the client waiting in `tasks/get` until `tasks/update`.
pub(crate) fn task_context(cx: &Context, slot: &Arc<TaskSlot>) -> Context {
    let input = match &cx.inner.input {
        InputMode::Legacy(peer) => InputMode::Legacy(peer.clone()),
        _ => InputMode::Task(slot.clone()),
    };
    let parent = cx.clone();
    Context {
        inner: Arc::new(ContextInner {
            request_id: cx.inner.request_id.clone(),
            version: cx.inner.version,
            meta: cx.inner.meta.clone(),
            client: cx.inner.client.clone(),
            log_level: crate::context::LogLevelSource::Of(parent),
            progress_token: cx.inner.progress_token.clone(),
            last_progress: std::sync::Mutex::new(None),
            sink: cx.inner.sink.clone(),
            cancel: slot.cancel.clone(),
            input,
            state: cx.inner.state.clone(),
            identity: cx.inner.identity.clone(),
            session_id: cx.inner.session_id.clone(),
            tool_error: std::sync::atomic::AtomicBool::new(false),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mcp_core::ProtocolVersion;

    use super::*;
    use crate::pipeline::admit::Admit;
    use crate::pipeline::testing::{call, legacy_context, modern_context};
    use crate::{Policy, ToolHandler};

    /// Says its `text` back; with `forever` it never answers.
    struct Echo(TaskSupport);

    impl ToolHandler for Echo {
        fn definition(&self) -> Tool {
            let mut tool = Tool::new("echo", JsonObject::new());
            tool.execution = Some(ToolExecution {
                task_support: Some(self.0),
            });
            tool
        }
        fn policy(&self) -> Policy {
            Policy {
                timeout: Some(Duration::from_millis(50)),
                ..Policy::public()
            }
        }
        async fn call(&self, _cx: Context, args: JsonObject) -> crate::Result<CallToolResult> {
            if args.get("forever").is_some() {
                std::future::pending::<()>().await;
            }
            let text = args
                .get("text")
                .and_then(|t| t.as_str())
                .unwrap_or_default();
            Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
        }
    }

    #[tokio::test]
    async fn the_handler_runs_with_the_arguments() {
        let server = Server::new("t", "1").tool(Echo(TaskSupport::Forbidden));
        let cx = modern_context(Default::default(), None);
        let mut c = call(&server, cx, "echo", serde_json::json!({ "text": "hi" }));
        assert!(matches!(Run.apply(&server, &mut c).await, Ok(Flow::Next)));
        let result = c.result.expect("a result");
        assert_eq!(result.content, vec![ContentBlock::text("hi")]);
    }

    #[cfg(feature = "filters")]
    #[tokio::test]
    async fn the_arguments_stay_for_the_result_filters() {
        use crate::filter::{Action, Detector, Filters, Rule};
        let args = serde_json::json!({ "text": "hi" });
        // Without filters nothing later needs them: handed to the handler, not copied.
        let server = Server::new("t", "1").tool(Echo(TaskSupport::Forbidden));
        let mut c = call(
            &server,
            modern_context(Default::default(), None),
            "echo",
            args.clone(),
        );
        assert!(matches!(Run.apply(&server, &mut c).await, Ok(Flow::Next)));
        assert_eq!(c.arguments, serde_json::json!({}));
        // With filters, a release approval is bound to the call's own arguments.
        let filters = Filters::new([Rule::detector(Detector::Email, Action::Approve)]).unwrap();
        let server = Server::new("t", "1")
            .tool(Echo(TaskSupport::Forbidden))
            .filters(filters);
        let mut c = call(
            &server,
            modern_context(Default::default(), None),
            "echo",
            args.clone(),
        );
        assert!(matches!(Run.apply(&server, &mut c).await, Ok(Flow::Next)));
        assert_eq!(c.arguments, args);
    }

    #[tokio::test]
    async fn a_handler_past_its_timeout_is_a_tool_error() {
        let server = Server::new("t", "1").tool(Echo(TaskSupport::Forbidden));
        let cx = modern_context(Default::default(), None);
        let mut c = call(&server, cx, "echo", serde_json::json!({ "forever": true }));
        // The timeout comes with the admission.
        assert!(matches!(Admit.apply(&server, &mut c).await, Ok(Flow::Next)));
        match Run.apply(&server, &mut c).await {
            Err(Stop::Failed(e)) => assert_eq!(
                e.tool_message().as_deref(),
                Some("tool `echo` timed out after 50 ms")
            ),
            other => panic!("expected a timeout, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_call_that_must_be_a_task_detaches_or_is_refused() {
        let server = Server::new("t", "1").tool(Echo(TaskSupport::Required));
        // Modern, without the tasks extension: -32021.
        let cx = modern_context(Default::default(), None);
        let mut c = call(&server, cx, "echo", serde_json::json!({}));
        match Run.apply(&server, &mut c).await {
            Err(Stop::Error(e)) => assert_eq!(
                e.code,
                mcp_core::ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
            ),
            other => panic!("expected -32021, got {other:?}"),
        }
        // 2025-11-25 without `task`: method not found.
        let mut c = call(
            &server,
            legacy_context(ProtocolVersion::V2025_11_25),
            "echo",
            serde_json::json!({}),
        );
        match Run.apply(&server, &mut c).await {
            Err(Stop::Error(e)) => assert_eq!(e.code, mcp_core::ErrorCode::METHOD_NOT_FOUND),
            other => panic!("expected -32601, got {other:?}"),
        }
        // With the extension declared, the call detaches into a task.
        let capabilities = serde_json::from_value(serde_json::json!({
            "extensions": { TASKS_EXTENSION: {} }
        }))
        .expect("capabilities");
        let cx = modern_context(capabilities, None);
        let mut c = call(&server, cx, "echo", serde_json::json!({}));
        match Run.apply(&server, &mut c).await {
            Ok(Flow::Detach(d)) => {
                assert_eq!(d.ttl, None);
                assert!(d.answers.is_empty());
            }
            other => panic!("expected a task, got {other:?}"),
        }
        assert!(c.result.is_none());
    }
}
