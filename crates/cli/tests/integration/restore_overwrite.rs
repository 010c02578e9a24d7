//! `restore --target` into a directory that already holds files: refused without
//! `--overwrite` (the bug: it silently overwrote a file and exited 0), each mode's result,
//! `--dry-run` writing nothing, and a symlink planted in the target never followed.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::repo_util::{RepoEnv, contents};

/// A repository with one snapshot of `data/` (a.txt, b.txt, sub/c.txt); b.txt's mtime is
/// set to a fixed time so a copy can match it.
fn setup() -> RepoEnv {
    let env = RepoEnv::local();
    env.ok(&["init"], 0);
    let data = env.path("data");
    std::fs::create_dir_all(data.join("sub")).expect("mkdir");
    std::fs::write(data.join("a.txt"), "alpha from the snapshot").expect("write");
    std::fs::write(data.join("b.txt"), "bravo").expect("write");
    std::fs::write(data.join("sub/c.txt"), "charlie").expect("write");
    set_mtime(&data.join("b.txt"), 1_700_000_000);
    env.ok(&["backup", "data"], 0);
    env
}

fn set_mtime(p: &Path, secs: i64) {
    let t = filetime::FileTime::from_unix_time(secs, 0);
    filetime::set_file_times(p, t, t).expect("set mtime");
}

/// A target with a.txt (local, different), b.txt (same content and mtime as the
/// snapshot), b2 absent, extra.txt (only local).
fn target(env: &RepoEnv, name: &str) -> PathBuf {
    let t = env.path(name);
    std::fs::create_dir_all(&t).expect("mkdir");
    std::fs::write(t.join("a.txt"), "local a").expect("write");
    set_mtime(&t.join("a.txt"), 1_600_000_000);
    std::fs::write(t.join("b.txt"), "bravo").expect("write");
    set_mtime(&t.join("b.txt"), 1_700_000_000);
    std::fs::write(t.join("extra.txt"), "only here").expect("write");
    t
}

/// Every entry with its content and (for files and dirs) mtime and inode.
fn listing(root: &Path) -> Vec<(String, Vec<u8>, i64, u64)> {
    contents(root)
        .into_iter()
        .map(|(rel, c)| {
            let m = std::fs::symlink_metadata(root.join(&rel)).expect("stat");
            (rel, c, m.mtime(), m.ino())
        })
        .collect()
}

fn restore(env: &RepoEnv, t: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["restore", "latest", "--target", t.to_str().expect("utf8")];
    args.extend_from_slice(extra);
    env.run(&args)
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(p).expect("read")
}

#[test]
fn restore_into_non_empty_target_silently_overwrote_a_file() {
    let env = setup();
    let t = target(&env, "t");
    let before = listing(&t);
    let out = restore(&env, &t, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("--overwrite") && err.contains("not empty") && err.contains("3 entries"),
        "{err}"
    );
    assert_eq!(listing(&t), before, "nothing in the target changed");
    assert_eq!(read(t.join("a.txt")), "local a");
}

