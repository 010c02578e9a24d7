//! The SQLite WAL follower and point-in-time restore against real SQLite and file://
//! repositories: a writer committing numbered rows while the follower ships, restores to
//! the newest point and to chosen past times, a checkpoint storm, VACUUM, a database
//! replaced underneath, a store that goes away (a tmpfs remounted read-only), two
//! destinations with one down, and a chain with a hole.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use holdfast_repo::wal::Reason;
use holdfast_repo::{InitOptions, KdfParams, Repository};
use holdfast_volume::databases::sqlite::{
    Destination, FollowOptions, Follower, Target, restore_to_time,
};
use rusqlite::Connection;

use super::util::Tmpfs;

async fn repo_at(dir: &Path) -> Repository {
    let store = holdfast_store::Store::open(&format!("file://{}", dir.display())).expect("store");
    let opts = InitOptions {
        password: "pw".into(),
        kdf: KdfParams::insecure_fast(),
    };
    holdfast_repo::init(store, &opts).await.expect("init")
}

fn app_db(path: &Path) -> Connection {
    let c = Connection::open(path).expect("open app db");
    c.pragma_update(None, "journal_mode", "WAL").expect("wal");
    c.busy_timeout(Duration::from_secs(5)).expect("busy");
    c.execute_batch("CREATE TABLE IF NOT EXISTS t(n INTEGER PRIMARY KEY, pad BLOB)")
        .expect("table");
    c
}

fn insert(c: &Connection, n: i64) {
    c.execute(
        "INSERT INTO t(n, pad) VALUES (?1, randomblob(300))",
        rusqlite::params![n],
    )
    .expect("insert");
}

fn rows(db: &Path) -> Vec<i64> {
    let c = Connection::open(db).expect("open restored");
    let mut s = c.prepare("SELECT n FROM t ORDER BY n").expect("prepare");
    s.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<Vec<i64>, _>>()
        .expect("rows")
}

fn opts(name: &str) -> FollowOptions {
    let mut o = FollowOptions::new(name);
    o.store_timeout = Duration::from_secs(5);
    o
}

fn dest(name: &str, repo: &Repository) -> Vec<Destination> {
    vec![Destination {
        name: name.into(),
        repo: repo.clone(),
    }]
}

async fn restored(
    repo: &Repository,
    name: &str,
    target: Target,
    dir: &Path,
) -> (Vec<i64>, PathBuf) {
    let out = dir.join(format!("restored-{}.db", uuid_ish()));
    let r = restore_to_time(repo, name, target, &out)
        .await
        .expect("restore");
    (rows(&r.path), r.path)
}

fn uuid_ish() -> u64 {
    static N: AtomicI64 = AtomicI64::new(0);
    N.fetch_add(1, Ordering::SeqCst) as u64
}

fn prefix(v: &[i64]) -> bool {
    v.iter().enumerate().all(|(i, n)| *n == i as i64 + 1)
}

