//! The snapshot tools: `snapshots` filters, `tag`, `find`, `stats` and the selectors
//! `latest~N` / `latest:VOLUME~N`, on a file:// repository.

use super::copy_util::{PW_A, Scratch, json, snapshot_ids};

fn ids(list: &[serde_json::Value]) -> Vec<String> {
    list.iter()
        .map(|s| s["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn listed(s: &Scratch, url: &str, args: &[&str]) -> Vec<String> {
    let mut all = vec!["--json", "snapshots"];
    all.extend_from_slice(args);
    ids(json(&s.ok(url, PW_A, &all, 0))
        .as_array()
        .map_or(&[][..], |v| v))
}

/// Three snapshots of `one` (tags a; a,b; b) and one of `two`, at fixed times.
fn setup(s: &Scratch) -> (String, Vec<String>) {
    let url = s.file_url("repo");
    s.ok(&url, PW_A, &["init"], 0);
    std::fs::create_dir_all(s.path("one/db")).expect("mkdir");
    std::fs::create_dir_all(s.path("two")).expect("mkdir");
    std::fs::write(s.path("two/app.db"), "other").expect("write");
    let steps: [(&str, &str, &[&str]); 4] = [
        ("one", "2026-01-01T00:00:00Z", &["--tag", "a"]),
        ("one", "2026-01-02T00:00:00Z", &["--tag", "a", "--tag", "b"]),
        ("two", "2026-01-03T00:00:00Z", &[]),
        ("one", "2026-01-04T00:00:00Z", &["--tag", "b"]),
    ];
    for (i, (dir, time, tags)) in steps.iter().enumerate() {
        std::fs::write(s.path("one/db/app.db"), format!("version {i}")).expect("write");
        let mut args = vec!["backup", dir, "--time", time];
        args.extend_from_slice(tags);
        s.ok(&url, PW_A, &args, 0);
    }
    let all = ids(&snapshot_ids(s, &url, PW_A));
    assert_eq!(all.len(), 4);
    (url, all)
}

#[test]
fn snapshots_filters_select_by_tag_path_latest_and_since() {
    let s = Scratch::new();
    let (url, all) = setup(&s);
    assert_eq!(
        listed(&s, &url, &["--tag", "a"]),
        [all[0].clone(), all[1].clone()]
    );
    assert_eq!(listed(&s, &url, &["--tag", "a,b"]), [all[1].clone()]);
    assert_eq!(
        listed(&s, &url, &["--tag", "a,b", "--tag", "b"]),
        [all[1].clone(), all[3].clone()]
    );
    assert_eq!(listed(&s, &url, &["--path", "two"]), [all[2].clone()]);
    assert_eq!(
        listed(&s, &url, &["--latest", "1"]),
        [all[2].clone(), all[3].clone()]
    );
    assert_eq!(
        listed(&s, &url, &["--since", "2026-01-02"]),
        all[1..].to_vec()
    );
    assert_eq!(
        listed(
            &s,
            &url,
            &["--since", "2026-01-03T00:00:00Z", "--path", "one"]
        ),
        [all[3].clone()]
    );
    let host = gethost(&s, &url);
    assert_eq!(listed(&s, &url, &["--host", &host]).len(), 4);
    assert!(listed(&s, &url, &["--host", "no-such-host"]).is_empty());
    let bad = s
        .command(&url, PW_A, &["snapshots", "--since", "soon"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
}

fn gethost(s: &Scratch, url: &str) -> String {
    snapshot_ids(s, url, PW_A)[0]["hostname"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn selectors_go_back_from_latest() {
    let s = Scratch::new();
    let (url, all) = setup(&s);
    let restored = |spec: &str, dir: &str| {
        s.ok(&url, PW_A, &["restore", spec, "--target", dir], 0);
        std::fs::read_to_string(s.path(&format!("{dir}/db/app.db"))).unwrap_or_default()
    };
    // Two roots: `latest` alone names neither (exit 2, with the choices).
    let one = format!(
        "latest:{}",
        std::fs::canonicalize(s.path("one"))
            .expect("canonical")
            .display()
    );
    let two = format!(
        "latest:{}",
        std::fs::canonicalize(s.path("two"))
            .expect("canonical")
            .display()
    );
    let bad = s
        .command(&url, PW_A, &["ls", "latest~1"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains(&two));
    assert_eq!(restored(&one, "r0"), "version 3");
    assert_eq!(restored(&format!("{one}~1"), "r2"), "version 1");
    let out = s.ok(&url, PW_A, &["--json", "ls", &two], 0);
    assert!(out.contains("app.db"), "{out}");
    let bad = s
        .command(&url, PW_A, &["ls", &format!("{one}~9")])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(1));
    let bad = s
        .command(&url, PW_A, &["ls", "latest~x"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(all.len(), 4);
}

#[test]
fn tag_rewrites_the_snapshot_and_keeps_the_original() {
    let s = Scratch::new();
    let (url, all) = setup(&s);
    let out = json(&s.ok(
        &url,
        PW_A,
        &["--json", "tag", &all[0][..12], "--add", "keep,x"],
        0,
    ));
    let new = out["changed"][0]["new"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        out["changed"][0]["tags"],
        serde_json::json!(["a", "keep", "x"])
    );
    let now = snapshot_ids(&s, &url, PW_A);
    assert_eq!(now.len(), 4);
    assert!(!ids(&now).contains(&all[0]), "the old object is gone");
    let changed = now
        .iter()
        .find(|x| x["id"] == new.as_str())
        .expect("new id listed");
    assert_eq!(changed["original"], all[0].as_str());
    assert_eq!(changed["time"], "2026-01-01T00:00:00Z");
    s.ok(&url, PW_A, &["tag", &new, "--remove", "x"], 0);
    // Two roots: `latest` names neither; `latest:/PATH` names the newest of one.
    s.ok(&url, PW_A, &["tag", "latest", "--set", "only"], 2);
    let one = format!(
        "latest:{}",
        std::fs::canonicalize(s.path("one"))
            .expect("canonical")
            .display()
    );
    let out = json(&s.ok(&url, PW_A, &["--json", "tag", &one, "--set", "only"], 0));
    assert_eq!(out["changed"][0]["tags"], serde_json::json!(["only"]));
    let out = json(&s.ok(&url, PW_A, &["--json", "tag", &one, "--set", "only"], 0));
    assert_eq!(out["unchanged"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed(&s, &url, &["--tag", "keep"]).len(), 1);
    let tagged = snapshot_ids(&s, &url, PW_A);
    let kept = tagged
        .iter()
        .find(|x| x["tags"] == serde_json::json!(["a", "keep"]));
    assert!(kept.is_some_and(|k| k["original"] == all[0].as_str()));
    s.ok(&url, PW_A, &["verify"], 0);
}

#[test]
fn find_and_stats_report_per_snapshot_and_volume() {
    let s = Scratch::new();
    let (url, all) = setup(&s);
    let found = json(&s.ok(&url, PW_A, &["--json", "find", "*.db"], 0));
    let found = found.as_array().cloned().unwrap_or_default();
    assert_eq!(found.len(), 4, "{found:?}");
    let first = &found[0];
    assert_eq!(first["snapshot"], all[0].as_str());
    assert_eq!(first["path"], "db/app.db");
    assert_eq!(first["size"], 9);
    assert!(first["mtime"].is_string());
    let by_path = json(&s.ok(
        &url,
        PW_A,
        &["--json", "find", "db/*.db", "--latest", "1"],
        0,
    ));
    assert_eq!(by_path.as_array().map(Vec::len), Some(1), "{by_path}");
    let none = json(&s.ok(&url, PW_A, &["--json", "find", "nothing*"], 0));
    assert_eq!(none, serde_json::json!([]));
    let text = s.ok(&url, PW_A, &["find", "app.db"], 0);
    assert!(
        text.contains("db/app.db") && text.contains("app.db"),
        "{text}"
    );

    let st = json(&s.ok(&url, PW_A, &["--json", "stats"], 0));
    let groups = st["groups"].as_array().cloned().unwrap_or_default();
    assert_eq!(groups.len(), 2, "{st}");
    assert_eq!(st["total"]["snapshots"], 4);
    assert_eq!(st["total"]["raw"], 9 * 3 + 5, "{st}");
    // Four distinct file contents, plus trees.
    assert!(st["total"]["deduplicated"].as_u64().unwrap_or(0) >= 9 * 3 + 5);
    assert!(st["total"]["stored"].as_u64().unwrap_or(0) > 0);
    assert!(st["total"]["compression_ratio"].as_f64().unwrap_or(0.0) > 0.0);
    let one = json(&s.ok(&url, PW_A, &["--json", "stats", "--tag", "b"], 0));
    assert_eq!(one["total"]["snapshots"], 2);
    let text = s.ok(&url, PW_A, &["stats"], 0);
    assert!(
        text.contains("total") && text.contains("COMPRESSION"),
        "{text}"
    );
}
