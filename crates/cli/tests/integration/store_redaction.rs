//! Credentials written into a repository URL never reach stdout or stderr, at any `-v`
//! level and whatever goes wrong (an unreachable store, a malformed URL).

use std::process::Command;

const SECRET: &str = "SUPERSECRET";

/// Runs `holdfast ARGS` with the repository given by `--repo` (or by
/// `HOLDFAST_REPOSITORY` when `by_env`), a tiny retry budget and no AWS or Azure
/// credentials in the environment; returns the exit code and stdout + stderr.
fn run(args: &[&str], url: &str, by_env: bool) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
    cmd.args(args)
        .current_dir(dir.path())
        .env("HOLDFAST_PASSWORD", "pw")
        .env("HOLDFAST_STORE_RETRY_FOR", "500ms")
        .env("HOLDFAST_STORE_TIMEOUT", "200ms")
        .env("HOLDFAST_CACHE_DIR", dir.path().join("cache"))
        .env_remove("RUST_LOG")
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_PASSWORD_FILE")
        .env_remove("STORAGE_TYPE");
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AZURE_STORAGE_ACCOUNT",
        "AZURE_STORAGE_KEY",
        "AZURE_STORAGE_CONNECTION_STRING",
    ] {
        cmd.env_remove(var);
    }
    if by_env {
        cmd.env("HOLDFAST_REPOSITORY", url);
    } else {
        cmd.env_remove("HOLDFAST_REPOSITORY").args(["--repo", url]);
    }
    let out = cmd.output().expect("run holdfast");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// Finding 11.5: credentials written into a repository URL were echoed in errors and
/// `-vvv` logs.
#[test]
fn credentials_in_the_repository_url_never_reach_output() {
    let urls = [
        format!("s3://AKID:{SECRET}@b?endpoint=http://127.0.0.1:1&region=x"),
        format!(
            "s3://b/p?endpoint=http://127.0.0.1:1&region=x&access_key_id=AKID&\
             secret_access_key={SECRET}&session_token={SECRET}"
        ),
        format!("azblob://acct:{SECRET}x@c/p?endpoint=http://127.0.0.1:1/acct"),
        format!(
            "azblob://c?endpoint=http://127.0.0.1:1/acct&account_name=acct&account_key={SECRET}x"
        ),
        format!("azblob://c?endpoint=http://127.0.0.1:1/acct&sv=2024&sig={SECRET}"),
        format!("s3://b?endpoint=http://u:{SECRET}@127.0.0.1:1&region=x"),
        format!("s3://AKID:{SECRET}@b?region=x&bogus=1"),
        format!("s3://AKID:{SECRET}@"),
    ];
    let mut failures = 0;
    for url in &urls {
        for args in [
            &["-vvv", "snapshots"][..],
            &["snapshots", "--json"],
            &["-vvv", "init"],
            &["-vv", "verify"],
        ] {
            for by_env in [false, true] {
                let (code, out) = run(args, url, by_env);
                assert_ne!(code, Some(0), "{args:?} {url}: {out}");
                failures += 1;
                assert!(
                    !out.contains(SECRET),
                    "{args:?} (repository by {}) {url} printed the secret:\n{out}",
                    if by_env { "env" } else { "--repo" }
                );
            }
        }
    }
    assert_eq!(failures, urls.len() * 8);
}

/// The unreachable store is named, redacted, and reported as unavailable.
#[test]
fn an_unreachable_store_is_named_redacted() {
    let url = format!("s3://AKID:{SECRET}@b/p?endpoint=http://127.0.0.1:1&region=x");
    let (code, out) = run(&["-vvv", "snapshots"], &url, false);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("unavailable"), "{out}");
    assert!(out.contains("s3://b/p"), "{out}");
    assert!(!out.contains(SECRET), "{out}");
}
