//! What the programs holdfast starts get to see. A fake `pg_dump`, `psql` and
//! `pg_restore` first on `PATH` record their command line and environment, and a
//! `before_backup` hook records its environment, while `holdfast backup` and `holdfast
//! restore --database` run with holdfast's own secrets set to marker values and a
//! Postgres URL holding a marker password. Invariants: no recorded command line holds
//! the password; no recorded environment holds a holdfast secret; the password reaches
//! the Postgres tools only as `PGPASSWORD`; and nothing holdfast prints holds a marker.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use super::volume_util::{TestDir, outcome};

const REPO_PASSWORD: &str = "marker-repo-password-81ac";
const API_TOKEN: &str = "marker-api-token-2f9d";
const AWS_SECRET: &str = "marker-aws-secret-77e1";
const DB_PASSWORD: &str = "marker-db-password-c3b0";
const EXTRA_SECRET: &str = "marker-extra-password-9d41";

/// Records `$0`'s argv (NUL-separated, as /proc shows it) and environment into the
/// record directory, then behaves like the real tool as far as holdfast needs.
const FAKE_TOOL: &str = r#"#!/bin/sh
rec="$RECORD_DIR"
[ -n "$rec" ] || rec="__RECORD__"
n="$(basename "$0")-$$"
cat /proc/$$/cmdline > "$rec/$n.argv"
env > "$rec/$n.env"
case "$(basename "$0")" in
  psql) echo "16.4" ;;
  pg_dump)
    case "$*" in
      *--version*) echo "pg_dump (PostgreSQL) 16.4" ;;
      *) printf 'PGDMP-fake-dump' ;;
    esac ;;
  pg_restore) cat > /dev/null ;;
esac
"#;

fn fake_tools(bin: &Path, record: &Path) {
    std::fs::create_dir_all(bin).expect("bin dir");
    let script = FAKE_TOOL.replace("__RECORD__", &record.to_string_lossy());
    for tool in ["pg_dump", "psql", "pg_restore"] {
        let p = bin.join(tool);
        std::fs::write(&p, &script).expect("fake tool");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

fn holdfast(t: &TestDir, bin: &Path, args: &[&str]) -> (i32, String, String) {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(args)
        .current_dir(t.path())
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_REPOSITORY")
        .env_remove("HOLDFAST_PASSWORD_FILE")
        .env_remove("RAILWAY_VOLUME_MOUNT_PATH")
        .env_remove("PGPASSWORD")
        .env("PATH", path)
        .env("HOLDFAST_PASSWORD", REPO_PASSWORD)
        .env("HOLDFAST_API_TOKEN", API_TOKEN)
        .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
        .env("AWS_SESSION_TOKEN", AWS_SECRET)
        .env("HOLDFAST_SMTP_PASSWORD", EXTRA_SECRET)
        .env(
            "APP_DATABASE_URL",
            format!("postgres://shop:{DB_PASSWORD}@db/shop"),
        )
        .env("RUST_LOG", "trace")
        .output()
        .expect("run holdfast");
    outcome(&out)
}

#[test]
fn children_never_see_holdfast_secrets_or_the_password_on_their_command_line() {
    let t = TestDir::new();
    let record = t.path().join("record");
    std::fs::create_dir_all(&record).expect("record dir");
    let bin = t.path().join("bin");
    fake_tools(&bin, &record);
    t.write("vol/notes.txt", "hello");
    let config = format!(
        r#"[repository]
url = "file://{repo}"

[[volumes]]
name = "data"
path = "vol"
databases = [{{ kind = "postgres", name = "shop", url = "postgres://shop:{DB_PASSWORD}@127.0.0.1:5432/shop?sslmode=disable" }}]

[hooks]
before_backup = ["env > {rec}/hook.env; cat /proc/$$/cmdline > {rec}/hook.argv"]
"#,
        repo = t.path().join("repo").display(),
        rec = record.display(),
    );
    t.write("holdfast.toml", config);
    let mut printed = Vec::new();
    let (code, out, err) = holdfast(&t, &bin, &["-vvv", "init"]);
    assert_eq!(code, 0, "init: {out}\n{err}");
    printed.push(out + &err);
    let (code, out, err) = holdfast(&t, &bin, &["-vvv", "backup"]);
    assert_eq!(code, 0, "backup: {out}\n{err}");
    printed.push(out + &err);
    let (code, out, err) = holdfast(
        &t,
        &bin,
        &["-vvv", "restore", "latest", "--database", "shop", "--yes"],
    );
    assert_eq!(code, 0, "restore --database: {out}\n{err}");
    printed.push(out + &err);

    let mut recorded: Vec<(String, String)> = std::fs::read_dir(&record)
        .expect("records")
        .map(|e| {
            let e = e.expect("entry");
            let text = String::from_utf8_lossy(&std::fs::read(e.path()).expect("read record"))
                .replace('\0', " ");
            (e.file_name().to_string_lossy().into_owned(), text)
        })
        .collect();
    recorded.sort();
    let names: Vec<&str> = recorded.iter().map(|(n, _)| n.as_str()).collect();
    for prefix in ["hook.env", "pg_dump-", "psql-", "pg_restore-"] {
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "no record of {prefix}: {names:?}"
        );
    }
    let holdfast_secrets = [REPO_PASSWORD, API_TOKEN, AWS_SECRET, EXTRA_SECRET];
    for (name, text) in &recorded {
        for secret in holdfast_secrets {
            assert!(
                !text.contains(secret),
                "{name} holds a holdfast secret:\n{text}"
            );
        }
        if name.ends_with(".argv") {
            assert!(
                !text.contains(DB_PASSWORD),
                "{name}: password on the command line: {text}"
            );
        }
        if name.ends_with(".env") {
            for line in text.lines() {
                if line.contains(DB_PASSWORD) {
                    assert!(
                        name.starts_with("pg") || name.starts_with("psql"),
                        "{name} got the database password: {line}"
                    );
                    assert_eq!(line, format!("PGPASSWORD={DB_PASSWORD}"), "{name}");
                }
            }
        }
        if name.ends_with(".env") && !name.starts_with("hook") {
            assert!(
                text.lines()
                    .any(|l| l == format!("PGPASSWORD={DB_PASSWORD}")),
                "{name} did not get PGPASSWORD:\n{text}"
            );
        }
    }
    for text in &printed {
        for secret in holdfast_secrets.iter().chain([&DB_PASSWORD]) {
            assert!(!text.contains(secret), "holdfast printed a secret:\n{text}");
        }
    }
}
