//! Getting an old version of one file back with only the status page, in a real
//! headless Chromium: log in through the form, open the volume's snapshots from its
//! card, walk to a file three folders down, see its versions, download the older one
//! (the link's `href` fetched with the browser's session cookie; the bytes compared),
//! compare the two snapshots, search by name. Screenshots of the folder, versions,
//! diff and search views at 1280 and 390 px (`browse-page/*.png` under the test's target
//! tmp dir, the path printed); at 390 px the page never scrolls sideways.

use std::path::{Path, PathBuf};

use fantoccini::{Client, Locator};
use reqwest::StatusCode;

use super::serve_backup::{prepare, repo_config};
use super::serve_status_page::{browser_sized, start_chromedriver};
use super::serve_util::{Server, TOKEN, backup_now};

type CmdResult<T> = Result<T, fantoccini::error::CmdError>;

const FILE: &str = "uploads/2026/12/photo-of-the-harbour-at-dawn.txt";

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browse-page");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn shoot(client: &Client, name: &str) -> CmdResult<()> {
    let path = shots().join(format!("{name}.png"));
    std::fs::write(&path, client.screenshot().await?).expect("write screenshot");
    println!("screenshot: {}", path.display());
    Ok(())
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

async fn log_in(client: &Client, s: &Server) -> CmdResult<()> {
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
    Ok(())
}

async fn scroll_width(client: &Client) -> CmdResult<u64> {
    let v = client
        .execute("return document.documentElement.scrollWidth", vec![])
        .await?;
    Ok(v.as_u64().unwrap_or(u64::MAX))
}

/// Clicks the link whose text is `text` and waits for the browser to be at its target.
async fn follow(client: &Client, text: &str) -> CmdResult<()> {
    let link = client.find(Locator::LinkText(text)).await?;
    let href = link.prop("href").await?.unwrap_or_default();
    let to = reqwest::Url::parse(&href).expect("an absolute href");
    link.click().await?;
    client.wait().for_url(&to).await?;
    Ok(())
}

/// `href` fetched with the browser's session cookie.
async fn fetch_as_browser(client: &Client, href: &str) -> (StatusCode, String, Vec<u8>) {
    let cookie = client
        .get_named_cookie("holdfast_status")
        .await
        .expect("the session cookie");
    let r = reqwest::Client::new()
        .get(href)
        .header("cookie", format!("holdfast_status={}", cookie.value()))
        .send()
        .await
        .expect("GET the download link");
    let status = r.status();
    let disposition = r
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, disposition, r.bytes().await.expect("body").to_vec())
}

