//! The holdfast.toml data model: one struct per table, every table closed to unknown keys.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::units::{ByteSize, HumanDuration, Percent};

/// The usage percentage at which `status` raises an alert when `alert_at` is not set.
pub const DEFAULT_ALERT_AT: f64 = 90.0;

/// A whole holdfast.toml.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[repository]`: where snapshots go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Repository>,
    /// `[[volumes]]`: the data volumes to guard and back up.
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// `[schedule]`: cron expressions for backup, verify and prune.
    #[serde(default)]
    pub schedule: Schedule,
    /// `[[cleanup]]`: scheduled deletion of old files.
    #[serde(default)]
    pub cleanup: Vec<CleanupJob>,
    /// `[retention]`: which snapshots `forget` keeps.
    #[serde(default)]
    pub retention: Retention,
    /// `[hooks]`: commands run around a backup.
    #[serde(default)]
    pub hooks: Hooks,
    /// `[uploads]`: limits of the upload endpoint.
    #[serde(default)]
    pub uploads: Uploads,
    /// `[serve]`: who may see what on the HTTP server.
    #[serde(default, skip_serializing_if = "Serve::is_default")]
    pub serve: Serve,
    /// `[alerts]`: what counts as an unprotected volume.
    #[serde(default, skip_serializing_if = "Alerts::is_default")]
    pub alerts: Alerts,
    /// `[[notify]]`: where push notifications go.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<Notify>,
    /// `[[replicas]]`: second repositories that receive a copy of every snapshot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<Replica>,
    /// The file this configuration was read from, when it came from a file.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Config {
    /// The repository URL from `[repository] url`, if set.
    pub fn repository_url(&self) -> Option<&str> {
        self.repository.as_ref().map(|r| r.url.as_str())
    }

    /// The volume with this name.
    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.name == name)
    }
}

/// `[repository]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repository {
    /// `file:///…`, `s3://bucket/prefix?…`, `azblob://container/prefix`, `memory://`.
    pub url: String,
}

/// How much a volume matters; ordering goes from most to least important.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Losing it loses the business: databases, user data.
    Critical,
    /// Important data that is hard to rebuild.
    High,
    /// The default.
    #[default]
    Medium,
    /// Caches, logs, anything that can be rebuilt.
    Low,
}

impl Priority {
    /// The lowercase name used in holdfast.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_true() -> bool {
    true
}

/// One `[[volumes]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// Unique name: letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// Where the volume is mounted. After loading it is always set: taken from
    /// `RAILWAY_VOLUME_MOUNT_PATH` when absent, and made absolute against the directory of
    /// the config file when relative.
    #[serde(default)]
    pub path: PathBuf,
    /// The size the user pays for; usage is also measured against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<ByteSize>,
    /// How much the volume matters.
    #[serde(default)]
    pub priority: Priority,
    /// Refuse to start the app when the path is not a mount point.
    #[serde(default)]
    pub require_mount: bool,
    /// Usage at which to alert; see [`Volume::alert_at_percent`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_at: Option<Percent>,
    /// Globs (relative to the volume) left out of backups.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Databases living on (or beside) this volume.
    #[serde(default)]
    pub databases: Vec<Database>,
    /// Files (relative to the volume) restored from the latest backup when missing.
    #[serde(default)]
    pub restore_if_missing: Vec<PathBuf>,
    /// When the volume is mounted but empty (nothing but holdfast's own state), `run`
    /// restores the whole latest snapshot of the volume into it before the app starts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restore_if_empty: bool,
    /// Find SQLite files on the volume by their header and back them up consistently.
    #[serde(default = "default_true")]
    pub sqlite_autodetect: bool,
    /// The share of the files or bytes of the volume's last good snapshot that may go
    /// before a backup is flagged shrunk; see [`Volume::shrink_alert_percent`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrink_alert: Option<Percent>,
}

impl Volume {
    /// The alert threshold in percent (`alert_at`, else [`DEFAULT_ALERT_AT`]).
    pub fn alert_at_percent(&self) -> f64 {
        self.alert_at.map_or(DEFAULT_ALERT_AT, Percent::value)
    }

    /// The `shrink_alert` share in percent, else
    /// [`holdfast_repo::snapshot::DEFAULT_SHRINK_ALERT`] (50).
    pub fn shrink_alert_percent(&self) -> f64 {
        self.shrink_alert.map_or(
            holdfast_repo::snapshot::DEFAULT_SHRINK_ALERT,
            Percent::value,
        )
    }

    /// A path inside the volume: relative paths are joined to the volume path.
    pub fn resolve(&self, relative: &Path) -> PathBuf {
        self.path.join(relative)
    }

    /// The absolute paths of the configured SQLite databases.
    pub fn sqlite_paths(&self) -> Vec<PathBuf> {
        self.databases
            .iter()
            .filter_map(|db| match db {
                Database::Sqlite { path, .. } => Some(self.resolve(path)),
                _ => None,
            })
            .collect()
    }
}

