//! shape: the result as the peer's version knows it (a field or content type the version does
//! not know is never sent), with the modern era's `resultType` and `_meta`, in its wire form; a
//! result over the item's size limit is replaced by a tool error.
//!
//! A call answered at once becomes the response's result; a call run as a task becomes the
//! result `tasks/result` returns (without the response's `_meta`).

use mcp_core::Meta;
use mcp_core::types::ResultType;

use super::{Call, Flow, Output, Stage, Step, Stop};
use crate::error::Error;
use crate::server::{Server, modern_meta, oversized, raw, raw_with_modern_meta, result_type};
use crate::shape::Shape as _;

/// The shape stage.
pub(crate) struct ShapeResult;

impl Stage for ShapeResult {
    fn name(&self) -> &'static str {
        "shape"
    }

    fn apply<'a>(&'a self, server: &'a Server, call: &'a mut Call) -> Step<'a> {
        Step::Done(shape(server, call))
    }
}

fn shape(server: &Server, call: &mut Call) -> Result<Flow, Stop> {
    let Some(mut result) = call.result.take() else {
        return Ok(Flow::Next);
    };
    let cx = &call.cx;
    let modern = call.modern();
    let limit = call.admission.as_ref().and_then(|a| a.max_result_bytes);
    result.shape(cx.protocol_version());
    if result.is_error == Some(true) {
        cx.inner
            .tool_error
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    if call.task.is_some() {
        if modern {
            result.result_type = Some(ResultType::Complete);
        }
        let size =
            limit.and_then(|limit| Some((limit, serde_json::to_string(&result).ok()?.len())));
        if let Some((limit, size)) = size
            && size > limit
        {
            tracing::error!(tool = %call.name, size, limit, "a task's result exceeds its size limit: not sent");
            return Err(Stop::Failed(Error::public(format!(
                "the result of tool `{}` exceeds {limit} bytes",
                call.name
            ))));
        }
        call.output = Some(Output::Task(result));
        return Ok(Flow::Next);
    }
    result.result_type = result_type(cx);
    let out = if modern && result.meta.is_none() {
        raw_with_modern_meta(&result, cx, server)
    } else {
        if modern {
            result
                .meta
                .get_or_insert_with(Meta::new)
                .0
                .extend(modern_meta(cx, server).unwrap_or_default().0);
        }
        raw(&result)
    }
    .map_err(Stop::Error)?;
    if let Some(e) = oversized(&out, limit, "tool", &call.name) {
        return Err(Stop::Failed(e));
    }
    call.output = Some(Output::Response(out));
    Ok(Flow::Next)
}

#[cfg(test)]
mod tests {
    use mcp_core::ProtocolVersion;
    use mcp_core::types::{CallToolResult, ContentBlock, JsonObject, Tool};

    use super::*;
    use crate::pipeline::admit::Admit;
    use crate::pipeline::testing::{call, legacy_context, modern_context};
    use crate::{Context, Policy, ToolHandler};

    struct Report;

    impl ToolHandler for Report {
        fn definition(&self) -> Tool {
            Tool::new("report", JsonObject::new())
        }
        fn policy(&self) -> Policy {
            Policy {
                max_result_bytes: Some(200),
                ..Policy::public()
            }
        }
        async fn call(&self, _cx: Context, _args: JsonObject) -> crate::Result<CallToolResult> {
            unreachable!("the shape stage is tested alone")
        }
    }

    fn structured(text: &str) -> CallToolResult {
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = Some(serde_json::json!({ "text": text }));
        result
    }

    /// The wire form of `result`, shaped for a call from `cx` (admitted, so the size limit
    /// applies).
    async fn shaped(cx: Context, result: CallToolResult) -> Result<serde_json::Value, Stop> {
        let server = Server::new("t", "1").tool(Report);
        let mut c = call(&server, cx, "report", serde_json::json!({}));
        assert!(matches!(Admit.apply(&server, &mut c).await, Ok(Flow::Next)));
        c.result = Some(result);
        ShapeResult.apply(&server, &mut c).await?;
        match c.output {
            Some(Output::Response(out)) => Ok(serde_json::from_str(out.get()).expect("JSON")),
            other => panic!("expected a response, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_older_version_never_sees_what_it_does_not_know() {
        let old = shaped(
            legacy_context(ProtocolVersion::V2025_03_26),
            structured("hi"),
        )
        .await
        .expect("shaped");
        assert_eq!(
            old,
            serde_json::json!({ "content": [{ "type": "text", "text": "hi" }] })
        );
        let newer = shaped(
            legacy_context(ProtocolVersion::V2025_06_18),
            structured("hi"),
        )
        .await
        .expect("shaped");
        assert_eq!(
            newer["structuredContent"],
            serde_json::json!({ "text": "hi" })
        );
    }

    #[tokio::test]
    async fn a_modern_result_says_it_is_complete_and_names_the_server() {
        let out = shaped(modern_context(Default::default(), None), structured("hi"))
            .await
            .expect("shaped");
        assert_eq!(out["resultType"], "complete");
        assert_eq!(
            out["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "t",
            "{out}"
        );
    }

    #[test]
    fn the_cached_meta_writes_the_bytes_a_cloned_meta_would() {
        let server = Server::new("t", "1").tool(Report);
        let cx = modern_context(Default::default(), None);
        let mut results = vec![structured("hi"), CallToolResult::error("no")];
        results[0].result_type = Some(ResultType::Complete);
        results.push(CallToolResult::success(vec![]));
        for result in results {
            let spliced = raw_with_modern_meta(&result, &cx, &server).expect("serializes");
            let mut with_meta = result.clone();
            with_meta.meta = modern_meta(&cx, &server);
            assert_eq!(spliced.get(), raw(&with_meta).expect("serializes").get());
        }
    }

    #[tokio::test]
    async fn a_handlers_own_meta_is_kept_beside_the_servers() {
        let mut result = structured("hi");
        result.meta = Some(Meta::new());
        result
            .meta
            .as_mut()
            .unwrap()
            .0
            .insert("mine".into(), 1.into());
        let out = shaped(modern_context(Default::default(), None), result)
            .await
            .expect("shaped");
        assert_eq!(out["_meta"]["mine"], 1, "{out}");
        assert_eq!(
            out["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "t",
            "{out}"
        );
    }

    #[tokio::test]
    async fn a_result_over_the_size_limit_is_replaced_by_a_tool_error() {
        let big = "x".repeat(300);
        match shaped(
            legacy_context(ProtocolVersion::V2025_06_18),
            structured(&big),
        )
        .await
        {
            Err(Stop::Failed(e)) => assert_eq!(
                e.tool_message().as_deref(),
                Some("the result of tool `report` exceeds 200 bytes")
            ),
            other => panic!("expected a size refusal, got {other:?}"),
        }
        assert!(
            shaped(
                legacy_context(ProtocolVersion::V2025_06_18),
                structured("small")
            )
            .await
            .is_ok()
        );
    }
}
