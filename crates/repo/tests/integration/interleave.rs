//! The invariant of docs/FORMAT.md ("Invariant"), tried by driving a backup and a prune
//! through every pair of their failpoints: no interleaving deletes or damages a blob that
//! a committed snapshot references.
//!
//! Each trial starts from a repository whose only snapshot lacks `x/`, while the blobs of
//! `x/` are still indexed (an older snapshot that held them was forgotten), and the source
//! holds `x/` again: the next backup deduplicates against exactly the packs that prune
//! wants to remove. One client is parked at one of its steps while the other runs to one of
//! its own steps; then the first goes on, then the second. The second client judges every
//! lock stale (a stale window of zero), as a real client does once the first has been
//! paused past the window, so the pairs that a fresh lock would keep apart do meet. After
//! each trial a new backup of the same data succeeds, every listed snapshot restores
//! byte-exact and `verify --read-data` is clean, and they still are after a later prune
//! with no grace period. Pairs whose second client's clock is off are real processes
//! (crates/cli/tests/integration/repo_pause.rs).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use holdfast_repo::{
    BackupOptions, Failpoints, Id, IndexedRepository, LockOptions, PruneOptions, RestoreOptions,
    Step, VerifyOptions,
};
use tokio::sync::{Notify, oneshot};

use super::util::{Meta, TestRepo, TestResult, pseudo_random, snapshot_of};

const BACKUP_STEPS: [Step; 5] = [
    Step::BackupLocked,
    Step::BackupAfterUpload,
    Step::BackupAfterIndex,
    Step::BackupBeforeSnapshot,
    Step::BackupAfterSnapshot,
];
const PRUNE_STEPS: [Step; 4] = [
    Step::PruneAfterMark,
    Step::PruneAfterRepack,
    Step::PruneAfterIndex,
    Step::PruneAfterDelete,
];

/// A failpoint that parks its operation at `step` (the first time) until released.
struct Gate {
    arrived: Option<oneshot::Receiver<()>>,
    go: Arc<Notify>,
}

fn gate(step: Step) -> (Failpoints, Gate) {
    let (tx, rx) = oneshot::channel();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let go = Arc::new(Notify::new());
    let g = go.clone();
    let fp = Failpoints::new(move |s| {
        let first = if s == step {
            tx.lock().ok().and_then(|mut t| t.take())
        } else {
            None
        };
        let go = g.clone();
        Box::pin(async move {
            if let Some(tx) = first {
                let _ = tx.send(());
                go.notified().await;
            }
            Ok(())
        })
    });
    (
        fp,
        Gate {
            arrived: Some(rx),
            go,
        },
    )
}

type Expected = Arc<Mutex<HashMap<Id, std::collections::BTreeMap<std::path::PathBuf, Meta>>>>;

struct Trial {
    t: TestRepo,
    repo: IndexedRepository,
    src: std::path::PathBuf,
    expected: Expected,
}

fn write_x(src: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(src.join("x"))?;
    for i in 0..6u64 {
        std::fs::write(
            src.join(format!("x/{i}.bin")),
            pseudo_random(96 * 1024, 100 + i),
        )?;
    }
    Ok(())
}

async fn setup() -> Result<Trial, Box<dyn std::error::Error>> {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    std::fs::create_dir_all(&src)?;
    std::fs::write(src.join("keep.txt"), "always here\n")?;
    write_x(&src)?;
    let expected: Expected = Arc::default();
    let first = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    std::fs::rename(src.join("x"), t.dir.path().join("x-away"))?;
    let second = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    expected
        .lock()
        .map_err(|_| "poisoned")?
        .insert(second.id, snapshot_of(&src)?);
    // Forget the first snapshot: the blobs of x/ are indexed but unreferenced.
    repo.store()
        .delete_file(&format!("snapshots/{}", first.id))
        .await?;
    std::fs::rename(t.dir.path().join("x-away"), src.join("x"))?;
    Ok(Trial {
        t,
        repo,
        src,
        expected,
    })
}

fn steal() -> LockOptions {
    LockOptions {
        stale_after: chrono::TimeDelta::zero(),
        retries: 0,
        ..LockOptions::default()
    }
}

