//! Replacing live data survives SIGKILL: `holdfast restore SNAPSHOT --in-place --yes` of
//! a 3,000-entry snapshot over a volume with other content is killed at random moments
//! (fixed seed) and at every step of the swap (a failpoint that pauses the process and
//! says so in a file), then `holdfast run` recovers: the volume holds exactly the old or
//! the new set of entries, no `.holdfast-…` leftover or partial temp file remains, the
//! `.holdfast` state directory survives, and the next restore completes. A database
//! restore killed between its steps never loses the live WAL (in `restore_swap_database`).
//! In-place restore refuses a snapshot whose volume is not configured.
//!
//! The normal run kills 2 times at random and at 6 of the swap's steps, to stay short
//! (the volume crate's own tests crash every step in-process); `HOLDFAST_SWAP_TRIALS=long`
//! gives the full run: 20 random kills and all 12 steps.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::repo_util::contents;
use super::volume_util::outcome;

const PASSWORD: &str = "swap test";
/// Top-level entries of the new data (files, and directories with files inside).
const NEW_TOP: usize = 2_900;
/// Top-level entries of the old data (some share a name with new ones).
const OLD_TOP: usize = 1_000;

/// A project directory: holdfast.toml over volume `v`, a file:// repository.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(extra_volume: &str) -> Project {
        let dir = tempfile::tempdir().expect("project dir");
        let root = dir.path();
        std::fs::create_dir(root.join("vol")).expect("mkdir vol");
        std::fs::write(
            root.join("holdfast.toml"),
            format!(
                "[repository]\nurl = \"file://{}\"\n\n[[volumes]]\nname = \"v\"\npath = \"{}\"\nrequire_mount = false\n{extra_volume}",
                root.join("repo").display(),
                root.join("vol").display()
            ),
        )
        .expect("config");
        Project { dir }
    }

    pub fn vol(&self) -> PathBuf {
        self.dir.path().join("vol")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("HOLDFAST_PASSWORD", PASSWORD)
            .env("HOLDFAST_CACHE_DIR", self.dir.path().join("cache"))
            .env_remove("HOLDFAST_CONFIG")
            .env_remove("HOLDFAST_REPOSITORY")
            .env_remove("HOLDFAST_PASSWORD_FILE")
            .env_remove("HOLDFAST_SWAP_FAILPOINT")
            .env_remove("HOLDFAST_SWAP_FAILPOINT_WAIT")
            .env_remove("RAILWAY_VOLUME_MOUNT_PATH")
            .env_remove("STORAGE_TYPE");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        outcome(&self.command(args).output().expect("run holdfast"))
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "holdfast {args:?}\nstdout: {out}\nstderr: {err}");
        err
    }

    /// Starts a run with stdout/stderr captured, optionally paused at a swap step.
    pub fn spawn(&self, args: &[&str], pause: Option<(&str, &Path)>) -> Child {
        let mut cmd = self.command(args);
        if let Some((step, file)) = pause {
            cmd.env("HOLDFAST_SWAP_FAILPOINT", step)
                .env("HOLDFAST_SWAP_FAILPOINT_WAIT", file);
        }
        cmd.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start holdfast")
    }

    /// `holdfast run` with a no-op app: the recovery every start does.
    pub fn recover(&self) -> String {
        self.ok(&["run", "--no-serve", "--", "true"])
    }
}

pub fn kill(child: &mut Child) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    let _ = child.wait();
}

/// The new data: `NEW_TOP` top-level entries, 100 of them directories of 2 files, so
/// 3,100 entries in all.
fn write_new(vol: &Path) {
    for i in 0..NEW_TOP {
        if i % 29 == 0 {
            let d = vol.join(format!("d{i:04}"));
            std::fs::create_dir(&d).expect("mkdir");
            std::fs::write(d.join("a"), format!("new a {i}")).expect("write");
            std::fs::write(d.join("b"), format!("new b {i}")).expect("write");
        } else {
            std::fs::write(vol.join(format!("f{i:04}")), format!("new {i}")).expect("write");
        }
    }
}

/// The old data: `OLD_TOP` entries (the first 100 share names with new files, with
/// other contents), and holdfast's state directory.
fn write_old(vol: &Path) {
    for i in 0..OLD_TOP {
        let name = if i < 100 {
            format!("f{:04}", i * 29 + 1)
        } else {
            format!("old{i:04}")
        };
        std::fs::write(vol.join(name), format!("old {i}")).expect("write");
    }
    std::fs::create_dir_all(vol.join("keep-dir/sub")).expect("mkdir");
    std::fs::write(vol.join("keep-dir/sub/x"), "old x").expect("write");
    std::fs::create_dir_all(vol.join(".holdfast")).expect("mkdir state");
    std::fs::write(vol.join(".holdfast/schedule.json"), "{\"state\":1}").expect("state");
}

/// Every entry below `vol` except holdfast's state directory.
fn user_data(vol: &Path) -> Vec<(String, Vec<u8>)> {
    contents(vol)
        .into_iter()
        .filter(|(p, _)| p != ".holdfast" && !p.starts_with(".holdfast/"))
        .collect()
}

