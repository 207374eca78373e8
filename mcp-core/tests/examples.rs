//! Every official example message of 2026-07-28 deserializes into our type named by its folder and
//! serializes back to an equal JSON value. A folder without a type here is a failure, not a skip.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mcp_core::{messages, types};
use serde_json::Value;

use crate::support::{json_eq, spec_dir};

type RoundTrip = fn(&Value) -> Result<Value, String>;

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(
    v: &Value,
) -> Result<Value, String> {
    let typed: T = serde_json::from_value(v.clone()).map_err(|e| format!("deserialize: {e}"))?;
    serde_json::to_value(&typed).map_err(|e| format!("serialize: {e}"))
}

macro_rules! vectors {
    ($($folder:literal => $($ty:ident)::+,)*) => {{
        let mut m: BTreeMap<&'static str, RoundTrip> = BTreeMap::new();
        $( m.insert($folder, round_trip::<$($ty)::+>); )*
        m
    }};
}

fn table() -> BTreeMap<&'static str, RoundTrip> {
    vectors! {
        "AudioContent" => types::AudioContent,
        "BlobResourceContents" => types::BlobResourceContents,
        "BooleanSchema" => types::BooleanSchema,
        "CallToolRequest" => messages::CallToolRequest,
        "CallToolRequestParams" => types::CallToolRequestParams,
        "CallToolResult" => types::CallToolResult,
        "CallToolResultResponse" => messages::CallToolResultResponse,
        "CancelledNotification" => messages::CancelledNotification,
        "CancelledNotificationParams" => types::CancelledNotificationParams,
        "ClientCapabilities" => types::ClientCapabilities,
        "CompleteRequest" => messages::CompleteRequest,
        "CompleteRequestParams" => types::CompleteRequestParams,
        "CompleteResult" => types::CompleteResult,
        "CompleteResultResponse" => messages::CompleteResultResponse,
        "CreateMessageRequest" => messages::CreateMessageRequest,
        "CreateMessageRequestParams" => types::CreateMessageRequestParams,
        "CreateMessageResult" => types::CreateMessageResult,
        "DiscoverRequest" => messages::DiscoverRequest,
        "DiscoverResult" => types::DiscoverResult,
        "DiscoverResultResponse" => messages::DiscoverResultResponse,
        "ElicitRequest" => messages::ElicitRequest,
        "ElicitRequestFormParams" => types::ElicitRequestFormParams,
        "ElicitRequestURLParams" => types::ElicitRequestUrlParams,
        "ElicitResult" => types::ElicitResult,
        "EmbeddedResource" => types::EmbeddedResource,
        "GetPromptRequest" => messages::GetPromptRequest,
        "GetPromptRequestParams" => types::GetPromptRequestParams,
        "GetPromptResult" => types::GetPromptResult,
        "GetPromptResultResponse" => messages::GetPromptResultResponse,
        "HeaderMismatchError" => messages::HeaderMismatchError,
        "ImageContent" => types::ImageContent,
        "InputRequests" => types::InputRequests,
        "InputRequiredResult" => types::InputRequiredResult,
        "InputResponses" => types::InputResponses,
        "InternalError" => messages::InternalError,
        "InvalidParamsError" => messages::InvalidParamsError,
        "ListPromptsRequest" => messages::ListPromptsRequest,
        "ListPromptsResult" => types::ListPromptsResult,
        "ListPromptsResultResponse" => messages::ListPromptsResultResponse,
        "ListResourceTemplatesRequest" => messages::ListResourceTemplatesRequest,
        "ListResourceTemplatesResult" => types::ListResourceTemplatesResult,
        "ListResourceTemplatesResultResponse" => messages::ListResourceTemplatesResultResponse,
        "ListResourcesRequest" => messages::ListResourcesRequest,
        "ListResourcesResult" => types::ListResourcesResult,
        "ListResourcesResultResponse" => messages::ListResourcesResultResponse,
        "ListRootsRequest" => messages::ListRootsRequest,
        "ListRootsResult" => types::ListRootsResult,
        "ListToolsRequest" => messages::ListToolsRequest,
        "ListToolsResult" => types::ListToolsResult,
        "ListToolsResultResponse" => messages::ListToolsResultResponse,
        "LoggingMessageNotification" => messages::LoggingMessageNotification,
        "LoggingMessageNotificationParams" => types::LoggingMessageNotificationParams,
        "MethodNotFoundError" => messages::MethodNotFoundError,
        "MissingRequiredClientCapabilityError" => messages::MissingRequiredClientCapabilityError,
        "ModelPreferences" => types::ModelPreferences,
        "NumberSchema" => types::NumberSchema,
        "PaginatedRequestParams" => types::PaginatedRequestParams,
        "ParseError" => messages::ParseError,
        "ProgressNotification" => messages::ProgressNotification,
        "ProgressNotificationParams" => types::ProgressNotificationParams,
        "PromptListChangedNotification" => messages::PromptListChangedNotification,
        "ReadResourceRequest" => messages::ReadResourceRequest,
        "ReadResourceResult" => types::ReadResourceResult,
        "ReadResourceResultResponse" => messages::ReadResourceResultResponse,
        "Resource" => types::Resource,
        "ResourceLink" => types::ResourceLink,
        "ResourceListChangedNotification" => messages::ResourceListChangedNotification,
        "ResourceUpdatedNotification" => messages::ResourceUpdatedNotification,
        "ResourceUpdatedNotificationParams" => types::ResourceUpdatedNotificationParams,
        "Root" => types::Root,
        "SamplingMessage" => types::SamplingMessage,
        "ServerCapabilities" => types::ServerCapabilities,
        "StringSchema" => types::StringSchema,
        "SubscriptionsAcknowledgedNotification" => messages::SubscriptionsAcknowledgedNotification,
        "SubscriptionsListenRequest" => messages::SubscriptionsListenRequest,
        "SubscriptionsListenResult" => types::SubscriptionsListenResult,
        "SubscriptionsListenResultResponse" => messages::SubscriptionsListenResultResponse,
        "TextContent" => types::TextContent,
        "TextResourceContents" => types::TextResourceContents,
        "TitledMultiSelectEnumSchema" => types::TitledMultiSelectEnumSchema,
        "TitledSingleSelectEnumSchema" => types::TitledSingleSelectEnumSchema,
        "Tool" => types::Tool,
        "ToolListChangedNotification" => messages::ToolListChangedNotification,
        "ToolResultContent" => types::ToolResultContent,
        "ToolUseContent" => types::ToolUseContent,
        "UnsupportedProtocolVersionError" => messages::UnsupportedProtocolVersionError,
        "UntitledMultiSelectEnumSchema" => types::UntitledMultiSelectEnumSchema,
        "UntitledSingleSelectEnumSchema" => types::UntitledSingleSelectEnumSchema,
    }
}

