//! Every failpoint of the WAL write path, hit by a follower (or a prune) in a process of
//! its own and killed there with SIGKILL, while a writer keeps committing numbered rows:
//! a base part stored without its head, every part stored with the head next, the head
//! stored but not recorded, a segment stored but the cursor not advanced, a compacted
//! segment stored with its level-0 segments not forgotten, and a prune of `wal/` half way
//! through a lineage. After each crash a new follower runs; at the end the newest point
//! and the newest point of every complete lineage restore to a gap-free prefix that
//! passes `integrity_check`, the newest holds every row acknowledged before the last
//! crash, and a prune run again finishes what the killed one started.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use holdfast_repo::wal::{self, WalPruneOptions};
use holdfast_repo::{InitOptions, KdfParams, Repository, Step};
use holdfast_volume::databases::sqlite::{
    Destination, FollowOptions, Follower, Target, restore_to_time,
};
use rusqlite::Connection;

const DB: &str = "app.db";

async fn open_repo(root: &str) -> Repository {
    let store = holdfast_store::Store::open(&format!("file://{root}")).expect("store");
    let opts = holdfast_repo::OpenOptions {
        password: "pw".into(),
        cache: Some(false),
    };
    holdfast_repo::open(store, &opts).await.expect("open")
}

fn app_db(path: &Path) -> Connection {
    let c = Connection::open(path).expect("open app db");
    c.pragma_update(None, "journal_mode", "WAL").expect("wal");
    c.busy_timeout(Duration::from_secs(5)).expect("busy");
    c.execute_batch("CREATE TABLE IF NOT EXISTS t(n INTEGER PRIMARY KEY, pad BLOB)")
        .expect("table");
    c
}

fn rows(db: &Path) -> Vec<i64> {
    let c = Connection::open(db).expect("open restored");
    let mut s = c.prepare("SELECT n FROM t ORDER BY n").expect("prepare");
    s.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<Vec<i64>, _>>()
        .expect("rows")
}

