//! SIGKILL of Postgres and of holdfast's uploader at random moments while a writer
//! commits numbered rows (`HOLDFAST_TORTURE_TRIALS` trials, default 20; `scripts/torture.sh
//! --long` raises it). After each kill:
//!
//! - the newest point restored from the repository alone (URL and password, as on a lost
//!   machine) is a gap-free prefix of the acknowledged rows, never more than the one row
//!   in flight; how much it misses (the window, in time before the kill) is printed, not
//!   asserted: the RPO is a figure of the benchmark, not a threshold of the test;
//! - Postgres restarts from its own data directory with every acknowledged row, and the
//!   restarted uploader sends what the spool and `pg_wal` kept (the next trial's newest
//!   point holds every row of the one before).
//!
//! After the trials the uploader drains the spool, the newest point holds every row, and
//! a new backup and `verify --read-data` pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::pg_util::{Cluster, Project, restored_rows};
use super::proc_util::{Rng, trials};

/// One writer committing rows `from, from + 1, …` one at a time (a sequence would skip
/// numbers after a crash); (row number, when acknowledged).
fn writer(
    url: String,
    from: i64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<(i64, Instant)>> {
    std::thread::spawn(move || {
        let mut acked = Vec::new();
        let mut n = from;
        while !stop.load(Ordering::Relaxed) {
            let ok = std::process::Command::new("psql")
                .args(["-XtAq", "-v", "ON_ERROR_STOP=1", "-d", &url, "-c"])
                .arg(format!(
                    "insert into rpo (n, at) values ({n}, clock_timestamp())"
                ))
                .output()
                .is_ok_and(|o| o.status.success());
            if !ok {
                break;
            }
            acked.push((n, Instant::now()));
            n += 1;
        }
        acked
    })
}

/// The highest row the live cluster holds.
fn live_max(cluster: &Cluster) -> i64 {
    cluster
        .sql("shop", "select coalesce(max(n), 0) from rpo")
        .parse()
        .expect("max")
}

#[test]
fn postgres_and_holdfast_killed_at_random_moments_restore_a_prefix_and_lose_nothing_locally() {
    let p = Project::new();
    // Commits acknowledged only once their WAL is written (a SIGKILL keeps the page
    // cache, so fsync off loses nothing), and a segment at least every second of writes.
    let cluster = Cluster::start_with(
        &p.path("vol"),
        &p.spool(),
        1 << 30,
        "archive_timeout = 1\nsynchronous_commit = on\n",
    );
    p.configure(&cluster, 1 << 30);
    cluster.sql(
        "shop",
        "create table rpo (n bigint primary key, at timestamptz not null)",
    );
    let (code, _, err) = p.holdfast(&["backup", "--volume", "db"]);
    assert_eq!(code, 0, "{err}");
    let url = cluster.url();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut windows = Vec::new();
    let count = trials(20);
    for trial in 0..count {
        // The uploader restarted after the last kill sends what the spool and pg_wal kept.
        let daemon = p.daemon();
        cluster.switch_and_wait_archived();
        p.wait_spool_empty();
        let stop = Arc::new(AtomicBool::new(false));
        let from = live_max(&cluster) + 1;
        let w = writer(url.clone(), from, stop.clone());
        // The random moment: 0.5 to 3 s into the load.
        std::thread::sleep(Duration::from_millis(500) + rng.within(Duration::from_millis(2500)));
        daemon.sigkill();
        cluster.kill();
        let killed = Instant::now();
        stop.store(true, Ordering::Relaxed);
        let acked = w.join().expect("writer");
        let max_acked = acked.last().map_or(from - 1, |(n, _)| *n);
        let dir = p.restore(None, &format!("kill-{trial}"), false);
        let ns = restored_rows(&dir);
        for (i, n) in ns.iter().enumerate() {
            assert_eq!(
                *n,
                i as i64 + 1,
                "trial {trial}: the restored rows are a gap-free prefix"
            );
        }
        let restored = ns.last().copied().unwrap_or(0);
        assert!(
            restored >= from - 1,
            "trial {trial}: the newest point ({restored}) misses rows that were archived \
             before the load began ({})",
            from - 1
        );
        assert!(
            restored <= max_acked + 1,
            "trial {trial}: restored row {restored}, but only {max_acked} acknowledged and one in flight"
        );
        let window = acked
            .iter()
            .find(|(n, _)| *n > restored)
            .map_or(Duration::ZERO, |(_, t)| {
                killed.saturating_duration_since(*t)
            });
        println!(
            "trial {trial}: {} acknowledged this trial (up to row {max_acked}), newest point row \
             {restored}, {} rows missing, window {:.0} ms",
            acked.len(),
            max_acked.saturating_sub(restored),
            window.as_secs_f64() * 1000.0
        );
        windows.push(window);
        std::fs::remove_dir_all(&dir).expect("remove the restored directory");
        cluster.start_again();
        assert!(
            live_max(&cluster) >= max_acked,
            "trial {trial}: Postgres lost an acknowledged row"
        );
    }
    // The uploader comes back: what the spool and pg_wal held reaches the repository.
    let _daemon = p.daemon();
    cluster.switch_and_wait_archived();
    p.wait_spool_empty();
    let dir = p.restore(None, "final", false);
    let ns = restored_rows(&dir);
    let all = live_max(&cluster);
    let every: Vec<i64> = (1..=all).collect();
    assert_eq!(
        ns, every,
        "the newest point holds every row of the live cluster"
    );
    let (code, _, err) = p.holdfast(&["backup", "--volume", "db"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = p.holdfast(&["verify", "--read-data"]);
    assert_eq!(code, 0, "verify --read-data: {out}{err}");
    windows.sort();
    println!(
        "torture pitr-postgres: {count} trials, {count} passed, 0 failed, data lost: 0 \
         ({all} rows; window after SIGKILL with archive_timeout = 1: median {:.0} ms, max \
         {:.0} ms)",
        windows[windows.len() / 2].as_secs_f64() * 1000.0,
        windows[windows.len() - 1].as_secs_f64() * 1000.0
    );
}
