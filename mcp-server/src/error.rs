//! The error a handler returns, and how it reaches the client.

use std::fmt;

use mcp_core::{ErrorCode, ErrorObject};

/// An error from a tool, resource or prompt handler.
///
/// What the client sees depends on the kind:
///
/// | kind | tools | resources and prompts |
/// |---|---|---|
/// | [`Error::public`] | a result with `isError: true` and the message | JSON-RPC -32603 with the message |
/// | [`Error::protocol`], [`Error::invalid_params`], [`Error::not_found`] | a JSON-RPC error | a JSON-RPC error |
/// | [`Error::internal`] (`?` on any error type) | `isError: true`, "internal error" only | -32603, "internal error" only |
///
/// Details of an internal error are logged with `tracing` (at `error`, with its chain of
/// sources) and never sent: they may hold paths, queries or credentials.
///
/// # The error of a `#[tool]`, `#[resource]` or `#[prompt]` function
///
/// A function annotated with the macros may return `Result<T, E>` (or an alias: `anyhow::Result<T>`,
/// `std::io::Result<T>`) with any of these error types:
///
/// | `E` | becomes | the client sees |
/// |---|---|---|
/// | `mcp_server::Error` | itself | as in the table above |
/// | `String`, `&str`, `Cow<str>` | [`Error::public`] | the message (a tool: `isError: true` and the text the model reads) |
/// | any `std::error::Error + Send + Sync + 'static` (`std::io::Error`, a `thiserror` enum, ...) | [`Error::internal`] | "internal error" only; the error is logged |
/// | `anyhow::Error` (and `eyre::Report`) | [`Error::internal`] | "internal error" only; the error and its context chain are logged |
/// | `Box<dyn std::error::Error + Send + Sync>` | [`Error::internal`] | "internal error" only; the error is logged |
/// | a type with `From<T> for mcp_server::Error` | what the conversion makes | as in the table above |
/// | a type implementing [`IntoHandlerError`] | what `into_handler_error` makes | as in the table above |
///
/// `anyhow::Error` needs no feature of this crate: every type that converts into
/// `Box<dyn std::error::Error + Send + Sync>` is accepted as an internal error. Any other type
/// is a compile error at the `E` of the return type, saying which of these to choose.
///
/// ```
/// use mcp_server::tool;
///
/// /// Tell the model what is wrong: a `String` error is a message it reads.
/// #[tool]
/// fn divide(a: i64, b: i64) -> Result<i64, String> {
///     a.checked_div(b).ok_or_else(|| format!("cannot divide {a} by zero"))
/// }
///
/// /// An internal error: logged, the client only sees "internal error".
/// #[tool]
/// fn motd() -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
///     Ok(std::fs::read_to_string("/etc/motd")?)
/// }
/// ```
pub struct Error {
    kind: Kind,
}

enum Kind {
    Public(String),
    Protocol(ErrorObject),
    NotFound(String),
    Internal(Box<dyn std::error::Error + Send + Sync>),
    /// The handler asked the client for input that has not arrived yet (modern era).
    InputRequired,
    Cancelled,
}

impl Error {
    /// An error whose message the client (and the model) may read.
    pub fn public(message: impl Into<String>) -> Self {
        Error {
            kind: Kind::Public(message.into()),
        }
    }

    /// A JSON-RPC error, sent as it is.
    pub fn protocol(error: ErrorObject) -> Self {
        Error {
            kind: Kind::Protocol(error),
        }
    }

    /// -32602 with a message.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::protocol(ErrorObject::invalid_params(message))
    }

    /// The resource does not exist: -32002 in the legacy era, -32602 in the modern one.
    pub fn not_found(uri: impl Into<String>) -> Self {
        Error {
            kind: Kind::NotFound(uri.into()),
        }
    }

    /// An internal error: logged, never shown.
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error {
            kind: Kind::Internal(error.into()),
        }
    }

    pub(crate) fn input_required() -> Self {
        Error {
            kind: Kind::InputRequired,
        }
    }

    pub(crate) fn cancelled() -> Self {
        Error {
            kind: Kind::Cancelled,
        }
    }

    /// Whether the error means the client must answer an input request first (modern era:
    /// what [`Context`](crate::Context) returns when it asked the client something): a handler
    /// passes it on unchanged, so the request ends with `input_required`.
    pub fn is_input_required(&self) -> bool {
        matches!(self.kind, Kind::InputRequired)
    }

    /// The message a tool result shows, or `None` when the error must be a JSON-RPC error.
    pub(crate) fn tool_message(&self) -> Option<String> {
        match &self.kind {
            Kind::Public(m) => Some(m.clone()),
            Kind::Internal(e) => {
                tracing::error!(error = %chain(&**e), "tool failed");
                Some("internal error".to_owned())
            }
            _ => None,
        }
    }

    /// Whether it is a JSON-RPC error of its own (not a tool's failure).
    pub(crate) fn is_protocol(&self) -> bool {
        matches!(self.kind, Kind::Protocol(_) | Kind::NotFound(_))
    }

    /// The JSON-RPC error to answer with. `modern` picks the not-found code of the era.
    pub fn to_error_object(&self, modern: bool) -> ErrorObject {
        match &self.kind {
            Kind::Public(m) => ErrorObject::internal_error(m.clone()),
            Kind::Protocol(e) => e.clone(),
            Kind::NotFound(uri) => {
                let code = if modern {
                    ErrorCode::INVALID_PARAMS
                } else {
                    ErrorCode::RESOURCE_NOT_FOUND
                };
                ErrorObject::new(code, "Resource not found")
                    .with_data(serde_json::json!({ "uri": uri }))
            }
            Kind::Internal(e) => {
                tracing::error!(error = %chain(&**e), "handler failed");
                ErrorObject::internal_error("internal error")
            }
            Kind::InputRequired => ErrorObject::internal_error("input required"),
            Kind::Cancelled => ErrorObject::internal_error("request cancelled"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Public(m) => write!(f, "Error::public({m:?})"),
            Kind::Protocol(e) => write!(f, "Error::protocol({e:?})"),
            Kind::NotFound(u) => write!(f, "Error::not_found({u:?})"),
            Kind::Internal(e) => write!(f, "Error::internal({e:?})"),
            Kind::InputRequired => f.write_str("Error::InputRequired"),
            Kind::Cancelled => f.write_str("Error::Cancelled"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Public(m) => f.write_str(m),
            Kind::Protocol(e) => write!(f, "{e}"),
            Kind::NotFound(u) => write!(f, "resource not found: {u}"),
            Kind::Internal(e) => write!(f, "internal error: {e}"),
            Kind::InputRequired => f.write_str("input required from the client"),
            Kind::Cancelled => f.write_str("request cancelled"),
        }
    }
}

/// Any error converts into an internal error, so `?` works in handlers; use [`Error::public`] for
/// what the client may see.
impl<E: std::error::Error + Send + Sync + 'static> From<E> for Error {
    fn from(e: E) -> Self {
        Error::internal(e)
    }
}

