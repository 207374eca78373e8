//! What handlers return: the conversions of a function's return value into a tool result,
//! resource contents, prompt messages and completions.
//!
//! `#[tool]`, `#[resource]` and `#[prompt]` use these traits to turn a function's return type
//! into the protocol's result; implement them for your own types to return those. The error of
//! a `Result` is converted with [`IntoHandlerError`](crate::error::IntoHandlerError) by the
//! macros (and with `Into<Error>` here, for hand-written handlers).

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use base64::Engine as _;
use mcp_core::types::{
    AudioContent, CallToolResult, Completion, ContentBlock, EmbeddedResource, GetPromptResult,
    ImageContent, JsonObject, PromptMessage, ResourceContents, ResourceLink, TextContent,
};
use schemars::JsonSchema;
use serde::Serialize;

use crate::error::{Error, Result};

/// A structured tool result: `T` becomes `structuredContent` (with a JSON text copy as content),
/// and the tool's definition gets an `outputSchema` from `T`'s JSON Schema.
///
/// A `#[tool]` fn returning any `T: Serialize + JsonSchema` that is not content already gets
/// this treatment; `Json` makes it explicit, and works for hand-written handlers too. When `T`'s
/// schema is not an object (a number, a list, an enum), the value is wrapped as
/// `{"result": value}` and so is the schema, since `structuredContent` must be an object.
///
/// ```
/// use mcp_server::{IntoToolResult, Json};
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Sum {
///     total: f64,
/// }
///
/// let result = Json(Sum { total: 3.0 }).into_tool_result().unwrap();
/// assert_eq!(result.structured_content, Some(serde_json::json!({ "total": 3.0 })));
/// assert!(Json::<Sum>::output_schema().is_some());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Json<T>(pub T);

/// What a tool may return: content, a full [`CallToolResult`], or structured output ([`Json`]).
///
/// Implemented for `CallToolResult`, `String`, `&'static str`, `()`, [`ContentBlock`] and
/// `Vec<ContentBlock>`, each content type (`TextContent`, `ImageContent`, `AudioContent`,
/// `EmbeddedResource`, `ResourceLink`), [`Json<T>`] and `Result<T, E>` of those. A `#[tool]` fn
/// may also return any `T: Serialize + JsonSchema` (structured, like `Json<T>`). Implement it
/// for your own types to return them from tools.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a tool result",
    label = "not a tool result",
    note = "a tool returns `String`, content (`ContentBlock`, `Vec<ContentBlock>`, `ImageContent`, ...), `CallToolResult`, `()`, or a type implementing `serde::Serialize` and `schemars::JsonSchema` (structured output), possibly in `Result<_, E>` with `E: Into<mcp_server::Error>`",
    note = "or implement `mcp_server::IntoToolResult` for it"
)]
pub trait IntoToolResult {
    /// The `outputSchema` of a tool returning this type: `Some` for structured results. Called
    /// once, when the tool is registered.
    fn output_schema() -> Option<JsonObject> {
        None
    }

    /// The result of a call.
    fn into_tool_result(self) -> Result<CallToolResult>;
}

impl IntoToolResult for CallToolResult {
    fn into_tool_result(self) -> Result<CallToolResult> {
        Ok(self)
    }
}

impl IntoToolResult for () {
    fn into_tool_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::success(Vec::new()))
    }
}

impl IntoToolResult for String {
    fn into_tool_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::success(vec![ContentBlock::text(self)]))
    }
}

impl IntoToolResult for &'static str {
    fn into_tool_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::success(vec![ContentBlock::text(self)]))
    }
}

impl IntoToolResult for std::borrow::Cow<'static, str> {
    fn into_tool_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::success(vec![ContentBlock::text(self)]))
    }
}

impl IntoToolResult for Vec<ContentBlock> {
    fn into_tool_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::success(self))
    }
}

