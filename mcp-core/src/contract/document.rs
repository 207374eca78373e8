//! A server's public surface as one stable document.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ProtocolVersion;
use crate::types::{Implementation, Prompt, Resource, ResourceTemplate, ServerCapabilities, Tool};

/// The value of [`ServerContract::format`] this crate writes and reads.
pub const CONTRACT_FORMAT: &str = "mcp-contract/1";

/// A server's public surface at one protocol version: what a client that speaks that version
/// can see and rely on.
///
/// Made to be snapshot-tested and compared between releases ([`diff`](super::diff)): items
/// are sorted (tools, prompts and templates by name, resources by URI), nothing that changes
/// from run to run is kept (the server's version string, `size` and `lastModified` of
/// resources), and fields the protocol version lacks are absent because the lists are taken as
/// the server sends them to a client of that version.
///
/// ```
/// use mcp_core::contract::ServerContract;
/// use mcp_core::types::{Implementation, ServerCapabilities, Tool};
/// use mcp_core::ProtocolVersion;
///
/// let tool = Tool::new("add", serde_json::json!({"type": "object"}).as_object().unwrap().clone());
/// let contract = ServerContract::new(
///     ProtocolVersion::V2025_11_25,
///     &Implementation::new("calc", "1.4.2"),
///     ServerCapabilities::default(),
/// )
/// .with_tools(vec![tool]);
/// let json = serde_json::to_value(&contract).unwrap();
/// assert_eq!(json["server"], serde_json::json!({"name": "calc"}));
/// assert_eq!(json["tools"][0]["name"], "add");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerContract {
    /// The document format, [`CONTRACT_FORMAT`].
    #[serde(rename = "$contract")]
    pub format: String,
    /// The protocol version the surface was taken at.
    pub protocol_version: String,
    /// The server's name and title (its version string is left out: it changes every release).
    pub server: ContractServer,
    /// What the server declares it can do.
    pub capabilities: ServerCapabilities,
    /// Its tools, by name.
    #[serde(default)]
    pub tools: Vec<Tool>,
    /// Its fixed resources, by URI.
    #[serde(default)]
    pub resources: Vec<Resource>,
    /// Its resource templates, by name.
    #[serde(default)]
    pub resource_templates: Vec<ResourceTemplate>,
    /// Its prompts, by name.
    #[serde(default)]
    pub prompts: Vec<Prompt>,
}

/// The server's identity in a [`ServerContract`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ContractServer {
    /// Its programmatic name.
    pub name: String,
    /// Its human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl ServerContract {
    /// An empty surface of the server `info` at `version`; add its items with the `with_*`
    /// methods.
    pub fn new(
        version: ProtocolVersion,
        info: &Implementation,
        capabilities: ServerCapabilities,
    ) -> Self {
        ServerContract {
            format: CONTRACT_FORMAT.to_owned(),
            protocol_version: version.as_str().to_owned(),
            server: ContractServer {
                name: info.name.clone(),
                title: info.title.clone(),
            },
            capabilities,
            tools: Vec::new(),
            resources: Vec::new(),
            resource_templates: Vec::new(),
            prompts: Vec::new(),
        }
    }

    /// The tools, as listed to a client of this version; sorted by name.
    pub fn with_tools(mut self, mut tools: Vec<Tool>) -> Self {
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        self.tools = tools;
        self
    }

    /// The fixed resources; sorted by URI, without run-dependent fields (`size`,
    /// `annotations.lastModified`).
    pub fn with_resources(mut self, mut resources: Vec<Resource>) -> Self {
        for r in &mut resources {
            r.size = None;
            if let Some(a) = &mut r.annotations {
                a.last_modified = None;
            }
        }
        resources.sort_by(|a, b| a.uri.cmp(&b.uri));
        self.resources = resources;
        self
    }

    /// The resource templates; sorted by name.
    pub fn with_resource_templates(mut self, mut templates: Vec<ResourceTemplate>) -> Self {
        for t in &mut templates {
            if let Some(a) = &mut t.annotations {
                a.last_modified = None;
            }
        }
        templates.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then(a.uri_template.cmp(&b.uri_template))
        });
        self.resource_templates = templates;
        self
    }

    /// The prompts; sorted by name.
    pub fn with_prompts(mut self, mut prompts: Vec<Prompt>) -> Self {
        prompts.sort_by(|a, b| a.name.cmp(&b.name));
        self.prompts = prompts;
        self
    }

    /// Reads a contract from JSON, saying what is wrong with a document that is not one.
    pub fn from_json(text: &str) -> Result<Self, ContractError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ContractError::NotJson(e.to_string()))?;
        match value.get("$contract").and_then(serde_json::Value::as_str) {
            Some(CONTRACT_FORMAT) => {}
            Some(other) => return Err(ContractError::Format(other.to_owned())),
            None => return Err(ContractError::NotAContract),
        }
        serde_json::from_value(value).map_err(|e| ContractError::Invalid(e.to_string()))
    }

    /// The contract as pretty JSON with a final newline, as `mcp contract dump` writes it.
    pub fn to_json_pretty(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a contract serializes");
        text.push('\n');
        text
    }
}

/// Why a document could not be read as a [`ServerContract`], or two could not be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContractError {
    /// The text is not JSON.
    NotJson(String),
    /// The JSON has no `"$contract"` marker: not a contract.
    NotAContract,
    /// The contract is in a format this crate does not read.
    Format(String),
    /// The contract's fields are not what the format says.
    Invalid(String),
    /// Two contracts taken at different protocol versions cannot be compared.
    VersionMismatch {
        /// The old contract's protocol version.
        old: String,
        /// The new contract's protocol version.
        new: String,
    },
}

impl fmt::Display for ContractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContractError::NotJson(e) => write!(f, "not JSON: {e}"),
            ContractError::NotAContract => {
                write!(
                    f,
                    "not an MCP contract: no \"$contract\": \"{CONTRACT_FORMAT}\" marker"
                )
            }
            ContractError::Format(v) => write!(
                f,
                "unsupported contract format `{v}` (this version reads `{CONTRACT_FORMAT}`)"
            ),
            ContractError::Invalid(e) => write!(f, "not a valid contract: {e}"),
            ContractError::VersionMismatch { old, new } => write!(
                f,
                "the contracts were taken at different protocol versions (`{old}` and `{new}`); dump both at the same version"
            ),
        }
    }
}

impl std::error::Error for ContractError {}
