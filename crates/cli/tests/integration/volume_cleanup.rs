//! `holdfast cleanup` on directories and a `file://` store URL.

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::volume_util::{TestDir, outcome};

fn aged(path: &Path, len: usize, days: u64) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, vec![1u8; len]).expect("write");
    let when = SystemTime::now() - Duration::from_secs(days * 86_400);
    std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(when)
        .expect("mtime");
}

fn tree(t: &TestDir) {
    aged(&t.path().join("tmp/a.tmp"), 100, 10);
    aged(&t.path().join("tmp/sub/b.tmp"), 20, 9);
    aged(&t.path().join("tmp/c.log"), 3, 30);
    aged(&t.path().join("tmp/fresh.tmp"), 4000, 1);
}

#[test]
fn dry_run_then_delete_with_filter() {
    let t = TestDir::new();
    tree(&t);
    let (code, stdout, stderr) = outcome(&t.holdfast(&[
        "cleanup",
        "tmp",
        "--older-than",
        "7d",
        "--filter",
        "*.tmp",
        "--dry-run",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("would delete 2 files"), "{stdout}");
    assert!(t.path().join("tmp/a.tmp").exists());

    let (code, stdout, _) = outcome(&t.holdfast(&[
        "cleanup",
        "tmp",
        "--older-than",
        "7d",
        "--filter",
        "*.tmp",
        "--json",
    ]));
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"deleted": 2, "bytes": 120, "errors": 0})
    );
    assert!(!t.path().join("tmp/a.tmp").exists() && !t.path().join("tmp/sub/b.tmp").exists());
    assert!(t.path().join("tmp/c.log").exists() && t.path().join("tmp/fresh.tmp").exists());
}

#[test]
fn missing_directory_is_zero_and_bad_duration_is_usage() {
    let t = TestDir::new();
    let (code, stdout, _) =
        outcome(&t.holdfast(&["cleanup", "absent", "--older-than", "1d", "--json"]));
    assert_eq!(code, 0);
    assert_eq!(stdout.trim(), r#"{"deleted":0,"bytes":0,"errors":0}"#);
    let (code, _, stderr) = outcome(&t.holdfast(&["cleanup", "absent", "--older-than", "7"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("has no unit"), "{stderr}");
}

#[test]
fn store_url_cleanup() {
    let t = TestDir::new();
    tree(&t);
    let url = format!("file://{}", t.path().join("tmp").display());
    let (code, stdout, stderr) =
        outcome(&t.holdfast(&["cleanup", &url, "--older-than", "7d", "--dry-run", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"deleted": 3, "bytes": 123, "errors": 0})
    );
    let (code, stdout, stderr) =
        outcome(&t.holdfast(&["cleanup", &url, "--older-than", "7d", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"deleted": 3, "bytes": 123, "errors": 0})
    );
    assert!(t.path().join("tmp/fresh.tmp").exists());
    assert!(!t.path().join("tmp/c.log").exists());
}
