//! The file API against a local process that swaps directories of the volume for
//! symlinks to a directory outside it, as fast as it can, while PUT, GET, HEAD, DELETE,
//! listing, uploads and the cache run against paths below the swapped directories.
//! Invariant: nothing outside the volume is ever read, written or removed, whatever the
//! interleaving (the server opens every path beneath the volume root without following
//! links). Each flip is one atomic `renameat2(RENAME_EXCHANGE)`, so the swapped name
//! always exists, alternately as a directory and as a symlink.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use reqwest::Method;
use rustix::fs::{CWD, RenameFlags, renameat_with};

use super::serve_util::{PNG, Server, Setup, TOKEN, files_under};

/// Request rounds (each a PUT, GETs, HEADs, a listing, a DELETE, an upload and cache
/// requests) issued while the flippers run.
const ROUNDS: u64 = 150;
/// Most flips of each swapped directory, whatever the speed of the requests.
const MAX_FLIPS: u64 = 50_000_000;
/// What the outside canary holds; it must never be served.
const CANARY: &str = "outside-canary-7f3e9c1d-never-serve-this";
/// A file that exists only outside; it must never be listed.
const OUTSIDE_ONLY: &str = "outside-only-5b2a.txt";

/// The directories of the volume that are flipped, relative to it.
const FLIPPED: [&str; 3] = ["race", "uploads", ".holdfast/cache"];

fn prepare(d: &Path) {
    let outside = d.join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir outside");
    std::fs::write(outside.join("canary.txt"), CANARY).expect("canary");
    std::fs::write(outside.join("victim.txt"), CANARY).expect("victim");
    std::fs::write(outside.join(OUTSIDE_ONLY), CANARY).expect("outside-only");
    for rel in FLIPPED {
        let dir = d.join("vol").join(rel);
        std::fs::create_dir_all(&dir).expect("mkdir flipped");
        std::fs::write(dir.join("canary.txt"), "inside").expect("inside canary");
        std::fs::write(dir.join("victim.txt"), "inside").expect("inside victim");
        let stash = stash_of(&dir);
        std::os::unix::fs::symlink(&outside, &stash).expect("symlink");
    }
}

fn stash_of(dir: &Path) -> std::path::PathBuf {
    let name = dir.file_name().expect("name").to_string_lossy();
    dir.with_file_name(format!("{name}-stash"))
}

/// Swaps `dir` and its stash (a symlink to the outside directory) until `stop` (at most
/// `MAX_FLIPS` times), leaving the directory in place at the end.
fn flipper(dir: std::path::PathBuf, flips: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    let stash = stash_of(&dir);
    for _ in 0..MAX_FLIPS {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        renameat_with(CWD, &dir, CWD, &stash, RenameFlags::EXCHANGE).expect("exchange");
        flips.fetch_add(1, Ordering::Relaxed);
    }
    if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
        renameat_with(CWD, &dir, CWD, &stash, RenameFlags::EXCHANGE).expect("exchange back");
    }
}

fn upload_form(i: u64) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(PNG.to_vec()).file_name(format!("p{i}.png"));
    reqwest::multipart::Form::new().part("file", part)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlink_flip_race_never_reaches_outside_the_volume() {
    let config = "[[volumes]]\nname = \"v\"\npath = \"vol\"\n";
    let s = Server::start(Setup::new(config), prepare);
    let outside = s.path("outside");
    let before = files_under(&outside);
    let flips = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = FLIPPED
        .iter()
        .map(|rel| {
            let (dir, flips, stop) = (s.path("vol").join(rel), flips.clone(), stop.clone());
            std::thread::spawn(move || flipper(dir, flips, stop))
        })
        .collect();
    let mut rounds = 0u64;
    let mut landed = 0u64;
    let mut served = Vec::new();
    while rounds < ROUNDS {
        let put = s
            .authed(
                Method::PUT,
                &format!("/api/v1/files/v/race/raced-{rounds}.txt"),
            )
            .body(format!("written in round {rounds}"))
            .send()
            .await
            .expect("put");
        if put.status().is_success() {
            landed += 1;
        }
        for path in ["race/canary.txt", "race/victim.txt"] {
            let get = s
                .authed(Method::GET, &format!("/api/v1/files/v/{path}"))
                .send()
                .await
                .expect("get");
            served.push(get.text().await.expect("get body"));
            let head = s
                .authed(Method::HEAD, &format!("/api/v1/files/v/{path}"))
                .send()
                .await
                .expect("head");
            let len = head.headers().get("content-length").cloned();
            if let Some(len) = len {
                let len = len.to_str().expect("ascii length").to_string();
                assert_ne!(
                    len,
                    CANARY.len().to_string(),
                    "HEAD {path} answered the outside size"
                );
            }
        }
        let list = s
            .authed(Method::GET, "/api/v1/files/v/?prefix=race/")
            .send()
            .await
            .expect("list");
        served.push(list.text().await.expect("list body"));
        let del = s
            .authed(Method::DELETE, "/api/v1/files/v/race/victim.txt")
            .send()
            .await
            .expect("delete");
        served.push(del.text().await.expect("delete body"));
        let up = s
            .authed(Method::POST, "/api/v1/uploads/v")
            .multipart(upload_form(rounds))
            .send()
            .await
            .expect("upload");
        served.push(up.text().await.expect("upload body"));
        let key = format!("race-key-{}", rounds % 7);
        let cache_put = s
            .authed(Method::PUT, &format!("/api/v1/cache/{key}"))
            .body(format!("cached {rounds}"))
            .send()
            .await
            .expect("cache put");
        served.push(cache_put.text().await.expect("cache put body"));
        let cache_get = s
            .authed(Method::GET, &format!("/api/v1/cache/{key}"))
            .send()
            .await
            .expect("cache get");
        served.push(cache_get.text().await.expect("cache get body"));
        if rounds.is_multiple_of(3) {
            let cache_del = s
                .authed(Method::DELETE, &format!("/api/v1/cache/{key}"))
                .send()
                .await
                .expect("cache delete");
            served.push(cache_del.text().await.expect("cache delete body"));
        }
        rounds += 1;
    }
    let during = flips.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("flipper");
    }
    let flipped = flips.load(Ordering::Relaxed);
    eprintln!("{rounds} request rounds during {during} flips; {landed} PUTs landed");
    assert!(during > 0 && flipped >= during, "the flippers never ran");
    for body in &served {
        assert!(!body.contains(CANARY), "outside content served: {body}");
        assert!(!body.contains(OUTSIDE_ONLY), "outside file listed: {body}");
    }
    assert_eq!(
        files_under(&outside),
        before,
        "files appeared outside the volume"
    );
    for name in ["canary.txt", "victim.txt", OUTSIDE_ONLY] {
        let text =
            std::fs::read_to_string(outside.join(name)).expect("outside file is still there");
        assert_eq!(text, CANARY, "{name} outside was changed");
    }
    let log = s.log();
    assert!(!log.contains(TOKEN), "the token was logged");
    assert!(!log.contains(CANARY), "outside content was logged");
    // The API still works once the flipping stops.
    let put = s
        .authed(Method::PUT, "/api/v1/files/v/race/after.txt")
        .body("after")
        .send()
        .await
        .expect("put after");
    assert!(put.status().is_success(), "{}", put.status());
    assert_eq!(
        std::fs::read_to_string(s.path("vol/race/after.txt")).expect("written inside"),
        "after"
    );
}