#[tokio::test]
async fn a_writer_and_the_follower_restore_to_a_gap_free_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("app.db");
    drop(app_db(&db));
    let repo = repo_at(&dir.path().join("repo")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicI64::new(0));
    let writer = {
        let (db, stop, acked) = (db.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let c = app_db(&db);
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) || n < 300 {
                n += 1;
                insert(&c, n);
                acked.store(n, Ordering::SeqCst);
            }
            n
        })
    };
    let mut f = Follower::new(&db, opts("app.db"), dest("repository", &repo));
    let mut middle = Vec::new();
    for i in 0..40 {
        f.poll().await.expect("poll");
        if i % 10 == 9 {
            let before = acked.load(Ordering::SeqCst);
            f.poll().await.expect("poll");
            let (got, _) = restored(&repo, "app.db", Target::Newest, dir.path()).await;
            assert!(prefix(&got), "restored rows are not a gap-free prefix");
            assert!(
                got.len() as i64 >= before,
                "a row acknowledged before the poll is missing"
            );
            middle.push(got.len());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let last = writer.join().expect("writer");
    // A poll reads at most the local bound: under load the writer may be far ahead, so
    // poll until one reads nothing, nothing is left staged and every destination has its
    // base (a destination that timed out under load starts a new one).
    for _ in 0..1000 {
        let r = f.poll().await.expect("final poll");
        let based = f.status().iter().all(|d| d.needs_base.is_none());
        if r.read == 0 && f.staged_bytes() == 0 && based {
            break;
        }
    }
    let (got, path) = restored(&repo, "app.db", Target::Newest, dir.path()).await;
    assert_eq!(
        got.len() as i64,
        last,
        "newest restore misses acknowledged rows"
    );
    assert!(prefix(&got));
    assert!(
        holdfast_volume::databases::sqlite::integrity_check(&path)
            .expect("check")
            .is_empty()
    );
    assert!(middle.windows(2).all(|w| w[0] <= w[1]), "{middle:?}");
    assert!(f.status()[0].error.is_none(), "{:?}", f.status());
}

#[tokio::test]
async fn restore_to_chosen_times_gives_exactly_the_rows_read_by_then() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("app.db");
    let c = app_db(&db);
    let repo = repo_at(&dir.path().join("repo")).await;
    let mut f = Follower::new(&db, opts("app.db"), dest("repository", &repo));
    let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .expect("t")
        .with_timezone(&Utc);
    let at = |k: i64| t0 + TimeDelta::seconds(k);
    f.poll_at(at(0)).await.expect("base");
    let mut n = 0;
    // 40 polls, so compaction (16 segments a level) runs twice on the way.
    for k in 1..=40 {
        for _ in 0..k % 4 + 1 {
            n += 1;
            insert(&c, n);
        }
        let r = f.poll_at(at(k)).await.expect("poll");
        assert_eq!(r.segments, 1);
    }
    let mut expected = vec![0i64; 41];
    let mut total = 0;
    for k in 1..=40 {
        total += k % 4 + 1;
        expected[k as usize] = total;
    }
    for k in [1i64, 5, 16, 17, 23, 32, 33, 39, 40] {
        let (got, _) = restored(&repo, "app.db", Target::Time(at(k)), dir.path()).await;
        assert_eq!(got.len() as i64, expected[k as usize], "restore to t{k}");
        assert!(prefix(&got));
        // Half a second later is the same point: nothing was read in between.
        let (later, _) = restored(
            &repo,
            "app.db",
            Target::Time(at(k) + TimeDelta::milliseconds(500)),
            dir.path(),
        )
        .await;
        assert_eq!(later, got);
    }
    let out = dir.path().join("r40.db");
    let r = restore_to_time(&repo, "app.db", Target::Newest, &out)
        .await
        .expect("restore");
    assert_eq!(r.reached, at(40));
    // 1..=32 in two compacted segments, 33..=40 as written (plus the base's own).
    assert!(r.segments <= 2 + 8 + 1, "read {} segments", r.segments);
}

#[tokio::test]
async fn a_checkpoint_storm_keeps_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("app.db");
    let c = app_db(&db);
    let repo = repo_at(&dir.path().join("repo")).await;
    let mut o = opts("app.db");
    // A small bound, so the reset window runs often during the storm.
    o.checkpoint_bytes = 64 << 10;
    let mut f = Follower::new(&db, o, dest("repository", &repo));
    f.poll().await.expect("base");
    let wal = dir.path().join("app.db-wal");
    let first = holdfast_volume::databases::sqlite::wal::read_header(&wal)
        .expect("header")
        .expect("a wal");
    let mut breaks = 0;
    let mut largest = 0;
    for n in 1..=400 {
        insert(&c, n);
        // The app checkpoints TRUNCATE after every write, without waiting: while the
        // follower's pin is held the checkpoint answers busy, and the app goes on.
        c.busy_timeout(Duration::ZERO).expect("busy");
        let _busy: i64 = c
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .expect("checkpoint");
        c.busy_timeout(Duration::from_secs(5)).expect("busy");
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        if n % 20 == 0 {
            breaks += f.poll().await.expect("poll").breaks.len();
        }
    }
    f.poll().await.expect("poll");
    let (got, _) = restored(&repo, "app.db", Target::Newest, dir.path()).await;
    assert_eq!(got.len(), 400);
    assert!(prefix(&got));
    assert_eq!(breaks, 0, "the chain broke under a checkpoint storm");
    // The WAL restarted during the storm (new generations) and the chain followed on.
    let end = holdfast_volume::databases::sqlite::wal::read_header(&wal)
        .expect("header")
        .expect("a wal");
    assert!(
        end.checkpoint_seq > first.checkpoint_seq,
        "the WAL never restarted"
    );
    // The reset window kept the WAL near its bound (64 KiB, plus 20 writes between polls).
    assert!(largest < 1 << 20, "the WAL grew to {largest} bytes");
}

