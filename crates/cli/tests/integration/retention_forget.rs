//! `holdfast forget` through the CLI on file://, Garage (S3) and Azurite (Azure Blob):
//! grouping by root, the policy from flags or `[retention]`, refusals, `--keep-tag`,
//! `--prune`, then `verify --read-data` and an exact restore.

use std::collections::BTreeMap;

use super::retention_util::{Repo, contents, noise};

fn kept_per_group(v: &serde_json::Value) -> BTreeMap<String, usize> {
    v.as_array()
        .expect("an array of groups")
        .iter()
        .map(|g| {
            let name = g["group"]
                .as_str()
                .expect("group")
                .rsplit('/')
                .next()
                .expect("name");
            (name.to_owned(), g["keep"].as_array().expect("keep").len())
        })
        .collect()
}

fn forget_cases(repo: &Repo) {
    repo.ok(&["init"], 0);
    for root in ["a", "b"] {
        std::fs::create_dir_all(repo.path(root)).expect("mkdir");
    }
    for day in 1..=8u64 {
        std::fs::write(repo.path("a/data.bin"), noise(day, 200_000)).expect("write");
        let time = format!("2026-01-{day:02}T10:00:00Z");
        let mut args = vec!["backup", "a", "--time", &time];
        if day == 3 {
            args.extend(["--tag", "gold"]);
        }
        repo.ok(&args, 0);
        if day % 2 == 0 {
            std::fs::write(repo.path("b/notes.txt"), format!("day {day}\n")).expect("write");
            let time = format!("2026-01-{day:02}T11:00:00Z");
            repo.ok(&["backup", "b", "--time", &time], 0);
        }
    }

    // No policy at all is a usage error.
    repo.ok(&["forget"], 2);
    // The [retention] table is the default policy; flags override it.
    std::fs::write(repo.path("holdfast.toml"), "[retention]\nkeep_last = 2\n").expect("write");
    let by_config = repo.json(&["forget", "--dry-run"]);
    assert_eq!(
        kept_per_group(&by_config),
        BTreeMap::from([("a".into(), 2), ("b".into(), 2)])
    );
    let by_flags = repo.json(&["forget", "--dry-run", "--keep-daily", "3"]);
    assert_eq!(
        kept_per_group(&by_flags),
        BTreeMap::from([("a".into(), 3), ("b".into(), 3)])
    );
    let a = &by_flags[0];
    assert_eq!(a["remove"].as_array().expect("remove").len(), 5);
    assert_eq!(a["keep"][0]["reasons"][0], "daily snapshot", "{a}");
    assert_eq!(a["keep"][0]["time"], "2026-01-08T10:00:00Z", "{a}");

    // A policy that keeps nothing of a group is refused unless allowed.
    let out = repo.run(&["forget", "--dry-run", "--keep-tag", "gold"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keeps no snapshot"));
    let allowed = repo.json(&["forget", "--dry-run", "--keep-tag", "gold", "--allow-empty"]);
    assert_eq!(
        kept_per_group(&allowed),
        BTreeMap::from([("a".into(), 1), ("b".into(), 0)])
    );
    let table = repo.ok(
        &[
            "forget",
            "--dry-run",
            "--keep-last",
            "1",
            "--keep-tag",
            "gold",
        ],
        0,
    );
    assert!(
        table.contains("has tags gold") && table.contains("would remove 9"),
        "{table}"
    );
    assert_eq!(repo.json(&["snapshots"]).as_array().map(Vec::len), Some(12));

    // The real thing, with prune.
    let done = repo.json(&[
        "forget",
        "--keep-last",
        "2",
        "--keep-tag",
        "gold",
        "--prune",
        "--instant-delete",
    ]);
    assert_eq!(
        kept_per_group(&done["groups"]),
        BTreeMap::from([("a".into(), 3), ("b".into(), 2)])
    );
    let prune = &done["prune"];
    assert!(
        prune["bytes_freed"].as_u64().expect("bytes_freed") >= 4 * 200_000,
        "{prune}"
    );
    assert_eq!(repo.json(&["snapshots"]).as_array().map(Vec::len), Some(5));
    repo.ok(&["verify", "--read-data"], 0);
    // Two roots: a plain `latest` is refused with the choices; each choice restores its root.
    assert_eq!(
        repo.command(&["restore", "latest", "--target", "out"])
            .output()
            .expect("run")
            .status
            .code(),
        Some(2)
    );
    let a = std::fs::canonicalize(repo.path("a")).expect("canonical");
    let latest_a = format!("latest:{}", a.display());
    repo.ok(&["restore", &latest_a, "--target", "out"], 0);
    assert_eq!(contents(&repo.path("out")), contents(&repo.path("a")));
    let unlock = repo.json(&["unlock"]);
    assert_eq!(
        unlock["removed"].as_array().map(Vec::len),
        Some(0),
        "{unlock}"
    );
}

#[test]
fn forget_on_file() {
    forget_cases(&Repo::local());
}

#[test]
fn forget_on_s3() {
    forget_cases(&Repo::remote("HOLDFAST_TEST_S3_URL"));
}

#[test]
fn forget_on_azblob() {
    forget_cases(&Repo::remote("HOLDFAST_TEST_AZBLOB_URL"));
}
