//! What an operator's probes and dashboards read: `GET /healthz` and `GET /readyz` beside the
//! HTTP front's endpoint ([`routes`]), and the gauge `mcp_gateway_upstream_up` per upstream
//! ([`record_up`]), exported with the other metrics by `mcp-gateway --metrics ADDR`.
//!
//! Probes answer whoever can reach the front, without authentication: they say only each
//! upstream's state (`starting`, `ready`, `restarting`, `failed`), never why an upstream
//! failed (that goes to the log and the audit trail).

use std::collections::BTreeMap;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use mcp_client::host::{Health, Host};

/// The gauge: 1 while the upstream is ready, 0 otherwise.
pub const UPSTREAM_UP: &str = "mcp_gateway_upstream_up";

/// One word per state.
pub fn state(health: &Health) -> &'static str {
    match health {
        Health::Starting => "starting",
        Health::Ready => "ready",
        Health::Restarting => "restarting",
        Health::Failed { .. } => "failed",
    }
}

/// Whether the gateway should get traffic: every upstream has finished its first attempt,
/// and at least one is ready (or none is configured).
///
/// One failed upstream of several does not make the gateway unready: the others still
/// serve, and a load balancer that took every replica out for it (they all see the same
/// upstream) would stop those too. Alert on [`UPSTREAM_UP`] instead.
pub fn ready(health: &[(String, Health)]) -> bool {
    !health.iter().any(|(_, h)| *h == Health::Starting)
        && (health.is_empty() || health.iter().any(|(_, h)| *h == Health::Ready))
}

/// Sets [`UPSTREAM_UP`] for `upstream`.
pub fn record_up(upstream: &str, health: &Health) {
    let up = if *health == Health::Ready { 1.0 } else { 0.0 };
    metrics::gauge!(UPSTREAM_UP, "upstream" => upstream.to_owned()).set(up);
}

/// `GET /healthz`: 200 `ok` while the process serves. `GET /readyz`: 200 when [`ready`], 503
/// otherwise, with each upstream's state as JSON: `{"ready":true,"upstreams":{"calc":"ready"}}`.
pub fn routes(host: Host) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let health = host.health();
                async move {
                    let ready = ready(&health);
                    let upstreams: BTreeMap<&str, &str> = health
                        .iter()
                        .map(|(name, h)| (name.as_str(), state(h)))
                        .collect();
                    let body = serde_json::json!({ "ready": ready, "upstreams": upstreams });
                    let status = if ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    (
                        status,
                        [(header::CACHE_CONTROL, "no-store")],
                        axum::Json(body),
                    )
                        .into_response()
                }
            }),
        )
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn failed() -> Health {
        Health::Failed {
            reason: "exited".into(),
            since: SystemTime::now(),
        }
    }

    #[test]
    fn ready_once_started_with_one_upstream_serving() {
        let up = |states: &[Health]| {
            let health: Vec<(String, Health)> = states
                .iter()
                .enumerate()
                .map(|(i, h)| (format!("u{i}"), h.clone()))
                .collect();
            ready(&health)
        };
        assert!(up(&[]));
        assert!(up(&[Health::Ready]));
        assert!(up(&[Health::Ready, failed()]));
        assert!(up(&[Health::Restarting, Health::Ready]));
        assert!(!up(&[Health::Starting, Health::Ready]));
        assert!(!up(&[failed()]));
        assert!(!up(&[failed(), Health::Restarting]));
    }
}
