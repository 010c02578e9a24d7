//! `restore_if_empty = true` under `holdfast run` (file:// repository): an empty volume
//! gets the whole latest snapshot back, byte for byte, before the app starts; a volume
//! that holds anything is left alone; with no snapshot yet the app starts on the fresh
//! volume after one notice; an unopenable repository keeps the app from starting.

use std::path::Path;

use super::volume_util::{TestDir, outcome};

/// A project whose one volume `vol` has `restore_if_empty = true`, with a password file.
fn project() -> TestDir {
    let t = TestDir::new();
    t.write(
        "holdfast.toml",
        format!(
            "[repository]\nurl = \"file://{}\"\n\n[[volumes]]\nname = \"data\"\npath = \"vol\"\n\
             restore_if_empty = true\n",
            t.path().join("repo").display()
        ),
    );
    t.write("password", "test password\n");
    std::fs::create_dir(t.path().join("vol")).expect("volume");
    t
}

fn hf(t: &TestDir, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["--password-file", "password"];
    all.extend_from_slice(args);
    outcome(&t.holdfast(&all))
}

/// Every regular file under `root` (but holdfast's own state) with its bytes, sorted.
fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read dir") {
            let e = e.expect("entry");
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .expect("beneath")
                .to_string_lossy()
                .into_owned();
            if rel.starts_with(".holdfast") {
                continue;
            }
            if e.file_type().expect("type").is_dir() {
                stack.push(p);
            } else {
                out.push((rel, std::fs::read(&p).expect("read")));
            }
        }
    }
    out.sort();
    out
}

fn fill(vol: &Path) {
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::create_dir_all(vol.join("uploads/2026")).expect("mkdir");
    std::fs::write(vol.join("uploads/2026/photo.bin"), &big).expect("write");
    std::fs::write(vol.join("uploads/note.txt"), "hello\n").expect("write");
    std::fs::write(vol.join("settings.json"), "{\"a\":1}").expect("write");
    std::fs::create_dir(vol.join("empty-dir")).expect("mkdir");
}

/// Removes everything but holdfast's own state from `vol`.
fn wipe(vol: &Path) {
    for e in std::fs::read_dir(vol).expect("read volume") {
        let e = e.expect("entry");
        if e.file_name().to_string_lossy().starts_with(".holdfast") {
            continue;
        }
        if e.file_type().expect("type").is_dir() {
            std::fs::remove_dir_all(e.path()).expect("remove dir");
        } else {
            std::fs::remove_file(e.path()).expect("remove file");
        }
    }
}

#[test]
fn restore_if_empty_brings_the_whole_latest_snapshot_back_before_the_app_starts() {
    let t = project();
    let vol = t.path().join("vol");
    fill(&vol);
    let before = files(&vol);
    assert_eq!(hf(&t, &["init"]).0, 0);
    let (code, _, err) = hf(&t, &["backup"]);
    assert_eq!(code, 0, "{err}");
    wipe(&vol);
    std::fs::create_dir(vol.join("lost+found")).expect("lost+found");
    let check = format!(
        "test -f {} && test -d {} && exit 42",
        vol.join("uploads/2026/photo.bin").display(),
        vol.join("empty-dir").display()
    );
    let (code, _, err) = hf(&t, &["run", "--no-serve", "--", "sh", "-c", &check]);
    assert_eq!(code, 42, "the app saw the restored volume: {err}");
    let line = err
        .lines()
        .find(|l| l.contains("volume data was empty: restored snapshot"))
        .unwrap_or_else(|| panic!("one INFO line: {err}"));
    assert!(
        line.contains("3 files") && line.contains("MiB in "),
        "{line}"
    );
    assert_eq!(files(&vol), before, "byte-exact");
    assert!(vol.join("lost+found").is_dir(), "lost+found stays");
    assert!(
        !vol.join(".holdfast/swap").exists()
            || std::fs::read_dir(vol.join(".holdfast/swap"))
                .expect("swap dir")
                .all(|e| e.expect("entry").file_name() == "lock"),
        "no swap left behind"
    );
}

#[test]
fn restore_if_empty_leaves_a_volume_with_data_alone() {
    let t = project();
    let vol = t.path().join("vol");
    fill(&vol);
    assert_eq!(hf(&t, &["init"]).0, 0);
    assert_eq!(hf(&t, &["backup"]).0, 0);
    wipe(&vol);
    std::fs::write(vol.join("new.txt"), "kept").expect("write");
    let (code, _, err) = hf(&t, &["run", "--no-serve", "--", "true"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("restored"), "{err}");
    assert_eq!(files(&vol), [("new.txt".to_string(), b"kept".to_vec())]);
}

#[test]
fn restore_if_empty_without_a_snapshot_starts_the_app_with_a_notice() {
    let t = project();
    assert_eq!(hf(&t, &["init"]).0, 0);
    let marker = t.path().join("started");
    let cmd = format!("touch {}", marker.display());
    let (code, _, err) = hf(&t, &["run", "--no-serve", "--", "sh", "-c", &cmd]);
    assert_eq!(code, 0, "{err}");
    assert!(marker.exists(), "the app started");
    let notices: Vec<&str> = err
        .lines()
        .filter(|l| {
            l.contains("volume data is empty and no snapshot of it exists yet: starting fresh")
        })
        .collect();
    assert_eq!(notices.len(), 1, "{err}");
}

#[test]
fn restore_if_empty_with_no_repository_does_not_start_the_app() {
    let t = project();
    let marker = t.path().join("started");
    let cmd = format!("touch {}", marker.display());
    let (code, _, err) = hf(&t, &["run", "--no-serve", "--", "sh", "-c", &cmd]);
    assert_eq!(code, 1, "{err}");
    assert!(!marker.exists(), "the app must not start: {err}");
    assert!(
        err.contains("volume data is empty (restore_if_empty = true) and cannot be restored"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
