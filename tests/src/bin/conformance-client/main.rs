//! The client under test for the conformance suite's client mode (a minimal driver: the
//! suite gives the scenario in `MCP_CONFORMANCE_SCENARIO`, its context as JSON in
//! `MCP_CONFORMANCE_CONTEXT`, and the server URL as the last argument).

mod auth;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let Some(url) = std::env::args().skip(1).next_back() else {
        eprintln!("usage: conformance-client <server URL>");
        return ExitCode::from(2);
    };
    let context = match std::env::var("MCP_CONFORMANCE_CONTEXT") {
        Ok(c) if !c.trim().is_empty() => match serde_json::from_str(&c) {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("MCP_CONFORMANCE_CONTEXT is not JSON: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    if !scenario.starts_with("auth/") {
        eprintln!("this driver only runs auth/* scenarios, not `{scenario}`");
        return ExitCode::from(2);
    }
    match auth::run(&scenario, &url, context).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{scenario}: {e}");
            ExitCode::FAILURE
        }
    }
}
