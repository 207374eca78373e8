//! An approver for `mcp-gateway`'s `[approval] webhook` (or `mcp_server`'s `WebhookApprover`):
//! each call that needs a human's approval is posted here, its summary is shown on this
//! program's terminal, and the operator answers `y` or `n`. Calls wait in turn; one the operator
//! leaves unanswered is denied by the gateway's own timeout.
//!
//! ```text
//! approval-webhook [--port 8686] [--token TOKEN] [--auto approve|deny]
//! ```
//!
//! With `--token`, a request must carry `Authorization: Bearer TOKEN` (the gateway's
//! `[approval] headers`); `--auto` answers every call without asking (for demonstrations and
//! tests). Serve it on loopback beside the gateway, or behind TLS: the gateway refuses a plain
//! `http://` webhook anywhere else. A real deployment would post the summary to a chat channel
//! or a ticket and answer when someone decides; the contract is the same:
//!
//! ```text
//! POST /approve   {"request": {"tool": ..., "argumentsHash": ..., "principal": ..., ...}, "summary": "..."}
//! 200             {"approved": true} | {"approved": false, "reason": "..."}
//! ```
//!
//! With the gateway (`examples/gateway/approval.toml` has the whole configuration):
//!
//! ```toml
//! [[rules]]
//! tools = ["*"]
//! approval = "out_of_band"      # only this approver, never the calling client
//!
//! [approval]
//! webhook = "http://127.0.0.1:8686/approve"
//! headers = { Authorization = "Bearer ${APPROVAL_TOKEN}" }
//! timeout_secs = 120
//! ```

use std::io::{BufRead, Write};
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// What the approver decides with.
#[derive(Clone)]
struct Approver {
    /// The bearer token a request must carry, if any.
    token: Option<String>,
    /// Answer every call this way without asking.
    auto: Option<bool>,
    /// One question on the terminal at a time.
    terminal: Arc<Mutex<()>>,
}

/// The body the gateway posts.
#[derive(Deserialize)]
struct Asked {
    request: Value,
    summary: String,
}

async fn approve(
    State(approver): State<Approver>,
    headers: HeaderMap,
    Json(asked): Json<Asked>,
) -> Result<Json<Value>, StatusCode> {
    if let Some(token) = &approver.token {
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return Err(StatusCode::UNAUTHORIZED);
        }
    }
    let who = asked.request["principal"].as_str().unwrap_or("anonymous");
    if let Some(approved) = approver.auto {
        eprintln!(
            "{} for {who}: {}",
            if approved { "approved" } else { "denied" },
            asked.summary
        );
        return Ok(Json(answer(approved, "denied by --auto deny")));
    }
    let _turn = approver.terminal.lock().await;
    let summary = asked.summary.clone();
    let who = who.to_owned();
    let approved = tokio::task::spawn_blocking(move || {
        eprint!("\n{who} asks: {summary}\napprove? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        matches!(line.trim(), "y" | "Y" | "yes")
    })
    .await
    .unwrap_or(false);
    Ok(Json(answer(approved, "denied by the operator")))
}

fn answer(approved: bool, reason: &str) -> Value {
    if approved {
        json!({"approved": true})
    } else {
        json!({"approved": false, "reason": reason})
    }
}

fn router(approver: Approver) -> axum::Router {
    axum::Router::new()
        .route("/approve", post(approve))
        .with_state(approver)
}

/// An approver for `mcp-gateway`'s `[approval] webhook`: the operator answers on this terminal.
#[derive(clap::Parser)]
struct Cli {
    /// The port on 127.0.0.1.
    #[arg(long, default_value_t = 8686)]
    port: u16,
    /// The bearer token a request must carry (the gateway's `[approval] headers`).
    #[arg(long)]
    token: Option<String>,
    /// Answer every call this way without asking.
    #[arg(long, value_parser = ["approve", "deny"])]
    auto: Option<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = <Cli as clap::Parser>::parse();
    let approver = Approver {
        token: cli.token,
        auto: cli.auto.map(|a| a == "approve"),
        terminal: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", cli.port)).await?;
    eprintln!("approvals at http://{}/approve", listener.local_addr()?);
    axum::serve(listener, router(approver)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn serve(approver: Approver) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/approve", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(approver)).await });
        url
    }

    fn asked() -> Value {
        json!({"request": {"tool": "calc__add", "principal": "alice"}, "summary": "add 1 and 2"})
    }

    #[tokio::test]
    async fn it_answers_with_the_contract_and_checks_the_token() {
        let client = reqwest::Client::new();
        for (auto, approved) in [("approve", true), ("deny", false)] {
            let url = serve(Approver {
                token: Some("t0k3n".into()),
                auto: Some(auto == "approve"),
                terminal: Arc::default(),
            })
            .await;
            let r = client
                .post(&url)
                .bearer_auth("t0k3n")
                .json(&asked())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["approved"], approved, "{body}");
            if !approved {
                assert_eq!(body["reason"], "denied by --auto deny");
            }
            let r = client
                .post(&url)
                .bearer_auth("wrong")
                .json(&asked())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401);
        }
    }
}
