//! check: a structured result that does not fit the tool's declared output schema is never
//! sent; the call fails with an internal error (-32603) and the mismatch is logged. A tool error
//! (`isError: true`) is not checked, and nothing is with
//! [`ServerOptions::validate`](crate::ServerOptions::validate) off. First, a `null` for an
//! optional output field that the schema does not let be `null` (a Rust `None`) is removed: the
//! field is absent, as the schema says ([`crate::validate::ToolSchemas::remove_absent_output_nulls`]).

use mcp_core::ErrorObject;

use super::{Call, Flow, Stage, Step, Stop};
use crate::server::Server;

/// The check stage.
pub(crate) struct Check;

impl Stage for Check {
    fn name(&self) -> &'static str {
        "check"
    }

    fn apply<'a>(&'a self, server: &'a Server, call: &'a mut Call) -> Step<'a> {
        Step::Done(check(server, call))
    }
}

fn check(server: &Server, call: &mut Call) -> Result<Flow, Stop> {
    let (Some(result), Some(schemas)) = (&mut call.result, &call.schemas) else {
        return Ok(Flow::Next);
    };
    if result.is_error != Some(true)
        && let Some(structured) = result.structured_content.as_mut()
    {
        schemas.remove_absent_output_nulls(structured);
    }
    if server.inner.options.validate
        && result.is_error != Some(true)
        && let Err(failure) = schemas.validate_output(result.structured_content.as_ref())
    {
        if call.task.is_some() {
            tracing::error!(tool = %call.name, error = %failure, "a task's output violates its output schema: not sent");
        } else {
            tracing::error!(tool = %call.name, error = %failure, "a tool's output violates its output schema: not sent");
        }
        return Err(Stop::Error(ErrorObject::internal_error(
            "internal error: the tool's output does not match its output schema",
        )));
    }
    Ok(Flow::Next)
}

#[cfg(test)]
mod tests {
    use mcp_core::types::{CallToolResult, JsonObject, Tool};

    use super::*;
    use crate::pipeline::testing::{call, modern_context};
    use crate::pipeline::validate::Validate;
    use crate::{Context, ServerOptions, ToolHandler};

    /// Declares `{ "total": integer }` as its output.
    struct Sum;

    impl ToolHandler for Sum {
        fn definition(&self) -> Tool {
            let mut tool = Tool::new("sum", JsonObject::new());
            tool.output_schema = Some(
                serde_json::from_value(serde_json::json!({
                    "type": "object",
                    "properties": {
                        "total": { "type": "integer" },
                        "note": { "type": "string" }
                    },
                    "required": ["total"]
                }))
                .expect("an object"),
            );
            tool
        }
        async fn call(&self, _cx: Context, _args: JsonObject) -> crate::Result<CallToolResult> {
            unreachable!("the check stage is tested alone")
        }
    }

    /// A call of `sum` past validate, whose handler returned `result`.
    async fn returned(server: &Server, result: CallToolResult) -> crate::pipeline::Call {
        let cx = modern_context(Default::default(), None);
        let mut c = call(server, cx, "sum", serde_json::json!({}));
        assert!(matches!(
            Validate.apply(server, &mut c).await,
            Ok(Flow::Next)
        ));
        c.result = Some(result);
        c
    }

    fn structured(value: serde_json::Value) -> CallToolResult {
        let mut result = CallToolResult::success(Vec::new());
        result.structured_content = Some(value);
        result
    }

    #[tokio::test]
    async fn output_that_violates_the_schema_is_not_sent() {
        let server = Server::new("t", "1").tool(Sum);
        let mut c = returned(&server, structured(serde_json::json!({ "total": "many" }))).await;
        match Check.apply(&server, &mut c).await {
            Err(Stop::Error(e)) => {
                assert_eq!(e.code, mcp_core::ErrorCode::INTERNAL_ERROR);
                assert_eq!(
                    e.message,
                    "internal error: the tool's output does not match its output schema"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let mut good = returned(&server, structured(serde_json::json!({ "total": 3 }))).await;
        assert!(matches!(
            Check.apply(&server, &mut good).await,
            Ok(Flow::Next)
        ));
    }

    #[tokio::test]
    async fn a_null_optional_output_field_is_left_out_and_a_null_required_one_refused() {
        let server = Server::new("t", "1").tool(Sum);
        let mut c = returned(
            &server,
            structured(serde_json::json!({ "total": 3, "note": null })),
        )
        .await;
        assert!(matches!(Check.apply(&server, &mut c).await, Ok(Flow::Next)));
        assert_eq!(
            c.result.unwrap().structured_content,
            Some(serde_json::json!({ "total": 3 }))
        );
        let mut c = returned(&server, structured(serde_json::json!({ "total": null }))).await;
        assert!(matches!(
            Check.apply(&server, &mut c).await,
            Err(Stop::Error(_))
        ));
    }

    #[tokio::test]
    async fn tool_errors_and_unvalidated_servers_are_not_checked() {
        let server = Server::new("t", "1").tool(Sum);
        let mut failed = returned(&server, CallToolResult::error("it broke")).await;
        assert!(matches!(
            Check.apply(&server, &mut failed).await,
            Ok(Flow::Next)
        ));

        let options = ServerOptions {
            validate: false,
            ..ServerOptions::default()
        };
        let server = Server::new("t", "1").options(options).tool(Sum);
        let mut c = returned(&server, structured(serde_json::json!({ "total": "many" }))).await;
        assert!(matches!(Check.apply(&server, &mut c).await, Ok(Flow::Next)));
    }
}
