//! Backup freshness: when each volume was last backed up, whether its last backup failed,
//! and the alerts that follow (`status`, `/api/v1/status`, the status page, metrics).
//!
//! How it works:
//! - every backup of a configured volume (CLI, scheduler, HTTP job: all go through
//!   [`crate::backup::backup_all`]) records its outcome in the volume's own
//!   `.holdfast/backup.json` ([`BackupRecord`]: the last success, the last failure with
//!   its one-line message), written atomically; a volume that cannot be written keeps
//!   the old record and only the in-memory state knows;
//! - the repository's snapshots are the other source of the last success: a reader
//!   takes the later of the two ([`BackupRecord::merge_success`]);
//! - [`max_age`]: `[alerts] backup_max_age`, else 1.5 × the longest gap between two
//!   runs of `[schedule] backup` plus [`MAX_AGE_MARGIN`] (hourly → 1 h 45 min, daily →
//!   36 h 15 min); no schedule and no `backup_max_age` means no age limit;
//! - [`alerts`]: a backup that cannot run or cannot be checked, a last attempt that
//!   failed, no backup at all, or a last success older than the maximum age: each is
//!   one alert whose text says "backup".

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Config, Schedule};

/// Added to 1.5 × the schedule's interval to make the default `backup_max_age`.
pub const MAX_AGE_MARGIN: Duration = Duration::from_secs(15 * 60);

/// The longest a failure message kept in a record or an alert gets (in characters).
const MESSAGE_LIMIT: usize = 300;

/// A failed backup: when, and why in one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupFailure {
    /// When the attempt ended.
    pub time: DateTime<Utc>,
    /// The error, one line.
    pub message: String,
}

/// What is known about a volume's backups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRecord {
    /// End of the last successful backup.
    #[serde(default)]
    pub last_success: Option<DateTime<Utc>>,
    /// The last failed attempt.
    #[serde(default)]
    pub last_failure: Option<BackupFailure>,
    /// The last backup committed a snapshot flagged shrunk (when, and the counts); gone
    /// after the next backup that is not flagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_shrunk: Option<BackupFailure>,
}

impl BackupRecord {
    /// The record kept on the volume at `volume_path` (missing or unreadable: empty).
    pub fn load(volume_path: &Path) -> BackupRecord {
        let path = volume_path.join(crate::layout::BACKUP_RECORD);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!("ignoring {}: {e}", path.display());
                BackupRecord::default()
            }),
            Err(_) => BackupRecord::default(),
        }
    }

    /// Saves the record on the volume: temp file, fsync, rename, fsync the directory.
    /// Only `.holdfast/` is created, never the volume itself (it may not be mounted).
    pub fn save(&self, volume_path: &Path) -> std::io::Result<()> {
        if !volume_path.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} is not a directory", volume_path.display()),
            ));
        }
        let path = volume_path.join(crate::layout::BACKUP_RECORD);
        let dir = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
        match std::fs::create_dir(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let tmp = dir.join(format!("backup.json.tmp-{}", std::process::id()));
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&dir)?.sync_all()
    }

    /// Records a success at `time` (a failure before it is no longer current).
    pub fn succeeded(&mut self, time: DateTime<Utc>) {
        self.merge_success(Some(time));
    }

    /// Records a success at `time` whose snapshot is flagged shrunk (`why`), or, with
    /// `None`, one that is not (which ends the alert).
    pub fn succeeded_shrunk(&mut self, time: DateTime<Utc>, why: Option<&str>) {
        self.succeeded(time);
        self.last_shrunk = why.map(|w| BackupFailure {
            time,
            message: one_line(w),
        });
    }

    /// Records a failure at `time` with its error (reduced to one bounded line).
    pub fn failed(&mut self, time: DateTime<Utc>, error: &str) {
        self.last_failure = Some(BackupFailure {
            time,
            message: one_line(error),
        });
    }

    /// Takes `time` as the last success when it is later than the one known.
    pub fn merge_success(&mut self, time: Option<DateTime<Utc>>) {
        if let Some(t) = time
            && self.last_success.is_none_or(|s| s < t)
        {
            self.last_success = Some(t);
        }
    }

    /// Merges another record (the later success, the later failure).
    pub fn merge(&mut self, other: &BackupRecord) {
        self.merge_success(other.last_success);
        if let Some(f) = &other.last_failure
            && self.last_failure.as_ref().is_none_or(|g| g.time < f.time)
        {
            self.last_failure = Some(f.clone());
        }
        if let Some(f) = &other.last_shrunk
            && self.last_shrunk.as_ref().is_none_or(|g| g.time < f.time)
        {
            self.last_shrunk = Some(f.clone());
        }
    }

    /// The last failure when it came after the last success: the backup is failing.
    pub fn current_failure(&self) -> Option<&BackupFailure> {
        self.last_failure
            .as_ref()
            .filter(|f| self.last_success.is_none_or(|s| s <= f.time))
    }
}

