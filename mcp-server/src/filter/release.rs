//! Whether a filtered result is released: blocked or failed rules withhold it, a rule with
//! [`Action::Approve`](super::Action::Approve) asks the approval gate, and every result a rule
//! fired on is audited.

use mcp_core::types::{CallToolResult, PromptMessage, ResourceContents};
use serde_json::Value;

use super::{Fired, Halt, ItemKind, Pass};
use crate::approval::{
    ApprovalAsker, Approvals, CarriedApproval, GateError, KEY_PREFIX, PendingCall,
};
use crate::audit::{AuditKind, AuditRecord, Decision};
use crate::context::Context;
use crate::error::Error;
use crate::pipeline::approve::Asker;
use crate::server::Server;
use crate::validate::ToolSchemas;
use mcp_core::types::{ElicitRequestParams, ElicitResult};

impl Server {
    /// Filters a tool's result in place; an error withholds it (a tool error the model reads,
    /// or `input_required` while the release waits for approval).
    pub(crate) async fn filter_tool_result(
        &self,
        cx: &Context,
        name: &str,
        arguments: &Value,
        result: &mut CallToolResult,
        schemas: Option<&ToolSchemas>,
    ) -> Result<(), Error> {
        let Some(filters) = self.inner.filters.clone() else {
            return Ok(());
        };
        let mut pass = Pass::new(
            &filters,
            filters.active(ItemKind::Tool, name, cx.identity()),
        );
        if pass.is_idle() {
            return Ok(());
        }
        let mut outcome = pass.tool_result(result);
        if outcome.is_ok()
            && pass.structured_changed
            && result.is_error != Some(true)
            && let Some(schemas) = schemas
            && let Err(failure) = schemas.validate_output(result.structured_content.as_ref())
        {
            tracing::warn!(tool = %name, error = %failure, "a filtered result no longer matches the output schema: withheld");
            outcome = Err(Halt::Invalid);
        }
        self.release(cx, ItemKind::Tool, name, arguments, pass, outcome)
            .await
    }

    /// Filters the contents of a resource in place.
    pub(crate) async fn filter_contents(
        &self,
        cx: &Context,
        uri: &str,
        contents: &mut Vec<ResourceContents>,
    ) -> Result<(), Error> {
        let Some(filters) = self.inner.filters.clone() else {
            return Ok(());
        };
        let mut pass = Pass::new(
            &filters,
            filters.active(ItemKind::Resource, uri, cx.identity()),
        );
        if pass.is_idle() {
            return Ok(());
        }
        let outcome = pass.contents(contents);
        let request = serde_json::json!({ "uri": uri });
        self.release(cx, ItemKind::Resource, uri, &request, pass, outcome)
            .await
    }

    /// Filters the messages of a prompt in place.
    pub(crate) async fn filter_messages(
        &self,
        cx: &Context,
        name: &str,
        arguments: &Value,
        messages: &mut Vec<PromptMessage>,
    ) -> Result<(), Error> {
        let Some(filters) = self.inner.filters.clone() else {
            return Ok(());
        };
        let mut pass = Pass::new(
            &filters,
            filters.active(ItemKind::Prompt, name, cx.identity()),
        );
        if pass.is_idle() {
            return Ok(());
        }
        let outcome = pass.messages(messages);
        self.release(cx, ItemKind::Prompt, name, arguments, pass, outcome)
            .await
    }

