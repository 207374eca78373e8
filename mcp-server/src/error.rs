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
/// | anything else (`?` on any error type) | `isError: true`, "internal error" only | -32603, "internal error" only |
///
/// Details of an internal error are logged with `tracing` and never sent: they may hold paths,
/// queries or credentials.
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
                tracing::error!(error = %e, "tool failed");
                Some("internal error".to_owned())
            }
            _ => None,
        }
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
                tracing::error!(error = %e, "handler failed");
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
