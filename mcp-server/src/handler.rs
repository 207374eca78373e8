//! The traits behind tools, resources and prompts. The macros implement them; so can you.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use mcp_core::types::{
    CallToolResult, Completion, CompletionContext, GetPromptResult, JsonObject, Prompt, Resource,
    ResourceContents, ResourceTemplate, Tool,
};
use mcp_core::uri_template::UriTemplate;

use crate::context::Context;
use crate::error::Result;
use crate::policy::Policy;
use crate::server::Server;

/// A tool: a definition (name, description, schemas) and what a call does.
///
/// `#[tool]` implements it for a function. By hand:
///
/// ```
/// use mcp_server::{Context, Result, ToolHandler};
/// use mcp_server::types::{CallToolResult, JsonObject, Tool};
///
/// struct Echo;
///
/// impl ToolHandler for Echo {
///     fn definition(&self) -> Tool {
///         let schema = serde_json::json!({
///             "type": "object",
///             "properties": { "text": { "type": "string" } },
///             "required": ["text"]
///         });
///         let mut tool = Tool::new("echo", serde_json::from_value(schema).unwrap());
///         tool.description = Some("Says the text back".into());
///         tool
///     }
///
///     async fn call(&self, _cx: Context, args: JsonObject) -> Result<CallToolResult> {
///         let text = args.get("text").and_then(|t| t.as_str()).unwrap_or_default();
///         Ok(CallToolResult::success(vec![mcp_server::types::ContentBlock::text(text)]))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tool",
    label = "expected a tool",
    note = "annotate a function with `#[mcp_server::tool]` and pass its marker (`Add` for `fn add`), or implement `mcp_server::ToolHandler`"
)]
pub trait ToolHandler: Send + Sync + 'static {
    /// The tool's definition. Called once, when the tool is registered.
    fn definition(&self) -> Tool;

    /// Who may call it and how ([`Policy`]); none declared by default.
    fn policy(&self) -> Policy {
        Policy::default()
    }

    /// Whether, in the modern era, a call to this task-capable tool first runs as an ordinary
    /// (multi-round-trip) request and becomes a task only when the handler calls
    /// [`Context::continue_as_task`]; `false` by default: the call becomes a task at once.
    /// `#[tool(defer_task)]` sets it.
    fn defers_task(&self) -> bool {
        false
    }

    /// Runs the tool with its arguments (already checked to be an object).
    fn call(
        &self,
        cx: Context,
        arguments: JsonObject,
    ) -> impl Future<Output = Result<CallToolResult>> + Send;
}

/// A resource with a fixed URI, or a family of resources named by a URI template.
#[derive(Debug, Clone)]
pub enum ResourceDefinition {
    /// One resource, listed by `resources/list`.
    Static(Resource),
    /// A template, listed by `resources/templates/list`.
    Template(ResourceTemplate),
}

/// A resource or resource template: a definition and how to read it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a resource",
    label = "expected a resource",
    note = "annotate a function with `#[mcp_server::resource(\"uri\")]` and pass its marker, or implement `mcp_server::ResourceHandler`"
)]
pub trait ResourceHandler: Send + Sync + 'static {
    /// The definition. Called once, at registration.
    fn definition(&self) -> ResourceDefinition;

    /// Who may read it ([`Policy`]); none declared by default.
    fn policy(&self) -> Policy {
        Policy::default()
    }

    /// Reads the resource. For a template, `variables` holds the values matched in `uri`.
    fn read(
        &self,
        cx: Context,
        uri: String,
        variables: BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Vec<ResourceContents>>> + Send;

    /// Completes a template variable. No suggestions by default.
    fn complete(
        &self,
        cx: Context,
        variable: String,
        value: String,
        context: Option<CompletionContext>,
    ) -> impl Future<Output = Result<Completion>> + Send {
        let _ = (cx, variable, value, context);
        async { Ok(Completion::default()) }
    }

    /// Whether a client may subscribe to the resource at `uri` (`resources/subscribe`, or a
    /// `subscriptions/listen` naming it): yes by default. A resource relayed from a server that
    /// cannot tell of its changes says no, and a subscription to it is refused (-32602) instead
    /// of acknowledged for updates that never come. Asked after the caller's access is checked.
    fn subscribable(&self, uri: &str) -> bool {
        let _ = uri;
        true
    }
}

/// A prompt: a definition and how to render it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a prompt",
    label = "expected a prompt",
    note = "annotate a function with `#[mcp_server::prompt]` and pass its marker, or implement `mcp_server::PromptHandler`"
)]
pub trait PromptHandler: Send + Sync + 'static {
    /// The definition. Called once, at registration.
    fn definition(&self) -> Prompt;

    /// Who may use it ([`Policy`]); none declared by default.
    fn policy(&self) -> Policy {
        Policy::default()
    }

    /// Renders the prompt with its arguments.
    fn get(
        &self,
        cx: Context,
        arguments: BTreeMap<String, String>,
    ) -> impl Future<Output = Result<GetPromptResult>> + Send;

    /// Completes an argument. No suggestions by default.
    fn complete(
        &self,
        cx: Context,
        argument: String,
        value: String,
        context: Option<CompletionContext>,
    ) -> impl Future<Output = Result<Completion>> + Send {
        let _ = (cx, argument, value, context);
        async { Ok(Completion::default()) }
    }
}

