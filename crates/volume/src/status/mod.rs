//! Volume status probes: the fields of a volume health report (seed 003's "volume
//! status") and the alerts derived from them.
//!
//! - `mounted`: [`crate::mounts::is_mount_point`].
//! - `writable`: a probe file is created, written, fsynced, read back and removed; a
//!   read-only or full filesystem gives `false` and the reason.
//! - sizes from `statvfs`; `usage_percent` is the filesystem's (`df`'s used / (used +
//!   available)) or, when the volume declares a `size` smaller than its filesystem (a bind
//!   mount on a big host disk, a budget), the bytes used under the path against that size:
//!   whichever is worse, with [`UsageBasis`] saying which.
//! - `database_exists`: every configured SQLite file is there; each missing one is a
//!   backup alert ([`VolumeStatus::apply_backup`]: a typo in its path would otherwise
//!   leave it out of every backup in silence).
//! - an interrupted swap left on the volume ([`crate::swap::pending`]) is an alert naming
//!   the command that finishes it.
//! - `last_backup`, `last_backup_error`, `backup_max_age_s` and the backup alerts:
//!   [`VolumeStatus::apply_backup`] with what [`crate::freshness`] knows; a probe alone
//!   leaves them empty. [`VolumeStatus::volume_alerts`] are the alerts of the volume
//!   itself (what `/readyz` looks at by default).

pub mod text;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::config::{Config, Volume};
use crate::freshness::{self, BackupRecord, Blocker};
use crate::layout::PROBE_PREFIX;
use crate::mounts::{self, MountEntry};
use crate::units::format_size;

/// What `usage_percent` was measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageBasis {
    /// The filesystem's used and available blocks.
    Filesystem,
    /// The bytes under the volume path against the volume's declared `size`.
    DeclaredSize,
}

/// The health of one volume. Serializes to exactly the documented `status --json` fields;
/// [`VolumeStatus::details`] carries the rest for people.
#[derive(Debug, Clone, Serialize)]
pub struct VolumeStatus {
    /// Volume name.
    pub name: String,
    /// Volume path.
    pub path: PathBuf,
    /// The path is a mount point.
    pub mounted: bool,
    /// A probe file could be written, synced, read back and removed.
    pub writable: bool,
    /// Filesystem size in bytes.
    pub size_total: u64,
    /// Bytes available to unprivileged writers.
    pub size_available: u64,
    /// Usage in percent, one decimal; see [`UsageBasis`].
    pub usage_percent: f64,
    /// Every configured SQLite database file exists (true when none is configured).
    pub database_exists: bool,
    /// When the probe ran, RFC 3339 UTC.
    pub last_check: String,
    /// Problems found, the volume's own first, then its backup's; empty when healthy.
    pub alerts: Vec<String>,
    /// End of the last successful backup (RFC 3339 UTC), when known.
    pub last_backup: Option<String>,
    /// The error of the last backup when it failed after the last success.
    pub last_backup_error: Option<String>,
    /// The age past which the last backup is an alert, in seconds (none: no limit).
    pub backup_max_age_s: Option<u64>,
    /// The `[[replicas]]` and how far each is behind (`serve`'s `/api/v1/status` only;
    /// left out of the JSON when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaStatus>,
    /// The SQLite databases with point-in-time replication (`replicate`) and how far
    /// behind the live database the newest restorable point is (left out of the JSON
    /// when none is replicated).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<ReplicatedDatabase>,
    /// More about the probe, left out of the JSON.
    #[serde(skip)]
    pub details: StatusDetails,
}

/// One `[[replicas]]` entry as `serve` last saw it: the outcome of its last
/// replication and how far it is behind the source.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplicaStatus {
    /// The replica's name, else its redacted URL (never a credential).
    pub name: String,
    /// `after-backup` or the cron expression (empty: only `holdfast copy --replicas`).
    pub schedule: String,
    /// Start of the last replication (RFC 3339 UTC).
    pub last_run: Option<String>,
    /// End of the last successful replication (RFC 3339 UTC).
    pub last_success: Option<String>,
    /// Why the last replication failed, when it did.
    pub last_error: Option<String>,
    /// Source snapshots the replica lacks, as last measured.
    pub lag_snapshots: Option<usize>,
    /// Age in seconds of the newest source snapshot the replica lacks (0: none lacking).
    pub lag_seconds: Option<i64>,
    /// Snapshots copied to the replica since the server started.
    pub copied: u64,
    /// The replica's alerts (each says "replica"); empty when it keeps up.
    pub alerts: Vec<String>,
}

