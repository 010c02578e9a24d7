//! Where two copies of one protocol had drifted apart before the daemon became
//! `crates/agent`, seen from outside as a user would: each test is named after the
//! drift it pins.

use reqwest::StatusCode;

use super::serve_backup::{PASSWORD, prepare};
use super::serve_util::{Server, Setup, backup_now};

/// Drift: with the seed convention `STORAGE_TYPE=LOCAL FILE_UPLOAD_DEST=…` and no
/// `[repository]`, `init`, `backup` and `snapshots` worked, but `serve` said "no
/// repository configured" and every scheduled or on-demand backup failed: the CLI's
/// repository opening fell back to `STORAGE_TYPE`, the server's did not.
#[test]
fn storage_type_without_a_repository_url_works_under_serve() {
    let mut setup = Setup::new("[[volumes]]\nname = \"data\"\npath = \"vol\"\n");
    for (k, v) in [
        ("HOLDFAST_PASSWORD", PASSWORD),
        ("STORAGE_TYPE", "LOCAL"),
        ("FILE_UPLOAD_DEST", "repo"),
    ] {
        setup.env.push((k.into(), v.into()));
    }
    let s = Server::start(setup, prepare);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let (status, job) = backup_now(&s, "").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}\n{}", s.log());
        assert_eq!(job["status"], "succeeded", "{job}\n{}", s.log());
    });
    assert!(
        !s.log().contains("no repository"),
        "serve found the repository: {}",
        s.log()
    );
}
