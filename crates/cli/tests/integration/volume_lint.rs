//! `holdfast lint` exit codes and output shapes.

use std::path::Path;

use super::volume_util::{TestDir, outcome};

fn fixture(case: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../volume/tests/fixtures/lint")
        .join(case)
        .display()
        .to_string()
}

#[test]
fn good_config_exits_zero() {
    let t = TestDir::new();
    let (code, stdout, stderr) = outcome(&t.holdfast(&["lint", &fixture("good")]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("no problems found"), "{stdout}");
    let (code, stdout, _) = outcome(&t.holdfast(&["lint", "--json", &fixture("good")]));
    assert_eq!((code, stdout.trim()), (0, "[]"));
}

#[test]
fn errors_exit_three_with_json_findings() {
    let t = TestDir::new();
    t.write(
        "railway.toml",
        "[deploy]\nnumReplicas = 2\n[[volumes]]\nmountPath = \"/app/data\"\n",
    );
    t.write(
        "railway.json",
        "{\"volumes\": [{\"mount\": \"/app/data\"}]}",
    );
    t.write(".env", "DATABASE_URL=sqlite:///app/db.sqlite\n");
    let (code, stdout, stderr) = outcome(&t.holdfast(&["lint", "--json"]));
    assert_eq!(code, 3, "{stdout}{stderr}");
    let findings: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("json");
    for f in &findings {
        let keys: Vec<&String> = f.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["file", "hint", "message", "severity"]);
    }
    let messages: Vec<&str> = findings
        .iter()
        .filter_map(|f| f["message"].as_str())
        .collect();
    let all = messages.join("\n");
    assert!(
        all.contains("both railway.json and railway.toml exist"),
        "{all}"
    );
    assert!(all.contains("numReplicas is 2"), "{all}");
    assert!(
        all.contains("DATABASE_URL points at /app/db.sqlite"),
        "{all}"
    );

    let (code, table, _) = outcome(&t.holdfast(&["lint"]));
    assert_eq!(code, 3);
    assert!(
        table.contains("error: railway.json: both") && table.contains("  hint: "),
        "{table}"
    );
}

#[test]
fn warnings_alone_exit_zero() {
    let t = TestDir::new();
    t.write(
        "railway.toml",
        "[[volumes]]\nmountPath = \"/app/data\"\nname = \"d\"\nsize = \"500Gi\"\n",
    );
    let (code, stdout, _) = outcome(&t.holdfast(&["lint"]));
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("warning: railway.toml: volume d: size 500Gi"),
        "{stdout}"
    );
}

#[test]
fn missing_directory_exits_one() {
    let t = TestDir::new();
    let (code, _, stderr) = outcome(&t.holdfast(&["lint", "absent"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot lint absent"), "{stderr}");
}

/// A Railway project as the docs write it: one volume, and a holdfast.toml whose volume
/// path comes from `RAILWAY_VOLUME_MOUNT_PATH`.
fn railway_project(t: &TestDir) {
    t.write(
        "railway.toml",
        "[deploy]\nstartCommand = \"holdfast run -- npm start\"\n\n[[volumes]]\nmountPath = \"/app/data\"\nname = \"app-data\"\n",
    );
    t.write("holdfast.toml", "[[volumes]]\nname = \"app-data\"\n");
}

#[test]
fn lint_failed_the_documented_config_when_railway_volume_mount_path_was_set() {
    let t = TestDir::new();
    railway_project(&t);
    // The linting shell holds some other value; Railway sets the volume's mountPath.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(["lint"])
        .current_dir(t.path())
        .env_remove("HOLDFAST_CONFIG")
        .env("RAILWAY_VOLUME_MOUNT_PATH", "data")
        .output()
        .expect("run holdfast");
    let (code, stdout, stderr) = outcome(&out);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!stdout.contains("not on any Railway volume"), "{stdout}");
}

#[test]
fn lint_config_flag_was_ignored() {
    let t = TestDir::new();
    railway_project(&t);
    // Another config whose volume lies outside the Railway volume.
    t.write(
        "other.toml",
        "[[volumes]]\nname = \"scratch\"\npath = \"/tmp/scratch\"\n",
    );
    let (code, stdout, stderr) = outcome(&t.holdfast(&["lint"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = outcome(&t.holdfast(&["lint", "--config", "other.toml"]));
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(
        stdout.contains("volume scratch at") && stdout.contains("not on any Railway volume"),
        "{stdout}"
    );
}
