//! `holdfast serve` with a repository: on-demand backups, the snapshot listing, the
//! scheduled backup job and what metrics say about them.

use std::time::{Duration, Instant};

use holdfast_repo::{InitOptions, KdfParams};
use reqwest::{Method, StatusCode};

use super::serve_util::{Server, Setup, backup_now};

pub const PASSWORD: &str = "correct horse battery staple";

/// A config with two volumes and a file repository in the test directory.
pub fn repo_config(extra: &str) -> Setup {
    let config = format!(
        "[repository]\nurl = \"file://{{dir}}/repo\"\n\
         [[volumes]]\nname = \"data\"\npath = \"vol\"\n\
         [[volumes]]\nname = \"media\"\npath = \"media\"\n{extra}"
    );
    let mut setup = Setup::new(&config);
    setup
        .env
        .push(("HOLDFAST_PASSWORD".into(), PASSWORD.into()));
    setup
}

/// Creates the volumes with a few files and initialises the repository.
pub fn prepare(dir: &std::path::Path) {
    for (f, body) in [
        ("vol/db/app.db", "db"),
        ("vol/notes.txt", "notes"),
        ("media/a.bin", "media"),
    ] {
        let p = dir.join(f);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }
    let url = format!("file://{}/repo", dir.display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = holdfast_store::Store::open(&url).expect("store");
        let opts = InitOptions {
            password: PASSWORD.into(),
            kdf: KdfParams::insecure_fast(),
        };
        holdfast_repo::init(store, &opts)
            .await
            .expect("init repository");
    });
}

#[test]
fn backups_on_demand_and_snapshot_listing() {
    let s = Server::start(repo_config(""), prepare);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let (status, job) = backup_now(&s, "").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}\n{}", s.log());
        assert_eq!(job["status"], "succeeded", "{job}");
        let v = &job["snapshots"];
        let vols: Vec<&str> = v
            .as_array()
            .expect("array")
            .iter()
            .map(|b| b["volume"].as_str().expect("volume"))
            .collect();
        assert_eq!(vols, ["data", "media"]);
        assert_eq!(v[0]["files"], 2);

        let (status, job) = backup_now(&s, "?volume=media").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(job["status"], "succeeded", "{job}");
        let (status, _) = backup_now(&s, "?volume=nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let r = s
            .authed(Method::GET, "/api/v1/jobs/no-such-job")
            .send()
            .await
            .expect("job");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);

        let r = s
            .authed(Method::GET, "/api/v1/snapshots")
            .send()
            .await
            .expect("snapshots");
        assert_eq!(r.status(), StatusCode::OK);
        let v: serde_json::Value =
            serde_json::from_str(&r.text().await.expect("body")).expect("json");
        let list = v.as_array().expect("array");
        assert_eq!(list.len(), 3);
        for key in [
            "id", "time", "volume", "root", "tags", "files", "size", "added",
        ] {
            assert!(list[0].get(key).is_some(), "snapshot lacks {key}");
        }
        let media = list.iter().filter(|e| e["volume"] == "media").count();
        assert_eq!(media, 2);

        let text = reqwest::get(s.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body");
        assert!(
            text.contains("holdfast_snapshots{volume=\"media\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("holdfast_backup_last_success_timestamp_seconds{volume=\"data\"}"),
            "{text}"
        );
        assert!(
            text.contains("holdfast_job_runs_total{job=\"backup\",result=\"ok\"} 2"),
            "{text}"
        );
        assert!(text.contains("holdfast_repository_size_bytes "), "{text}");
    });
}

/// Starts a backup job, which must fail keeping `cause` in its error.
async fn failed_backup_job(s: &Server, cause: &str) {
    let (status, job) = backup_now(s, "").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error"].as_str().is_some_and(|e| e.contains(cause)),
        "the job keeps the cause: {job}"
    );
}

#[test]
fn a_wrong_password_fails_the_backup_job_with_a_clear_error() {
    let mut setup = repo_config("");
    setup.env.retain(|(k, _)| k != "HOLDFAST_PASSWORD");
    setup.env.push(("HOLDFAST_PASSWORD".into(), "wrong".into()));
    let s = Server::start(setup, prepare);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        failed_backup_job(&s, "password").await;
        let text = reqwest::get(s.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body");
        assert!(
            text.contains("holdfast_backup_failures_total{volume=\"data\"} 1"),
            "{text}"
        );
    });
}

