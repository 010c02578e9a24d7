//! `[[replicas]]` under `holdfast serve`: an after-backup replica with its own password
//! stays within one backup of the source, its lag shows in `/api/v1/status` and the
//! metrics, and it restores byte-exact with its own password alone; a replica that is
//! gone is a "replica" alert (in status and metrics, not in `/readyz`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use holdfast_repo::{Id, InitOptions, KdfParams, OpenOptions, Repository};
use reqwest::Method;

use super::repo_util::contents;
use super::serve_backup::PASSWORD;
use super::serve_util::{Server, Setup};

const REPLICA_PASSWORD: &str = "the replica's own password";

/// One volume, a file repository, a backup every `every` seconds and one after-backup
/// replica (its password in a file) in the test directory.
fn setup(every: u32, extra: &str) -> Setup {
    let config = format!(
        "[repository]\nurl = \"file://{{dir}}/repo\"\n\
         [[volumes]]\nname = \"data\"\npath = \"vol\"\n\
         [schedule]\nbackup = \"*/{every} * * * * *\"\n\
         [[replicas]]\nname = \"offsite\"\nurl = \"file://{{dir}}/replica\"\n\
         password_file = \"{{dir}}/replica.pw\"\nschedule = \"after-backup\"\n{extra}"
    );
    let mut setup = Setup::new(&config);
    setup
        .env
        .push(("HOLDFAST_PASSWORD".into(), PASSWORD.into()));
    setup
}

fn init(url: &str, password: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = holdfast_store::Store::open(url).expect("store");
        let opts = InitOptions {
            password: password.into(),
            kdf: KdfParams::insecure_fast(),
        };
        holdfast_repo::init(store, &opts).await.expect("init");
    });
}

/// The volume's files, both repositories (each with its own password) and the
/// replica's password file.
fn prepare(dir: &Path) {
    for (f, body) in [
        ("vol/app.db", "db".repeat(5000)),
        ("vol/notes.txt", "notes".into()),
    ] {
        let p = dir.join(f);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }
    std::fs::write(dir.join("replica.pw"), format!("{REPLICA_PASSWORD}\n")).expect("write");
    init(&format!("file://{}/repo", dir.display()), PASSWORD);
    init(
        &format!("file://{}/nightly", dir.display()),
        REPLICA_PASSWORD,
    );
    init(
        &format!("file://{}/replica", dir.display()),
        REPLICA_PASSWORD,
    );
}

async fn open(dir: &Path, name: &str, password: &str) -> Repository {
    let store =
        holdfast_store::Store::open(&format!("file://{}/{name}", dir.display())).expect("store");
    let opts = OpenOptions {
        password: password.into(),
        cache: Some(false),
    };
    holdfast_repo::open(store, &opts).await.expect("open")
}

async fn status(s: &Server) -> serde_json::Value {
    s.authed(Method::GET, "/api/v1/status")
        .send()
        .await
        .expect("status")
        .text()
        .await
        .map(|t| serde_json::from_str(&t).expect("status JSON"))
        .expect("body")
}

