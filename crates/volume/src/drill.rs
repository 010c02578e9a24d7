//! Restore drills (`verify --restore-test`, seed 001's monthly drill): restore a snapshot
//! into a temporary directory, check every entry against the snapshot (type, size,
//! symlink target), run `PRAGMA integrity_check` on every SQLite database and
//! `pg_restore --list` on every Postgres dump, measure how long it took — the recovery
//! time actually achieved — and clean up. A replicated SQLite database is also restored
//! at its newest point ([`point_tests`]), checked, and measured against the live
//! database: how far behind it a restore would be now.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use holdfast_repo::tree::NodeType;
use holdfast_repo::{Id, IndexedRepository, LsOptions, RestoreOptions, Snapshot};

use crate::databases::{postgres, sqlite};

/// The outcome of one drill.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DrillReport {
    /// The snapshot restored.
    pub snapshot: String,
    /// Its volume, when it is a volume's.
    pub volume: Option<String>,
    /// Entries checked.
    pub entries: u64,
    /// Bytes restored.
    pub bytes: u64,
    /// SQLite databases that passed `integrity_check`.
    pub sqlite_checked: u64,
    /// Postgres dumps that `pg_restore --list` read.
    pub dumps_checked: u64,
    /// Seconds from start to a checked restore: the measured recovery time.
    pub duration_s: f64,
    /// Everything that did not match; empty when the drill passed.
    pub problems: Vec<String>,
}

/// Restores `snapshot` into a fresh temporary directory (under `scratch`, or the system
/// temp dir), checks it, and removes it.
pub async fn restore_test(
    repo: &IndexedRepository,
    id: Id,
    snapshot: &Snapshot,
    scratch: Option<&std::path::Path>,
) -> Result<DrillReport, holdfast_repo::Error> {
    let started = Instant::now();
    let builder = tempfile::Builder::new()
        .prefix("holdfast-drill-")
        .tempdir_in(scratch.map_or_else(std::env::temp_dir, PathBuf::from));
    let dir = builder.map_err(|e| holdfast_repo::Error::io("temporary directory", e))?;
    let opts = RestoreOptions {
        target: dir.path().to_path_buf(),
        include: Vec::new(),
        ..Default::default()
    };
    let summary = holdfast_repo::restore(repo, snapshot, &opts).await?;
    let mut report = DrillReport {
        snapshot: id.to_hex(),
        volume: snapshot.volume.clone(),
        entries: 0,
        bytes: summary.bytes,
        sqlite_checked: 0,
        dumps_checked: 0,
        duration_s: 0.0,
        problems: summary
            .damaged
            .iter()
            .map(|d| format!("{}: damaged: {}", d.path, d.error))
            .collect(),
    };
    let entries = holdfast_repo::ls(repo, snapshot, &LsOptions::default()).await?;
    let root = dir.path().to_path_buf();
    let checked = tokio::task::spawn_blocking(move || check_entries(&root, entries))
        .await
        .map_err(|e| holdfast_repo::Error::Invalid(format!("restore drill: {e}")))?;
    report.entries = checked.entries;
    report.sqlite_checked = checked.sqlite;
    report.dumps_checked = checked.dumps;
    report.problems.extend(checked.problems);
    report.duration_s = started.elapsed().as_secs_f64();
    drop(dir);
    Ok(report)
}

#[derive(Default)]
struct Checked {
    entries: u64,
    sqlite: u64,
    dumps: u64,
    problems: Vec<String>,
}

fn check_entries(root: &std::path::Path, entries: Vec<holdfast_repo::Entry>) -> Checked {
    let mut out = Checked::default();
    for e in entries {
        out.entries += 1;
        let path = root.join(&e.path);
        let shown = e.path.display();
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(err) => {
                out.problems.push(format!("{shown}: not restored: {err}"));
                continue;
            }
        };
        match e.node.kind {
            NodeType::File if !meta.is_file() => out.problems.push(format!("{shown}: not a file")),
            NodeType::File if meta.size() != e.node.size => out.problems.push(format!(
                "{shown}: {} bytes, the snapshot says {}",
                meta.size(),
                e.node.size
            )),
            NodeType::File => {
                let name = shown.to_string();
                if name.ends_with(".pgdump") {
                    match postgres::list_dump(&path) {
                        Ok(_) => out.dumps += 1,
                        Err(err) => out.problems.push(format!("{shown}: {err}")),
                    }
                } else if matches!(crate::sqlite::journal_mode(&path), Ok(Some(_))) {
                    match sqlite::integrity_check(&path) {
                        Ok(p) if p.is_empty() => out.sqlite += 1,
                        Ok(p) => out
                            .problems
                            .push(format!("{shown}: integrity_check: {}", p.join("; "))),
                        Err(err) => out.problems.push(format!("{shown}: {err}")),
                    }
                }
            }
            NodeType::Dir if !meta.is_dir() => {
                out.problems.push(format!("{shown}: not a directory"))
            }
            NodeType::Symlink if !meta.file_type().is_symlink() => {
                out.problems.push(format!("{shown}: not a symlink"))
            }
            _ => {}
        }
    }
    out
}