#[tokio::test]
async fn vacuum_and_a_replaced_database_restore_what_the_app_sees() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("app.db");
    let c = app_db(&db);
    let repo = repo_at(&dir.path().join("repo")).await;
    let mut f = Follower::new(&db, opts("app.db"), dest("repository", &repo));
    for n in 1..=500 {
        insert(&c, n);
    }
    f.poll().await.expect("poll");
    c.execute("DELETE FROM t WHERE n > 100", [])
        .expect("delete");
    c.execute_batch("VACUUM").expect("vacuum");
    f.poll().await.expect("poll");
    let (got, _) = restored(&repo, "app.db", Target::Newest, dir.path()).await;
    assert_eq!(got, (1..=100).collect::<Vec<i64>>());
    let before_replace = Utc::now();
    // The app replaces the file (a new database renamed over it).
    drop(c);
    let other = dir.path().join("new.db");
    let c2 = app_db(&other);
    for n in 1..=7 {
        insert(&c2, n);
    }
    c2.pragma_update(None, "wal_checkpoint", "TRUNCATE").ok();
    drop(c2);
    for side in holdfast_volume::sqlite::sidecars(&db) {
        let _ = std::fs::remove_file(side);
    }
    std::fs::rename(&other, &db).expect("replace");
    let c = app_db(&db);
    c.pragma_update(None, "wal_autocheckpoint", 0)
        .expect("no autocheckpoint");
    insert(&c, 8);
    // The follower lets go of the old file here: closing its connections must not
    // checkpoint into, or delete, the WAL that now belongs to the new database.
    let r = f.poll().await.expect("poll");
    assert!(
        r.breaks.contains(&("repository".into(), Reason::Replaced)),
        "{r:?}"
    );
    assert_eq!(r.bases, vec!["repository".to_string()]);
    insert(&c, 9);
    f.poll().await.expect("poll");
    drop(c);
    assert_eq!(
        rows(&db),
        (1..=9).collect::<Vec<i64>>(),
        "the app lost writes"
    );
    let (got, _) = restored(&repo, "app.db", Target::Newest, dir.path()).await;
    assert_eq!(got, (1..=9).collect::<Vec<i64>>());
    // A time before the replacement is reached through the lineage before the break.
    let (got, _) = restored(&repo, "app.db", Target::Time(before_replace), dir.path()).await;
    assert_eq!(got, (1..=100).collect::<Vec<i64>>());
    let all = holdfast_repo::wal::lineages(&repo).await.expect("lineages");
    let newest = all
        .iter()
        .filter_map(|l| l.head.as_ref().map(|(_, h)| h))
        .max_by_key(|h| h.time)
        .expect("a head");
    assert_eq!(newest.reason, Reason::Replaced);
    assert!(
        newest.previous.is_some(),
        "the break does not say where the old chain stopped"
    );
}

fn remount(t: &Tmpfs, mode: &str) {
    let out = Command::new("mount")
        .args(["-o", &format!("remount,{mode}")])
        .arg(t.path())
        .output()
        .expect("mount");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_store_away_stays_bounded_reports_the_gap_and_rebases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("app.db");
    let c = app_db(&db);
    let store = Tmpfs::mount("64m", &[]);
    let repo = repo_at(store.path()).await;
    let mut o = opts("app.db");
    o.local_bound = 256 << 10;
    o.store_timeout = Duration::from_secs(2);
    let mut f = Follower::new(&db, o, dest("repository", &repo));
    f.poll().await.expect("base");
    remount(&store, "ro");
    let mut gaps = 0;
    for n in 1..=3000 {
        insert(&c, n);
        if n % 100 == 0 {
            let r = f.poll().await.expect("poll never fails on a store error");
            assert!(r.staged <= 256 << 10, "staged {} bytes", r.staged);
            gaps += r
                .breaks
                .iter()
                .filter(|(_, why)| *why == Reason::Gap)
                .count();
        }
    }
    assert_eq!(gaps, 1, "the gap is reported once");
    let st = &f.status()[0];
    assert_eq!(st.needs_base, Some(Reason::Gap));
    assert!(st.error.is_some());
    remount(&store, "rw");
    let r = f.poll().await.expect("poll");
    assert_eq!(r.bases, vec!["repository".to_string()]);
    let (got, _) = restored(&repo, "app.db", Target::Newest, dir.path()).await;
    assert_eq!(got.len(), 3000);
    let all = holdfast_repo::wal::lineages(&repo).await.expect("lineages");
    let heads: Vec<Reason> = all
        .iter()
        .filter_map(|l| l.head.as_ref().map(|(_, h)| h.reason))
        .collect();
    assert!(heads.contains(&Reason::Gap), "{heads:?}");
}

