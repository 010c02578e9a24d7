//! `--json` prints one document per command, and the same object has the same shape in
//! the CLI and the HTTP API (docs/JSON.md): found when `verify --restore-test --json`
//! printed two documents, `backup --json` a line per snapshot while the API returns an
//! array, `import --json` printed TOML, and CLI and API snapshot objects differed.

use std::collections::BTreeSet;
use std::process::Command;

use reqwest::Method;

use super::repo_util::RepoEnv;
use super::serve_backup::{PASSWORD, prepare, repo_config};
use super::serve_util::{Server, backup_now};

/// Parses the whole of stdout as exactly one JSON document.
fn one_document(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not one JSON document ({e}): {out}"))
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

const SNAPSHOT_KEYS: [&str; 13] = [
    "added",
    "dirs",
    "files",
    "hostname",
    "id",
    "incomplete",
    "original",
    "parent",
    "root",
    "size",
    "tags",
    "time",
    "volume",
];
const REPORT_KEYS: [&str; 8] = [
    "added",
    "duration_s",
    "files",
    "incomplete",
    "root",
    "size",
    "snapshot",
    "volume",
];

fn set(k: &[&str]) -> BTreeSet<String> {
    k.iter().map(|s| s.to_string()).collect()
}

#[test]
fn backup_json_printed_a_line_per_snapshot_where_the_api_returns_an_array() {
    let env = RepoEnv::local();
    env.ok(&["init"], 0);
    for d in ["a", "b"] {
        std::fs::create_dir_all(env.path(d)).expect("mkdir");
        std::fs::write(env.path(&format!("{d}/f.txt")), d).expect("write");
    }
    let reports = one_document(&env.ok(&["--json", "backup", "a", "b"], 0));
    let reports = reports.as_array().expect("an array of reports");
    assert_eq!(reports.len(), 2, "{reports:?}");
    for r in reports {
        assert_eq!(keys(r), set(&REPORT_KEYS), "{r}");
        assert!(r["volume"].is_null(), "{r}");
    }
    let listed = one_document(&env.ok(&["--json", "snapshots"], 0));
    let listed = listed.as_array().expect("an array of snapshots");
    assert_eq!(listed.len(), 2);
    for s in listed {
        assert_eq!(keys(s), set(&SNAPSHOT_KEYS), "{s}");
    }
    let ids: BTreeSet<_> = listed.iter().map(|s| s["id"].to_string()).collect();
    let made: BTreeSet<_> = reports.iter().map(|r| r["snapshot"].to_string()).collect();
    assert_eq!(ids, made);
}

#[test]
fn verify_restore_test_json_printed_two_documents() {
    let env = RepoEnv::local();
    env.ok(&["init"], 0);
    std::fs::create_dir_all(env.path("data")).expect("mkdir");
    std::fs::write(env.path("data/f.txt"), "x").expect("write");
    env.ok(&["backup", "data"], 0);
    let doc = one_document(&env.ok(&["--json", "verify", "--read-data", "--restore-test"], 0));
    assert_eq!(doc["problems"], serde_json::json!([]), "{doc}");
    assert_eq!(doc["packs_read"], doc["packs"], "{doc}");
    let tests = doc["restore_tests"].as_array().expect("restore_tests");
    assert_eq!(tests.len(), 1, "{doc}");
    assert_eq!(tests[0]["problems"], serde_json::json!([]), "{doc}");
    let plain = one_document(&env.ok(&["--json", "verify"], 0));
    assert!(plain.get("restore_tests").is_none(), "{plain}");
}

#[test]
fn import_json_printed_toml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let railway = dir.path().join("railway.toml");
    std::fs::write(
        &railway,
        "[deploy]\nstartCommand = \"npm start\"\n\n[[volumes]]\nmountPath = \"/app/data\"\nname = \"app-data\"\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(["--json", "import"])
        .arg(&railway)
        .current_dir(dir.path())
        .output()
        .expect("run holdfast");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = one_document(&stdout);
    let toml = doc["toml"].as_str().expect("toml text");
    assert!(toml.contains("[[volumes]]"), "{toml}");
    assert!(
        doc["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("railway.toml"))
    );
}

#[test]
fn cli_and_api_snapshot_objects_differed() {
    let s = Server::start(repo_config(""), prepare);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (job, api) = rt.block_on(async {
        let (_, job) = backup_now(&s, "").await;
        let r = s
            .authed(Method::GET, "/api/v1/snapshots")
            .send()
            .await
            .expect("snapshots");
        let api: serde_json::Value =
            serde_json::from_str(&r.text().await.expect("body")).expect("json");
        (job, api)
    });
    assert_eq!(job["status"], "succeeded", "{job}");
    for r in job["snapshots"].as_array().expect("reports") {
        assert_eq!(keys(r), set(&REPORT_KEYS), "{r}");
    }
    let out = Server::command(s.dir())
        .args(["--json", "snapshots"])
        .env("HOLDFAST_PASSWORD", PASSWORD)
        .output()
        .expect("run holdfast");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli = one_document(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        cli, api,
        "the CLI and the API show the same snapshots alike"
    );
    for s in api.as_array().expect("array") {
        assert_eq!(keys(s), set(&SNAPSHOT_KEYS), "{s}");
    }
}
