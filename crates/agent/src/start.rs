//! The start lines of `serve` and `run`: one line per volume on stderr (and in the log)
//! saying what is protected and how, so the first minute of a deploy shows the state a
//! person would otherwise have to assemble from `status`, the config and the schedule:
//!
//! `volume app-data: /app/data mounted (ext4); backup 0 3 * * * (next 2026-12-08 03:00 UTC);
//! repository s3://bucket/prefix; replicas: offsite`
//!
//! The repository and replica URLs are redacted ([`holdfast_store::redact_url`]).

use std::str::FromStr;

use chrono::{DateTime, Utc};
use holdfast_volume::config::{Config, Volume};
use holdfast_volume::mounts;

/// Prints one start line per volume of `config`; `repository` is the URL in use (from
/// the config or the environment), if any.
pub fn print(config: &Config, repository: Option<&str>) {
    let entries = mounts::read_mountinfo().unwrap_or_default();
    let now = Utc::now();
    for v in &config.volumes {
        crate::console::note(
            tracing::Level::INFO,
            &line(config, v, repository, &entries, now),
            "",
        );
    }
}

/// The start line of one volume.
pub fn line(
    config: &Config,
    volume: &Volume,
    repository: Option<&str>,
    entries: &[mounts::MountEntry],
    now: DateTime<Utc>,
) -> String {
    let path = &volume.path;
    let mounted = if !path.is_dir() {
        "does not exist".to_string()
    } else if mounts::is_mount_point(path, entries).unwrap_or(false) {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        match mounts::mount_of(&canonical, entries) {
            Some(m) => format!("mounted ({})", m.fs_type),
            None => "mounted".to_string(),
        }
    } else if volume.require_mount {
        "NOT mounted (require_mount = true: refused)".to_string()
    } else {
        "not a mount point".to_string()
    };
    let schedule = match config.schedule.backup.as_deref() {
        None => "no backup schedule ([schedule] backup unset)".to_string(),
        Some(pattern) => match croner::Cron::from_str(pattern)
            .ok()
            .and_then(|c| c.find_next_occurrence(&now, false).ok())
        {
            Some(next) => format!(
                "backup {pattern} (next {})",
                next.format("%Y-%m-%d %H:%M UTC")
            ),
            None => format!("backup {pattern} (no next time)"),
        },
    };
    let repository = repository.map_or_else(
        || "no repository".to_string(),
        |u| format!("repository {}", holdfast_store::redact_url(u)),
    );
    let replicas: Vec<String> = config
        .replicas
        .iter()
        .map(|r| {
            r.name
                .clone()
                .unwrap_or_else(|| holdfast_store::redact_url(&r.url))
        })
        .collect();
    let replicas = if replicas.is_empty() {
        "no replicas".to_string()
    } else {
        format!("replicas: {}", replicas.join(", "))
    };
    format!(
        "volume {}: {} {mounted}; {schedule}; {repository}; {replicas}",
        volume.name,
        path.display()
    )
}

/// The guard of `serve` at start ([`holdfast_volume::guard::enter`] with the backup's
/// door): an interrupted swap on a volume is finished, and said at WARN; a volume the
/// guard refuses is said at ERROR (the server still starts: its status page and
/// `/readyz` show the alert, and each backup of that volume is refused until it is fixed).
pub fn guard(config: &Config) {
    for v in &config.volumes {
        match holdfast_volume::guard::enter(v, holdfast_volume::guard::Door::Backup) {
            Ok(admitted) => {
                for line in admitted.recovered {
                    tracing::warn!("{line} (at start)");
                }
                for line in admitted.warnings {
                    tracing::warn!("{line}");
                }
            }
            Err(r) => tracing::error!("{r}; its backups are refused until this is fixed"),
        }
    }
}
