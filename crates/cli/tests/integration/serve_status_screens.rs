//! The status page as a new user sees it, in a real headless Chromium at 1280 px and at
//! 390 px (a phone): nothing scrolls sideways, no cron expression or table is cut or
//! wrapped, the header's summary is one line of text at full width saying whether the
//! data is protected, where it goes and since when, snapshot ids and times are text
//! (not tooltips), and a failing backup's error is shown once.
//!
//! The screenshots are kept as test artifacts under the test's target tmp dir
//! (`status-screens/*.png`, the path is printed).

use std::path::PathBuf;

use fantoccini::Locator;
use reqwest::StatusCode;

use super::serve_backup::{PASSWORD, prepare, repo_config};
use super::serve_status_page::{browser_sized, start_chromedriver};
use super::serve_util::{Server, TOKEN, backup_now};

/// Records a failed check and goes on, so that every width's screenshot is taken.
macro_rules! check {
    ($p:expr, $cond:expr, $($fmt:tt)+) => {
        let ok: bool = $cond;
        if !ok {
            $p.push(format!($($fmt)+));
        }
    };
}

macro_rules! check_eq {
    ($p:expr, $a:expr, $b:expr, $($fmt:tt)+) => {
        if $a != $b {
            $p.push(format!("{:?} != {:?}: {}", $a, $b, format!($($fmt)+)));
        }
    };
}

/// Where the screenshots go.
fn screens() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-screens");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn shoot(client: &fantoccini::Client, name: &str) -> Result<(), fantoccini::error::CmdError> {
    let png = client.screenshot().await?;
    let path = screens().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    println!("screenshot: {}", path.display());
    Ok(())
}

/// What overflows a viewport `width` px wide: the document's scroll width, the elements
/// that stick out on the right, the `code` elements broken over lines, and the summary's
/// width.
const LAYOUT: &str = r#"
const width = arguments[0];
const over = [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > width + 0.5)
  .map(e => e.tagName.toLowerCase() + '.' + e.className + ': ' + (e.textContent || '').slice(0, 40));
const wrapped = [...document.querySelectorAll('code')]
  .filter(e => e.getClientRects().length > 1)
  .map(e => e.textContent);
const summary = document.querySelector('.summary');
return {
  scroll: document.documentElement.scrollWidth,
  over, wrapped,
  summary_width: summary ? summary.getBoundingClientRect().width : 0,
};
"#;

async fn layout(
    client: &fantoccini::Client,
    width: u32,
) -> Result<serde_json::Value, fantoccini::error::CmdError> {
    client.execute(LAYOUT, vec![width.into()]).await
}

fn replica_config() -> super::serve_util::Setup {
    repo_config(
        "[schedule]\nbackup = \"0 2 * * *\"\nverify = \"0 4 * * 0\"\nprune = \"30 3 * * *\"\n\
         [[replicas]]\nname = \"offsite\"\nurl = \"file://{dir}/replica\"\n\
         password_file = \"{dir}/replica.pw\"\nschedule = \"0 5 * * *\"\n",
    )
}

fn prepare_with_replica(dir: &std::path::Path) {
    prepare(dir);
    std::fs::write(dir.join("replica.pw"), "the replica's password\n").expect("write");
    let url = format!("file://{}/replica", dir.display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = holdfast_store::Store::open(&url).expect("store");
        let opts = holdfast_repo::InitOptions {
            password: "the replica's password".into(),
            kdf: holdfast_repo::KdfParams::insecure_fast(),
        };
        holdfast_repo::init(store, &opts)
            .await
            .expect("init replica");
    });
}

