//! holdfast.toml: the data model ([`Config`] and its tables), loading with errors that
//! name the file, line and key, and the checks that serde alone cannot make (unique
//! volume names, the `RAILWAY_VOLUME_MOUNT_PATH` fallback, valid globs and schedules).
//!
//! Relative volume paths are taken relative to the directory of the config file, so a
//! Compose project can say `path = "data"`.

mod locate;
mod model;
mod validate;
mod validate_notify;
mod validate_replicas;

use std::path::{Path, PathBuf};

pub(crate) use locate::line_of;

pub use model::{
    AFTER_BACKUP, Alerts, CleanupJob, Config, DEFAULT_ALERT_AT, Database, Hooks, NOTIFY_EVENTS,
    Notify, NotifyKind, Priority, Replica, Repository, Retention, Schedule, Serve, Uploads, Volume,
};

/// The environment variable Railway sets to the mount path of a service's volume.
pub const RAILWAY_MOUNT_ENV: &str = "RAILWAY_VOLUME_MOUNT_PATH";

/// The default config file name.
pub const DEFAULT_FILE: &str = "holdfast.toml";

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {}: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, or a value is invalid.
    #[error("{}{}: {}{message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default(),
            key.as_ref().map(|k| format!("`{k}`: ")).unwrap_or_default())]
    Invalid {
        /// The config file (or a label such as `holdfast.toml` for text).
        file: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// Dotted key, such as `volumes.size`, when known.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// The line the error points at, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { line, .. } => *line,
            ConfigError::Read { .. } => None,
        }
    }
}

impl Config {
    /// Reads and checks a config file; relative volume paths are resolved against its
    /// directory and a missing volume `path` comes from `RAILWAY_VOLUME_MOUNT_PATH`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, path, &|k| std::env::var(k).ok())
    }

    /// Like [`Config::load`], but a file that does not exist gives `Ok(None)`.
    pub fn load_optional(path: &Path) -> Result<Option<Config>, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::from_toml(&text, path, &|k| std::env::var(k).ok()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses config text. `origin` names the file in messages and anchors relative
    /// volume paths (its parent directory, made absolute); `env` looks up environment
    /// variables.
    pub fn from_toml(
        text: &str,
        origin: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let span = e.span();
            ConfigError::Invalid {
                file: origin.to_path_buf(),
                line: span.as_ref().map(|s| locate::line_of(text, s.start)),
                key: span.as_ref().and_then(|s| locate::key_at(text, s)),
                message: e.message().trim().to_string(),
            }
        })?;
        let base = std::path::absolute(origin)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        validate::check(&mut config, text, origin, &base, env)?;
        validate_notify::check(&config, text, origin)?;
        validate_replicas::check(&config, text, origin)?;
        config.source = Some(origin.to_path_buf());
        Ok(config)
    }
}

impl std::str::FromStr for Config {
    type Err = ConfigError;

    /// Parses config text as if read from `./holdfast.toml`, with the process environment.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Config::from_toml(text, Path::new(DEFAULT_FILE), &|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests;
