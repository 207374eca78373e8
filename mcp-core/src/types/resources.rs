use serde::{Deserialize, Serialize};

use super::common::{Annotations, CacheScope, Cursor, Icon, ResultType};
use super::content::ResourceContents;
use super::mrtr::InputResponses;
use crate::meta::Meta;

/// A resource the server can read.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// Its URI.
    pub uri: String,
    /// Its programmatic name.
    pub name: String,
    /// A human-readable name (2025-06-18 on).
    pub title: Option<String>,
    /// What it is.
    pub description: Option<String>,
    /// Its MIME type.
    pub mime_type: Option<String>,
    /// Its size in bytes, if known.
    pub size: Option<u64>,
    /// Icons (2025-11-25 on).
    pub icons: Option<Vec<Icon>>,
    /// Hints for the client.
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta")]
    pub meta: Option<Meta>,
}

/// A family of resources named by an RFC 6570 URI template.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceTemplate {
    /// The URI template.
    pub uri_template: String,
    /// Its programmatic name.
    pub name: String,
    /// A human-readable name (2025-06-18 on).
    pub title: Option<String>,
    /// What the resources are.
    pub description: Option<String>,
    /// Their MIME type, if all share one.
    pub mime_type: Option<String>,
    /// Icons (2025-11-25 on).
    pub icons: Option<Vec<Icon>>,
    /// Hints for the client.
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta")]
    pub meta: Option<Meta>,
}

/// Result of `resources/list`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResourcesResult {
    /// The resources on this page.
    pub resources: Vec<Resource>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<Cursor>,
    /// How long the result may be cached, in milliseconds (modern era).
    pub ttl_ms: Option<u64>,
    /// Who may reuse it (modern era).
    pub cache_scope: Option<CacheScope>,
    /// `complete` (modern era).
    pub result_type: Option<ResultType>,
    /// Metadata.
    #[serde(rename = "_meta")]
    pub meta: Option<Meta>,
}

/// Result of `resources/templates/list`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResourceTemplatesResult {
    /// The templates on this page.
    pub resource_templates: Vec<ResourceTemplate>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<Cursor>,
    /// How long the result may be cached, in milliseconds (modern era).
    pub ttl_ms: Option<u64>,
    /// Who may reuse it (modern era).
    pub cache_scope: Option<CacheScope>,
    /// `complete` (modern era).
    pub result_type: Option<ResultType>,
    /// Metadata.
    #[serde(rename = "_meta")]
    pub meta: Option<Meta>,
}

/// Params of `resources/read`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadResourceRequestParams {
    /// The resource's URI.
    pub uri: String,
    /// Answers to the server's input requests, on a retry (modern era).
    pub input_responses: Option<InputResponses>,
    /// The server's opaque state, echoed on a retry (modern era).
    pub request_state: Option<String>,
    /// Metadata.
    #[serde(rename = "_meta")]
    pub meta: Option<Meta>,
}

/// Result of `resources/read`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadResourceResult {
    /// The contents (a template may yield several resources).
    pub contents: Vec<ResourceContents>,
    /// How long the result may be cached, in milliseconds (modern era).
    pub ttl_ms: Option<u64>,
    /// Who may reuse it (modern era).
    pub cache_scope: Option<CacheScope>,
    /// `complete` (modern era).
    pub result_type: Option<ResultType>,
    /// Metadata.
    #[serde(rename = "_meta")]
    pub meta: Option<Meta>,
}

/// Params of `resources/subscribe` and `resources/unsubscribe` (legacy era).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubscribeRequestParams {
    /// The resource's URI.
    pub uri: String,
    /// Metadata.
    #[serde(rename = "_meta")]
    pub meta: Option<Meta>,
}

/// Params of `resources/unsubscribe`.
pub type UnsubscribeRequestParams = SubscribeRequestParams;

/// Params of `notifications/resources/updated`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceUpdatedNotificationParams {
    /// The resource that changed.
    pub uri: String,
    /// Metadata (modern era: the subscription id).
    #[serde(rename = "_meta")]
    pub meta: Option<Meta>,
}
