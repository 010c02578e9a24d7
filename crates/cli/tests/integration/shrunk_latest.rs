//! "Nothing never replaces something", `forget ID…` and "`latest` is never ambiguous in
//! silence", run as a user would on a file:// repository: each test is named after the
//! finding it pins.
//!
//! The story behind the first ones: a volume that is not really mounted reads as an empty
//! directory; its backup used to be an ordinary snapshot that became `latest`, was
//! restored by `restore_if_empty`, and pushed the last good snapshot out of retention.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// A project directory: holdfast.toml with a file:// repository and the given
/// `[[volumes]]` tables, run with a password from the environment.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(volumes: &str) -> Project {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = format!(
            "[repository]\nurl = \"file://{}\"\n\n{volumes}",
            dir.path().join("repo").display()
        );
        std::fs::write(dir.path().join("holdfast.toml"), config).expect("write config");
        Project { dir }
    }

    /// The one-volume project of the story: volume `app-data` at `vol`, holding three
    /// files, with `restore_if_empty = true`; the repository initialised.
    fn app_data() -> Project {
        let p = Project::new(
            "[[volumes]]\nname = \"app-data\"\npath = \"vol\"\nrestore_if_empty = true\n\
             sqlite_autodetect = false\n",
        );
        p.fill("vol");
        p.ok(&["init"]);
        p
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn fill(&self, rel: &str) {
        let dir = self.path(rel);
        std::fs::create_dir_all(dir.join("uploads")).expect("mkdir");
        std::fs::write(dir.join("uploads/photo.bin"), vec![7u8; 100_000]).expect("write");
        std::fs::write(dir.join("settings.json"), "{}").expect("write");
        std::fs::write(dir.join("notes.txt"), "hello").expect("write");
    }

    /// Everything but holdfast's own state removed from `rel`: what the app's directory
    /// looks like when the volume is not mounted on it.
    fn wipe(&self, rel: &str) {
        for e in std::fs::read_dir(self.path(rel)).expect("read dir") {
            let e = e.expect("entry");
            if e.file_name().to_string_lossy().starts_with(".holdfast") {
                continue;
            }
            if e.file_type().expect("type").is_dir() {
                std::fs::remove_dir_all(e.path()).expect("remove dir");
            } else {
                std::fs::remove_file(e.path()).expect("remove file");
            }
        }
    }

    /// `holdfast ARGS…` in the project: exit code, stdout, stderr.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_holdfast"))
            .args(args)
            .current_dir(self.dir.path())
            .env("HOLDFAST_PASSWORD", "correct horse battery")
            .env("HOLDFAST_KDF", "insecure-fast")
            .env("HOLDFAST_CACHE_DIR", self.path("cache"))
            .env_remove("HOLDFAST_CONFIG")
            .env_remove("HOLDFAST_REPOSITORY")
            .env_remove("HOLDFAST_PASSWORD_FILE")
            .env_remove("HOLDFAST_PASSWORD_COMMAND")
            .env_remove("HOLDFAST_LOG_FORMAT")
            .env_remove("RUST_LOG")
            .env_remove("RAILWAY_VOLUME_MOUNT_PATH")
            .output()
            .expect("run holdfast");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs and expects exit 0; stdout.
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "holdfast {args:?}: {out}{err}");
        out
    }

    /// `snapshots --json`, oldest first.
    fn snapshots(&self) -> Vec<Value> {
        let out = self.ok(&["--json", "snapshots"]);
        match serde_json::from_str(&out).expect("snapshots JSON") {
            Value::Array(list) => list,
            other => panic!("not an array: {other}"),
        }
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// The story up to the trap: one good backup, then two nights of the volume not mounted.
/// Returns the good snapshot's id and the two empty ones'.
fn good_then_two_empty(p: &Project) -> (String, Vec<String>) {
    p.ok(&["backup"]);
    p.wipe("vol");
    for _ in 0..2 {
        let (code, out, err) = p.run(&["backup"]);
        assert_eq!(code, 3, "a shrunk snapshot exits 3: {out}{err}");
    }
    let list = p.snapshots();
    assert_eq!(list.len(), 3);
    (id(&list[0]), vec![id(&list[1]), id(&list[2])])
}

/// Finding 1: `holdfast backup` of an unmounted (empty) volume printed `snapshot … 0
/// files, 0 B` and exited 0, like any other backup.
#[test]
fn an_empty_backup_of_a_volume_that_had_files_is_flagged_shrunk_and_warned() {
    let p = Project::app_data();
    p.ok(&["backup"]);
    p.wipe("vol");
    let (code, out, err) = p.run(&["backup"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("WARNING") && err.contains("flagged shrunk") && err.contains("mounted"),
        "{err}"
    );
    assert!(
        err.contains("--remove shrunk"),
        "the way to accept it: {err}"
    );
    // The second empty night compares with the good snapshot, not the first empty one.
    let (code, _, err) = p.run(&["backup"]);
    assert_eq!(code, 3, "{err}");
    let list = p.snapshots();
    assert!(list[0].get("shrunk").is_none(), "the good one has no key");
    for flagged in &list[1..] {
        let f = &flagged["shrunk"];
        assert_eq!(f["reference"], list[0]["id"], "{flagged}");
        assert_eq!(
            (f["files_before"].as_u64(), f["files_after"].as_u64()),
            (Some(3), Some(0))
        );
        assert_eq!(f["size_after"], 0);
    }
    let table = p.ok(&["snapshots"]);
    assert_eq!(table.matches("SHRUNK").count(), 2, "{table}");
    // `status` alerts (exit 3) until a backup that is not flagged.
    let (code, out, err) = p.run(&["status"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("flagged shrunk"),
        "{out}{err}"
    );
    // backup --json carries the same object.
    let (code, out, _) = p.run(&["--json", "backup"]);
    assert_eq!(code, 3);
    let reports: Value = serde_json::from_str(&out).expect("backup JSON");
    assert_eq!(reports[0]["shrunk"]["files_before"], 3);
    // A backup with the files back is not flagged and exits 0.
    p.fill("vol");
    let (code, _, err) = p.run(&["backup"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("shrunk"), "{err}");
    let (_, out, err) = p.run(&["status"]);
    assert!(
        !format!("{out}{err}").contains("flagged shrunk"),
        "{out}{err}"
    );
}

/// Finding 1, `shrink_alert`: more than the configured share of the files gone flags
/// the snapshot; less does not.
#[test]
fn losing_more_than_shrink_alert_of_the_files_flags_the_snapshot() {
    let p = Project::new(
        "[[volumes]]\nname = \"app-data\"\npath = \"vol\"\nshrink_alert = \"20%\"\n\
         sqlite_autodetect = false\n",
    );
    p.fill("vol");
    for n in 0..7 {
        std::fs::write(p.path(&format!("vol/extra{n}")), "x").expect("write");
    }
    p.ok(&["init"]);
    p.ok(&["backup"]);
    // 1 of 10 files gone (10 %): fine. The photo is nearly all the bytes: keep it.
    std::fs::remove_file(p.path("vol/extra0")).expect("rm");
    p.ok(&["backup"]);
    // 3 of 9 gone (33 %) against 20 %: flagged.
    for n in 1..4 {
        std::fs::remove_file(p.path(&format!("vol/extra{n}"))).expect("rm");
    }
    let (code, _, err) = p.run(&["backup"]);
    assert_eq!(code, 3, "{err}");
    let list = p.snapshots();
    assert!(list[1].get("shrunk").is_none());
    assert_eq!(list[2]["shrunk"]["files_after"], 6);
}

/// Finding 1, retention side: with `keep_last`, a few nights of empty snapshots pushed
/// the last good one out and `forget --prune` deleted it.
#[test]
fn forget_never_drops_the_last_good_snapshot_behind_shrunk_ones() {
    let p = Project::app_data();
    let (good, _) = good_then_two_empty(&p);
    let dry = p.ok(&["forget", "--keep-last", "1", "--dry-run"]);
    let line = dry
        .lines()
        .find(|l| l.starts_with(&good[..8]))
        .unwrap_or_else(|| panic!("the good snapshot is listed: {dry}"));
    assert!(
        line.contains("keep") && line.contains("newest snapshot not flagged shrunk"),
        "{line}"
    );
    let out = p.ok(&["--json", "forget", "--keep-last", "1", "--prune"]);
    let report: Value = serde_json::from_str(&out).expect("forget JSON");
    let kept: Vec<&str> = report["groups"][0]["keep"]
        .as_array()
        .expect("keep")
        .iter()
        .filter_map(|k| k["id"].as_str())
        .collect();
    assert!(kept.contains(&good.as_str()), "{out}");
    let left: Vec<String> = p.snapshots().iter().map(id).collect();
    assert_eq!(left.len(), 2, "the newest (flagged) and the good one");
    assert!(left.contains(&good));
}

/// Finding 1, restore side: on the next deploy onto an empty volume, `restore_if_empty`
/// "restored" the empty snapshot and the app started on nothing.
#[test]
fn restore_if_empty_takes_the_last_good_snapshot_not_the_empty_one() {
    let p = Project::app_data();
    let (good, empty) = good_then_two_empty(&p);
    let (code, _, err) = p.run(&[
        "run",
        "--no-serve",
        "--",
        "sh",
        "-c",
        "test -f vol/uploads/photo.bin && exit 42",
    ]);
    assert_eq!(code, 42, "the app saw the good snapshot's files: {err}");
    assert!(
        err.contains(&format!("took snapshot {}", &good[..8]))
            && err.contains("passed over 2 newer flagged snapshot(s)")
            && err.contains(&empty[1][..8]),
        "{err}"
    );
}

/// Finding 1, restore side for a person: `restore latest` takes the newest snapshot as
/// written, but says loudly that it is flagged and which one is good.
#[test]
fn restore_latest_warns_when_latest_is_flagged_shrunk() {
    let p = Project::app_data();
    let (good, empty) = good_then_two_empty(&p);
    let (code, _, err) = p.run(&["restore", "latest", "--target", "r"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("WARNING")
            && err.contains(&format!("snapshot {}", &empty[1][..8]))
            && err.contains(&format!(
                "newest unflagged snapshot of app-data is {}",
                &good[..8]
            )),
        "{err}"
    );
    // By id, the choice is the user's: no warning.
    let (code, _, err) = p.run(&["restore", &good[..12], "--target", "r2"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("WARNING"), "{err}");
    assert!(p.path("r2/uploads/photo.bin").is_file());
}

/// Finding 1, the way out of a real deletion: `tag ID --remove shrunk` clears the flag,
/// and the next backup compares with the accepted snapshot.
#[test]
fn tag_remove_shrunk_accepts_a_real_deletion() {
    let p = Project::app_data();
    let (_, empty) = good_then_two_empty(&p);
    let out = p.ok(&["tag", &empty[1][..12], "--remove", "shrunk"]);
    assert!(out.contains("shrunk flag cleared"), "{out}");
    let list = p.snapshots();
    let newest = list.last().expect("newest");
    assert!(newest.get("shrunk").is_none(), "{newest}");
    assert_eq!(newest["original"].as_str(), Some(empty[1].as_str()));
    let (code, _, err) = p.run(&["backup"]);
    assert_eq!(code, 0, "the empty volume is now the accepted state: {err}");
}

/// A repository holding a configured volume and a path backed up by hand.
fn volume_and_path() -> Project {
    let p = Project::app_data();
    p.ok(&["backup"]);
    p.fill("elsewhere");
    std::fs::write(p.path("elsewhere/only-here.txt"), "x").expect("write");
    p.ok(&["backup", "elsewhere"]);
    p
}

/// Finding 4: after backing up a second directory into the same repository, `restore
/// latest --target DIR` restored that one instead of the app's volume, without a word.
#[test]
fn restore_latest_with_two_roots_refuses_and_lists_the_choices() {
    let p = volume_and_path();
    // Outside the project (no holdfast.toml), nothing says which is meant.
    std::fs::remove_file(p.path("holdfast.toml")).expect("rm config");
    let repo = format!("file://{}", p.path("repo").display());
    let elsewhere = std::fs::canonicalize(p.path("elsewhere")).expect("canonical");
    for args in [
        vec!["restore", "latest", "--target", "r"],
        vec!["ls", "latest"],
        vec!["ls", "latest~1"],
        vec!["diff", "latest~1", "latest"],
        vec!["export", "latest", "--output", "x.tar"],
    ] {
        let mut all = vec!["--repo", repo.as_str()];
        all.extend_from_slice(&args);
        let (code, out, err) = p.run(&all);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(
            err.contains("ambiguous")
                && err.contains("latest:app-data")
                && err.contains(&format!("latest:{}", elsewhere.display())),
            "{args:?}: {err}"
        );
    }
    assert!(!p.path("r").exists() && !p.path("x.tar").exists());
    // Each choice works as printed.
    let by_path = format!("latest:{}", elsewhere.display());
    p.ok(&["--repo", &repo, "restore", &by_path, "--target", "r"]);
    assert!(p.path("r/only-here.txt").is_file());
    p.ok(&[
        "--repo",
        &repo,
        "restore",
        "latest:app-data",
        "--target",
        "r2",
    ]);
    assert!(!p.path("r2/only-here.txt").exists());
}

/// Finding 4, inside a configured project: the one configured volume is meant, and
/// stderr says so.
#[test]
fn latest_in_a_one_volume_project_picks_the_volume_and_says_so() {
    let p = volume_and_path();
    let (code, _, err) = p.run(&["restore", "latest", "--target", "r"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("ambiguous") && err.contains("using `latest:app-data`"),
        "{err}"
    );
    assert!(p.path("r/uploads/photo.bin").is_file());
    assert!(!p.path("r/only-here.txt").exists(), "not the other path");
    let out = p.ok(&["ls", "latest"]);
    assert!(
        out.contains("photo.bin") && !out.contains("only-here"),
        "{out}"
    );
}

/// Finding 4 with two configured volumes: the project does not say which one either.
#[test]
fn latest_in_a_two_volume_project_refuses() {
    let p = Project::new(
        "[[volumes]]\nname = \"app-data\"\npath = \"vol\"\nsqlite_autodetect = false\n\n\
         [[volumes]]\nname = \"uploads\"\npath = \"up\"\nsqlite_autodetect = false\n",
    );
    p.fill("vol");
    p.fill("up");
    p.ok(&["init"]);
    p.ok(&["backup"]);
    let (code, _, err) = p.run(&["restore", "latest", "--target", "r"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("latest:app-data") && err.contains("latest:uploads"),
        "{err}"
    );
}

/// Finding 4 for `restore --database`: with two volumes in the repository and the other
/// one backed up last, a plain `latest` means the latest snapshot of the volume that
/// holds the database, not the newest snapshot of any volume.
#[test]
fn restore_database_latest_means_the_volume_that_holds_the_database() {
    let p = Project::new(
        "[[volumes]]\nname = \"app-data\"\npath = \"vol\"\nsqlite_autodetect = false\n\
         databases = [{ kind = \"sqlite\", path = \"db/app.db\" }]\n\n\
         [[volumes]]\nname = \"uploads\"\npath = \"up\"\nsqlite_autodetect = false\n",
    );
    p.fill("vol");
    p.fill("up");
    std::fs::create_dir_all(p.path("vol/db")).expect("mkdir");
    let db = rusqlite::Connection::open(p.path("vol/db/app.db")).expect("open db");
    db.execute_batch("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1);")
        .expect("write db");
    drop(db);
    p.ok(&["init"]);
    p.ok(&["backup", "--volume", "app-data"]);
    p.ok(&["backup", "--volume", "uploads"]);
    let db = rusqlite::Connection::open(p.path("vol/db/app.db")).expect("open db");
    db.execute("INSERT INTO t VALUES (2)", []).expect("insert");
    drop(db);
    let (code, out, err) = p.run(&["restore", "latest", "--database", "app.db", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let db = rusqlite::Connection::open(p.path("vol/db/app.db")).expect("open db");
    let rows: i64 = db
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .expect("count");
    assert_eq!(
        rows, 1,
        "the database as app-data's latest snapshot held it"
    );
}

/// Finding 5: there was no way to drop one bad snapshot (`holdfast forget 86b7b026` →
/// `unexpected argument`).
#[test]
fn forget_id_removes_exactly_that_snapshot() {
    let p = Project::app_data();
    let (good, empty) = good_then_two_empty(&p);
    let prefix = &empty[0][..8];
    let dry = p.ok(&["forget", prefix, "--dry-run"]);
    assert!(
        dry.contains(&format!("would remove snapshot {prefix} of app-data")),
        "{dry}"
    );
    assert_eq!(p.snapshots().len(), 3, "a dry run deletes nothing");
    let out = p.ok(&["--json", "forget", prefix, "latest:app-data"]);
    let groups: Value = serde_json::from_str(&out).expect("forget JSON");
    let removed: Vec<&str> = groups[0]["remove"]
        .as_array()
        .expect("remove")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(removed, [empty[1].as_str(), empty[0].as_str()]);
    assert_eq!(
        p.snapshots().iter().map(id).collect::<Vec<_>>(),
        std::slice::from_ref(&good)
    );
    // Combined with a policy: a usage error, nothing deleted.
    let (code, _, err) = p.run(&["forget", &good[..8], "--keep-last", "1"]);
    assert_eq!(code, 2, "{err}");
    // A selector that names nothing fails before anything is deleted.
    let (code, _, err) = p.run(&["forget", &good[..8], "latest:app-data~5"]);
    assert_ne!(code, 0, "{err}");
    assert_eq!(p.snapshots().len(), 1);
}

/// Finding 1, the alert: a `backup_shrunk` event reaches a `[[notify]]` webhook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shrunk_backup_is_notified() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = {
        let seen = seen.clone();
        move |body: String| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("log").push(body);
                axum::http::StatusCode::OK
            }
        }
    };
    let app = axum::Router::new().fallback(record);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let p = Project::new(&format!(
        "[[volumes]]\nname = \"app-data\"\npath = \"vol\"\nsqlite_autodetect = false\n\n\
         [[notify]]\nkind = \"webhook\"\nurl = \"http://{addr}/hook\"\n"
    ));
    p.fill("vol");
    let run = |args: &[&str]| tokio::task::block_in_place(|| p.run(args));
    assert_eq!(run(&["init"]).0, 0);
    assert_eq!(run(&["backup"]).0, 0);
    p.wipe("vol");
    assert_eq!(run(&["backup"]).0, 3);
    let events: Vec<Value> = seen
        .lock()
        .expect("log")
        .iter()
        .filter_map(|b| serde_json::from_str(b).ok())
        .collect();
    let shrunk = events
        .iter()
        .find(|e| e["event"] == "backup_shrunk")
        .unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(shrunk["volume"], "app-data");
    assert_eq!(shrunk["files_before"], 3);
    assert_eq!(shrunk["files_after"], 0);
    assert!(
        shrunk["message"]
            .as_str()
            .is_some_and(|m| m.contains("SHRUNK")),
        "{shrunk}"
    );
}
