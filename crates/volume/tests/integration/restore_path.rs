//! Restoring one path of a snapshot into its live volume, and its undo
//! (`holdfast_volume::restore::path`), in process against a `memory://` repository: a
//! file, a folder, a path that was gone, a writer appending elsewhere the whole time,
//! and a crash at every step of the swap (a hook that stops it there exactly as a kill
//! would, then the guard's recovery).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use holdfast_repo::{Id, IndexedRepository, InitOptions, KdfParams, Progress, Snapshot};
use holdfast_volume::backup::{VolumeBackupOptions, backup_volume};
use holdfast_volume::config::Config;
use holdfast_volume::guard::{Door, enter};
use holdfast_volume::restore::kept::{self, State};
use holdfast_volume::restore::path::{PathError, PathOptions, restore_path, undo_path};
use holdfast_volume::swap::{Hook, Step};

async fn repo() -> IndexedRepository {
    let store = holdfast_store::Store::open("memory://").expect("store");
    let opts = InitOptions {
        password: "pw".into(),
        kdf: KdfParams::insecure_fast(),
    };
    holdfast_repo::init(store, &opts)
        .await
        .expect("init")
        .load_index()
        .await
        .expect("index")
}

fn config(dir: &Path) -> Config {
    format!(
        "[[volumes]]\nname = \"data\"\npath = \"{}\"\n",
        dir.display()
    )
    .parse()
    .expect("config")
}

async fn backup(repo: &mut IndexedRepository, cfg: &Config) -> (Id, Snapshot) {
    let s = backup_volume(repo, &cfg.volumes[0], &VolumeBackupOptions::default())
        .await
        .expect("backup");
    repo.find_snapshot(&s.id.to_hex()).await.expect("find")
}

/// Every entry below `dir` but holdfast's state: files with their content, directories
/// as `/`.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".holdfast")
        .filter_map(Result::ok)
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .expect("below")
                .display()
                .to_string();
            let text = if e.file_type().is_dir() {
                "/".to_string()
            } else {
                std::fs::read_to_string(e.path()).expect("read")
            };
            (rel, text)
        })
        .collect()
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// A volume with a file and a folder, its snapshot, then changes after it.
async fn set_up() -> (tempfile::TempDir, Config, IndexedRepository, Id, Snapshot) {
    let vol = tempfile::tempdir().expect("volume");
    write(vol.path(), "a.txt", "one");
    write(vol.path(), "uploads/x/1.jpg", "first");
    write(vol.path(), "uploads/x/2.jpg", "second");
    write(vol.path(), "uploads/3.jpg", "third");
    write(vol.path(), "other.txt", "other");
    let cfg = config(vol.path());
    let mut repo = repo().await;
    let (id, snap) = backup(&mut repo, &cfg).await;
    write(vol.path(), "a.txt", "changed");
    write(vol.path(), "uploads/x/1.jpg", "overwritten");
    std::fs::remove_file(vol.path().join("uploads/x/2.jpg")).expect("rm");
    write(vol.path(), "uploads/new.jpg", "new");
    write(vol.path(), "later.txt", "later");
    (vol, cfg, repo, id, snap)
}

#[tokio::test]
async fn a_file_comes_back_and_the_undo_puts_the_replaced_one_back() {
    let (vol, cfg, repo, id, snap) = set_up().await;
    let before = tree(vol.path());
    let progress = Arc::new(Progress::default());
    let opts = PathOptions {
        progress: Some(progress.clone()),
        ..Default::default()
    };
    let done = restore_path(&repo, &cfg.volumes[0], id, &snap, "a.txt", &opts)
        .await
        .expect("restore");
    assert_eq!((done.files, done.bytes), (1, 3));
    assert_eq!(progress.get(), (3, 3));
    let mut want = before.clone();
    want.insert("a.txt".into(), "one".into());
    assert_eq!(tree(vol.path()), want);
    assert_eq!(done.kept.went_aside, ["a.txt"]);
    assert_eq!(done.kept.came_in, ["a.txt"]);
    let kept_file = kept::kept_dir(vol.path(), &done.kept.id).join("a.txt");
    assert_eq!(std::fs::read_to_string(kept_file).expect("kept"), "changed");
    assert_eq!(kept::state(vol.path(), &done.kept), State::Done);

    let undo = undo_path(&cfg.volumes[0], &done.kept.id, &PathOptions::default()).expect("undo");
    assert_eq!(tree(vol.path()), before);
    assert_eq!(undo.kept.undoes.as_deref(), Some(done.kept.id.as_str()));
    let first = kept::read(vol.path(), &done.kept.id)
        .expect("read")
        .expect("kept");
    assert_eq!(first.undone_by.as_deref(), Some(undo.kept.id.as_str()));
    assert!(!kept::kept_dir(vol.path(), &done.kept.id).exists());
    let again = undo_path(&cfg.volumes[0], &done.kept.id, &PathOptions::default());
    assert!(
        matches!(again, Err(PathError::NotUndoable { .. })),
        "{again:?}"
    );
    // The undo is itself kept: undoing it restores the snapshot's file again.
    undo_path(&cfg.volumes[0], &undo.kept.id, &PathOptions::default()).expect("redo");
    assert_eq!(
        std::fs::read_to_string(vol.path().join("a.txt")).expect("a"),
        "one"
    );
}