/// The follower (or, with `HOLDFAST_TEST_CRASH_PRUNE`, one prune of `wal/` with no
/// window and no grace) as a process of its own. The follower polls every 100 ms and
/// touches `HOLDFAST_TEST_CRASH_READY` once its base is stored; its failpoints come from
/// `HOLDFAST_FAILPOINTS`.
#[tokio::test]
#[ignore = "run by every_wal_failpoint_killed_leaves_restorable_points"]
async fn crash_child() {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let repo = open_repo(&var("HOLDFAST_TEST_CRASH_REPO")).await;
    if std::env::var_os("HOLDFAST_TEST_CRASH_PRUNE").is_some() {
        let opts = WalPruneOptions {
            point_in_time: TimeDelta::zero(),
            grace: TimeDelta::zero(),
            ..WalPruneOptions::default()
        };
        wal::prune_wal(&repo, &opts).await.expect("prune");
        return;
    }
    let (db, ready) = (
        var("HOLDFAST_TEST_CRASH_DB"),
        var("HOLDFAST_TEST_CRASH_READY"),
    );
    let mut opts = FollowOptions::new(DB);
    opts.store_timeout = Duration::from_secs(5);
    // Small parts, so a base is several of them.
    opts.part_bytes = 64 << 10;
    let dests = vec![Destination {
        name: "repository".into(),
        repo,
    }];
    let mut f = Follower::new(Path::new(&db), opts, dests);
    loop {
        f.poll().await.expect("poll");
        if f.status()[0].needs_base.is_none() && !Path::new(&ready).exists() {
            std::fs::write(&ready, b"").expect("ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Rig {
    dir: tempfile::TempDir,
    db: PathBuf,
    root: PathBuf,
    acked: Arc<AtomicI64>,
}

impl Rig {
    fn spawn(&self, failpoint: Option<Step>, ready: &Path, prune: bool) -> Child {
        let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
        cmd.args([
            "--exact",
            "integration::sqlite_crash::crash_child",
            "--ignored",
            "--nocapture",
        ])
        .env("HOLDFAST_TEST_CRASH_DB", &self.db)
        .env("HOLDFAST_TEST_CRASH_REPO", &self.root)
        .env("HOLDFAST_TEST_CRASH_READY", ready)
        .env_remove("HOLDFAST_FAILPOINTS")
        .stdout(std::process::Stdio::null());
        if let Some(step) = failpoint {
            cmd.env("HOLDFAST_FAILPOINTS", format!("{}=kill", step.name()));
        }
        if prune {
            cmd.env("HOLDFAST_TEST_CRASH_PRUNE", "1");
        }
        cmd.spawn().expect("spawn the child")
    }

    /// Waits until `child` ends by itself and says whether SIGKILL ended it.
    fn killed_by_its_failpoint(&self, mut child: Child, step: Step) -> bool {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status.signal() == Some(9);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("failpoint {step} was never reached");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_for(&self, what: &str, cond: &dyn Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !cond() {
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    async fn restore(&self, repo: &Repository, target: Target, label: &str) -> Vec<i64> {
        let out = self.dir.path().join(format!("restored-{label}.db"));
        let r = restore_to_time(repo, DB, target, &out)
            .await
            .unwrap_or_else(|e| panic!("restore {label}: {e}"));
        let got = rows(&r.path);
        assert!(
            got.iter().enumerate().all(|(i, n)| *n == i as i64 + 1),
            "{label}: not a gap-free prefix"
        );
        assert!(
            holdfast_volume::databases::sqlite::integrity_check(&r.path)
                .expect("check")
                .is_empty(),
            "{label}: integrity_check"
        );
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", r.path.display()));
        }
        got
    }
}

#[tokio::test]
async fn every_wal_failpoint_killed_leaves_restorable_points() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join(DB);
    drop(app_db(&db));
    let root = dir.path().join("repo");
    let store = holdfast_store::Store::open(&format!("file://{}", root.display())).expect("store");
    let init = InitOptions {
        password: "pw".into(),
        kdf: KdfParams::insecure_fast(),
    };
    let repo = holdfast_repo::init(store, &init).await.expect("init");
    let rig = Rig {
        dir,
        db: db.clone(),
        root,
        acked: Arc::new(AtomicI64::new(0)),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop, acked) = (db.clone(), stop.clone(), rig.acked.clone());
        std::thread::spawn(move || {
            let c = app_db(&db);
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                c.execute(
                    "INSERT INTO t(n, pad) VALUES (?1, randomblob(300))",
                    rusqlite::params![n],
                )
                .expect("insert");
                acked.store(n, Ordering::SeqCst);
            }
            n
        })
    };
    rig.wait_for("the first rows", &|| {
        rig.acked.load(Ordering::SeqCst) > 2_000
    });
    let steps = [
        Step::WalBaseAfterPart,
        Step::WalBaseBeforeHead,
        Step::WalAfterHead,
        Step::WalAfterSegment,
        Step::WalAfterCompact,
    ];
    let mut at_crash = 0;
    for (k, step) in steps.into_iter().enumerate() {
        let ready = rig.dir.path().join(format!("ready-{k}"));
        let child = rig.spawn(Some(step), &ready, false);
        assert!(
            rig.killed_by_its_failpoint(child, step),
            "the follower ended at {step} without being killed there"
        );
        at_crash = rig.acked.load(Ordering::SeqCst);
        eprintln!("killed at {step} with {at_crash} rows acknowledged");
    }
    // A follower that runs to its base after the last crash.
    let ready = rig.dir.path().join("ready-after");
    let mut child = rig.spawn(None, &ready, false);
    rig.wait_for("a base after the crashes", &|| ready.exists());
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    stop.store(true, Ordering::SeqCst);
    let last = writer.join().expect("writer");

    let newest = rig.restore(&repo, Target::Newest, "newest").await;
    assert!(
        newest.len() as i64 >= at_crash,
        "the newest point has {} rows; {at_crash} were acknowledged before the last crash",
        newest.len()
    );
    assert!(newest.len() as i64 <= last);
    let all = wal::lineages(&repo).await.expect("lineages");
    let complete: Vec<_> = all.iter().filter(|l| l.head.is_some()).collect();
    assert!(
        complete.len() >= 3,
        "lineages with a head: {} of {}",
        complete.len(),
        all.len()
    );
    for (k, l) in complete.iter().enumerate() {
        let Some(t) = l.last_time() else { continue };
        rig.restore(&repo, Target::Time(t), &format!("lineage-{k}"))
            .await;
    }

    // A prune of wal/ killed after its first delete, then run again to the end.
    let ready = rig.dir.path().join("ready-prune");
    let child = rig.spawn(Some(Step::WalPruneAfterDelete), &ready, true);
    assert!(
        rig.killed_by_its_failpoint(child, Step::WalPruneAfterDelete),
        "the prune ended without being killed after a delete"
    );
    // The killed prune's lock is stale only after its lifetime: an instant break here
    // stands for the next prune, hours later.
    let repo = open_repo(&rig.root.display().to_string()).await;
    let unlock = holdfast_repo::UnlockOptions {
        all: true,
        ..holdfast_repo::UnlockOptions::default()
    };
    holdfast_repo::unlock(&repo, &unlock).await.expect("unlock");
    let after_kill = rig
        .restore(&repo, Target::Newest, "after-killed-prune")
        .await;
    assert_eq!(after_kill, newest, "a killed prune took the newest point");
    let opts = WalPruneOptions {
        point_in_time: TimeDelta::zero(),
        grace: TimeDelta::zero(),
        ..WalPruneOptions::default()
    };
    let report = wal::prune_wal(&repo, &opts).await.expect("prune again");
    let left = wal::lineages(&repo).await.expect("lineages");
    assert_eq!(left.len(), 1, "{report:?}: only the newest lineage is left");
    let after = rig.restore(&repo, Target::Newest, "after-prune").await;
    assert_eq!(after, newest, "prune kept the newest point whole");
}