/// Finding: a failed backup job logged its cause twice, in the `backup failed volume=…`
/// line and again in the job's own error line. Now the job says only that it failed.
#[test]
fn duplicate_error_line_on_a_failed_backup_job_is_gone() {
    let mut setup = repo_config("");
    setup.config = setup.config.replace(
        "path = \"vol\"\n",
        "path = \"vol\"\ndatabases = [{ kind = \"postgres\", name = \"shop\", url = \"postgres://u@127.0.0.1:1/shop\" }]\n",
    );
    // No psql on PATH: the volume's backup fails.
    let empty = tempfile::tempdir().expect("empty PATH");
    let path = empty.path().to_string_lossy().into_owned();
    setup.env.push(("PATH".into(), path));
    let s = Server::start(setup, prepare);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(failed_backup_job(&s, "psql not found"));
    let log = s.wait_log("failed (logged above)");
    assert_eq!(log.matches("psql not found").count(), 1, "{log}");
    assert!(log.contains("ERROR"), "{log}");
}

#[test]
fn the_scheduler_runs_backups_and_cleanups() {
    let extra = "[schedule]\nbackup = \"* * * * * *\"\n\
                 [[cleanup]]\npath = \"vol/tmp\"\nolder_than = \"1s\"\nschedule = \"* * * * * *\"\n";
    let s = Server::start(repo_config(extra), |d| {
        prepare(d);
        std::fs::create_dir_all(d.join("vol/tmp")).expect("mkdir");
        std::fs::write(d.join("vol/tmp/old.log"), "old").expect("write");
        let past = std::time::SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(d.join("vol/tmp/old.log"))
            .and_then(|f| f.set_modified(past))
            .expect("age the file");
    });
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let text = reqwest::get(s.url("/metrics"))
                .await
                .expect("metrics")
                .text()
                .await
                .expect("body");
            let backup = text.contains("holdfast_job_runs_total{job=\"backup\",result=\"ok\"}");
            let cleanup =
                text.contains("holdfast_job_runs_total{job=\"cleanup:vol/tmp\",result=\"ok\"}");
            if backup && cleanup {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no scheduled runs in time:\n{text}\n{}",
                s.log()
            );
            tokio::task::yield_now().await;
            std::thread::park_timeout(Duration::from_millis(100));
        }
        assert!(
            !s.path("vol/tmp/old.log").exists(),
            "the cleanup job deleted the old file"
        );
        let log = s.log();
        assert!(log.contains("job backup: ok"), "{log}");
        assert!(s.path("vol/.holdfast/schedule.json").is_file());
    });
}

#[test]
fn scheduled_verify_and_prune_apply_retention() {
    let extra = "[schedule]\nverify = \"* * * * * *\"\nprune = \"* * * * * *\"\n\
                 restore_test = true\n[retention]\nkeep_last = 1\n";
    let s = Server::start(repo_config(extra), prepare);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        for _ in 0..3 {
            let (status, job) = backup_now(&s, "").await;
            assert_eq!(status, StatusCode::ACCEPTED, "{}", s.log());
            assert_eq!(job["status"], "succeeded", "{job}\n{}", s.log());
        }
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let r = s
                .authed(Method::GET, "/api/v1/snapshots")
                .send()
                .await
                .expect("list");
            let v: serde_json::Value =
                serde_json::from_str(&r.text().await.expect("body")).expect("json");
            let text = reqwest::get(s.url("/metrics")).await.expect("metrics");
            let text = text.text().await.expect("body");
            let verified = text.contains("holdfast_job_runs_total{job=\"verify\",result=\"ok\"}");
            // The prune job logs its outcome after its prune, which follows the forget.
            // A verify may run before the first backup (no drill then): wait for one
            // that drilled.
            let log = s.log();
            let pruned = log.contains("job prune: ok: forgot") && log.contains("restore test of");
            if v.as_array().map(Vec::len) == Some(2) && verified && pruned {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "retention not applied:\n{v}\n{}",
                s.log()
            );
            std::thread::park_timeout(Duration::from_millis(100));
        }
        assert!(s.log().contains("job prune: ok: forgot"), "{}", s.log());
        assert!(
            s.log().contains("job verify: ok") && s.log().contains("restore test of"),
            "the scheduled verify ran a restore drill: {}",
            s.log()
        );
    });
}

