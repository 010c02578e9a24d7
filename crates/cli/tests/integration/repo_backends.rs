//! The repository suite on file://, Garage (S3) and Azurite (Azure Blob), and the
//! damage cases that need direct access to the files of a local repository.

use super::repo_suite::end_to_end;
use super::repo_util::{RepoEnv, remote_url, sample};

#[test]
fn repository_commands_on_file() {
    end_to_end(&RepoEnv::local());
}

#[test]
fn repository_commands_on_s3() {
    end_to_end(&RepoEnv::at(remote_url("HOLDFAST_TEST_S3_URL")));
}

#[test]
fn repository_commands_on_azblob() {
    end_to_end(&RepoEnv::at(remote_url("HOLDFAST_TEST_AZBLOB_URL")));
}

fn largest_pack(env: &RepoEnv) -> std::path::PathBuf {
    let mut packs = Vec::new();
    for d in std::fs::read_dir(env.path("repo/data")).expect("data dir") {
        for f in std::fs::read_dir(d.expect("entry").path()).expect("pack dir") {
            packs.push(f.expect("entry").path());
        }
    }
    packs.sort_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0));
    packs.pop().expect("a pack")
}

#[test]
fn damaged_pack_makes_verify_and_restore_exit_3() {
    let env = RepoEnv::local();
    env.ok(&["init"], 0);
    sample(&env.path("data"));
    env.ok(&["backup", "data"], 0);
    let pack = largest_pack(&env);
    let mut bytes = std::fs::read(&pack).expect("read pack");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&pack, bytes).expect("write pack");
    env.ok(&["verify"], 0);
    let report = env.ok(&["verify", "--read-data"], 3);
    assert!(report.contains("path sub/big.bin"), "{report}");
    let out = env.run(&["restore", "latest", "--target", "out"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("damaged: sub/big.bin"));
    assert_eq!(
        std::fs::read_to_string(env.path("out/hello.txt")).expect("restored"),
        "hello\n"
    );
}

#[test]
fn missing_pack_is_reported_by_plain_verify() {
    let env = RepoEnv::local();
    env.ok(&["init"], 0);
    sample(&env.path("data"));
    env.ok(&["backup", "data"], 0);
    std::fs::remove_file(largest_pack(&env)).expect("remove pack");
    let report = env.ok(&["verify"], 3);
    assert!(report.contains("missing"), "{report}");
}

#[test]
fn no_repository_is_a_clear_error() {
    let env = RepoEnv::local();
    let out = env.run(&["snapshots"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holdfast init"));
}

#[test]
fn unreadable_file_makes_an_incomplete_snapshot_and_exit_3() {
    use std::os::unix::fs::PermissionsExt;
    let env = RepoEnv::local();
    let open = std::fs::Permissions::from_mode(0o777);
    std::fs::set_permissions(env.dir.path(), open.clone()).expect("chmod scratch");
    let data = env.path("data");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::set_permissions(&data, open).expect("chmod data");
    std::fs::write(data.join("ok.txt"), "fine").expect("write");
    std::fs::write(data.join("secret"), "hidden").expect("write");
    std::fs::set_permissions(data.join("secret"), std::fs::Permissions::from_mode(0o000))
        .expect("chmod");
    let init = env.run_unprivileged(&["init"]);
    assert_eq!(
        init.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let backup = env.run_unprivileged(&["backup", "data", "--json"]);
    let stderr = String::from_utf8_lossy(&backup.stderr);
    assert_eq!(backup.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("secret") && stderr.contains("cannot open"),
        "{stderr}"
    );
    let list = env.run_unprivileged(&["snapshots", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).expect("JSON");
    assert_eq!(list[0]["incomplete"], true);
    assert_eq!(list[0]["files"], 1);
}