#[test]
fn restore_into_empty_or_missing_target_needs_no_flag() {
    let env = setup();
    let empty = env.path("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    assert_eq!(restore(&env, &empty, &[]).status.code(), Some(0));
    assert_eq!(contents(&empty), contents(&env.path("data")));
    let missing = env.path("missing/deeper");
    assert_eq!(restore(&env, &missing, &[]).status.code(), Some(0));
    assert_eq!(contents(&missing), contents(&env.path("data")));
}

#[test]
fn overwrite_always_replaces_every_file_and_keeps_extra_ones() {
    let env = setup();
    let t = target(&env, "t");
    let b_ino = std::fs::metadata(t.join("b.txt")).expect("stat").ino();
    let out = restore(&env, &t, &["--overwrite", "always"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(read(t.join("a.txt")), "alpha from the snapshot");
    assert_eq!(read(t.join("sub/c.txt")), "charlie");
    assert_eq!(read(t.join("extra.txt")), "only here");
    assert_ne!(
        std::fs::metadata(t.join("b.txt")).expect("stat").ino(),
        b_ino,
        "always rewrites even an identical file"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 overwritten, 0 kept"), "{stdout}");
}

#[test]
fn overwrite_if_changed_skips_identical_files() {
    let env = setup();
    let t = target(&env, "t");
    // Same content, different mtime: decided by the content hash.
    std::fs::create_dir(t.join("sub")).expect("mkdir");
    std::fs::write(t.join("sub/c.txt"), "charlie").expect("write");
    set_mtime(&t.join("sub/c.txt"), 1_500_000_000);
    let b_ino = std::fs::metadata(t.join("b.txt")).expect("stat").ino();
    let c_ino = std::fs::metadata(t.join("sub/c.txt")).expect("stat").ino();
    let out = restore(&env, &t, &["--overwrite", "if-changed", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["overwritten"], 1, "{doc}");
    assert_eq!(doc["skipped"], 2, "{doc}");
    assert_eq!(read(t.join("a.txt")), "alpha from the snapshot");
    assert_eq!(
        std::fs::metadata(t.join("b.txt")).expect("stat").ino(),
        b_ino
    );
    assert_eq!(
        std::fs::metadata(t.join("sub/c.txt")).expect("stat").ino(),
        c_ino
    );
    assert_eq!(read(t.join("extra.txt")), "only here");
}

#[test]
fn overwrite_never_keeps_existing_files_and_restores_missing_ones() {
    let env = setup();
    let t = target(&env, "t");
    let a_before = std::fs::metadata(t.join("a.txt")).expect("stat");
    let out = restore(&env, &t, &["--overwrite", "never"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(read(t.join("a.txt")), "local a");
    let a_after = std::fs::metadata(t.join("a.txt")).expect("stat");
    assert_eq!(
        (a_after.ino(), a_after.mtime()),
        (a_before.ino(), a_before.mtime())
    );
    assert_eq!(read(t.join("sub/c.txt")), "charlie");
    assert_eq!(read(t.join("extra.txt")), "only here");
}

#[test]
fn dry_run_writes_nothing_in_any_mode() {
    let env = setup();
    let t = target(&env, "t");
    let before = listing(&t);
    for mode in ["always", "if-changed", "never"] {
        let out = restore(&env, &t, &["--overwrite", mode, "--dry-run", "-v"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("nothing was written"), "{stdout}");
        assert!(stdout.contains("sub/c.txt"), "-v lists paths: {stdout}");
        assert_eq!(listing(&t), before, "{mode}: the target changed");
    }
    let out = restore(
        &env,
        &t,
        &["--overwrite", "if-changed", "--dry-run", "--json"],
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(
        (&doc["write"], &doc["overwrite"], &doc["skip"]),
        (
            &serde_json::json!(1),
            &serde_json::json!(1),
            &serde_json::json!(1)
        ),
        "{doc}"
    );
    assert_eq!(listing(&t), before);
    let missing = env.path("not-there");
    let out = restore(&env, &missing, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(!missing.exists(), "a dry run creates no directory");
}

#[test]
fn symlink_planted_in_target_is_never_followed() {
    let env = setup();
    let outside = env.path("outside");
    std::fs::create_dir_all(outside.join("dir")).expect("mkdir");
    std::fs::write(outside.join("secret"), "do not touch").expect("write");
    let outside_before = listing(&outside);
    for mode in ["always", "if-changed", "never"] {
        let t = env.path(&format!("t-{mode}"));
        std::fs::create_dir(&t).expect("mkdir");
        std::os::unix::fs::symlink(outside.join("secret"), t.join("a.txt")).expect("symlink");
        std::os::unix::fs::symlink(outside.join("dir"), t.join("sub")).expect("symlink");
        let out = restore(&env, &t, &["--overwrite", mode]);
        assert!(matches!(out.status.code(), Some(0 | 3)), "{mode}: {out:?}");
        assert_eq!(listing(&outside), outside_before, "{mode} wrote outside");
        let a = std::fs::symlink_metadata(t.join("a.txt")).expect("stat");
        if mode == "never" {
            assert!(a.file_type().is_symlink(), "never keeps the link");
        } else {
            assert!(a.is_file(), "{mode} replaces the link itself");
            assert_eq!(read(t.join("a.txt")), "alpha from the snapshot");
        }
        assert!(
            std::fs::symlink_metadata(t.join("sub"))
                .expect("stat")
                .file_type()
                .is_symlink()
        );
    }
}