// Object-safe forms, for the registry.

pub(crate) trait DynTool: Send + Sync {
    fn call(&self, cx: Context, arguments: JsonObject) -> BoxFuture<'_, Result<CallToolResult>>;
}

impl<T: ToolHandler> DynTool for T {
    fn call(&self, cx: Context, arguments: JsonObject) -> BoxFuture<'_, Result<CallToolResult>> {
        Box::pin(ToolHandler::call(self, cx, arguments))
    }
}

pub(crate) trait DynResource: Send + Sync {
    fn subscribable(&self, uri: &str) -> bool;
    fn read(
        &self,
        cx: Context,
        uri: String,
        variables: BTreeMap<String, String>,
    ) -> BoxFuture<'_, Result<Vec<ResourceContents>>>;
    fn complete(
        &self,
        cx: Context,
        variable: String,
        value: String,
        context: Option<CompletionContext>,
    ) -> BoxFuture<'_, Result<Completion>>;
}

impl<T: ResourceHandler> DynResource for T {
    fn subscribable(&self, uri: &str) -> bool {
        ResourceHandler::subscribable(self, uri)
    }
    fn read(
        &self,
        cx: Context,
        uri: String,
        variables: BTreeMap<String, String>,
    ) -> BoxFuture<'_, Result<Vec<ResourceContents>>> {
        Box::pin(ResourceHandler::read(self, cx, uri, variables))
    }
    fn complete(
        &self,
        cx: Context,
        variable: String,
        value: String,
        context: Option<CompletionContext>,
    ) -> BoxFuture<'_, Result<Completion>> {
        Box::pin(ResourceHandler::complete(
            self, cx, variable, value, context,
        ))
    }
}

pub(crate) trait DynPrompt: Send + Sync {
    fn get(
        &self,
        cx: Context,
        arguments: BTreeMap<String, String>,
    ) -> BoxFuture<'_, Result<GetPromptResult>>;
    fn complete(
        &self,
        cx: Context,
        argument: String,
        value: String,
        context: Option<CompletionContext>,
    ) -> BoxFuture<'_, Result<Completion>>;
}

impl<T: PromptHandler> DynPrompt for T {
    fn get(
        &self,
        cx: Context,
        arguments: BTreeMap<String, String>,
    ) -> BoxFuture<'_, Result<GetPromptResult>> {
        Box::pin(PromptHandler::get(self, cx, arguments))
    }
    fn complete(
        &self,
        cx: Context,
        argument: String,
        value: String,
        context: Option<CompletionContext>,
    ) -> BoxFuture<'_, Result<Completion>> {
        Box::pin(PromptHandler::complete(self, cx, argument, value, context))
    }
}

/// A registered template: its parsed URI template, kept to match reads.
pub(crate) struct TemplateEntry {
    pub(crate) template: UriTemplate,
    pub(crate) definition: ResourceTemplate,
    pub(crate) handler: std::sync::Arc<dyn DynResource>,
    pub(crate) policy: std::sync::Arc<crate::admission::ItemPolicy>,
}

/// A value holding tools, resources and prompts as methods: what `#[handlers]` implements for
/// the type of an annotated `impl` block. Register it with [`Server::handlers`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no handlers",
    label = "expected a type with a `#[handlers]` impl block",
    note = "annotate an `impl` block of `{Self}` with `#[mcp_server::handlers]` and its methods with `#[tool]`, `#[resource]` or `#[prompt]`"
)]
pub trait Handlers: Send + Sync + 'static {
    /// Adds every tool, resource and prompt of `self` to `server`.
    fn register(self: Arc<Self>, server: Server) -> Server;
}

/// A [`Handlers`] value, or an `Arc` of one: what [`Server::handlers`] takes.
pub trait IntoShared<H> {
    /// The shared value.
    fn into_shared(self) -> Arc<H>;
}

impl<H: Handlers> IntoShared<H> for H {
    fn into_shared(self) -> Arc<H> {
        Arc::new(self)
    }
}

impl<H: Handlers> IntoShared<H> for Arc<H> {
    fn into_shared(self) -> Arc<H> {
        self
    }
}

impl Server {
    /// Adds every tool, resource and prompt of a `#[handlers]` impl block. The value is shared by
    /// all of them; pass it as it is, or in an `Arc` to keep a handle on it.
    ///
    /// ```no_run
    /// use mcp_server::{Server, handlers, tool};
    ///
    /// struct Kpi {
    ///     currency: String,
    /// }
    ///
    /// #[handlers]
    /// impl Kpi {
    ///     /// The reporting currency.
    ///     #[tool(read_only)]
    ///     fn currency(&self) -> String {
    ///         self.currency.clone()
    ///     }
    /// }
    ///
    /// let server = Server::new("kpi", "1.0.0").handlers(Kpi { currency: "EUR".into() });
    /// ```
    ///
    /// # Panics
    /// Like [`Server::tool`], when a name or URI is taken.
    #[must_use]
    pub fn handlers<H: Handlers>(self, handlers: impl IntoShared<H>) -> Self {
        handlers.into_shared().register(self)
    }
}