/// One SQLite database with point-in-time replication, as `status` sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplicatedDatabase {
    /// Its path in the volume (its name in `restore --database … --time`).
    pub database: String,
    /// The newest point a restore reaches now (RFC 3339 UTC); `None` before the first.
    pub newest_point: Option<String>,
    /// Seconds between that point and now: the writes a restore now would miss.
    pub lag_seconds: Option<i64>,
    /// `postgres` for a Postgres database archived for point-in-time recovery; absent
    /// for SQLite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Postgres: bytes of WAL waiting in the spool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spool_bytes: Option<u64>,
    /// Postgres: the start of the recoverable window (the oldest base backup's
    /// consistency time, RFC 3339 UTC); the window ends at `newest_point`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_from: Option<String>,
    /// Postgres: gaps recorded since the start (WAL dropped unarchived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gaps: Option<u64>,
}

/// Detail behind a [`VolumeStatus`].
#[derive(Debug, Clone, PartialEq)]
pub struct StatusDetails {
    /// The path exists and is a directory.
    pub exists: bool,
    /// Filesystem type of the mount holding the path.
    pub fs_type: Option<String>,
    /// Why the volume is not writable.
    pub writable_error: Option<String>,
    /// What `usage_percent` was measured against.
    pub usage_basis: UsageBasis,
    /// Bytes used under the path, when measured (declared size smaller than filesystem).
    pub used_under_path: Option<u64>,
    /// The volume's declared size.
    pub declared_size: Option<u64>,
    /// The alert threshold in percent.
    pub alert_at: f64,
    /// Configured SQLite files that are missing.
    pub missing_databases: Vec<PathBuf>,
    /// How many of the trailing `alerts` are about backups.
    pub backup_alerts: usize,
    /// When the last backup failed (with `last_backup_error`).
    pub last_backup_failed_at: Option<DateTime<Utc>>,
}

impl VolumeStatus {
    /// True when the volume has no alert.
    pub fn is_healthy(&self) -> bool {
        self.alerts.is_empty()
    }

    /// The alerts about the volume itself (mount, writable, space), not its backups.
    pub fn volume_alerts(&self) -> &[String] {
        let own = self.alerts.len().saturating_sub(self.details.backup_alerts);
        &self.alerts[..own]
    }

    /// The alerts about the volume's backups.
    pub fn backup_alerts(&self) -> &[String] {
        &self.alerts[self.volume_alerts().len()..]
    }

    /// Adds what is known of the volume's backups: the fields and the backup alerts of
    /// [`freshness::alerts`] (replacing those of an earlier call).
    pub fn apply_backup(
        &mut self,
        record: &BackupRecord,
        blocker: Option<&Blocker>,
        max_age: Option<Duration>,
        now: DateTime<Utc>,
    ) {
        let own = self.volume_alerts().len();
        self.alerts.truncate(own);
        self.last_backup = record.last_success.map(freshness::rfc3339);
        let failure = record.current_failure();
        self.last_backup_error = failure.map(|f| f.message.clone());
        self.details.last_backup_failed_at = failure.map(|f| f.time);
        self.backup_max_age_s = max_age.map(|d| d.as_secs());
        let mut extra = freshness::alerts(record, blocker, max_age, now);
        // A database the config names but the volume lacks is in no backup: a backup
        // alert (it does not take the app out of rotation: an app may create its
        // database on first use).
        if self.details.exists {
            for db in &self.details.missing_databases {
                let rel = db.strip_prefix(&self.path).unwrap_or(db);
                extra.push(format!(
                    "configured database {} does not exist: check its path in holdfast.toml \
                     (backups hold no copy of it)",
                    rel.display()
                ));
            }
        }
        self.details.backup_alerts = extra.len();
        self.alerts.extend(extra);
    }
}

/// Probes every volume of a config, in order.
pub fn probe_all(config: &Config) -> Vec<VolumeStatus> {
    let entries = mounts::read_mountinfo().unwrap_or_default();
    config
        .volumes
        .iter()
        .map(|v| probe_with(v, &entries))
        .collect()
}