/// An error reduced to its first line, at most [`MESSAGE_LIMIT`] characters.
pub fn one_line(error: &str) -> String {
    let first = error.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut out: String = first.trim().chars().take(MESSAGE_LIMIT).collect();
    if first.trim().chars().count() > MESSAGE_LIMIT {
        out.push('…');
    }
    out
}

/// Checks a cron expression the way the scheduler reads it.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::Cron::from_str(expr.trim()).map_err(|e| {
        format!(
            "`{expr}` is not a valid cron expression ({e}); write minute hour day month \
             weekday, e.g. \"0 2 * * *\", or @hourly, @daily, @weekly"
        )
    })
}

/// The longest gap between two consecutive runs of a cron expression, looked at over
/// its next 64 runs from `from`.
pub fn schedule_interval(expr: &str, from: DateTime<Utc>) -> Option<Duration> {
    let cron = parse_cron(expr).ok()?;
    let mut t = cron.find_next_occurrence(&from, false).ok()?;
    let mut longest = chrono::Duration::zero();
    for _ in 0..64 {
        let Ok(next) = cron.find_next_occurrence(&t, false) else {
            break;
        };
        longest = longest.max(next - t);
        t = next;
    }
    longest.to_std().ok().filter(|d| !d.is_zero())
}

/// The default `backup_max_age`: 1.5 × the schedule's longest interval plus
/// [`MAX_AGE_MARGIN`]; `None` without `[schedule] backup`.
pub fn default_max_age(schedule: &Schedule, now: DateTime<Utc>) -> Option<Duration> {
    let interval = schedule_interval(schedule.backup.as_deref()?, now)?;
    Some(interval + interval / 2 + MAX_AGE_MARGIN)
}

/// `[alerts] backup_max_age`, else [`default_max_age`].
pub fn max_age(config: &Config, now: DateTime<Utc>) -> Option<Duration> {
    config
        .alerts
        .backup_max_age
        .map(|d| d.get())
        .or_else(|| default_max_age(&config.schedule, now))
}

/// Why backups of every volume cannot be trusted right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// Backups cannot run (serve and run: no repository, no password, no schedule,
    /// the repository cannot be opened).
    CannotRun(String),
    /// The last backup cannot be known (`status`: the repository cannot be read); what
    /// the volume's own record says is still shown.
    CannotCheck(String),
}

/// The backup alerts of one volume at `now`.
pub fn alerts(
    record: &BackupRecord,
    blocker: Option<&Blocker>,
    max_age: Option<Duration>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut out = Vec::new();
    match blocker {
        Some(Blocker::CannotRun(why)) => out.push(format!("backups cannot run: {why}")),
        Some(Blocker::CannotCheck(why)) => out.push(format!("backups cannot be checked: {why}")),
        None => {}
    }
    let unknown = matches!(blocker, Some(Blocker::CannotCheck(_)));
    if let Some(f) = record.current_failure() {
        out.push(format!(
            "last backup failed {} ago: {}",
            age(now - f.time),
            f.message
        ));
    }
    // A later success that was not flagged ends the alert; a success recorded without
    // the flag's word (an older holdfast, the repository's newest snapshot) does not.
    if let Some(f) = &record.last_shrunk
        && record.last_success.is_none_or(|s| s <= f.time)
    {
        out.push(format!(
            "last backup {} ago was flagged shrunk: {}",
            age(now - f.time),
            f.message
        ));
    }
    match record.last_success {
        None if unknown => {}
        None => out.push("no backup of this volume yet".to_string()),
        Some(t) => {
            if let Some(max) = max_age
                && (now - t).to_std().is_ok_and(|a| a > max)
            {
                out.push(format!(
                    "last backup {} ago is older than backup_max_age {}",
                    age(now - t),
                    age(chrono::Duration::from_std(max).unwrap_or_default())
                ));
            }
        }
    }
    out
}

