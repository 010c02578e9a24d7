//! Prune's two-phase delete: an unused pack is first marked, deleted only by a later
//! prune after the grace period, and rescued when a snapshot committed after the mark
//! needs it; a prune stopped at any step leaves every snapshot whole.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use holdfast_repo::failpoint::{Failpoints, Step, injected};
use holdfast_repo::retention::RetentionPolicy;
use holdfast_repo::{
    BackupOptions, ForgetOptions, Id, PruneOptions, PruneReport, RestoreOptions, VerifyOptions,
};

use super::util::{TestRepo, TestResult, pseudo_random, snapshot_of};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// A repository, its source directory and what each snapshot must restore to.
struct Env {
    t: TestRepo,
    src: PathBuf,
    expected: HashMap<Id, BTreeMap<PathBuf, super::util::Meta>>,
    restores: usize,
}

impl Env {
    async fn new() -> Res<Env> {
        let (t, _) = TestRepo::new().await?;
        let src = t.dir.path().join("src");
        fs::create_dir_all(&src)?;
        Ok(Env {
            t,
            src,
            expected: HashMap::new(),
            restores: 0,
        })
    }

    fn write(&self, name: &str, seed: u64) -> Res<()> {
        Ok(fs::write(
            self.src.join(name),
            pseudo_random(300 * 1024, seed),
        )?)
    }

    fn remove(&self, name: &str) -> Res<()> {
        Ok(fs::remove_file(self.src.join(name))?)
    }

    async fn backup(&mut self) -> Res<Id> {
        let mut repo = self.t.open("pw").await?.load_index().await?;
        let mut opts = BackupOptions::new(&self.src);
        opts.compression = 0;
        let s = holdfast_repo::backup(&mut repo, &opts).await?;
        self.expected.insert(s.id, snapshot_of(&self.src)?);
        Ok(s.id)
    }

    async fn forget_all_but_last(&self) -> Res<()> {
        let opts = ForgetOptions {
            policy: RetentionPolicy {
                keep_last: Some(1),
                ..Default::default()
            },
            ..Default::default()
        };
        holdfast_repo::forget(&self.t.open("pw").await?, &opts).await?;
        Ok(())
    }

    async fn prune(&self, opts: &PruneOptions) -> holdfast_repo::Result<PruneReport> {
        holdfast_repo::prune(&self.t.open("pw").await?, opts).await
    }

    fn packs(&self) -> usize {
        self.t.objects("data").len()
    }

    /// `verify --read-data` is clean and every listed snapshot restores byte-exact.
    async fn assert_sound(&mut self, when: &str) -> TestResult {
        let repo = self.t.open("pw").await?;
        let report = holdfast_repo::verify(
            &repo,
            &VerifyOptions {
                read_data: true,
                ..Default::default()
            },
        )
        .await?;
        assert!(report.problems.is_empty(), "{when}: {:?}", report.problems);
        let irepo = repo.load_index().await?;
        for (id, snap) in repo.snapshots().await? {
            self.restores += 1;
            let target = self.t.dir.path().join(format!("restore-{}", self.restores));
            let opts = RestoreOptions {
                target: target.clone(),
                include: vec![],
                ..Default::default()
            };
            let summary = holdfast_repo::restore(&irepo, &snap, &opts).await?;
            assert!(summary.damaged.is_empty(), "{when}: {:?}", summary.damaged);
            let want = self
                .expected
                .get(&id)
                .ok_or("a snapshot this test did not make")?;
            assert!(
                snapshot_of(&target)? == *want,
                "{when}: snapshot {id} restores other content"
            );
            fs::remove_dir_all(&target)?;
        }
        Ok(())
    }
}

/// Two-phase prune with the given grace period.
fn marking(grace: chrono::TimeDelta) -> PruneOptions {
    PruneOptions {
        mark_grace: grace,
        unindexed_grace: chrono::TimeDelta::zero(),
        ..PruneOptions::default()
    }
}

