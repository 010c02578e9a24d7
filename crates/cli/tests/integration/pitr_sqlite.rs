//! SQLite point-in-time recovery end to end, as a user runs it: `replicate = "200ms"` on
//! a database, `holdfast serve` beside a writer that commits numbered rows, holdfast
//! SIGKILLed, the database deleted, then `holdfast restore latest:v --database app.db`
//! (the newest point), `holdfast run` with `restore_if_missing` (the newest point again,
//! before the app starts) and `--time T --target DIR` (a past point). Each restore is a
//! gap-free prefix of the rows that passes `integrity_check`; a past point holds no row
//! committed after it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::serve_backup::{PASSWORD, prepare};
use super::serve_util::{Server, Setup};

const CONFIG: &str = "[repository]\nurl = \"file://{dir}/repo\"\n\
    [[volumes]]\nname = \"v\"\npath = \"vol\"\nsqlite_autodetect = false\n\
    databases = [{ kind = \"sqlite\", path = \"db/app.db\", replicate = \"200ms\" }]\n\
    restore_if_missing = [\"db/app.db\"]\n";

fn holdfast(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Server::command(dir)
        .args(["--config", "holdfast.toml"])
        .args(args)
        .env("HOLDFAST_PASSWORD", PASSWORD)
        .output()
        .expect("run holdfast");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The rows of `db`: their numbers, in order; `integrity_check` must pass.
fn rows(db: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(db).expect("open restored db");
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(ok, "ok");
    let mut stmt = conn.prepare("SELECT n FROM t ORDER BY n").expect("select");
    stmt.query_map([], |r| r.get(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
}

fn assert_prefix(rows: &[i64]) {
    for (i, n) in rows.iter().enumerate() {
        assert_eq!(*n, i as i64 + 1, "a gap-free prefix");
    }
}

/// `holdfast serve` on a project whose volume holds an empty WAL-mode database `t(n)`,
/// once its follower runs; the project directory.
fn start_serve() -> (Server, std::path::PathBuf) {
    let mut setup = Setup::new(CONFIG);
    setup
        .env
        .push(("HOLDFAST_PASSWORD".into(), PASSWORD.into()));
    let s = Server::start(setup, |dir| {
        prepare(dir);
        // prepare's stand-in file is not a database: the app's real one replaces it.
        let _ = std::fs::remove_file(dir.join("vol/db/app.db"));
        let conn = rusqlite::Connection::open(dir.join("vol/db/app.db")).expect("db");
        conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (n INTEGER PRIMARY KEY);")
            .expect("schema");
    });
    s.wait_log("point-in-time replication every 200 ms");
    let dir = s.dir().to_path_buf();
    (s, dir)
}

#[test]
fn a_killed_serve_loses_at_most_the_last_interval_and_restores_any_point() {
    let (mut s, dir) = start_serve();
    // The writer: 600 rows, one transaction each, a few milliseconds apart.
    let conn = rusqlite::Connection::open(dir.join("vol/db/app.db")).expect("db");
    let mut committed_at = Vec::new();
    for n in 1..=600i64 {
        conn.execute("INSERT INTO t VALUES (?1)", [n])
            .expect("insert");
        committed_at.push(chrono::Utc::now());
        std::thread::sleep(Duration::from_millis(3));
    }
    let middle = committed_at[299];
    // Let replication catch up with the writer, as an app that keeps running would;
    // the deadline only bounds a broken run.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (code, out, err) = holdfast(
            &dir,
            &["restore", "latest:v", "--database", "app.db", "--dry-run"],
        );
        if code == 0 && out.contains("up to transaction 600") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replication never caught up: {out}{err}\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(conn);
    // `holdfast status` reads the newest restorable point from the repository.
    let (_, out, err) = holdfast(&dir, &["--json", "status"]);
    let status: serde_json::Value = serde_json::from_str(&out).expect("status JSON");
    let db = &status[0]["databases"][0];
    assert_eq!(db["database"], "db/app.db", "{out}{err}");
    assert!(db["newest_point"].is_string(), "{out}");
    // The restore drill restores the newest point and says how far behind it is.
    let (code, out, err) = holdfast(&dir, &["--json", "verify", "--restore-test"]);
    assert_eq!(code, 0, "{out}{err}");
    let verify: serde_json::Value = serde_json::from_str(&out).expect("verify JSON");
    let point = &verify["point_tests"][0];
    assert_eq!(point["database"], "app.db", "{out}");
    assert_eq!(point["problems"], serde_json::json!([]), "{out}");
    assert!(
        point["reached"].is_string() && point["behind_s"].is_number(),
        "{out}"
    );
    // SIGKILL: nothing of holdfast gets to finish.
    Command::new("kill")
        .args(["-KILL", &s.pid().to_string()])
        .status()
        .expect("kill");
    let _ = s.wait_exit();
    for f in ["app.db", "app.db-wal", "app.db-shm"] {
        let _ = std::fs::remove_file(dir.join("vol/db").join(f));
    }

    let (code, out, err) = holdfast(
        &dir,
        &["restore", "latest:v", "--database", "app.db", "--yes"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("restored database app.db to "), "{out}");
    let newest = rows(&dir.join("vol/db/app.db"));
    assert_prefix(&newest);
    assert_eq!(newest.len(), 600, "every acknowledged row: {out}");

    // The app's start command after a redeploy that lost the database: `run` brings it
    // back at its newest point before the app starts.
    for f in ["app.db", "app.db-wal", "app.db-shm"] {
        let _ = std::fs::remove_file(dir.join("vol/db").join(f));
    }
    let (code, out, err) = holdfast(&dir, &["run", "--no-serve", "--", "true"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("restored database app.db to its newest point"),
        "{err}"
    );
    assert_eq!(rows(&dir.join("vol/db/app.db")).len(), 600, "{err}");

    let when = middle.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let (code, out, err) = holdfast(
        &dir,
        &[
            "restore",
            "latest:v",
            "--database",
            "app.db",
            "--time",
            &when,
            "--target",
            "past",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let past = rows(&dir.join("past/db/app.db"));
    assert_prefix(&past);
    let by_then = committed_at.iter().filter(|t| **t <= middle).count();
    assert!(
        past.len() <= by_then && !past.is_empty(),
        "{} rows at {when}, {by_then} committed by then",
        past.len()
    );
}

/// One trial of [`sigkill_at_random_moments_restores_a_prefix`]: rows acknowledged,
/// rows restored, and the time between the last acknowledged commit and the last
/// restored one (the writes lost, in time).
struct Trial {
    acked: usize,
    restored: usize,
    lost: Duration,
}

fn trial(rng: &mut super::proc_util::Rng) -> Trial {
    let (mut s, dir) = start_serve();
    let conn = rusqlite::Connection::open(dir.join("vol/db/app.db")).expect("db");
    // The writer commits about 200 rows a second; holdfast and the writer stop together
    // at a random moment 1 to 3 s in.
    let stop = Instant::now() + Duration::from_secs(1) + rng.within(Duration::from_secs(2));
    let mut committed_at = Vec::new();
    let mut n = 0i64;
    while Instant::now() < stop {
        n += 1;
        conn.execute("INSERT INTO t VALUES (?1)", [n])
            .expect("insert");
        committed_at.push(Instant::now());
        std::thread::sleep(Duration::from_millis(5));
    }
    Command::new("kill")
        .args(["-KILL", &s.pid().to_string()])
        .status()
        .expect("kill");
    let killed = Instant::now();
    let _ = s.wait_exit();
    drop(conn);
    for f in ["app.db", "app.db-wal", "app.db-shm"] {
        let _ = std::fs::remove_file(dir.join("vol/db").join(f));
    }
    let (code, out, err) = holdfast(
        &dir,
        &["restore", "latest:v", "--database", "app.db", "--yes"],
    );
    assert_eq!(code, 0, "{out}{err}\n{}", s.log());
    let restored = rows(&dir.join("vol/db/app.db"));
    assert_prefix(&restored);
    let last_restored = restored
        .len()
        .checked_sub(1)
        .map_or(killed - Duration::from_secs(60), |i| committed_at[i]);
    Trial {
        acked: committed_at.len(),
        restored: restored.len(),
        lost: committed_at.last().map_or(Duration::ZERO, |t| {
            t.saturating_duration_since(last_restored)
        }),
    }
}

/// SIGKILL of `serve` and the writer at random moments (`HOLDFAST_TORTURE_TRIALS`,
/// default 20), the database deleted, `restore --database` at the newest point: every
/// trial restores a gap-free prefix of the acknowledged rows that passes
/// `integrity_check`. How much was lost (rows, and time before the kill) is printed, not
/// asserted: the RPO is a figure of the benchmark, not a threshold of the test.
#[test]
fn sigkill_at_random_moments_restores_a_prefix() {
    let mut rng = super::proc_util::Rng(0x5eed_2027);
    let mut lost = Vec::new();
    for i in 0..super::proc_util::trials(20) {
        let t = trial(&mut rng);
        println!(
            "trial {i}: {} acknowledged, {} restored, {} lost ({:.0} ms of writes)",
            t.acked,
            t.restored,
            t.acked - t.restored,
            t.lost.as_secs_f64() * 1000.0
        );
        lost.push(t.lost);
    }
    lost.sort();
    println!(
        "writes lost after SIGKILL (replicate = 200ms): median {:.0} ms, max {:.0} ms over {} trials",
        lost[lost.len() / 2].as_secs_f64() * 1000.0,
        lost[lost.len() - 1].as_secs_f64() * 1000.0,
        lost.len()
    );
}