fn prune_opts(step: Option<Step>, instant: bool) -> (PruneOptions, Option<Gate>) {
    let (fp, g) = match step {
        Some(s) => {
            let (fp, g) = gate(s);
            (fp, Some(g))
        }
        None => (Failpoints::default(), None),
    };
    (
        PruneOptions {
            instant_delete: instant,
            failpoints: fp,
            lock: steal(),
            ..PruneOptions::default()
        },
        g,
    )
}

type Done<T> = tokio::task::JoinHandle<holdfast_repo::Result<T>>;

/// Waits until the operation reaches its gate or ends (its failpoints, and with them the
/// sender, are dropped); true when it is parked.
async fn parked(g: &mut Option<Gate>) -> bool {
    match g.as_mut().and_then(|g| g.arrived.take()) {
        Some(rx) => rx.await.is_ok(),
        None => false,
    }
}

fn release(g: &Option<Gate>) {
    if let Some(g) = g {
        g.go.notify_one();
    }
}

fn spawn_backup(trial: &Trial, step: Step, lock: LockOptions) -> (Done<Id>, Option<Gate>) {
    let (fp, g) = gate(step);
    let mut repo = trial.repo.clone();
    let src = trial.src.clone();
    let expected = trial.expected.clone();
    let task = tokio::spawn(async move {
        let opts = BackupOptions {
            failpoints: fp,
            lock,
            ..BackupOptions::new(&src)
        };
        let s = holdfast_repo::backup(&mut repo, &opts).await?;
        if let Ok(tree) = snapshot_of(&src)
            && let Ok(mut e) = expected.lock()
        {
            e.insert(s.id, tree);
        }
        Ok(s.id)
    });
    (task, Some(g))
}

fn spawn_prune(trial: &Trial, step: Option<Step>, instant: bool) -> (Done<()>, Option<Gate>) {
    let (opts, g) = prune_opts(step, instant);
    let repo = trial.repo.clone();
    let task = tokio::spawn(async move { holdfast_repo::prune(&repo, &opts).await.map(|_| ()) });
    (task, g)
}

/// Every listed snapshot restores byte-exact; verify --read-data finds nothing.
async fn check(trial: &Trial, what: &str) -> TestResult {
    let repo = trial.t.open("pw").await?;
    let irepo = repo.load_index().await?;
    let expected = trial.expected.lock().map_err(|_| "poisoned")?.clone();
    let listed = repo.snapshots().await?;
    assert!(!listed.is_empty(), "{what}: no snapshot left");
    for (id, snap) in &listed {
        let want = expected.get(id).ok_or_else(|| {
            format!("{what}: snapshot {id} listed but never reported as committed")
        })?;
        let target = trial.t.dir.path().join(format!("restore-{}", id.short()));
        let r = holdfast_repo::restore(
            &irepo,
            snap,
            &RestoreOptions {
                target: target.clone(),
                ..Default::default()
            },
        )
        .await?;
        assert!(
            r.damaged.is_empty(),
            "{what}: snapshot {id}: {:?}",
            r.damaged
        );
        assert_eq!(
            &snapshot_of(&target)?,
            want,
            "{what}: snapshot {id} differs"
        );
        std::fs::remove_dir_all(&target)?;
    }
    let v = holdfast_repo::verify(
        &repo,
        &VerifyOptions {
            read_data: true,
            ..Default::default()
        },
    )
    .await?;
    assert!(v.problems.is_empty(), "{what}: {:?}", v.problems);
    Ok(())
}

/// After the trial: a new backup of the same data (it must not deduplicate against
/// anything the pair left behind without its pack), the first check, then a prune that
/// deletes every mark at once (as a prune a day later would), then the check again.
async fn settle(trial: &Trial, what: &str) -> TestResult {
    let mut repo = trial.repo.clone();
    let next = holdfast_repo::backup(&mut repo, &BackupOptions::new(&trial.src))
        .await
        .map_err(|e| format!("{what}: the next backup: {e}"))?;
    trial
        .expected
        .lock()
        .map_err(|_| "poisoned")?
        .insert(next.id, snapshot_of(&trial.src)?);
    check(trial, what).await?;
    let later = PruneOptions {
        mark_grace: chrono::TimeDelta::zero(),
        unindexed_grace: chrono::TimeDelta::zero(),
        ..PruneOptions::default()
    };
    holdfast_repo::prune(&trial.repo, &later).await?;
    check(trial, &format!("{what}, after a later prune")).await
}

