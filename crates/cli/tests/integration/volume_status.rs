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

/// `holdfast ARGS…` in `t` with the repository password of [`init_repo`].
fn with_password(t: &TestDir, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(args)
        .current_dir(t.path())
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_REPOSITORY")
        .env_remove("RAILWAY_VOLUME_MOUNT_PATH")
        .env("HOLDFAST_PASSWORD", "pw")
        .output()
        .expect("run holdfast")
}

/// A file repository at `t/repo`, and its `[repository]` table.
fn init_repo(t: &TestDir) -> String {
    let url = format!("file://{}/repo", t.path().display());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = holdfast_store::Store::open(&url).expect("store");
        let opts = holdfast_repo::InitOptions {
            password: "pw".into(),
            kdf: holdfast_repo::KdfParams::insecure_fast(),
        };
        holdfast_repo::init(store, &opts).await.expect("init");
    });
    format!("[repository]\nurl = \"{url}\"\n")
}

#[test]
fn healthy_mounted_volume_exits_zero() {
    let fs = Tmpfs::mount("8m", &[]);
    rusqlite::Connection::open(fs.path().join("app.db"))
        .and_then(|c| c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);"))
        .expect("db file");
    let t = TestDir::new();
    let repo = init_repo(&t);
    t.write(
        "holdfast.toml",
        format!(
            "{repo}{}",
            config_for(&[(
                "data",
                fs.path(),
                "databases = [{ kind = \"sqlite\", path = \"app.db\" }]",
            )])
        ),
    );
    let (code, json) = status_json(&t);
    assert_eq!(code, 3, "no backup yet: {json}");
    assert_eq!(
        json[0]["alerts"],
        serde_json::json!([
            "backups cannot be checked: no repository password: set HOLDFAST_PASSWORD, or pass --password-file FILE or --password-command CMD"
        ])
    );
    let (code, out, err) = outcome(&with_password(&t, &["status", "--json"]));
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("no backup of this volume yet"), "{out}");
    let (code, out, err) = outcome(&with_password(&t, &["backup"]));
    assert_eq!(code, 0, "{out}{err}");
    let (code, stdout, stderr) = outcome(&with_password(&t, &["status", "--json"]));
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(code, 0, "{json}{stderr}");
    let v = &json[0];
    assert_eq!(v["name"], "data");
    assert_eq!(v["path"], fs.path().display().to_string());
    assert_eq!(v["mounted"], true);
    assert_eq!(v["writable"], true);
    assert_eq!(v["size_total"], 8 << 20);
    assert_eq!(v["database_exists"], true);
    assert_eq!(v["alerts"], serde_json::json!([]));
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 13, "{keys:?}");
    assert!(v["last_check"].as_str().is_some_and(|s| s.ends_with('Z')));
    assert!(v["last_backup"].as_str().is_some_and(|s| s.ends_with('Z')));
    assert_eq!(v["last_backup_error"], serde_json::Value::Null);
    assert_eq!(v["backup_max_age_s"], serde_json::Value::Null);

    let (code, table, _) = outcome(&with_password(&t, &["status"]));
    assert_eq!(code, 0);
    assert!(
        table.contains("VOLUME") && table.contains("yes (tmpfs)") && table.contains("LAST BACKUP"),
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
    assert!(table.contains("3 of 3 volumes need attention"), "{table}");
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
    assert_eq!(code, 2, "an invalid config is a usage error");
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
    assert_eq!(code, 3, "no repository: {stdout}{stderr}");
    assert!(
        stdout.contains(&fs.path().display().to_string()),
        "{stdout}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let alerts = json[0]["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1, "{json}");
    assert!(
        alerts[0]
            .as_str()
            .is_some_and(|a| a.starts_with("backups cannot be checked: no repository given")),
        "{json}"
    );
}
