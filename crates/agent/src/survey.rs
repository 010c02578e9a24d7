//! The repository survey: every snapshot (the `snapshots --json` array), each volume's
//! newest snapshot and the repository's size, read into the metrics at start, on a
//! timer and after each backup.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use holdfast_repo::Repository;
use holdfast_store::ListOptions;

use crate::access::RepoAccess;
use crate::metrics::{Metrics, PATH_LABEL};

/// One snapshot as `holdfast snapshots --json` and `GET /api/v1/snapshots` show it.
pub type SnapshotEntry = holdfast_repo::SnapshotSummary;

/// Every snapshot, oldest first; also refreshes the snapshot metrics.
pub async fn list(access: &RepoAccess, metrics: &Metrics) -> crate::Result<Vec<SnapshotEntry>> {
    let repo = access.open().await?;
    let entries = entries(&repo).await?;
    record_survey(&repo, &entries, metrics).await;
    Ok(entries)
}

async fn entries(repo: &Repository) -> crate::Result<Vec<SnapshotEntry>> {
    let mut entries: Vec<SnapshotEntry> = repo
        .snapshots()
        .await?
        .into_iter()
        .map(|(id, s)| s.summary(id))
        .collect();
    entries.sort_by_key(|e| e.time);
    Ok(entries)
}

/// Reads the snapshot counts, each volume's newest snapshot and the repository size
/// into the metrics (the start-up survey, the timer and the end of each backup).
pub async fn survey(repo: &Repository, metrics: &Metrics) -> crate::Result<()> {
    let entries = entries(repo).await?;
    record_survey(repo, &entries, metrics).await;
    Ok(())
}

async fn record_survey(repo: &Repository, entries: &[SnapshotEntry], metrics: &Metrics) {
    let mut counts = BTreeMap::new();
    let mut newest = BTreeMap::new();
    for e in entries {
        match &e.volume {
            Some(v) => {
                *counts.entry(v.clone()).or_insert(0u64) += 1;
                newest.insert(v.clone(), e.time);
            }
            None => *counts.entry(PATH_LABEL.to_string()).or_insert(0u64) += 1,
        }
    }
    metrics.set_snapshots(counts, newest);
    let opts = ListOptions {
        recursive: true,
        filter: None,
    };
    let size = repo
        .store()
        .list("", opts)
        .try_fold(0u64, |acc, m| async move { Ok(acc + m.size) });
    match size.await {
        Ok(bytes) => metrics.set_repository_size(bytes),
        Err(e) => tracing::warn!("measuring the repository: {e}"),
    }
}
