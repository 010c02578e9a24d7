//! The swap protocol (`holdfast_volume::swap`) with a simulated crash at every step, for
//! a whole-volume swap, a database with its sidecars, and a file whose directory is
//! missing: after the crash (and after a second crash during recovery), recovery leaves
//! the old or the new entries whole, nothing of the swap behind, the state directory
//! intact, and the next swap completes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use holdfast_volume::swap::{self, Action, Selection, Step, Swap, SwapError, SwapOptions};

type Tree = BTreeMap<String, Vec<u8>>;

/// Every entry below `root` but the state directory: path → contents (`<dir>` for dirs).
fn tree(root: &Path) -> Tree {
    let mut out = Tree::new();
    for e in walkdir(root) {
        let rel = e
            .strip_prefix(root)
            .expect("prefix")
            .to_string_lossy()
            .into_owned();
        if rel == ".holdfast" || rel.starts_with(".holdfast/") {
            continue;
        }
        let m = std::fs::symlink_metadata(&e).expect("stat");
        let v = if m.is_dir() {
            b"<dir>".to_vec()
        } else {
            std::fs::read(&e).expect("read")
        };
        out.insert(rel, v);
    }
    out
}

fn walkdir(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if std::fs::symlink_metadata(&p).expect("stat").is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// What is in the swap area besides its lock file.
fn swap_leftovers(root: &Path) -> Vec<PathBuf> {
    let area = root.join(".holdfast/swap");
    match std::fs::read_dir(&area) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name() != Some(std::ffi::OsStr::new("lock")))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// One scenario: how the volume looks before, what is staged, and what is selected.
struct Case {
    name: &'static str,
    old: &'static [(&'static str, &'static str)],
    staged: &'static [(&'static str, &'static str)],
    selection: fn() -> Selection,
}

const CASES: [Case; 3] = [
    Case {
        name: "whole volume",
        old: &[
            ("a", "old a"),
            ("b", "old b"),
            ("dir/x", "old x"),
            ("keep/y", "old y"),
        ],
        staged: &[
            ("a", "new a"),
            ("c", "new c"),
            ("dir/z", "new z"),
            ("e/f/g", "new g"),
        ],
        selection: || Selection::Whole,
    },
    Case {
        name: "database with sidecars",
        old: &[
            ("db/app.db", "old db"),
            ("db/app.db-wal", "old wal"),
            ("db/app.db-shm", "old shm"),
            ("db/other", "untouched"),
            ("top", "untouched"),
        ],
        staged: &[("db/app.db", "new db")],
        selection: || Selection::Paths {
            new: vec!["db/app.db".into()],
            old: holdfast_volume::sqlite::sidecars(Path::new("db/app.db")),
        },
    },
    Case {
        name: "missing file and directory",
        old: &[("top", "untouched"), ("db2/app.db-wal", "stale wal")],
        staged: &[("db/app.db", "new db"), ("db2/app.db", "new db2")],
        selection: || Selection::Paths {
            new: vec!["db/app.db".into(), "db2/app.db".into()],
            old: holdfast_volume::sqlite::sidecars(Path::new("db2/app.db")),
        },
    },
];

/// A scratch volume, in memory where the machine has /dev/shm (the many fsyncs of these
/// tests are then cheap; the logic is the same on any file system).
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().expect("tempdir")
}

fn prepare(case: &Case) -> (tempfile::TempDir, Tree) {
    let dir = scratch();
    let root = dir.path();
    for (rel, text) in case.old {
        write(root, rel, text);
    }
    write(root, ".holdfast/schedule.json", "state");
    let old = tree(root);
    (dir, old)
}

fn stage(case: &Case, s: &Swap) {
    for (rel, text) in case.staged {
        write(s.stage(), rel, text);
    }
}

/// The tree a completed swap of `case` gives.
fn expected_new(case: &Case) -> Tree {
    let (dir, _) = prepare(case);
    let s = Swap::begin(dir.path(), "test", SwapOptions::default()).expect("begin");
    stage(case, &s);
    s.commit((case.selection)()).expect("commit");
    tree(dir.path())
}

/// A hook that records every step, and fails at the `n`-th one (from 0) if asked.
fn hook(fail_at: Option<usize>) -> (SwapOptions, Arc<Mutex<Vec<Step>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let h: swap::Hook = Arc::new(move |step| {
        let mut v = s.lock().expect("steps");
        let n = v.len();
        v.push(step);
        if Some(n) == fail_at {
            return Err(std::io::Error::other("simulated crash"));
        }
        Ok(())
    });
    (
        SwapOptions {
            keep_old: false,
            hook: Some(h),
        },
        seen,
    )
}