/// One entry of a volume's `databases` list, told apart by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Database {
    /// A SQLite file on the volume, backed up with the online backup API.
    Sqlite {
        /// Path of the database file, relative to the volume.
        path: PathBuf,
        /// Name used in `restore --database`; defaults to the file name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Continuous replication of the database's WAL under `run`/`serve`: newly
        /// committed transactions are shipped at this interval (`1s`), so a restore can
        /// reach any point in time (docs/FORMAT.md, "SQLite WAL segments"). Absent: the
        /// database is only as fresh as its last snapshot.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replicate: Option<HumanDuration>,
    },
    /// A Postgres database dumped with `pg_dump`, or with `archive = true` backed up
    /// for point-in-time recovery: base backups (`pg_basebackup`) in the snapshots and
    /// its WAL archived through the spool (docs/FORMAT.md, "Postgres WAL segments").
    Postgres {
        /// Name used in `restore --database`; defaults to the database in the URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// `postgres://user:password@host:port/database`.
        url: String,
        /// Point-in-time recovery: the server's `archive_command` is
        /// `holdfast pg archive %p`, `run`/`serve` upload the spool, and backups take a
        /// base backup instead of a dump.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        archive: bool,
        /// The spool directory; default `<volume>/.holdfast-pg/<name>`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spool: Option<PathBuf>,
        /// The spool's bound (default 1 GiB): past it, WAL is dropped and the gap
        /// recorded, never Postgres blocked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spool_bytes: Option<ByteSize>,
    },
    /// A Redis server: its dump file on the volume, or a server to ask for a snapshot.
    Redis {
        /// Name used in `restore --database`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// `redis://host:port`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// The RDB/AOF file relative to the volume, such as `dump.rdb`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<PathBuf>,
    },
}

impl Database {
    /// Whether `--database NAME` means this database: its [`Database::name`], or, for
    /// SQLite, its path in the volume as written in holdfast.toml (`db/app.db`).
    pub fn answers_to(&self, name: &str) -> bool {
        self.name() == name
            || matches!(self, Database::Sqlite { path, .. } if path.as_os_str() == name)
    }

    /// The name used to pick this database in `restore --database`.
    pub fn name(&self) -> String {
        match self {
            Database::Sqlite { name: Some(n), .. }
            | Database::Postgres { name: Some(n), .. }
            | Database::Redis { name: Some(n), .. } => n.clone(),
            Database::Sqlite { path, .. } => path
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
            Database::Postgres { url, .. } => url
                .rsplit('/')
                .next()
                .and_then(|tail| tail.split('?').next())
                .unwrap_or_default()
                .to_string(),
            Database::Redis { .. } => "redis".to_string(),
        }
    }

    /// The path in the volume of a SQLite database.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match self {
            Database::Sqlite { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The replication interval of a SQLite database with `replicate` set.
    pub fn replicate(&self) -> Option<std::time::Duration> {
        match self {
            Database::Sqlite { replicate, .. } => replicate.map(|d| d.get()),
            _ => None,
        }
    }

    /// Whether this is a Postgres database archived for point-in-time recovery.
    pub fn pg_archive(&self) -> bool {
        matches!(self, Database::Postgres { archive: true, .. })
    }

    /// `sqlite`, `postgres` or `redis`.
    pub fn kind(&self) -> &'static str {
        match self {
            Database::Sqlite { .. } => "sqlite",
            Database::Postgres { .. } => "postgres",
            Database::Redis { .. } => "redis",
        }
    }
}

/// `[schedule]`: cron expressions (five fields, or `@daily`-style shorthands).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// When to back up every volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// When to verify the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<String>,
    /// When to apply retention and prune.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<String>,
    /// The scheduled verify also restores the latest snapshot of each volume into a
    /// temporary directory and checks it (a restore drill).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restore_test: bool,
}

/// One `[[cleanup]]` job: delete files older than a given age.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupJob {
    /// A directory or a store URL.
    pub path: String,
    /// Files last modified longer ago than this are deleted.
    pub older_than: HumanDuration,
    /// Only files matching this glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Cron expression; without it the job runs with the backup schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// `[retention]`: restic's keep policies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Keep the newest N snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the last N hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    /// … of each of the last N days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    /// … of each of the last N weeks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    /// … of each of the last N months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    /// … of each of the last N years.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot younger than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_within: Option<HumanDuration>,
}

impl Retention {
    /// True when no policy is set (nothing would be forgotten).
    pub fn is_empty(&self) -> bool {
        *self == Retention::default()
    }

    /// The repository's retention policy for this table (`keep_within` in whole hours).
    pub fn policy(&self) -> holdfast_repo::retention::RetentionPolicy {
        use holdfast_repo::retention::{CalendarDuration, RetentionPolicy};
        RetentionPolicy {
            keep_last: self.keep_last,
            keep_hourly: self.keep_hourly,
            keep_daily: self.keep_daily,
            keep_weekly: self.keep_weekly,
            keep_monthly: self.keep_monthly,
            keep_yearly: self.keep_yearly,
            keep_within: self
                .keep_within
                .map(|d| CalendarDuration::from_std(d.get())),
            ..RetentionPolicy::default()
        }
    }
}

