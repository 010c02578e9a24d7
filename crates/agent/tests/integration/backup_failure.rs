//! What happens when a scheduled backup fails (crates/agent/src/backup.rs): the job
//! fails with the cause, the failure is counted in the metrics, recorded on the volume
//! (so a restart still shows it), and `/api/v1/status` and `holdfast status` — one
//! assembler — both show it as an alert beside the age of the last good backup.

use holdfast_agent::protection::status::status_once;
use holdfast_agent::schedule::jobs::{JobContext, build};

use super::util::Project;

fn context(p: &Project) -> JobContext {
    JobContext {
        config: p.state.config.clone(),
        repo: p.state.repo.clone(),
        sinks: p.state.backup_sinks(),
        backup_lock: p.state.backup_lock.clone(),
    }
}

async fn run_backup_job(p: &Project) -> Result<String, String> {
    let jobs = build(&context(p)).expect("jobs");
    let job = jobs
        .iter()
        .find(|j| j.name == "backup")
        .expect("backup job");
    (job.run)().await.map_err(|e| format!("{e:#}"))
}

#[tokio::test]
async fn a_scheduled_backup_that_fails_is_counted_recorded_and_alerted_once() {
    let p = Project::new(false).await;
    let err = run_backup_job(&p).await.expect_err("no repository yet");
    assert!(err.contains("holdfast init"), "{err}");
    let metrics = p.state.metrics.render(&[]);
    assert!(
        metrics.contains("holdfast_backup_failures_total{volume=\"data\"} 1"),
        "{metrics}"
    );
    let record = holdfast_volume::freshness::BackupRecord::load(&p.vol());
    assert!(
        record.last_failure.is_some(),
        "recorded on the volume: {record:?}"
    );
    let served = p.state.watch.current(&p.state.metrics, false).await;
    let once = status_once(&p.state.config, &p.state.repo).await;
    for statuses in [&served, &once] {
        assert!(!statuses[0].is_healthy(), "{statuses:?}");
        assert!(statuses[0].last_backup_error.is_some(), "{statuses:?}");
    }
}

#[tokio::test]
async fn a_scheduled_backup_that_succeeds_clears_the_alert() {
    let p = Project::new(true).await;
    let summary = run_backup_job(&p).await.expect("backup");
    assert!(summary.contains("1 snapshot"), "{summary}");
    let served = p.state.watch.current(&p.state.metrics, false).await;
    let once = status_once(&p.state.config, &p.state.repo).await;
    assert_eq!(served[0].last_backup_error, None);
    assert_eq!(once[0].last_backup_error, None);
    assert!(served[0].last_backup.is_some() && once[0].last_backup.is_some());
}

/// Drift: `/api/v1/status` read the backup state from the agent's metrics, which never
/// held a shrunk snapshot, so `holdfast status` showed the alert and the API did not.
/// Now both read the volume's record through the one assembler.
#[tokio::test]
async fn a_shrunk_snapshot_is_the_same_alert_in_both_status_views() {
    let p = Project::new(true).await;
    run_backup_job(&p).await.expect("first backup");
    std::fs::remove_file(p.vol().join("notes.txt")).expect("rm");
    std::fs::remove_dir_all(p.vol().join("docs")).expect("rm");
    let _ = run_backup_job(&p).await;
    let served = p.state.watch.current(&p.state.metrics, false).await;
    let once = status_once(&p.state.config, &p.state.repo).await;
    assert!(
        once[0].alerts.iter().any(|a| a.contains("shrunk")),
        "{:?}",
        once[0].alerts
    );
    assert_eq!(served[0].alerts, once[0].alerts);
}
