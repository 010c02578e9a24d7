//! `holdfast run`, volume backups with databases, and restore drills through the CLI:
//! the guard refuses an unmounted `require_mount` volume without starting the app, a
//! deleted database is restored before the app starts, exit codes and signals pass
//! through, `restore --database` and `--in-place` put data back, `verify --restore-test`
//! checks a restored copy.

use std::process::{Command, Stdio};

use super::volume_util::{TestDir, Tmpfs, outcome};

fn sqlite_rows(db: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open db");
    conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .expect("count")
}

fn make_db(db: &std::path::Path, rows: i64) {
    std::fs::create_dir_all(db.parent().expect("parent")).expect("mkdir");
    let conn = rusqlite::Connection::open(db).expect("create db");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.execute_batch("CREATE TABLE IF NOT EXISTS t(n INTEGER)")
        .expect("table");
    for n in 0..rows {
        conn.execute("INSERT INTO t VALUES (?1)", [n])
            .expect("insert");
    }
}

/// A project dir with a holdfast.toml over `volume`, a file:// repository and a password.
fn project(volume: &std::path::Path, require_mount: bool) -> TestDir {
    let t = TestDir::new();
    t.write(
        "holdfast.toml",
        format!(
            "[repository]\nurl = \"file://{repo}\"\n\n[[volumes]]\nname = \"data\"\npath = \"{vol}\"\nrequire_mount = {require_mount}\n\
             databases = [{{ kind = \"sqlite\", path = \"db/app.db\" }}]\nrestore_if_missing = [\"db/app.db\"]\n\n\
             [hooks]\nbefore_backup = [\"echo before >> {log}\"]\nafter_backup = [\"echo after >> {log}\"]\n",
            repo = t.path().join("repo").display(),
            vol = volume.display(),
            log = t.path().join("hooks.log").display(),
        ),
    );
    t.write("password", "test password\n");
    t
}

fn hf(t: &TestDir, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["--password-file", "password"];
    all.extend_from_slice(args);
    outcome(&t.holdfast(&all))
}

#[test]
fn run_refuses_an_unmounted_required_volume_without_starting_the_app() {
    let vol = tempfile::tempdir().expect("volume");
    let t = project(vol.path(), true);
    let marker = t.path().join("started");
    let cmd = format!("touch {}", marker.display());
    let (code, _, err) = hf(&t, &["run", "--no-serve", "--", "sh", "-c", &cmd]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a mount point"), "{err}");
    assert!(!marker.exists(), "the app must not have started");
}

#[test]
fn run_on_a_real_mount_restores_a_deleted_database_then_passes_the_exit_code() {
    let mnt = Tmpfs::mount("16m", &[]);
    let db = mnt.path().join("db/app.db");
    make_db(&db, 250);
    let t = project(mnt.path(), true);
    let (code, _, err) = hf(&t, &["init"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = hf(&t, &["backup"]);
    assert_eq!(code, 0, "{err}");
    let hooks = std::fs::read_to_string(t.path().join("hooks.log")).expect("hooks ran");
    assert_eq!(hooks, "before\nafter\n");
    std::fs::remove_file(&db).expect("lose the database");
    let check = format!("test -f {} && exit 42", db.display());
    let (code, _, err) = hf(&t, &["run", "--no-serve", "--", "sh", "-c", &check]);
    assert_eq!(
        code, 42,
        "the app saw the restored database and its code passed through: {err}"
    );
    assert!(err.contains("restored db/app.db"), "{err}");
    assert_eq!(sqlite_rows(&db), 250);
}

#[test]
fn run_forwards_sigterm_and_exits_with_the_apps_code_or_128_plus_signal() {
    let vol = tempfile::tempdir().expect("volume");
    make_db(&vol.path().join("db/app.db"), 1);
    let t = project(vol.path(), false);
    let ready = t.path().join("ready");
    let trapping = format!(
        "trap 'exit 99' TERM; touch {}; while true; do sleep 0.05; done",
        ready.display()
    );
    let dying = format!("touch {}; exec sleep 60", ready.display());
    for (script, want) in [(trapping, 99), (dying, 128 + 15)] {
        let _ = std::fs::remove_file(&ready);
        let mut child = Command::new(env!("CARGO_BIN_EXE_holdfast"))
            .args([
                "--password-file",
                "password",
                "run",
                "--no-serve",
                "--",
                "sh",
                "-c",
                &script,
            ])
            .current_dir(t.path())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn holdfast run");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !ready.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the app never started"
            );
            std::thread::yield_now();
        }
        let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("signal holdfast");
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(want), "{script}");
    }
}

#[test]
fn restore_database_in_place_and_restore_test() {
    let vol = tempfile::tempdir().expect("volume");
    let db = vol.path().join("db/app.db");
    make_db(&db, 100);
    std::fs::write(vol.path().join("notes.txt"), "v1").expect("write");
    let t = project(vol.path(), false);
    assert_eq!(hf(&t, &["init"]).0, 0);
    let (code, out, err) = hf(&t, &["--json", "backup"]);
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).expect("backup json");
    assert_eq!(summary[0]["files"], 2);
    assert_eq!(summary[0]["volume"], "data");

    make_db(&db, 5);
    let (code, _, err) = hf(&t, &["restore", "latest:data", "--database", "app.db"]);
    assert_eq!(code, 2, "--yes is required: {err}");
    let (code, _, err) = hf(
        &t,
        &["restore", "latest:data", "--database", "app.db", "--yes"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(sqlite_rows(&db), 100);

    std::fs::write(vol.path().join("notes.txt"), "v2").expect("write");
    std::fs::write(vol.path().join("stray.txt"), "new").expect("write");
    let (code, _, err) = hf(&t, &["restore", "latest", "--in-place", "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(vol.path().join("notes.txt")).expect("notes"),
        "v1"
    );
    assert!(
        !vol.path().join("stray.txt").exists(),
        "in-place gives exactly the snapshot"
    );
    let leftovers: Vec<_> = std::fs::read_dir(vol.path())
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".holdfast-"))
        .collect();
    assert!(leftovers.is_empty(), "no staging left: {leftovers:?}");

    let (code, out, err) = hf(&t, &["verify", "--restore-test"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 SQLite") && out.contains(": ok"), "{out}");
}
