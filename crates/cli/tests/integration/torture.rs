//! Crash suites: real `holdfast` processes killed with SIGKILL at uniformly random moments
//! (fixed seeds) during backup, prune after forget, and copy to a second repository, then
//! checked: `verify --read-data` is clean, no partial snapshot is
//! listed, the next operation completes and every snapshot restores byte-exact.
//!
//! Each suite first measures how long its operation takes, then kills trial k after a
//! delay drawn uniformly from that span. The trial count is `HOLDFAST_TORTURE_TRIALS`
//! (default 6; `scripts/torture.sh --long` runs 200). Each suite prints one line,
//! `torture SUITE: N trials, N passed, N failed, data lost: N`, which scripts read.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::proc_util::{Rng, trials};
use super::repo_util::{RepoEnv, contents, remote_url};

/// Rewrites a few files of `src` (deterministically from `round`), so each backup adds data.
fn mutate(src: &Path, round: u64) {
    let mut r = Rng(round.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    std::fs::create_dir_all(src.join("d")).expect("mkdir");
    for i in 0..4 {
        let len = 64 * 1024 + (r.next() % (256 * 1024)) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
        std::fs::write(src.join(format!("d/{}.bin", r.next() % 24)), bytes).expect("write");
        let _ = i;
    }
    std::fs::write(src.join("round.txt"), format!("{round}\n")).expect("write");
}

/// The password of every repository here (a copy's target has its own, the same text).
const PASSWORD: &str = "correct horse";

/// `holdfast ARGS…` started in the background.
fn spawn(env: &RepoEnv, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(args)
        .current_dir(env.dir.path())
        .env("HOLDFAST_REPOSITORY", &env.url)
        .env("HOLDFAST_PASSWORD", PASSWORD)
        .env("HOLDFAST_TO_PASSWORD", PASSWORD)
        .env("HOLDFAST_CACHE_DIR", env.path("cache"))
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_PASSWORD_FILE")
        .env_remove("HOLDFAST_FROM_PASSWORD")
        .env_remove("STORAGE_TYPE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn holdfast")
}

/// Runs `args` to the end; panics unless it exits 0.
fn finish(env: &RepoEnv, args: &[&str]) -> Duration {
    let t = Instant::now();
    let status = spawn(env, args).wait().expect("wait");
    assert!(status.success(), "holdfast {args:?}: {status}");
    t.elapsed()
}

/// Runs `args` and kills it after `delay` (if it is still running); true when killed.
fn kill_after(env: &RepoEnv, args: &[&str], delay: Duration) -> bool {
    let mut child = spawn(env, args);
    let deadline = Instant::now() + delay;
    // The delay is the experiment (a crash at a random moment), not synchronisation.
    while Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1).min(deadline - Instant::now()));
    }
    let killed = child.try_wait().expect("wait").is_none();
    let _ = child.kill();
    let _ = child.wait();
    killed
}

fn timed(env: &RepoEnv, args: &[&str]) -> Duration {
    let t = Instant::now();
    env.ok(args, 0);
    t.elapsed()
}

/// Snapshot ids listed, oldest first.
fn listed(env: &RepoEnv) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["snapshots", "--json"], 0)).expect("snapshots json");
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect()
}

type Tree = Vec<(String, Vec<u8>)>;

/// What a trial found: the problems, each a reason the repository lost or damaged data.
/// `verify --read-data` proves every blob of every listed snapshot is there and sound;
/// the newest snapshot (or, with `all`, every one) is also restored and compared.
fn check(env: &RepoEnv, expected: &BTreeMap<String, Tree>, all: bool) -> Vec<String> {
    let mut lost: Vec<String> = unsound(env).into_iter().collect();
    let ids = listed(env);
    for id in &ids {
        if !expected.contains_key(id) {
            lost.push(format!("snapshot {id} is listed but was never committed"));
        }
    }
    for id in expected.keys() {
        if !ids.contains(id) {
            lost.push(format!("committed snapshot {id} is gone"));
        }
    }
    let restore: Vec<&String> = if all {
        ids.iter().collect()
    } else {
        ids.last().into_iter().collect()
    };
    for id in restore {
        let Some(want) = expected.get(id) else {
            continue;
        };
        let target = env.path("check");
        let _ = std::fs::remove_dir_all(&target);
        let r = env.run(&["restore", id, "--target", "check"]);
        if r.status.code() != Some(0) || &contents(&target) != want {
            lost.push(format!("snapshot {id} does not restore byte-exact"));
        }
    }
    lost
}

