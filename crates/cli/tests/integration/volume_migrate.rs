//! `holdfast migrate` between tmpfs mounts: report, resume, refusal, out of space.

use super::volume_util::{TestDir, Tmpfs, outcome};

#[test]
fn migrate_reports_and_resumes() {
    let src = Tmpfs::mount("4m", &[]);
    let dst = Tmpfs::mount("4m", &[]);
    std::fs::create_dir(src.path().join("db")).expect("mkdir");
    std::fs::write(src.path().join("db/app.db"), vec![3u8; 100_000]).expect("write");
    std::fs::write(src.path().join("notes.txt"), b"hello").expect("write");
    std::os::unix::fs::symlink("db/app.db", src.path().join("current")).expect("symlink");
    let t = TestDir::new();
    let (s, d) = (
        src.path().display().to_string(),
        dst.path().join("v").display().to_string(),
    );
    let (code, stdout, stderr) = outcome(&t.holdfast(&["migrate", &s, &d]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("2 files") && stdout.contains("2 copied"),
        "{stdout}"
    );
    assert!(
        stdout.contains("verified: every file's BLAKE3 hash matches"),
        "{stdout}"
    );

    let (code, stdout, stderr) = outcome(&t.holdfast(&["migrate", "--json", &s, &d]));
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json["files"], 2);
    assert_eq!(json["bytes"], 100_005);
    assert_eq!(json["copied"], 0);
    assert_eq!(json["skipped"], 2);
    assert_eq!(json["verified"], true);
    assert!(json["seconds"].is_number());
}

#[test]
fn migrate_refuses_nested_destination() {
    let src = Tmpfs::mount("1m", &[]);
    let t = TestDir::new();
    let s = src.path().display().to_string();
    let d = src.path().join("inner").display().to_string();
    let (code, _, stderr) = outcome(&t.holdfast(&["migrate", &s, &d]));
    assert_eq!(code, 1);
    assert!(stderr.contains("lies inside the source"), "{stderr}");
}

#[test]
fn migrate_out_of_space_is_a_clear_error() {
    let src = Tmpfs::mount("4m", &[]);
    let dst = Tmpfs::mount("512k", &[]);
    std::fs::write(src.path().join("big.bin"), vec![9u8; 1_000_000]).expect("write");
    let t = TestDir::new();
    let (s, d) = (
        src.path().display().to_string(),
        dst.path().display().to_string(),
    );
    let (code, _, stderr) = outcome(&t.holdfast(&["migrate", &s, &d]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no space left on the destination while copying"),
        "{stderr}"
    );
    assert!(stderr.contains("big.bin"), "{stderr}");
    assert_eq!(
        std::fs::read(src.path().join("big.bin"))
            .expect("read")
            .len(),
        1_000_000
    );
}

#[test]
fn migrate_into_a_store_url() {
    let src = Tmpfs::mount("2m", &[]);
    std::fs::write(src.path().join("a.txt"), b"alpha").expect("write");
    std::os::unix::fs::symlink("a.txt", src.path().join("link")).expect("symlink");
    let t = TestDir::new();
    let url = format!("file://{}", t.path().join("store").display());
    let s = src.path().display().to_string();
    let (code, stdout, stderr) = outcome(&t.holdfast(&["migrate", &s, &url]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("recorded in holdfast-migrate.json"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(t.path().join("store/a.txt")).expect("object"),
        b"alpha"
    );
    let manifest =
        std::fs::read_to_string(t.path().join("store/holdfast-migrate.json")).expect("manifest");
    assert!(manifest.contains("\"target\": \"a.txt\""), "{manifest}");
}