/// The snapshots a restore drill covers: the latest of each configured volume, or, with
/// no volumes configured, the latest of each root.
pub async fn targets(
    repo: &IndexedRepository,
    config: Option<&crate::config::Config>,
) -> Result<Vec<(Id, Snapshot)>, holdfast_repo::Error> {
    let mut latest: std::collections::BTreeMap<String, (Id, Snapshot)> = Default::default();
    for (id, s) in repo.snapshots().await? {
        if let Some(c) = config
            && !c.volumes.is_empty()
            && !c.volumes.iter().any(|v| Some(&v.name) == s.volume.as_ref())
        {
            continue;
        }
        let key = s.volume.clone().unwrap_or_else(|| s.root.clone());
        match latest.get(&key) {
            Some((_, cur)) if cur.time >= s.time => {}
            _ => {
                latest.insert(key, (id, s));
            }
        }
    }
    Ok(latest.into_values().collect())
}

/// A human summary of a drill's duration.
pub fn describe(d: &DrillReport) -> String {
    let took = Duration::from_secs_f64(d.duration_s);
    format!(
        "restore test of {} ({}): {} entries, {} bytes, {} SQLite and {} Postgres checked in {:.1}s: {}",
        &d.snapshot[..d.snapshot.len().min(8)],
        d.volume.as_deref().unwrap_or("path"),
        d.entries,
        d.bytes,
        d.sqlite_checked,
        d.dumps_checked,
        took.as_secs_f64(),
        if d.problems.is_empty() {
            "ok".to_string()
        } else {
            format!("{} PROBLEMS", d.problems.len())
        }
    )
}

/// The outcome of a point drill: a replicated SQLite database restored at its newest
/// point into a temporary directory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PointDrill {
    /// The volume holding the database.
    pub volume: String,
    /// The database's name.
    pub database: String,
    /// The point reached: the time of the last transaction replayed.
    pub reached: Option<chrono::DateTime<chrono::Utc>>,
    /// Seconds between that point and the live database's last write (the newer of its
    /// file's and its WAL's modification times); `None` without a live database.
    pub behind_s: Option<f64>,
    /// Segments replayed.
    pub segments: usize,
    /// Seconds from start to a checked database.
    pub duration_s: f64,
    /// What went wrong; empty when the drill passed.
    pub problems: Vec<String>,
}

/// Restores each replicated SQLite database of `config` at its newest point into a fresh
/// temporary directory (under `scratch`, or the system temp dir), where it passes
/// `integrity_check` before it counts ([`crate::restore::point`]), and says how far
/// behind the live database that point is. A database with no restorable point is a
/// problem: it is configured to be replicated and nothing of it can be restored.
pub async fn point_tests(
    repo: &holdfast_repo::Repository,
    config: &crate::config::Config,
    scratch: Option<&std::path::Path>,
) -> Vec<PointDrill> {
    use crate::restore::point::{PointDest, restore_point};
    let mut out = Vec::new();
    for volume in &config.volumes {
        for db in volume.databases.iter().filter(|d| d.replicate().is_some()) {
            let Some(rel) = db.sqlite_path() else {
                continue;
            };
            let started = Instant::now();
            let mut drill = PointDrill {
                volume: volume.name.clone(),
                database: db.name(),
                reached: None,
                behind_s: None,
                segments: 0,
                duration_s: 0.0,
                problems: Vec::new(),
            };
            let dir = tempfile::Builder::new()
                .prefix("holdfast-drill-")
                .tempdir_in(scratch.map_or_else(std::env::temp_dir, PathBuf::from));
            let target = holdfast_repo::wal::Target::Newest;
            let restored = match &dir {
                Ok(dir) => {
                    let dest = PointDest::Dir(dir.path().to_path_buf());
                    restore_point(repo, volume, db, target, dest)
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(format!("temporary directory: {e}")),
            };
            match restored {
                Ok(r) => {
                    drill.reached = Some(r.point.reached);
                    drill.segments = r.point.segments;
                    drill.behind_s = last_write(&volume.path.join(rel))
                        .map(|t| (t - r.point.reached).num_milliseconds().max(0) as f64 / 1000.0);
                }
                Err(e) => drill.problems.push(e),
            }
            drill.duration_s = started.elapsed().as_secs_f64();
            out.push(drill);
        }
    }
    out
}

/// When the live database at `path` was last written: the newer of its own and its
/// WAL's modification times.
fn last_write(path: &std::path::Path) -> Option<chrono::DateTime<chrono::Utc>> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path.to_path_buf(), PathBuf::from(wal)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .max()
        .map(chrono::DateTime::<chrono::Utc>::from)
}

/// A one-line account of a point drill.
pub fn describe_point(d: &PointDrill) -> String {
    match (&d.reached, d.problems.first()) {
        (_, Some(p)) => format!(
            "point restore test of database {} ({}): FAILED: {p}",
            d.database, d.volume
        ),
        (Some(t), None) => format!(
            "point restore test of database {} ({}): newest point {} ({}), {} segments, \
             checked in {:.1}s: ok",
            d.database,
            d.volume,
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            d.behind_s.map_or_else(
                || "no live database".to_owned(),
                |s| format!("{s:.1}s behind the live database")
            ),
            d.segments,
            d.duration_s
        ),
        (None, None) => format!(
            "point restore test of database {} ({}): nothing restored",
            d.database, d.volume
        ),
    }
}
