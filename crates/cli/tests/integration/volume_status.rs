//! `holdfast status` against real tmpfs mounts.

use std::path::Path;

use super::volume_util::{TestDir, Tmpfs, fill_until_full, outcome};

fn config_for(volumes: &[(&str, &Path, &str)]) -> String {
    let mut text = String::new();
    for (name, path, extra) in volumes {
        text.push_str(&format!(
            "[[volumes]]\nname = \"{name}\"\npath = {:?}\nrequire_mount = true\n{extra}\n",
            path.display().to_string()
        ));
    }
    text
}

fn status_json(t: &TestDir) -> (i32, serde_json::Value) {
    let (code, stdout, stderr) = outcome(&t.holdfast(&["status", "--json"]));
    let value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {stdout}\n{stderr}"));
    (code, value)
}

#[test]
fn healthy_mounted_volume_exits_zero() {
    let fs = Tmpfs::mount("8m", &[]);
    std::fs::write(fs.path().join("app.db"), b"db").expect("db file");
    let t = TestDir::new();
    t.write(
        "holdfast.toml",
        config_for(&[(
            "data",
            fs.path(),
            "databases = [{ kind = \"sqlite\", path = \"app.db\" }]",
        )]),
    );
    let (code, json) = status_json(&t);
    assert_eq!(code, 0, "{json}");
    let v = &json[0];
    assert_eq!(v["name"], "data");
    assert_eq!(v["path"], fs.path().display().to_string());
    assert_eq!(v["mounted"], true);
    assert_eq!(v["writable"], true);
    assert_eq!(v["size_total"], 8 << 20);
    assert_eq!(v["database_exists"], true);
    assert_eq!(v["alerts"], serde_json::json!([]));
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 10, "{keys:?}");
    assert!(v["last_check"].as_str().is_some_and(|s| s.ends_with('Z')));

    let (code, table, _) = outcome(&t.holdfast(&["status"]));
    assert_eq!(code, 0);
    assert!(
        table.contains("VOLUME") && table.contains("yes (tmpfs)"),
        "{table}"
    );
}

#[test]
fn read_only_full_and_unmounted_volumes_exit_three() {
    let ro = Tmpfs::mount("1m", &[]);
    ro.remount_read_only();
    let full = Tmpfs::mount("1m", &[]);
    fill_until_full(&full.path().join("filler"));
    let t = TestDir::new();
    let plain = t.path().join("plain");
    std::fs::create_dir(&plain).expect("mkdir");
    t.write(
        "holdfast.toml",
        config_for(&[
            ("ro", ro.path(), ""),
            ("full", full.path(), "alert_at = \"80%\""),
            ("plain", &plain, ""),
        ]),
    );
    let (code, json) = status_json(&t);
    assert_eq!(code, 3, "{json}");
    let alerts = |i: usize| json[i]["alerts"].to_string();
    assert_eq!(json[0]["writable"], false);
    assert!(alerts(0).contains("Read-only file system"), "{}", alerts(0));
    assert_eq!(json[1]["writable"], false);
    assert!(alerts(1).contains("No space left"), "{}", alerts(1));
    assert!(alerts(1).contains("past alert_at 80%"), "{}", alerts(1));
    assert_eq!(json[2]["mounted"], false);
    assert!(alerts(2).contains("not a mount point"), "{}", alerts(2));

    let (code, table, _) = outcome(&t.holdfast(&["status"]));
    assert_eq!(code, 3);
    let (code, one, _) = outcome(&t.holdfast(&["status", "--volume", "plain", "--json"]));
    assert_eq!(code, 3);
    let one: serde_json::Value = serde_json::from_str(&one).expect("json");
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    let (code, _, stderr) = outcome(&t.holdfast(&["status", "--volume", "nope"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(table.contains("alert: ro: not writable"), "{table}");
    assert!(table.contains("3 of 3 volume(s) need attention"), "{table}");
}

#[test]
fn missing_config_is_an_error() {
    let t = TestDir::new();
    let (code, _, stderr) = outcome(&t.holdfast(&["status"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("no config file holdfast.toml"), "{stderr}");

    t.write("holdfast.toml", "[repository]\nurl = \"memory://\"\n");
    let (code, _, stderr) = outcome(&t.holdfast(&["status"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("declares no [[volumes]]"), "{stderr}");

    t.write(
        "holdfast.toml",
        "[[volumes]]\nname = \"a\"\npath = \"/a\"\nsize = \"big\"\n",
    );
    let (code, _, stderr) = outcome(&t.holdfast(&["status"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("holdfast.toml:4: `volumes.size`"),
        "{stderr}"
    );
}

#[test]
fn railway_env_supplies_the_path() {
    let fs = Tmpfs::mount("1m", &[]);
    let t = TestDir::new();
    t.write(
        "holdfast.toml",
        "[[volumes]]\nname = \"railway\"\nrequire_mount = true\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(["status", "--json"])
        .current_dir(t.path())
        .env("RAILWAY_VOLUME_MOUNT_PATH", fs.path())
        .output()
        .expect("run holdfast");
    let (code, stdout, stderr) = outcome(&out);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&fs.path().display().to_string()),
        "{stdout}"
    );
}
