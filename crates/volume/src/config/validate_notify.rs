//! Checks of the `[[notify]]` targets: an `http://` or `https://` URL with a host, and an
//! `events` filter that names known events. Messages never echo a URL (its path or
//! query may be the secret).

use std::path::Path;

use super::locate::entry_line;
use super::{Config, ConfigError, NOTIFY_EVENTS};

pub(super) fn check(config: &Config, text: &str, origin: &Path) -> Result<(), ConfigError> {
    for (i, target) in config.notify.iter().enumerate() {
        let err = |key: &str, message: String| ConfigError::Invalid {
            file: origin.to_path_buf(),
            line: entry_line(text, "notify", i, Some(key)),
            key: Some(format!("notify.{key}")),
            message,
        };
        check_url(&target.url).map_err(|m| err("url", m))?;
        if let Some(events) = &target.events {
            if events.is_empty() {
                return Err(err(
                    "events",
                    "lists no event; leave `events` out to get every event".into(),
                ));
            }
            for name in events {
                if !NOTIFY_EVENTS.contains(&name.as_str()) {
                    return Err(err(
                        "events",
                        format!(
                            "unknown event `{name}`; known: {}",
                            NOTIFY_EVENTS.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "a notification URL must be http:// or https://, not {}://",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("holdfast.toml"), &|_| None)
    }

    #[test]
    fn targets_parse_with_filters() {
        let config = load(
            "[[notify]]\nkind = \"webhook\"\nurl = \"https://hooks.example/t/abc\"\n\n\
             [[notify]]\nkind = \"healthchecks\"\nurl = \"http://127.0.0.1:8000/ping/uuid\"\n\
             events = [\"backup_started\", \"backup_ok\", \"backup_failed\"]\n",
        )
        .expect("valid");
        assert_eq!(config.notify.len(), 2);
        assert!(config.notify[0].wants("usage_alert"));
        assert!(config.notify[1].wants("backup_ok"));
        assert!(!config.notify[1].wants("verify_ok"));
    }

    #[test]
    fn a_bad_url_names_the_line_and_hides_the_url() {
        let text = "[[notify]]\nkind = \"ntfy\"\nurl = \"ftp://u:SECRETPW@host/topic\"\n";
        let e = load(text).expect_err("ftp is refused").to_string();
        assert!(e.starts_with("holdfast.toml:3: `notify.url`: "), "{e}");
        assert!(e.contains("http:// or https://"), "{e}");
        assert!(!e.contains("SECRETPW") && !e.contains("topic"), "{e}");

        let text = "[[notify]]\nkind = \"webhook\"\nurl = \"not a url SECRETPW\"\n";
        let e = load(text).expect_err("not a URL").to_string();
        assert!(
            e.starts_with("holdfast.toml:3: `notify.url`: not a URL"),
            "{e}"
        );
        assert!(!e.contains("SECRETPW"), "{e}");
    }

    #[test]
    fn an_unknown_event_or_kind_is_refused() {
        let text = "[[notify]]\nkind = \"webhook\"\nurl = \"http://h/x\"\n\n[[notify]]\n\
                    kind = \"webhook\"\nurl = \"http://h/y\"\nevents = [\"backup_ok\", \"bakup_failed\"]\n";
        let e = load(text).expect_err("unknown event").to_string();
        assert!(e.starts_with("holdfast.toml:8: `notify.events`: "), "{e}");
        assert!(e.contains("unknown event `bakup_failed`"), "{e}");
        assert!(e.contains("backup_failed"), "{e}");

        let text = "[[notify]]\nkind = \"webhook\"\nurl = \"http://h/x\"\nevents = []\n";
        let e = load(text).expect_err("empty filter").to_string();
        assert!(e.starts_with("holdfast.toml:4: `notify.events`: "), "{e}");

        let text = "[[notify]]\nkind = \"slack\"\nurl = \"http://h/x\"\n";
        let e = load(text).expect_err("unknown kind").to_string();
        assert!(e.starts_with("holdfast.toml:2: `notify.kind`: "), "{e}");
    }

    #[test]
    fn debug_shows_the_url_redacted() {
        let config = load(
            "[[notify]]\nkind = \"healthchecks\"\n\
             url = \"https://u:pw@hc-ping.com:8443/0f6d-SECRET-uuid?rid=SECRET\"\n",
        )
        .expect("valid");
        let target = &config.notify[0];
        assert_eq!(target.redacted_url(), "https://hc-ping.com:8443/…");
        assert!(!format!("{target:?}").contains("SECRET"));
    }
}