async fn metrics(s: &Server) -> String {
    reqwest::get(s.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body")
}

fn pause() {
    std::thread::park_timeout(Duration::from_millis(100));
}

#[test]
fn serve_keeps_an_after_backup_replica_within_one_backup() {
    let s = Server::start(setup(3, ""), prepare);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Source snapshot id -> (its time, when its copy was first seen in the replica).
    let mut seen: BTreeMap<Id, (DateTime<Utc>, Option<DateTime<Utc>>)> = BTreeMap::new();
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut first_copy = false;
        let mut wrote_more = None;
        loop {
            let source = open(s.dir(), "repo", PASSWORD).await;
            let replica = open(s.dir(), "replica", REPLICA_PASSWORD).await;
            let now = Utc::now();
            let copies: Vec<Id> = replica
                .snapshots()
                .await
                .expect("replica snapshots")
                .iter()
                .filter_map(|(_, snap)| snap.original)
                .collect();
            for (id, snap) in source.snapshots().await.expect("source snapshots") {
                let e = seen.entry(id).or_insert((snap.time, None));
                if e.1.is_none() && copies.contains(&id) {
                    e.1 = Some(now);
                }
            }
            if !copies.is_empty() {
                first_copy = true;
            }
            if first_copy {
                let lag = holdfast_repo::copy::lag(&source, &replica)
                    .await
                    .expect("lag");
                assert!(
                    lag.missing <= 1,
                    "the replica fell more than one backup behind: {lag:?}\n{}",
                    s.log()
                );
                let st = status(&s).await;
                let r = &st[0]["replicas"][0];
                assert_eq!(r["name"], "offsite", "{st}");
                if r["last_success"].is_string() {
                    assert!(r["lag_snapshots"].as_u64().is_some_and(|n| n <= 1), "{st}");
                }
                if wrote_more.is_none() {
                    std::fs::write(s.path("vol/later.bin"), vec![7u8; 100_000]).expect("write");
                    wrote_more = Some(Utc::now());
                }
            }
            let copied_after_write = wrote_more.is_some_and(|w| {
                seen.values()
                    .any(|(time, copy)| *time > w && copy.is_some())
            });
            let copied = seen.values().filter(|(_, c)| c.is_some()).count();
            if copied_after_write && copied >= 4 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the replica did not keep up in time: {copied} copied\n{}",
                s.log()
            );
            pause();
        }
        let text = metrics(&s).await;
        assert!(
            text.contains("holdfast_replica_lag_snapshots{replica=\"offsite\"}"),
            "{text}"
        );
        assert!(
            text.contains("holdfast_replica_last_success_timestamp_seconds{replica=\"offsite\"}"),
            "{text}"
        );
        assert!(
            text.contains("holdfast_replica_failing{replica=\"offsite\"} 0\n"),
            "{text}"
        );
        assert!(!text.contains("replica.pw") && !text.contains(REPLICA_PASSWORD));
        let page = s
            .authed(Method::GET, "/")
            .send()
            .await
            .expect("status page")
            .text()
            .await
            .expect("body");
        assert!(
            page.contains("<h2>Replicas</h2>") && page.contains(">offsite</td>"),
            "{page}"
        );
        let anonymous = reqwest::get(s.url("/"))
            .await
            .expect("page")
            .text()
            .await
            .expect("body");
        assert!(!anonymous.contains("<h2>Replicas</h2>"), "{anonymous}");
    });
    let log = s.log();
    let line = log
        .lines()
        .find(|l| l.contains("replica offsite: ok: copied"))
        .unwrap_or_else(|| panic!("no replication line:\n{log}"));
    assert!(line.contains("INFO"), "{line}");
    assert!(
        line.contains("bytes uploaded") && line.contains("lag "),
        "{line}"
    );
    assert!(!log.contains(REPLICA_PASSWORD));
    let lags: Vec<f64> = seen
        .values()
        .filter_map(|(t, c)| c.map(|c| (c - *t).num_milliseconds() as f64 / 1000.0))
        .collect();
    let max = lags.iter().copied().fold(0.0, f64::max);
    let mean = lags.iter().sum::<f64>() / lags.len() as f64;
    eprintln!(
        "replica lag (source snapshot time to its copy seen in the replica): \
         {} snapshots, mean {mean:.2} s, max {max:.2} s",
        lags.len()
    );

    // Restore from the replica with its own password alone, in an empty directory.
    let empty = tempfile::tempdir().expect("temporary directory");
    let out = Server::command(empty.path())
        .env(
            "HOLDFAST_REPOSITORY",
            format!("file://{}/replica", s.dir().display()),
        )
        .env("HOLDFAST_PASSWORD", REPLICA_PASSWORD)
        .env("HOLDFAST_CACHE_DIR", empty.path().join("cache"))
        .args(["restore", "latest:data", "--target", "restored"])
        .output()
        .expect("run holdfast restore");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let volume: Vec<_> = contents(&s.path("vol"))
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".holdfast"))
        .collect();
    let restored: Vec<_> = contents(&empty.path().join("restored"))
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".holdfast"))
        .collect();
    assert!(volume.iter().any(|(p, _)| p == "later.bin"));
    assert_eq!(restored, volume, "the replica restores byte-exact");
}

#[test]
fn serve_a_replica_that_is_gone_is_a_replica_alert() {
    // A second replica on its own cron schedule keeps working meanwhile.
    let nightly = "[[replicas]]\nname = \"nightly\"\nurl = \"file://{dir}/nightly\"\n\
                   password_env = \"NIGHTLY_PASSWORD\"\nschedule = \"*/2 * * * * *\"\n";
    let mut setup = setup(2, nightly);
    setup
        .env
        .push(("NIGHTLY_PASSWORD".into(), REPLICA_PASSWORD.into()));
    let s = Server::start(setup, prepare);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !status(&s).await[0]["replicas"][0]["last_success"].is_string() {
            assert!(Instant::now() < deadline, "no replication:\n{}", s.log());
            pause();
        }
        std::fs::remove_dir_all(s.path("replica")).expect("remove the replica");
        let st = loop {
            let st = status(&s).await;
            let alerts = st[0]["alerts"].as_array().cloned().unwrap_or_default();
            if alerts
                .iter()
                .any(|a| a.as_str().is_some_and(|a| a.starts_with("replica offsite")))
            {
                break st;
            }
            assert!(
                Instant::now() < deadline,
                "no replica alert: {st}\n{}",
                s.log()
            );
            pause();
        };
        let r = &st[0]["replicas"][0];
        assert!(r["last_error"].is_string(), "{st}");
        assert!(
            r["alerts"][0]
                .as_str()
                .is_some_and(|a| a.contains("replica") && a.contains("failed")),
            "{st}"
        );
        let text = metrics(&s).await;
        assert!(
            text.contains("holdfast_replica_failing{replica=\"offsite\"} 1\n"),
            "{text}"
        );
        while !metrics(&s)
            .await
            .contains("holdfast_job_runs_total{job=\"replicate:nightly\",result=\"ok\"}")
        {
            assert!(
                Instant::now() < deadline,
                "the cron replica did not run:\n{}",
                s.log()
            );
            pause();
        }
        let st = status(&s).await;
        let n = &st[0]["replicas"][1];
        assert_eq!(n["name"], "nightly", "{st}");
        assert_eq!(n["schedule"], "*/2 * * * * *", "{st}");
        assert!(
            n["last_success"].is_string() && n["alerts"] == serde_json::json!([]),
            "{st}"
        );
        let ready = reqwest::get(s.url("/readyz"))
            .await
            .expect("readyz")
            .text()
            .await
            .expect("body");
        assert!(!ready.contains("replica"), "{ready}");
    });
}
