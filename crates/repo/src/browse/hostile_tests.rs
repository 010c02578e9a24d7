//! Hostile trees: entries that would escape the restore target, and symlinks of the
//! snapshot that a restore must never write through.

use serde_json::json;

use crate::crypto::KdfParams;
use crate::repository::{InitOptions, init};
use crate::restore::{RestoreOptions, restore};
use crate::test_support::{hostile_snapshot, node};

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

#[tokio::test(flavor = "multi_thread")]
async fn restore_refuses_entries_escaping_the_target() -> TestResult {
    let payload = json!({"nodes": [node("escaped", "file")]});
    for bad in [
        "..",
        "../escaped",
        "/tmp/escaped",
        "a/../../escaped",
        ".",
        "nul\u{0}byte",
        "",
    ] {
        let dir = tempfile::tempdir()?;
        let url = format!("file://{}", dir.path().join("repo").display());
        let opts = InitOptions {
            password: "p".into(),
            kdf: KdfParams::insecure_fast(),
        };
        let repo = init(holdfast_store::Store::open(&url)?, &opts).await?;
        let sub = {
            let bytes = serde_json::to_vec(&payload)?;
            repo.keys().blob_id(&bytes)
        };
        let mut evil = node(bad, "dir");
        evil["subtree"] = json!(sub.to_hex());
        let root = json!({"nodes": [evil, node("fine.txt", "file")]});
        let snap = hostile_snapshot(&repo, &[root, payload.clone()]).await?;
        let repo = repo.load_index().await?;
        let target = dir.path().join("a/b/target");
        let summary = restore(
            &repo,
            &snap,
            &RestoreOptions {
                target: target.clone(),
                include: vec![],
                ..Default::default()
            },
        )
        .await?;
        assert!(!summary.damaged.is_empty(), "{bad:?} was not refused");
        assert!(
            summary.damaged.iter().any(|d| d.error.contains("unsafe")),
            "{bad:?}: {:?}",
            summary.damaged
        );
        for place in [
            dir.path().join("escaped"),
            dir.path().join("a/escaped"),
            dir.path().join("a/b/escaped"),
            std::path::PathBuf::from("/tmp/escaped"),
        ] {
            assert!(!place.exists(), "{bad:?} wrote {}", place.display());
        }
        assert_eq!(
            std::fs::read_dir(&target)?.count(),
            0,
            "{bad:?}: a damaged tree restores nothing of it"
        );
    }
    Ok(())
}
#[tokio::test(flavor = "multi_thread")]
async fn restore_never_writes_through_a_symlink_of_the_snapshot() -> TestResult {
    let dir = tempfile::tempdir()?;
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside)?;
    let url = format!("file://{}", dir.path().join("repo").display());
    let opts = InitOptions {
        password: "p".into(),
        kdf: KdfParams::insecure_fast(),
    };
    let repo = init(holdfast_store::Store::open(&url)?, &opts).await?;
    let payload = json!({"nodes": [node("escaped", "file")]});
    let sub = repo.keys().blob_id(&serde_json::to_vec(&payload)?);
    let mut link = node("link", "symlink");
    link["target"] = json!(outside.to_string_lossy());
    let mut same = node("link", "dir");
    same["subtree"] = json!(sub.to_hex());
    let snap = hostile_snapshot(&repo, &[json!({"nodes": [link, same]}), payload]).await?;
    let repo = repo.load_index().await?;
    let target = dir.path().join("target");
    let summary = restore(
        &repo,
        &snap,
        &RestoreOptions {
            target: target.clone(),
            include: vec![],
            ..Default::default()
        },
    )
    .await?;
    assert!(
        summary
            .damaged
            .iter()
            .any(|d| d.error.contains("duplicate")),
        "{:?}",
        summary.damaged
    );
    assert_eq!(std::fs::read_dir(&outside)?.count(), 0);
    assert_eq!(std::fs::read_dir(&target)?.count(), 0);
    Ok(())
}
