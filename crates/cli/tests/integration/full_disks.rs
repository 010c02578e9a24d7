//! Full disks, on real small tmpfs mounts (unmounted by a Drop guard whatever happens):
//! a restore into one, a migrate into one that already holds data, a file:// repository
//! that fills up in the middle of a backup, and a full cache directory. Each ends with a
//! clear "no space" error naming the path (or, for the disposable cache, no error at
//! all), leaves existing data untouched, and the repository still verifies.

use super::repo_util::pseudo_random;
use super::repo_util::{RepoEnv, contents, remote_url, sample};
use super::volume_util::{Tmpfs, fill_until_full, outcome};

fn says_no_space(stderr: &str) -> bool {
    let s = stderr.to_lowercase();
    s.contains("no space") || s.contains("storage full")
}

/// Finding: a restore into a full disk exited 3 listing every file it could not write
/// as "damaged: … No space left on device", as if the repository were damaged. It now
/// stops at the first full write with one error naming the path, and exits 1.
#[test]
fn full_disk_restore_is_one_no_space_error_not_damaged_files() {
    let env = RepoEnv::local();
    env.ok(&["init"], 0);
    sample(&env.path("src"));
    std::fs::write(env.path("src/large.bin"), pseudo_random(3, 3_000_000)).expect("write");
    env.ok(&["backup", "src"], 0);
    let disk = Tmpfs::mount("2m", &[]);
    std::fs::write(disk.path().join("keep.txt"), "already here\n").expect("write");
    let target = disk.path().join("out");
    let (code, _, stderr) = outcome(&env.run(&[
        "restore",
        "latest",
        "--target",
        &target.display().to_string(),
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(says_no_space(&stderr), "{stderr}");
    assert!(
        stderr.contains(&target.display().to_string()),
        "names the path: {stderr}"
    );
    assert!(
        stderr.matches("holdfast: error:").count() == 1 && !stderr.contains("damaged"),
        "one error, no false damage: {stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(disk.path().join("keep.txt")).expect("keep"),
        "already here\n"
    );
    env.ok(&["verify", "--read-data"], 0);
    env.ok(&["restore", "latest", "--target", "again"], 0);
    assert_eq!(contents(&env.path("again")), contents(&env.path("src")));
}

#[test]
fn full_disk_migrate_into_a_tmpfs_that_holds_data_keeps_it() {
    let src = Tmpfs::mount("4m", &[]);
    let dst = Tmpfs::mount("1m", &[]);
    std::fs::write(src.path().join("big.bin"), pseudo_random(4, 1_500_000)).expect("write");
    std::fs::write(dst.path().join("old.txt"), "old data\n").expect("write");
    let env = RepoEnv::local();
    let (s, d) = (
        src.path().display().to_string(),
        dst.path().join("v").display().to_string(),
    );
    let (code, _, stderr) = outcome(&env.run(&["migrate", &s, &d]));
    assert_eq!(code, 1, "{stderr}");
    assert!(says_no_space(&stderr), "{stderr}");
    assert!(stderr.contains("big.bin"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dst.path().join("old.txt")).expect("old"),
        "old data\n"
    );
    assert_eq!(
        std::fs::read(src.path().join("big.bin")).expect("src"),
        pseudo_random(4, 1_500_000)
    );
}

/// A file:// repository on a small disk that fills up during the second backup: the
/// backup fails naming the repository path as full, commits nothing, leaves no pack
/// behind, and once there is room again the next backup completes.
#[test]
fn full_disk_repository_that_fills_mid_backup_stays_sound() {
    let disk = Tmpfs::mount("3m", &[]);
    let repo = disk.path().join("repo");
    let env = RepoEnv::at(format!("file://{}", repo.display()));
    env.ok(&["init"], 0);
    let src = env.path("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("small.txt"), "small\n").expect("write");
    env.ok(&["backup", "src"], 0);
    let first = contents(&src);
    let packs_before = super::repo_util::files_in(&repo.join("data"));
    std::fs::write(src.join("large.bin"), pseudo_random(5, 6_000_000)).expect("write");
    let (code, _, stderr) = outcome(&env.run(&["backup", "src"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(says_no_space(&stderr), "{stderr}");
    assert!(
        stderr.contains(&repo.display().to_string()),
        "names the path: {stderr}"
    );
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["--json", "snapshots"], 0)).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "nothing committed");
    assert_eq!(
        super::repo_util::files_in(&repo.join("data")),
        packs_before,
        "the failed backup's packs are gone"
    );
    env.ok(&["verify", "--read-data"], 0);
    env.ok(&["restore", "latest", "--target", "out"], 0);
    assert_eq!(contents(&env.path("out")), first);
    std::fs::write(src.join("large.bin"), pseudo_random(6, 300_000)).expect("write");
    env.ok(&["backup", "src"], 0);
    env.ok(&["restore", "latest", "--target", "out2"], 0);
    assert_eq!(contents(&env.path("out2")), contents(&src));
}

/// The local cache of a remote repository lives on a full disk: it is disposable, so
/// backup, verify and restore work as without it.
#[test]
fn full_disk_cache_directory_is_no_error_s3() {
    let cache = Tmpfs::mount("256k", &[]);
    fill_until_full(&cache.path().join("fill"));
    let env = RepoEnv::at(remote_url("HOLDFAST_TEST_S3_URL"));
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_holdfast"))
            .args(args)
            .current_dir(env.dir.path())
            .env("HOLDFAST_REPOSITORY", &env.url)
            .env("HOLDFAST_PASSWORD", "correct horse")
            .env("HOLDFAST_CACHE_DIR", cache.path())
            .env_remove("HOLDFAST_CONFIG")
            .env_remove("HOLDFAST_PASSWORD_FILE")
            .env_remove("STORAGE_TYPE")
            .output()
            .expect("run holdfast");
        let (code, stdout, stderr) = outcome(&out);
        assert_eq!(code, 0, "holdfast {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        stdout
    };
    run(&["init"]);
    sample(&env.path("src"));
    run(&["backup", "src"]);
    std::fs::write(env.path("src/later.txt"), "later\n").expect("write");
    run(&["backup", "src"]);
    run(&["verify", "--read-data"]);
    run(&["restore", "latest", "--target", "out"]);
    assert_eq!(contents(&env.path("out")), contents(&env.path("src")));
}
