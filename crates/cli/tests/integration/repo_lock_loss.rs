//! Real `holdfast` processes paused at a step of a backup (a failpoint makes the process
//! stop itself with SIGSTOP) while other processes work on the repository; then continued.
//! docs/FORMAT.md, "Invariant": a committed snapshot never loses data, and a backup that
//! lost its lock never commits.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::proc_util::{signal, wait_parked, wait_stopped};
use super::repo_util::{RepoEnv, contents, files_in};

/// 12 files of 256 KiB of pseudo-random bytes under `dir/x`.
fn write_x(dir: &Path) {
    std::fs::create_dir_all(dir.join("x")).expect("mkdir");
    for i in 0..12u64 {
        let mut s = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let bytes: Vec<u8> = (0..256 * 1024)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect();
        std::fs::write(dir.join(format!("x/{i}.bin")), bytes).expect("write");
    }
}

/// The reproduction of the report: a snapshot with `x/`, one without, the first
/// forgotten, `x/` back in the source: the next backup deduplicates against the packs
/// that prune wants to remove.
fn prepared() -> RepoEnv {
    let env = RepoEnv::local();
    env.ok(&["init"], 0);
    let src = env.path("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("keep.txt"), "always\n").expect("write");
    write_x(&src);
    env.ok(&["backup", "src"], 0);
    std::fs::rename(src.join("x"), env.path("x-away")).expect("move away");
    // Most of the source is gone: the snapshot is flagged shrunk (exit 3), and the
    // deletion is accepted so that `forget --keep-last 1` may drop the first snapshot.
    env.ok(&["backup", "src"], 3);
    env.ok(&["tag", "latest", "--remove", "shrunk"], 0);
    env.ok(&["forget", "--keep-last", "1"], 0);
    std::fs::rename(env.path("x-away"), src.join("x")).expect("move back");
    env
}

/// `holdfast backup src` with `HOLDFAST_FAILPOINTS=failpoints`, stderr piped.
fn backup_with(env: &RepoEnv, failpoints: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(["backup", "src"])
        .current_dir(env.dir.path())
        .env("HOLDFAST_REPOSITORY", &env.url)
        .env("HOLDFAST_PASSWORD", "correct horse")
        .env("HOLDFAST_CACHE_DIR", env.path("cache"))
        .env("HOLDFAST_FAILPOINTS", failpoints)
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_PASSWORD_FILE")
        .env_remove("STORAGE_TYPE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn holdfast backup")
}

/// `holdfast backup src` that stops itself at `step`.
fn paused_backup(env: &RepoEnv, step: &str) -> Child {
    let mut child = backup_with(env, &format!("{step}=stop"));
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

fn files_under(dir: &Path) -> usize {
    files_in(dir).len()
}

/// Every snapshot restores as `src` was, and verify --read-data is clean.
fn sound(env: &RepoEnv, expected_snapshots: usize) {
    let listed: serde_json::Value =
        serde_json::from_str(&env.ok(&["snapshots", "--json"], 0)).expect("json");
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(expected_snapshots),
        "{listed}"
    );
    env.ok(&["verify", "--read-data"], 0);
    let target = env.path("restored");
    let _ = std::fs::remove_dir_all(&target);
    env.ok(&["restore", "latest", "--target", "restored"], 0);
    assert_eq!(contents(&target), contents(&env.path("src")));
}

/// Finding: the backup released its lock before writing its index and snapshot; a prune
/// run while the index write was in flight deleted 12 MiB that the snapshot then
/// committed (exit 0) referenced. The lock is now held until the commit: prune is refused.
#[test]
fn prune_is_refused_while_a_backup_writes_its_index_and_snapshot() {
    for step in [
        "backup-after-upload",
        "backup-after-index",
        "backup-before-snapshot",
    ] {
        let env = prepared();
        let child = paused_backup(&env, step);
        let out = env.run(&["prune", "--instant-delete"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{step}: prune: {stderr}");
        assert!(stderr.contains("locked"), "{step}: {stderr}");
        signal(&child, rustix::process::Signal::CONT);
        let (code, stderr) = finish(child);
        assert_eq!(code, Some(0), "{step}: backup: {stderr}");
        sound(&env, 2);
    }
}

/// Finding: a backup paused past the stale window (SIGSTOP, a frozen VM) resumed and
/// committed after a prune had removed its lock and deleted the data it deduplicated
/// against. It now stops without committing, and the repository stays whole.
#[test]
fn backup_paused_until_its_lock_is_removed_does_not_commit() {
    for step in [
        "backup-locked",
        "backup-after-upload",
        "backup-after-index",
        "backup-before-snapshot",
    ] {
        let env = prepared();
        let child = paused_backup(&env, step);
        // What another client does once the lock is older than the stale window.
        env.ok(&["unlock", "--all"], 0);
        env.ok(&["prune", "--instant-delete"], 0);
        signal(&child, rustix::process::Signal::CONT);
        let (code, stderr) = finish(child);
        assert_eq!(code, Some(1), "{step}: the backup must fail: {stderr}");
        assert!(stderr.contains("lost lock"), "{step}: {stderr}");
        assert!(stderr.contains("nothing was committed"), "{step}: {stderr}");
        // The source as the surviving snapshot saw it.
        std::fs::rename(env.path("src/x"), env.path("x-gone")).expect("move");
        sound(&env, 1);
        assert_eq!(
            files_under(&env.path("repo/locks")),
            0,
            "{step}: a lock was left"
        );
    }
}

/// Finding: cancellation leaked: an interrupted backup left its lock for 30 minutes. SIGINT
/// now stops every worker and removes the lock at once; the packs it uploaded stay for the
/// next backup, which adopts them instead of sending them again.
#[test]
fn sigint_stops_a_backup_removes_its_lock_and_keeps_its_packs() {
    let env = prepared();
    let packs_before = files_under(&env.path("repo/data"));
    std::fs::write(env.path("src/new.bin"), vec![7u8; 3 << 20]).expect("write");
    let mut child = backup_with(&env, "backup-after-upload=park");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let seen = wait_parked(&mut stderr, "backup-after-upload");
    assert!(files_under(&env.path("repo/locks")) > 0);
    assert!(files_under(&env.path("repo/data")) > packs_before);
    signal(&child, rustix::process::Signal::INT);
    let status = child.wait().expect("wait");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("read stderr");
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(rest.contains("cancelled"), "{rest}");
    assert_eq!(files_under(&env.path("repo/locks")), 0, "the lock stayed");
    // The packs stay for the next backup to adopt (docs/FORMAT.md, "Order of writes").
    assert!(
        files_under(&env.path("repo/data")) > packs_before,
        "the interrupted backup deleted its packs"
    );
    std::fs::remove_file(env.path("src/new.bin")).expect("rm");
    std::fs::rename(env.path("src/x"), env.path("x-gone")).expect("move");
    sound(&env, 1);
}