/// `[hooks]`: shell commands run before and after a backup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// Run in order before the backup; a failure aborts it.
    #[serde(default)]
    pub before_backup: Vec<String>,
    /// Run in order after the backup, whether it succeeded or not.
    #[serde(default)]
    pub after_backup: Vec<String>,
    /// Time limit of each command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
}

/// `[uploads]`: limits of `POST /api/v1/uploads/{volume}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uploads {
    /// Largest accepted upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<ByteSize>,
    /// MIME types accepted, checked by sniffing the content.
    #[serde(default)]
    pub allow: Vec<String>,
}

/// `[serve]`: settings of the HTTP server of `serve` and `run`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Serve {
    /// Show the snapshot list on the status page `/` without the API token (volume
    /// health is always public). Off by default.
    #[serde(default)]
    pub public_status: bool,
}

impl Serve {
    /// True when nothing is set.
    pub fn is_default(&self) -> bool {
        self == &Serve::default()
    }
}

/// `[alerts]`: when missing or failing backups are an alert, and what they block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    /// A volume whose last successful backup is older than this is an alert. Default: a
    /// little over the interval of `[schedule] backup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_max_age: Option<HumanDuration>,
    /// `run` refuses to start the app when backups cannot run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_backups: bool,
    /// `/readyz` answers 503 while a backup alert is raised (off: readiness is about
    /// volumes only, so a failing backup does not take the app down).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ready_requires_backup: bool,
}

impl Alerts {
    /// True when nothing is set.
    pub fn is_default(&self) -> bool {
        self == &Alerts::default()
    }
}

/// The kind of a `[[notify]]` target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyKind {
    /// A generic JSON webhook: every event is POSTed as one JSON object.
    Webhook,
    /// A healthchecks.io-style ping URL: `/start`, the URL itself on success, `/fail`.
    Healthchecks,
    /// An ntfy topic URL: a plain-text message with a title and priority.
    Ntfy,
}

/// One `[[notify]]` target. `Debug` shows the URL redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// What kind of receiver `url` is.
    pub kind: NotifyKind,
    /// Where to send; may hold a secret (a token in the path or query), so it is only
    /// ever shown redacted.
    pub url: String,
    /// Only these events (names from [`NOTIFY_EVENTS`]); all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
}

impl Notify {
    /// The URL as it may be shown: scheme, host and port only. The path of a webhook,
    /// healthchecks or ntfy URL is often the secret itself (a ping UUID, a webhook
    /// token, a private topic), and user-info and query may hold credentials.
    pub fn redacted_url(&self) -> String {
        redact_notify_url(&self.url)
    }

    /// True when this target wants events named `name` (see [`NOTIFY_EVENTS`]).
    pub fn wants(&self, name: &str) -> bool {
        self.events
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == name))
    }
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notify")
            .field("kind", &self.kind)
            .field("url", &self.redacted_url())
            .field("events", &self.events)
            .finish()
    }
}

/// `scheme://host[:port]/…` of a notification URL: nothing after the authority, and no
/// user-info; `(unparsable URL)` when it does not parse.
fn redact_notify_url(raw: &str) -> String {
    let Ok(url) = url::Url::parse(raw) else {
        return "(unparsable URL)".to_string();
    };
    let host = url.host_str().unwrap_or("");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let rest = if url.path() == "/" && url.query().is_none() {
        "/"
    } else {
        "/…"
    };
    format!("{}://{host}{port}{rest}", url.scheme())
}

/// The event names a `[[notify]]` `events` filter may list, as sent in the `event` field
/// of a webhook.
pub const NOTIFY_EVENTS: &[&str] = &[
    "backup_started",
    "backup_ok",
    "backup_failed",
    "backup_shrunk",
    "verify_ok",
    "verify_failed",
    "usage_alert",
    "guard_refused",
    "backup_stale",
    "pitr_alert",
];

/// The `[[replicas]]` schedule that replicates after every backup.
pub const AFTER_BACKUP: &str = "after-backup";

/// One `[[replicas]]` entry: a second repository (its own password and keys) that
/// receives a copy of every snapshot (docs/CONFIG.md, "Replicas").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replica {
    /// A name for status and logs (default: the redacted URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The replica's repository URL; may hold credentials, so only shown redacted.
    pub url: String,
    /// File whose first line is the replica's password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the replica's password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Retention applied to the replica after each replication (none: keep everything).
    #[serde(default, skip_serializing_if = "Retention::is_empty")]
    pub retention: Retention,
    /// A cron expression, or `after-backup` (the default) to replicate after every
    /// backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

impl Replica {
    /// The name shown in status and logs.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| holdfast_store::redact_url(&self.url))
    }

    /// True when the replica is brought up to date after every backup: its schedule
    /// is [`AFTER_BACKUP`] or left out.
    pub fn after_backup(&self) -> bool {
        self.schedule
            .as_deref()
            .is_none_or(|s| s.trim() == AFTER_BACKUP)
    }

    /// The replica's cron expression, when it has one instead of [`AFTER_BACKUP`].
    pub fn cron(&self) -> Option<&str> {
        self.schedule.as_deref().filter(|_| !self.after_backup())
    }
}
