//! Checks made after parsing: names, paths, the Railway mount fallback, globs, schedules
//! (parsed exactly as the scheduler parses them) and `[alerts]`.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use super::locate::{entry_line, table_key_line};
use super::{Config, ConfigError, Database, RAILWAY_MOUNT_ENV};

struct Ctx<'a> {
    text: &'a str,
    origin: &'a Path,
}

impl Ctx<'_> {
    fn entry_err(&self, table: &str, index: usize, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            file: self.origin.to_path_buf(),
            line: entry_line(self.text, table, index, Some(key)),
            key: Some(format!("{table}.{key}")),
            message,
        }
    }

    fn table_err(&self, table: &str, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            file: self.origin.to_path_buf(),
            line: table_key_line(self.text, table, key),
            key: Some(format!("{table}.{key}")),
            message,
        }
    }
}

pub(super) fn check(
    config: &mut Config,
    text: &str,
    origin: &Path,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let ctx = Ctx { text, origin };
    if let Some(repo) = &config.repository
        && repo.url.trim().is_empty()
    {
        return Err(ctx.table_err("repository", "url", "must not be empty".into()));
    }
    check_volumes(config, &ctx, base, env)?;
    for (key, value) in [
        ("backup", &config.schedule.backup),
        ("verify", &config.schedule.verify),
        ("prune", &config.schedule.prune),
    ] {
        if let Some(expr) = value {
            check_cron(expr).map_err(|m| ctx.table_err("schedule", key, m))?;
        }
    }
    if let Some(age) = config.alerts.backup_max_age
        && age.get().is_zero()
    {
        return Err(ctx.table_err(
            "alerts",
            "backup_max_age",
            "must be more than zero, such as \"26h\"".into(),
        ));
    }
    for (i, job) in config.cleanup.iter().enumerate() {
        if job.path.trim().is_empty() {
            return Err(ctx.entry_err("cleanup", i, "path", "must not be empty".into()));
        }
        if let Some(filter) = &job.filter {
            check_glob(filter).map_err(|m| ctx.entry_err("cleanup", i, "filter", m))?;
        }
        if let Some(expr) = &job.schedule {
            check_cron(expr).map_err(|m| ctx.entry_err("cleanup", i, "schedule", m))?;
        }
    }
    for mime in &config.uploads.allow {
        if !mime.contains('/') {
            return Err(ctx.table_err(
                "uploads",
                "allow",
                format!("`{mime}` is not a MIME type such as image/png"),
            ));
        }
    }
    Ok(())
}

fn check_volumes(
    config: &mut Config,
    ctx: &Ctx<'_>,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let mut names = HashSet::new();
    let mut fallback_used: Option<String> = None;
    for (i, volume) in config.volumes.iter_mut().enumerate() {
        let err = |key: &str, message: String| ctx.entry_err("volumes", i, key, message);
        if !valid_name(&volume.name) {
            return Err(err(
                "name",
                format!(
                    "volume name `{}` must be non-empty letters, digits, `.`, `_` or `-`",
                    volume.name
                ),
            ));
        }
        if !names.insert(volume.name.clone()) {
            return Err(err(
                "name",
                format!("volume name `{}` is used twice", volume.name),
            ));
        }
        if volume.path.as_os_str().is_empty() {
            if let Some(other) = &fallback_used {
                return Err(err(
                    "path",
                    format!(
                        "volumes `{other}` and `{}` both lack a path; only one can take \
                         {RAILWAY_MOUNT_ENV}",
                        volume.name
                    ),
                ));
            }
            let from_env = env(RAILWAY_MOUNT_ENV).filter(|p| !p.trim().is_empty());
            let Some(p) = from_env else {
                return Err(err(
                    "path",
                    format!(
                        "volume `{}` has no path and {RAILWAY_MOUNT_ENV} is not set",
                        volume.name
                    ),
                ));
            };
            volume.path = PathBuf::from(p);
            fallback_used = Some(volume.name.clone());
        }
        if volume.path.is_relative() {
            volume.path = base.join(&volume.path);
        }
        for pattern in &volume.exclude {
            check_glob(pattern).map_err(|m| err("exclude", m))?;
        }
        for file in &volume.restore_if_missing {
            if !is_inner_relative(file) {
                return Err(err(
                    "restore_if_missing",
                    format!(
                        "`{}` must be a relative path inside the volume",
                        file.display()
                    ),
                ));
            }
        }
        for db in &volume.databases {
            check_database(db, &volume.path).map_err(|m| err("databases", m))?;
        }
    }
    Ok(())
}

fn check_database(db: &Database, volume_path: &Path) -> Result<(), String> {
    match db {
        Database::Sqlite {
            path, replicate, ..
        } => {
            if path.as_os_str().is_empty() {
                return Err("a sqlite database needs a path".into());
            }
            if let Some(every) = replicate
                && !(std::time::Duration::from_millis(100)..=std::time::Duration::from_secs(3600))
                    .contains(&every.get())
            {
                return Err(format!(
                    "sqlite database {}: replicate = {every} is out of range (100ms to 1h)",
                    path.display()
                ));
            }
            if path.is_absolute() && !path.starts_with(volume_path) {
                return Err(format!(
                    "sqlite database {} lies outside the volume {}; its data would not survive \
                     a redeploy",
                    path.display(),
                    volume_path.display()
                ));
            }
            if path.is_relative() && !is_inner_relative(path) {
                return Err(format!(
                    "sqlite path `{}` must stay inside the volume",
                    path.display()
                ));
            }
        }
        Database::Postgres { url, .. } => {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err("a postgres database needs url = \"postgres://user@host/db\"".into());
            }
        }
        Database::Redis { url, path, .. } => {
            if url.is_none() && path.is_none() {
                return Err("a redis database needs a url or the path of its dump file".into());
            }
        }
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name != "."
        && name != ".."
}

fn is_inner_relative(path: &Path) -> bool {
    path.is_relative() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

fn check_glob(pattern: &str) -> Result<(), String> {
    globset::Glob::new(pattern)
        .map(|_| ())
        .map_err(|e| format!("bad glob `{pattern}`: {e}"))
}

/// The cron expression as the scheduler reads it (five fields, an optional leading
/// seconds field, or `@daily`-style shorthands).
fn check_cron(expr: &str) -> Result<(), String> {
    crate::freshness::parse_cron(expr).map(|_| ())
}
