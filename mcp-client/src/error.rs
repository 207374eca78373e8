//! What can go wrong when talking to a server.

use mcp_core::ErrorObject;

/// An error from a client call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a JSON-RPC error.
    #[error("the server answered with an error: {0}")]
    Server(ErrorObject),
    /// The server answered at the HTTP level with an error status and no JSON-RPC error.
    #[error("HTTP {status}: {message}")]
    Http {
        /// The status code (401 and 403 mean authorization is needed).
        status: u16,
        /// What the server said.
        message: String,
    },
    /// The connection failed or closed.
    #[error("connection: {0}")]
    Connection(String),
    /// No answer within the timeout; the request was cancelled.
    #[error("`{method}` got no answer within {seconds} s")]
    Timeout {
        /// The method.
        method: String,
        /// The timeout.
        seconds: u64,
    },
    /// The server sent something that does not follow the protocol.
    #[error("the server broke the protocol: {0}")]
    Protocol(String),
    /// The server speaks no protocol version this client can use.
    #[error("no common protocol version: the server offers {offered:?}")]
    NoCommonVersion {
        /// What the server offered.
        offered: Vec<String>,
    },
    /// The server kept asking for input.
    #[error("the server asked for input more than {0} times")]
    TooManyRounds(usize),
    /// A tool's `structuredContent` does not match its `outputSchema`.
    #[error("the output of `{tool}` does not match its output schema: {reason}")]
    OutputSchema {
        /// The tool.
        tool: String,
        /// Why.
        reason: String,
    },
    /// A typed call's tool reported a failure (`isError`): its text.
    #[error("the tool `{tool}` failed: {message}")]
    Tool {
        /// The tool.
        tool: String,
        /// The text content of the result.
        message: String,
    },
    /// A typed call's output does not decode as the contract's output type.
    #[error("the output of `{tool}` does not decode as the contract's output type: {reason}")]
    Output {
        /// The tool.
        tool: String,
        /// Why.
        reason: String,
    },
    /// A typed call's input does not serialize as a JSON object.
    #[error("the arguments of `{tool}` do not serialize: {reason}")]
    Input {
        /// The tool.
        tool: String,
        /// Why.
        reason: String,
    },
    /// The server's `outputSchema` of a tool no longer matches the contract's output type.
    #[error("the output schema of `{tool}` on the server drifted from the contract: {drift}")]
    SchemaDrift {
        /// The tool.
        tool: String,
        /// Where and how.
        drift: mcp_core::contract::SchemaDrift,
    },
}

impl Error {
    /// Whether authorization is needed or failed: HTTP 401 or 403 (with
    /// [`crate::HttpServer::oauth`], the message says why the authorization failed; it never
    /// contains a token).
    pub fn is_authorization(&self) -> bool {
        matches!(
            self,
            Error::Http {
                status: 401 | 403,
                ..
            }
        )
    }

    /// The JSON-RPC error, when the server sent one.
    pub fn server_error(&self) -> Option<&ErrorObject> {
        match self {
            Error::Server(e) => Some(e),
            _ => None,
        }
    }
}

/// The result of a client call.
pub type Result<T, E = Error> = std::result::Result<T, E>;
