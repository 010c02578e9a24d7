//! `holdfast copy` between two file:// repositories: re-encryption under the target's
//! own password, deduplication, idempotency (`original`), `--from`, selectors, and a copy
//! killed (SIGKILL) at random points that, run again, sends no stored pack twice.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::copy_util::{PW_A, PW_B, Scratch, check, generate, json, snapshot_ids};
use super::repo_util::{contents, files_in, sample};

fn two_repos(s: &Scratch) -> (String, String) {
    let (a, b) = (s.file_url("a"), s.file_url("b"));
    s.ok(&a, PW_A, &["init"], 0);
    s.ok(&b, PW_B, &["init"], 0);
    (a, b)
}

#[test]
fn copy_re_encrypts_keeps_metadata_and_is_idempotent() {
    let s = Scratch::new();
    let (a, b) = two_repos(&s);
    sample(&s.path("data"));
    s.ok(
        &a,
        PW_A,
        &[
            "backup",
            "data",
            "--tag",
            "t1",
            "--time",
            "2026-01-01T00:00:00Z",
        ],
        0,
    );
    std::fs::write(s.path("data/new.txt"), "second").expect("write");
    s.ok(&a, PW_A, &["backup", "data", "--tag", "t2"], 0);
    let first = s.copy_to(&a, &b, &["latest~1"]);
    assert_eq!(first["copied"].as_array().map(Vec::len), Some(1), "{first}");
    let all = s.copy_to(&a, &b, &[]);
    assert_eq!(all["copied"].as_array().map(Vec::len), Some(1), "{all}");
    assert_eq!(all["skipped"].as_array().map(Vec::len), Some(1), "{all}");
    // The second snapshot shares nearly everything with the first: little is sent.
    let again = s.copy_to(&a, &b, &[]);
    assert_eq!(again["copied"].as_array().map(Vec::len), Some(0), "{again}");
    assert_eq!(again["packs_uploaded"], 0, "{again}");
    let src = snapshot_ids(&s, &a, PW_A);
    let dst = snapshot_ids(&s, &b, PW_B);
    assert_eq!(dst.len(), 2);
    for (x, y) in src.iter().zip(&dst) {
        assert_eq!(y["original"], x["id"], "{y}");
        assert_ne!(y["id"], x["id"]);
        for f in ["time", "tags", "root", "hostname", "files", "size"] {
            assert_eq!(x[f], y[f], "{f}");
        }
    }
    // The target opens only with its own password.
    let wrong = s.command(&b, PW_A, &["snapshots"]).output().expect("run");
    assert_eq!(wrong.status.code(), Some(1));
    let text = s.ok(&b, PW_B, &["snapshots"], 0);
    assert!(text.contains("(original "), "{text}");
    s.ok(&b, PW_B, &["restore", "latest~1", "--target", "r1"], 0);
    s.ok(&b, PW_B, &["restore", "latest", "--target", "r2"], 0);
    assert_eq!(contents(&s.path("r2")), contents(&s.path("data")));
    assert!(!s.path("r1/new.txt").exists());
    s.ok(&b, PW_B, &["verify", "--read-data"], 0);
    // Back the other way (--from): the target already holds both originals.
    let back = s
        .command(&a, PW_A, &["--json", "copy", "--from", &b])
        .env("HOLDFAST_FROM_PASSWORD", PW_B)
        .output()
        .expect("run");
    let back = json(&check(back, &["copy", "--from"], 0));
    assert_eq!(back["copied"].as_array().map(Vec::len), Some(0), "{back}");
    assert_eq!(back["skipped"].as_array().map(Vec::len), Some(2), "{back}");
}

#[test]
fn copy_without_the_other_password_is_refused() {
    let s = Scratch::new();
    let (a, b) = two_repos(&s);
    let out = s
        .command(&a, PW_A, &["copy", "--to", &b])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("HOLDFAST_TO_PASSWORD"), "{err}");
    let pw = s.path("pw");
    std::fs::write(&pw, format!("{PW_B}\n")).expect("write");
    s.ok(
        &a,
        PW_A,
        &[
            "copy",
            "--to",
            &b,
            "--to-password-file",
            pw.to_str().unwrap_or(""),
        ],
        0,
    );
}

/// Pack file → (inode, mtime ns): a pack written again gets a new inode (temp + rename).
fn packs(repo: &Path) -> BTreeMap<String, (u64, i64)> {
    files_in(&repo.join("data"))
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).expect("stat");
            (p.display().to_string(), (m.ino(), m.mtime_nsec()))
        })
        .collect()
}

fn kill_after_packs(s: &Scratch, a: &str, b: &str, want: usize, extra: Duration) {
    let mut child = s
        .command(a, PW_A, &["copy", "--to", b])
        .env("HOLDFAST_TO_PASSWORD", PW_B)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start copy");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if packs(&s.path("b")).len() >= want {
            break;
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "copy made no {want} packs in time"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // A random extra moment: the kill lands mid-upload, mid-read or between packs.
    std::thread::sleep(extra);
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

#[test]
fn copy_killed_at_random_points_resumes_without_resending_stored_packs() {
    let s = Scratch::new();
    let (a, b) = two_repos(&s);
    // ~72 MB of noise: five data packs.
    generate(&s.path("data"), 18, 4_000_000, 7);
    s.ok(&a, PW_A, &["backup", "data"], 0);
    let mut seed = std::process::id() as usize;
    let mut killed_with_packs = 0;
    for round in 0..2 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let want = packs(&s.path("b")).len() + 1;
        let extra = Duration::from_millis(((seed >> 8) % 40) as u64);
        kill_after_packs(&s, &a, &b, want, extra);
        let before = packs(&s.path("b"));
        if !before.is_empty() {
            killed_with_packs += 1;
        }
        assert!(
            snapshot_ids(&s, &b, PW_B).is_empty(),
            "round {round}: the killed copy committed nothing"
        );
    }
    let before = packs(&s.path("b"));
    assert!(killed_with_packs > 0 && !before.is_empty());
    let report = s.copy_to(&a, &b, &[]);
    let after = packs(&s.path("b"));
    // Every pack stored before the resume is still the same file: not sent again.
    for (p, meta) in &before {
        assert_eq!(after.get(p), Some(meta), "pack {p} was written again");
    }
    assert_eq!(report["packs_reused"], before.len() as u64, "{report}");
    assert_eq!(
        report["packs_uploaded"]
            .as_u64()
            .map(|n| n as usize + before.len()),
        Some(after.len()),
        "{report}"
    );
    s.ok(&b, PW_B, &["verify", "--read-data"], 0);
    s.ok(&b, PW_B, &["restore", "latest", "--target", "r"], 0);
    assert_eq!(contents(&s.path("r")), contents(&s.path("data")));
}
