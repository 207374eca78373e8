//! Typed tool calls: [`Client::call`] with a [`ToolContract`], and what `#[client]` traits call.
//!
//! At the first typed call of a tool, the contract's output schema is compared with the
//! `outputSchema` the server declares in `tools/list` ([`check_output_schema`]); a difference is
//! [`Error::SchemaDrift`], naming the property and the types. The verdict is kept per tool until
//! the server says its tool list changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mcp_core::contract::{SchemaDrift, ToolContract, check_output_schema};
use mcp_core::types::{CallToolResult, JsonObject};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::Client;
use crate::error::{Error, Result};

/// What the client remembers for typed calls: each tool's verdict, and the server's schemas.
#[derive(Default)]
pub(crate) struct TypedCache {
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    /// The `outputSchema` of each listed tool (`None`: the tool declares none).
    server: Option<Arc<HashMap<String, Option<JsonObject>>>>,
    /// The result of the comparison, per tool and expected schema (two contracts may name the
    /// same tool).
    verdicts: HashMap<(String, String), std::result::Result<(), SchemaDrift>>,
}

impl TypedCache {
    /// Forgets everything: the server's tools changed.
    pub(crate) fn clear(&self) {
        *self.state.lock().expect("not poisoned") = CacheState::default();
    }
}

/// What a typed call expects of a tool's output.
#[derive(Debug, Clone, Default)]
#[doc(hidden)]
pub struct Expect {
    /// The output schema to compare with the server's (`None`: no comparison).
    pub schema: Option<JsonObject>,
    /// Whether `structuredContent` is `{"result": value}`.
    pub wrapped: bool,
}

impl Client {
    /// Calls the tool of a contract with typed input and output.
    ///
    /// The input is serialized as the call's `arguments`; the output is decoded from
    /// `structuredContent` (unwrapping `{"result": ...}` for outputs that are not objects), or
    /// from the text content of a tool without structured output. At the first call of each
    /// tool, the contract's output schema is compared with the server's ([`Error::SchemaDrift`]
    /// on a difference). A result with `isError` is [`Error::Tool`], carrying its text.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_client::Client) -> mcp_client::Result<()> {
    /// #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    /// pub struct AddInput {
    ///     pub a: f64,
    ///     pub b: f64,
    /// }
    ///
    /// mcp_client::mcp_core::tool_contract! {
    ///     /// Adds two numbers.
    ///     pub struct Add = "add" (AddInput) -> f64;
    /// }
    ///
    /// let sum: f64 = client.call(Add, AddInput { a: 1.0, b: 2.0 }).await?;
    /// assert_eq!(sum, 3.0);
    /// # Ok(()) }
    /// ```
    pub async fn call<C: ToolContract>(&self, contract: C, input: C::Input) -> Result<C::Output> {
        let _ = contract;
        let arguments = to_arguments(C::NAME, &input);
        let expect = Expect {
            schema: C::output_schema(),
            wrapped: C::output_wrapped(),
        };
        self.call_typed(C::NAME, arguments, expect).await
    }

    /// What typed calls share: the schema check, the call, the decoding.
    #[doc(hidden)]
    pub async fn call_typed<T: DeserializeOwned>(
        &self,
        tool: &str,
        arguments: Result<JsonObject>,
        expect: Expect,
    ) -> Result<T> {
        let arguments = arguments?;
        if let Some(schema) = &expect.schema {
            self.check_contract(tool, schema).await?;
        }
        let result = self.call_tool(tool, Value::Object(arguments)).await?;
        decode(tool, result, expect.wrapped)
    }

    /// Compares the contract's output schema with the server's, once per tool.
    async fn check_contract(&self, tool: &str, expected: &JsonObject) -> Result<()> {
        let cache = &self.typed_cache();
        let key = (tool.to_owned(), Value::Object(expected.clone()).to_string());
        let known = {
            let state = cache.state.lock().expect("not poisoned");
            match state.verdicts.get(&key) {
                Some(verdict) => return verdict.clone().map_err(|drift| drift_error(tool, drift)),
                None => state.server.clone(),
            }
        };
        let server = match known {
            Some(server) => server,
            None => {
                let tools = self.list_tools().await?;
                let server: Arc<HashMap<_, _>> = Arc::new(
                    tools
                        .into_iter()
                        .map(|t| (t.name, t.output_schema))
                        .collect(),
                );
                cache.state.lock().expect("not poisoned").server = Some(server.clone());
                server
            }
        };
        let verdict = match server.get(tool) {
            None => Err(SchemaDrift::new(
                "",
                "the server lists no tool of that name".to_owned(),
            )),
            // A tool without an output schema returns content; the decoding tells.
            Some(None) => Ok(()),
            Some(Some(actual)) => check_output_schema(expected, actual),
        };
        cache
            .state
            .lock()
            .expect("not poisoned")
            .verdicts
            .insert(key, verdict.clone());
        verdict.map_err(|drift| drift_error(tool, drift))
    }
}

fn drift_error(tool: &str, drift: SchemaDrift) -> Error {
    Error::SchemaDrift {
        tool: tool.to_owned(),
        drift,
    }
}

