//! `[[notify]]` end to end: `holdfast backup` of the configured volumes tells a webhook
//! and a healthchecks-style ping URL (a small receiver on loopback that records what
//! arrives) when each backup starts, succeeds or fails, and a receiver that never
//! answers neither hangs the command nor gets its secret URL logged.

use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{StatusCode, Uri};

/// One request as it arrived: path (with query) and body.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A loopback HTTP receiver; `stall` makes it never answer.
async fn receiver(stall: bool) -> (String, Seen) {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .fallback(record)
        .with_state((seen.clone(), stall));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

async fn record(State((seen, stall)): State<(Seen, bool)>, uri: Uri, body: String) -> StatusCode {
    let path = uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    seen.lock().expect("receiver log").push((path, body));
    if stall {
        std::future::pending::<()>().await;
    }
    StatusCode::OK
}

/// A directory with two volumes and a holdfast.toml with the repository `repo` (where
/// `{dir}` stands for the directory) and the `notify` tables.
fn project(repo: &str, notify: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    let repo = repo.replace("{dir}", &dir.path().to_string_lossy());
    for v in ["alpha", "beta"] {
        std::fs::create_dir_all(dir.path().join(v)).expect("volume dir");
        std::fs::write(dir.path().join(v).join("data.txt"), v).expect("write");
    }
    let config = format!(
        "[repository]\nurl = \"{repo}\"\n\n\
         [[volumes]]\nname = \"alpha\"\npath = \"alpha\"\nsqlite_autodetect = false\n\n\
         [[volumes]]\nname = \"beta\"\npath = \"beta\"\nsqlite_autodetect = false\n\n{notify}"
    );
    std::fs::write(dir.path().join("holdfast.toml"), config).expect("write config");
    dir
}

async fn holdfast(dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(args)
        .current_dir(dir)
        .env("HOLDFAST_PASSWORD", "correct horse")
        .env("HOLDFAST_CACHE_DIR", dir.join("cache"))
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_REPOSITORY")
        .env_remove("HOLDFAST_PASSWORD_FILE")
        .env_remove("HOLDFAST_LOG_FORMAT")
        .env_remove("RUST_LOG")
        .env_remove("RAILWAY_VOLUME_MOUNT_PATH")
        .output()
        .await
        .expect("run holdfast")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn targets(base: &str) -> String {
    format!(
        "[[notify]]\nkind = \"webhook\"\nurl = \"{base}/hook/T0KEN\"\n\n\
         [[notify]]\nkind = \"healthchecks\"\nurl = \"{base}/ping/0f6d-uuid\"\n"
    )
}

/// The webhook events (name, volume) and the healthchecks paths a receiver saw.
fn split(seen: &Seen) -> (Vec<(String, String)>, Vec<String>) {
    let seen = seen.lock().expect("receiver log").clone();
    let mut hook = Vec::new();
    let mut pings = Vec::new();
    for (path, body) in seen {
        if path == "/hook/T0KEN" {
            let v: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
            let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            hook.push((field("event"), field("volume")));
        } else {
            pings.push(path);
        }
    }
    (hook, pings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_of_configured_volumes_notifies_start_and_success() {
    let (base, seen) = receiver(false).await;
    let dir = project("file://{dir}/repo", &targets(&base));
    let out = holdfast(dir.path(), &["init"]).await;
    assert!(out.status.success(), "init: {}", text(&out));

    let out = holdfast(dir.path(), &["backup"]).await;
    assert!(out.status.success(), "backup: {}", text(&out));
    let (hook, pings) = split(&seen);
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        hook,
        pairs(&[
            ("backup_started", "alpha"),
            ("backup_ok", "alpha"),
            ("backup_started", "beta"),
            ("backup_ok", "beta"),
        ])
    );
    assert_eq!(
        pings,
        [
            "/ping/0f6d-uuid/start",
            "/ping/0f6d-uuid",
            "/ping/0f6d-uuid/start",
            "/ping/0f6d-uuid",
        ]
    );
    let bodies = seen.lock().expect("receiver log").clone();
    let ok: serde_json::Value = bodies
        .iter()
        .filter(|(p, _)| p == "/hook/T0KEN")
        .map(|(_, b)| serde_json::from_str(b).expect("JSON"))
        .nth(1)
        .expect("the second webhook call");
    assert_eq!(ok["event"], "backup_ok", "{ok}");
    let ping = bodies
        .iter()
        .find(|(p, _)| p == "/ping/0f6d-uuid")
        .map(|(_, b)| b.as_str())
        .unwrap_or_default();
    assert!(ping.contains("backup of alpha ok"), "{ping}");
    assert!(ok["files"].as_u64().is_some_and(|n| n >= 1), "{ok}");
    assert!(
        ok["snapshot"].as_str().is_some_and(|s| !s.is_empty()),
        "{ok}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_backup_notifies_failure_with_the_error() {
    let (base, seen) = receiver(false).await;
    // A repository that was never initialised: every volume's backup fails.
    let dir = project("file:///nonexistent/holdfast-repo", &targets(&base));
    let out = holdfast(dir.path(), &["backup"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (hook, pings) = split(&seen);
    let names: Vec<&str> = hook.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names, ["backup_failed", "backup_failed"], "{hook:?}");
    assert_eq!(pings, ["/ping/0f6d-uuid/fail", "/ping/0f6d-uuid/fail"]);
    let bodies = seen.lock().expect("receiver log").clone();
    let failed: serde_json::Value = bodies
        .iter()
        .find(|(p, _)| p == "/hook/T0KEN")
        .map(|(_, b)| serde_json::from_str(b).expect("JSON"))
        .expect("a webhook call");
    assert!(
        failed["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{failed}"
    );
}

/// Finding: an unmounted `require_mount` volume was backed up as an empty snapshot with
/// exit 0 and a `backup_ok`. Now the guard refuses it: `backup_failed` naming the mount,
/// exit 3, and the other volume is still backed up (`backup_ok`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmounted_volume_notifies_backup_failed_and_the_other_is_backed_up() {
    let (base, seen) = receiver(false).await;
    let dir = project("file://{dir}/repo", &targets(&base));
    let config = dir.path().join("holdfast.toml");
    let text_of = std::fs::read_to_string(&config).expect("config");
    let guarded = text_of.replace(
        "name = \"alpha\"\npath = \"alpha\"\n",
        "name = \"alpha\"\npath = \"alpha\"\nrequire_mount = true\n",
    );
    assert_ne!(guarded, text_of);
    std::fs::write(&config, guarded).expect("config");
    let out = holdfast(dir.path(), &["init"]).await;
    assert!(out.status.success(), "init: {}", text(&out));
    let out = holdfast(dir.path(), &["backup"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let (hook, _) = split(&seen);
    let events: Vec<(&str, &str)> = hook.iter().map(|(e, v)| (e.as_str(), v.as_str())).collect();
    assert!(
        events.contains(&("backup_failed", "alpha")) && events.contains(&("backup_ok", "beta")),
        "{hook:?}"
    );
    assert!(!events.contains(&("backup_ok", "alpha")), "{hook:?}");
    let bodies = seen.lock().expect("receiver log").clone();
    let failed = bodies
        .iter()
        .filter(|(p, _)| p == "/hook/T0KEN")
        .map(|(_, b)| serde_json::from_str::<serde_json::Value>(b).expect("JSON"))
        .find(|v| v["event"] == "backup_failed")
        .expect("a backup_failed call");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a mount point")),
        "{failed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_receiver_neither_hangs_backup_nor_sees_its_url_logged() {
    let (base, seen) = receiver(true).await;
    let port = base.rsplit(':').next().expect("port");
    let notify = format!(
        "[[notify]]\nkind = \"ntfy\"\nurl = \"http://alice:SECRETPW@127.0.0.1:{port}/SECRETTOPIC?auth=SECRETQ\"\n"
    );
    let dir = project("file:///nonexistent/holdfast-repo", &notify);
    let out = holdfast(dir.path(), &["-vv", "backup"]).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        !seen.lock().expect("receiver log").is_empty(),
        "the receiver was reached"
    );
    assert!(all.contains(&format!("http://127.0.0.1:{port}/…")), "{all}");
    assert!(all.contains("not yet sent"), "{all}");
    assert!(!all.contains("SECRET") && !all.contains("alice"), "{all}");
}
