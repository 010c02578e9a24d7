//! `migrate_to_store` into a `file://` store: objects, manifest with metadata, resume,
//! verification against tampering, overlap refused.

use std::os::unix::fs::PermissionsExt;

use holdfast_store::Store;
use holdfast_volume::migrate::{
    MANIFEST_KEY, ManifestEntry, MigrateError, MigrateOptions, migrate_to_store,
};

use super::util::{Tmpfs, noise};

fn manifest(bytes: &[u8]) -> Vec<ManifestEntry> {
    serde_json::from_slice(bytes).expect("manifest parses")
}

#[tokio::test]
async fn migrates_into_a_store_and_resumes() {
    let src = Tmpfs::mount("4m", &[]);
    std::fs::create_dir(src.path().join("db")).expect("mkdir");
    std::fs::write(src.path().join("db/app.db"), noise(1_500_000, 5)).expect("write");
    std::fs::write(src.path().join("run.sh"), b"#!/bin/sh\n").expect("write");
    std::fs::set_permissions(
        src.path().join("run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    std::os::unix::fs::symlink("db/app.db", src.path().join("current")).expect("symlink");
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Store::open(&format!("file://{}", dir.path().join("store").display())).expect("store");
    let opts = MigrateOptions {
        workers: 3,
        verify: true,
        ..MigrateOptions::default()
    };

    let r = migrate_to_store(src.path(), &store, &opts)
        .await
        .expect("migrate");
    assert_eq!(
        (r.files, r.copied, r.skipped, r.symlinks, r.dirs),
        (2, 2, 0, 1, 1)
    );
    assert!(r.verified);
    assert_eq!(
        store.read("db/app.db").await.expect("object").to_vec(),
        noise(1_500_000, 5)
    );
    let m = manifest(&store.read(MANIFEST_KEY).await.expect("manifest"));
    let get = |p: &str| m.iter().find(|e| e.path == p).cloned().expect("entry");
    assert_eq!(get("current").kind, "symlink");
    assert_eq!(get("current").target.as_deref(), Some("db/app.db"));
    assert_eq!(get("run.sh").mode, 0o755);
    assert_eq!(get("db").kind, "dir");
    assert_eq!(
        get("db/app.db").blake3.as_deref(),
        Some(blake3::hash(&noise(1_500_000, 5)).to_hex().as_str())
    );

    let again = migrate_to_store(src.path(), &store, &opts)
        .await
        .expect("second run");
    assert_eq!((again.copied, again.skipped), (0, 2));

    store
        .write("run.sh", "#!/bin/XX\n".into())
        .await
        .expect("tamper");
    let err = migrate_to_store(src.path(), &store, &opts)
        .await
        .expect_err("tampered");
    assert!(matches!(err, MigrateError::Mismatch { .. }), "{err}");
}

#[tokio::test]
async fn a_store_inside_the_source_is_refused() {
    let src = Tmpfs::mount("1m", &[]);
    let store =
        Store::open(&format!("file://{}", src.path().join("backup").display())).expect("store");
    let err = migrate_to_store(src.path(), &store, &MigrateOptions::default())
        .await
        .expect_err("overlap");
    assert!(matches!(err, MigrateError::Overlap { .. }), "{err}");
}
