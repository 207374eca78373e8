//! approve: a tool whose policy requires approval runs only after a human approves this exact
//! call (tool, arguments, principal), through the server's [`ApprovalGate`].
//!
//! The gate asks a server-side approver, or the client's user through the request's context
//! ([`Asker`]: a server-to-client request in the legacy era, an `input_required` round in the
//! modern era). Granted and refused approvals are audited as approval records; a refusal is a
//! tool error (`not approved: ...`), and a question still open ends the round with
//! `input_required`.

use mcp_core::types::{ElicitRequestParams, ElicitResult};

use super::{Call, Flow, Stage, Step, Stop};
use crate::approval::{
    ApprovalAsker, ApprovalGate, Approvals, CarriedApproval, GateError, PendingCall,
};
use crate::audit::AuditKind;
use crate::context::{Context, InputMode};
use crate::error::Error;
use crate::server::Server;

/// The approve stage.
pub(crate) struct Approve;

impl Stage for Approve {
    fn name(&self) -> &'static str {
        "approve"
    }

    fn apply<'a>(&'a self, server: &'a Server, call: &'a mut Call) -> Step<'a> {
        // Most calls need no approval: they go on without the gate's (much larger) future.
        match required(server, call) {
            None => Step::Done(Ok(Flow::Next)),
            Some(approval) => Step::Wait(Box::pin(approve(server, call, approval))),
        }
    }
}

/// The approval the admission decided (the declared one, or the access control's if
/// stronger), if the call needs one.
fn required(server: &Server, call: &Call) -> Option<crate::policy::Approval> {
    let policy = call.callee.policy.in_force(&server.inner.admission);
    let approval = call
        .admission
        .as_ref()
        .map_or(policy.approval, |admitted| admitted.approval);
    approval.is_required().then_some(approval)
}

async fn approve(
    server: &Server,
    call: &mut Call,
    approval: crate::policy::Approval,
) -> Result<Flow, Stop> {
    let policy = call.callee.policy.in_force(&server.inner.admission);
    // Bound to the principal (issuer and subject), not the bare subject.
    let key = call.cx.identity().map(crate::Identity::principal_key);
    let principal = key.as_deref().unwrap_or("anonymous");
    let pending = PendingCall {
        tool: &call.name,
        arguments: &call.arguments,
        principal,
        sensitive: &policy.sensitive,
        out_of_band: approval == crate::policy::Approval::OutOfBand,
    };
    // A later round carrying an earlier round's grant asks nobody: not counted again.
    let asked = Asker(&call.cx)
        .carried_approval()
        .is_none()
        .then(std::time::Instant::now);
    let counted = |decision: &'static str| {
        if let Some(asked) = asked {
            crate::metrics::record_approval(&call.name, decision, asked.elapsed());
        }
    };
    match server.gate().check(&pending, &Asker(&call.cx)).await {
        Ok(_) => {
            server.approval_record(&call.cx, &call.name, None);
            counted("approved");
            Ok(Flow::Next)
        }
        Err(GateError::Denied(d)) => {
            server.approval_record(&call.cx, &call.name, Some(d.reason.as_str()));
            counted(d.reason.as_str());
            Err(Stop::Failed(Error::public(format!(
                "not approved: {}",
                d.detail
            ))))
        }
        Err(GateError::Interrupted(e)) => Err(Stop::Failed(e)),
    }
}

impl Server {
    /// The approval gate: the configured one, or one asking the client's user, sealed under
    /// the server key.
    pub(crate) fn gate(&self) -> &ApprovalGate {
        let gate = match &self.inner.approval {
            Some(gate) => gate,
            None => self
                .inner
                .default_gate
                .get_or_init(|| ApprovalGate::new(Approvals::new(&self.inner.state_key))),
        };
        // Replicas keep their nonces in the store they share (once; a store the application
        // gave the gate itself stays).
        if let Some(store) = &self.inner.store {
            gate.approvals().attach_store(store.clone());
        }
        gate
    }

    /// Audits an approval: granted (`denied` is `None`) or refused, and why.
    fn approval_record(&self, cx: &Context, tool: &str, denied: Option<&str>) {
        self.audit_decision(cx, AuditKind::Approval, "tools/call", tool, denied);
    }
}

/// Asks the client's user for approvals through the request's context: a server-to-client
/// request in the legacy era, an `input_required` round in the modern era.
pub(crate) struct Asker<'a>(pub(crate) &'a Context);

