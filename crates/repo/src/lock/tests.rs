use super::*;
use crate::test_support::memory_repo as repo;

fn quick() -> LockOptions {
    LockOptions {
        retries: 1,
        max_backoff: Duration::from_millis(1),
        ..LockOptions::default()
    }
}

fn foreign(exclusive: bool, age: chrono::TimeDelta) -> LockInfo {
    LockInfo {
        exclusive,
        hostname: "other-host".into(),
        pid: 4242,
        time: chrono::Utc::now() - age,
    }
}

#[tokio::test]
async fn shared_locks_coexist_and_exclusive_waits_for_them() -> Result<()> {
    let repo = repo().await?;
    let a = Lock::acquire_with(&repo, false, &quick()).await?;
    let b = Lock::acquire_with(&repo, false, &quick()).await?;
    assert_eq!(list_locks(&repo).await?.len(), 2);
    let refused = Lock::acquire_with(&repo, true, &quick()).await;
    assert!(matches!(refused, Err(Error::Locked { .. })), "{refused:?}");
    a.release().await?;
    b.release().await?;
    let x = Lock::acquire_with(&repo, true, &quick()).await?;
    let shared = Lock::acquire_with(&repo, false, &quick()).await;
    assert!(matches!(shared, Err(Error::Locked { .. })));
    x.release().await?;
    assert!(list_locks(&repo).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn conflict_message_names_host_pid_and_time() -> Result<()> {
    let repo = repo().await?;
    let info = foreign(true, chrono::TimeDelta::minutes(1));
    store_lock(&repo, "locks/held", &info).await?;
    let Err(e) = Lock::acquire_with(&repo, false, &quick()).await else {
        panic!("a fresh exclusive lock must block a shared one");
    };
    let msg = e.to_string();
    assert!(
        msg.contains("pid 4242") && msg.contains("other-host"),
        "{msg}"
    );
    assert!(
        msg.contains(&info.time.format("%Y-%m-%dT%H:%M:%S").to_string()),
        "{msg}"
    );
    // Only the holder's lock is left: the refused client removed its own.
    assert_eq!(list_locks(&repo).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn stale_locks_are_removed_by_the_next_client() -> Result<()> {
    let repo = repo().await?;
    store_lock(
        &repo,
        "locks/old",
        &foreign(true, chrono::TimeDelta::minutes(31)),
    )
    .await?;
    let dead = LockInfo {
        hostname: crate::snapshot::hostname(),
        pid: u32::MAX,
        ..foreign(true, chrono::TimeDelta::zero())
    };
    store_lock(&repo, "locks/dead", &dead).await?;
    let x = Lock::acquire_with(&repo, true, &quick()).await?;
    let keys: Vec<String> = list_locks(&repo)
        .await?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec![x.key().to_owned()]);
    x.release().await?;
    Ok(())
}

#[tokio::test]
async fn custom_stale_time_applies() -> Result<()> {
    let repo = repo().await?;
    store_lock(
        &repo,
        "locks/a",
        &foreign(false, chrono::TimeDelta::seconds(10)),
    )
    .await?;
    let strict = LockOptions {
        stale_after: chrono::TimeDelta::seconds(5),
        ..quick()
    };
    assert!(Lock::acquire_with(&repo, true, &quick()).await.is_err());
    Lock::acquire_with(&repo, true, &strict)
        .await?
        .release()
        .await?;
    Ok(())
}

#[tokio::test]
async fn unlock_removes_stale_or_all() -> Result<()> {
    let repo = repo().await?;
    store_lock(
        &repo,
        "locks/old",
        &foreign(false, chrono::TimeDelta::hours(2)),
    )
    .await?;
    store_lock(
        &repo,
        "locks/new",
        &foreign(false, chrono::TimeDelta::zero()),
    )
    .await?;
    let r = unlock(&repo, &UnlockOptions::default()).await?;
    assert_eq!(
        r.removed
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>(),
        ["locks/old"]
    );
    assert_eq!(r.kept.len(), 1);
    let all = UnlockOptions {
        all: true,
        ..UnlockOptions::default()
    };
    assert_eq!(unlock(&repo, &all).await?.removed.len(), 1);
    assert!(list_locks(&repo).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_exclusive_clients_never_hold_the_lock_together() -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let repo = repo().await?;
    let holders = Arc::new(AtomicUsize::new(0));
    let opts = LockOptions {
        retries: 20,
        max_backoff: Duration::from_millis(5),
        ..LockOptions::default()
    };
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (repo, holders, opts) = (repo.clone(), holders.clone(), opts.clone());
        tasks.spawn(async move {
            let lock = Lock::acquire_with(&repo, true, &opts).await?;
            let before = holders.fetch_add(1, Ordering::SeqCst);
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            holders.fetch_sub(1, Ordering::SeqCst);
            lock.release().await?;
            Ok::<usize, Error>(before)
        });
    }
    let mut won = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(|e| Error::Invalid(e.to_string()))? {
            Ok(before) => {
                assert_eq!(before, 0, "two exclusive holders at once");
                won += 1;
            }
            Err(Error::Locked { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    assert!(won >= 1);
    assert!(list_locks(&repo).await?.is_empty());
    Ok(())
}

/// Finding: unreadable lock objects counted as absent, so a damaged lock let a prune run
/// beside the backup that wrote it.
#[tokio::test]
async fn unreadable_lock_blocks_and_is_named() -> Result<()> {
    let repo = repo().await?;
    repo.store()
        .write("locks/garbled", Bytes::from_static(b"not a sealed lock"))
        .await?;
    for exclusive in [false, true] {
        let refused = Lock::acquire_with(&repo, exclusive, &quick()).await;
        let Err(Error::Locked { holder, .. }) = refused else {
            panic!("an unreadable lock must block: {refused:?}");
        };
        assert!(holder.contains("unreadable lock locks/garbled"), "{holder}");
    }
    // `unlock` without --all keeps it; --all removes it.
    assert_eq!(
        unlock(&repo, &UnlockOptions::default()).await?.kept.len(),
        1
    );
    let all = UnlockOptions {
        all: true,
        ..UnlockOptions::default()
    };
    assert_eq!(unlock(&repo, &all).await?.removed.len(), 1);
    Lock::acquire_with(&repo, true, &quick())
        .await?
        .release()
        .await?;
    Ok(())
}

/// Finding: the refresher silently re-created a lock another client had removed as stale.
#[tokio::test]
async fn refresher_never_recreates_a_removed_lock_and_cancels_the_holder() -> Result<()> {
    let repo = repo().await?;
    let opts = LockOptions {
        refresh_every: Duration::from_millis(1),
        ..quick()
    };
    let lock = Lock::acquire_with(&repo, false, &opts).await?;
    let token = lock.token();
    repo.store().delete_file(lock.key()).await?;
    token.cancelled().await;
    assert!(
        lock.lost().is_some_and(|r| r.contains("removed")),
        "{:?}",
        lock.lost()
    );
    assert!(
        list_locks(&repo).await?.is_empty(),
        "the lock was re-created"
    );
    let checked = lock.check().await;
    assert!(
        matches!(checked, Err(Error::LockLost { .. })),
        "{checked:?}"
    );
    Ok(())
}

/// Finding: a holder paused past the stale window went on as if it still held its lock.
#[tokio::test]
async fn a_lock_not_refreshed_within_its_window_is_lost() -> Result<()> {
    let repo = repo().await?;
    // A stale window of zero: every moment after the last write is too late.
    let opts = LockOptions {
        stale_after: chrono::TimeDelta::zero(),
        ..quick()
    };
    let lock = Lock::acquire_with(&repo, false, &opts).await?;
    let checked = lock.check().await;
    let Err(Error::LockLost { reason, .. }) = checked else {
        panic!("an expired lock must be lost: {checked:?}");
    };
    assert!(reason.contains("not refreshed"), "{reason}");
    assert!(lock.token().is_cancelled());
    Ok(())
}

#[tokio::test]
async fn a_live_lock_passes_its_check_and_cancelling_the_parent_cancels_it() -> Result<()> {
    let repo = repo().await?;
    let parent = CancellationToken::new();
    let lock = Lock::acquire_for(&repo, false, &quick(), &parent).await?;
    lock.check().await?;
    parent.cancel();
    assert!(lock.token().is_cancelled());
    assert!(matches!(lock.check().await, Err(Error::Cancelled(_))));
    lock.release().await?;
    assert!(list_locks(&repo).await?.is_empty());
    Ok(())
}

/// A repository in a temporary directory: a store that keeps modification times.
async fn file_repo() -> Result<(tempfile::TempDir, Repository)> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
    let store = holdfast_store::Store::open(&format!("file://{}", dir.path().display()))?;
    let opts = crate::repository::InitOptions {
        password: "one".into(),
        kdf: crate::crypto::KdfParams::insecure_fast(),
    };
    let repo = crate::repository::init(store, &opts).await?;
    Ok((dir, repo))
}

/// Finding: a client whose clock ran 2 h ahead judged a live backup's lock stale and
/// pruned beside it. Staleness now follows the store's clock: a lock whose `time` says
/// hours ago (or years ahead) but whose object was just written is fresh, and one whose
/// object is old is stale whatever its `time` says.
#[tokio::test]
async fn staleness_follows_the_store_clock_not_the_time_in_the_lock() -> Result<()> {
    let (dir, repo) = file_repo().await?;
    // Written just now by a client whose clock is 26 h behind: fresh.
    store_lock(
        &repo,
        "locks/skewed",
        &foreign(true, chrono::TimeDelta::hours(26)),
    )
    .await?;
    let refused = Lock::acquire_with(&repo, false, &quick()).await;
    assert!(matches!(refused, Err(Error::Locked { .. })), "{refused:?}");
    // Its `time` says now, but the store last saw it written 2 h ago: stale.
    let path = dir.path().join("locks/skewed");
    store_lock(
        &repo,
        "locks/skewed",
        &foreign(true, chrono::TimeDelta::zero()),
    )
    .await?;
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    filetime::set_file_mtime(&path, filetime::FileTime::from_system_time(two_hours_ago))
        .map_err(|e| Error::io(&path, e))?;
    let held = Lock::acquire_with(&repo, false, &quick()).await?;
    assert!(!path.exists(), "the stale lock stays");
    // The store's clock is read from the own lock, within a second of this host's.
    assert!((held.store_now() - chrono::Utc::now()).num_seconds().abs() < 5);
    held.release().await?;
    Ok(())
}
