use std::path::Path;

use super::*;
use crate::forget::{ForgetOptions, forget};
use crate::retention::RetentionPolicy;
use crate::{BackupOptions, InitOptions, KdfParams, RestoreOptions, VerifyOptions};

struct Fixture {
    _dir: tempfile::TempDir,
    repo: Repository,
    src: std::path::PathBuf,
    work: std::path::PathBuf,
}

fn io<T>(r: std::io::Result<T>) -> Result<T> {
    r.map_err(|e| Error::io("test fixture", e))
}

fn noise(seed: u8, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut h = blake3::Hasher::new();
    h.update(&[seed]);
    let mut reader = h.finalize_xof();
    out.resize(len, 0);
    reader.fill(&mut out);
    out
}

async fn fixture() -> Result<Fixture> {
    let dir = io(tempfile::tempdir())?;
    let repo_dir = dir.path().join("repo");
    let src = dir.path().join("src");
    let work = dir.path().join("work");
    io(std::fs::create_dir_all(&src))?;
    io(std::fs::create_dir_all(&work))?;
    let store = holdfast_store::Store::open(&format!("file://{}", repo_dir.display()))?;
    let opts = InitOptions {
        password: "pw".into(),
        kdf: KdfParams::insecure_fast(),
    };
    let repo = crate::init(store, &opts).await?;
    Ok(Fixture {
        _dir: dir,
        repo,
        src,
        work,
    })
}

impl Fixture {
    async fn backup(&self) -> Result<Id> {
        let mut irepo = self.repo.load_index().await?;
        let mut opts = BackupOptions::new(&self.src);
        opts.compression = 0;
        Ok(crate::backup(&mut irepo, &opts).await?.id)
    }

    fn write(&self, name: &str, seed: u8) -> Result<()> {
        io(std::fs::write(self.src.join(name), noise(seed, 300 * 1024)))
    }

    async fn forget_all_but_last(&self) -> Result<()> {
        let opts = ForgetOptions {
            policy: RetentionPolicy {
                keep_last: Some(1),
                ..Default::default()
            },
            ..Default::default()
        };
        forget(&self.repo, &opts).await?;
        Ok(())
    }

    async fn assert_sound(&self) -> Result<()> {
        let opts = VerifyOptions {
            read_data: true,
            ..Default::default()
        };
        let report = crate::verify(&self.repo, &opts).await?;
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let irepo = self.repo.load_index().await?;
        for (id, snap) in self.repo.snapshots().await? {
            let target = self.work.join(id.to_hex());
            let opts = RestoreOptions {
                target: target.clone(),
                include: vec![],
                overwrite: Some(crate::Overwrite::Always),
                ..Default::default()
            };
            let summary = crate::restore(&irepo, &snap, &opts).await?;
            assert!(summary.damaged.is_empty(), "{:?}", summary.damaged);
            for entry in io(std::fs::read_dir(&self.src))? {
                let name = io(entry)?.file_name();
                same_file(&self.src.join(&name), &target.join(&name))?;
            }
        }
        Ok(())
    }
}

fn same_file(a: &Path, b: &Path) -> Result<()> {
    assert_eq!(
        io(std::fs::read(a))?,
        io(std::fs::read(b))?,
        "{}",
        a.display()
    );
    Ok(())
}

/// A one-shot prune (`instant_delete`) that deletes unindexed packs of any age.
fn now_prune() -> PruneOptions {
    PruneOptions {
        unindexed_grace: chrono::TimeDelta::zero(),
        instant_delete: true,
        ..PruneOptions::default()
    }
}

/// Two snapshots share file `a`; after forgetting the first, its pack holds `a` (used)
/// and `b` (unused), so prune repacks it.
async fn partly_used_repository() -> Result<Fixture> {
    let f = fixture().await?;
    f.write("a", 1)?;
    f.write("b", 2)?;
    f.backup().await?;
    io(std::fs::remove_file(f.src.join("b")))?;
    f.write("c", 3)?;
    f.backup().await?;
    f.forget_all_but_last().await?;
    Ok(f)
}

#[tokio::test]
async fn prune_repacks_and_deletes_and_data_stays_whole() -> Result<()> {
    let f = partly_used_repository().await?;
    let dry = prune(
        &f.repo,
        &PruneOptions {
            dry_run: true,
            ..now_prune()
        },
    )
    .await?;
    assert_eq!((dry.packs_repacked, dry.packs_deleted), (1, 1), "{dry:?}");
    let r = prune(&f.repo, &now_prune()).await?;
    assert_eq!(
        (r.packs_repacked, r.packs_deleted, r.packs_written),
        (1, 1, 1),
        "{r:?}"
    );
    assert!(r.bytes_freed >= 300 * 1024, "{r:?}");
    assert!(r.size_after < r.size_before);
    // The dry run predicted what the real run freed, give or take index bytes.
    assert!(
        dry.bytes_freed.abs_diff(r.bytes_freed) < 4096,
        "{dry:?} {r:?}"
    );
    f.assert_sound().await?;
    let again = prune(&f.repo, &now_prune()).await?;
    assert_eq!(again.packs_after, again.packs_before, "{again:?}");
    assert_eq!(again.bytes_freed, 0);
    Ok(())
}