/// Probes one volume.
pub fn probe(volume: &Volume) -> VolumeStatus {
    let entries = mounts::read_mountinfo().unwrap_or_default();
    probe_with(volume, &entries)
}

fn probe_with(volume: &Volume, entries: &[MountEntry]) -> VolumeStatus {
    let path = &volume.path;
    let last_check = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let exists = path.is_dir();
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
    let mounted = exists && mounts::is_mount_point(path, entries).unwrap_or(false);
    let fs_type = mounts::mount_of(&canonical, entries).map(|m| m.fs_type.clone());
    let writable_error = if exists {
        probe_writable(path).err()
    } else if path.exists() {
        Some(format!("{} is not a directory", path.display()))
    } else {
        Some(format!("{} does not exist", path.display()))
    };
    let space = if exists { filesystem_space(path) } else { None };
    let (size_total, size_available, fs_used) = space.unwrap_or((0, 0, 0));
    let fs_usage = percent(fs_used, fs_used.saturating_add(size_available));
    let declared = volume.size.map(|s| s.bytes());
    let mut basis = UsageBasis::Filesystem;
    let mut usage = fs_usage;
    let mut used_under_path = None;
    if let Some(size) = declared
        && exists
        && size < size_total
    {
        let used = used_bytes(path);
        used_under_path = Some(used);
        let declared_usage = percent(used, size);
        if declared_usage > usage {
            usage = declared_usage;
            basis = UsageBasis::DeclaredSize;
        }
    }
    let sqlite = volume.sqlite_paths();
    let missing_databases: Vec<PathBuf> = sqlite.into_iter().filter(|p| !p.is_file()).collect();
    let details = StatusDetails {
        exists,
        fs_type,
        writable_error,
        usage_basis: basis,
        used_under_path,
        declared_size: declared,
        alert_at: volume.alert_at_percent(),
        missing_databases,
        backup_alerts: 0,
        last_backup_failed_at: None,
    };
    let mut status = VolumeStatus {
        name: volume.name.clone(),
        path: path.clone(),
        mounted,
        writable: details.writable_error.is_none(),
        size_total,
        size_available,
        usage_percent: (usage * 10.0).round() / 10.0,
        database_exists: details.missing_databases.is_empty(),
        last_check,
        alerts: Vec::new(),
        last_backup: None,
        last_backup_error: None,
        backup_max_age_s: None,
        replicas: Vec::new(),
        databases: Vec::new(),
        details,
    };
    status.alerts = alerts(volume, &status);
    status
}

fn alerts(volume: &Volume, s: &VolumeStatus) -> Vec<String> {
    let mut out = Vec::new();
    let path = volume.path.display();
    if !s.details.exists {
        out.push(format!("path {path} does not exist or is not a directory"));
    }
    if s.details.exists && !s.mounted && volume.require_mount {
        out.push(format!(
            "{path} is not a mount point: data written there is lost on redeploy \
             (require_mount = true)"
        ));
    }
    if s.details.exists
        && let Some(reason) = &s.details.writable_error
    {
        out.push(format!("not writable: {reason}"));
    }
    let alert_at = s.details.alert_at;
    if s.details.exists && s.usage_percent >= alert_at {
        let basis = match (s.details.usage_basis, s.details.declared_size) {
            (UsageBasis::DeclaredSize, Some(size)) => {
                format!("of the declared size {}", format_size(size))
            }
            _ => "of the filesystem".to_string(),
        };
        out.push(format!(
            "usage {:.1}% {basis} is past alert_at {alert_at}%",
            s.usage_percent
        ));
    }
    if s.details.exists {
        let pending = crate::swap::pending(&volume.path);
        if !pending.is_empty() {
            out.push(crate::guard::pending_reason(volume, &pending));
        }
    }
    out
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// `(total, available, used)` bytes of the filesystem holding `path`.
fn filesystem_space(path: &Path) -> Option<(u64, u64, u64)> {
    let st = rustix::fs::statvfs(path).ok()?;
    let frsize = if st.f_frsize > 0 {
        st.f_frsize
    } else {
        st.f_bsize
    };
    let total = st.f_blocks.saturating_mul(frsize);
    let available = st.f_bavail.saturating_mul(frsize);
    let used = st
        .f_blocks
        .saturating_sub(st.f_bfree)
        .saturating_mul(frsize);
    Some((total, available, used))
}

/// Bytes allocated under `path` on its own filesystem, like `du -sx`: symlinks are not
/// followed and a hard-linked file counts once.
pub fn used_bytes(path: &Path) -> u64 {
    let mut seen = HashSet::new();
    walkdir::WalkDir::new(path)
        .same_file_system(true)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.nlink() <= 1 || m.is_dir() || seen.insert((m.dev(), m.ino())))
        .map(|m| m.blocks().saturating_mul(512))
        .sum()
}