macro_rules! content_results {
    ($($ty:ty),*) => {$(
        impl IntoToolResult for $ty {
            fn into_tool_result(self) -> Result<CallToolResult> {
                Ok(CallToolResult::success(vec![ContentBlock::from(self)]))
            }
        }
    )*};
}
content_results!(
    TextContent,
    ImageContent,
    AudioContent,
    EmbeddedResource,
    ResourceLink
);

impl IntoToolResult for ContentBlock {
    fn into_tool_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::success(vec![self]))
    }
}

impl<T: Serialize + JsonSchema + 'static> IntoToolResult for Json<T> {
    fn output_schema() -> Option<JsonObject> {
        Some(crate::schema::output_schema::<T>())
    }

    fn into_tool_result(self) -> Result<CallToolResult> {
        let value = serde_json::to_value(&self.0).map_err(|e| {
            Error::internal(format!(
                "cannot serialize the result `{}`: {e}",
                std::any::type_name::<T>()
            ))
        })?;
        let value = if object_output::<T>() {
            value
        } else {
            serde_json::json!({ "result": value })
        };
        Ok(CallToolResult::structured(value))
    }
}

impl<T: IntoToolResult, E: Into<Error>> IntoToolResult for std::result::Result<T, E> {
    fn output_schema() -> Option<JsonObject> {
        T::output_schema()
    }

    fn into_tool_result(self) -> Result<CallToolResult> {
        self.map_err(Into::into)?.into_tool_result()
    }
}

/// Whether the structured output of `T` is an object (else it is wrapped in `{"result": ...}`),
/// decided once per type from its schema.
fn object_output<T: JsonSchema + 'static>() -> bool {
    static CACHE: OnceLock<RwLock<HashMap<TypeId, bool>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let id = TypeId::of::<T>();
    if let Some(&object) = cache.read().expect("not poisoned").get(&id) {
        return object;
    }
    let object = crate::schema::is_object_schema::<T>();
    cache.write().expect("not poisoned").insert(id, object);
    object
}

/// What a resource may return: its contents.
///
/// Implemented for `Vec<ResourceContents>` and `ResourceContents` (as they are), `String`,
/// `&'static str` (text, with the declared MIME type), `Vec<u8>` and `&'static [u8]` (a base64
/// blob), and `Result<T, E>` of those. A `#[resource]` fn may also return any `T: Serialize`
/// (JSON text, `application/json` unless declared otherwise).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the contents of a resource",
    label = "not resource contents",
    note = "a resource returns `String` (text), `Vec<u8>` (a blob), `ResourceContents`, `Vec<ResourceContents>`, or a type implementing `serde::Serialize` (JSON), possibly in `Result<_, E>` with `E: Into<mcp_server::Error>`",
    note = "or implement `mcp_server::IntoResourceContents` for it"
)]
pub trait IntoResourceContents {
    /// The contents of the resource at `uri`, declared to have `mime_type`.
    fn into_contents(self, uri: &str, mime_type: Option<&str>) -> Result<Vec<ResourceContents>>;
}

impl IntoResourceContents for Vec<ResourceContents> {
    fn into_contents(self, _: &str, _: Option<&str>) -> Result<Vec<ResourceContents>> {
        Ok(self)
    }
}

impl IntoResourceContents for ResourceContents {
    fn into_contents(self, _: &str, _: Option<&str>) -> Result<Vec<ResourceContents>> {
        Ok(vec![self])
    }
}

impl IntoResourceContents for String {
    fn into_contents(self, uri: &str, mime_type: Option<&str>) -> Result<Vec<ResourceContents>> {
        Ok(vec![ResourceContents::text(uri, mime_type, self)])
    }
}

impl IntoResourceContents for &'static str {
    fn into_contents(self, uri: &str, mime_type: Option<&str>) -> Result<Vec<ResourceContents>> {
        Ok(vec![ResourceContents::text(uri, mime_type, self)])
    }
}

