//! The call pipeline: how a `tools/call` runs, as a list of named stages.
//!
//! ```text
//! lookup -> admit -> validate -> approve -> run -> check -> filter -> shape
//! ```
//!
//! The dispatcher looks the tool up, then runs [`STAGES`] in order over one [`Call`]. Each
//! stage is a value implementing [`Stage`], in its own file with its own tests:
//!
//! | stage | file | what it does | audit record |
//! |---|---|---|---|
//! | admit | `admit.rs` | access (identity, scopes, roles), argument size, rate limit, concurrency | a decision, allowed or denied |
//! | validate | `validate.rs` | `null` for an optional argument taken as absent; arguments against the input schema | a denial (`invalid_arguments`) |
//! | approve | `approve.rs` | a human's approval, bound to the exact arguments and the principal | an approval, granted or refused |
//! | run | `run.rs` | the handler within its timeout, or a task that runs the rest of the pipeline | (the response record) |
//! | check | `check.rs` | the structured result against the output schema | (the response record) |
//! | filter | `filter.rs` | the result through the server's [result filters](crate::filter): redacted, dropped, withheld, released after approval, capped | a filter record (rules fired and counts) and, for a release, an approval |
//! | shape | `shape.rs` | the result shaped to the peer's version, its size limit, the wire form | (the response record) |
//!
//! The request and response records around the whole call are written by
//! [`Server::answer`](crate::Server) for every method.
//!
//! A stage lets the call go on ([`Flow::Next`]), ends it ([`Stop`]: a JSON-RPC error, or a
//! failure the model sees as a tool error), or (run) detaches the rest of the pipeline into a
//! task ([`Flow::Detach`]): the task runs the remaining stages, from run on, in the background.
//!
//! The pipeline sees a tool only through its handler ([`crate::ToolHandler`]): a tool whose
//! `call` forwards to another server goes through exactly the same stages as a local one. A new
//! stage is one more entry in [`STAGES`].

use std::sync::Arc;

use futures::future::BoxFuture;
use mcp_core::ErrorObject;
use mcp_core::types::*;
use serde_json::value::RawValue;

use crate::admission::{Admission, ItemPolicy};
use crate::context::Context;
use crate::error::Error;
use crate::handler::DynTool;
use crate::server::{Server, modern_meta, raw, result_type};
use crate::tasks::TaskSlot;
use crate::validate::ToolSchemas;

pub(crate) mod admit;
pub(crate) mod approve;
pub(crate) mod check;
pub(crate) mod filter;
pub(crate) mod run;
pub(crate) mod shape;
pub(crate) mod validate;

/// The stages of every tool call, in order.
pub(crate) const STAGES: &[&dyn Stage] = &[
    &admit::Admit,
    &validate::Validate,
    &approve::Approve,
    &run::Run,
    &check::Check,
    &filter::Filter,
    &shape::ShapeResult,
];

/// One step of the call pipeline.
pub(crate) trait Stage: Send + Sync {
    /// The stage's name, as in the table above.
    fn name(&self) -> &'static str;

    /// Applies the stage to the call: decided at once, or work to await.
    fn apply<'a>(&'a self, server: &'a Server, call: &'a mut Call) -> Step<'a>;
}

/// What a stage's [`Stage::apply`] returns.
pub(crate) enum Step<'a> {
    /// Decided without waiting for anything (validate, check, shape; approve and filter when
    /// the call needs neither): no future to allocate.
    Done(Result<Flow, Stop>),
    /// Work that may wait (admission's rate limit and concurrency, a human, the handler).
    Wait(BoxFuture<'a, Result<Flow, Stop>>),
}

impl<'a> std::future::IntoFuture for Step<'a> {
    type Output = Result<Flow, Stop>;
    type IntoFuture = futures::future::Either<
        std::future::Ready<Result<Flow, Stop>>,
        BoxFuture<'a, Result<Flow, Stop>>,
    >;

    fn into_future(self) -> Self::IntoFuture {
        match self {
            Step::Done(outcome) => futures::future::Either::Left(std::future::ready(outcome)),
            Step::Wait(work) => futures::future::Either::Right(work),
        }
    }
}

