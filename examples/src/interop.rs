//! What the interop clients (`interop-client`, `interop-gateway-client`) share: an elicitation
//! handler that confirms, and the checks' report.

use mcp_client::types::{ElicitAction, ElicitRequestParams, ElicitResult};
use mcp_client::{ClientHandler, EraChoice, HandlerCapabilities};
use mcp_core::ErrorObject;
use serde_json::json;

/// Accepts every elicitation with `{"confirm": true}` (what the example servers' `confirm`
/// asks), and declares form elicitation.
pub struct Confirmer;

impl ClientHandler for Confirmer {
    fn capabilities(&self) -> HandlerCapabilities {
        HandlerCapabilities {
            elicitation_form: true,
            ..Default::default()
        }
    }
    async fn elicit(&self, _params: ElicitRequestParams) -> Result<ElicitResult, ErrorObject> {
        Ok(ElicitResult {
            action: ElicitAction::Accept,
            content: Some(serde_json::from_value(json!({"confirm": true})).expect("an object")),
            meta: None,
        })
    }
}

/// The era an `--era` option names (`legacy`, `modern`; anything else: `auto`).
pub fn era(name: Option<&str>) -> EraChoice {
    match name {
        Some("legacy") => EraChoice::Legacy,
        Some("modern") => EraChoice::Modern,
        _ => EraChoice::Auto,
    }
}

/// One check's outcome: what went wrong, if anything.
pub type Check = Result<(), String>;

/// `Ok` when `ok`, else what `what` says.
pub fn ensure(ok: bool, what: impl FnOnce() -> String) -> Check {
    if ok { Ok(()) } else { Err(what()) }
}

/// Prints a line per check (`ok   <label>: <name>` or `FAIL ...`) and `<who>: N passed, M
/// failed`, then exits: 1 when a check failed.
pub fn finish(who: &str, label: &str, results: &[(String, Check)]) -> ! {
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    for (name, r) in results {
        match r {
            Ok(()) => println!("ok   {label}: {name}"),
            Err(e) => println!("FAIL {label}: {name}: {e}"),
        }
    }
    println!("{who}: {} passed, {failed} failed", results.len() - failed);
    std::process::exit(i32::from(failed > 0));
}
