//! filter: the result through the server's [result filters](crate::filter), after check and
//! before shape. Matches are redacted or their fields dropped, a blocking or failing rule
//! withholds the result (a tool error saying a policy withheld it), a rule that requires
//! approval releases it only once a human approves (through the approval gate, as the approve
//! stage asks), items over a size cap are truncated. Structured content changed by a rule is
//! checked again against the output schema; a result it no longer fits is withheld. Without
//! filters, or with no rule in scope, the stage does nothing.

#[cfg(feature = "filters")]
use super::Stop;
use super::{Call, Flow, Stage, Step};
use crate::server::Server;

/// The filter stage.
pub(crate) struct Filter;

impl Stage for Filter {
    fn name(&self) -> &'static str {
        "filter"
    }

    fn apply<'a>(&'a self, server: &'a Server, call: &'a mut Call) -> Step<'a> {
        #[cfg(feature = "filters")]
        if server.inner.filters.is_some() {
            return Step::Wait(Box::pin(filter(server, call)));
        }
        // Without filters (or without the `filters` feature) the stage has nothing to do: no
        // need for its (larger) future.
        #[cfg(not(feature = "filters"))]
        let _ = (server, call);
        Step::Done(Ok(Flow::Next))
    }
}

#[cfg(feature = "filters")]
async fn filter(server: &Server, call: &mut Call) -> Result<Flow, Stop> {
    let Some(mut result) = call.result.take() else {
        return Ok(Flow::Next);
    };
    let filtered = server
        .filter_tool_result(
            &call.cx,
            &call.name,
            &call.arguments,
            &mut result,
            call.schemas.as_deref(),
        )
        .await;
    call.result = Some(result);
    filtered.map(|()| Flow::Next).map_err(Stop::Failed)
}

#[cfg(all(test, feature = "filters"))]
mod tests {
    use mcp_core::types::{CallToolResult, ContentBlock, JsonObject, Tool};

    use super::*;
    use crate::filter::{Action, Detector, Filters, Rule};
    use crate::pipeline::testing::{call, modern_context};
    use crate::{Context, ToolHandler};

    struct Echo;

    impl ToolHandler for Echo {
        fn definition(&self) -> Tool {
            Tool::new("echo", JsonObject::new())
        }
        async fn call(&self, _cx: Context, _args: JsonObject) -> crate::Result<CallToolResult> {
            unreachable!("the filter stage is tested alone")
        }
    }

    async fn filtered(server: &Server, text: &str) -> Result<CallToolResult, Stop> {
        let cx = modern_context(Default::default(), None);
        let mut c = call(server, cx, "echo", serde_json::json!({}));
        c.result = Some(CallToolResult::success(vec![ContentBlock::text(text)]));
        Filter.apply(server, &mut c).await?;
        Ok(c.result.expect("the result stays"))
    }

    fn text(result: &CallToolResult) -> &str {
        match &result.content[0] {
            ContentBlock::Text(t) => &t.text,
            other => panic!("expected text, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn without_filters_the_result_is_untouched() {
        let server = Server::new("t", "1").tool(Echo);
        let out = filtered(&server, "key AKIAIOSFODNN7EXAMPLE")
            .await
            .expect("released");
        assert_eq!(text(&out), "key AKIAIOSFODNN7EXAMPLE");
    }

    #[tokio::test]
    async fn a_match_is_redacted_and_a_blocking_rule_withholds() {
        let filters = Filters::new([
            Rule::detector(Detector::AwsAccessKeyId, Action::Redact),
            Rule::regex("internal", "INTERNAL-ONLY", Action::Block),
        ])
        .expect("compiles");
        let server = Server::new("t", "1").filters(filters).tool(Echo);
        let out = filtered(&server, "key AKIAIOSFODNN7EXAMPLE")
            .await
            .expect("released");
        assert_eq!(text(&out), "key [redacted:aws_access_key_id]");
        match filtered(&server, "INTERNAL-ONLY data").await {
            Err(Stop::Failed(e)) => assert_eq!(
                e.tool_message().as_deref(),
                Some(
                    "withheld by policy: the result of tool `echo` matched the filter rule `internal`"
                )
            ),
            other => panic!("expected a withheld result, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn embedded_resources_are_filtered_and_binary_content_is_left_alone() {
        let filters =
            Filters::new([Rule::detector(Detector::Email, Action::Redact)]).expect("compiles");
        let server = Server::new("t", "1").filters(filters).tool(Echo);
        let cx = modern_context(Default::default(), None);
        let mut c = call(&server, cx, "echo", serde_json::json!({}));
        let embedded: ContentBlock = serde_json::from_value(serde_json::json!({
            "type": "resource",
            "resource": { "uri": "file:///team.txt", "text": "lead: ann@example.com" }
        }))
        .expect("a block");
        let image: ContentBlock = serde_json::from_value(serde_json::json!({
            "type": "image", "data": "YW5uQGV4YW1wbGUuY29t", "mimeType": "image/png"
        }))
        .expect("a block");
        c.result = Some(CallToolResult::success(vec![embedded, image.clone()]));
        assert!(matches!(
            Filter.apply(&server, &mut c).await,
            Ok(Flow::Next)
        ));
        let out = serde_json::to_value(c.result.expect("released")).expect("JSON");
        assert_eq!(
            out["content"][0]["resource"]["text"],
            "lead: [redacted:email]"
        );
        assert_eq!(
            out["content"][1],
            serde_json::to_value(image).expect("JSON")
        );
    }
}
