//! validate: the arguments must fit the tool's input schema before anything else happens (a
//! human is never asked to approve a call that cannot run).
//!
//! A `null` for an optional argument is taken as absent, at any depth (clients whose model
//! provider accepts only strict schemas send it; see
//! [`ServerOptions::tool_schema_dialect`](crate::ServerOptions::tool_schema_dialect)). With
//! [`ServerOptions::validate`](crate::ServerOptions::validate) off the schema is not checked.
//! A failure is a tool error naming the fields (sensitive ones redacted), audited as a denial
//! (`invalid_arguments`); a tool whose schema does not compile cannot be called (-32603).

use mcp_core::ErrorObject;

use super::{Call, Flow, Stage, Step, Stop};
use crate::error::Error;
use crate::server::Server;

/// The validate stage.
pub(crate) struct Validate;

impl Stage for Validate {
    fn name(&self) -> &'static str {
        "validate"
    }

    fn apply<'a>(&'a self, server: &'a Server, call: &'a mut Call) -> Step<'a> {
        Step::Done(validate(server, call))
    }
}

fn validate(server: &Server, call: &mut Call) -> Result<Flow, Stop> {
    let schemas = call.callee.schemas.clone().map_err(|e| {
        tracing::error!(tool = %call.name, error = %e, "a call of a tool whose schema does not compile");
        Stop::Error(ErrorObject::internal_error(
            "internal error: the tool's schema cannot be checked",
        ))
    })?;
    if let serde_json::Value::Object(arguments) = &mut call.arguments {
        schemas.remove_absent_nulls(arguments);
    }
    if server.inner.options.validate
        && let Err(failure) = schemas.validate_arguments(Some(&call.arguments))
    {
        server.decision(
            &call.cx,
            "tools/call",
            &call.name,
            Some("invalid_arguments"),
        );
        let policy = call.callee.policy.in_force(&server.inner.admission);
        let message = failure.redacted(&policy.sensitive).to_string();
        return Err(Stop::Failed(Error::public(message)));
    }
    call.schemas = Some(schemas);
    Ok(Flow::Next)
}

#[cfg(test)]
mod tests {
    use mcp_core::types::{CallToolResult, JsonObject, Tool};

    use super::*;
    use crate::pipeline::testing::{call, modern_context};
    use crate::{Context, Policy, ServerOptions, ToolHandler};

    /// `greet(name: string, title?: string | null)`, with `secret` sensitive.
    struct Greet;

    impl ToolHandler for Greet {
        fn definition(&self) -> Tool {
            let schema = serde_json::json!({
                "type": "object",
                "properties": {
                    "name": { "type": "string" },
                    "title": { "type": "string" },
                    "secret": { "type": "integer" }
                },
                "required": ["name"]
            });
            Tool::new("greet", serde_json::from_value(schema).expect("an object"))
        }
        fn policy(&self) -> Policy {
            Policy {
                sensitive: vec!["secret".into()],
                ..Policy::public()
            }
        }
        async fn call(&self, _cx: Context, _args: JsonObject) -> crate::Result<CallToolResult> {
            Ok(CallToolResult::success(Vec::new()))
        }
    }

    fn cx() -> Context {
        modern_context(Default::default(), None)
    }

    #[tokio::test]
    async fn arguments_that_do_not_fit_are_a_tool_error_naming_the_field() {
        let server = Server::new("t", "1").tool(Greet);
        let mut c = call(&server, cx(), "greet", serde_json::json!({ "name": 7 }));
        match Validate.apply(&server, &mut c).await {
            Err(Stop::Failed(e)) => {
                let message = e.tool_message().expect("a public message");
                assert!(message.contains("name"), "{message}");
            }
            other => panic!("expected a validation failure, got {other:?}"),
        }
        // A sensitive argument's value never appears in the message.
        let mut c = call(
            &server,
            cx(),
            "greet",
            serde_json::json!({ "name": "a", "secret": "hunter2" }),
        );
        match Validate.apply(&server, &mut c).await {
            Err(Stop::Failed(e)) => {
                let message = e.tool_message().expect("a public message");
                assert!(message.contains("secret"), "{message}");
                assert!(!message.contains("hunter2"), "{message}");
            }
            other => panic!("expected a validation failure, got {other:?}"),
        }
        let mut good = call(&server, cx(), "greet", serde_json::json!({ "name": "Ada" }));
        assert!(matches!(
            Validate.apply(&server, &mut good).await,
            Ok(Flow::Next)
        ));
        assert!(good.schemas.is_some());
    }

    #[tokio::test]
    async fn a_null_optional_argument_is_removed_before_validation() {
        let server = Server::new("t", "1").tool(Greet);
        let mut c = call(
            &server,
            cx(),
            "greet",
            serde_json::json!({ "name": "Ada", "title": null }),
        );
        assert!(matches!(
            Validate.apply(&server, &mut c).await,
            Ok(Flow::Next)
        ));
        assert_eq!(c.arguments, serde_json::json!({ "name": "Ada" }));
    }

    #[tokio::test]
    async fn without_validation_the_schema_is_not_checked() {
        let options = ServerOptions {
            validate: false,
            ..ServerOptions::default()
        };
        let server = Server::new("t", "1").options(options).tool(Greet);
        let mut c = call(&server, cx(), "greet", serde_json::json!({ "name": 7 }));
        assert!(matches!(
            Validate.apply(&server, &mut c).await,
            Ok(Flow::Next)
        ));
    }
}
