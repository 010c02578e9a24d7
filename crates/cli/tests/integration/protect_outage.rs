//! Never silently unprotected, later: a `run` whose repository goes away after its
//! first scheduled backups shows the failing backup everywhere — `/api/v1/status`,
//! `/metrics`, `holdfast status --json` (exit 3) and the status page in a real headless
//! Chromium (a screenshot goes to `target/backup-outage.png`) — while `/readyz` stays
//! ready. A repository on a full filesystem fails its backups just as visibly.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::Locator;
use reqwest::StatusCode;

use super::serve_backup::{PASSWORD, prepare};
use super::serve_status_page::{browser, start_chromedriver};
use super::serve_util::{Server, Setup, TOKEN, backup_now};
use super::volume_util::{Tmpfs, outcome};

const DEADLINE: Duration = Duration::from_secs(90);

/// A config backing `vol` up every two seconds to the file repository `repo_url`.
fn every_two_seconds(repo_url: &str) -> Setup {
    let mut setup = Setup::new(&format!(
        "[repository]\nurl = \"{repo_url}\"\n\
         [[volumes]]\nname = \"data\"\npath = \"vol\"\n\
         [schedule]\nbackup = \"*/2 * * * * *\"\n"
    ));
    setup
        .env
        .push(("HOLDFAST_PASSWORD".into(), PASSWORD.into()));
    setup
}

async fn status(s: &Server) -> serde_json::Value {
    s.authed(reqwest::Method::GET, "/api/v1/status")
        .send()
        .await
        .expect("status")
        .text()
        .await
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .expect("json")
}

/// Polls `/api/v1/status` until `f` holds for the first volume.
async fn wait_status(s: &Server, what: &str, f: impl Fn(&serde_json::Value) -> bool) {
    let start = Instant::now();
    loop {
        let v = status(s).await;
        if f(&v[0]) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{what} never happened: {v}\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn screenshot_path() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent()
        .map_or(tmp.clone(), PathBuf::from)
        .join("backup-outage.png")
}

#[test]
fn a_repository_gone_mid_way_shows_everywhere() {
    let driver = start_chromedriver();
    let s = Server::start_with(
        every_two_seconds("file://{dir}/repo"),
        &["run", "--listen", "127.0.0.1:0", "--", "sleep", "600"],
        prepare,
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        wait_status(&s, "a scheduled backup", |v| {
            v["last_backup"].is_string() && v["alerts"] == serde_json::json!([])
        })
        .await;
        assert!(
            s.log().contains("backup ok volume=data snapshot="),
            "{}",
            s.log()
        );

        std::fs::rename(s.path("repo"), s.path("repo.moved")).expect("move the repository");
        wait_status(&s, "a failed backup", |v| {
            v["last_backup_error"].is_string()
        })
        .await;
        let v = status(&s).await;
        let alerts = v[0]["alerts"].to_string();
        assert!(alerts.contains("last backup failed"), "{alerts}");
        assert!(v[0]["backup_max_age_s"].as_u64().is_some(), "{v}");
        assert!(
            s.log().contains("backup failed volume=data error="),
            "{}",
            s.log()
        );

        let metrics = reqwest::get(s.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body");
        assert!(
            metrics.contains("holdfast_backup_failing{volume=\"data\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("holdfast_backup_last_failure_timestamp_seconds{volume=\"data\"}"),
            "{metrics}"
        );
        assert!(
            metrics.contains("holdfast_backup_last_success_timestamp_seconds{volume=\"data\"}"),
            "{metrics}"
        );
        let ready = reqwest::get(s.url("/readyz")).await.expect("readyz");
        assert_eq!(ready.status(), StatusCode::OK, "readiness is about volumes");

        let cli = Server::command(s.dir())
            .args(["--config", "holdfast.toml", "status", "--json"])
            .env("HOLDFAST_PASSWORD", PASSWORD)
            .output()
            .expect("holdfast status");
        let (code, stdout, stderr) = outcome(&cli);
        assert_eq!(code, 3, "{stdout}{stderr}");
        let json: serde_json::Value = serde_json::from_str(&stdout).expect("status json");
        let alerts = json[0]["alerts"].to_string();
        assert!(alerts.contains("backups cannot be checked"), "{alerts}");
        assert!(alerts.contains("last backup failed"), "{alerts}");
        assert!(json[0]["last_backup"].is_string(), "{json}");
        assert!(json[0]["last_backup_error"].is_string(), "{json}");

        let client = browser(&driver).await;
        let result = async {
            client.goto(&s.url(&format!("/?token={TOKEN}"))).await?;
            let card = client
                .find(Locator::Css("section[data-volume=\"data\"]"))
                .await?;
            assert_eq!(card.attr("data-state").await?.as_deref(), Some("failing"));
            assert_eq!(card.attr("data-backup").await?.as_deref(), Some("failing"));
            let text = card.text().await?;
            assert!(
                text.contains("NOT PROTECTED") && text.contains("the last attempt failed"),
                "{text}"
            );
            let summary = client.find(Locator::Css(".summary")).await?.text().await?;
            assert!(summary.starts_with("NOT protected"), "{summary}");
            let banner = client.find(Locator::Css(".banner")).await?.text().await?;
            assert!(banner.contains("Backups cannot run"), "{banner}");
            assert_eq!(
                client
                    .find(Locator::Css(".banner"))
                    .await?
                    .css_value("background-color")
                    .await?,
                "rgba(211, 47, 47, 1)"
            );
            let png = client.screenshot().await?;
            std::fs::write(screenshot_path(), png).expect("write screenshot");
            Ok::<(), fantoccini::error::CmdError>(())
        }
        .await;
        let _ = client.close().await;
        result.expect("browser checks");
    });
    assert!(screenshot_path().is_file());
}

#[test]
fn a_full_store_fails_the_backup_loudly() {
    let store = Tmpfs::mount("2m", &[]);
    let repo_url = format!("file://{}/repo", store.path().display());
    let mut setup = every_two_seconds(&repo_url);
    setup.config = setup.config.replace("*/2 * * * * *", "0 2 * * *");
    let url = repo_url.clone();
    let s = Server::start(setup, move |d| {
        prepare_repo_at(&url);
        let vol = d.join("vol");
        std::fs::create_dir_all(&vol).expect("mkdir");
        // Incompressible data larger than the store.
        let bytes = super::repo_util::pseudo_random(1, 4 << 20);
        std::fs::write(vol.join("big.bin"), bytes).expect("write");
    });
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let (status, job) = backup_now(&s, "").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(job["status"], "failed", "{job}");
        let v = status_of(&s).await;
        let alerts = v[0]["alerts"].to_string();
        assert!(alerts.contains("last backup failed"), "{alerts}");
        let metrics = reqwest::get(s.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body");
        assert!(
            metrics.contains("holdfast_backup_failing{volume=\"data\"} 1"),
            "{metrics}"
        );
        let page = reqwest::get(s.url("/"))
            .await
            .expect("page")
            .text()
            .await
            .expect("body");
        assert!(page.contains("the last attempt failed"), "{page}");
        println!("full store: {}", v[0]["last_backup_error"]);
    });
}

async fn status_of(s: &Server) -> serde_json::Value {
    status(s).await
}

fn prepare_repo_at(url: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = holdfast_store::Store::open(url).expect("store");
        let opts = holdfast_repo::InitOptions {
            password: PASSWORD.into(),
            kdf: holdfast_repo::KdfParams::insecure_fast(),
        };
        holdfast_repo::init(store, &opts)
            .await
            .expect("init repository");
    });
}