#[test]
fn an_old_version_of_a_file_is_found_and_downloaded_from_the_page() {
    let driver = start_chromedriver();
    let s = Server::start(repo_config(""), |d| {
        prepare(d);
        write(d, &format!("vol/{FILE}"), "the first photo");
        for i in 0..30 {
            write(d, &format!("vol/uploads/2026/12/other-{i:02}.txt"), "x");
        }
    });
    let vol = s.dir().join("vol");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let (status, job) = backup_now(&s, "?volume=data").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(job["status"], "succeeded", "{job}");
        let first = job["snapshots"][0]["snapshot"]
            .as_str()
            .expect("snapshot id")
            .to_owned();
        write(&vol, FILE, "the second photo, retouched");
        write(&vol, "uploads/2026/12/new-upload.txt", "new");
        let (_, job) = backup_now(&s, "?volume=data").await;
        assert_eq!(job["status"], "succeeded", "{job}");
        let second = job["snapshots"][0]["snapshot"]
            .as_str()
            .expect("snapshot id")
            .to_owned();

        let client = browser_sized(&driver, 1280, 1000).await;
        let result = async {
            log_in(&client, &s).await?;
            follow(&client, "Browse the snapshots of data").await?;
            let timeline = client.find(Locator::Id("timeline")).await?.text().await?;
            let (a, b) = (
                timeline.find(&first[..8]).unwrap_or(usize::MAX),
                timeline.find(&second[..8]).unwrap_or(usize::MAX),
            );
            assert!(
                b < a && a < usize::MAX,
                "ids as text, newest first: {timeline}"
            );
            assert!(timeline.contains(" UTC"), "times as text: {timeline}");
            follow(&client, &second[..8]).await?;
            follow(&client, "uploads/").await?;
            follow(&client, "2026/").await?;
            follow(&client, "12/").await?;
            let crumbs = client
                .find(Locator::Css("nav.crumbs"))
                .await?
                .text()
                .await?;
            assert_eq!(crumbs, "data / uploads / 2026 / 12", "{crumbs}");
            let entries = client.find(Locator::Id("entries")).await?.text().await?;
            assert!(
                entries.contains("27 B"),
                "sizes in KiB like the CLI: {entries}"
            );
            shoot(&client, "tree-1280").await?;
            follow(&client, FILE.rsplit('/').next().unwrap_or_default()).await?;
            let versions = client.find(Locator::Id("versions")).await?;
            let rows = versions.find_all(Locator::Css("tr.version")).await?;
            assert_eq!(rows.len(), 2, "{}", versions.text().await?);
            shoot(&client, "versions-1280").await?;
            // The older version is the second row; its download link.
            let href = rows[1]
                .find(Locator::Css("a.download"))
                .await?
                .prop("href")
                .await?
                .unwrap_or_default();
            assert!(href.contains(&first), "{href}");
            let (status, disposition, bytes) = fetch_as_browser(&client, &href).await;
            assert_eq!(status, StatusCode::OK);
            assert!(disposition.starts_with("attachment"), "{disposition}");
            assert_eq!(bytes, b"the first photo");
            let restore = rows[1]
                .find(Locator::LinkText("Restore this…"))
                .await?
                .prop("href")
                .await?
                .unwrap_or_default();
            assert!(restore.contains("/restore?volume=data"), "{restore}");

            client.goto(&s.url("/browse?volume=data")).await?;
            client
                .find(Locator::Css("form[action=\"/compare\"] button"))
                .await?
                .click()
                .await?;
            let changes = client
                .wait()
                .for_element(Locator::Id("changes"))
                .await?
                .text()
                .await?;
            assert!(
                changes.contains(FILE) && changes.contains("changed"),
                "{changes}"
            );
            assert!(changes.contains("added"), "{changes}");
            shoot(&client, "diff-1280").await?;

            client.goto(&s.url("/browse?volume=data")).await?;
            client
                .find(Locator::Id("find-pattern"))
                .await?
                .send_keys("photo-*")
                .await?;
            client
                .find(Locator::Css("form[action=\"/search\"] button"))
                .await?
                .click()
                .await?;
            let found = client
                .wait()
                .for_element(Locator::Id("found"))
                .await?
                .text()
                .await?;
            assert!(found.contains(FILE), "{found}");
            assert!(found.contains(&first[..8]) && found.contains(&second[..8]));
            shoot(&client, "search-1280").await?;
            Ok::<(), fantoccini::error::CmdError>(())
        }
        .await;
        let _ = client.close().await;
        result.expect("browser checks at 1280 px");

        let client = browser_sized(&driver, 390, 844).await;
        let result = async {
            log_in(&client, &s).await?;
            for (name, path) in [
                ("timeline-390", "/browse?volume=data".to_string()),
                (
                    "tree-390",
                    format!("/browse/{second}?path=uploads/2026/12&limit=12"),
                ),
                ("versions-390", format!("/browse/{second}/file?path={FILE}")),
                ("diff-390", format!("/compare?a={first}&b={second}")),
                ("search-390", "/search?pattern=photo-*".to_string()),
            ] {
                client.goto(&s.url(&path)).await?;
                shoot(&client, name).await?;
                let width = scroll_width(&client).await?;
                assert!(width <= 390, "{name}: the page is {width} px wide");
            }
            Ok::<(), fantoccini::error::CmdError>(())
        }
        .await;
        let _ = client.close().await;
        result.expect("browser checks at 390 px");
    });
}