#[tokio::test]
async fn a_folder_comes_back_as_it_was_and_the_undo_restores_the_changed_one() {
    let (vol, cfg, repo, id, snap) = set_up().await;
    let before = tree(vol.path());
    let done = restore_path(
        &repo,
        &cfg.volumes[0],
        id,
        &snap,
        "uploads",
        &PathOptions::default(),
    )
    .await
    .expect("restore");
    let mut want: BTreeMap<String, String> = before
        .iter()
        .filter(|(k, _)| !k.starts_with("uploads"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in [
        ("uploads", "/"),
        ("uploads/x", "/"),
        ("uploads/x/1.jpg", "first"),
        ("uploads/x/2.jpg", "second"),
        ("uploads/3.jpg", "third"),
    ] {
        want.insert(k.into(), v.into());
    }
    assert_eq!(tree(vol.path()), want);
    assert_eq!(done.files, 3);
    undo_path(&cfg.volumes[0], &done.kept.id, &PathOptions::default()).expect("undo");
    assert_eq!(tree(vol.path()), before);
}

#[tokio::test]
async fn a_path_that_was_gone_comes_in_with_its_folder_and_the_undo_removes_it() {
    let (vol, cfg, repo, id, snap) = set_up().await;
    std::fs::remove_dir_all(vol.path().join("uploads")).expect("rm");
    let before = tree(vol.path());
    let done = restore_path(
        &repo,
        &cfg.volumes[0],
        id,
        &snap,
        "uploads/x/1.jpg",
        &PathOptions::default(),
    )
    .await
    .expect("restore");
    assert_eq!(done.kept.came_in, ["uploads"]);
    assert!(done.kept.went_aside.is_empty());
    let mut want = before.clone();
    for (k, v) in [
        ("uploads", "/"),
        ("uploads/x", "/"),
        ("uploads/x/1.jpg", "first"),
    ] {
        want.insert(k.into(), v.into());
    }
    assert_eq!(tree(vol.path()), want);
    undo_path(&cfg.volumes[0], &done.kept.id, &PathOptions::default()).expect("undo");
    assert_eq!(tree(vol.path()), before);
}

#[tokio::test]
async fn escaping_paths_other_volumes_and_absent_paths_are_refused_untouched() {
    let (vol, cfg, repo, id, snap) = set_up().await;
    let before = tree(vol.path());
    std::os::unix::fs::symlink("/etc", vol.path().join("link")).expect("symlink");
    for bad in [
        "../etc/passwd",
        "/etc/passwd",
        "a/../b",
        "",
        "a\0b",
        ".holdfast/kept",
        ".holdfast-databases/x",
        "link/passwd",
    ] {
        let r = restore_path(
            &repo,
            &cfg.volumes[0],
            id,
            &snap,
            bad,
            &PathOptions::default(),
        )
        .await;
        assert!(
            matches!(r, Err(PathError::Refused { .. })),
            "{bad:?}: {r:?}"
        );
    }
    let r = restore_path(
        &repo,
        &cfg.volumes[0],
        id,
        &snap,
        "nope.txt",
        &PathOptions::default(),
    )
    .await;
    assert!(matches!(r, Err(PathError::NotInSnapshot { .. })), "{r:?}");
    std::fs::remove_file(vol.path().join("link")).expect("rm");
    assert_eq!(tree(vol.path()), before);
    assert!(kept::list(vol.path()).is_empty());
    let mut other = snap.clone();
    other.volume = Some("elsewhere".into());
    let r = restore_path(
        &repo,
        &cfg.volumes[0],
        id,
        &other,
        "a.txt",
        &PathOptions::default(),
    )
    .await;
    assert!(matches!(r, Err(PathError::Refused { .. })), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_appending_to_another_file_the_whole_time_is_untouched() {
    let (vol, cfg, repo, id, snap) = set_up().await;
    let log = vol.path().join("log.txt");
    std::fs::write(&log, "").expect("log");
    let stop = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let writer = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&log)
                .expect("open log");
            let mut n = 0u64;
            loop {
                writeln!(f, "line {n}").expect("append");
                n += 1;
                if n == 1 {
                    started_tx.send(()).expect("started");
                }
                if stop.load(Ordering::Relaxed) {
                    return n;
                }
            }
        })
    };
    started_rx.recv().expect("writer started");
    for _ in 0..3 {
        let done = restore_path(
            &repo,
            &cfg.volumes[0],
            id,
            &snap,
            "uploads",
            &PathOptions::default(),
        )
        .await
        .expect("restore");
        undo_path(&cfg.volumes[0], &done.kept.id, &PathOptions::default()).expect("undo");
    }
    stop.store(true, Ordering::Relaxed);
    let n = writer.join().expect("writer");
    let text = std::fs::read_to_string(&log).expect("log");
    let want: String = (0..n).map(|i| format!("line {i}\n")).collect();
    assert!(n > 1);
    assert!(text == want, "the log lost or reordered lines: {n} written");
}

