//! The status page in a real headless Chromium, driven over WebDriver (chromedriver +
//! fantoccini): it loads, lists every volume and shows the failing ones as failing. A
//! screenshot goes to `target/status-page.png`.
//!
//! Needs `HOLDFAST_TEST_CHROMEDRIVER` (and optionally `HOLDFAST_TEST_CHROMIUM`), which
//! `scripts/test.sh` exports; without it the test fails and says so.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};

use reqwest::StatusCode;

use super::serve_backup::{prepare, repo_config};
use super::serve_util::{Server, TOKEN, backup_now};

/// A running chromedriver, killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts chromedriver on a free port (fails the test when it is not configured).
pub fn start_chromedriver() -> Driver {
    let Ok(bin) = std::env::var("HOLDFAST_TEST_CHROMEDRIVER") else {
        panic!(
            "HOLDFAST_TEST_CHROMEDRIVER is not set: this test needs chromedriver and chromium \
             (run it through scripts/test.sh, which installs and exports them)"
        );
    };
    let port = free_port();
    let child = Command::new(&bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        profile: tempfile::tempdir().expect("profile dir"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not start on port {port}"
        );
        std::thread::park_timeout(Duration::from_millis(50));
    }
    driver
}

/// A WebDriver session of headless Chromium, 1280×1000.
pub async fn browser(driver: &Driver) -> fantoccini::Client {
    browser_sized(driver, 1280, 1000).await
}

/// A WebDriver session of headless Chromium whose viewport is `width`×`height` CSS
/// pixels; below 800 px wide it is a phone (mobile emulation, so the page's viewport
/// meta applies as on a real one).
pub async fn browser_sized(driver: &Driver, width: u32, height: u32) -> fantoccini::Client {
    let chromium =
        std::env::var("HOLDFAST_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let profile = driver.profile.path().to_string_lossy().into_owned();
    let mut options = serde_json::json!({
        "binary": chromium,
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", format!("--window-size={width},{height}"),
            format!("--user-data-dir={profile}"),
        ],
    });
    if width < 800 {
        options["mobileEmulation"] = serde_json::json!({
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": true},
        });
    }
    let caps = serde_json::json!({ "goog:chromeOptions": options });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!("an object literal")
    };
    ClientBuilder::rustls()
        .expect("tls connector")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("WebDriver session")
}

fn screenshot_path() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent()
        .map_or(tmp.clone(), PathBuf::from)
        .join("status-page.png")
}

#[test]
fn status_page_in_a_real_browser() {
    let driver = start_chromedriver();
    let extra = "[[volumes]]\nname = \"lost\"\npath = \"never-mounted\"\n\
                 [[volumes]]\nname = \"ephemeral\"\npath = \"ephemeral\"\nrequire_mount = true\n\
                 [schedule]\nbackup = \"0 2 * * *\"\nverify = \"0 4 * * 0\"\n";
    let s = Server::start(repo_config(extra), |d| {
        prepare(d);
        std::fs::create_dir(d.join("ephemeral")).expect("mkdir");
    });
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        for volume in ["data", "data", "media"] {
            let (status, job) = backup_now(&s, &format!("?volume={volume}")).await;
            assert_eq!(status, StatusCode::ACCEPTED);
            assert_eq!(job["status"], "succeeded", "{job}");
        }
        let client = browser(&driver).await;
        let result = async {
            client.goto(&s.url(&format!("/?token={TOKEN}"))).await?;
            assert_eq!(client.title().await?, "holdfast status");
            let cards = client.find_all(Locator::Css("section.volume")).await?;
            let mut names = Vec::new();
            for c in &cards {
                names.push(c.attr("data-volume").await?.unwrap_or_default());
            }
            assert_eq!(names, ["data", "media", "lost", "ephemeral"]);
            for (name, state) in [
                ("data", "ok"),
                ("media", "ok"),
                ("lost", "failing"),
                ("ephemeral", "failing"),
            ] {
                let card = client
                    .find(Locator::Css(&format!("section[data-volume=\"{name}\"]")))
                    .await?;
                assert_eq!(
                    card.attr("data-state").await?.as_deref(),
                    Some(state),
                    "{name}"
                );
                let text = card.text().await?;
                if state == "failing" {
                    assert!(text.contains("NOT PROTECTED"), "{name}: {text}");
                    let alert = card.find(Locator::Css(".alerts li")).await?;
                    assert_eq!(alert.css_value("color").await?, "rgba(183, 28, 28, 1)");
                } else {
                    assert!(
                        text.contains("PROTECTED")
                            && !text.contains("NOT PROTECTED")
                            && text.contains("writable"),
                        "{name}: {text}"
                    );
                }
            }
            let data = client
                .find(Locator::Css("section[data-volume=\"data\"]"))
                .await?;
            assert_eq!(
                data.find_all(Locator::Css(".timeline .snap")).await?.len(),
                2
            );
            assert!(data.text().await?.contains("ago"), "last backup age shown");
            let jobs = client
                .find(Locator::Css("section.jobs"))
                .await?
                .text()
                .await?;
            assert!(
                jobs.contains("backup") && jobs.contains("0 2 * * *") && jobs.contains("verify"),
                "{jobs}"
            );
            let summary = client.find(Locator::Css(".summary")).await?.text().await?;
            assert_eq!(
                summary,
                "NOT protected: 2 of 4 volumes failing (lost, ephemeral)"
            );
            let refresh = client
                .find(Locator::Css("meta[http-equiv=\"refresh\"]"))
                .await?;
            assert_eq!(refresh.attr("content").await?.as_deref(), Some("30"));
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