impl IntoResourceContents for Vec<u8> {
    fn into_contents(self, uri: &str, mime_type: Option<&str>) -> Result<Vec<ResourceContents>> {
        self.as_slice().into_contents(uri, mime_type)
    }
}

impl IntoResourceContents for &[u8] {
    fn into_contents(self, uri: &str, mime_type: Option<&str>) -> Result<Vec<ResourceContents>> {
        let blob = base64::engine::general_purpose::STANDARD.encode(self);
        Ok(vec![ResourceContents::blob(uri, mime_type, blob)])
    }
}

impl<T: IntoResourceContents, E: Into<Error>> IntoResourceContents for std::result::Result<T, E> {
    fn into_contents(self, uri: &str, mime_type: Option<&str>) -> Result<Vec<ResourceContents>> {
        self.map_err(Into::into)?.into_contents(uri, mime_type)
    }
}

/// What a prompt may return: its messages.
///
/// Implemented for `GetPromptResult`, `Vec<PromptMessage>`, `PromptMessage`, `String` and
/// `&'static str` (one text message from the user), and `Result<T, E>` of those.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of a prompt",
    label = "not prompt messages",
    note = "a prompt returns `Vec<PromptMessage>`, `PromptMessage`, `GetPromptResult` or `String` (one user message), possibly in `Result<_, E>` with `E: Into<mcp_server::Error>`",
    note = "or implement `mcp_server::IntoPromptResult` for it"
)]
pub trait IntoPromptResult {
    /// The rendered prompt.
    fn into_prompt_result(self) -> Result<GetPromptResult>;
}

impl IntoPromptResult for GetPromptResult {
    fn into_prompt_result(self) -> Result<GetPromptResult> {
        Ok(self)
    }
}

impl IntoPromptResult for Vec<PromptMessage> {
    fn into_prompt_result(self) -> Result<GetPromptResult> {
        Ok(GetPromptResult {
            messages: self,
            ..Default::default()
        })
    }
}

impl IntoPromptResult for PromptMessage {
    fn into_prompt_result(self) -> Result<GetPromptResult> {
        vec![self].into_prompt_result()
    }
}

impl IntoPromptResult for String {
    fn into_prompt_result(self) -> Result<GetPromptResult> {
        PromptMessage::user(self).into_prompt_result()
    }
}

impl IntoPromptResult for &'static str {
    fn into_prompt_result(self) -> Result<GetPromptResult> {
        PromptMessage::user(self).into_prompt_result()
    }
}

impl<T: IntoPromptResult, E: Into<Error>> IntoPromptResult for std::result::Result<T, E> {
    fn into_prompt_result(self) -> Result<GetPromptResult> {
        self.map_err(Into::into)?.into_prompt_result()
    }
}

/// What a completion function (`complete(var = path)`) may return.
///
/// Implemented for `Vec<String>`, `Vec<&str>`, [`Completion`], and `Result<T, E>` of those.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a completion",
    label = "not a list of suggestions",
    note = "a completion function returns `Vec<String>`, `Vec<&str>` or `Completion` (or a future of one), possibly in `Result<_, E>`"
)]
pub trait IntoCompletion {
    /// The suggestions.
    fn into_completion(self) -> Result<Completion>;
}

impl IntoCompletion for Completion {
    fn into_completion(self) -> Result<Completion> {
        Ok(self)
    }
}

impl IntoCompletion for Vec<String> {
    fn into_completion(self) -> Result<Completion> {
        Ok(Completion {
            values: self,
            ..Default::default()
        })
    }
}

impl IntoCompletion for Vec<&str> {
    fn into_completion(self) -> Result<Completion> {
        self.into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .into_completion()
    }
}

impl<T: IntoCompletion, E: Into<Error>> IntoCompletion for std::result::Result<T, E> {
    fn into_completion(self) -> Result<Completion> {
        self.map_err(Into::into)?.into_completion()
    }
}