/// Leftovers of an interrupted swap: `.holdfast-…` names anywhere in the volume, or
/// anything in the state directory but the state file.
pub fn leftovers(vol: &Path) -> Vec<String> {
    contents(vol)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| {
            let state = p == ".holdfast" || p.starts_with(".holdfast/");
            let in_swap = p == ".holdfast/swap" || p.starts_with(".holdfast/swap/");
            let name = p.rsplit('/').next().unwrap_or(p);
            (!state && name.starts_with(".holdfast"))
                || (in_swap && p != ".holdfast/swap" && p != ".holdfast/swap/lock")
        })
        .collect()
}

fn reset(vol: &Path) {
    std::fs::remove_dir_all(vol).expect("clear the volume");
    std::fs::create_dir(vol).expect("mkdir vol");
    write_old(vol);
}

/// What one killed run left, after recovery and after the next restore.
#[derive(Debug, Default)]
struct Tally {
    trials: usize,
    mixed: usize,
    rerun_failed: usize,
    leftovers: usize,
    state_lost: usize,
    rolled_back: usize,
    rolled_forward: usize,
    /// Trials with any of the above wrong.
    failed: usize,
    /// Trials after which the volume held neither the old nor the new data whole, or
    /// lost its `.holdfast` state.
    lost: usize,
}

fn judge(
    p: &Project,
    old: &[(String, Vec<u8>)],
    new: &[(String, Vec<u8>)],
    tally: &mut Tally,
    label: &str,
) -> String {
    let vol = p.vol();
    tally.trials += 1;
    let before = (
        tally.mixed,
        tally.rerun_failed,
        tally.leftovers,
        tally.state_lost,
    );
    let (code, _, recovered) = p.run(&["run", "--no-serve", "--", "true"]);
    let err = recovered.clone();
    if err.contains("rolled back") {
        tally.rolled_back += 1;
    }
    if err.contains("rolled forward") {
        tally.rolled_forward += 1;
    }
    let data = user_data(&vol);
    if code != 0 || (data != old && data != new) {
        tally.mixed += 1;
        let fresh = data.iter().filter(|e| new.contains(e)).count();
        eprintln!(
            "{label}: after recovery (exit {code}) neither old nor new: {fresh} of {} entries new; {err}",
            data.len()
        );
    }
    let left = leftovers(&vol);
    if !left.is_empty() {
        tally.leftovers += 1;
        eprintln!("{label}: leftovers {:?}", &left[..left.len().min(5)]);
    }
    let (code, _, err) = p.run(&["restore", "latest", "--in-place", "--yes"]);
    if code != 0 || user_data(&vol) != new || !leftovers(&vol).is_empty() {
        tally.rerun_failed += 1;
        eprintln!("{label}: the next restore failed (exit {code}): {err}");
    }
    if std::fs::read(vol.join(".holdfast/schedule.json")).ok() != Some(b"{\"state\":1}".to_vec()) {
        tally.state_lost += 1;
        eprintln!("{label}: the .holdfast state directory was lost");
    }
    if (tally.mixed, tally.state_lost) != (before.0, before.3) {
        tally.lost += 1;
    }
    if (
        tally.mixed,
        tally.rerun_failed,
        tally.leftovers,
        tally.state_lost,
    ) != before
    {
        tally.failed += 1;
    }
    recovered
}

