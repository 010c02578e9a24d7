//! Failed backups: the store's own error reaches the caller, and a backup that fails
//! before its index file is written leaves none of its packs behind.

use holdfast_repo::{BackupOptions, Error, Failpoints, Step};

use super::util::{TestRepo, TestResult, pseudo_random};

fn pack_files(t: &TestRepo) -> usize {
    t.objects("data").len()
}

fn failing_at(step: Step) -> Failpoints {
    Failpoints::new(move |s| {
        Box::pin(async move {
            if s == step {
                Err(holdfast_repo::failpoint::injected(s))
            } else {
                Ok(())
            }
        })
    })
}

fn source(t: &TestRepo) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    let src = t.dir.path().join("src");
    std::fs::create_dir_all(&src)?;
    std::fs::write(src.join("a.bin"), pseudo_random(3 << 20, 7))?;
    std::fs::write(src.join("b.txt"), "b\n")?;
    Ok(src)
}

/// Finding: a failed pack upload reached the user as "invalid argument: pack upload
/// stopped", hiding the store's error (a full disk, a refused request), and exited 2.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_pack_upload_reports_the_stores_error() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = source(&t)?;
    // Every pack write now fails inside the store: `data` is a file, not a directory.
    let data = t.root().join("data");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::write(&data, "in the way")?;
    let Err(e) = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await else {
        panic!("the backup must fail");
    };
    let msg = e.to_string();
    assert!(matches!(e, Error::Store(_)), "{e:?}");
    assert!(!msg.contains("stopped") && msg.contains("data/"), "{msg}");
    assert!(!e.is_input(), "a store failure is not a usage error");
    assert!(t.objects("locks").is_empty(), "the lock stayed");
    assert!(repo.snapshots().await?.is_empty());
    Ok(())
}

/// Finding: a backup that failed (a full disk) left 41.7 MB of unindexed packs that prune
/// kept for an hour. Before its index file is written nobody else can know its packs: it
/// deletes them.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_that_fails_before_its_index_deletes_its_packs() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = source(&t)?;
    let opts = BackupOptions {
        failpoints: failing_at(Step::BackupAfterUpload),
        ..BackupOptions::new(&src)
    };
    let r = holdfast_repo::backup(&mut repo, &opts).await;
    assert!(matches!(r, Err(Error::Internal(_))), "{r:?}");
    assert_eq!(pack_files(&t), 0, "the failed backup left its packs");
    assert!(t.objects("index").is_empty());
    assert!(t.objects("locks").is_empty(), "the lock stayed");
    // The next backup stores everything again and is sound.
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    assert!(s.snapshot.added > 0);
    Ok(())
}

/// Once its index file is written, other backups may deduplicate against a failed
/// backup's packs: they stay, indexed, for prune to judge.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_that_fails_after_its_index_leaves_its_packs_to_prune() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = source(&t)?;
    let opts = BackupOptions {
        failpoints: failing_at(Step::BackupAfterIndex),
        ..BackupOptions::new(&src)
    };
    assert!(holdfast_repo::backup(&mut repo, &opts).await.is_err());
    assert!(pack_files(&t) > 0);
    assert_eq!(t.objects("index").len(), 1);
    assert!(repo.snapshots().await?.is_empty(), "nothing was committed");
    let next = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    assert!(next.snapshot.added < 1 << 20, "the data was deduplicated");
    Ok(())
}

/// A failed index write may still have landed (a timeout after the store committed it),
/// and then another backup may deduplicate against its packs: they are kept for prune,
/// never deleted by the failing backup.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_whose_index_write_fails_keeps_its_packs() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = source(&t)?;
    // Every index write now fails inside the store: `index` is a file, not a directory.
    let index = t.root().join("index");
    let _ = std::fs::remove_dir_all(&index);
    std::fs::write(&index, "in the way")?;
    let r = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await;
    assert!(matches!(r, Err(Error::Store(_))), "{r:?}");
    assert!(
        pack_files(&t) > 0,
        "the packs of a possibly indexed backup were deleted"
    );
    assert!(t.objects("locks").is_empty(), "the lock stayed");
    Ok(())
}
