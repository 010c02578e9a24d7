//! holdfast-volume: what holdfast knows about data volumes.
//!
//! - [`cleanup`]: delete files older than a given age from a directory.
//! - [`backup`]: a volume's snapshot with consistent copies of its databases.
//! - [`child_env`]: the scrubbed environment of every program holdfast starts.
//! - [`config`]: holdfast.toml, loaded with errors that name the file, line and key.
//! - [`databases`]: consistent copies of live SQLite, Postgres and Redis data.
//! - [`drill`]: restore drills that measure the recovery time.
//! - [`freshness`]: when each volume was last backed up, and the backup alerts.
//! - [`guard`]: the checks before an app starts, and what to restore first.
//! - [`hooks`]: `[hooks]` commands around a backup, with a timeout.
//! - [`units`]: sizes (`10Gi`), percentages (`80%`) and durations (`7d`, `1d12h`).
//! - [`migrate`]: copy a volume to new storage with its metadata, verified by hash.
//! - [`mounts`]: is a path really a mount point (device numbers, `/proc/self/mountinfo`).
//! - [`import`]: railway.toml, railway.json, docker-compose.yml → holdfast.toml volumes.
//! - [`layout`]: every name holdfast owns inside a volume, the one list.
//! - [`lint`]: deployment files checked for the ways data gets lost.
//! - [`restore`]: restoring into a live volume (empty, missing files, in place, one
//!   database): stage → restore → check → commit through the swap.
//! - [`root`]: how a file PUT stays beneath its volume: fd-rooted access, durable writes.
//! - [`sqlite`]: SQLite files recognised by their header, WAL or not.
//! - [`swap`]: the one journaled stage-and-swap that replaces live data, and its recovery.
//! - [`status`]: per-volume probes: mounted, writable, space, databases, alerts.
//!
//! Reports that people read have their text form beside them (`status::text`,
//! `lint::text`, `cleanup::text`, `migrate::text`, `databases::postgres::plan_text`);
//! the front ends only print it.
//!
//! ```
//! use holdfast_volume::config::Config;
//!
//! let text = r#"
//! [[volumes]]
//! name = "app-data"
//! path = "/app/data"
//! size = "10Gi"
//! alert_at = "80%"
//! "#;
//! let config: Config = text.parse()?;
//! let volume = config.volume("app-data").expect("declared above");
//! assert_eq!(volume.size.map(|s| s.bytes()), Some(10 * 1024 * 1024 * 1024));
//! assert_eq!(volume.alert_at_percent(), 80.0);
//! # Ok::<(), holdfast_volume::config::ConfigError>(())
//! ```

pub mod backup;
pub mod child_env;
pub mod cleanup;
pub mod config;
pub mod databases;
pub mod drill;
pub mod freshness;
pub mod guard;
pub mod hooks;
pub mod import;
pub mod layout;
pub mod lint;
pub mod migrate;
pub mod mounts;
pub mod restore;
pub mod root;
pub mod select;
pub mod sqlite;
pub mod status;
pub mod swap;
pub mod units;
