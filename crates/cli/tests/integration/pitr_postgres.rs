//! Postgres point-in-time recovery end to end, with a real cluster (`initdb` in a temp
//! directory, `archive_command = 'holdfast pg archive … %p'`) under pgbench load:
//!
//! - restore to ten chosen past times gives exactly the `pgbench_accounts` balance
//!   committed by each, and a restore on a machine without holdfast.toml (URL and
//!   password only) gives the newest point;
//! - with the store away the spool absorbs the WAL and Postgres' archiver never fails;
//!   past the spool's bound WAL is dropped (never blocking Postgres), the gap is
//!   recorded in the repository once the store is back, a new base backup follows, a
//!   restore to a time after it works and one inside the gap is refused, naming it;
//! - after going back to a past time the restored cluster archives on its new timeline
//!   and the newest point of that timeline holds what was written after the switch.

use super::pg_util::{Cluster, Project, walk};

#[test]
fn restores_reach_each_chosen_time_and_an_empty_machine_gets_the_newest_point() {
    let p = Project::new();
    let cluster = Cluster::start(&p.path("vol"), &p.spool(), 1 << 30);
    p.configure(&cluster, 1 << 30);
    cluster.pgbench(&["-i", "-s", "2"]);
    let (code, _, err) = p.holdfast(&["backup", "--volume", "db"]);
    assert_eq!(code, 0, "{err}");
    let _daemon = p.daemon();
    let mut points = Vec::new();
    for _ in 0..10 {
        cluster.pgbench(&["-t", "150", "-c", "2"]);
        points.push(cluster.point());
    }
    cluster.pgbench(&["-t", "50", "-c", "1"]);
    let newest = cluster.point();
    cluster.switch_and_wait_archived();
    p.wait_spool_empty();
    assert_eq!(cluster.archiver_failures(), 0);
    for (i, (t, sum)) in points.iter().enumerate() {
        let got = p.restored_sum(Some(t), &format!("r{i}"), true);
        assert_eq!(got, *sum, "restore to {t}");
    }
    let got = p.restored_sum(None, "empty-machine", false);
    assert_eq!(
        got, newest.1,
        "the newest point, from URL and password only"
    );
}

