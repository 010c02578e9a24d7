//! `holdfast key`: add, passwd and remove round trips (the old password stops working,
//! the last key stays), `key list` marks the key in use, and `--password-command` /
//! `HOLDFAST_PASSWORD_COMMAND` / `--password-file` all open the repository.

use super::copy_util::{PW_A, Scratch, check, json};

fn keys(s: &Scratch, url: &str, pw: &str) -> Vec<serde_json::Value> {
    json(&s.ok(url, pw, &["--json", "key", "list"], 0))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn opens(s: &Scratch, url: &str, pw: &str) -> bool {
    let out = s.command(url, pw, &["snapshots"]).output().expect("run");
    match out.status.code() {
        Some(0) => true,
        Some(1) => {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("wrong password"), "{err}");
            false
        }
        other => panic!("snapshots exited {other:?}"),
    }
}

#[test]
fn key_add_passwd_remove_round_trip() {
    let s = Scratch::new();
    let url = s.file_url("repo");
    s.ok(&url, PW_A, &["init"], 0);
    let first = keys(&s, &url, PW_A);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["current"], true);
    let first_id = first[0]["id"].as_str().unwrap_or_default().to_owned();

    std::fs::write(s.path("two"), "password two\n").expect("write");
    s.ok(&url, PW_A, &["key", "add", "--new-password-file", "two"], 0);
    assert!(opens(&s, &url, PW_A) && opens(&s, &url, "password two"));
    let listed = keys(&s, &url, "password two");
    assert_eq!(listed.len(), 2);
    let current: Vec<_> = listed.iter().filter(|k| k["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_ne!(current[0]["id"].as_str(), Some(first_id.as_str()));
    assert!(
        listed
            .iter()
            .all(|k| k["hostname"].is_string() && k["created"].is_string())
    );

    // passwd replaces the key that opened the repository: "password two" stops working.
    std::fs::write(s.path("three"), "password three\n").expect("write");
    s.ok(
        &url,
        "password two",
        &["key", "passwd", "--new-password-file", "three"],
        0,
    );
    assert!(!opens(&s, &url, "password two"));
    assert!(opens(&s, &url, "password three") && opens(&s, &url, PW_A));

    // Remove the first key by prefix: only "password three" is left.
    s.ok(
        &url,
        "password three",
        &["key", "remove", &first_id[..10]],
        0,
    );
    assert!(!opens(&s, &url, PW_A));
    let left = keys(&s, &url, "password three");
    assert_eq!(left.len(), 1);
    // The last key is refused (usage error), whichever password asks.
    let last = left[0]["id"].as_str().unwrap_or_default().to_owned();
    let out = s
        .command(&url, "password three", &["key", "remove", &last])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("only key"), "{err}");
    assert!(opens(&s, &url, "password three"));
    // passwd on the only key still works: the new key is written before the old goes.
    std::fs::write(s.path("four"), "password four\n").expect("write");
    s.ok(
        &url,
        "password three",
        &["key", "passwd", "--new-password-file", "four"],
        0,
    );
    assert!(!opens(&s, &url, "password three") && opens(&s, &url, "password four"));
}

#[test]
fn password_command_and_file_open_the_repository() {
    let s = Scratch::new();
    let url = s.file_url("repo");
    s.ok(&url, PW_A, &["init"], 0);
    std::fs::write(s.path("pw"), format!("{PW_A}\nignored second line\n")).expect("write");
    let by_flag = s
        .command(
            &url,
            "wrong",
            &["--password-command", "cat pw", "snapshots"],
        )
        .env_remove("HOLDFAST_PASSWORD")
        .output()
        .expect("run");
    check(by_flag, &["--password-command"], 0);
    let by_env = s
        .command(&url, "wrong", &["snapshots"])
        .env_remove("HOLDFAST_PASSWORD")
        .env(
            "HOLDFAST_PASSWORD_COMMAND",
            "printf '%s\\n' \"$(head -n1 pw)\"",
        )
        .output()
        .expect("run");
    check(by_env, &["HOLDFAST_PASSWORD_COMMAND"], 0);
    let by_file = s
        .command(&url, "wrong", &["--password-file", "pw", "snapshots"])
        .output()
        .expect("run");
    check(by_file, &["--password-file"], 0);
    // A failing command is an error that does not show the command.
    let failing = s
        .command(
            &url,
            "wrong",
            &["--password-command", "echo s3cr3t >&2; exit 4", "snapshots"],
        )
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&failing.stderr);
    assert_eq!(failing.status.code(), Some(1), "{err}");
    assert!(err.contains("password command failed"), "{err}");
    assert!(!err.contains("exit 4"), "{err}");
}