/// A hook that records the steps and fails at the `n`-th one (from 0).
fn hook(fail_at: Option<usize>) -> (Hook, Arc<Mutex<Vec<Step>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let h: Hook = Arc::new(move |step| {
        let mut seen = s.lock().expect("lock");
        seen.push(step);
        if Some(seen.len() - 1) == fail_at {
            return Err(std::io::Error::other("simulated crash"));
        }
        Ok(())
    });
    (h, seen)
}

#[tokio::test]
async fn a_crash_at_every_step_of_a_restore_and_of_its_undo_leaves_old_or_new_whole() {
    let (vol, cfg, repo, id, snap) = set_up().await;
    let old = tree(vol.path());
    let (h, seen) = hook(None);
    let opts = PathOptions {
        hook: Some(h),
        ..Default::default()
    };
    let done = restore_path(&repo, &cfg.volumes[0], id, &snap, "uploads", &opts)
        .await
        .expect("restore");
    let new = tree(vol.path());
    undo_path(&cfg.volumes[0], &done.kept.id, &PathOptions::default()).expect("undo");
    assert_eq!(tree(vol.path()), old);
    let steps = seen.lock().expect("lock").len();
    assert!(steps >= 11, "{steps} steps");

    for n in 0..steps {
        let (vol, cfg, repo, id, snap) = set_up().await;
        let volume = &cfg.volumes[0];
        let (h, seen) = hook(Some(n));
        let opts = PathOptions {
            hook: Some(h),
            ..Default::default()
        };
        let r = restore_path(&repo, volume, id, &snap, "uploads", &opts).await;
        let step = *seen.lock().expect("lock").last().expect("a step");
        assert!(r.is_err(), "step {step}: {r:?}");
        enter(volume, Door::Replace).expect("recovered");
        let now = tree(vol.path());
        assert!(now == old || now == new, "step {step}: {now:?}");
        let manifests = kept::list(vol.path());
        let rolled_forward = now == new;
        if rolled_forward {
            assert_eq!(manifests.len(), 1, "step {step}");
            assert_eq!(kept::state(vol.path(), &manifests[0]), State::Done);
            // Undo after the crash, crashing at its n-th step too, then recover.
            let (h, _) = hook(Some(n));
            let opts = PathOptions {
                hook: Some(h),
                ..Default::default()
            };
            let _ = undo_path(volume, &manifests[0].id, &opts);
            enter(volume, Door::Replace).expect("recovered");
            let after = tree(vol.path());
            assert!(after == old || after == new, "undo step {step}: {after:?}");
            if after == new {
                undo_path(volume, &manifests[0].id, &PathOptions::default()).expect("undo");
            }
            assert_eq!(tree(vol.path()), old, "undo step {step}");
        } else {
            assert!(
                manifests
                    .iter()
                    .all(|k| kept::state(vol.path(), k) == State::Void),
                "step {step}"
            );
            let r = restore_path(&repo, volume, id, &snap, "uploads", &PathOptions::default())
                .await
                .expect("restore after the crash");
            assert_eq!(tree(vol.path()), new, "step {step}");
            assert_eq!(kept::list(vol.path()), vec![r.kept], "step {step}");
        }
        let leftovers: Vec<_> = std::fs::read_dir(vol.path().join(".holdfast/swap"))
            .expect("swap dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .filter(|n| n != "lock")
            .collect();
        assert!(leftovers.is_empty(), "step {step}: {leftovers:?}");
    }
}