/// The `arguments` object of a typed call.
#[doc(hidden)]
pub fn to_arguments<T: Serialize + ?Sized>(tool: &str, input: &T) -> Result<JsonObject> {
    match serde_json::to_value(input) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(JsonObject::new()),
        Ok(other) => Err(Error::Input {
            tool: tool.to_owned(),
            reason: format!(
                "the arguments must be a JSON object, not `{}`",
                json_kind(&other)
            ),
        }),
        Err(e) => Err(Error::Input {
            tool: tool.to_owned(),
            reason: e.to_string(),
        }),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The text of a result's text content, joined by newlines.
fn text_of(result: &CallToolResult) -> String {
    let texts: Vec<&str> = result.content.iter().filter_map(|c| c.as_text()).collect();
    texts.join("\n")
}

/// Decodes a tool's result as `T`.
#[doc(hidden)]
pub fn decode<T: DeserializeOwned>(tool: &str, result: CallToolResult, wrapped: bool) -> Result<T> {
    if result.is_error == Some(true) {
        return Err(Error::Tool {
            tool: tool.to_owned(),
            message: text_of(&result),
        });
    }
    let output_error = |reason: String| Error::Output {
        tool: tool.to_owned(),
        reason,
    };
    if let Some(structured) = result.structured_content {
        // The contract says whether the value is wrapped in `{"result": ...}`; the other
        // reading is tried second, for an object output whose one field is `result`.
        let inner = match &structured {
            Value::Object(map) if map.len() == 1 => map.get("result"),
            _ => None,
        };
        let (first, second) = if wrapped {
            (inner, Some(&structured))
        } else {
            (Some(&structured), inner)
        };
        let Some(first) = first else {
            return Err(output_error(
                "`structuredContent` is not `{\"result\": ...}`, as the contract expects".into(),
            ));
        };
        return match T::deserialize(first) {
            Ok(value) => Ok(value),
            Err(e) => second
                .and_then(|v| T::deserialize(v).ok())
                .ok_or_else(|| output_error(e.to_string())),
        };
    }
    // No structured output: the text is the value, as JSON or as a string.
    let text = text_of(&result);
    if text.is_empty()
        && let Ok(value) = T::deserialize(Value::Null)
    {
        return Ok(value);
    }
    if let Ok(value) = serde_json::from_str::<T>(&text) {
        return Ok(value);
    }
    T::deserialize(Value::String(text)).map_err(|e| {
        output_error(format!(
            "the tool returned no `structuredContent`, and its text does not decode: {e}"
        ))
    })
}

/// What `#[client]` expands to: not a public API.
#[doc(hidden)]
pub mod __private {
    use std::marker::PhantomData;

    use serde::de::DeserializeOwned;

    pub use super::{Expect, decode, to_arguments};
    pub use crate::client::Client;
    pub use crate::error::{Error, Result};
    pub use mcp_core::types::JsonObject;
    pub use serde_json::{Map, Value};
    pub use std::boxed::Box;
    pub use std::future::Future;
    pub use std::string::String;

    /// The output type of a method, to find its schema by autoref specialization.
    pub struct Output<T>(PhantomData<fn() -> T>);

    impl<T> Output<T> {
        /// The marker.
        #[allow(clippy::new_without_default)]
        pub const fn new() -> Self {
            Output(PhantomData)
        }
    }

    /// An output with a JSON Schema: compared with the server's.
    pub trait WithSchema {
        /// What to expect.
        fn expect(&self) -> Expect;
    }

    impl<T: schemars::JsonSchema> WithSchema for &Output<T> {
        fn expect(&self) -> Expect {
            Expect {
                schema: Some(mcp_core::contract::__private::output_schema::<T>()),
                wrapped: !mcp_core::contract::__private::is_object::<T>(),
            }
        }
    }

    /// An output without a schema: decoded without comparison.
    pub trait WithoutSchema {
        /// What to expect.
        fn expect(&self) -> Expect;
    }

    impl<T> WithoutSchema for Output<T> {
        fn expect(&self) -> Expect {
            Expect::default()
        }
    }

    /// The call of a method: a boxed future, so that an output type that does not deserialize
    /// is one error, at the output type.
    pub fn call<T: DeserializeOwned + 'static>(
        client: Client,
        tool: &'static str,
        arguments: Result<JsonObject>,
        expect: Expect,
    ) -> futures::future::BoxFuture<'static, Result<T>> {
        Box::pin(async move { client.call_typed::<T>(tool, arguments, expect).await })
    }

    /// Serializes one argument of a method into the `arguments` object; a `None` (a value that
    /// serializes to `null`) is left out, as an absent optional argument.
    pub fn arg<T: serde::Serialize + ?Sized>(
        tool: &str,
        arguments: &mut JsonObject,
        name: &str,
        value: &T,
    ) -> Result<()> {
        let value = serde_json::to_value(value).map_err(|e| Error::Input {
            tool: tool.to_owned(),
            reason: format!("argument `{name}`: {e}"),
        })?;
        if !value.is_null() {
            arguments.insert(name.to_owned(), value);
        }
        Ok(())
    }
}