#[tokio::test]
async fn a_destination_down_does_not_hold_back_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("app.db");
    let c = app_db(&db);
    let down = Tmpfs::mount("16m", &[]);
    let repo_down = repo_at(down.path()).await;
    let repo_up = repo_at(&dir.path().join("repo")).await;
    let dests = vec![
        Destination {
            name: "down".into(),
            repo: repo_down,
        },
        Destination {
            name: "up".into(),
            repo: repo_up.clone(),
        },
    ];
    let mut o = opts("app.db");
    o.store_timeout = Duration::from_secs(2);
    let mut f = Follower::new(&db, o, dests);
    f.poll().await.expect("base");
    remount(&down, "ro");
    for n in 1..=50 {
        insert(&c, n);
        if n % 10 == 0 {
            f.poll().await.expect("poll");
        }
    }
    let st = f.status();
    assert!(st[0].error.is_some(), "{st:?}");
    assert!(st[1].error.is_none(), "{st:?}");
    let (got, _) = restored(&repo_up, "app.db", Target::Newest, dir.path()).await;
    assert_eq!(got.len(), 50);
    remount(&down, "rw");
}

#[tokio::test]
async fn a_chain_with_a_hole_is_refused_with_the_gap_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("app.db");
    let c = app_db(&db);
    let root = dir.path().join("repo");
    let repo = repo_at(&root).await;
    let mut f = Follower::new(&db, opts("app.db"), dest("repository", &repo));
    f.poll().await.expect("base");
    for n in 1..=3 {
        insert(&c, n);
        f.poll().await.expect("poll");
    }
    let all = holdfast_repo::wal::lineages(&repo).await.expect("lineages");
    let segs = &all[0].segments;
    let middle = &segs[segs.len() - 2];
    std::fs::remove_file(root.join(&middle.key)).expect("remove a segment");
    let out = dir.path().join("r.db");
    let e = restore_to_time(&repo, "app.db", Target::Newest, &out)
        .await
        .expect_err("a hole");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("{}..={}", middle.first, middle.last)),
        "{msg}"
    );
    assert!(!out.exists());
}

#[tokio::test]
async fn a_base_never_blocks_the_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("app.db");
    let c = app_db(&db);
    // About 16 MiB of rows, so the base is many parts.
    c.execute_batch("BEGIN").expect("begin");
    for n in 1..=40_000 {
        insert(&c, n);
    }
    c.execute_batch("COMMIT").expect("commit");
    drop(c);
    let repo = repo_at(&dir.path().join("repo")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicI64::new(40_000));
    let writer = {
        let (db, stop, acked) = (db.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let c = app_db(&db);
            // No waiting at all: any lock holdfast held would fail an insert.
            c.busy_timeout(Duration::ZERO).expect("busy");
            let mut n = 40_000;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                insert(&c, n);
                acked.store(n, Ordering::SeqCst);
            }
            n
        })
    };
    while acked.load(Ordering::SeqCst) < 40_050 {
        std::thread::yield_now();
    }
    let mut o = opts("app.db");
    o.part_bytes = 256 << 10;
    o.checkpoint_bytes = u64::MAX; // no reset window: only read transactions
    o.truncate_bytes = u64::MAX;
    let mut f = Follower::new(&db, o, dest("repository", &repo));
    let before = acked.load(Ordering::SeqCst);
    let started = std::time::Instant::now();
    let r = f.poll().await.expect("base");
    let took = started.elapsed();
    let during = acked.load(Ordering::SeqCst) - before;
    let size = std::fs::metadata(&db).map_or(0, |m| m.len());
    eprintln!("base of {size} bytes in {took:?}; the writer committed {during} rows meanwhile");
    assert_eq!(r.bases, vec!["repository".to_string()], "{:?}", f.status());
    assert!(
        during > 0,
        "the writer made no progress while the base was taken"
    );
    stop.store(true, Ordering::SeqCst);
    let last = writer.join().expect("the writer never saw SQLITE_BUSY");
    f.poll().await.expect("poll");
    let started = std::time::Instant::now();
    let (got, path) = restored(&repo, "app.db", Target::Newest, dir.path()).await;
    eprintln!("restore of {} rows in {:?}", got.len(), started.elapsed());
    assert_eq!(got.len() as i64, last);
    assert!(prefix(&got));
    assert!(
        holdfast_volume::databases::sqlite::integrity_check(&path)
            .expect("check")
            .is_empty()
    );
}

