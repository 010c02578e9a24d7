//! `GET /healthz` (the process answers), `GET /readyz` (every volume is usable: 503 with
//! the reasons otherwise) and `GET /api/v1/status` (the `holdfast status --json` array,
//! backup freshness included, and with `[[replicas]]` each volume's `replicas` and their
//! alerts, which `/readyz` leaves out). They read the watch timer's last probes
//! ([`crate::protection::Watch::current`]), so a request writes no probe file unless the last
//! probe is older than two probe intervals.
//!
//! `/readyz` is about the volumes only: a failing or stale backup does not take the app
//! out of rotation, unless `[alerts] ready_requires_backup = true`, which makes every
//! backup alert a reason too.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use holdfast_volume::status::VolumeStatus;
use serde::Serialize;

use crate::http::AppState;
use crate::http::error::ApiResult;

/// `GET /healthz`: 200 `ok` while the process serves requests.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// One reason a volume is not ready.
#[derive(Debug, Serialize)]
pub struct Reason {
    /// The volume.
    pub volume: String,
    /// What is wrong (a `status` alert).
    pub reason: String,
}

/// The body of `/readyz`.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// True when every volume is mounted (if required), writable and under its alert
    /// threshold.
    pub ready: bool,
    /// Why not, one entry per alert.
    pub reasons: Vec<Reason>,
}

/// Readiness from probe results: every alert of every volume is a reason (its backup
/// alerts only when `with_backups`).
pub fn readiness(statuses: &[VolumeStatus], with_backups: bool) -> Readiness {
    let reasons: Vec<Reason> = statuses
        .iter()
        .flat_map(|s| {
            let alerts = if with_backups {
                &s.alerts[..]
            } else {
                s.volume_alerts()
            };
            alerts.iter().map(|a| Reason {
                volume: s.name.clone(),
                reason: a.clone(),
            })
        })
        .collect();
    Readiness {
        ready: reasons.is_empty(),
        reasons,
    }
}

/// `GET /readyz`: 200 when ready, 503 with the reasons otherwise.
///
/// Without `[alerts] ready_requires_backup` the answer needs only the volume probes,
/// which the server takes before it listens, so it does not wait for the timer's first
/// round (which also reads the repository, and may take long when it is unreachable).
pub async fn readyz(State(state): State<Arc<AppState>>) -> ApiResult<Response> {
    let with_backups = state.config.alerts.ready_requires_backup;
    let statuses = state.watch.current(&state.metrics, with_backups).await;
    let body = readiness(&statuses, with_backups);
    let status = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, Json(body)).into_response())
}

/// `GET /api/v1/status`: the same array as `holdfast status --json`, from the timer's
/// last probes (the first request after start waits for the timer's first round), with
/// each volume's replicas.
pub async fn status(State(state): State<Arc<AppState>>) -> Json<Vec<VolumeStatus>> {
    let mut statuses = state.watch.current(&state.metrics, true).await;
    state.replication.apply(&mut statuses);
    state.pitr.apply(&mut statuses);
    Json(statuses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdfast_volume::config::Config;

    #[test]
    fn every_alert_is_a_reason() {
        let config: Config = "[[volumes]]\nname = \"gone\"\npath = \"/nonexistent/holdfast/x\"\n"
            .parse()
            .expect("valid config");
        let statuses = holdfast_volume::status::probe_all(&config);
        let r = readiness(&statuses, false);
        assert!(!r.ready);
        assert!(r.reasons.iter().all(|x| x.volume == "gone"));
        assert!(readiness(&[], true).ready);
    }
}