#[test]
fn every_official_example_round_trips() {
    let table = table();
    let dir: PathBuf = spec_dir().join("2026-07-28/examples");
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut folders: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    folders.sort();
    for folder in folders {
        let name = folder.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(round_trip) = table.get(name.as_str()) else {
            failures.push(format!("{name}: no Rust type is mapped to this folder"));
            continue;
        };
        let mut files: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let original: Value = serde_json::from_str(&text).unwrap();
            checked += 1;
            match round_trip(&original) {
                Ok(back) if json_eq(&original, &back) => {}
                Ok(back) => failures.push(format!(
                    "{name}/{}: round trip differs\n  original: {original}\n  back:     {back}",
                    file.file_name().unwrap().to_string_lossy()
                )),
                Err(e) => failures.push(format!(
                    "{name}/{}: {e}",
                    file.file_name().unwrap().to_string_lossy()
                )),
            }
        }
    }
    assert!(checked >= 100, "only {checked} example files found");
    assert!(
        failures.is_empty(),
        "{} of {checked} examples failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_table_names_only_existing_folders() {
    let dir = spec_dir().join("2026-07-28/examples");
    for name in table().keys() {
        assert!(
            dir.join(name).is_dir(),
            "{name} is mapped but has no folder"
        );
    }
}