/// How a stage lets a call go on.
#[derive(Debug)]
pub(crate) enum Flow {
    /// To the next stage.
    Next,
    /// Into a task, which runs the rest of the pipeline from this stage on.
    Detach(Detach),
}

/// A call that becomes a task.
#[derive(Debug)]
pub(crate) struct Detach {
    /// How long the task is kept (`None`: the store's default).
    pub(crate) ttl: Option<std::time::Duration>,
    /// The input responses gathered before the task (a deferred task).
    pub(crate) answers: InputResponses,
    /// What the handler handed over to its run in the task (a deferred task).
    pub(crate) handover: Option<Box<dyn std::any::Any + Send>>,
}

/// Why a call ends before its result.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Answered with this JSON-RPC error.
    Error(ErrorObject),
    /// Answered as the tool's failure: a result with `isError: true` and the error's public
    /// message, `input_required` when the error asks the client for input, or a JSON-RPC error
    /// for an error that is one.
    Failed(Error),
}

/// The tool being called, as the registry holds it.
#[derive(Clone)]
pub(crate) struct Callee {
    pub(crate) handler: Arc<dyn DynTool>,
    /// The definition's `execution.taskSupport`.
    pub(crate) task_support: TaskSupport,
    /// [`crate::ToolHandler::defers_task`].
    pub(crate) defers_task: bool,
    pub(crate) policy: Arc<ItemPolicy>,
    /// The compiled schemas, or why they do not compile.
    pub(crate) schemas: Result<Arc<ToolSchemas>, String>,
}

/// A tool call on its way through the stages.
pub(crate) struct Call {
    /// The request's context (in a task: the task's).
    pub(crate) cx: Context,
    /// The tool's name.
    pub(crate) name: String,
    pub(crate) callee: Callee,
    /// The arguments: always a JSON object (`{}` when the request has none).
    pub(crate) arguments: serde_json::Value,
    /// The task the client asked for (2025-11-25).
    pub(crate) requested_task: Option<LegacyTaskMetadata>,
    /// What admit granted: the concurrency permit, held until the call ends; the timeout and
    /// the result size limit.
    pub(crate) admission: Option<Admission>,
    /// The compiled schemas, once validate has found they compile.
    pub(crate) schemas: Option<Arc<ToolSchemas>>,
    /// The task this call runs as, once detached.
    pub(crate) task: Option<Arc<TaskSlot>>,
    /// What the handler returned (run), then checked and shaped.
    pub(crate) result: Option<CallToolResult>,
    /// The answer, from shape.
    pub(crate) output: Option<Output>,
}

/// The shaped result of a call.
#[derive(Debug)]
pub(crate) enum Output {
    /// A call answered at once: the response's result.
    Response(Box<RawValue>),
    /// A call run as a task: the result `tasks/result` returns.
    Task(CallToolResult),
}

impl Call {
    pub(crate) fn new(cx: Context, params: CallToolRequestParams, callee: Callee) -> Self {
        Call {
            cx,
            name: params.name,
            callee,
            arguments: serde_json::Value::Object(params.arguments.unwrap_or_default()),
            requested_task: params.task,
            admission: None,
            schemas: None,
            task: None,
            result: None,
            output: None,
        }
    }

    /// Whether the call's peer speaks the modern era.
    pub(crate) fn modern(&self) -> bool {
        self.cx.era() == mcp_core::Era::Modern
    }
}

/// Runs `stages` over the call, up to the end or a stage that detaches it: then the index of
/// that stage, in `stages`, and how to detach.
async fn run_stages(
    server: &Server,
    call: &mut Call,
    stages: &[&dyn Stage],
) -> Result<Option<(usize, Detach)>, Stop> {
    for (i, stage) in stages.iter().enumerate() {
        match stage.apply(server, call).await {
            Ok(Flow::Next) => {}
            Ok(Flow::Detach(detach)) => return Ok(Some((i, detach))),
            Err(stop) => {
                tracing::debug!(stage = stage.name(), tool = %call.name, "the call stopped");
                return Err(stop);
            }
        }
    }
    Ok(None)
}