#[test]
fn sigterm_lets_a_running_backup_finish() {
    let extra = "[hooks]\nbefore_backup = [\"touch {dir}/started; \
                 while [ ! -e {dir}/release ]; do sleep 0.05; done\"]\n";
    let mut s = Server::start(repo_config(extra), prepare);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let request = s.authed(Method::POST, "/api/v1/backups").send();
    let pending = rt.spawn(request);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !s.path("started").exists() {
        assert!(
            Instant::now() < deadline,
            "the backup did not start: {}",
            s.log()
        );
        std::thread::park_timeout(Duration::from_millis(20));
    }
    let pid = s.pid().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(sent.expect("run kill").success());
    std::fs::write(s.path("release"), "").expect("release the hook");
    let response = rt
        .block_on(pending)
        .expect("request task")
        .expect("response");
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{}", s.log());
    let status = s.wait_exit();
    assert!(status.success(), "exit {status:?}: {}", s.log());
    let snapshots = rt.block_on(async {
        let url = format!("file://{}/repo", s.dir().display());
        let store = holdfast_store::Store::open(&url).expect("store");
        let opts = holdfast_repo::OpenOptions {
            password: PASSWORD.into(),
            cache: None,
        };
        let repo = holdfast_repo::open(store, &opts)
            .await
            .expect("open repository");
        repo.snapshots().await.expect("snapshots")
    });
    assert_eq!(
        snapshots.len(),
        2,
        "both volumes were backed up before the exit"
    );
}

#[test]
fn a_second_sigterm_exits_at_once_without_a_snapshot() {
    let extra = "[hooks]\nbefore_backup = [\"touch {dir}/started; \
                 while [ ! -e {dir}/release ]; do sleep 0.05; done\"]\n";
    let mut s = Server::start(repo_config(extra), prepare);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let pending = rt.spawn(s.authed(Method::POST, "/api/v1/backups").send());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !s.path("started").exists() {
        assert!(
            Instant::now() < deadline,
            "the backup did not start: {}",
            s.log()
        );
        std::thread::park_timeout(Duration::from_millis(20));
    }
    let pid = s.pid().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(sent.expect("run kill").success());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !s.log().contains("SIGTERM: shutting down") {
        assert!(Instant::now() < deadline, "no shutdown: {}", s.log());
        std::thread::park_timeout(Duration::from_millis(20));
    }
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(sent.expect("run kill").success());
    let status = s.wait_exit();
    // 128 + SIGTERM, as a shell reports a process the signal stopped.
    assert_eq!(status.code(), Some(143), "{}", s.log());
    std::fs::write(s.path("release"), "").expect("release the hook");
    let _ = rt.block_on(pending);
    let snapshots = rt.block_on(async {
        let url = format!("file://{}/repo", s.dir().display());
        let store = holdfast_store::Store::open(&url).expect("store");
        let opts = holdfast_repo::OpenOptions {
            password: PASSWORD.into(),
            cache: None,
        };
        let repo = holdfast_repo::open(store, &opts)
            .await
            .expect("open repository");
        repo.snapshots().await.expect("snapshots")
    });
    assert!(snapshots.is_empty(), "an abandoned backup left a snapshot");
}

/// Finding: a dropped `POST /api/v1/backups` left the walker and uploader running and the
/// lock in place for 30 minutes. The request now only starts a job: it answers `202` while
/// the backup runs, and the job ends on its own, whatever the client does.
#[test]
fn a_backup_job_outlives_its_request() {
    let extra = "[hooks]\nbefore_backup = [\"touch {dir}/started; \
                 while [ ! -e {dir}/release ]; do sleep 0.05; done\"]\n";
    let s = Server::start(repo_config(extra), prepare);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let r = s
            .authed(Method::POST, "/api/v1/backups")
            .send()
            .await
            .expect("backup");
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", s.log());
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("Location header");
        let job: serde_json::Value =
            serde_json::from_str(&r.text().await.expect("body")).expect("json");
        assert_eq!(job["status"], "running");
        assert_eq!(
            location,
            format!("/api/v1/jobs/{}", job["id"].as_str().expect("id"))
        );
        // A second request while the job runs is refused, not queued.
        let (status, _) = backup_now(&s, "").await;
        assert_eq!(status, StatusCode::CONFLICT);
        std::fs::write(s.path("release"), "").expect("release the hook");
        let r = s
            .authed(Method::GET, &format!("{location}?wait=true"))
            .send()
            .await
            .expect("job");
        let mut job: serde_json::Value =
            serde_json::from_str(&r.text().await.expect("body")).expect("json");
        for _ in 0..30 {
            if job["status"] != "running" {
                break;
            }
            let r = s
                .authed(Method::GET, &format!("{location}?wait=true"))
                .send()
                .await
                .expect("job");
            job = serde_json::from_str(&r.text().await.expect("body")).expect("json");
        }
        assert_eq!(job["status"], "succeeded", "{job}\n{}", s.log());
        assert_eq!(job["snapshots"].as_array().map(Vec::len), Some(2), "{job}");
    });
}