/// Waits (bounded) until `file` exists or the child has exited; true when it exists.
pub fn wait_for(file: &Path, child: &mut Child) -> bool {
    for _ in 0..60_000 {
        if file.exists() {
            return true;
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            return file.exists();
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    false
}

/// Swap steps the failpoint can pause at (`moved-…:N` after the N-th entry moved), with
/// what recovery must say after a kill there, and whether the short run aims at it.
const STEPS: [(&str, &str, bool); 12] = [
    ("journal-staging", "rolled back", true),
    ("stage-synced", "rolled back", false),
    ("journal-staged", "rolled forward", true),
    ("moved-old:0", "rolled forward", false),
    ("moved-old:500", "rolled forward", true),
    ("old-synced", "rolled forward", false),
    ("moved-new:0", "rolled forward", false),
    ("moved-new:1500", "rolled forward", true),
    ("new-synced", "rolled forward", false),
    ("journal-swapped", "finished", true),
    ("old-removed", "finished", false),
    ("journal-removed", "removed the leftovers", true),
];

/// `HOLDFAST_SWAP_TRIALS=long`: 20 random kills and every step; else 2 and six steps.
/// `HOLDFAST_TORTURE_TRIALS=N` (set by `scripts/torture.sh`) makes every step aimed at
/// and N random kills.
fn long_run() -> bool {
    std::env::var("HOLDFAST_SWAP_TRIALS").is_ok_and(|v| v == "long")
        || std::env::var("HOLDFAST_TORTURE_TRIALS").is_ok()
}

/// Random kills: `HOLDFAST_TORTURE_TRIALS`, else 20 in the long run and 2 by default.
fn random_trials() -> usize {
    std::env::var("HOLDFAST_TORTURE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if long_run() { 20 } else { 2 })
}

#[test]
fn restore_in_place_killed_at_random_moments_and_at_every_swap_step_leaves_old_or_new() {
    let p = Project::new("");
    let vol = p.vol();
    write_new(&vol);
    p.ok(&["init"]);
    p.ok(&["backup"]);
    let new = user_data(&vol);
    assert_eq!(new.len(), NEW_TOP + 200);
    reset(&vol);
    let old = user_data(&vol);

    // One uninterrupted run gives the span the random kills are drawn from.
    let started = std::time::Instant::now();
    p.ok(&["restore", "latest", "--in-place", "--yes"]);
    let span = started.elapsed().as_micros().max(1) as u64;
    assert_eq!(user_data(&vol), new);
    assert!(leftovers(&vol).is_empty(), "{:?}", leftovers(&vol));

    let mut tally = Tally::default();
    let mut seed = 0x5eed_0011_u64;
    let random = random_trials();
    for t in 0..random {
        reset(&vol);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = std::time::Duration::from_micros(seed % span);
        let mut child = p.spawn(&["restore", "latest", "--in-place", "--yes"], None);
        // The kill moment is what is random here; nothing waits on it.
        std::thread::sleep(at);
        kill(&mut child);
        judge(&p, &old, &new, &mut tally, &format!("random {t} at {at:?}"));
    }
    let wait = p.dir.path().join("paused");
    let mut not_reached = Vec::new();
    let mut unsaid = Vec::new();
    for (step, said, short) in STEPS {
        if !short && !long_run() {
            continue;
        }
        reset(&vol);
        let _ = std::fs::remove_file(&wait);
        let mut child = p.spawn(
            &["restore", "latest", "--in-place", "--yes"],
            Some((step, &wait)),
        );
        if !wait_for(&wait, &mut child) {
            not_reached.push(step);
        }
        kill(&mut child);
        let err = judge(&p, &old, &new, &mut tally, &format!("paused at {step}"));
        if !err.contains(said) {
            unsaid.push((step, err));
        }
    }
    eprintln!(
        "in-place restore SIGKILL trials: {tally:?}; failpoints not reached: {not_reached:?}"
    );
    println!(
        "torture restore-in-place: {} trials, {} passed, {} failed, data lost: {}",
        tally.trials,
        tally.trials - tally.failed,
        tally.failed,
        tally.lost
    );
    assert!(
        not_reached.is_empty(),
        "failpoints not reached: {not_reached:?}"
    );
    assert!(unsaid.is_empty(), "recovery says what it did: {unsaid:?}");
    assert_eq!(
        (
            tally.mixed,
            tally.rerun_failed,
            tally.leftovers,
            tally.state_lost
        ),
        (0, 0, 0, 0),
        "{tally:?}"
    );
}

#[test]
fn restore_in_place_keep_old_says_where_the_old_data_is() {
    let p = Project::new("");
    let vol = p.vol();
    std::fs::write(vol.join("a"), "new").expect("write");
    p.ok(&["init"]);
    p.ok(&["backup"]);
    std::fs::write(vol.join("a"), "old").expect("write");
    std::fs::write(vol.join("b"), "old b").expect("write");
    let err = p.ok(&["restore", "latest", "--in-place", "--yes", "--keep-old"]);
    let kept = err
        .lines()
        .find_map(|l| {
            l.split_once(" is kept in ")
                .map(|(_, k)| PathBuf::from(k.trim()))
        })
        .unwrap_or_else(|| panic!("where the old data is: {err}"));
    assert_eq!(std::fs::read_to_string(vol.join("a")).expect("a"), "new");
    assert!(!vol.join("b").exists());
    assert_eq!(
        std::fs::read_to_string(kept.join("a")).expect("kept a"),
        "old"
    );
    assert_eq!(
        std::fs::read_to_string(kept.join("b")).expect("kept b"),
        "old b"
    );
    assert!(leftovers(&vol).is_empty(), "{:?}", leftovers(&vol));
}

#[test]
fn restore_in_place_refuses_a_snapshot_of_an_unconfigured_root() {
    let p = Project::new("");
    let other = p.dir.path().join("other");
    std::fs::create_dir(&other).expect("mkdir");
    std::fs::write(other.join("precious"), "keep me").expect("write");
    p.ok(&["init"]);
    let other_s = other.to_string_lossy().into_owned();
    p.ok(&["backup", &other_s]);
    std::fs::write(other.join("precious"), "changed").expect("write");
    std::fs::write(other.join("later"), "new file").expect("write");
    let (code, _, err) = p.run(&["restore", "latest", "--in-place", "--yes"]);
    assert_eq!(code, 2, "refused as a usage error: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("not a configured volume"), "{err}");
    assert_eq!(
        std::fs::read_to_string(other.join("precious")).expect("read"),
        "changed"
    );
    assert!(other.join("later").exists(), "nothing was replaced");
}
