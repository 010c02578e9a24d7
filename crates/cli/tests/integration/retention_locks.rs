//! Locks between real `holdfast` processes on one file:// repository: shared backup
//! locks coexist, prune and forget refuse while a backup holds its lock and name the
//! holder, a killed backup's lock is stale, `unlock --all` removes fresh locks.
//!
//! A backup is caught while it holds its lock by stopping it (SIGSTOP) as soon as its
//! lock object appears, so no test depends on how long anything takes.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::retention_util::{Repo, check, contents, noise};

fn lock_keys(repo: &Repo) -> Vec<String> {
    match std::fs::read_dir(repo.path("repo/locks")) {
        Ok(d) => d
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig}");
}

/// Starts a backup of `root` and stops it once it holds its lock.
fn stopped_backup(repo: &Repo, root: &str) -> Child {
    let before = lock_keys(repo);
    let mut child = repo.spawn(&["backup", root]);
    // Fails the test if the backup hangs or ends without ever taking a lock.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if lock_keys(repo).iter().any(|k| !before.contains(k)) {
            break;
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("backup ended ({status}) before it was seen holding its lock");
        }
        assert!(Instant::now() < deadline, "backup never took its lock");
        std::thread::yield_now();
    }
    signal(&child, "-STOP");
    child
}

fn finish(child: Child) {
    signal(&child, "-CONT");
    let out = child.wait_with_output().expect("wait");
    check(&out, &["backup"], 0);
}

fn big_root(repo: &Repo, name: &str, seed: u64) {
    let dir = repo.path(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    for i in 0..6 {
        std::fs::write(
            dir.join(format!("f{i}.bin")),
            noise(seed * 100 + i, 5_000_000),
        )
        .expect("write");
    }
}

fn restores_exactly(repo: &Repo, root: &str) {
    let list = repo.json(&["snapshots"]);
    let snap = list
        .as_array()
        .expect("array")
        .iter()
        .rfind(|s| Path::new(s["root"].as_str().expect("root")).ends_with(root))
        .unwrap_or_else(|| panic!("a snapshot of {root}"))
        .clone();
    let target = format!("restored-{root}");
    repo.ok(
        &[
            "restore",
            snap["id"].as_str().expect("id"),
            "--target",
            &target,
        ],
        0,
    );
    assert_eq!(contents(&repo.path(&target)), contents(&repo.path(root)));
}

#[test]
fn two_backups_of_different_roots_at_once_both_succeed() {
    let repo = Repo::local();
    repo.ok(&["init"], 0);
    big_root(&repo, "x", 1);
    big_root(&repo, "y", 2);
    // The first backup is stopped while it holds its shared lock; the second one runs
    // from start to end meanwhile.
    let first = stopped_backup(&repo, "x");
    repo.ok(&["backup", "y"], 0);
    finish(first);
    // And both at once, unsynchronised.
    std::fs::write(repo.path("x/new.txt"), "x2").expect("write");
    std::fs::write(repo.path("y/new.txt"), "y2").expect("write");
    let a = repo.spawn(&["backup", "x"]);
    let b = repo.spawn(&["backup", "y"]);
    check(&a.wait_with_output().expect("wait"), &["backup", "x"], 0);
    check(&b.wait_with_output().expect("wait"), &["backup", "y"], 0);
    assert_eq!(repo.json(&["snapshots"]).as_array().map(Vec::len), Some(4));
    assert!(lock_keys(&repo).is_empty());
    repo.ok(&["verify", "--read-data"], 0);
    restores_exactly(&repo, "x");
    restores_exactly(&repo, "y");
}

#[test]
fn prune_and_forget_refuse_while_a_backup_holds_its_lock() {
    let repo = Repo::local();
    repo.ok(&["init"], 0);
    big_root(&repo, "x", 3);
    repo.ok(&["backup", "x"], 0);
    std::fs::write(repo.path("x/f0.bin"), noise(99, 5_000_000)).expect("write");
    let running = stopped_backup(&repo, "x");
    for args in [&["prune"][..], &["forget", "--keep-last", "1"][..]] {
        let out = repo.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("is locked"), "{stderr}");
        assert!(
            stderr.contains(&format!("pid {}", running.id())),
            "{stderr}"
        );
    }
    // A fresh lock is not stale: plain unlock leaves it.
    let kept = repo.json(&["unlock"]);
    assert_eq!(kept["kept"].as_array().map(Vec::len), Some(1), "{kept}");
    finish(running);
    repo.ok(&["forget", "--keep-last", "1", "--prune"], 0);
    repo.ok(&["verify", "--read-data"], 0);
    restores_exactly(&repo, "x");
}