/// What `verify --read-data` found, unless it exits 0.
fn unsound(env: &RepoEnv) -> Option<String> {
    let v = env.run(&["verify", "--read-data"]);
    (v.status.code() != Some(0)).then(|| {
        format!(
            "{} verify --read-data exit {:?}: {}",
            env.url,
            v.status.code(),
            String::from_utf8_lossy(&v.stdout)
        )
    })
}

fn report(suite: &str, n: usize, failures: &[String]) {
    let failed = failures.len();
    println!(
        "torture {suite}: {n} trials, {} passed, {failed} failed, data lost: {failed}",
        n - failed
    );
    assert!(failures.is_empty(), "{suite}: {failures:#?}");
}

/// The id of the newest snapshot.
fn newest(env: &RepoEnv) -> String {
    listed(env).pop().expect("a snapshot")
}

fn backup_kills(env: RepoEnv, suite: &str, seed: u64) {
    env.ok(&["init"], 0);
    let src = env.path("src");
    mutate(&src, 0);
    let span = timed(&env, &["backup", "src"]);
    let mut expected = BTreeMap::new();
    expected.insert(newest(&env), contents(&src));
    let mut rng = Rng(seed);
    let n = trials(6);
    let mut failures = Vec::new();
    for k in 1..=n as u64 {
        mutate(&src, k);
        kill_after(&env, &["backup", "src"], rng.within(span));
        // A backup that finished before the kill committed a snapshot of this state.
        for id in listed(&env) {
            expected.entry(id).or_insert_with(|| contents(&src));
        }
        let mut problems = check(&env, &expected, false);
        // The next backup completes, and its snapshot restores.
        env.ok(&["backup", "src"], 0);
        expected.insert(newest(&env), contents(&src));
        problems.extend(check(&env, &expected, false));
        if !problems.is_empty() {
            failures.push(format!("trial {k}: {problems:?}"));
        }
    }
    let last = check(&env, &expected, true);
    if !last.is_empty() {
        failures.push(format!("at the end: {last:?}"));
    }
    report(suite, n, &failures);
}

#[test]
fn torture_backup_killed_at_random_moments_file() {
    backup_kills(RepoEnv::local(), "backup-kill file://", 0x5EED_0001);
}

#[test]
fn torture_backup_killed_at_random_moments_s3() {
    backup_kills(
        RepoEnv::at(remote_url("HOLDFAST_TEST_S3_URL")),
        "backup-kill s3 (Garage)",
        0x5EED_0002,
    );
}

#[test]
fn torture_prune_killed_at_random_moments_after_forget() {
    let env = RepoEnv::local();
    env.ok(&["init"], 0);
    let src = env.path("src");
    let mut expected = BTreeMap::new();
    let mut rng = Rng(0x5EED_0003);
    let n = trials(6);
    let mut failures = Vec::new();
    let mut round = 0;
    for k in 1..=n {
        // Four new snapshots, then keep the last two: prune has packs to repack and drop.
        for _ in 0..4 {
            round += 1;
            mutate(&src, round);
            env.ok(&["backup", "src"], 0);
            expected.insert(newest(&env), contents(&src));
        }
        env.ok(&["forget", "--keep-last", "2"], 0);
        let kept = listed(&env);
        expected.retain(|id, _| kept.contains(id));
        // Measure a prune on a copy of the repository, then kill the real one.
        let copy = RepoEnv::local();
        copy_dir(&env.path("repo"), &copy.path("repo"));
        let span = timed(&copy, &["prune", "--instant-delete"]);
        kill_after(&env, &["prune", "--instant-delete"], rng.within(span));
        let mut problems = check(&env, &expected, true);
        env.ok(&["prune", "--instant-delete"], 0);
        problems.extend(check(&env, &expected, true));
        if !problems.is_empty() {
            failures.push(format!("trial {k}: {problems:?}"));
        }
    }
    report("prune-kill after forget", n, &failures);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).expect("copy");
        }
    }
}

