//! admit: whether this caller may call this tool now. Access (authentication, scopes, roles,
//! the fail-closed rules), the size of the arguments, the rate limit, then a concurrency slot
//! (waiting within the timeout), all by the item's [`ItemPolicy`](crate::admission::ItemPolicy);
//! then the access control's own limits, if it has any
//! ([`AccessControl::enter`](crate::access::AccessControl::enter)).
//!
//! Every outcome is audited as a decision: allowed, or denied with its reason (`busy` when
//! every slot stayed taken). A denial is a JSON-RPC error (-32003, or -32602 for arguments over
//! the size limit); a busy tool is a tool error, which the model may retry.

use super::{Call, Flow, Stage, Step, Stop};
use crate::admission::{self, AdmitError};
use crate::server::{Server, busy};

/// The admit stage.
pub(crate) struct Admit;

impl Stage for Admit {
    fn name(&self) -> &'static str {
        "admit"
    }

    fn apply<'a>(&'a self, server: &'a Server, call: &'a mut Call) -> Step<'a> {
        Step::Wait(Box::pin(admit(server, call)))
    }
}

/// Admits the call, keeping its admission (the concurrency permit) in the call.
async fn admit(server: &Server, call: &mut Call) -> Result<Flow, Stop> {
    let arguments = &call.arguments;
    let outcome = call
        .callee
        .policy
        .admit(&server.inner.admission, call.cx.identity(), || {
            admission::json_size(arguments)
        })
        .await;
    match outcome {
        Ok(mut admission) => {
            // The access control's own limits, before any approval is asked.
            if let Some(hook) = &server.inner.admission.access
                && let Some(arguments) = call.arguments.as_object()
            {
                let item = crate::access::Item {
                    kind: crate::access::ItemKind::Tool,
                    name: &call.name,
                };
                if let Some(entering) = hook.0.enter(&call.cx, &item, arguments) {
                    match entering.await {
                        Ok(entered) => admission.entered = Some(entered),
                        Err(e) => {
                            let refusal = e.to_error_object(call.modern());
                            let reason = refusal
                                .data
                                .as_ref()
                                .and_then(|d| d.get("reason")?.as_str())
                                .unwrap_or("busy");
                            server.decision(&call.cx, "tools/call", &call.name, Some(reason));
                            return Err(if e.is_protocol() {
                                Stop::Error(refusal)
                            } else {
                                Stop::Failed(e)
                            });
                        }
                    }
                }
            }
            server.decision(&call.cx, "tools/call", &call.name, None);
            call.admission = Some(admission);
            Ok(Flow::Next)
        }
        Err(AdmitError::Denied(d)) => {
            server.decision(&call.cx, "tools/call", &call.name, Some(d.reason()));
            Err(Stop::Error(d.to_error_object("tool", &call.name)))
        }
        Err(AdmitError::Busy) => {
            server.decision(&call.cx, "tools/call", &call.name, Some("busy"));
            Err(Stop::Failed(busy("tool", &call.name)))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mcp_core::types::{CallToolResult, JsonObject, Tool};

    use super::*;
    use crate::pipeline::testing::{call, modern_context};
    use crate::{Context, Identity, Policy, ToolHandler};

    struct Echo(Policy);

    impl ToolHandler for Echo {
        fn definition(&self) -> Tool {
            let mut tool = Tool::new("echo", JsonObject::new());
            tool.annotations = Some(
                serde_json::from_value(serde_json::json!({ "readOnlyHint": true }))
                    .expect("annotations"),
            );
            tool
        }
        fn policy(&self) -> Policy {
            self.0.clone()
        }
        async fn call(&self, _cx: Context, _args: JsonObject) -> crate::Result<CallToolResult> {
            Ok(CallToolResult::success(Vec::new()))
        }
    }

    fn scoped(scope: &str) -> Policy {
        Policy {
            scopes: vec![scope.to_owned()],
            declared: true,
            ..Policy::default()
        }
    }

    #[tokio::test]
    async fn a_caller_without_the_scope_is_denied_and_one_with_it_admitted() {
        let server = Server::new("t", "1").tool(Echo(scoped("kpi:read")));
        let alice = Identity::configured("alice");
        let cx = modern_context(Default::default(), Some(alice.clone()));
        let mut denied = call(&server, cx, "echo", serde_json::json!({}));
        match Admit.apply(&server, &mut denied).await {
            Err(Stop::Error(e)) => {
                assert_eq!(e.code, admission::ACCESS_DENIED);
                assert_eq!(
                    e.message,
                    "access denied to tool `echo`: it needs the scope kpi:read"
                );
            }
            other => panic!("expected a denial, got {other:?}"),
        }
        assert!(denied.admission.is_none());

        let cx = modern_context(Default::default(), Some(alice.with_scopes(["kpi:read"])));
        let mut admitted = call(&server, cx, "echo", serde_json::json!({}));
        assert!(matches!(
            Admit.apply(&server, &mut admitted).await,
            Ok(Flow::Next)
        ));
        assert!(admitted.admission.is_some());
    }

    #[tokio::test]
    async fn a_tool_whose_slots_stay_taken_is_busy_until_one_frees() {
        let policy = Policy {
            max_concurrency: Some(1),
            timeout: Some(Duration::from_millis(20)),
            ..Policy::public()
        };
        let server = Server::new("t", "1").tool(Echo(policy));
        let cx = || modern_context(Default::default(), None);
        let mut first = call(&server, cx(), "echo", serde_json::json!({}));
        assert!(matches!(
            Admit.apply(&server, &mut first).await,
            Ok(Flow::Next)
        ));
        let mut second = call(&server, cx(), "echo", serde_json::json!({}));
        match Admit.apply(&server, &mut second).await {
            Err(Stop::Failed(e)) => assert_eq!(
                e.tool_message().as_deref(),
                Some("tool `echo` is busy: try again later")
            ),
            other => panic!("expected busy, got {other:?}"),
        }
        // The first call ends: its slot is free again.
        drop(first);
        let mut third = call(&server, cx(), "echo", serde_json::json!({}));
        assert!(matches!(
            Admit.apply(&server, &mut third).await,
            Ok(Flow::Next)
        ));
    }

    #[tokio::test]
    async fn arguments_over_the_size_limit_are_invalid_params() {
        let policy = Policy {
            max_argument_bytes: Some(16),
            ..Policy::public()
        };
        let server = Server::new("t", "1").tool(Echo(policy));
        let big = serde_json::json!({ "text": "a string longer than sixteen bytes" });
        let mut c = call(
            &server,
            modern_context(Default::default(), None),
            "echo",
            big,
        );
        match Admit.apply(&server, &mut c).await {
            Err(Stop::Error(e)) => {
                assert_eq!(e.code, mcp_core::ErrorCode::INVALID_PARAMS);
                assert_eq!(e.message, "the arguments of tool `echo` exceed 16 bytes");
            }
            other => panic!("expected a size refusal, got {other:?}"),
        }
        let mut small = call(
            &server,
            modern_context(Default::default(), None),
            "echo",
            serde_json::json!({}),
        );
        assert!(matches!(
            Admit.apply(&server, &mut small).await,
            Ok(Flow::Next)
        ));
    }
}