impl Server {
    /// Answers `tools/call`: looks the tool up and runs the pipeline.
    pub(crate) async fn call_tool(
        &self,
        cx: Context,
        params: CallToolRequestParams,
        binding: Option<&crate::server::Binding>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let Some(callee) = self.callee(&params.name) else {
            return Err(ErrorObject::invalid_params(format!(
                "Unknown tool: {}",
                params.name
            )));
        };
        let mut call = Call::new(cx, params, callee);
        match run_stages(self, &mut call, STAGES).await {
            Ok(None) => match call.output.take() {
                Some(Output::Response(out)) => Ok(out),
                _ => Err(ErrorObject::internal_error(
                    "internal error: the call pipeline produced no response",
                )),
            },
            // Boxed: the rare path's future stays out of every call's.
            Ok(Some((stage, detach))) => Box::pin(self.detach(call, stage, detach)).await,
            Err(stop) => self.stopped(&call.cx, stop, binding),
        }
    }

    /// The answer of a call a stage stopped.
    pub(crate) fn stopped(
        &self,
        cx: &Context,
        stop: Stop,
        binding: Option<&crate::server::Binding>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let e = match stop {
            Stop::Error(e) => return Err(e),
            Stop::Failed(e) => e,
        };
        if e.is_input_required() {
            return self.input_required(cx, binding);
        }
        match e.tool_message() {
            Some(message) => {
                cx.inner
                    .tool_error
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                let mut result = CallToolResult::error(message);
                result.result_type = result_type(cx);
                result.meta = modern_meta(cx, self);
                raw(&result)
            }
            None => Err(e.to_error_object(cx.era() == mcp_core::Era::Modern)),
        }
    }