/// Ids of the snapshots listed in `env`, each with its `original` (the source snapshot a
/// copy was made from).
fn originals(env: &RepoEnv) -> Vec<(String, Option<String>)> {
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["snapshots", "--json"], 0)).expect("snapshots json");
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().expect("id").to_owned(),
                s["original"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// What a copy trial found in the target: every listed snapshot is a whole copy of a
/// committed source snapshot, `verify --read-data` is clean, and the copies of `restore`
/// (source ids) restore to exactly what the source snapshot held.
fn check_copies(
    target: &RepoEnv,
    expected: &BTreeMap<String, Tree>,
    restore: &[&String],
) -> Vec<String> {
    let mut lost: Vec<String> = unsound(target).into_iter().collect();
    let listed = originals(target);
    for (id, original) in &listed {
        match original {
            Some(o) if expected.contains_key(o) => {}
            _ => lost.push(format!(
                "target snapshot {id} is no copy of a source snapshot"
            )),
        }
    }
    for source in restore {
        let Some((id, _)) = listed.iter().find(|(_, o)| o.as_ref() == Some(*source)) else {
            lost.push(format!("source snapshot {source} has no copy"));
            continue;
        };
        let out = target.path("check");
        let _ = std::fs::remove_dir_all(&out);
        let r = target.run(&["restore", id, "--target", "check"]);
        if r.status.code() != Some(0) || Some(&contents(&out)) != expected.get(*source) {
            lost.push(format!("copy {id} of {source} does not restore byte-exact"));
        }
    }
    lost
}

/// `copy --to` an S3 (Garage) repository from a file:// one, killed at random moments:
/// the target holds only whole copies, the next copy completes and brings every
/// snapshot over, and every copy restores byte-exact.
#[test]
fn torture_copy_killed_at_random_moments() {
    let source = RepoEnv::local();
    let target = RepoEnv::at(remote_url("HOLDFAST_TEST_S3_URL"));
    source.ok(&["init"], 0);
    target.ok(&["init"], 0);
    let src = source.path("src");
    let mut expected = BTreeMap::new();
    let copy = ["copy", "--to", target.url.as_str()];
    mutate(&src, 0);
    source.ok(&["backup", "src"], 0);
    expected.insert(newest(&source), contents(&src));
    // The span the kills are drawn from: a copy of one new snapshot.
    let span = finish(&source, &copy);
    let mut rng = Rng(0x5EED_0004);
    let n = trials(6);
    let mut failures = Vec::new();
    for k in 1..=n as u64 {
        mutate(&src, k);
        source.ok(&["backup", "src"], 0);
        let id = newest(&source);
        expected.insert(id.clone(), contents(&src));
        kill_after(&source, &copy, rng.within(span));
        let mut problems = check_copies(&target, &expected, &[]);
        finish(&source, &copy);
        problems.extend(check_copies(&target, &expected, &[&id]));
        if !problems.is_empty() {
            failures.push(format!("trial {k}: {problems:?}"));
        }
    }
    let all: Vec<&String> = expected.keys().collect();
    let mut last = check_copies(&target, &expected, &all);
    if originals(&target).len() != expected.len() {
        last.push(format!(
            "{} copies of {} source snapshots",
            originals(&target).len(),
            expected.len()
        ));
    }
    if !last.is_empty() {
        failures.push(format!("at the end: {last:?}"));
    }
    report("copy-kill file:// to s3 (Garage)", n, &failures);
}