async fn backup_parked_while_prune_runs(instant: bool) -> TestResult {
    for b in BACKUP_STEPS {
        for p in PRUNE_STEPS.map(Some).into_iter().chain([None]) {
            let what = format!("backup at {b}, prune at {p:?}, instant {instant}");
            let trial = setup().await?;
            let (backup, mut bg) = spawn_backup(&trial, b, LockOptions::default());
            let held = parked(&mut bg).await;
            assert!(held, "{what}: the backup never reached its step");
            let (prune, mut pg) = spawn_prune(&trial, p, instant);
            let mut prune = Some(prune);
            let mut pruned = None;
            if !parked(&mut pg).await
                && let Some(task) = prune.take()
            {
                // No gate, or the prune ended before it: it ran to its end.
                pruned = Some(task.await?);
            }
            release(&bg);
            let backed = backup.await?;
            release(&pg);
            let pruned = match (pruned, prune) {
                (Some(r), _) => r,
                (None, Some(task)) => task.await?,
                (None, None) => Ok(()),
            };
            // A backup whose lock was taken from it before it committed must fail.
            if b != Step::BackupAfterSnapshot {
                assert!(
                    matches!(backed, Err(holdfast_repo::Error::LockLost { .. })),
                    "{what}: the backup must not commit without its lock: {backed:?}"
                );
            }
            if let Err(e) = &pruned {
                assert!(
                    matches!(e, holdfast_repo::Error::LockLost { .. }),
                    "{what}: prune: {e}"
                );
            }
            settle(&trial, &what).await?;
        }
    }
    Ok(())
}

async fn prune_parked_while_backup_runs(instant: bool) -> TestResult {
    for p in PRUNE_STEPS {
        for b in BACKUP_STEPS {
            let what = format!("prune at {p}, backup at {b}, instant {instant}");
            let trial = setup().await?;
            let (prune, mut pg) = spawn_prune(&trial, Some(p), instant);
            let held = parked(&mut pg).await;
            assert!(
                held || p == Step::PruneAfterRepack || p == Step::PruneAfterDelete,
                "{what}: the prune never reached its step"
            );
            let (backup, mut bg) = spawn_backup(&trial, b, steal());
            parked(&mut bg).await;
            release(&pg);
            let pruned = prune.await?;
            release(&bg);
            let backed = backup.await?;
            if let Err(e) = &pruned {
                assert!(
                    matches!(e, holdfast_repo::Error::LockLost { .. }),
                    "{what}: prune: {e}"
                );
            }
            if let Err(e) = &backed {
                assert!(
                    matches!(e, holdfast_repo::Error::LockLost { .. }),
                    "{what}: backup: {e}"
                );
            }
            settle(&trial, &what).await?;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_parked_at_each_step_while_prune_runs_to_each_step() -> TestResult {
    backup_parked_while_prune_runs(false).await
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_parked_at_each_step_while_instant_prune_runs_to_each_step() -> TestResult {
    backup_parked_while_prune_runs(true).await
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_parked_at_each_step_while_backup_runs_to_each_step() -> TestResult {
    prune_parked_while_backup_runs(false).await
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_parked_at_each_step_while_backup_runs_instantly_to_each_step() -> TestResult {
    prune_parked_while_backup_runs(true).await
}

/// Finding: a backup released its lock before writing its index and snapshot, so a prune
/// that ran in between deleted the data of the snapshot it then committed (exit 0).
#[tokio::test(flavor = "multi_thread")]
async fn backup_commits_under_its_lock_so_prune_waits() -> TestResult {
    for step in [
        Step::BackupAfterUpload,
        Step::BackupAfterIndex,
        Step::BackupBeforeSnapshot,
    ] {
        let what = format!("backup at {step}");
        let trial = setup().await?;
        let (backup, mut bg) = spawn_backup(&trial, step, LockOptions::default());
        assert!(parked(&mut bg).await, "{what}");
        // A prune that respects fresh locks must be refused while the backup is parked.
        let opts = PruneOptions {
            instant_delete: true,
            lock: LockOptions {
                retries: 0,
                ..LockOptions::default()
            },
            ..PruneOptions::default()
        };
        let refused = holdfast_repo::prune(&trial.repo, &opts).await;
        assert!(
            matches!(refused, Err(holdfast_repo::Error::Locked { .. })),
            "{what}: prune ran beside an uncommitted backup: {refused:?}"
        );
        release(&bg);
        backup.await??;
        settle(&trial, &what).await?;
    }
    Ok(())
}
