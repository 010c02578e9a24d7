//! Metrics from the first scrape: after a restart the very first `/metrics` (before any
//! job, before anyone opens the status page) has each volume's last successful backup,
//! the snapshot counts (plain paths under the bounded label `(path)`) and the
//! repository size; and scrapes never write probe files on a volume, nor do requests to
//! `/readyz`, `/api/v1/status` and the status page (they read the timer's probes too).

use std::os::unix::fs::MetadataExt;

use super::serve_backup::{PASSWORD, prepare, repo_config};
use super::serve_util::{Server, backup_now, files_under};

async fn scrape(s: &Server) -> String {
    reqwest::get(s.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body")
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn a_restart_keeps_the_last_success_from_the_first_scrape() {
    // backup_max_age: backups come from elsewhere, so a missing schedule is no alert.
    let s = Server::start(repo_config("[alerts]\nbackup_max_age = \"1d\"\n"), prepare);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let snapshot_time = rt.block_on(async {
        let (_, job) = backup_now(&s, "?volume=data").await;
        assert_eq!(job["status"], "succeeded", "{job}");
        let list: serde_json::Value = s
            .authed(reqwest::Method::GET, "/api/v1/snapshots")
            .send()
            .await
            .expect("snapshots")
            .text()
            .await
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .expect("json");
        let time = list[0]["time"].as_str().expect("time").to_string();
        chrono::DateTime::parse_from_rfc3339(&time)
            .expect("rfc3339")
            .timestamp()
    });
    // A snapshot of a plain path, whose path must never become a label.
    let out = Server::command(s.dir())
        .args(["backup", "media"])
        .env(
            "HOLDFAST_REPOSITORY",
            format!("file://{}/repo", s.dir().display()),
        )
        .env("HOLDFAST_PASSWORD", PASSWORD)
        .output()
        .expect("holdfast backup PATH");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Only the repository can tell after this: the volume's own record is gone.
    std::fs::remove_file(s.path("vol/.holdfast/backup.json")).expect("record written");

    let s = s.restart();
    rt.block_on(async {
        let text = scrape(&s).await;
        let last = sample(
            &text,
            "holdfast_backup_last_success_timestamp_seconds{volume=\"data\"}",
        );
        assert_eq!(last, Some(snapshot_time as f64), "{text}");
        assert_eq!(
            sample(&text, "holdfast_snapshots{volume=\"data\"}"),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "holdfast_snapshots{volume=\"(path)\"}"),
            Some(1.0),
            "{text}"
        );
        assert!(
            sample(&text, "holdfast_repository_size_bytes").is_some_and(|b| b > 0.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "holdfast_backup_failing{volume=\"data\"}"),
            Some(0.0),
            "{text}"
        );
        assert!(!text.contains(&s.dir().display().to_string()), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("holdfast_"), "{line}");
        }
    });
}

#[test]
fn scrapes_write_no_probe_files() {
    let mut setup = repo_config("");
    setup
        .env
        .push(("HOLDFAST_PROBE_INTERVAL".into(), "1h".into()));
    let s = Server::start(setup, prepare);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let first = scrape(&s).await;
        assert!(
            first.contains("holdfast_volume_writable{volume=\"data\"} 1"),
            "{first}"
        );
        let vol = s.path("vol");
        let before = (
            std::fs::metadata(&vol).expect("vol").mtime_nsec(),
            std::fs::metadata(&vol).expect("vol").mtime(),
            files_under(&vol),
        );
        for _ in 0..50 {
            let text = scrape(&s).await;
            assert!(text.contains("holdfast_volume_used_bytes{volume=\"data\"}"));
        }
        let after = (
            std::fs::metadata(&vol).expect("vol").mtime_nsec(),
            std::fs::metadata(&vol).expect("vol").mtime(),
            files_under(&vol),
        );
        assert_eq!(before, after, "a scrape touched the volume");
    });
}

/// Each volume's modification time and files, to see whether anything wrote there.
fn volume_state(s: &Server) -> Vec<(i64, i64, Vec<String>)> {
    ["vol", "media"]
        .iter()
        .map(|v| {
            let vol = s.path(v);
            let meta = std::fs::metadata(&vol).expect("volume");
            (meta.mtime_nsec(), meta.mtime(), files_under(&vol))
        })
        .collect()
}

/// Issue 12: `/readyz`, `/api/v1/status` and the status page probed the volumes (a
/// probe file written) on every request.
#[test]
fn readiness_and_status_requests_write_no_probe_files() {
    let mut setup = repo_config("");
    setup
        .env
        .push(("HOLDFAST_PROBE_INTERVAL".into(), "1h".into()));
    let s = Server::start(setup, prepare);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        // The first status request waits for the timer's first round.
        let first = s
            .authed(reqwest::Method::GET, "/api/v1/status")
            .send()
            .await
            .expect("status")
            .text()
            .await
            .expect("body");
        let first: serde_json::Value = serde_json::from_str(&first).expect("status json");
        assert_eq!(first[0]["name"], "data", "{first}");
        let before = volume_state(&s);
        for _ in 0..30 {
            let ready = reqwest::get(s.url("/readyz")).await.expect("readyz");
            assert_eq!(ready.status(), reqwest::StatusCode::OK);
            let status = s
                .authed(reqwest::Method::GET, "/api/v1/status")
                .send()
                .await
                .expect("status");
            assert_eq!(status.status(), reqwest::StatusCode::OK);
            let page = reqwest::get(s.url("/"))
                .await
                .expect("status page")
                .text()
                .await
                .expect("body");
            assert!(page.contains("data"), "{page}");
        }
        assert_eq!(before, volume_state(&s), "a request touched the volume");
    });
}