    /// Turns the call into a task that runs `STAGES[stage..]` in the background (holding the
    /// call's concurrency permit, within its timeout), and answers with the task.
    /// With a shared store, the task's record is written first: a task the other replicas
    /// could not see is refused with the store's error.
    async fn detach(
        &self,
        mut call: Call,
        stage: usize,
        detach: Detach,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let options = &self.inner.options;
        let slot = self.inner.tasks.create(
            detach.ttl,
            crate::server::task_owner(&call.cx),
            options.max_tasks_per_principal,
            options.max_tasks,
            self.inner.store.as_ref(),
        )?;
        // The replica running a task hears the other replicas' cancels and answers for it from
        // before its record is seen (stateless HTTP starts no session that would have started
        // following the bus).
        self.follow_remote_events();
        if self.inner.store.is_some()
            && let Err(e) = slot.persist_new().await
        {
            tracing::warn!(error = %e, "a task was refused: its record could not be written to the shared store");
            self.inner.tasks.remove(&slot.id);
            return Err(e.to_error_object());
        }
        slot.seed(detach.answers);
        *slot.handover.lock().expect("not poisoned") = detach.handover;
        let cx = call.cx.clone();
        let modern = call.modern();
        call.cx = run::task_context(&cx, &slot);
        call.task = Some(slot.clone());
        let server = self.clone();
        let task = slot.clone();
        tokio::spawn(async move {
            let cancel = task.cancel.clone();
            let finished = tokio::select! {
                r = run_stages(&server, &mut call, &STAGES[stage..]) => r,
                () = cancel.cancelled() => return,
            };
            let result = match finished {
                Ok(_) => match call.output.take() {
                    Some(Output::Task(result)) => result,
                    _ => {
                        task.fail(ErrorObject::internal_error(
                            "internal error: the call pipeline produced no result",
                        ));
                        return;
                    }
                },
                Err(Stop::Error(e)) => {
                    task.fail(e);
                    return;
                }
                Err(Stop::Failed(e)) => match e.tool_message() {
                    Some(message) => CallToolResult::error(message),
                    None => {
                        task.fail(e.to_error_object(modern));
                        return;
                    }
                },
            };
            match serde_json::to_value(&result) {
                Ok(serde_json::Value::Object(object)) => task.complete(object),
                _ => task.fail(ErrorObject::internal_error("cannot serialize the result")),
            }
            // The concurrency permit is held until here.
            drop(call);
        });
        if modern {
            raw(&TaskResult {
                task: slot.modern(false),
                result_type: Some(ResultType::Task),
                meta: modern_meta(&cx, self),
            })
        } else {
            raw(&LegacyCreateTaskResult {
                task: slot.legacy(),
                meta: None,
            })
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! What the stages' tests share: a server, a request context, a call.

    use std::sync::Arc;

    use mcp_core::types::CallToolRequestParams;
    use mcp_core::{ProtocolVersion, RequestId};
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    use super::Call;
    use crate::context::{Context, ContextInner, InputMode, Mrtr};
    use crate::identity::Identity;
    use crate::server::Server;

    /// A modern request's context, with the given client capabilities and caller.
    pub(crate) fn modern_context(
        capabilities: mcp_core::types::ClientCapabilities,
        identity: Option<Identity>,
    ) -> Context {
        context(
            ProtocolVersion::V2026_07_28,
            capabilities,
            identity,
            InputMode::Modern(Mrtr::new(Default::default())),
        )
    }

    /// A legacy request's context of `version`; asking the client for input fails.
    pub(crate) fn legacy_context(version: ProtocolVersion) -> Context {
        context(
            version,
            Default::default(),
            None,
            InputMode::Legacy(Arc::new(NoPeer)),
        )
    }

    struct NoPeer;

    impl crate::peer::Peer for NoPeer {
        fn request<'a>(
            &'a self,
            _method: &'static str,
            _params: Option<Box<serde_json::value::RawValue>>,
            _sink: &'a crate::peer::Sink,
        ) -> futures::future::BoxFuture<
            'a,
            Result<Box<serde_json::value::RawValue>, mcp_core::ErrorObject>,
        > {
            Box::pin(async { Err(mcp_core::ErrorObject::internal_error("no client")) })
        }
    }

    fn context(
        version: ProtocolVersion,
        client_capabilities: mcp_core::types::ClientCapabilities,
        identity: Option<Identity>,
        input: InputMode,
    ) -> Context {
        let (tx, rx) = mpsc::channel(16);
        // Nothing reads what the handler sends.
        drop(rx);
        Context {
            inner: Arc::new(ContextInner {
                request_id: RequestId::from(1_i64),
                version,
                meta: crate::request_meta::RequestMeta::empty(),
                client: Arc::new(crate::context::ClientSide {
                    capabilities: client_capabilities,
                    info: None,
                }),
                log_level: crate::context::LogLevelSource::Fixed(None),
                progress_token: None,
                last_progress: std::sync::Mutex::new(None),
                sink: crate::peer::Sink::new(tx),
                cancel: CancellationToken::new(),
                input,
                state: Default::default(),
                identity,
                session_id: None,
                tool_error: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// A call of the server's tool `name` with `arguments`.
    pub(crate) fn call(
        server: &Server,
        cx: Context,
        name: &str,
        arguments: serde_json::Value,
    ) -> Call {
        let callee = server.callee(name).expect("a registered tool");
        let params: CallToolRequestParams = serde_json::from_value(serde_json::json!({
            "name": name,
            "arguments": arguments,
        }))
        .expect("valid params");
        Call::new(cx, params, callee)
    }
}

#[cfg(test)]
mod tests {
    use mcp_core::types::*;
    use tokio::sync::{mpsc, oneshot};

    use super::STAGES;
    use super::testing::modern_context;
    use crate::{Context, Policy, Server, ToolHandler};

    /// A tool backed by an upstream: its call forwards the arguments over a channel and returns
    /// what comes back, as a proxied tool does through its client.
    struct Upstream(mpsc::Sender<(JsonObject, oneshot::Sender<CallToolResult>)>);

    impl ToolHandler for Upstream {
        fn definition(&self) -> Tool {
            let input = serde_json::json!({
                "type": "object",
                "properties": { "n": { "type": "integer" } },
                "required": ["n"]
            });
            let mut tool = Tool::new("remote", serde_json::from_value(input).expect("object"));
            tool.output_schema = Some(
                serde_json::from_value(serde_json::json!({
                    "type": "object",
                    "properties": { "double": { "type": "integer" } },
                    "required": ["double"]
                }))
                .expect("object"),
            );
            tool
        }
        fn policy(&self) -> Policy {
            Policy {
                max_argument_bytes: Some(64),
                ..Policy::public()
            }
        }
        async fn call(&self, _cx: Context, args: JsonObject) -> crate::Result<CallToolResult> {
            let (tx, rx) = oneshot::channel();
            self.0
                .send((args, tx))
                .await
                .map_err(|_| crate::Error::public("the upstream is gone"))?;
            rx.await
                .map_err(|_| crate::Error::public("the upstream did not answer"))
        }
    }

    /// What the upstream answers: `{"double": 2n}`, or for `n` = 13 a result that breaks the
    /// output schema.
    async fn upstream(mut calls: mpsc::Receiver<(JsonObject, oneshot::Sender<CallToolResult>)>) {
        while let Some((args, answer)) = calls.recv().await {
            let n = args["n"].as_i64().expect("validated before forwarding");
            let mut result = CallToolResult::success(Vec::new());
            result.structured_content = Some(if n == 13 {
                serde_json::json!({ "double": "unlucky" })
            } else {
                serde_json::json!({ "double": 2 * n })
            });
            let _ = answer.send(result);
        }
    }

    fn params(arguments: serde_json::Value) -> CallToolRequestParams {
        serde_json::from_value(serde_json::json!({ "name": "remote", "arguments": arguments }))
            .expect("params")
    }

    #[tokio::test]
    async fn an_upstream_backed_tool_goes_through_every_stage() {
        let (tx, rx) = mpsc::channel(4);
        let forwarded = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = forwarded.clone();
        let (counted_tx, mut counted_rx) = mpsc::channel(4);
        tokio::spawn(async move {
            while let Some(call) = counted_rx.recv().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if tx.send(call).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(upstream(rx));
        let server = Server::new("front", "1").tool(Upstream(counted_tx));
        let cx = || modern_context(Default::default(), None);

        // admit: arguments over the size limit never reach the upstream.
        let big = serde_json::json!({ "n": 1, "pad": "x".repeat(100) });
        let e = server
            .call_tool(cx(), params(big), None)
            .await
            .expect_err("too large");
        assert_eq!(e.code, mcp_core::ErrorCode::INVALID_PARAMS);
        assert_eq!(e.message, "the arguments of tool `remote` exceed 64 bytes");

        // validate: arguments that break the input schema never reach it either.
        let out = server
            .call_tool(cx(), params(serde_json::json!({ "n": "two" })), None)
            .await
            .expect("a tool error");
        let out: serde_json::Value = serde_json::from_str(out.get()).expect("JSON");
        assert_eq!(out["isError"], true, "{out}");
        assert_eq!(forwarded.load(std::sync::atomic::Ordering::SeqCst), 0);

        // check: what the upstream returns is held to the declared output schema.
        let e = server
            .call_tool(cx(), params(serde_json::json!({ "n": 13 })), None)
            .await
            .expect_err("bad output");
        assert_eq!(e.code, mcp_core::ErrorCode::INTERNAL_ERROR);

        // A good call: forwarded, and shaped for the modern client.
        let out = server
            .call_tool(cx(), params(serde_json::json!({ "n": 21 })), None)
            .await
            .expect("a result");
        let out: serde_json::Value = serde_json::from_str(out.get()).expect("JSON");
        assert_eq!(
            out["structuredContent"],
            serde_json::json!({ "double": 42 })
        );
        assert_eq!(out["resultType"], "complete");
        assert_eq!(forwarded.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn the_stages_run_in_order() {
        let names: Vec<&str> = STAGES.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
                "admit", "validate", "approve", "run", "check", "filter", "shape"
            ]
        );
    }
}