/// Writes, fsyncs, reads back and removes a probe file in `dir`; the error is the reason
/// it is not writable.
///
/// A probe left behind by a process killed in the middle (SIGKILL during a guard check)
/// is removed by the next probe on the same host: its name carries the writer's pid and
/// a hash of the host name, and a probe of this host whose process is gone is stale.
pub fn probe_writable(dir: &Path) -> Result<(), String> {
    let host = host_tag();
    sweep_stale_probes(dir, &host);
    let name = format!(
        "{PROBE_PREFIX}{}-{}-{host}",
        std::process::id(),
        uuid_like()
    );
    let file = dir.join(name);
    let payload = format!("holdfast write probe {}\n", Utc::now().to_rfc3339());
    let result = write_read(&file, payload.as_bytes());
    let removed = std::fs::remove_file(&file);
    result?;
    removed.map_err(|e| format!("cannot remove probe file {}: {e}", file.display()))
}

fn write_read(file: &Path, payload: &[u8]) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
        .map_err(|e| format!("cannot create a file in {}: {e}", parent_of(file)))?;
    f.write_all(payload)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write to {}: {e}", parent_of(file)))?;
    drop(f);
    let mut back = Vec::new();
    std::fs::File::open(file)
        .and_then(|mut f| f.read_to_end(&mut back))
        .map_err(|e| {
            format!(
                "cannot read back the probe file in {}: {e}",
                parent_of(file)
            )
        })?;
    if back != payload {
        return Err(format!(
            "the probe file in {} read back different bytes",
            parent_of(file)
        ));
    }
    Ok(())
}

fn parent_of(file: &Path) -> String {
    file.parent()
        .map_or_else(String::new, |p| p.display().to_string())
}

/// Eight hex digits of the BLAKE3 of this host's name: which host a probe belongs to.
fn host_tag() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    blake3::hash(name.trim().as_bytes()).to_hex()[..8].to_string()
}

/// Removes the probes of this host (`host`) in `dir` whose process no longer runs.
fn sweep_stale_probes(dir: &Path, host: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let own = std::process::id();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PROBE_PREFIX)) else {
            continue;
        };
        let parts: Vec<&str> = rest.split('-').collect();
        let pid = match parts.as_slice() {
            [pid, _, _, tag] if *tag == host => pid.parse::<u32>().ok(),
            _ => None,
        };
        if let Some(pid) = pid
            && pid != own
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A probe name part that two concurrent probes will not share.
fn uuid_like() -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let counter = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{nanos:x}-{counter}")
}

static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cfg(test)]
mod tests {
    use super::*;

    /// Finding: `restore --in-place` killed (SIGKILL) while the guard probed the volume
    /// left `.holdfast-probe-…` in it, and the volume was neither the old data nor the
    /// new. The next probe on the host removes a probe whose process is gone, and leaves
    /// another host's alone.
    #[test]
    fn a_probe_left_by_a_killed_process_is_removed_by_the_next_probe() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = host_tag();
        let dead = dir
            .path()
            .join(format!("{PROBE_PREFIX}999999999-1a2b-0-{host}"));
        let other = dir
            .path()
            .join(format!("{PROBE_PREFIX}999999999-1a2b-0-00000000"));
        for f in [&dead, &other] {
            std::fs::write(f, "holdfast write probe\n").expect("write");
        }
        probe_writable(dir.path()).expect("writable");
        assert!(!dead.exists(), "the killed process's probe stayed");
        assert!(
            other.exists() || host == "00000000",
            "another host's probe was removed"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }
}
