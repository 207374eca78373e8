//! The notes server tested with the SDK's testing kit, in both eras.

use std::time::Duration;

use mcp_client::testing::{InProcess, Recorder, Seen, connect};
use mcp_client::{EraChoice, Error};
use mcp_downstream_example::{Clear, ImportReport, server};
use mcp_server::mcp_core::ProtocolVersion;
use mcp_server::mcp_core::contract::{ServerContract, assert_compatible};
use serde_json::json;

/// Every era this server is used in: the modern one and the legacy versions clients still speak.
fn eras() -> Vec<InProcess> {
    vec![
        InProcess::new(server()).era(EraChoice::Modern),
        InProcess::new(server()).protocol_version(ProtocolVersion::V2025_11_25),
        InProcess::new(server()).protocol_version(ProtocolVersion::V2025_06_18),
        InProcess::new(server()).protocol_version(ProtocolVersion::V2025_03_26),
    ]
}

#[tokio::test]
async fn import_reports_progress_in_every_era() {
    for connection in eras() {
        let recorder = Recorder::new();
        let client = connection
            .handler(recorder.clone())
            .connect()
            .await
            .unwrap();
        let version = client.session().version;
        let result = client
            .call_tool_with_progress("import", json!({"count": 3}), |_| {})
            .await
            .unwrap();
        assert_eq!(result.is_error, None, "{version}");
        let report: ImportReport = match version {
            // Structured output arrived with 2025-06-18; older clients read the text.
            ProtocolVersion::V2025_03_26 => {
                let text = serde_json::to_value(&result.content[0]).unwrap();
                serde_json::from_str(text["text"].as_str().unwrap()).unwrap()
            }
            _ => serde_json::from_value(result.structured_content.unwrap()).unwrap(),
        };
        assert_eq!(
            report,
            ImportReport {
                imported: 3,
                total: 3
            },
            "{version}"
        );
        let progress: Vec<f64> = recorder.progress().iter().map(|p| p.progress).collect();
        assert_eq!(progress, [1.0, 2.0, 3.0], "{version}");
        client.close().await;
    }
}

#[tokio::test]
async fn clear_asks_the_user_and_respects_the_answer() {
    for connection in eras() {
        // The user confirms once, then declines.
        let recorder = Recorder::new().accept(json!({"confirm": true})).decline();
        let client = connection
            .handler(recorder.clone())
            .connect()
            .await
            .unwrap();
        let version = client.session().version;
        client
            .call_tool("import", json!({"count": 2, "prefix": "todo"}))
            .await
            .unwrap();
        let cleared = client.call_tool("clear", json!({})).await.unwrap();
        let text = |r: &mcp_server::types::CallToolResult| {
            serde_json::to_value(&r.content[0]).unwrap()["text"].clone()
        };
        assert_eq!(text(&cleared), "deleted 2 notes", "{version}");
        let kept = client.call_tool("clear", json!({})).await.unwrap();
        assert_eq!(kept.is_error, Some(true), "{version}");
        assert_eq!(
            text(&kept),
            "nothing deleted: the user did not confirm",
            "{version}"
        );
        let asked = recorder.elicitations();
        assert_eq!(asked.len(), 2, "{version}");
        let first = serde_json::to_value(&asked[0]).unwrap();
        assert_eq!(first["message"], "Delete every note?", "{version}");
        assert_eq!(
            first["requestedSchema"]["required"],
            json!(["confirm"]),
            "{version}"
        );
        client.close().await;
    }
}

#[tokio::test]
async fn a_client_without_elicitation_gets_a_clear_error() {
    let client = connect(server()).await.unwrap();
    let e = client
        .call(Clear, mcp_downstream_example::ClearInput {})
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Server(ref o) if o.code == mcp_server::mcp_core::ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_recorder_waits_for_what_the_client_sees() {
    let recorder = Recorder::new();
    let client = InProcess::new(server())
        .protocol_version(ProtocolVersion::V2025_11_25)
        .handler(recorder.clone())
        .connect()
        .await
        .unwrap();
    let call = client.call_tool_with_progress("import", json!({"count": 1}), |_| {});
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        let (_, seen) = tokio::join!(call, recorder.wait_for(|s| matches!(s, Seen::Progress(_))));
        seen
    })
    .await
    .unwrap();
    let Seen::Progress(p) = seen else {
        unreachable!()
    };
    assert_eq!(p.message.as_deref(), Some("importing"));
}

#[tokio::test]
async fn the_contract_is_snapshotted_in_both_eras() {
    insta::assert_json_snapshot!(
        "contract_2026_07_28",
        connect(server()).await.unwrap().contract().await.unwrap()
    );
    let legacy = InProcess::new(server())
        .protocol_version(ProtocolVersion::V2025_06_18)
        .connect()
        .await
        .unwrap();
    let from_client = legacy.contract().await.unwrap();
    // The server's own view agrees with what a client sees (no policies here).
    assert_eq!(from_client, server().contract(ProtocolVersion::V2025_06_18));
    insta::assert_json_snapshot!("contract_2025_06_18", from_client);
}

#[test]
fn the_released_contract_still_holds() {
    // The contract of the last release, dumped with `mcp contract dump`; a change that breaks
    // its clients fails here before it ships.
    let released = ServerContract::from_json(include_str!("released-contract.json")).unwrap();
    assert_compatible(&released, &server().contract(ProtocolVersion::V2025_11_25));
}

#[tokio::test]
async fn a_strict_dialect_server_lists_strict_schemas_and_takes_nulls_for_optional_arguments() {
    use mcp_server::ServerOptions;
    use mcp_server::mcp_core::contract::{Dialect, lint};

    let strict = server().options(ServerOptions {
        tool_schema_dialect: Some(Dialect::Strict),
        ..Default::default()
    });
    let client = connect(strict).await.unwrap();
    let tools = client.list_tools().await.unwrap();
    assert_eq!(lint(&tools, Dialect::Strict), []);
    let import = tools.iter().find(|t| t.name == "import").unwrap();
    assert_eq!(import.input_schema["required"], json!(["count", "prefix"]));
    assert_eq!(
        import.input_schema["properties"]["prefix"]["type"],
        json!(["string", "null"])
    );
    // What a strict-mode model sends for the optional `prefix`: `null`, taken as absent.
    let result = client
        .call_tool("import", json!({"count": 1, "prefix": null}))
        .await
        .unwrap();
    assert_eq!(result.is_error, None);
    assert_eq!(
        result.structured_content.unwrap(),
        json!({"imported": 1, "total": 1})
    );
    // The server's contract shows what its clients see.
    let contract = server()
        .options(ServerOptions {
            tool_schema_dialect: Some(Dialect::Strict),
            ..Default::default()
        })
        .contract(ProtocolVersion::V2026_07_28);
    assert_eq!(lint(&contract.tools, Dialect::Strict), []);
}
