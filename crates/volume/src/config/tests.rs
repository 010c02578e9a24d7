//! Tests of holdfast.toml parsing and checking.

use std::path::{Path, PathBuf};

use super::*;
use crate::units::ByteSize;

const FULL: &str = r#"
[repository]
url = "s3://backups/myapp?endpoint=http://127.0.0.1:3900&region=garage"

[[volumes]]
name = "app-data"
path = "/app/data"
size = "10Gi"
priority = "critical"
require_mount = true
alert_at = "80%"
exclude = ["cache/**"]
databases = [{ kind = "sqlite", path = "db/app.db" }, { kind = "postgres", name = "shop", url = "postgres://u@h/shop" }]
restore_if_missing = ["db/app.db"]

[[volumes]]
name = "uploads"
path = "uploads"

[schedule]
backup = "0 2 * * *"
verify = "0 4 * * 0"
prune = "@weekly"

[[cleanup]]
path = "/app/data/tmp"
older_than = "7d"
filter = "*.tmp"

[retention]
keep_last = 5
keep_daily = 7
keep_weekly = 4
keep_monthly = 12
keep_within = "1d12h"

[uploads]
max_size = "10MiB"
allow = ["image/jpeg", "image/png", "image/gif", "application/pdf"]

[hooks]
before_backup = ["docker compose stop target"]
after_backup = ["docker compose start target"]
timeout = "5m"
"#;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("/etc/app/holdfast.toml"), &no_env)
}

fn invalid(text: &str) -> (Option<usize>, Option<String>, String) {
    match parse(text) {
        Err(ConfigError::Invalid {
            line, key, message, ..
        }) => (line, key, message),
        other => panic!("expected an invalid config, got {other:?}"),
    }
}

#[test]
fn full_example_parses() {
    let c = parse(FULL).expect("valid config");
    assert_eq!(
        c.repository_url(),
        Some("s3://backups/myapp?endpoint=http://127.0.0.1:3900&region=garage")
    );
    let v = &c.volumes[0];
    assert_eq!(v.size, Some(ByteSize(10 << 30)));
    assert_eq!(v.priority, Priority::Critical);
    assert!(v.require_mount);
    assert_eq!(v.alert_at_percent(), 80.0);
    assert!(v.sqlite_autodetect);
    assert_eq!(v.sqlite_paths(), vec![PathBuf::from("/app/data/db/app.db")]);
    assert_eq!(v.databases[1].name(), "shop");
    assert_eq!(c.volumes[1].path, PathBuf::from("/etc/app/uploads"));
    assert_eq!(c.volumes[1].alert_at_percent(), DEFAULT_ALERT_AT);
    assert_eq!(c.retention.keep_last, Some(5));
    assert_eq!(
        c.retention.keep_within.map(|d| d.get().as_secs()),
        Some(129_600)
    );
    assert_eq!(c.uploads.max_size, Some(ByteSize(10 << 20)));
    assert_eq!(c.cleanup[0].older_than.get().as_secs(), 7 * 86_400);
    assert_eq!(c.hooks.timeout.map(|d| d.get().as_secs()), Some(300));
}

#[test]
fn unknown_key_names_line_and_key() {
    let (line, key, message) =
        invalid("[[volumes]]\nname = \"a\"\npath = \"/a\"\nsizee = \"1Gi\"\n");
    assert_eq!(line, Some(4));
    assert_eq!(key.as_deref(), Some("volumes.sizee"));
    assert!(message.contains("unknown field"), "{message}");
}

#[test]
fn bad_size_names_line_and_key() {
    let (line, key, message) =
        invalid("[[volumes]]\nname = \"a\"\npath = \"/a\"\nsize = \"10Zi\"\n");
    assert_eq!(line, Some(4));
    assert_eq!(key.as_deref(), Some("volumes.size"));
    assert!(message.contains("10Zi"), "{message}");
}

#[test]
fn bad_percent_and_duration() {
    let (line, key, _) = invalid("[[volumes]]\nname = \"a\"\npath = \"/a\"\nalert_at = \"120%\"\n");
    assert_eq!((line, key.as_deref()), (Some(4), Some("volumes.alert_at")));
    let (_, _, message) = invalid("[[volumes]]\nname = \"a\"\npath = \"/a\"\nalert_at = 0.8\n");
    assert!(message.contains("\"80%\""), "{message}");
    let (line, key, _) = invalid("[retention]\nkeep_within = \"7\"\n");
    assert_eq!(
        (line, key.as_deref()),
        (Some(2), Some("retention.keep_within"))
    );
}