#[test]
fn the_store_away_never_blocks_postgres_and_a_gap_is_recorded_then_a_new_base_follows() {
    let p = Project::new();
    // Room for two 16 MiB segments.
    let bound: u64 = 40 << 20;
    let cluster = Cluster::start(&p.path("vol"), &p.spool(), bound);
    p.configure(&cluster, bound);
    let daemon = p.daemon();
    cluster.pgbench(&["-i", "-s", "1"]);
    let (code, _, err) = p.holdfast(&["backup", "--volume", "db"]);
    assert_eq!(code, 0, "{err}");
    cluster.switch_and_wait_archived();
    p.wait_spool_empty();
    // The store goes away: the repository's path is now a file.
    std::fs::rename(p.path("repo"), p.path("repo.away")).expect("move the repository");
    std::fs::write(p.path("repo"), b"not a directory").expect("block the path");
    // Two segments: the spool absorbs them.
    for _ in 0..2 {
        cluster.pgbench(&["-t", "100", "-c", "2"]);
        cluster.switch_and_wait_archived();
    }
    assert_eq!(
        p.spool_files(),
        2,
        "the spool holds what the store could not take"
    );
    // Three more: past the bound, dropped; Postgres' archiver never fails.
    let mut in_gap = None;
    for _ in 0..3 {
        cluster.pgbench(&["-t", "100", "-c", "2"]);
        in_gap.get_or_insert_with(|| cluster.point().0);
        cluster.switch_and_wait_archived();
    }
    let in_gap = in_gap.expect("a point inside the gap");
    assert_eq!(
        cluster.archiver_failures(),
        0,
        "archive_command never failed"
    );
    let gaps = std::fs::read_dir(p.spool())
        .expect("spool")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("gap-"))
        .count();
    assert_eq!(gaps, 3, "each drop recorded locally at once");
    // The store comes back: the gap is recorded, a new base follows.
    std::fs::remove_file(p.path("repo")).expect("unblock");
    std::fs::rename(p.path("repo.away"), p.path("repo")).expect("move back");
    p.wait_log("were dropped unarchived");
    p.wait_log("new base backup after the gap");
    p.wait_spool_empty();
    drop(daemon);
    let gap_objects: Vec<String> = walk(&p.path("repo/wal"))
        .into_iter()
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("g-"))
        .collect();
    assert_eq!(
        gap_objects.len(),
        1,
        "one gap record of three consecutive segments: {gap_objects:?}\n{}",
        std::fs::read_to_string(p.path("daemon.log")).unwrap_or_default()
    );
    let (code, out, _) = p.holdfast(&["snapshots", "--json"]);
    assert_eq!(code, 0);
    assert!(out.contains("pg-base-after-gap"), "{out}");
    // After the new base: restorable.
    let _daemon = p.daemon();
    cluster.pgbench(&["-t", "100", "-c", "2"]);
    let after = cluster.point();
    cluster.pgbench(&["-t", "20", "-c", "1"]);
    cluster.switch_and_wait_archived();
    p.wait_spool_empty();
    assert_eq!(p.restored_sum(Some(&after.0), "after-gap", true), after.1);
    // Inside the gap: refused, the gap named.
    let dir = p.path("in-gap").to_string_lossy().into_owned();
    let (code, _, err) = p.holdfast(&[
        "restore",
        "latest:db",
        "--database",
        "shop",
        "--time",
        &in_gap,
        "--target",
        &dir,
    ]);
    assert_ne!(code, 0, "a restore across the gap is refused");
    assert!(err.contains("misses segments"), "{err}");
}

#[test]
fn after_going_back_in_time_the_new_timeline_is_archived_and_restorable() {
    let p = Project::new();
    let cluster = Cluster::start(&p.path("vol"), &p.spool(), 1 << 30);
    p.configure(&cluster, 1 << 30);
    cluster.pgbench(&["-i", "-s", "1"]);
    let (code, _, err) = p.holdfast(&["backup", "--volume", "db"]);
    assert_eq!(code, 0, "{err}");
    let _daemon = p.daemon();
    cluster.pgbench(&["-t", "200", "-c", "2"]);
    let past = cluster.point();
    // Writes that going back undoes (timeline 1 goes on past `past`).
    cluster.pgbench(&["-t", "200", "-c", "2"]);
    cluster.switch_and_wait_archived();
    p.wait_spool_empty();
    let back = p.restore(Some(&past.0), "back", true);
    // The restored directory replaces the live one, as docs/POSTGRES.md says.
    cluster.stop();
    std::fs::rename(&cluster.data, p.path("pgdata.before")).expect("set the old data aside");
    std::fs::rename(&back, &cluster.data).expect("move the restored data in place");
    cluster.start_again();
    assert_eq!(
        cluster.sql(
            "postgres",
            "select timeline_id from pg_control_checkpoint()"
        ),
        "2",
        "the restore switched to a new timeline"
    );
    assert_eq!(
        cluster.point().1,
        past.1,
        "the live cluster is back at {}",
        past.0
    );
    cluster.pgbench(&["-t", "150", "-c", "2"]);
    cluster.sql("shop", "create table after_switch as select 42 as answer");
    let newest = cluster.point();
    cluster.switch_and_wait_archived();
    p.wait_spool_empty();
    assert_eq!(cluster.archiver_failures(), 0);
    let dir = p.restore(None, "newest", true);
    assert_eq!(
        super::pg_util::sum_of(&dir),
        newest.1,
        "the newest point of timeline 2 holds the writes after the switch"
    );
    assert_eq!(
        super::pg_util::query_restored(&dir, "select answer from after_switch"),
        "42"
    );
}