/// `a` is backed up, then replaced by `b`; the first snapshot is forgotten, so its data
/// and tree packs are unused.
async fn one_forgotten_snapshot() -> Res<(Env, PathBuf, Vec<u8>)> {
    let mut env = Env::new().await?;
    env.write("a", 1)?;
    let first = env.backup().await?;
    let key = format!("snapshots/{first}");
    let first_bytes = fs::read(env.t.root().join(&key))?;
    env.remove("a")?;
    env.write("b", 2)?;
    env.backup().await?;
    env.forget_all_but_last().await?;
    Ok((env, PathBuf::from(key), first_bytes))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pack_dropped_by_forget_survives_a_prune_as_marked_and_goes_after_the_grace() -> TestResult
{
    let (mut env, _, _) = one_forgotten_snapshot().await?;
    let before = env.packs();
    let day = chrono::TimeDelta::hours(24);
    let r = env.prune(&marking(day)).await?;
    assert_eq!((r.packs_marked, r.packs_deleted), (2, 0), "{r:?}");
    assert!(r.marked_bytes > 300 * 1024, "{r:?}");
    assert_eq!(env.packs(), before, "nothing deleted by the marking prune");
    env.assert_sound("after the mark").await?;

    let r = env.prune(&marking(day)).await?;
    assert_eq!((r.marked_waiting, r.packs_deleted), (2, 0), "{r:?}");
    assert_eq!(env.packs(), before, "the grace period has not passed");

    let r = env.prune(&marking(chrono::TimeDelta::zero())).await?;
    assert_eq!(
        (r.marked_waiting, r.packs_deleted, r.packs_rescued),
        (0, 2, 0),
        "{r:?}"
    );
    assert!(r.bytes_freed > 300 * 1024, "{r:?}");
    assert_eq!(env.packs(), before - 2);
    env.assert_sound("after the delete").await?;

    let r = env.prune(&marking(chrono::TimeDelta::zero())).await?;
    assert_eq!(
        (r.packs_marked, r.marked_waiting, r.packs_deleted),
        (0, 0, 0),
        "{r:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn instant_delete_deletes_in_one_prune() -> TestResult {
    let (mut env, _, _) = one_forgotten_snapshot().await?;
    let before = env.packs();
    let opts = PruneOptions {
        instant_delete: true,
        ..marking(chrono::TimeDelta::hours(24))
    };
    let r = env.prune(&opts).await?;
    assert_eq!((r.packs_marked, r.packs_deleted), (0, 2), "{r:?}");
    assert_eq!(env.packs(), before - 2);
    env.assert_sound("after an instant delete").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_committed_after_the_mark_is_rescued_and_restores() -> TestResult {
    let (mut env, key, first_bytes) = one_forgotten_snapshot().await?;
    let r = env.prune(&marking(chrono::TimeDelta::hours(24))).await?;
    assert_eq!(r.packs_marked, 2, "{r:?}");
    // A snapshot that references only marked blobs is committed after the mark (as a
    // client that deduplicated against the index it loaded before the mark would).
    fs::write(env.t.root().join(&key), &first_bytes)?;
    let before = env.packs();
    let r = env.prune(&marking(chrono::TimeDelta::zero())).await?;
    assert_eq!((r.packs_rescued, r.packs_deleted), (2, 0), "{r:?}");
    assert_eq!(env.packs(), before, "a rescued pack is never deleted");
    env.assert_sound("after the rescue").await?;
    // Rescued packs are normal again: the next prune keeps them too.
    let r = env.prune(&marking(chrono::TimeDelta::zero())).await?;
    assert_eq!(
        (r.packs_marked, r.marked_waiting, r.packs_deleted),
        (0, 0, 0),
        "{r:?}"
    );
    env.assert_sound("after the next prune").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_that_loads_the_index_after_a_mark_uploads_the_blob_again() -> TestResult {
    let (mut env, _, _) = one_forgotten_snapshot().await?;
    env.prune(&marking(chrono::TimeDelta::hours(24))).await?;
    let before = env.packs();
    // `a` is back: its blob is only in a marked pack, so the backup stores it again.
    env.write("a", 1)?;
    env.backup().await?;
    assert!(
        env.packs() > before + 1,
        "the data of `a` was not uploaded again"
    );
    env.forget_all_but_last().await?;
    let r = env.prune(&marking(chrono::TimeDelta::zero())).await?;
    assert_eq!(
        r.packs_rescued, 0,
        "the backup deduplicated against a marked pack: {r:?}"
    );
    assert!(r.packs_deleted >= 2, "{r:?}");
    env.assert_sound("after deleting the marked packs").await?;
    Ok(())
}

/// Marked packs past their grace period to delete, and a pack to repack: a prune then
/// passes every failpoint (mark, repack, index, two delete batches).
async fn every_step_to_do() -> Res<Env> {
    let mut env = Env::new().await?;
    env.write("z", 9)?;
    env.backup().await?;
    env.remove("z")?;
    env.write("a", 1)?;
    env.write("b", 2)?;
    env.backup().await?;
    env.remove("b")?;
    env.write("c", 4)?;
    env.backup().await?;
    env.forget_all_but_last().await?;
    // Marks the packs of the forgotten snapshots but repacks nothing yet.
    let opts = PruneOptions {
        max_unused: 1.0,
        ..marking(chrono::TimeDelta::hours(24))
    };
    let r = env.prune(&opts).await?;
    assert!(r.packs_marked >= 2 && r.packs_repacked == 0, "{r:?}");
    Ok(env)
}

/// Fails the prune at the `n`th failpoint it passes; counts them.
fn fail_at(
    n: usize,
    hits: Arc<AtomicUsize>,
    steps: Arc<std::sync::Mutex<Vec<Step>>>,
) -> Failpoints {
    Failpoints::new(move |step| {
        let i = hits.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut s) = steps.lock() {
            s.push(step);
        }
        Box::pin(async move { if i == n { Err(injected(step)) } else { Ok(()) } })
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prune_stopped_at_any_step_leaves_every_snapshot_restorable() -> TestResult {
    let expected_steps = [
        Step::PruneAfterMark,
        Step::PruneAfterRepack,
        Step::PruneAfterIndex,
        Step::PruneAfterDelete,
        Step::PruneAfterDelete,
    ];
    for n in 0..=expected_steps.len() {
        let mut env = every_step_to_do().await?;
        let hits = Arc::new(AtomicUsize::new(0));
        let steps = Arc::new(std::sync::Mutex::new(Vec::new()));
        let opts = PruneOptions {
            failpoints: fail_at(n, hits.clone(), steps.clone()),
            ..marking(chrono::TimeDelta::zero())
        };
        let r = env.prune(&opts).await;
        let seen = steps.lock().map(|s| s.clone()).unwrap_or_default();
        if n == expected_steps.len() {
            let r = r?;
            assert_eq!(seen, expected_steps, "every step is passed once");
            assert!(r.packs_repacked == 1 && r.packs_deleted >= 2, "{r:?}");
        } else {
            assert!(r.is_err(), "the failpoint at step {n} did not stop prune");
            assert_eq!(seen, expected_steps[..=n], "stopped at step {n}");
        }
        env.assert_sound(&format!("stopped after {:?} #{n}", seen.last()))
            .await?;
        // Later prunes finish the work and leave nothing behind.
        for _ in 0..3 {
            env.prune(&marking(chrono::TimeDelta::zero())).await?;
        }
        let last = env.prune(&marking(chrono::TimeDelta::zero())).await?;
        assert_eq!(
            (
                last.packs_marked,
                last.marked_waiting,
                last.packs_deleted,
                last.unindexed_deleted
            ),
            (0, 0, 0, 0),
            "step {n}: {last:?}"
        );
        env.assert_sound(&format!("step {n}, after the next prunes"))
            .await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_removes_stale_temp_files_but_not_in_a_dry_run() -> TestResult {
    let (mut env, _, _) = one_forgotten_snapshot().await?;
    let tmp = env.t.root().join(holdfast_store::TEMP_DIR);
    fs::create_dir_all(&tmp)?;
    let leftover = tmp.join("killed-write");
    fs::write(&leftover, vec![7u8; 4096])?;
    let an_hour_ago = filetime::FileTime::from_unix_time(chrono::Utc::now().timestamp() - 7200, 0);
    filetime::set_file_mtime(&leftover, an_hour_ago)?;
    let dry = env
        .prune(&PruneOptions {
            dry_run: true,
            ..PruneOptions::default()
        })
        .await?;
    assert_eq!(dry.temp_files_removed, 0, "{dry:?}");
    assert!(leftover.exists(), "a dry run removed a temp file");
    let r = env.prune(&PruneOptions::default()).await?;
    assert_eq!(
        (r.temp_files_removed, r.temp_bytes_removed),
        (1, 4096),
        "{r:?}"
    );
    assert!(!leftover.exists());
    env.assert_sound("after removing temp files").await?;
    Ok(())
}
