//! `holdfast forget` keeps the same snapshots as `restic forget` (Debian's restic) on
//! the same 45 snapshot times spread over a year; then prune, `verify --read-data` and a
//! restore of every kept snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use super::retention_util::{Repo, contents};

/// 45 times over about a year: irregular gaps, several a day at times, all UTC.
fn times() -> Vec<chrono::DateTime<chrono::Utc>> {
    let start = chrono::DateTime::parse_from_rfc3339("2025-02-03T08:15:00Z")
        .expect("start time")
        .to_utc();
    let mut t = start;
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut out = Vec::new();
    for i in 0..45 {
        out.push(t);
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let hours = match i % 6 {
            0 => 3 + (state >> 60),
            1 => 30 + (state >> 58),
            _ => 200 + (state >> 57),
        };
        t += chrono::TimeDelta::hours(i64::try_from(hours).expect("small"));
    }
    out
}

fn restic(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("restic")
        .args(args)
        .env("RESTIC_REPOSITORY", repo)
        .env("RESTIC_PASSWORD", "restic-pw")
        .env("RESTIC_CACHE_DIR", repo.with_extension("cache"))
        .env("TZ", "UTC")
        .output()
        .expect("run restic (installed by scripts/test.sh)");
    assert!(
        out.status.success(),
        "restic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn timestamps(items: &serde_json::Value) -> BTreeSet<i64> {
    items
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let t = s["time"].as_str().expect("time");
            chrono::DateTime::parse_from_rfc3339(t)
                .expect("RFC 3339 time")
                .timestamp()
        })
        .collect()
}

/// The kept times of the single group of a forget --json answer (restic's or ours).
fn kept(json: &str) -> BTreeSet<i64> {
    let v: serde_json::Value = serde_json::from_str(json).expect("forget --json");
    let groups = v.as_array().expect("an array of groups");
    assert_eq!(groups.len(), 1, "{json}");
    timestamps(&groups[0]["keep"])
}

#[test]
fn forget_keeps_what_restic_keeps_then_prune_leaves_every_kept_snapshot_whole() {
    let env = Repo::local();
    env.ok(&["init"], 0);
    let restic_repo = env.path("restic-repo");
    restic(&restic_repo, &["init"]);
    let src = env.path("src");
    std::fs::create_dir_all(src.join("log")).expect("mkdir");
    let base: Vec<u8> = (0..700_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(src.join("base.bin"), base).expect("write");
    let mut expected = BTreeMap::new();
    for (i, t) in times().iter().enumerate() {
        std::fs::write(src.join("counter.txt"), format!("{i}\n")).expect("write");
        let chunk: Vec<u8> = (0..40_000u32)
            .map(|j| (j ^ (i as u32 * 7919)) as u8)
            .collect();
        std::fs::write(src.join(format!("log/{}.bin", i % 4)), chunk).expect("write");
        env.ok(&["backup", "src", "--time", &t.to_rfc3339()], 0);
        let restic_time = t.format("%Y-%m-%d %H:%M:%S").to_string();
        restic(
            &restic_repo,
            &[
                "backup",
                "--time",
                &restic_time,
                "--host",
                "h",
                src.to_str().expect("utf-8"),
            ],
        );
        expected.insert(t.timestamp(), contents(&src));
    }
    let span = times().last().copied().expect("times") - times()[0];
    assert!(span.num_days() > 300 && span.num_days() < 400, "{span}");
    let policies: [&[&str]; 3] = [
        &[
            "--keep-last",
            "3",
            "--keep-daily",
            "7",
            "--keep-weekly",
            "4",
            "--keep-monthly",
            "6",
            "--keep-yearly",
            "1",
        ],
        &["--keep-within", "2m15d", "--keep-last", "2"],
        &[
            "--keep-within-weekly",
            "3m",
            "--keep-within-monthly",
            "8m",
            "--keep-hourly",
            "5",
        ],
    ];
    for policy in policies {
        let mut ours = vec!["forget", "--dry-run", "--json"];
        ours.extend_from_slice(policy);
        let mine = kept(&env.ok(&ours, 0));
        let theirs = kept(&restic(&restic_repo, &ours));
        assert_eq!(mine, theirs, "policy {policy:?}");
        assert!(
            mine.len() < 45 && mine.len() > 3,
            "policy {policy:?} keeps {}",
            mine.len()
        );
    }

    let chosen = policies[0];
    let mut args = vec!["forget", "--json"];
    args.extend_from_slice(chosen);
    let decided = kept(&env.ok(&args, 0));
    let dry: serde_json::Value =
        serde_json::from_str(&env.ok(&["prune", "--instant-delete", "--dry-run", "--json"], 0))
            .expect("json");
    let report: serde_json::Value =
        serde_json::from_str(&env.ok(&["prune", "--instant-delete", "--json"], 0)).expect("json");
    assert!(
        report["bytes_freed"].as_u64().expect("bytes_freed") > 0,
        "{report}"
    );
    assert!(
        report["size_after"].as_u64() < report["size_before"].as_u64(),
        "{report}"
    );
    assert_eq!(
        dry["packs_deleted"], report["packs_deleted"],
        "{dry} {report}"
    );
    env.ok(&["verify", "--read-data"], 0);

    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["snapshots", "--json"], 0)).expect("json");
    assert_eq!(timestamps(&list), decided);
    for snap in list.as_array().expect("array") {
        let id = snap["id"].as_str().expect("id");
        let t = chrono::DateTime::parse_from_rfc3339(snap["time"].as_str().expect("time"))
            .expect("time");
        let target = env.path(&format!("restored/{id}"));
        env.ok(
            &["restore", id, "--target", target.to_str().expect("utf-8")],
            0,
        );
        assert_eq!(
            contents(&target),
            expected[&t.timestamp()],
            "snapshot {id} at {t}"
        );
    }
    // A second prune finds nothing left to do.
    let again: serde_json::Value =
        serde_json::from_str(&env.ok(&["prune", "--json"], 0)).expect("json");
    assert_eq!(again["bytes_freed"], 0, "{again}");
}