/// Runs a swap of `case` that crashes at step `n`; returns whether it crashed.
fn crash_at(case: &Case, root: &Path, n: usize) -> bool {
    let (opts, _) = hook(Some(n));
    let s = match Swap::begin(root, "test swap", opts) {
        Ok(s) => s,
        Err(SwapError::Interrupted { .. }) => return true,
        Err(e) => panic!("{}: begin: {e}", case.name),
    };
    stage(case, &s);
    match s.commit((case.selection)()) {
        Ok(_) => false,
        Err(SwapError::Interrupted { .. }) => true,
        Err(e) => panic!("{}: commit: {e}", case.name),
    }
}

fn assert_clean(case: &Case, root: &Path, old: &Tree, new: &Tree, label: &str) {
    let now = tree(root);
    assert!(
        now == *old || now == *new,
        "{}: {label}: neither old nor new: {now:?}",
        case.name
    );
    assert!(
        swap_leftovers(root).is_empty(),
        "{}: {label}: {:?}",
        case.name,
        swap_leftovers(root)
    );
    assert_eq!(
        std::fs::read_to_string(root.join(".holdfast/schedule.json"))
            .ok()
            .as_deref(),
        Some("state"),
        "{}: {label}: the state directory survives",
        case.name
    );
}

#[test]
fn a_crash_at_every_swap_step_recovers_to_old_or_new_whole() {
    for case in &CASES {
        let new = expected_new(case);
        let (opts, seen) = hook(None);
        let (dir, old) = prepare(case);
        let s = Swap::begin(dir.path(), "test", opts).expect("begin");
        stage(case, &s);
        s.commit((case.selection)()).expect("commit");
        let steps = seen.lock().expect("steps").clone();
        assert!(steps.len() >= 9, "{}: {steps:?}", case.name);
        for (n, step) in steps.iter().enumerate() {
            let (dir, _) = prepare(case);
            let root = dir.path();
            assert!(
                crash_at(case, root, n),
                "{}: step {step} not reached",
                case.name
            );
            assert!(
                matches!(
                    Swap::begin(root, "next", SwapOptions::default()),
                    Err(SwapError::Pending { .. })
                ),
                "{}: a pending swap blocks the next one",
                case.name
            );
            let done = swap::recover(root, &SwapOptions::default()).expect("recover");
            let rolled_back =
                matches!(step, Step::Begun | Step::JournalStaging | Step::StageSynced);
            let want = if rolled_back { &old } else { &new };
            assert_eq!(
                &tree(root),
                want,
                "{}: crash after {step}: {done:?}",
                case.name
            );
            let actions: Vec<Action> = done.iter().map(|r| r.action).collect();
            match step {
                Step::Begun => assert_eq!(actions, [Action::Cleaned], "{}", case.name),
                Step::JournalStaging | Step::StageSynced => {
                    assert_eq!(actions, [Action::RolledBack], "{}", case.name)
                }
                Step::JournalSwapped | Step::OldRemoved => {
                    assert_eq!(actions, [Action::Finished], "{}", case.name)
                }
                Step::JournalRemoved => assert_eq!(actions, [Action::Cleaned], "{}", case.name),
                _ => assert_eq!(actions, [Action::RolledForward], "{}: {step}", case.name),
            }
            assert_clean(case, root, &old, &new, &format!("crash after {step}"));
            assert!(
                swap::recover(root, &SwapOptions::default())
                    .expect("again")
                    .is_empty()
            );
            // The next swap completes from whatever recovery left.
            let s = Swap::begin(root, "next", SwapOptions::default()).expect("next begin");
            stage(case, &s);
            s.commit((case.selection)()).expect("next commit");
            assert_eq!(tree(root), new, "{}: after {step}", case.name);
        }
    }
}

#[test]
fn a_crash_during_recovery_is_recovered_again() {
    for case in &CASES {
        let new = expected_new(case);
        let (_, old) = prepare(case);
        for first in 0..20 {
            // Recovery itself crashes at each of its steps in turn.
            for second in 0..20 {
                let (dir, _) = prepare(case);
                let root = dir.path();
                if !crash_at(case, root, first) {
                    break;
                }
                let (opts, _) = hook(Some(second));
                let crashed = match swap::recover(root, &opts) {
                    Ok(_) => false,
                    Err(SwapError::Interrupted { .. }) => true,
                    Err(e) => panic!("{}: recover: {e}", case.name),
                };
                swap::recover(root, &SwapOptions::default()).expect("recover again");
                assert_clean(
                    case,
                    root,
                    &old,
                    &new,
                    &format!("crash {first}, then {second}"),
                );
                if !crashed {
                    break;
                }
            }
        }
    }
}

#[test]
fn a_crash_while_staging_rolls_back_and_removes_partial_files() {
    let case = &CASES[0];
    let (dir, old) = prepare(case);
    let root = dir.path();
    let s = Swap::begin(root, "in-place restore", SwapOptions::default()).expect("begin");
    write(s.stage(), "a", "new a");
    write(s.stage(), "dir/.holdfast-restore-0123", "partial");
    write(&s.scratch(), "tmp", "scratch");
    drop(s);
    let done = swap::recover(root, &SwapOptions::default()).expect("recover");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].action, Action::RolledBack);
    assert!(
        done[0]
            .to_string()
            .contains("rolled back the interrupted in-place restore"),
        "{}",
        done[0]
    );
    assert_eq!(tree(root), old);
    assert!(swap_leftovers(root).is_empty());
}