#[test]
fn a_killed_backup_leaves_a_stale_lock_that_the_next_client_removes() {
    let repo = Repo::local();
    repo.ok(&["init"], 0);
    big_root(&repo, "x", 4);
    let mut killed = stopped_backup(&repo, "x");
    signal(&killed, "-KILL");
    killed.wait().expect("wait");
    assert_eq!(lock_keys(&repo).len(), 1);
    let report = repo.json(&["unlock"]);
    assert_eq!(
        report["removed"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert!(lock_keys(&repo).is_empty());

    // Without unlock, prune removes the dead process's lock itself.
    let mut killed = stopped_backup(&repo, "x");
    signal(&killed, "-KILL");
    killed.wait().expect("wait");
    let pruned = repo.json(&["prune"]);
    assert_eq!(pruned["snapshots"], 0, "{pruned}");
    assert!(lock_keys(&repo).is_empty());
    repo.ok(&["backup", "x"], 0);
    repo.ok(&["verify", "--read-data"], 0);
    restores_exactly(&repo, "x");
}

#[test]
fn unlock_all_removes_a_fresh_lock_with_a_warning_and_the_backup_stops_uncommitted() {
    let repo = Repo::local();
    repo.ok(&["init"], 0);
    big_root(&repo, "x", 5);
    let running = stopped_backup(&repo, "x");
    let out = repo.run(&["unlock", "--all"]);
    let stdout = check(&out, &["unlock", "--all"], 0);
    assert!(stdout.contains("1 locks removed"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning"));
    assert!(lock_keys(&repo).is_empty());
    // The backup lost its lock: it must not commit (docs/FORMAT.md, "Invariant").
    signal(&running, "-CONT");
    let out = running.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("lost lock"), "{stderr}");
    assert!(lock_keys(&repo).is_empty(), "the lock was re-created");
    let listed = repo.ok(&["snapshots", "--json"], 0);
    assert_eq!(listed.trim(), "[]", "{listed}");
    repo.ok(&["verify"], 0);
}

#[test]
fn prune_with_retry_lock_waits_for_a_running_backup() {
    let repo = Repo::local();
    repo.ok(&["init"], 0);
    big_root(&repo, "x", 6);
    let running = stopped_backup(&repo, "x");
    let mut prune = repo.spawn(&["prune", "--retry-lock", "10m", "--json"]);
    let mut stderr = BufReader::new(prune.stderr.take().expect("stderr"));
    // Resume the backup only once prune has met its lock.
    let mut line = String::new();
    while !line.contains("is locked by") {
        line.clear();
        let n = stderr.read_line(&mut line).expect("read prune's stderr");
        assert!(n > 0, "prune ended without waiting for the lock");
    }
    assert!(line.contains(&format!("pid {}", running.id())), "{line}");
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        stderr.read_to_string(&mut rest).map(|_| rest)
    });
    finish(running);
    let out = prune.wait_with_output().expect("wait");
    let rest = drain.join().expect("drain thread").expect("read");
    let stdout = check(&out, &["prune"], 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(report["snapshots"], 1, "{report}\n{rest}");
    repo.ok(&["verify", "--read-data"], 0);
    restores_exactly(&repo, "x");
}
