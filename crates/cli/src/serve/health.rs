//! `GET /healthz` (the process answers), `GET /readyz` (every volume is usable: 503 with
//! the reasons otherwise) and `GET /api/v1/status` (the `holdfast status --json` array,
//! backup freshness included, and with `[[replicas]]` each volume's `replicas` and their
//! alerts, which `/readyz` leaves out). Probes do blocking filesystem I/O, so they run on the
//! blocking pool.
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

use super::error::ApiResult;
use super::server::AppState;

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
pub async fn readyz(State(state): State<Arc<AppState>>) -> ApiResult<Response> {
    let statuses = probe(&state).await?;
    let body = readiness(&statuses, state.config.alerts.ready_requires_backup);
    let status = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, Json(body)).into_response())
}

/// `GET /api/v1/status`: the same array as `holdfast status --json`.
pub async fn status(State(state): State<Arc<AppState>>) -> ApiResult<Json<Vec<VolumeStatus>>> {
    let mut statuses = probe(&state).await?;
    state.replication.apply(&mut statuses);
    Ok(Json(statuses))
}

/// Probes every configured volume on the blocking pool and adds its backup state.
pub async fn probe(state: &AppState) -> ApiResult<Vec<VolumeStatus>> {
    let config = state.config.clone();
    let mut statuses =
        tokio::task::spawn_blocking(move || holdfast_volume::status::probe_all(&config)).await?;
    state.watch.apply(&mut statuses, &state.metrics);
    Ok(statuses)
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