impl ApprovalAsker for Asker<'_> {
    type Error = Error;

    fn supports_form(&self) -> bool {
        self.0.client_capabilities().supports_form_elicitation()
    }

    fn supports_url(&self) -> bool {
        self.0.client_capabilities().supports_url_elicitation()
    }

    async fn elicit(&self, key: &str, params: ElicitRequestParams) -> Result<ElicitResult, Error> {
        self.0.elicit_raw(key, params).await
    }

    fn answered(&self, prefix: &str) -> Vec<(String, ElicitResult)> {
        self.0.answered_elicitations(prefix)
    }

    fn carried_approval(&self) -> Option<String> {
        match &self.0.inner.input {
            InputMode::Modern(mrtr) => mrtr.carried_approval.clone(),
            _ => None,
        }
    }

    fn keep_approval(&self, approval: CarriedApproval) {
        if let InputMode::Modern(mrtr) = &self.0.inner.input {
            *mrtr.kept_approval.lock().expect("not poisoned") = Some(Box::new(approval));
        }
    }
}

#[cfg(test)]
mod tests {
    use mcp_core::types::{CallToolResult, JsonObject, Tool};

    use super::*;
    use crate::approval::{ApprovalRequest, Approver, Decision};
    use crate::pipeline::testing::{call, modern_context};
    use crate::policy::Approval;
    use crate::{Policy, ToolHandler};

    struct Deploy(Approval);

    impl ToolHandler for Deploy {
        fn definition(&self) -> Tool {
            Tool::new("deploy", JsonObject::new())
        }
        fn policy(&self) -> Policy {
            Policy {
                approval: self.0,
                ..Policy::default()
            }
        }
        async fn call(&self, _cx: Context, _args: JsonObject) -> crate::Result<CallToolResult> {
            Ok(CallToolResult::success(Vec::new()))
        }
    }

    /// Approves the calls of `version` "1", denies the others.
    struct OnlyVersionOne;

    impl Approver for OnlyVersionOne {
        async fn approve(&self, _request: &ApprovalRequest, summary: &str) -> Decision {
            if summary.contains(r#""version": "1""#) {
                Decision::Approved
            } else {
                Decision::Denied("only version 1".into())
            }
        }
    }

    fn cx() -> Context {
        modern_context(Default::default(), None)
    }

    #[tokio::test]
    async fn a_tool_without_approval_goes_on() {
        let server = Server::new("t", "1").tool(Deploy(Approval::None));
        let mut c = call(&server, cx(), "deploy", serde_json::json!({}));
        assert!(matches!(
            Approve.apply(&server, &mut c).await,
            Ok(Flow::Next)
        ));
    }

    #[tokio::test]
    async fn without_an_approver_or_elicitation_the_call_is_not_approved() {
        let server = Server::new("t", "1").tool(Deploy(Approval::Required));
        let mut c = call(&server, cx(), "deploy", serde_json::json!({}));
        match Approve.apply(&server, &mut c).await {
            Err(Stop::Failed(e)) => {
                let message = e.tool_message().expect("a public message");
                assert!(message.starts_with("not approved: "), "{message}");
                assert!(message.contains("no elicitation support"), "{message}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn out_of_band_approval_needs_the_server_side_approver() {
        let server = Server::new("t", "1").tool(Deploy(Approval::OutOfBand));
        let mut c = call(&server, cx(), "deploy", serde_json::json!({}));
        match Approve.apply(&server, &mut c).await {
            Err(Stop::Failed(e)) => {
                let message = e.tool_message().expect("a public message");
                assert!(
                    message.contains("only be approved out of band"),
                    "{message}"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let gate = ApprovalGate::new(Approvals::random()).with_approver(OnlyVersionOne);
        let server = Server::new("t", "1")
            .approval(gate)
            .tool(Deploy(Approval::OutOfBand));
        let mut other = call(
            &server,
            cx(),
            "deploy",
            serde_json::json!({ "version": "2" }),
        );
        match Approve.apply(&server, &mut other).await {
            Err(Stop::Failed(e)) => assert_eq!(
                e.tool_message().as_deref(),
                Some("not approved: only version 1")
            ),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let mut c = call(
            &server,
            cx(),
            "deploy",
            serde_json::json!({ "version": "1" }),
        );
        assert!(matches!(
            Approve.apply(&server, &mut c).await,
            Ok(Flow::Next)
        ));
    }
}
