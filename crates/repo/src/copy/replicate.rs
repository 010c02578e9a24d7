//! Replication: bring a second repository up to date with every snapshot of the
//! source ([`copy`] of all), then apply the replica's own retention, and measure how far
//! a replica is behind ([`lag`]).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::{CopyOptions, CopyReport, copy, original_of};
use crate::error::Result;
use crate::forget::{ForgetOptions, ForgetReport, forget};
use crate::id::Id;
use crate::repository::Repository;
use crate::retention::RetentionPolicy;
use crate::snapshot::Snapshot;
use crate::tools::group_of;

/// Options of [`replicate`].
#[derive(Clone, Debug, Default)]
pub struct ReplicateOptions {
    /// How the copy runs (its `snapshots` is ignored: every snapshot is copied).
    pub copy: CopyOptions,
    /// The replica's retention; `None` or an empty policy keeps everything.
    pub retention: Option<RetentionPolicy>,
}

/// How far a replica is behind its source.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Lag {
    /// Source snapshots the replica still needs (see [`missing`]).
    pub missing: usize,
    /// Time of the newest source snapshot.
    pub source_latest: Option<chrono::DateTime<chrono::Utc>>,
    /// Time of the newest source snapshot the replica does not need.
    pub replica_latest: Option<chrono::DateTime<chrono::Utc>>,
    /// Time of the oldest source snapshot the replica still needs.
    pub source_oldest_missing: Option<chrono::DateTime<chrono::Utc>>,
    /// [`Lag::seconds_at`] when the lag was measured.
    pub lag_seconds: i64,
}

impl Lag {
    /// The replication lag, the one meaning every report of holdfast gives it (the
    /// `copy --replicas` line and JSON, `/api/v1/status`, `holdfast_replica_lag_seconds`,
    /// the replica alert): how much recent history the replica lacks at `now` — the age
    /// of the newest source snapshot it holds when it lacks a newer one (the age of the
    /// source's oldest snapshot it lacks when it holds none); 0 when it lacks nothing.
    /// If the source were lost at `now`, this much of the most recent backups would be
    /// missing from the replica.
    pub fn seconds_at(&self, now: chrono::DateTime<chrono::Utc>) -> i64 {
        if self.missing == 0 {
            return 0;
        }
        match self.replica_latest.or(self.source_oldest_missing) {
            Some(t) => (now - t).num_seconds().max(0),
            None => 0,
        }
    }
}

/// What [`replicate`] did.
#[derive(Clone, Debug, Serialize)]
pub struct ReplicateReport {
    /// The copy.
    pub copy: CopyReport,
    /// The retention run, when the replica has a policy.
    pub forget: Option<ForgetReport>,
    /// The lag after the run.
    pub lag: Lag,
}

/// The source snapshots a replica still needs: those it holds no copy of and that are
/// newer than its newest copy of the same group (volume, else root path). Older ones
/// were copied before and may have been forgotten by the replica's retention on purpose.
pub async fn missing(source: &Repository, replica: &Repository) -> Result<Vec<(Id, Snapshot)>> {
    let src = source.snapshots().await?;
    let held: HashSet<Id> = replica
        .snapshots()
        .await?
        .iter()
        .map(|(id, s)| original_of(id, s))
        .collect();
    let mut newest: HashMap<String, chrono::DateTime<chrono::Utc>> = HashMap::new();
    for (id, s) in &src {
        if held.contains(&original_of(id, s)) {
            let e = newest.entry(group_of(s)).or_insert(s.time);
            *e = (*e).max(s.time);
        }
    }
    Ok(src
        .into_iter()
        .filter(|(id, s)| {
            !held.contains(&original_of(id, s))
                && newest.get(&group_of(s)).is_none_or(|t| s.time > *t)
        })
        .collect())
}

/// How far `replica` is behind `source` (see [`missing`]).
pub async fn lag(source: &Repository, replica: &Repository) -> Result<Lag> {
    let src = source.snapshots().await?;
    let need = missing(source, replica).await?;
    let source_latest = src.iter().map(|(_, s)| s.time).max();
    let lacking: HashSet<Id> = need.iter().map(|(id, _)| *id).collect();
    let replica_latest = src
        .iter()
        .filter(|(id, _)| !lacking.contains(id))
        .map(|(_, s)| s.time)
        .max();
    let mut lag = Lag {
        missing: need.len(),
        source_latest,
        replica_latest,
        source_oldest_missing: need.iter().map(|(_, s)| s.time).min(),
        lag_seconds: 0,
    };
    lag.lag_seconds = lag.seconds_at(chrono::Utc::now());
    Ok(lag)
}

/// Copies every snapshot of `source` that `replica` lacks, then applies the replica's
/// retention (under its exclusive lock), and reports the lag left.
///
/// Snapshots the replica's retention forgot are not copied again (see [`missing`]).
pub async fn replicate(
    source: &Repository,
    replica: &Repository,
    opts: &ReplicateOptions,
) -> Result<ReplicateReport> {
    let mut copy_opts = opts.copy.clone();
    copy_opts.snapshots = missing(source, replica)
        .await?
        .into_iter()
        .map(|(id, _)| id.to_hex())
        .collect();
    let copied = if copy_opts.snapshots.is_empty() {
        CopyReport::default()
    } else {
        copy(source, replica, &copy_opts).await?
    };
    let forget = match &opts.retention {
        Some(p) if !p.is_empty() && !copy_opts.dry_run => Some(
            forget(
                replica,
                &ForgetOptions {
                    policy: p.clone(),
                    lock: copy_opts.lock.clone(),
                    ..ForgetOptions::default()
                },
            )
            .await?,
        ),
        _ => None,
    };
    Ok(ReplicateReport {
        copy: copied,
        forget,
        lag: lag(source, replica).await?,
    })
}
