//! Unit tests of `copy`: re-encryption, idempotency, and reuse of the packs an
//! interrupted copy stored.

use super::*;
use crate::repository::{InitOptions, init};
use crate::{BackupOptions, KdfParams, backup};

async fn repo_at(url: &str, password: &str) -> Result<Repository> {
    let store = holdfast_store::Store::open(url)?;
    let opts = InitOptions {
        password: password.into(),
        kdf: KdfParams::insecure_fast(),
    };
    init(store, &opts).await
}

fn write_data(dir: &std::path::Path) -> Result<()> {
    let io = |e| Error::io(dir, e);
    std::fs::create_dir_all(dir.join("sub")).map_err(io)?;
    std::fs::write(dir.join("a.txt"), "hello").map_err(io)?;
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(dir.join("sub/big.bin"), big).map_err(io)?;
    Ok(())
}

/// Every file's path and content under a tree, read from the repository.
async fn files(
    repo: &IndexedRepository,
    tree: Id,
    prefix: &str,
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<()> {
    let t = repo.load_tree(&tree).await?;
    for n in t.nodes {
        let path = format!("{prefix}/{}", n.name);
        if let Some(sub) = n.subtree {
            Box::pin(files(repo, sub, &path, out)).await?;
        } else {
            let mut data = Vec::new();
            for c in &n.content {
                data.extend(repo.read_blob(c).await?);
            }
            out.push((path, data));
        }
    }
    Ok(())
}

#[tokio::test]
async fn copy_re_encrypts_and_skips_what_the_target_holds() -> Result<()> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
    write_data(&tmp.path().join("data"))?;
    let src = repo_at("memory://", "a").await?;
    let dst = repo_at("memory://", "b").await?;
    let mut idx = src.load_index().await?;
    let b = backup(&mut idx, &BackupOptions::new(tmp.path().join("data"))).await?;
    let report = copy(&src, &dst, &CopyOptions::default()).await?;
    assert_eq!(report.copied.len(), 1);
    let copied = dst.snapshots().await?;
    assert_eq!(copied.len(), 1);
    let (cid, c) = &copied[0];
    assert_ne!(*cid, b.id);
    assert_eq!(c.original, Some(b.id));
    assert_ne!(c.tree, b.snapshot.tree, "blob ids change with the key");
    assert_eq!(
        (c.time, &c.root, c.files, c.size),
        (
            b.snapshot.time,
            &b.snapshot.root,
            b.snapshot.files,
            b.snapshot.size
        )
    );
    let (mut x, mut y) = (Vec::new(), Vec::new());
    files(&idx, b.snapshot.tree, "", &mut x).await?;
    files(&dst.load_index().await?, c.tree, "", &mut y).await?;
    assert_eq!(x, y);
    let again = copy(&src, &dst, &CopyOptions::default()).await?;
    assert!(again.copied.is_empty() && again.skipped.len() == 1);
    assert_eq!(again.stats.packs_uploaded, 0);
    // Retagging the source rewrites its snapshot (new id, same original): still copied.
    let tagged = crate::tag(
        &src,
        &crate::tools::TagOptions {
            snapshots: vec!["latest".into()],
            add: vec!["later".into()],
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(tagged.changed.len(), 1);
    let again = copy(&src, &dst, &CopyOptions::default()).await?;
    assert!(again.copied.is_empty() && again.skipped.len() == 1);
    // Back: the source holds the original.
    let back = copy(&dst, &src, &CopyOptions::default()).await?;
    assert!(back.copied.is_empty() && back.skipped.len() == 1);
    assert!(matches!(
        copy(&src, &src, &CopyOptions::default()).await,
        Err(Error::Invalid(_))
    ));
    Ok(())
}

#[tokio::test]
async fn a_copy_run_again_reuses_the_packs_an_interrupted_one_stored() -> Result<()> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
    write_data(&tmp.path().join("data"))?;
    let src = repo_at("memory://", "a").await?;
    let dst_url = format!("file://{}", tmp.path().join("dst").display());
    let dst = repo_at(&dst_url, "b").await?;
    let mut idx = src.load_index().await?;
    backup(&mut idx, &BackupOptions::new(tmp.path().join("data"))).await?;
    let first = copy(&src, &dst, &CopyOptions::default()).await?;
    assert!(first.stats.packs_uploaded >= 2, "{first:?}");
    // As if killed before its index and snapshot were written: only the packs remain.
    for key in dst
        .list("index/")
        .await?
        .into_iter()
        .chain(dst.list("snapshots/").await?)
    {
        dst.store().delete_file(&key).await?;
    }
    let dst = crate::open::open(
        dst.store().clone(),
        &crate::OpenOptions {
            password: "b".into(),
            cache: Some(false),
        },
    )
    .await?;
    let again = copy(&src, &dst, &CopyOptions::default()).await?;
    assert_eq!(again.copied.len(), 1);
    assert_eq!(again.stats.packs_uploaded, 0, "{again:?}");
    assert_eq!(again.stats.packs_reused, first.stats.packs_uploaded);
    let report = crate::verify(&dst, &crate::VerifyOptions::default()).await?;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    Ok(())
}

#[test]
fn resealing_a_pack_changes_its_id_but_not_its_blobs() -> Result<()> {
    let keys = crate::crypto::Keys::derive(&crate::crypto::MasterKey::generate()?);
    let mut w = crate::pack::PackWriter::new();
    let data = b"some blob".to_vec();
    let id = keys.blob_id(&data);
    w.add(
        id,
        BlobType::Data,
        &keys.seal_synthetic(&id.0, &data, 3)?,
        data.len(),
    );
    let mut w2 = crate::pack::PackWriter::new();
    w2.add(
        id,
        BlobType::Data,
        &keys.seal_synthetic(&id.0, &data, 3)?,
        data.len(),
    );
    let (p1, p2) = (w.finish_synthetic(&keys)?, w2.finish_synthetic(&keys)?);
    assert_eq!(p1.id, p2.id, "synthetic packs are deterministic");
    let p3 = sink::reseal(&keys, p2)?;
    assert_ne!(p3.id, p1.id);
    let blobs = crate::pack::read_trailer(&keys, "p3", &p3.bytes)?;
    assert_eq!(blobs, p1.blobs);
    Ok(())
}

#[tokio::test]
async fn replicate_copies_what_the_replica_lacks_and_reports_the_lag() -> Result<()> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
    write_data(&tmp.path().join("data"))?;
    let src = repo_at("memory://", "a").await?;
    let dst = repo_at("memory://", "b").await?;
    let mut idx = src.load_index().await?;
    for day in 1..=2 {
        let mut o = BackupOptions::new(tmp.path().join("data"));
        o.time = chrono::DateTime::from_timestamp(day * 86_400, 0);
        backup(&mut idx, &o).await?;
    }
    let before = lag(&src, &dst).await?;
    assert_eq!(before.missing, 2);
    assert!(before.lag_seconds > 0);
    let opts = ReplicateOptions {
        retention: Some(crate::retention::RetentionPolicy {
            keep_last: Some(1),
            ..Default::default()
        }),
        ..Default::default()
    };
    let r = replicate(&src, &dst, &opts).await?;
    assert_eq!(r.copy.copied.len(), 2);
    assert_eq!(r.forget.as_ref().map(|f| f.deleted), Some(1));
    assert_eq!((r.lag.missing, r.lag.lag_seconds), (0, 0));
    // The snapshot the replica's retention forgot is not sent again.
    let r = replicate(&src, &dst, &opts).await?;
    assert!(r.copy.copied.is_empty());
    assert_eq!(dst.snapshots().await?.len(), 1);
    Ok(())
}