/// True when the last success is older than `max_age` (and there is one).
pub fn is_stale(record: &BackupRecord, max_age: Option<Duration>, now: DateTime<Utc>) -> bool {
    match (record.last_success, max_age) {
        (Some(t), Some(max)) => (now - t).to_std().is_ok_and(|a| a > max),
        _ => false,
    }
}

/// RFC 3339 in UTC, whole seconds.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `3d 4h`, `2h 5m`, `4m`, `40s`.
pub fn age(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, mins) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins}m")
    } else if mins > 0 {
        format!("{mins}m")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn default_max_age_follows_the_schedule() {
        let hourly = Schedule {
            backup: Some("0 * * * *".into()),
            ..Schedule::default()
        };
        assert_eq!(
            default_max_age(&hourly, t(10, 30)),
            Some(Duration::from_secs(105 * 60))
        );
        let weekdays = Schedule {
            backup: Some("0 2 * * 1-5".into()),
            ..Schedule::default()
        };
        let d = default_max_age(&weekdays, t(10, 30)).expect("an age");
        assert_eq!(d, Duration::from_secs(3 * 86_400 * 3 / 2 + 15 * 60));
        assert_eq!(default_max_age(&Schedule::default(), t(10, 30)), None);
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_cron("@daily").is_ok());
    }

    /// Finding 1: a backup that committed nothing over something was a green success.
    #[test]
    fn a_shrunk_backup_is_an_alert_until_one_that_is_not() {
        let now = t(12, 0);
        let mut r = BackupRecord::default();
        r.succeeded_shrunk(t(11, 0), Some("snapshot 86b7b026 holds 0 files"));
        assert_eq!(
            alerts(&r, None, None, now),
            ["last backup 1h 0m ago was flagged shrunk: snapshot 86b7b026 holds 0 files"]
        );
        // The repository's newest snapshot (the shrunk one, taken at the start) keeps it.
        r.merge_success(Some(t(10, 59)));
        assert_eq!(alerts(&r, None, None, now).len(), 1);
        let mut merged = BackupRecord::default();
        merged.merge(&r);
        assert_eq!(merged.last_shrunk, r.last_shrunk);
        r.succeeded_shrunk(t(11, 30), None);
        assert!(alerts(&r, None, None, now).is_empty());
    }

    #[test]
    fn alerts_say_backup() {
        let now = t(12, 0);
        let mut r = BackupRecord::default();
        let max = Some(Duration::from_secs(3600));
        assert_eq!(alerts(&r, None, max, now), ["no backup of this volume yet"]);
        r.succeeded(t(11, 30));
        assert!(alerts(&r, None, max, now).is_empty());
        r.failed(t(11, 50), "store unavailable: timed out\nmore detail");
        assert_eq!(
            alerts(&r, None, max, now),
            ["last backup failed 10m ago: store unavailable: timed out"]
        );
        assert!(!is_stale(&r, max, now));
        r.succeeded(t(11, 55));
        assert!(alerts(&r, None, max, now).is_empty());
        assert!(is_stale(&r, max, t(13, 0)));
        assert_eq!(
            alerts(&r, None, max, t(13, 0)),
            ["last backup 1h 5m ago is older than backup_max_age 1h 0m"]
        );
        let why = Blocker::CannotCheck("no repository password".into());
        let a = alerts(&r, Some(&why), max, now);
        assert_eq!(a, ["backups cannot be checked: no repository password"]);
        for a in alerts(&BackupRecord::default(), None, None, now) {
            assert!(a.contains("backup"), "{a}");
        }
    }

    #[test]
    fn records_round_trip_on_the_volume() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut r = BackupRecord::default();
        r.failed(t(1, 0), "boom");
        r.save(dir.path())?;
        assert_eq!(BackupRecord::load(dir.path()), r);
        assert!(r.save(&dir.path().join("absent")).is_err());
        assert!(!dir.path().join("absent").exists());
        Ok(())
    }
}
