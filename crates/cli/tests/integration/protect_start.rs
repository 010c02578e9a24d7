//! Never silently unprotected, at start: each way `serve`/`run` can be started without
//! working backups prints one warning block on stderr naming the reason, shows it as
//! the status page's red banner and as a backup alert of every volume in
//! `/api/v1/status`, while `/readyz` stays about the volumes; `[alerts]
//! require_backups = true` makes `run` refuse to start the app. A schedule the scheduler
//! cannot read is a config error with file and line for every command.

use std::net::TcpListener;

use reqwest::StatusCode;

use super::serve_backup::{PASSWORD, prepare};
use super::serve_util::{Server, Setup};
use super::volume_util::{TestDir, outcome};

const SCHEDULE: &str = "[schedule]\nbackup = \"0 2 * * *\"\n";
const VOLUME: &str = "[[volumes]]\nname = \"data\"\npath = \"vol\"\n";

fn repo_table() -> String {
    "[repository]\nurl = \"file://{dir}/repo\"\n".to_string()
}

/// A setup whose config is `parts` joined, with the password unless `password` is None.
fn setup(parts: &[&str], password: Option<&str>) -> Setup {
    let mut s = Setup::new(&parts.concat());
    if let Some(p) = password {
        s.env.push(("HOLDFAST_PASSWORD".into(), p.into()));
    }
    s
}

/// Starts `serve`, waits for the warning block and checks it, the banner, the status
/// API and readiness; returns the block.
fn warns(setup: Setup, prepare_dir: impl FnOnce(&std::path::Path), reason: &str) -> String {
    let s = Server::start(setup, prepare_dir);
    let log = s.wait_log("holdfast: the status page and /api/v1/status show this");
    let block: Vec<&str> = log
        .lines()
        .skip_while(|l| !l.contains("WARNING: backups cannot run"))
        .take_while(|l| l.starts_with("holdfast: "))
        .collect();
    let block = block.join("\n");
    assert!(block.contains(reason), "{reason:?} not in {block}");
    assert_eq!(
        log.matches("WARNING: backups cannot run").count(),
        1,
        "one block: {log}"
    );
    assert!(
        !log.contains(PASSWORD) && !log.contains("not-a-real-secret"),
        "{log}"
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let page = reqwest::get(s.url("/"))
            .await
            .expect("status page")
            .text()
            .await
            .expect("body");
        let banner = page
            .split("<div class=\"banner\"")
            .nth(1)
            .and_then(|b| b.split("</div>").next())
            .unwrap_or_else(|| panic!("no banner: {page}"));
        assert!(banner.contains("NOT protected"), "{banner}");
        assert!(banner.contains(reason), "{reason:?} not in {banner}");
        assert!(!page.contains(" healthy<"), "{page}");
        let status: serde_json::Value = s
            .authed(reqwest::Method::GET, "/api/v1/status")
            .send()
            .await
            .expect("status")
            .text()
            .await
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .expect("json");
        let alerts = status[0]["alerts"].to_string();
        assert!(alerts.contains("backups cannot run"), "{alerts}");
        let ready = reqwest::get(s.url("/readyz")).await.expect("readyz");
        assert_eq!(
            ready.status(),
            StatusCode::OK,
            "backups do not gate readiness"
        );
    });
    block
}

#[test]
fn no_password_warns_at_start() {
    let block = warns(
        setup(&[&repo_table(), VOLUME, SCHEDULE], None),
        prepare,
        "no repository password: set HOLDFAST_PASSWORD, or pass --password-file FILE or --password-command CMD",
    );
    assert_eq!(block.lines().count(), 3, "{block}");
}

#[test]
fn no_repository_warns_at_start() {
    warns(
        setup(&[VOLUME, SCHEDULE], Some(PASSWORD)),
        prepare,
        "no repository configured: set [repository] url in holdfast.toml, HOLDFAST_REPOSITORY or STORAGE_TYPE",
    );
}

#[test]
fn an_uninitialised_repository_warns_at_start() {
    warns(
        setup(&[&repo_table(), VOLUME, SCHEDULE], Some(PASSWORD)),
        |d| std::fs::create_dir_all(d.join("vol")).expect("mkdir"),
        "run `holdfast init` to create one there",
    );
}

#[test]
fn a_wrong_password_warns_at_start() {
    warns(
        setup(&[&repo_table(), VOLUME, SCHEDULE], Some("not the password")),
        prepare,
        "wrong password for repository",
    );
}

#[test]
fn a_missing_schedule_warns_at_start() {
    warns(
        setup(&[&repo_table(), VOLUME], Some(PASSWORD)),
        prepare,
        "no [schedule] backup in holdfast.toml: nothing backs the volumes up",
    );
}

#[test]
fn an_unreachable_store_warns_at_start() {
    // A port nothing listens on: every request is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let repo = format!(
        "[repository]\nurl = \"s3://bucket/prefix?endpoint=http://127.0.0.1:{port}&region=test\"\n"
    );
    let mut s = setup(&[&repo, VOLUME, SCHEDULE], Some(PASSWORD));
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
        ("AWS_SECRET_ACCESS_KEY", "not-a-real-secret"),
        ("HOLDFAST_STORE_RETRY_FOR", "1s"),
        ("HOLDFAST_STORE_TIMEOUT", "300ms"),
    ] {
        s.env.push((k.into(), v.into()));
    }
    warns(
        s,
        |d| std::fs::create_dir_all(d.join("vol")).expect("mkdir"),
        "unavailable: gave up after",
    );
}

