//! Restoring a folder into the live volume from the status page, in a real headless
//! Chromium: log in through the form, pick a snapshot and a path on the volume's card,
//! read the confirmation that names exactly what will be replaced, restore with
//! progress, check the volume, undo, check it again. Screenshots at 1280 and 390 px
//! (`restore-page/*.png` under the test's target tmp dir, the path printed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fantoccini::{Client, Locator};
use reqwest::StatusCode;

use super::serve_backup::{prepare, repo_config};
use super::serve_status_page::{browser_sized, start_chromedriver};
use super::serve_util::{Server, TOKEN, backup_now};

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("restore-page");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn shoot(client: &Client, name: &str) -> Result<(), fantoccini::error::CmdError> {
    let path = shots().join(format!("{name}.png"));
    std::fs::write(&path, client.screenshot().await?).expect("write screenshot");
    println!("screenshot: {}", path.display());
    Ok(())
}

/// Every file below `dir` with its content.
fn files(dir: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".holdfast")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .expect("below")
                .display()
                .to_string();
            (rel, std::fs::read_to_string(e.path()).unwrap_or_default())
        })
        .collect()
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

async fn log_in(client: &Client, s: &Server) -> Result<(), fantoccini::error::CmdError> {
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

async fn scroll_width(client: &Client) -> Result<u64, fantoccini::error::CmdError> {
    let v = client
        .execute("return document.documentElement.scrollWidth", vec![])
        .await?;
    Ok(v.as_u64().unwrap_or(u64::MAX))
}

#[test]
fn a_folder_is_restored_from_the_page_with_a_confirmation_progress_and_an_undo() {
    let driver = start_chromedriver();
    let s = Server::start(repo_config(""), |d| {
        prepare(d);
        write(d, "vol/uploads/a.txt", "original a");
        write(d, "vol/uploads/b/c.txt", "original c");
    });
    let vol = s.dir().join("vol");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let (status, job) = backup_now(&s, "?volume=data").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(job["status"], "succeeded", "{job}");
        let before = files(&vol);
        // The app goes on: a file changed, one added, one deleted.
        write(&vol, "uploads/a.txt", "changed by the app");
        write(&vol, "uploads/new.txt", "added by the app");
        std::fs::remove_file(vol.join("uploads/b/c.txt")).expect("rm");
        write(&vol, "notes.txt", "the app kept writing here");
        let changed = files(&vol);

        let client = browser_sized(&driver, 1280, 1000).await;
        let result = async {
            log_in(&client, &s).await?;
            let card = client
                .find(Locator::Css("section[data-volume=\"data\"]"))
                .await?;
            card.find(Locator::Css("details.restore summary"))
                .await?
                .click()
                .await?;
            card.find(Locator::Css("input[name=path]"))
                .await?
                .send_keys("uploads")
                .await?;
            card.find(Locator::Css("details.restore button"))
                .await?
                .click()
                .await?;
            let confirm = client
                .wait()
                .for_element(Locator::Css("section.confirm"))
                .await?
                .text()
                .await?;
            assert!(
                confirm.contains("This replaces exactly data/uploads")
                    && confirm.contains("2 files")
                    && confirm.contains("Undo"),
                "{confirm}"
            );
            shoot(&client, "confirm-1280").await?;
            client.find(Locator::Id("confirm")).await?.click().await?;
            let outcome = client.wait().for_element(Locator::Id("outcome")).await?;
            let text = outcome.text().await?;
            assert!(text.contains("2 files"), "{text}");
            shoot(&client, "restored-1280").await?;
            let mut want = changed.clone();
            want.retain(|k, _| !k.starts_with("uploads/"));
            want.insert("uploads/a.txt".into(), "original a".into());
            want.insert("uploads/b/c.txt".into(), "original c".into());
            assert_eq!(files(&vol), want, "after the restore");
            assert_eq!(want["notes.txt"], "the app kept writing here");

            client.find(Locator::Id("undo")).await?.click().await?;
            client
                .wait()
                .for_element(Locator::Id("outcome-undo"))
                .await?;
            assert_eq!(files(&vol), changed, "after the undo");
            client.goto(&s.url("/")).await?;
            let restores = client
                .find(Locator::Css("section.restores"))
                .await?
                .text()
                .await?;
            assert!(restores.contains("undone"), "{restores}");
            shoot(&client, "status-with-restores-1280").await?;
            Ok::<(), fantoccini::error::CmdError>(())
        }
        .await;
        let _ = client.close().await;
        result.expect("browser checks at 1280 px");
        assert_ne!(before, changed);

        let client = browser_sized(&driver, 390, 844).await;
        let result = async {
            log_in(&client, &s).await?;
            let snapshot = job["snapshots"][0]["snapshot"].as_str().unwrap_or_default();
            client
                .goto(&s.url(&format!(
                    "/restore?volume=data&snapshot={snapshot}&path=uploads"
                )))
                .await?;
            shoot(&client, "confirm-390").await?;
            assert!(scroll_width(&client).await? <= 390);
            client.goto(&s.url("/")).await?;
            shoot(&client, "status-390").await?;
            assert!(scroll_width(&client).await? <= 390);
            Ok::<(), fantoccini::error::CmdError>(())
        }
        .await;
        let _ = client.close().await;
        result.expect("browser checks at 390 px");
    });
}
