//! Checks of the `[[replicas]]` entries: a URL, exactly one password source
//! (`password_file` or `password_env`; the source repository's password is never used
//! for a replica), a `schedule` that is `after-backup` (the default) or a cron
//! expression parsed as the scheduler parses it, and names that differ (they label the
//! metrics). Messages never echo a URL: it may hold credentials.

use std::collections::HashSet;
use std::path::Path;

use super::locate::entry_line;
use super::{Config, ConfigError};
use crate::config::AFTER_BACKUP;

pub(super) fn check(config: &Config, text: &str, origin: &Path) -> Result<(), ConfigError> {
    let mut names = HashSet::new();
    for (i, r) in config.replicas.iter().enumerate() {
        let err = |key: &str, message: String| ConfigError::Invalid {
            file: origin.to_path_buf(),
            line: entry_line(text, "replicas", i, Some(key)),
            key: Some(format!("replicas.{key}")),
            message,
        };
        if r.url.trim().is_empty() {
            return Err(err("url", "must not be empty".into()));
        }
        match (&r.password_file, &r.password_env) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "password_env",
                    "set password_file or password_env, not both".into(),
                ));
            }
            (None, None) => {
                return Err(err(
                    "url",
                    "the replica needs its own password: set password_file or password_env".into(),
                ));
            }
            (Some(f), None) if f.as_os_str().is_empty() => {
                return Err(err("password_file", "must not be empty".into()));
            }
            (None, Some(v)) if v.trim().is_empty() => {
                return Err(err("password_env", "must not be empty".into()));
            }
            _ => {}
        }
        if let Some(s) = &r.schedule
            && s.trim() != AFTER_BACKUP
        {
            crate::freshness::parse_cron(s).map_err(|m| {
                err(
                    "schedule",
                    format!("{m}; or \"{AFTER_BACKUP}\" to replicate after every backup"),
                )
            })?;
        }
        if let Some(name) = &r.name
            && name.trim().is_empty()
        {
            return Err(err("name", "must not be empty".into()));
        }
        let shown = r.display_name();
        if !names.insert(shown.clone()) {
            return Err(err(
                if r.name.is_some() { "name" } else { "url" },
                format!("two replicas are named `{shown}`; give each a different name"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};

    fn invalid(text: &str) -> String {
        match Config::from_toml(text, Path::new("holdfast.toml"), &|_| None) {
            Err(e @ ConfigError::Invalid { .. }) => e.to_string(),
            other => panic!("expected an invalid config, got {other:?}"),
        }
    }

    #[test]
    fn replica_errors_name_file_line_and_key() {
        let e = invalid(
            "[[replicas]]\nurl = \"file:///r\"\npassword_env = \"P\"\nschedule = \"every day\"\n",
        );
        assert!(e.starts_with("holdfast.toml:4:"), "{e}");
        assert!(e.contains("after-backup"), "{e}");
        let e = invalid("[[replicas]]\nurl = \"file:///r\"\n");
        assert!(e.starts_with("holdfast.toml:2:"), "{e}");
        assert!(e.contains("password_file or password_env"), "{e}");
        let e = invalid(
            "[[replicas]]\nurl = \"file:///r\"\npassword_env = \"P\"\npassword_file = \"/p\"\n",
        );
        assert!(e.starts_with("holdfast.toml:3:"), "{e}");
        let e = invalid(
            "[[replicas]]\nname = \"a\"\nurl = \"file:///r\"\npassword_env = \"P\"\n\
             [[replicas]]\nname = \"a\"\nurl = \"file:///s\"\npassword_env = \"P\"\n",
        );
        assert!(e.starts_with("holdfast.toml:6:"), "{e}");
    }

    #[test]
    fn replica_schedules_parse() {
        let c: Config = "[[replicas]]\nurl = \"s3://u:secret@h/b\"\npassword_env = \"P\"\n\
                         [[replicas]]\nurl = \"file:///r\"\npassword_env = \"P\"\n\
                         schedule = \"30 3 * * *\"\n"
            .parse()
            .expect("valid config");
        assert!(c.replicas[0].after_backup(), "after-backup is the default");
        assert!(!c.replicas[1].after_backup());
    }
}
