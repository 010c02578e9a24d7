//! The one assembler of a volume's status ([`VolumeStatus`]): `holdfast status` (table
//! and `--json`), `/api/v1/status`, `/readyz` and the status page all read what
//! [`assemble`] builds, so they cannot disagree about a volume.
//!
//! A status is: the volume's probe ([`holdfast_volume::status::probe_all`]: mounted,
//! writable, space, databases, an interrupted restore), then its backups — the
//! volume's own record of its last backup, failed or not, merged with the newest
//! snapshot of the volume in the repository — judged against `backup_max_age`, with
//! whatever stops backups (a [`Blocker`]) added to the alerts, and, under the agent,
//! the replicas' state and alerts ([`crate::replication::Replication::apply`]).
//!
//! The agent keeps the records in its metrics (loaded from each volume at start and
//! updated by every backup); [`status_once`] is the same assembly for a command that
//! runs once: the records from the volumes, the newest snapshots read from the
//! repository.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use holdfast_volume::config::Config;
use holdfast_volume::freshness::{self, BackupRecord, Blocker, one_line};
use holdfast_volume::status::{ReplicatedDatabase, VolumeStatus};

use crate::access::RepoAccess;

/// Adds each volume's backup state to its probe: the record `record_of` gives for it,
/// judged against `backup_max_age` at `now`, and `blocker` (why backups cannot run or
/// cannot be checked) as an alert.
pub fn assemble(
    config: &Config,
    statuses: &mut [VolumeStatus],
    record_of: impl Fn(&str) -> BackupRecord,
    blocker: Option<&Blocker>,
    now: DateTime<Utc>,
) {
    let max_age = freshness::max_age(config, now);
    for s in statuses {
        let record = record_of(&s.name);
        s.apply_backup(&record, blocker, max_age, now);
    }
}

/// The status of every volume of `config` as a command that runs once sees it (`holdfast
/// status`): probed now, each volume's record merged with its newest snapshot in the
/// repository, or "backups cannot be checked" when the repository cannot be read.
pub async fn status_once(config: &Config, access: &RepoAccess) -> Vec<VolumeStatus> {
    let probe_config = config.clone();
    let mut statuses = match tokio::task::spawn_blocking(move || {
        holdfast_volume::status::probe_all(&probe_config)
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("volume probe failed: {e}");
            Vec::new()
        }
    };
    let read = read_repository(access).await;
    let (newest, points) = match read {
        Ok((n, p)) => (Ok(n), p),
        Err(e) => (
            Err(Blocker::CannotCheck(one_line(&crate::error::chain(&e)))),
            Vec::new(),
        ),
    };
    let record_of = |name: &str| {
        let mut record = volume_record(config, name);
        if let Ok(n) = &newest {
            record.merge_success(n.get(name).copied());
        }
        record
    };
    assemble(
        config,
        &mut statuses,
        record_of,
        newest.as_ref().err(),
        Utc::now(),
    );
    let now = Utc::now();
    for s in &mut statuses {
        let Some(volume) = config.volume(&s.name) else {
            continue;
        };
        for db in volume.databases.iter().filter(|d| d.replicate().is_some()) {
            let Some(key) = db.sqlite_path().map(|p| p.to_string_lossy().into_owned()) else {
                continue;
            };
            let newest = points
                .iter()
                .filter(|(v, d, _)| *d == key && v.as_deref().is_none_or(|v| v == volume.name))
                .map(|(_, _, t)| *t)
                .max();
            s.databases.push(ReplicatedDatabase {
                database: key,
                newest_point: newest.map(holdfast_volume::freshness::rfc3339),
                lag_seconds: newest.map(|t| (now - t).num_seconds().max(0)),
                ..ReplicatedDatabase::default()
            });
        }
    }
    statuses
}

/// The record volume `name` keeps of its last backups (empty when it has none or the
/// volume is not configured).
pub fn volume_record(config: &Config, name: &str) -> BackupRecord {
    config
        .volume(name)
        .map(|v| BackupRecord::load(&v.path))
        .unwrap_or_default()
}

/// A replicated database's newest restorable point: its volume (when the head names
/// one), its key, the time.
type Point = (Option<String>, String, DateTime<Utc>);

/// The time of each volume's newest snapshot, and each replicated database's newest
/// restorable point.
async fn read_repository(
    access: &RepoAccess,
) -> crate::Result<(BTreeMap<String, DateTime<Utc>>, Vec<Point>)> {
    let repo = access.open().await?;
    let mut out = BTreeMap::new();
    for (_, snap) in repo.snapshots().await? {
        if let Some(v) = snap.volume {
            let t = out.entry(v).or_insert(snap.time);
            *t = (*t).max(snap.time);
        }
    }
    let points = holdfast_repo::wal::lineages(&repo)
        .await?
        .into_iter()
        .filter_map(|l| {
            let time = l.last_time()?;
            let (_, head) = l.head?;
            Some((head.volume, head.database, time))
        })
        .collect();
    Ok((out, points))
}