#[tokio::test]
async fn an_interrupted_prune_leaves_a_sound_repository_and_the_next_one_finishes() -> Result<()> {
    for phase in [
        PrunePhase::PacksWritten,
        PrunePhase::IndexWritten,
        PrunePhase::OldIndexDeleted,
    ] {
        let f = partly_used_repository().await?;
        let full_size = prune(
            &f.repo,
            &PruneOptions {
                dry_run: true,
                ..now_prune()
            },
        )
        .await?
        .size_after;
        let stopped = prune(
            &f.repo,
            &PruneOptions {
                stop_after: Some(phase),
                ..now_prune()
            },
        )
        .await?;
        assert_eq!(stopped.stopped_after, Some(phase));
        f.assert_sound().await?;
        let next = prune(&f.repo, &now_prune()).await?;
        assert!(next.stopped_after.is_none());
        f.assert_sound().await?;
        let last = prune(&f.repo, &now_prune()).await?;
        assert_eq!(
            (
                last.packs_deleted,
                last.packs_repacked,
                last.unindexed_deleted
            ),
            (0, 0, 0),
            "{phase:?}: {last:?}"
        );
        // Everything left over was removed: the repository is as small as one prune makes it.
        assert!(
            last.size_before.abs_diff(full_size) < 4096,
            "{phase:?}: {last:?} vs {full_size}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn young_unindexed_packs_survive_the_grace_period() -> Result<()> {
    let f = partly_used_repository().await?;
    prune(
        &f.repo,
        &PruneOptions {
            stop_after: Some(PrunePhase::PacksWritten),
            ..now_prune()
        },
    )
    .await?;
    let r = prune(&f.repo, &PruneOptions::default()).await?;
    assert_eq!((r.unindexed_deleted, r.unindexed_kept), (0, 1), "{r:?}");
    f.assert_sound().await?;
    Ok(())
}

#[tokio::test]
async fn prune_refuses_while_a_backup_holds_its_lock() -> Result<()> {
    let f = partly_used_repository().await?;
    let held = Lock::acquire(&f.repo, false).await?;
    let opts = PruneOptions {
        lock: LockOptions {
            retries: 0,
            ..LockOptions::default()
        },
        ..now_prune()
    };
    let r = prune(&f.repo, &opts).await;
    assert!(matches!(r, Err(Error::Locked { .. })), "{r:?}");
    held.release().await?;
    prune(&f.repo, &opts).await?;
    Ok(())
}

#[tokio::test]
async fn a_backup_with_an_index_loaded_before_a_prune_stores_its_data_again() -> Result<()> {
    let f = fixture().await?;
    f.write("a", 1)?;
    f.backup().await?;
    let mut stale = f.repo.load_index().await?;
    io(std::fs::remove_file(f.src.join("a")))?;
    f.write("b", 2)?;
    f.backup().await?;
    f.forget_all_but_last().await?;
    let r = prune(&f.repo, &now_prune()).await?;
    // The first snapshot's data and tree packs.
    assert_eq!(r.packs_deleted, 2, "{r:?}");
    // The pack holding `a` is gone, but `stale` still lists it.
    io(std::fs::remove_file(f.src.join("b")))?;
    f.write("a", 1)?;
    let mut opts = BackupOptions::new(&f.src);
    opts.compression = 0;
    crate::backup(&mut stale, &opts).await?;
    f.forget_all_but_last().await?;
    f.assert_sound().await?;
    Ok(())
}

type Boxed<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send>>;

fn boxed_prune(repo: Repository) -> Boxed<PruneReport> {
    Box::pin(async move { prune(&repo, &PruneOptions::default()).await })
}

fn boxed_forget(repo: Repository) -> Boxed<crate::ForgetReport> {
    Box::pin(async move { forget(&repo, &ForgetOptions::default()).await })
}

fn boxed_unlock(repo: Repository) -> Boxed<crate::UnlockReport> {
    Box::pin(async move { crate::unlock(&repo, &crate::UnlockOptions::default()).await })
}

/// A scheduler boxes these operations as `Send` futures; this fails to compile if one
/// stops being `Send`.
#[test]
fn operations_can_run_on_any_thread() {
    let _ = (boxed_prune, boxed_forget, boxed_unlock);
}

/// Finding: prune deleted unindexed packs at once; a backup paused past its lock then
/// wrote an index file naming them, and the next backup deduplicated against packs that
/// were gone. An old unindexed pack is now marked first (its blobs read from its
/// trailer) and deleted by a later prune, after the mark grace period.
#[tokio::test]
async fn old_unindexed_packs_are_marked_before_they_are_deleted() -> Result<()> {
    let f = partly_used_repository().await?;
    prune(
        &f.repo,
        &PruneOptions {
            stop_after: Some(PrunePhase::PacksWritten),
            ..now_prune()
        },
    )
    .await?;
    let two_phase = PruneOptions {
        unindexed_grace: chrono::TimeDelta::zero(),
        ..PruneOptions::default()
    };
    let r = prune(&f.repo, &two_phase).await?;
    assert_eq!((r.unindexed_marked, r.unindexed_deleted), (1, 0), "{r:?}");
    f.assert_sound().await?;
    let irepo = f.repo.load_index().await?;
    let marked = irepo
        .index()
        .packs()
        .filter(|p| irepo.index().is_marked(p))
        .count();
    assert!(marked >= 1, "the unindexed pack is not marked");
    // Nothing deduplicates against it; a later prune past the grace period deletes it.
    let later = PruneOptions {
        mark_grace: chrono::TimeDelta::zero(),
        ..two_phase
    };
    let r = prune(&f.repo, &later).await?;
    assert!(r.packs_deleted >= 1, "{r:?}");
    assert_eq!((r.unindexed_marked, r.unindexed_deleted), (0, 0), "{r:?}");
    f.assert_sound().await?;
    Ok(())
}
