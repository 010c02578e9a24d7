//! Directory trees far deeper than any path the kernel accepts in one piece: 500 levels
//! (which overflowed the backup walker's stack) and 10,000 levels of one-letter names
//! (a 20,000-byte path, past `PATH_MAX`). Backup, a second backup over a parent, restore
//! (byte-exact, with modes), `verify --read-data`, `diff`, `ls` (of a deep path and of
//! everything), `find`, `copy` to a second file:// repository (restored from there too)
//! and `export`, each a run of the binary. The trees are built and checked with
//! descriptor-relative calls, one open directory at a time, so the test itself never
//! needs a long path.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::copy_util::{PW_A, PW_B, Scratch, json, noise};

/// A file `f` every this many levels, and a symlink `l` to it every three times that.
const FILE_EVERY: usize = 100;

fn open_dir(at: &OwnedFd, name: &str) -> OwnedFd {
    rustix::fs::openat(
        at,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap_or_else(|e| panic!("open {name}: {e}"))
}

fn open_root(path: &Path) -> OwnedFd {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

fn write_file(at: &OwnedFd, name: &str, data: &[u8], mode: u32) {
    let fd = rustix::fs::openat(
        at,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
    .unwrap_or_else(|e| panic!("create {name}: {e}"));
    let mut f = std::fs::File::from(fd);
    f.write_all(data).expect("write");
    rustix::fs::fchmod(&f, Mode::from_raw_mode(mode)).expect("chmod");
}

fn read_file(at: &OwnedFd, name: &str) -> (Vec<u8>, u32) {
    let fd = rustix::fs::openat(
        at,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap_or_else(|e| panic!("open {name}: {e}"));
    let mode = rustix::fs::fstat(&fd).expect("stat").st_mode & 0o7777;
    let mut data = Vec::new();
    std::fs::File::from(fd)
        .read_to_end(&mut data)
        .expect("read");
    (data, mode)
}

fn bottom_data(round: u64) -> Vec<u8> {
    noise(300_000, 24 + round)
}

/// `root/top.txt` and a chain of `depth` directories `d`; along the way a file `f` and a
/// symlink `l`; at the bottom `bottom.bin` (mode 0600) in a directory of mode 0750.
fn build(root: &Path, depth: usize) {
    std::fs::create_dir_all(root).expect("mkdir root");
    let mut at = open_root(root);
    write_file(&at, "top.txt", b"top\n", 0o644);
    for level in 1..=depth {
        rustix::fs::mkdirat(&at, "d", Mode::from_raw_mode(0o755)).expect("mkdirat");
        at = open_dir(&at, "d");
        if level % FILE_EVERY == 0 {
            write_file(&at, "f", format!("level {level}\n").as_bytes(), 0o640);
        }
        if level % (3 * FILE_EVERY) == 0 {
            rustix::fs::symlinkat("f", &at, "l").expect("symlinkat");
        }
    }
    write_file(&at, "bottom.bin", &bottom_data(0), 0o600);
    rustix::fs::fchmod(&at, Mode::from_raw_mode(0o750)).expect("chmod");
}

/// Rewrites the bottom file (a change for `diff` and a partly new backup).
fn change_bottom(root: &Path, depth: usize) {
    let mut at = open_root(root);
    for _ in 0..depth {
        at = open_dir(&at, "d");
    }
    write_file(&at, "bottom.bin", &bottom_data(1), 0o600);
}

/// Checks a restored tree against [`build`] with the bottom file of `round`.
fn check(root: &Path, depth: usize, round: u64) {
    let mut at = open_root(root);
    assert_eq!(read_file(&at, "top.txt"), (b"top\n".to_vec(), 0o644));
    for level in 1..=depth {
        at = open_dir(&at, "d");
        let mut names: Vec<String> = rustix::fs::Dir::read_from(&at)
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "." && n != "..")
            .collect();
        names.sort();
        let mut want = Vec::new();
        if level < depth {
            want.push("d");
        } else {
            want.push("bottom.bin");
        }
        if level % FILE_EVERY == 0 {
            want.push("f");
            assert_eq!(
                read_file(&at, "f"),
                (format!("level {level}\n").into_bytes(), 0o640),
                "level {level}"
            );
        }
        if level % (3 * FILE_EVERY) == 0 {
            want.push("l");
            let target = rustix::fs::readlinkat(&at, "l", Vec::new()).expect("readlink");
            assert_eq!(target.to_bytes(), b"f", "level {level}");
        }
        want.sort();
        assert_eq!(names, want, "level {level}");
    }
    let (data, mode) = read_file(&at, "bottom.bin");
    assert!(data == bottom_data(round), "the bottom file differs");
    assert_eq!(mode, 0o600);
    let dir_mode = rustix::fs::fstat(&at).expect("stat").st_mode & 0o7777;
    assert_eq!(dir_mode, 0o750, "the bottom directory's mode");
}

/// `d/d/…/d` (`n` levels).
fn chain(n: usize) -> String {
    vec!["d"; n].join("/")
}

fn deep_tree_round_trip(depth: usize) {
    let s = Scratch::new();
    let (a, b) = (s.file_url("a"), s.file_url("b"));
    s.ok(&a, PW_A, &["init"], 0);
    s.ok(&b, PW_B, &["init"], 0);
    build(&s.path("src"), depth);

    s.ok(&a, PW_A, &["backup", "src"], 0);
    let first = json(&s.ok(&a, PW_A, &["--json", "snapshots"], 0))[0]["id"]
        .as_str()
        .expect("snapshot id")
        .to_owned();
    // The second backup walks the tree again against its parent's trees.
    change_bottom(&s.path("src"), depth);
    s.ok(&a, PW_A, &["backup", "src"], 0);

    s.ok(&a, PW_A, &["restore", "latest", "--target", "out"], 0);
    check(&s.path("out"), depth, 1);
    s.ok(&a, PW_A, &["restore", &first, "--target", "out-first"], 0);
    check(&s.path("out-first"), depth, 0);

    s.ok(&a, PW_A, &["verify", "--read-data"], 0);

    let bottom = format!("{}/bottom.bin", chain(depth));
    let diff = json(&s.ok(&a, PW_A, &["--json", "diff", &first, "latest"], 0));
    let changes: Vec<(String, String)> = diff
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["path"].as_str().unwrap_or_default().to_owned(),
                        e["change"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(
        changes.contains(&(bottom.clone(), "modified".to_owned())),
        "diff: {} changes, the bottom file not among them as modified",
        changes.len()
    );

    // Everything: the root's file and every directory, `f` and `l` along the way.
    let everything = s.ok(&a, PW_A, &["ls", "latest"], 0);
    let want = 2 + depth + depth / FILE_EVERY + depth / (3 * FILE_EVERY);
    assert_eq!(everything.lines().count(), want, "ls latest");
    assert!(
        everything.lines().any(|l| l.contains(&bottom)),
        "ls latest lists the bottom file"
    );
    // One deep path: the last directory holds the bottom file.
    let deep = chain(depth);
    let listed = s.ok(&a, PW_A, &["ls", "latest", &deep], 0);
    assert!(
        listed.lines().any(|l| l.contains(&bottom)),
        "ls of a deep path"
    );

    let found = json(&s.ok(&a, PW_A, &["--json", "find", "bottom.bin"], 0));
    let paths: Vec<&str> = found
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["path"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(paths, vec![bottom.as_str(), bottom.as_str()], "find");

    s.copy_to(&a, &b, &[]);
    s.ok(&b, PW_B, &["verify", "--read-data"], 0);
    s.ok(&b, PW_B, &["restore", "latest", "--target", "out-copy"], 0);
    check(&s.path("out-copy"), depth, 1);

    let tar = s.path("deep.tar");
    s.ok(
        &a,
        PW_A,
        &["export", "latest", "--output", tar.to_str().expect("utf8")],
        0,
    );
    let mut entries = 0usize;
    let mut bottom_bytes = None;
    let mut archive = tar::Archive::new(std::fs::File::open(&tar).expect("open tar"));
    for e in archive.entries().expect("tar entries") {
        let mut e = e.expect("tar entry");
        entries += 1;
        if e.path().expect("entry path").to_string_lossy() == bottom {
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("read entry");
            bottom_bytes = Some(data);
        }
    }
    assert_eq!(entries, want, "export entries");
    assert!(
        bottom_bytes == Some(bottom_data(1)),
        "the exported bottom file differs"
    );
}

/// Finding: 500 levels aborted `holdfast backup` with a stack overflow (exit 134).
#[test]
fn a_tree_500_levels_deep_backs_up_and_restores() {
    deep_tree_round_trip(500);
}

/// 10,000 levels of one-letter names: a 20,000-byte path, past `PATH_MAX`.
#[test]
fn a_tree_10000_levels_deep_backs_up_and_restores() {
    deep_tree_round_trip(10_000);
}
