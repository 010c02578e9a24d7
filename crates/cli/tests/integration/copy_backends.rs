//! `holdfast copy` across providers: file:// → Garage (S3) → Azurite (Azure Blob) → a
//! fresh file:// repository, each with its own password, and a byte-exact restore from
//! the last one; and `copy --replicas` from holdfast.toml with a replica's own retention.

use super::copy_util::{PW_A, PW_B, Scratch, check, generate, json, snapshot_ids};
use super::repo_util::{contents, remote_url, sample};

const PW_C: &str = "third password";

#[test]
fn copy_file_to_garage_to_azurite_and_back_restores_byte_exact() {
    let s = Scratch::new();
    let file = s.file_url("a");
    let s3 = remote_url("HOLDFAST_TEST_S3_URL");
    let az = remote_url("HOLDFAST_TEST_AZBLOB_URL");
    let back = s.file_url("back");
    s.ok(&file, PW_A, &["init"], 0);
    s.ok(&s3, PW_B, &["init"], 0);
    s.ok(&az, PW_C, &["init"], 0);
    s.ok(&back, PW_A, &["init"], 0);
    sample(&s.path("data"));
    generate(&s.path("data/gen"), 6, 3_000_000, 11);
    s.ok(&file, PW_A, &["backup", "data", "--tag", "one"], 0);
    std::fs::write(s.path("data/later.txt"), "later").expect("write");
    s.ok(&file, PW_A, &["backup", "data", "--tag", "two"], 0);

    let r = s.copy_to(&file, &s3, &[]);
    assert_eq!(r["copied"].as_array().map(Vec::len), Some(2), "{r}");
    let hop = |from: &str, from_pw: &str, to: &str, to_pw: &str| {
        let out = s
            .command(from, from_pw, &["--json", "copy", "--to", to])
            .env("HOLDFAST_TO_PASSWORD", to_pw)
            .output()
            .expect("run");
        json(&check(out, &["copy"], 0))
    };
    let r = hop(&s3, PW_B, &az, PW_C);
    assert_eq!(r["copied"].as_array().map(Vec::len), Some(2), "{r}");
    let r = hop(&az, PW_C, &back, PW_A);
    assert_eq!(r["copied"].as_array().map(Vec::len), Some(2), "{r}");
    // Idempotent on every hop: copying again sends nothing.
    let r = hop(&s3, PW_B, &az, PW_C);
    assert_eq!(r["copied"].as_array().map(Vec::len), Some(0), "{r}");
    assert_eq!(r["packs_uploaded"], 0, "{r}");
    // A copy of a copy keeps the first id.
    let first = snapshot_ids(&s, &file, PW_A);
    let last = snapshot_ids(&s, &back, PW_A);
    for (x, y) in first.iter().zip(&last) {
        assert_eq!(y["original"], x["id"]);
        assert_eq!(y["tags"], x["tags"]);
        assert_eq!(y["time"], x["time"]);
    }
    // Nothing goes back into the first repository: it holds every original.
    let out = s
        .command(&file, PW_A, &["--json", "copy", "--from", &az])
        .env("HOLDFAST_FROM_PASSWORD", PW_C)
        .output()
        .expect("run");
    let r = json(&check(out, &["copy", "--from"], 0));
    assert_eq!(r["skipped"].as_array().map(Vec::len), Some(2), "{r}");
    s.ok(&az, PW_C, &["verify", "--read-data"], 0);
    s.ok(
        &back,
        PW_A,
        &["restore", "latest", "--target", "restored"],
        0,
    );
    assert_eq!(contents(&s.path("restored")), contents(&s.path("data")));
    s.ok(&az, PW_C, &["restore", "latest~1", "--target", "older"], 0);
    assert!(!s.path("older/later.txt").exists());
    assert!(s.path("older/gen/even/f000.bin").exists());
}

#[test]
fn copy_replicas_from_config_applies_the_replica_retention() {
    let s = Scratch::new();
    let src = s.file_url("src");
    let az = remote_url("HOLDFAST_TEST_AZBLOB_URL");
    s.ok(&src, PW_A, &["init"], 0);
    s.ok(&az, PW_B, &["init"], 0);
    std::fs::write(s.path("replica-pw"), format!("{PW_B}\n")).expect("write");
    std::fs::write(
        s.path("holdfast.toml"),
        format!(
            "[repository]\nurl = \"{src}\"\n\n[[replicas]]\nname = \"offsite\"\nurl = \"{az}\"\n\
             password_file = \"replica-pw\"\nschedule = \"after-backup\"\n\
             retention = {{ keep_last = 2 }}\n"
        ),
    )
    .expect("write config");
    std::fs::create_dir_all(s.path("data")).expect("mkdir");
    for day in 1..=3 {
        std::fs::write(s.path("data/f.txt"), format!("day {day}")).expect("write");
        let time = format!("2026-01-0{day}T00:00:00Z");
        s.ok(&src, PW_A, &["backup", "data", "--time", &time], 0);
    }
    let run = |code| {
        let out = s
            .command(&src, PW_A, &["--json", "copy", "--replicas"])
            .env("HOLDFAST_CONFIG", s.path("holdfast.toml"))
            .env_remove("HOLDFAST_REPOSITORY")
            .output()
            .expect("run");
        json(&check(out, &["copy", "--replicas"], code))
    };
    let r = run(0);
    assert_eq!(r[0]["name"], "offsite", "{r}");
    assert_eq!(
        r[0]["copy"]["copied"].as_array().map(Vec::len),
        Some(3),
        "{r}"
    );
    assert_eq!(r[0]["forget"]["deleted"], 1, "{r}");
    assert_eq!(r[0]["lag"]["missing"], 0, "{r}");
    // The forgotten oldest copy is not sent again; a new backup is.
    let r = run(0);
    assert_eq!(
        r[0]["copy"]["copied"].as_array().map(Vec::len),
        Some(0),
        "{r}"
    );
    std::fs::write(s.path("data/f.txt"), "day 4").expect("write");
    s.ok(
        &src,
        PW_A,
        &["backup", "data", "--time", "2026-01-04T00:00:00Z"],
        0,
    );
    let r = run(0);
    assert_eq!(
        r[0]["copy"]["copied"].as_array().map(Vec::len),
        Some(1),
        "{r}"
    );
    let held = snapshot_ids(&s, &az, PW_B);
    assert_eq!(held.len(), 2);
    // Restore from the replica with its own password alone.
    s.ok(&az, PW_B, &["restore", "latest", "--target", "r"], 0);
    assert_eq!(
        std::fs::read_to_string(s.path("r/f.txt")).unwrap_or_default(),
        "day 4"
    );
    // A replica whose password is missing fails alone, exit 3, no secret shown.
    std::fs::remove_file(s.path("replica-pw")).expect("rm");
    let r = run(3);
    assert!(
        r[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("replica-pw")),
        "{r}"
    );
}