/// The follower as a process of its own, for the SIGKILL test: it follows
/// `HOLDFAST_TEST_FOLLOW_DB` into the file:// repository `HOLDFAST_TEST_FOLLOW_REPO`
/// every 100 ms and touches `HOLDFAST_TEST_FOLLOW_READY` once its base is stored.
#[tokio::test]
#[ignore = "run by a_follower_killed_at_any_moment_leaves_a_restorable_prefix"]
async fn follower_child() {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let (db, root, ready) = (
        var("HOLDFAST_TEST_FOLLOW_DB"),
        var("HOLDFAST_TEST_FOLLOW_REPO"),
        var("HOLDFAST_TEST_FOLLOW_READY"),
    );
    let store = holdfast_store::Store::open(&format!("file://{root}")).expect("store");
    let opts = holdfast_repo::OpenOptions {
        password: "pw".into(),
        cache: Some(false),
    };
    let repo = holdfast_repo::open(store, &opts).await.expect("open");
    let mut f = Follower::new(Path::new(&db), opts_for_child(), dest("repository", &repo));
    loop {
        f.poll().await.expect("poll");
        if f.status()[0].needs_base.is_none() && !Path::new(&ready).exists() {
            std::fs::write(&ready, b"").expect("ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn opts_for_child() -> FollowOptions {
    opts("app.db")
}

#[tokio::test]
async fn a_follower_killed_at_any_moment_leaves_a_restorable_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("app.db");
    drop(app_db(&db));
    let root = dir.path().join("repo");
    let repo = repo_at(&root).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicI64::new(0));
    let writer = {
        let (db, stop, acked) = (db.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let c = app_db(&db);
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                insert(&c, n);
                acked.store(n, Ordering::SeqCst);
            }
            n
        })
    };
    let spawn = |ready: &Path| {
        std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "integration::sqlite_follow::follower_child",
                "--ignored",
                "--nocapture",
            ])
            .env("HOLDFAST_TEST_FOLLOW_DB", &db)
            .env("HOLDFAST_TEST_FOLLOW_REPO", &root)
            .env("HOLDFAST_TEST_FOLLOW_READY", ready)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn the follower")
    };
    let wait_for = |cond: &dyn Fn() -> bool| {
        let started = std::time::Instant::now();
        while !cond() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "gave up waiting"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let seed = Utc::now().timestamp_subsec_nanos() as i64;
    for trial in 0..3 {
        let ready = dir.path().join(format!("ready-{trial}"));
        let mut child = spawn(&ready);
        wait_for(&|| ready.exists());
        // Kill at a pseudo-random moment: after 100 to 1100 more rows.
        let target = acked.load(Ordering::SeqCst) + 100 + (seed + trial * 397) % 1000;
        wait_for(&|| acked.load(Ordering::SeqCst) >= target);
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let at_kill = acked.load(Ordering::SeqCst);
        let (got, path) = restored(&repo, "app.db", Target::Newest, dir.path()).await;
        assert!(prefix(&got), "trial {trial}: not a gap-free prefix");
        assert!(got.len() as i64 <= at_kill);
        eprintln!(
            "trial {trial}: killed at row {at_kill}, restored {} rows ({} acknowledged rows lost)",
            got.len(),
            at_kill - got.len() as i64
        );
        assert!(
            holdfast_volume::databases::sqlite::integrity_check(&path)
                .expect("check")
                .is_empty()
        );
    }
    stop.store(true, Ordering::SeqCst);
    let last = writer.join().expect("writer");
    // A follower started again takes a new base: everything the writer committed.
    let ready = dir.path().join("ready-last");
    let mut child = spawn(&ready);
    wait_for(&|| ready.exists());
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let (got, _) = restored(&repo, "app.db", Target::Newest, dir.path()).await;
    assert_eq!(got.len() as i64, last);
}