#[test]
fn ready_requires_backup_makes_readyz_fail() {
    let s = Server::start(
        setup(
            &[VOLUME, SCHEDULE, "[alerts]\nready_requires_backup = true\n"],
            Some(PASSWORD),
        ),
        |d| std::fs::create_dir_all(d.join("vol")).expect("mkdir"),
    );
    s.wait_log("WARNING: backups cannot run");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let r = reqwest::get(s.url("/readyz")).await.expect("readyz");
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = r.text().await.expect("body");
        assert!(body.contains("backups cannot run"), "{body}");
    });
}

/// `run` with a marker-writing app: the app starts and the block is printed.
#[test]
fn run_without_a_repository_starts_the_app_and_warns() {
    let s = Server::start_with(
        setup(&[VOLUME, SCHEDULE], Some(PASSWORD)),
        &[
            "run",
            "--listen",
            "127.0.0.1:0",
            "--",
            "sh",
            "-c",
            "touch started; exec sleep 600",
        ],
        |d| std::fs::create_dir_all(d.join("vol")).expect("mkdir"),
    );
    let log = s.wait_log("WARNING: backups cannot run");
    assert!(log.contains("no repository configured"), "{log}");
    let start = std::time::Instant::now();
    while !s.path("started").exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "app not started"
        );
        std::thread::park_timeout(std::time::Duration::from_millis(20));
    }
}

#[test]
fn require_backups_refuses_to_start_the_app() {
    let t = TestDir::new();
    t.write(
        "holdfast.toml",
        format!(
            "{}{VOLUME}{SCHEDULE}[alerts]\nrequire_backups = true\n",
            repo_table().replace("{dir}", &t.path().to_string_lossy())
        ),
    );
    prepare(t.path());
    let out = Server::command(t.path())
        .args(["run", "--no-serve", "--", "touch", "started"])
        .output()
        .expect("run holdfast");
    let (code, _, stderr) = outcome(&out);
    assert_eq!(code, 1, "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("holdfast: error"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("refusing to start touch")
            && errors[0].contains("require_backups")
            && errors[0].contains("no repository password"),
        "{stderr}"
    );
    assert!(!t.path().join("started").exists(), "the app must not start");

    let out = Server::command(t.path())
        .args(["run", "--no-serve", "--", "touch", "started"])
        .env("HOLDFAST_PASSWORD", PASSWORD)
        .output()
        .expect("run holdfast");
    let (code, _, stderr) = outcome(&out);
    assert_eq!(code, 1, "--no-serve runs no backups: {stderr}");
    assert!(stderr.contains("--no-serve"), "{stderr}");
}

/// Finding: `[schedule] backup = "61 * * * *"` passed `status` and only `serve` refused
/// it, without naming the file or line.
#[test]
fn a_bad_cron_expression_is_a_config_error_with_file_and_line() {
    let t = TestDir::new();
    t.write(
        "holdfast.toml",
        "[[volumes]]\nname = \"data\"\npath = \"vol\"\n\n[schedule]\nbackup = \"61 * * * *\"\n",
    );
    std::fs::create_dir(t.path().join("vol")).expect("mkdir");
    for args in [&["status"][..], &["serve", "--listen", "127.0.0.1:0"]] {
        let (code, _, stderr) = outcome(&t.holdfast(args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("holdfast.toml:6: `schedule.backup`"),
            "{args:?}: {stderr}"
        );
    }
    t.write(
        "holdfast.toml",
        "[[volumes]]\nname = \"data\"\npath = \"vol\"\n[alerts]\nbackup_max_age = \"0s\"\n",
    );
    let (code, _, stderr) = outcome(&t.holdfast(&["status"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("holdfast.toml:5: `alerts.backup_max_age`"),
        "{stderr}"
    );
}

/// A last backup older than `backup_max_age` is a `status` alert (exit 3) that says so;
/// a fresh one is not.
#[test]
fn a_stale_backup_is_a_status_alert() {
    let t = TestDir::new();
    t.write(
        "holdfast.toml",
        format!(
            "{}{VOLUME}[alerts]\nbackup_max_age = \"1d\"\n",
            repo_table().replace("{dir}", &t.path().to_string_lossy())
        ),
    );
    prepare(t.path());
    let holdfast = |args: &[&str]| {
        outcome(
            &Server::command(t.path())
                .args(args)
                .env("HOLDFAST_PASSWORD", PASSWORD)
                .output()
                .expect("run holdfast"),
        )
    };
    let (code, _, stderr) = holdfast(&["backup", "--time", "2020-01-02T03:04:05Z"]);
    assert_eq!(code, 0, "{stderr}");
    // Only the repository's snapshot tells: the volume's own record says "just now".
    std::fs::remove_file(t.path().join("vol/.holdfast/backup.json")).expect("record");
    let (code, stdout, stderr) = holdfast(&["status", "--json"]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json[0]["last_backup"], "2020-01-02T03:04:05Z");
    assert_eq!(json[0]["backup_max_age_s"], 86_400);
    let alerts = json[0]["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1, "{json}");
    assert!(
        alerts[0].as_str().is_some_and(
            |a| a.starts_with("last backup ") && a.ends_with("older than backup_max_age 1d 0h")
        ),
        "{json}"
    );
    let (code, _, stderr) = holdfast(&["backup"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, table, stderr) = holdfast(&["status"]);
    assert_eq!(code, 0, "{table}{stderr}");
    assert!(
        table.contains("LAST BACKUP") && table.contains(" ago"),
        "{table}"
    );
}
