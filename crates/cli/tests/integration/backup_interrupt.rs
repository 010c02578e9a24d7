//! Issue 24, found tried as a new user would: Ctrl-C during `holdfast backup` printed
//! `backing up /data/big: backup cancelled` and exited 1, with no word that the
//! repository was unchanged. SIGINT and SIGTERM now exit 130 and 143 (what a shell
//! expects of a process stopped by them) and say that nothing was committed and how to
//! continue. A real process, parked by a failpoint after its uploads, is signalled.

use std::process::{Command, Stdio};

use super::proc_util::wait_parked;
use super::repo_util::{RepoEnv, pseudo_random};

/// Runs `holdfast backup src` parked after its uploads, sends `signal` once it is
/// parked, and returns its exit code and stderr.
fn interrupted_backup(env: &RepoEnv, signal: rustix::process::Signal) -> (Option<i32>, String) {
    interrupted(env, &["backup", "src"], signal)
}

/// Runs `holdfast ARGS` parked after a backup's uploads, sends `signal` once it is
/// parked, and returns its exit code and stderr.
fn interrupted(
    env: &RepoEnv,
    args: &[&str],
    signal: rustix::process::Signal,
) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(args)
        .current_dir(env.dir.path())
        .env("HOLDFAST_REPOSITORY", &env.url)
        .env("HOLDFAST_PASSWORD", "correct horse")
        .env("HOLDFAST_CACHE_DIR", env.path("cache"))
        .env("HOLDFAST_FAILPOINTS", "backup-after-upload=park")
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_PASSWORD_FILE")
        .env_remove("STORAGE_TYPE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn holdfast backup");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = wait_parked(&mut stderr, "backup-after-upload");
    super::proc_util::signal(&child, signal);
    let status = child.wait().expect("wait");
    std::io::Read::read_to_string(&mut stderr, &mut seen).expect("read stderr");
    (status.code(), seen)
}

#[test]
fn ctrl_c_during_backup_exits_130_and_says_the_repository_is_unchanged() {
    let env = RepoEnv::local();
    env.ok(&["init"], 0);
    std::fs::create_dir(env.path("src")).expect("mkdir");
    std::fs::write(env.path("src/big.bin"), pseudo_random(1, 3 << 20)).expect("write");

    for (signal, code, name) in [
        (rustix::process::Signal::INT, 130, "SIGINT"),
        (rustix::process::Signal::TERM, 143, "SIGTERM"),
    ] {
        let (status, stderr) = interrupted_backup(&env, signal);
        assert_eq!(status, Some(code), "{name}: {stderr}");
        assert_eq!(
            stderr.trim_end(),
            format!(
                "holdfast: error: backup of src cancelled by {name}: nothing was committed; the \
                 repository is unchanged; run the backup again to continue"
            ),
            "{name}"
        );
        assert_eq!(env.ok(&["snapshots", "--json"], 0).trim(), "[]", "{name}");
    }
    // Run again, it continues: the snapshot is committed.
    env.ok(&["backup", "src"], 0);
    let listed: serde_json::Value =
        serde_json::from_str(&env.ok(&["snapshots", "--json"], 0)).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
}

/// The same for the configured volumes (`holdfast backup` without PATH): the signal was
/// not listened for there, so the process died by it and left its lock behind. Now it
/// exits 130, removes its lock, starts no further volume, and the `after_backup` hook
/// still runs (a service stopped for the backup is started again).
#[test]
fn ctrl_c_during_a_volume_backup_exits_130_removes_its_lock_and_runs_the_after_hook() {
    let env = RepoEnv::local();
    env.ok(&["init"], 0);
    for v in ["one", "two"] {
        std::fs::create_dir(env.path(v)).expect("mkdir");
        std::fs::write(env.path(&format!("{v}/big.bin")), pseudo_random(2, 3 << 20))
            .expect("write");
    }
    let config = format!(
        "[[volumes]]\nname = \"one\"\npath = \"{}\"\n\n[[volumes]]\nname = \"two\"\n\
         path = \"{}\"\n\n[hooks]\nafter_backup = [\"touch {}\"]\n",
        env.path("one").display(),
        env.path("two").display(),
        env.path("after-ran").display()
    );
    std::fs::write(env.path("holdfast.toml"), config).expect("config");
    let (status, stderr) = interrupted(
        &env,
        &["--config", "holdfast.toml", "backup"],
        rustix::process::Signal::INT,
    );
    assert_eq!(status, Some(130), "{stderr}");
    assert!(
        stderr.contains(
            "backup cancelled by SIGINT: nothing was committed; the repository is unchanged; \
             run the backup again to continue"
        ),
        "{stderr}"
    );
    assert!(
        env.path("after-ran").exists(),
        "the after_backup hook did not run"
    );
    let locks = std::fs::read_dir(env.path("repo/locks")).map_or(0, |d| d.count());
    assert_eq!(locks, 0, "the lock stayed");
    assert_eq!(env.ok(&["snapshots", "--json"], 0).trim(), "[]");
}