/// An error type a `#[tool]`, `#[resource]` or `#[prompt]` function may return, and what the
/// client sees of it (see the tables of [`Error`]).
///
/// Implemented for [`Error`] and for `String`, `&str` and `Cow<str>` (public messages). Any
/// `std::error::Error + Send + Sync + 'static`, `anyhow::Error` and
/// `Box<dyn std::error::Error + Send + Sync>` are accepted without it, as internal errors.
/// Implement it for an error type of yours to decide per value what the model may read:
///
/// ```
/// use mcp_server::{Error, IntoHandlerError, tool};
///
/// enum LookupError {
///     NoSuchUser(String),
///     Database(String),
/// }
///
/// impl IntoHandlerError for LookupError {
///     fn into_handler_error(self) -> Error {
///         match self {
///             LookupError::NoSuchUser(name) => Error::public(format!("no user named `{name}`")),
///             LookupError::Database(detail) => Error::internal(detail),
///         }
///     }
/// }
///
/// #[tool]
/// fn lookup(name: String) -> Result<String, LookupError> {
///     Err(LookupError::NoSuchUser(name))
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error of a handler",
    label = "not a handler error",
    note = "a handler's error is `mcp_server::Error`, a `String` or `&str` (a message the model reads), or an internal error (logged, never shown): any `std::error::Error + Send + Sync + 'static`, `anyhow::Error`, or `Box<dyn std::error::Error + Send + Sync>`",
    note = "to return `{Self}`, implement `std::error::Error` for it (an internal error), `From<{Self}> for mcp_server::Error`, or `mcp_server::IntoHandlerError` (to choose what the client sees)"
)]
pub trait IntoHandlerError {
    /// The error the runtime answers with.
    fn into_handler_error(self) -> Error;
}

impl IntoHandlerError for Error {
    fn into_handler_error(self) -> Error {
        self
    }
}

/// A message the client (and the model) reads.
impl IntoHandlerError for String {
    fn into_handler_error(self) -> Error {
        Error::public(self)
    }
}

/// A message the client (and the model) reads.
impl IntoHandlerError for &str {
    fn into_handler_error(self) -> Error {
        Error::public(self)
    }
}

/// A message the client (and the model) reads.
impl IntoHandlerError for std::borrow::Cow<'_, str> {
    fn into_handler_error(self) -> Error {
        Error::public(self)
    }
}

/// An internal error's message with its chain of sources (`anyhow`'s context, an I/O error
/// under a `thiserror` variant), for the log.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let message = s.to_string();
        // Errors that print their source in their own message are not repeated.
        if !out.ends_with(&message) {
            out.push_str(": ");
            out.push_str(&message);
        }
        source = s.source();
    }
    out
}

/// The result of a handler.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an item could not be registered with [`crate::Server::try_add_tool`],
/// [`crate::Server::try_add_resource`] or [`crate::Server::try_add_prompt`].
///
/// The server is unchanged by a failed registration, and keeps serving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The tool's name is not a valid tool name (SEP-986: 1 to 128 of `A-Z a-z 0-9 _ - .`).
    #[error("invalid tool name `{name}`: {reason}")]
    InvalidToolName {
        /// The name.
        name: String,
        /// Why it is invalid.
        reason: mcp_core::types::ToolNameError,
    },
    /// A tool of that name is already registered.
    #[error("a tool named `{0}` is already registered")]
    DuplicateTool(String),
    /// A resource with that URI is already registered.
    #[error("a resource with URI `{0}` is already registered")]
    DuplicateResource(String),
    /// The resource template is not a valid RFC 6570 URI template.
    #[error("invalid URI template `{template}`: {reason}")]
    InvalidUriTemplate {
        /// The template.
        template: String,
        /// Why it does not parse.
        reason: mcp_core::uri_template::TemplateError,
    },
    /// A resource template with that URI template is already registered.
    #[error("a template `{0}` is already registered")]
    DuplicateTemplate(String),
    /// A prompt of that name is already registered.
    #[error("a prompt named `{0}` is already registered")]
    DuplicatePrompt(String),
}
