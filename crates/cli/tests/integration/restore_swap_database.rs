//! A database restore (`holdfast restore SNAPSHOT --database NAME --yes`) killed the
//! moment the live WAL leaves its place, at every step of the swap and at random moments
//! (`HOLDFAST_TORTURE_TRIALS`, fixed seed; one `torture restore-database: …` line): after recovery
//! the live database reads whole with every committed row (the WAL came back with it) or
//! the restored copy is in place, nothing is left behind, and the next restore completes.

use std::path::{Path, PathBuf};

use super::restore_swap::{Project, kill, leftovers, wait_for};

/// Rows of table t, or None when the database cannot be read.
fn rows(db: &Path) -> Option<i64> {
    let conn = rusqlite::Connection::open(db).ok()?;
    conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .ok()
}

/// A WAL database with `checkpointed` rows in the main file and `in_wal` more only in its
/// `-wal` (the connection is leaked open so nothing checkpoints them).
fn live_db(db: &Path, checkpointed: i64, in_wal: i64) {
    std::fs::create_dir_all(db.parent().expect("parent")).expect("mkdir");
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.execute_batch("CREATE TABLE t(n INTEGER)")
        .expect("table");
    for n in 0..checkpointed {
        conn.execute("INSERT INTO t VALUES (?1)", [n])
            .expect("insert");
    }
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
        .expect("checkpoint");
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .expect("no autocheckpoint");
    for n in 0..in_wal {
        conn.execute("INSERT INTO t VALUES (?1)", [n])
            .expect("insert");
    }
    std::mem::forget(conn);
}

/// Copies a database with its sidecars (a picture of it as a crash would leave it).
fn copy_db(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    for suffix in ["", "-wal", "-shm"] {
        let mut f = from.as_os_str().to_owned();
        f.push(suffix);
        let mut t = to.as_os_str().to_owned();
        t.push(suffix);
        if Path::new(&f).exists() {
            std::fs::copy(&f, &t).expect("copy");
        }
    }
}

/// Random kills on top of the aimed ones: `HOLDFAST_TORTURE_TRIALS` (set by
/// `scripts/torture.sh`), else 2.
fn random_trials() -> usize {
    std::env::var("HOLDFAST_TORTURE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

#[test]
fn restore_database_killed_between_steps_never_loses_the_live_wal() {
    let p = Project::new("databases = [{ kind = \"sqlite\", path = \"db/app.db\" }]\n");
    let vol = p.vol();
    let db = vol.join("db/app.db");
    let pristine = p.dir.path().join("pristine/app.db");
    std::fs::create_dir_all(db.parent().expect("parent")).expect("mkdir");
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(n INTEGER);")
        .expect("schema");
    for n in 0..100 {
        conn.execute("INSERT INTO t VALUES (?1)", [n])
            .expect("insert");
    }
    drop(conn);
    p.ok(&["init"]);
    p.ok(&["backup"]);
    std::fs::remove_dir_all(vol.join("db")).expect("clear");
    // The live database: 30 rows in the file, 200 more only in its WAL.
    live_db(&pristine, 30, 200);
    assert_eq!(rows(&pristine), Some(230));
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let mut lost = Vec::new();
    let mut outcomes = Vec::new();
    let mut not_reached = Vec::new();
    let mut failed = Vec::new();
    let args = ["restore", "latest:v", "--database", "app.db", "--yes"];
    let wait = p.dir.path().join("paused");
    let aimed = [
        "journal-staging",
        "stage-synced",
        "journal-staged",
        "moved-old:0",
        "moved-old:1",
        "old-synced",
        "moved-new:0",
        "new-synced",
        "journal-swapped",
        "old-removed",
    ];
    // One uninterrupted run gives the span random kills are drawn from.
    let _ = std::fs::remove_dir_all(vol.join("db"));
    copy_db(&pristine, &db);
    let started = std::time::Instant::now();
    p.ok(&args);
    let span = started.elapsed().as_micros().max(1) as u64;
    assert_eq!(rows(&db), Some(100));
    let random: Vec<String> = (0..random_trials())
        .map(|k| format!("random-{k}"))
        .collect();
    let mut seed = 0x5eed_0d0b_u64;
    let mut trials = 0usize;
    let mut failed_trials = 0usize;
    // Kill the moment the live WAL leaves its place, at every step of the swap, and at
    // random moments.
    for trial in std::iter::once("wal-gone")
        .chain(aimed)
        .chain(random.iter().map(String::as_str))
    {
        let _ = std::fs::remove_dir_all(vol.join("db"));
        copy_db(&pristine, &db);
        let _ = std::fs::remove_file(&wait);
        trials += 1;
        let failures_before = (lost.len(), failed.len());
        let mut child = if trial.starts_with("random") {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = std::time::Duration::from_micros(seed % span);
            let child = p.spawn(&args, None);
            // The kill moment is what is random here; nothing waits on it.
            std::thread::sleep(at);
            child
        } else if trial == "wal-gone" {
            let mut child = p.spawn(&args, None);
            let mut seen = false;
            for _ in 0..50_000_000u64 {
                if !wal.exists() {
                    seen = true;
                    break;
                }
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
            }
            assert!(seen || !wal.exists(), "{trial}: the WAL never moved");
            child
        } else {
            let mut child = p.spawn(&args, Some((trial, &wait)));
            if !wait_for(&wait, &mut child) {
                not_reached.push(trial);
            }
            child
        };
        kill(&mut child);
        let err = p.recover();
        let n = rows(&db);
        eprintln!("database restore killed at {trial}: {n:?} rows after recovery");
        outcomes.push((trial, n));
        if n != Some(230) && n != Some(100) {
            lost.push((trial, n, err));
        }
        if !leftovers(&vol).is_empty() {
            eprintln!("{trial}: leftovers {:?}", leftovers(&vol));
            failed.push((trial, "leftovers"));
        }
        let (code, _, err) = p.run(&args);
        if code != 0 || rows(&db) != Some(100) {
            eprintln!("{trial}: the next restore failed (exit {code}): {err}");
            failed.push((trial, "next restore"));
        }
        if (lost.len(), failed.len()) != failures_before {
            failed_trials += 1;
        }
    }
    println!(
        "torture restore-database: {trials} trials, {} passed, {failed_trials} failed, data lost: {}",
        trials - failed_trials,
        lost.len()
    );
    eprintln!("database restore kills: {outcomes:?}; failpoints not reached: {not_reached:?}");
    assert!(lost.is_empty(), "the live WAL was lost: {lost:?}");
    assert!(failed.is_empty(), "{failed:?}");
    assert!(
        not_reached.is_empty(),
        "failpoints not reached: {not_reached:?}"
    );
}