#[test]
fn the_status_page_fits_a_phone_and_says_where_and_since_when() {
    let _ = PASSWORD;
    let driver = start_chromedriver();
    let s = Server::start(replica_config(), prepare_with_replica);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut ids = Vec::new();
        for volume in ["data", "data", "media"] {
            let (status, job) = backup_now(&s, &format!("?volume={volume}")).await;
            assert_eq!(status, StatusCode::ACCEPTED);
            assert_eq!(job["status"], "succeeded", "{job}");
            let id = job["snapshots"][0]["snapshot"].as_str().expect("id");
            ids.push(id.chars().take(8).collect::<String>());
        }
        let mut problems: Vec<String> = Vec::new();
        for (width, height) in [(1280, 1000), (390, 844)] {
            let client = browser_sized(&driver, width, height).await;
            let problems = &mut problems;
            let result = async {
                // Log in through the form, as a user does.
                client.goto(&s.url("/login")).await?;
                client
                    .find(Locator::Css("input#token"))
                    .await?
                    .send_keys(TOKEN)
                    .await?;
                client
                    .find(Locator::Css("form button[type=submit]"))
                    .await?
                    .click()
                    .await?;
                client
                    .wait()
                    .for_element(Locator::Css("#session[data-csrf]"))
                    .await?;
                shoot(&client, &format!("healthy-{width}")).await?;
                let l = layout(&client, width).await?;
                check!(
                    problems,
                    l["scroll"].as_u64().unwrap_or(u64::MAX) <= u64::from(width),
                    "the page scrolls sideways at {width} px: {l}"
                );
                check_eq!(
                    problems,
                    l["over"],
                    serde_json::json!([]),
                    "cut at {width} px: {l}"
                );
                check_eq!(
                    problems,
                    l["wrapped"],
                    serde_json::json!([]),
                    "wrapped at {width} px: {l}"
                );
                check!(
                    problems,
                    l["summary_width"].as_f64().unwrap_or(0.0) >= f64::from(width) * 0.7,
                    "the summary is squeezed at {width} px: {l}"
                );
                let summary = client.find(Locator::Css(".summary")).await?.text().await?;
                for word in ["protected", "repository", "offsite", "since"] {
                    check!(
                        problems,
                        summary.contains(word),
                        "{word:?} missing at {width} px: {summary}"
                    );
                }
                let data = client
                    .find(Locator::Css("section[data-volume=\"data\"]"))
                    .await?
                    .text()
                    .await?;
                for id in &ids[..2] {
                    check!(
                        problems,
                        data.contains(id.as_str()),
                        "snapshot {id} not shown as text: {data}"
                    );
                }
                check!(
                    problems,
                    data.contains("UTC"),
                    "snapshot times not shown as text: {data}"
                );
                let body = client.find(Locator::Css("body")).await?.text().await?;
                check!(
                    problems,
                    body.contains("verify"),
                    "the last verify is not said: {body}"
                );
                Ok::<(), fantoccini::error::CmdError>(())
            }
            .await;
            let _ = client.close().await;
            result.expect("browser session");
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    });
}

#[test]
fn a_failing_backup_shows_its_error_once() {
    let driver = start_chromedriver();
    // The repository is named but never initialised: every backup fails.
    let s = Server::start(repo_config(""), |d| {
        for f in ["vol/notes.txt", "media/a.bin"] {
            let p = d.join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, "x").expect("write");
        }
    });
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let (status, job) = backup_now(&s, "?volume=data").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(job["status"], "failed", "{job}");
        let mut problems: Vec<String> = Vec::new();
        for (width, height) in [(1280, 1000), (390, 844)] {
            let client = browser_sized(&driver, width, height).await;
            let problems = &mut problems;
            let result = async {
                client.goto(&s.url(&format!("/?token={TOKEN}"))).await?;
                shoot(&client, &format!("failing-{width}")).await?;
                let l = layout(&client, width).await?;
                check!(
                    problems,
                    l["scroll"].as_u64().unwrap_or(u64::MAX) <= u64::from(width),
                    "the page scrolls sideways at {width} px: {l}"
                );
                let body = client.find(Locator::Css("body")).await?.text().await?;
                let summary = client.find(Locator::Css(".summary")).await?.text().await?;
                check!(problems, summary.contains("NOT protected"), "{summary}");
                for li in client.find_all(Locator::Css(".alerts li")).await? {
                    let t = li.text().await?;
                    check!(
                        problems,
                        t != "the reason above",
                        "an alert says only {t:?}"
                    );
                }
                // The longest sentence of any error shown must be there exactly once.
                let errors = client.find_all(Locator::Css(".error")).await?;
                check!(problems, !errors.is_empty(), "no error shown: {body}");
                for e in errors {
                    let text = e.text().await?;
                    let n = body.matches(text.as_str()).count();
                    check_eq!(problems, n, 1, "shown {n} times: {text}\n---\n{body}");
                }
                Ok::<(), fantoccini::error::CmdError>(())
            }
            .await;
            let _ = client.close().await;
            result.expect("browser session");
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    });
}
