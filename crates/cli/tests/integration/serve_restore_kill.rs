//! A restore of one path through `POST /api/v1/restores` survives SIGKILL: the server
//! is stopped at each step of the swap (a failpoint that pauses the process and says so
//! in a file, then `kill -KILL`), started again (its start-up guard recovers the swap),
//! and the volume holds the old folder or the snapshot's, whole, with the rest of the
//! volume untouched; `GET /api/v1/restores` says which (`done` or `void`), and a `done`
//! restore is undone back to the old folder.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use super::serve_backup::{prepare, repo_config};
use super::serve_util::{Server, backup_now};

const STEPS: [&str; 11] = [
    "begun",
    "journal-staging",
    "stage-synced",
    "journal-staged",
    "moved-old:0",
    "old-synced",
    "moved-new:0",
    "new-synced",
    "journal-swapped",
    "old-removed",
    "journal-removed",
];

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

async fn json(
    s: &Server,
    method: Method,
    path: &str,
    body: Option<String>,
) -> (StatusCode, serde_json::Value) {
    let mut req = s.authed(method, path);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let r = req.send().await.expect("request");
    let status = r.status();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// Waits for job `id` to end, removing the failpoint's pause file whenever it appears
/// (so a failpoint step reached again only pauses for a moment).
async fn finish_job(s: &Server, id: &str, pause: &Path) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let _ = std::fs::remove_file(pause);
        let (_, job) = json(s, Method::GET, &format!("/api/v1/jobs/{id}"), None).await;
        if job["status"] != "running" {
            return job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "job {id} never ended: {job}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_restore_killed_at_each_step_leaves_the_old_or_the_new_folder_whole() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut outcomes: BTreeMap<&str, &str> = BTreeMap::new();
    for step in STEPS {
        let mut setup = repo_config("");
        let pause = tempfile::NamedTempFile::new()
            .expect("pause file")
            .into_temp_path();
        let pause_path = pause.to_path_buf();
        drop(pause);
        setup
            .env
            .push(("HOLDFAST_SWAP_FAILPOINT".into(), step.into()));
        setup.env.push((
            "HOLDFAST_SWAP_FAILPOINT_WAIT".into(),
            pause_path.display().to_string(),
        ));
        let s = Server::start(setup, |d| {
            prepare(d);
            write(d, "vol/uploads/a.txt", "old a");
            write(d, "vol/uploads/b/c.txt", "old c");
        });
        let vol = s.dir().join("vol");
        let (old, new) = rt.block_on(async {
            let (status, job) = backup_now(&s, "?volume=data").await;
            assert_eq!(
                (status, &job["status"]),
                (StatusCode::ACCEPTED, &"succeeded".into())
            );
            let snap = job["snapshots"][0]["snapshot"]
                .as_str()
                .expect("id")
                .to_string();
            let mut new = files(&vol);
            write(&vol, "uploads/a.txt", "changed a");
            write(&vol, "uploads/new.txt", "added");
            std::fs::remove_file(vol.join("uploads/b/c.txt")).expect("rm");
            let old = files(&vol);
            new.retain(|k, _| k.starts_with("uploads/"));
            let mut whole_new = old.clone();
            whole_new.retain(|k, _| !k.starts_with("uploads/"));
            whole_new.extend(new);
            let body = format!(r#"{{"snapshot":"{snap}","path":"uploads","volume":"data"}}"#);
            let (status, job) = json(&s, Method::POST, "/api/v1/restores", Some(body)).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{job}");
            let start = Instant::now();
            while !pause_path.exists() {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "step {step} never reached"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (old, whole_new)
        });
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &s.pid().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let _ = std::fs::remove_file(&pause_path);
        // Reaps the killed process and starts the server again in the same directory.
        let s = s.restart();
        let now = files(&vol);
        assert!(
            now == old || now == new,
            "step {step}: {now:?}\n{}",
            s.log()
        );
        outcomes.insert(step, if now == new { "new" } else { "old" });
        rt.block_on(async {
            let (status, list) = json(&s, Method::GET, "/api/v1/restores", None).await;
            assert_eq!(status, StatusCode::OK);
            let state = list[0]["state"].as_str().unwrap_or("none");
            if now == new {
                assert_eq!(state, "done", "step {step}: {list}");
                let id = list[0]["id"].as_str().expect("id");
                let (status, job) = json(
                    &s,
                    Method::POST,
                    &format!("/api/v1/restores/{id}/undo"),
                    None,
                )
                .await;
                assert_eq!(status, StatusCode::ACCEPTED, "step {step}: {job}");
                let job_id = job["id"].as_str().expect("job id").to_string();
                let done = finish_job(&s, &job_id, &pause_path).await;
                assert_eq!(done["status"], "succeeded", "step {step}: {done}");
                assert_eq!(files(&vol), old, "step {step}: after the undo");
            } else {
                assert!(state == "void" || state == "none", "step {step}: {list}");
            }
        });
        let leftovers: Vec<String> = std::fs::read_dir(vol.join(".holdfast/swap"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != "lock")
                    .collect()
            })
            .unwrap_or_default();
        assert!(leftovers.is_empty(), "step {step}: {leftovers:?}");
    }
    // Before the journal says `staged` a kill rolls back; from there it rolls forward.
    assert_eq!(outcomes["stage-synced"], "old", "{outcomes:?}");
    assert_eq!(outcomes["journal-staged"], "new", "{outcomes:?}");
    assert_eq!(outcomes["journal-removed"], "new", "{outcomes:?}");
}
