//! Real `holdfast` processes paused (SIGSTOP, through a failpoint or at a random moment)
//! while a client whose clock runs ahead prunes, or while the store's own clock moves on
//! (every object aged as a long pause would age it). docs/FORMAT.md, "Invariant": no
//! index entry is trusted for deduplication unless its pack exists, and no deletion
//! rests on one client's clock. After every case a new backup of the same data, then
//! `verify --read-data` and a restore of every snapshot, must succeed.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use super::proc_util::{Rng, signal, trials, wait_stopped};
use super::repo_util::{RepoEnv, contents, files_in, pseudo_random};

/// `holdfast ARGS…` against `env` with extra environment variables.
fn cmd(env: &RepoEnv, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_holdfast"));
    c.args(args)
        .current_dir(env.dir.path())
        .env("HOLDFAST_REPOSITORY", &env.url)
        .env("HOLDFAST_PASSWORD", "correct horse")
        .env("HOLDFAST_CACHE_DIR", env.path("cache"))
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_PASSWORD_FILE")
        .env_remove("HOLDFAST_FAILPOINTS")
        .env_remove("HOLDFAST_CLOCK_OFFSET")
        .env_remove("STORAGE_TYPE");
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

fn run(env: &RepoEnv, args: &[&str], vars: &[(&str, &str)]) -> Output {
    cmd(env, args, vars).output().expect("run holdfast")
}

fn text(out: &Output) -> String {
    format!(
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// 12 files of 256 KiB of fresh pseudo-random bytes (`seed`) under `dir`: new data.
fn write_new(dir: &Path, seed: u64) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for i in 0..12u64 {
        let bytes = pseudo_random(seed * 1000 + i, 256 * 1024);
        std::fs::write(dir.join(format!("{i}.bin")), bytes).expect("write");
    }
}

/// `holdfast backup src` stopped (SIGSTOP) at the failpoint `step`.
fn paused_backup(env: &RepoEnv, step: &str) -> Child {
    let mut child = cmd(env, &["backup", "src"], &[])
        .env("HOLDFAST_FAILPOINTS", format!("{step}=stop"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn holdfast backup");
    wait_stopped(&mut child);
    child
}

fn finish(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Sets the modification time of every object of a file:// repository `by` into the
/// past: to the store, everything was written that long ago, as if every client had
/// been paused that long (the store's clock moved on, no client's clock did).
pub fn age_store(repo: &Path, by: Duration) {
    let then = filetime::FileTime::from_system_time(SystemTime::now() - by);
    for f in files_in(repo) {
        filetime::set_file_mtime(&f, then).expect("set mtime");
    }
}

/// The third step of every case: a new backup of the same data succeeds; then
/// `verify --read-data` is clean and every snapshot restores as `src` is (the source
/// never changes within a case).
pub fn sound_after_new_backup(env: &RepoEnv, what: &str) {
    let out = run(env, &["backup", "src"], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: new backup: {}",
        text(&out)
    );
    let out = run(env, &["verify", "--read-data"], &[]);
    assert_eq!(out.status.code(), Some(0), "{what}: verify: {}", text(&out));
    let out = run(env, &["snapshots", "--json"], &[]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ids: Vec<String> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect();
    assert!(!ids.is_empty(), "{what}: no snapshot");
    for id in ids {
        let target = env.path(&format!("restored-{id}"));
        let t = target.to_string_lossy().into_owned();
        let out = run(env, &["restore", &id, "--target", &t], &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{what}: restore {id}: {}",
            text(&out)
        );
        assert_eq!(
            contents(&target),
            contents(&env.path("src")),
            "{what}: snapshot {id} restores other data"
        );
        std::fs::remove_dir_all(&target).expect("rm restored");
    }
}

/// Finding (the reproduction): a backup of new data paused right after its uploads; a
/// prune whose clock runs 2 h ahead judged its lock stale and its 2 unindexed packs old,
/// and deleted them; the backup went on, wrote an index file naming the deleted packs
/// and failed its lock check; the next backup deduplicated against that index (0 B
/// added, exit 0), and its snapshot did not restore (`verify --read-data`: pack missing,
/// exit 3). Locks are now judged in store time, so the prune is refused.
#[test]
fn paused_backup_index_outlives_its_packs_and_next_backup_loses_data_prune_clock_ahead() {
    let env = RepoEnv::local();
    assert_eq!(run(&env, &["init"], &[]).status.code(), Some(0));
    write_new(&env.path("src"), 1);
    let child = paused_backup(&env, "backup-after-upload");
    let prune = run(&env, &["prune"], &[("HOLDFAST_CLOCK_OFFSET", "7200")]);
    signal(&child, rustix::process::Signal::CONT);
    let (code, stderr) = finish(child);
    sound_after_new_backup(&env, "prune with a clock 2 h ahead");
    assert_eq!(code, Some(0), "the paused backup: {stderr}");
    assert_eq!(prune.status.code(), Some(1), "prune: {}", text(&prune));
    assert!(
        String::from_utf8_lossy(&prune.stderr).contains("locked"),
        "{}",
        text(&prune)
    );
}

/// The same with a real pause: to the store the paused backup's lock and packs are 2 h
/// old (every object aged), and the prune's clock agrees. The prune removes the lock and
/// deletes the unindexed packs; the backup must then fail with its lock lost, and the
/// next backup must not deduplicate against the packs that are gone.
#[test]
fn paused_backup_index_outlives_its_packs_and_next_backup_loses_data_real_pause() {
    for prune_args in [&["prune"][..], &["prune", "--instant-delete"][..]] {
        let env = RepoEnv::local();
        assert_eq!(run(&env, &["init"], &[]).status.code(), Some(0));
        write_new(&env.path("src"), 2);
        let child = paused_backup(&env, "backup-after-upload");
        age_store(&env.path("repo"), Duration::from_secs(2 * 3600));
        let prune = run(&env, prune_args, &[("HOLDFAST_CLOCK_OFFSET", "7200")]);
        assert_eq!(
            prune.status.code(),
            Some(0),
            "{prune_args:?}: {}",
            text(&prune)
        );
        signal(&child, rustix::process::Signal::CONT);
        let (code, stderr) = finish(child);
        assert_eq!(code, Some(1), "{prune_args:?}: the paused backup: {stderr}");
        assert!(stderr.contains("lost lock"), "{prune_args:?}: {stderr}");
        assert!(
            stderr.contains("nothing was committed"),
            "{prune_args:?}: {stderr}"
        );
        sound_after_new_backup(&env, &format!("{prune_args:?} after a 2 h pause"));
    }
}

/// An index file that names a pack the store lacks (what a backup paused past its lock
/// leaves when it wrote the file after a prune deleted the pack, and was killed before
/// it could rewrite it) is never a deduplication target: the next backup stores the
/// data again, and its snapshot restores.
#[test]
fn an_index_entry_whose_pack_is_gone_is_not_a_dedup_target() {
    let env = RepoEnv::local();
    assert_eq!(run(&env, &["init"], &[]).status.code(), Some(0));
    write_new(&env.path("src"), 3);
    assert_eq!(run(&env, &["backup", "src"], &[]).status.code(), Some(0));
    // The snapshot goes (its data would otherwise be reported damaged), the index stays.
    for f in files_in(&env.path("repo/snapshots")) {
        std::fs::remove_file(f).expect("rm snapshot");
    }
    let packs = files_in(&env.path("repo/data"));
    assert!(!packs.is_empty());
    for p in &packs {
        std::fs::remove_file(p).expect("rm pack");
    }
    let out = run(&env, &["backup", "src", "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing from the store"),
        "the backup names the missing packs: {}",
        text(&out)
    );
    // The stale entries are the repair's to remove; then the repository is whole.
    let out = run(&env, &["repair", "index", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "repair: {}", text(&out));
    sound_after_new_backup(&env, "index entries whose packs are gone");
}

/// Clients whose clocks are off by `offset` seconds (2 h and 26 h ahead, 3 h behind) meet
/// a backup paused at a step: their `forget --prune` and `prune` are refused (the lock is
/// fresh in store time, whatever their clock says), the backup commits, and a client 3 h
/// behind backs up the same data again.
#[test]
fn clients_with_skewed_clocks_neither_break_nor_block_a_paused_backup() {
    for offset in ["7200", "93600", "-10800"] {
        for step in ["backup-after-upload", "backup-before-snapshot"] {
            let what = format!("clock {offset} s, backup at {step}");
            let env = RepoEnv::local();
            assert_eq!(run(&env, &["init"], &[]).status.code(), Some(0));
            write_new(&env.path("src"), 4);
            let child = paused_backup(&env, step);
            let skewed = [("HOLDFAST_CLOCK_OFFSET", offset)];
            let forget = run(&env, &["forget", "--keep-last", "1", "--prune"], &skewed);
            let prune = run(&env, &["prune", "--instant-delete"], &skewed);
            signal(&child, rustix::process::Signal::CONT);
            let (code, stderr) = finish(child);
            assert_eq!(code, Some(0), "{what}: the paused backup: {stderr}");
            for (name, out) in [("forget --prune", &forget), ("prune", &prune)] {
                assert_eq!(out.status.code(), Some(1), "{what}: {name}: {}", text(out));
                assert!(
                    String::from_utf8_lossy(&out.stderr).contains("locked"),
                    "{what}: {name}: {}",
                    text(out)
                );
            }
            let behind = run(
                &env,
                &["backup", "src"],
                &[("HOLDFAST_CLOCK_OFFSET", "-10800")],
            );
            assert_eq!(behind.status.code(), Some(0), "{what}: {}", text(&behind));
            sound_after_new_backup(&env, &what);
        }
    }
}

fn listed(env: &RepoEnv) -> Vec<String> {
    let out = run(env, &["snapshots", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("snapshots json");
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect()
}

type Tree = Vec<(String, Vec<u8>)>;

/// The problems of one trial: `verify --read-data` not clean, or a listed snapshot that
/// does not restore as it was committed.
fn problems(env: &RepoEnv, expected: &std::collections::BTreeMap<String, Tree>) -> Vec<String> {
    let mut out = Vec::new();
    let v = run(env, &["verify", "--read-data"], &[]);
    if v.status.code() != Some(0) {
        out.push(format!("verify --read-data: {}", text(&v)));
    }
    for id in listed(env) {
        let Some(want) = expected.get(&id) else {
            out.push(format!("snapshot {id} is listed but was never committed"));
            continue;
        };
        let target = env.path("check");
        let _ = std::fs::remove_dir_all(&target);
        let r = run(env, &["restore", &id, "--target", "check"], &[]);
        if r.status.code() != Some(0) || &contents(&target) != want {
            out.push(format!(
                "snapshot {id} does not restore byte-exact: {}",
                text(&r)
            ));
        }
    }
    out
}

/// Pause suite: a backup of new data is stopped (SIGSTOP) at a uniformly random moment;
/// the store's clock moves on 2 h (every object aged) and a client whose clock agrees
/// runs `forget --keep-last 2 --prune`; the backup is continued (it commits, or fails
/// with its lock lost), then the same data is backed up again. Every trial then checks
/// `verify --read-data` and restores every snapshot. Prints
/// `torture pause: N trials, N passed, N failed, data lost: N`.
#[test]
fn torture_pause_backup_stopped_while_a_prune_two_hours_later_runs() {
    let n = trials(3);
    let env = RepoEnv::local();
    assert_eq!(run(&env, &["init"], &[]).status.code(), Some(0));
    let src = env.path("src");
    write_new(&src.join("base"), 90);
    let mut expected = std::collections::BTreeMap::new();
    let commit = |expected: &mut std::collections::BTreeMap<String, Tree>, before: &[String]| {
        for id in listed(&env) {
            if !before.contains(&id) {
                expected.insert(id, contents(&env.path("src")));
            }
        }
    };
    let before = listed(&env);
    let t = std::time::Instant::now();
    assert_eq!(run(&env, &["backup", "src"], &[]).status.code(), Some(0));
    let span = t.elapsed();
    commit(&mut expected, &before);
    let mut rng = Rng(0x5EED_0024);
    let mut failures = Vec::new();
    let mut failed = 0;
    for k in 0..n {
        let failures_before = failures.len();
        write_new(&src.join("new"), 100 + k as u64);
        let before = listed(&env);
        let mut child = cmd(&env, &["backup", "src"], &[])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn backup");
        // The delay is the experiment (a pause at a random moment), not synchronisation.
        std::thread::sleep(rng.within(span));
        let running = child.try_wait().expect("wait").is_none();
        if running {
            signal(&child, rustix::process::Signal::STOP);
            wait_stopped(&mut child);
        }
        age_store(&env.path("repo"), Duration::from_secs(2 * 3600));
        let prune = run(
            &env,
            &["forget", "--keep-last", "2", "--prune"],
            &[("HOLDFAST_CLOCK_OFFSET", "7200")],
        );
        if prune.status.code() != Some(0) {
            failures.push(format!("trial {k}: forget --prune: {}", text(&prune)));
        }
        if running {
            signal(&child, rustix::process::Signal::CONT);
        }
        let (code, stderr) = finish(child);
        if code == Some(0) {
            commit(&mut expected, &before);
        } else if !stderr.contains("lost lock") || !stderr.contains("nothing was committed") {
            failures.push(format!("trial {k}: the paused backup: {code:?} {stderr}"));
        }
        let before = listed(&env);
        let again = run(&env, &["backup", "src"], &[]);
        if again.status.code() == Some(0) {
            commit(&mut expected, &before);
        } else {
            failures.push(format!("trial {k}: the next backup: {}", text(&again)));
        }
        for p in problems(&env, &expected) {
            failures.push(format!("trial {k}: {p}"));
        }
        if failures.len() > failures_before {
            failed += 1;
        }
    }
    println!(
        "torture pause: {n} trials, {} passed, {failed} failed, data lost: {failed}",
        n - failed
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Bytes in the packs of a file:// repository.
fn data_bytes(env: &RepoEnv) -> u64 {
    files_in(&env.path("repo/data"))
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// Pack size (docs/FORMAT.md, "Packs").
const PACK: u64 = 16 << 20;

/// `added` of `holdfast --json backup src`: the bytes this backup uploaded.
fn uploaded(out: &Output) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("backup json: {e}: {}", text(out)));
    v[0]["added"]
        .as_u64()
        .unwrap_or_else(|| panic!("no added: {v}"))
}

/// Resume suite: a backup of 48 MiB of new data is killed (SIGKILL, or SIGINT: the user's
/// Ctrl-C) at a uniformly random moment, then run again: the rerun adopts the packs the
/// first run stored and sends only the rest. Every trial checks `verify --read-data` and
/// restores every snapshot; the bytes each rerun sent beyond what the interrupted run had
/// left to send are printed. Prints
/// `torture resume: N trials, N passed, N failed, data lost: N`.
#[test]
fn torture_resume_backup_killed_or_interrupted_then_run_again() {
    let n = trials(3);
    let env = RepoEnv::local();
    assert_eq!(run(&env, &["init"], &[]).status.code(), Some(0));
    let src = env.path("src");
    let write = |seed: u64| {
        let _ = std::fs::remove_dir_all(src.join("big"));
        std::fs::create_dir_all(src.join("big")).expect("mkdir");
        for i in 0..12u64 {
            let bytes = pseudo_random(seed * 100 + i, 4 << 20);
            std::fs::write(src.join(format!("big/{i}.bin")), bytes).expect("write");
        }
    };
    write(1);
    let before = listed(&env);
    let t = std::time::Instant::now();
    let full = run(&env, &["--json", "backup", "src"], &[]);
    assert_eq!(full.status.code(), Some(0), "{}", text(&full));
    let span = t.elapsed();
    let whole = uploaded(&full);
    let mut expected = std::collections::BTreeMap::new();
    for id in listed(&env) {
        if !before.contains(&id) {
            expected.insert(id, contents(&src));
        }
    }
    let mut rng = Rng(0x5EED_2424);
    let (mut failures, mut failed, mut worst) = (Vec::new(), 0, 0u64);
    for k in 0..n {
        let failures_before = failures.len();
        write(10 + k as u64);
        let at_start = data_bytes(&env);
        let sig = if k % 2 == 0 {
            rustix::process::Signal::KILL
        } else {
            rustix::process::Signal::INT
        };
        let mut child = cmd(&env, &["backup", "src"], &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn backup");
        // The delay is the experiment (an interruption at a random moment).
        std::thread::sleep(rng.within(span));
        if child.try_wait().expect("wait").is_none() {
            signal(&child, sig);
        }
        let first = child.wait().expect("wait");
        let stored_by_first = data_bytes(&env).saturating_sub(at_start);
        let before = listed(&env);
        let again = run(&env, &["--json", "backup", "src"], &[]);
        if again.status.code() != Some(0) {
            failures.push(format!("trial {k}: the rerun: {}", text(&again)));
        } else {
            let sent = uploaded(&again);
            // An uninterrupted backup of this much new data sends `whole`; what the
            // rerun sent beyond `whole` less what the first run stored was re-sent.
            let resent = (sent + stored_by_first).saturating_sub(whole);
            worst = worst.max(resent);
            println!(
                "resume trial {k} ({sig:?}, first run {first}): rerun sent {sent} B of {whole} B, \
                 re-sent {resent} B"
            );
            if first.code() != Some(0) && resent >= 4 * PACK {
                failures.push(format!("trial {k}: the rerun re-sent {resent} B"));
            }
            for id in listed(&env) {
                if !before.contains(&id) {
                    expected.insert(id, contents(&src));
                }
            }
        }
        // A snapshot the interrupted run committed (it finished first) counts too.
        for id in listed(&env) {
            expected.entry(id).or_insert_with(|| contents(&src));
        }
        for p in problems(&env, &expected) {
            failures.push(format!("trial {k}: {p}"));
        }
        if failures.len() > failures_before {
            failed += 1;
        }
    }
    println!(
        "torture resume: {n} trials, {} passed, {failed} failed, data lost: {failed}; \
         most re-sent by a rerun: {worst} B",
        n - failed
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