#[test]
fn unknown_database_field_and_kind() {
    let (line, _, message) = invalid(
        "[[volumes]]\nname = \"a\"\npath = \"/a\"\ndatabases = [{ kind = \"sqlite\", paht = \"x\" }]\n",
    );
    assert_eq!(line, Some(4));
    assert!(message.contains("paht"), "{message}");
    let (_, _, message) = invalid(
        "[[volumes]]\nname = \"a\"\npath = \"/a\"\ndatabases = [{ kind = \"mongo\", path = \"x\" }]\n",
    );
    assert!(message.contains("mongo"), "{message}");
    let (_, key, _) = invalid(
        "[[volumes]]\nname = \"a\"\npath = \"/a\"\ndatabases = [{ kind = \"mongo\", path = \"x\" }]\n",
    );
    assert_eq!(key.as_deref(), Some("volumes.databases.kind"));
}

#[test]
fn path_falls_back_to_railway_env() {
    let env = |k: &str| (k == RAILWAY_MOUNT_ENV).then(|| "/railway/vol".to_string());
    let c = Config::from_toml(
        "[[volumes]]\nname = \"a\"\n",
        Path::new("holdfast.toml"),
        &env,
    )
    .expect("valid");
    assert_eq!(c.volumes[0].path, PathBuf::from("/railway/vol"));

    let (line, key, message) = invalid("[[volumes]]\nname = \"a\"\n");
    assert_eq!((line, key.as_deref()), (Some(1), Some("volumes.path")));
    assert!(message.contains(RAILWAY_MOUNT_ENV), "{message}");

    let two = "[[volumes]]\nname = \"a\"\n[[volumes]]\nname = \"b\"\n";
    let err = Config::from_toml(two, Path::new("holdfast.toml"), &env).expect_err("two fallbacks");
    assert_eq!(err.line(), Some(3));
}

#[test]
fn semantic_errors_point_at_their_entry() {
    let (line, key, _) = invalid(
        "[[volumes]]\nname = \"a\"\npath = \"/a\"\n\n[[volumes]]\nname = \"a\"\npath = \"/b\"\n",
    );
    assert_eq!((line, key.as_deref()), (Some(6), Some("volumes.name")));
    let (line, _, message) = invalid(
        "[[volumes]]\nname = \"a\"\npath = \"/a\"\ndatabases = [{ kind = \"sqlite\", path = \"/b/x.db\" }]\n",
    );
    assert_eq!(line, Some(4));
    assert!(message.contains("outside the volume"), "{message}");
    let (line, key, _) = invalid("[schedule]\nbackup = \"every day\"\n");
    assert_eq!((line, key.as_deref()), (Some(2), Some("schedule.backup")));
    let (_, key, _) = invalid("[[volumes]]\nname = \"a b\"\npath = \"/a\"\n");
    assert_eq!(key.as_deref(), Some("volumes.name"));
}

#[test]
fn error_display_names_file_line_and_key() {
    let err = parse("[[volumes]]\nname = \"a\"\npath = \"/a\"\nsizee = 1\n").expect_err("invalid");
    let text = err.to_string();
    assert!(
        text.starts_with("/etc/app/holdfast.toml:4: `volumes.sizee`: "),
        "{text}"
    );
}

#[test]
fn load_optional_missing_is_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("holdfast.toml");
    assert!(Config::load_optional(&missing).expect("no error").is_none());
    assert!(matches!(
        Config::load(&missing),
        Err(ConfigError::Read { .. })
    ));
    std::fs::write(&missing, "[[volumes]]\nname = \"d\"\npath = \"data\"\n").expect("write");
    let c = Config::load_optional(&missing)
        .expect("valid")
        .expect("present");
    assert_eq!(c.volumes[0].path, dir.path().join("data"));
    assert_eq!(c.source.as_deref(), Some(missing.as_path()));
}

/// `restore --database NAME`: a SQLite database answers to its file name and to its path
/// in the volume, as the issue's `--database db/app.db` writes it; never to another path.
#[test]
fn a_sqlite_database_answers_to_its_name_and_its_path_in_the_volume() {
    let config: Config = "[[volumes]]\nname = \"v\"\npath = \"/v\"\n\
                          databases = [{ kind = \"sqlite\", path = \"db/app.db\" }]\n"
        .parse()
        .expect("config");
    let db = &config.volumes[0].databases[0];
    assert!(db.answers_to("app.db"));
    assert!(db.answers_to("db/app.db"));
    assert!(!db.answers_to("other/app.db"));
}
