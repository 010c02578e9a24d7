//! The repository command suite, run against every backend: init, backup, snapshots,
//! ls, diff, restore, verify, export end to end, and password errors.

use super::repo_util::{RepoEnv, contents, sample};

/// Runs the whole suite on `env`'s repository.
pub fn end_to_end(env: &RepoEnv) {
    let init = env.ok(&["init"], 0);
    assert!(init.contains("created repository"), "{init}");
    let again = env.run(&["init"]);
    assert_eq!(again.status.code(), Some(1), "second init must fail");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let data = env.path("data");
    sample(&data);
    let first = env.ok(&["backup", "data", "--tag", "first", "--json"], 0);
    let first: serde_json::Value = serde_json::from_str(first.trim()).expect("backup JSON");
    assert_eq!(
        first.as_array().map(Vec::len),
        Some(1),
        "one report: {first}"
    );
    let first = first[0].clone();
    assert_eq!(first["files"], 4);
    assert!(first["volume"].is_null(), "a path has no volume: {first}");
    for key in ["snapshot", "files", "size", "added", "duration_s"] {
        assert!(first.get(key).is_some(), "backup JSON lacks {key}: {first}");
    }
    let first_id = first["snapshot"].as_str().expect("snapshot id").to_owned();

    std::fs::write(data.join("new.txt"), "new file").expect("write");
    std::fs::remove_file(data.join("empty")).expect("remove");
    let second = env.ok(
        &["--json", "backup", "data", "--time", "2030-01-01T00:00:00Z"],
        0,
    );
    let second: serde_json::Value = serde_json::from_str(second.trim()).expect("backup JSON");
    let second = second[0].clone();
    assert!(
        second["added"].as_u64().expect("added") < 10_000,
        "unchanged data not stored twice: {second}"
    );

    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["snapshots", "--json"], 0)).expect("JSON");
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 2);
    for key in [
        "id", "time", "volume", "root", "tags", "files", "size", "added",
    ] {
        assert!(list[0].get(key).is_some(), "snapshots JSON lacks {key}");
    }
    assert_eq!(list[0]["tags"], serde_json::json!(["first"]));
    assert!(list[0]["root"].as_str().expect("root").ends_with("/data"));

    let ls = env.ok(&["ls", "latest"], 0);
    assert!(
        ls.contains("sub/big.bin") && ls.contains("new.txt") && ls.contains("link -> hello.txt"),
        "{ls}"
    );
    let ls_sub = env.ok(&["ls", &first_id[..10], "sub"], 0);
    assert!(!ls_sub.contains("hello.txt"), "{ls_sub}");

    let diff = env.ok(&["diff", &first_id[..12], "latest"], 0);
    assert!(
        diff.contains("+ new.txt") && diff.contains("- empty"),
        "{diff}"
    );
    assert!(!diff.contains("big.bin"), "{diff}");

    let restored = env.path("restored");
    env.ok(
        &[
            "restore",
            "latest",
            "--target",
            restored.to_str().expect("utf8"),
        ],
        0,
    );
    assert_eq!(contents(&restored), contents(&data));
    let partial = env.path("partial");
    env.ok(
        &[
            "restore",
            "latest",
            "--target",
            partial.to_str().expect("utf8"),
            "--include",
            "sub/*.bin",
        ],
        0,
    );
    assert_eq!(
        contents(&partial)
            .iter()
            .filter(|(_, c)| c != b"<dir>")
            .count(),
        1
    );

    let verify = env.ok(&["verify", "--read-data"], 0);
    assert!(verify.contains("no problems"), "{verify}");

    let tar = env.path("x.tar.zst");
    env.ok(
        &["export", "latest", "--output", tar.to_str().expect("utf8")],
        0,
    );
    let file = std::fs::File::open(&tar).expect("tar");
    let mut archive = tar::Archive::new(zstd::Decoder::new(file).expect("zstd"));
    let names: Vec<String> = archive
        .entries()
        .expect("entries")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(names.iter().any(|n| n == "sub/big.bin"), "{names:?}");

    let wrong = env.run_with(&["snapshots"], Some("wrong password"));
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong password"));
    let none = env.run_with(&["snapshots"], None);
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("HOLDFAST_PASSWORD"));
    let bad_spec = env.run(&["ls", "not-an-id"]);
    assert_eq!(bad_spec.status.code(), Some(2));

    damaged_cache_is_bypassed(env);
}

/// Remote repositories cache index files, snapshots and trees; a cached copy that fails
/// authentication is dropped and fetched again.
fn damaged_cache_is_bypassed(env: &RepoEnv) {
    let cache = env.path("cache");
    let mut files = Vec::new();
    let mut stack = vec![cache.clone()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p)
            } else {
                files.push(p)
            }
        }
    }
    if env.url.starts_with("file://") {
        assert!(files.is_empty(), "a local repository is not cached");
        return;
    }
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("/index/")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.to_string_lossy().contains("/data/")),
        "{files:?}"
    );
    for f in &files {
        let mut bytes = std::fs::read(f).expect("read cached");
        for b in bytes.iter_mut().skip(30).step_by(97) {
            *b ^= 0x55;
        }
        std::fs::write(f, bytes).expect("damage cached");
    }
    let ls = env.ok(&["ls", "latest"], 0);
    assert!(ls.contains("sub/big.bin"), "{ls}");
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["snapshots", "--json"], 0)).expect("JSON");
    assert_eq!(list.as_array().map(Vec::len), Some(2));
}
