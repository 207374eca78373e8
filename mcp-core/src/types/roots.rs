use serde::{Deserialize, Serialize};

use crate::meta::Meta;

/// A root: a directory or file the server may work in.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Root {
    /// Its URI (`file://` for now).
    pub uri: String,
    /// A name for it.
    pub name: Option<String>,
    /// Metadata.
    #[serde(rename = "_meta")]
    pub meta: Option<Meta>,
}

/// Result of `roots/list`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListRootsResult {
    /// The roots.
    pub roots: Vec<Root>,
    /// Metadata.
    #[serde(rename = "_meta")]
    pub meta: Option<Meta>,
}