    /// Decides on a filtered result: withheld (blocked, failed, invalid), released after an
    /// approval, or released; audits it when a rule fired or failed.
    async fn release(
        &self,
        cx: &Context,
        kind: ItemKind,
        name: &str,
        arguments: &Value,
        pass: Pass<'_>,
        outcome: Result<(), Halt>,
    ) -> Result<(), Error> {
        let what = format!("the result of {} `{name}`", kind.as_str());
        if let Err(halt) = outcome {
            let (reason, message) = match &halt {
                Halt::Blocked(rule) => (
                    format!("blocked by rule `{rule}`"),
                    format!("withheld by policy: {what} matched the filter rule `{rule}`"),
                ),
                Halt::Failed(rule, error) => {
                    tracing::error!(rule = %rule, error = %error, item = %name, "a filter rule failed: the result is withheld");
                    (
                        format!("rule `{rule}` failed"),
                        format!(
                            "withheld by policy: the filter rule `{rule}` failed on {what}, so it is not released"
                        ),
                    )
                }
                Halt::Invalid => (
                    "the filtered result does not match the output schema".to_owned(),
                    format!(
                        "withheld by policy: once filtered, {what} no longer matches its output schema"
                    ),
                ),
            };
            self.filter_record(cx, kind, name, &pass.fired, Some(&reason));
            return Err(Error::public(message));
        }
        if pass.approve.is_empty() {
            if !pass.fired.is_empty() {
                self.filter_record(cx, kind, name, &pass.fired, None);
            }
            return Ok(());
        }
        // Bound to the principal, the item, its arguments and what the rules found. The
        // arguments by their hash: the approver is not shown values (a tool may have been
        // given the very data its result is withheld for).
        let key = cx.identity().map(crate::Identity::principal_key);
        let principal = key.as_deref().unwrap_or("anonymous");
        let request = serde_json::json!({
            "release": what,
            "rules": pass.approve,
            "arguments": crate::approval::arguments_hash(arguments),
        });
        let pending = PendingCall::new(name, &request, principal);
        let asker = ReleaseAsker {
            asker: Asker(cx),
            approvals: self.gate().approvals(),
            call: pending,
        };
        match self.gate().check(&pending, &asker).await {
            Ok(_) => {
                self.audit_decision(cx, AuditKind::Approval, kind.method(), name, None);
                self.filter_record(cx, kind, name, &pass.fired, None);
                Ok(())
            }
            Err(GateError::Denied(d)) => {
                self.audit_decision(
                    cx,
                    AuditKind::Approval,
                    kind.method(),
                    name,
                    Some(d.reason.as_str()),
                );
                self.filter_record(cx, kind, name, &pass.fired, Some("release not approved"));
                Err(Error::public(format!(
                    "withheld by policy: releasing {what} was not approved: {}",
                    d.detail
                )))
            }
            Err(GateError::Interrupted(e)) => Err(e),
        }
    }

    /// A filter record: the item, the rules that fired and how many times, released or not.
    fn filter_record(
        &self,
        cx: &Context,
        kind: ItemKind,
        name: &str,
        fired: &Fired,
        withheld: Option<&str>,
    ) {
        crate::metrics::record_filtered(fired, kind.as_str(), withheld.is_some());
        let audit = &self.inner.audit;
        if !audit.is_enabled() {
            return;
        }
        let decision = if withheld.is_some() {
            Decision::Deny
        } else {
            Decision::Allow
        };
        let mut r = AuditRecord::new(AuditKind::Filter, kind.method())
            .with_principal(cx.identity())
            .with_request_id(cx.request_id().clone())
            .with_item(name)
            .with_decision(decision, withheld)
            .with_filters(fired.clone());
        if let Some(id) = &cx.inner.session_id {
            r = r.with_session_id(id.as_ref());
        }
        audit.record(&r);
    }
}

/// Asks the client's user to release a result, as the approve stage asks to run a tool, but
/// apart from that stage's approval of the same call: answers to other questions (the tool's own
/// approval, in the same modern round) are not taken for this one, and the tool's grant carried
/// to a later round is neither used nor replaced here (a release is never carried: nothing
/// after the filter stage ends a round).
struct ReleaseAsker<'a> {
    asker: Asker<'a>,
    approvals: &'a Approvals,
    call: PendingCall<'a>,
}

impl ApprovalAsker for ReleaseAsker<'_> {
    type Error = Error;

    fn supports_form(&self) -> bool {
        self.asker.supports_form()
    }

    fn supports_url(&self) -> bool {
        self.asker.supports_url()
    }

    async fn elicit(&self, key: &str, params: ElicitRequestParams) -> Result<ElicitResult, Error> {
        self.asker.elicit(key, params).await
    }

    fn answered(&self, prefix: &str) -> Vec<(String, ElicitResult)> {
        let call = &self.call;
        self.asker
            .answered(prefix)
            .into_iter()
            .filter(|(key, _)| {
                let token = key.strip_prefix(KEY_PREFIX).unwrap_or(key);
                // An answer this server cannot open still goes to the gate, which denies it.
                self.approvals
                    .issued_for(token)
                    .is_none_or(|request| request.is_for(call.tool, call.arguments, call.principal))
            })
            .collect()
    }

    fn carried_approval(&self) -> Option<String> {
        None
    }

    fn keep_approval(&self, approval: CarriedApproval) {
        let _ = approval;
    }
}