#[test]
fn the_old_copy_is_kept_when_asked_and_the_state_dir_is_never_swapped() {
    let case = &CASES[0];
    let (dir, old) = prepare(case);
    let root = dir.path();
    let opts = SwapOptions {
        keep_old: true,
        hook: None,
    };
    let s = Swap::begin(root, "t", opts).expect("begin");
    stage(case, &s);
    let done = s.commit(Selection::Whole).expect("commit");
    let kept = done.kept.expect("kept");
    assert!(
        kept.starts_with(
            std::fs::canonicalize(root)
                .expect("canon")
                .join(".holdfast/kept")
        )
    );
    assert_eq!(
        tree(&kept),
        old,
        "the kept copy is the old data, without the state dir"
    );
    assert_eq!(tree(root), expected_new(case));
    assert_eq!(
        std::fs::read_to_string(root.join(".holdfast/schedule.json")).expect("state"),
        "state"
    );
}

#[test]
fn an_entry_that_appears_during_the_swap_is_never_overwritten() {
    let case = &CASES[0];
    let (dir, _) = prepare(case);
    let root = dir.path().to_path_buf();
    let r = root.clone();
    let opts = SwapOptions {
        keep_old: false,
        hook: Some(Arc::new(move |step| {
            if step == Step::OldSynced {
                std::fs::write(r.join("c"), "the app wrote this")?;
            }
            Ok(())
        })),
    };
    let s = Swap::begin(&root, "t", opts).expect("begin");
    stage(case, &s);
    let err = s.commit(Selection::Whole).expect_err("collision");
    assert!(
        err.to_string().contains("appeared during the swap"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("c")).expect("c"),
        "the app wrote this"
    );
    std::fs::remove_file(root.join("c")).expect("move it away");
    let done = swap::recover(&root, &SwapOptions::default()).expect("recover");
    assert_eq!(done[0].action, Action::RolledForward);
    assert_eq!(tree(&root), expected_new(case));
}

#[test]
fn a_second_swap_on_the_same_volume_is_refused_while_one_runs() {
    let (dir, _) = prepare(&CASES[0]);
    let s = Swap::begin(dir.path(), "first", SwapOptions::default()).expect("begin");
    assert!(matches!(
        Swap::begin(dir.path(), "second", SwapOptions::default()),
        Err(SwapError::Busy { .. })
    ));
    assert!(matches!(
        swap::recover(dir.path(), &SwapOptions::default()),
        Err(SwapError::Busy { .. })
    ));
    s.abort().expect("abort");
    assert!(swap_leftovers(dir.path()).is_empty());
}

#[test]
fn own_names_and_escaping_paths_are_refused_before_anything_moves() {
    let (dir, old) = prepare(&CASES[0]);
    let root = dir.path();
    for (rel, staged, sel) in [
        (
            ".holdfast/x",
            ".holdfast/x",
            Selection::Paths {
                new: vec![".holdfast/x".into()],
                old: vec![],
            },
        ),
        (
            "../x",
            "x",
            Selection::Paths {
                new: vec!["../x".into()],
                old: vec![],
            },
        ),
        (".holdfast", ".holdfast/evil", Selection::Whole),
    ] {
        let s = Swap::begin(root, "t", SwapOptions::default()).expect("begin");
        write(s.stage(), staged, "x");
        let err = s.commit(sel).expect_err(rel);
        assert!(matches!(err, SwapError::Refused { .. }), "{rel}: {err}");
        assert!(
            swap_leftovers(root).is_empty(),
            "{rel}: a refused commit rolls back"
        );
        assert_eq!(tree(root), old, "{rel}");
    }
}

#[test]
fn a_whole_volume_swap_leaves_lost_and_found_in_place() {
    use std::os::unix::fs::MetadataExt;
    let (dir, _) = prepare(&CASES[0]);
    let root = dir.path();
    std::fs::create_dir(root.join("lost+found")).expect("mkdir");
    let ino = std::fs::metadata(root.join("lost+found"))
        .expect("stat")
        .ino();
    let s = Swap::begin(root, "t", SwapOptions::default()).expect("begin");
    stage(&CASES[0], &s);
    write(s.stage(), "lost+found/from-the-snapshot", "x");
    s.commit(Selection::Whole).expect("commit");
    assert_eq!(
        std::fs::metadata(root.join("lost+found"))
            .expect("stat")
            .ino(),
        ino
    );
    assert!(!root.join("lost+found/from-the-snapshot").exists());
    assert!(swap_leftovers(root).is_empty());
}
