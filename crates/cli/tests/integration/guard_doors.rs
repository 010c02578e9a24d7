//! The guard at every door ([`holdfast_volume::guard`]): each command that reads or
//! replaces a volume's data checks the volume first, with the real binary on real
//! volumes: a directory that is not a mount point under `require_mount = true`, a tmpfs
//! remounted read-only, a tmpfs filled to the last block, and an in-place restore killed
//! in the middle of its swap (the `HOLDFAST_SWAP_FAILPOINT` of builds with the
//! `failpoints` feature). [`the_door_table`] runs every entry point against every
//! condition; the tests before it pin the findings one by one.

use super::guard_util::{Condition, Fixture, Serve};

/// Finding: with `require_mount = true` on a directory that is not a mount point,
/// `holdfast backup` printed `snapshot … 0 files, 0 B` and exited 0; that empty snapshot
/// became latest and `restore_if_empty` "restored" it. Now the volume is refused with one
/// line naming it and the fix, exit 3, and the other volume is still backed up.
#[test]
fn an_unmounted_volume_is_not_backed_up_as_an_empty_snapshot() {
    let f = Fixture::new(Condition::Unmounted);
    let before = f.snapshots();
    let other = f.dir.path().join("other");
    std::fs::create_dir_all(&other).expect("other volume");
    std::fs::write(other.join("o.txt"), "other").expect("write");
    f.config(
        true,
        &format!(
            "\n[[volumes]]\nname = \"other\"\npath = \"{}\"\nrequire_mount = false\n",
            other.display()
        ),
    );
    let (code, out, err) = f.run(&["backup"]);
    assert_eq!(code, 3, "stdout: {out}\nstderr: {err}");
    assert!(
        err.contains("volume v:") && err.contains("is not a mount point"),
        "names the volume: {err}"
    );
    assert!(err.contains("require_mount = false"), "says the fix: {err}");
    assert!(!out.contains("0 files"), "no empty snapshot: {out}");
    assert_eq!(f.snapshots(), before + 1, "only the other volume: {out}");
    let listed = f.ok(&["--json", "snapshots"]);
    let v: serde_json::Value = serde_json::from_str(&listed).expect("json");
    let volumes: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["volume"].as_str())
        .collect();
    assert_eq!(volumes, ["v", "other"], "{listed}");
}

/// Finding: an in-place restore killed mid-swap was invisible: `status` said healthy
/// (exit 0) and `backup` committed the half-swapped volume. Now `status` shows the
/// pending swap as an alert with the command that finishes it (exit 3), and `backup`
/// finishes the swap first, says so, and backs up the whole restored data.
#[test]
fn an_interrupted_restore_is_not_healthy_and_is_finished_before_a_backup() {
    let f = Fixture::new(Condition::InterruptedSwap);
    let (code, out, err) = f.run(&["status"]);
    assert_eq!(code, 3, "stdout: {out}\nstderr: {err}");
    assert!(
        out.contains("alert: v: an interrupted restore is pending"),
        "{out}"
    );
    assert!(out.contains("holdfast backup --volume v"), "{out}");
    assert!(!out.contains("healthy"), "{out}");
    let (code, out, err) = f.run(&["backup"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(
        err.contains("rolled forward the interrupted in-place restore"),
        "says it finished the swap: {err}"
    );
    assert!(!f.pending_swap());
    assert_eq!(f.notes(), "v1", "the restored data is whole");
    assert!(!f.vol.join("extra.txt").exists());
    f.ok(&["restore", "latest:v", "--target", "check"]);
    assert_eq!(
        std::fs::read_to_string(f.dir.path().join("check/notes.txt")).expect("restored"),
        "v1"
    );
    assert!(f.dir.path().join("check/db/app.db").exists());
}

/// Finding: a configured database that does not exist (`db/app.sqlite`, a typo for
/// `app.db`) was green: `lint` "no problems found", `status` "1 volume(s) healthy", exit
/// 0 both. Now both say it (exit 3), and `lint` names what it read.
#[test]
fn a_configured_database_that_does_not_exist_is_not_green() {
    let f = Fixture::new(Condition::Unmounted);
    f.config(false, "");
    let text = std::fs::read_to_string(f.dir.path().join("holdfast.toml")).expect("read");
    std::fs::write(
        f.dir.path().join("holdfast.toml"),
        text.replace("db/app.db", "db/app.sqlite"),
    )
    .expect("write");
    let (code, out, err) = f.run(&["lint"]);
    assert_eq!(code, 3, "stdout: {out}\nstderr: {err}");
    assert!(
        out.contains("configured database db/app.sqlite of volume v does not exist"),
        "{out}"
    );
    assert!(out.contains("db/app.db"), "names what is there: {out}");
    assert!(err.contains("checked: holdfast.toml"), "{err}");
    assert!(err.contains("RAILWAY_VOLUME_MOUNT_PATH unset"), "{err}");
    let (code, out, err) = f.run(&["status"]);
    assert_eq!(code, 3, "stdout: {out}\nstderr: {err}");
    assert!(
        out.contains("alert: v: configured database db/app.sqlite does not exist"),
        "{out}"
    );
    assert!(!out.contains("healthy"), "{out}");
}

/// Finding: after a failed backup `status` said `FAILED` and nothing of what is still
/// safe; now it says how old the last good backup is.
#[test]
fn status_after_a_failed_backup_shows_the_age_of_the_last_good_one() {
    let f = Fixture::new(Condition::Unmounted);
    f.config(false, "\n[hooks]\nbefore_backup = [\"false\"]\n");
    let (code, _, err) = f.run(&["backup"]);
    assert_ne!(code, 0, "{err}");
    let (code, out, _) = f.run(&["status"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("FAILED (last good "), "{out}");
    assert!(out.contains(" ago)"), "{out}");
}

/// `run` and `serve` print one line per volume at start: mounted or not, the schedule
/// and the next backup, the repository (redacted), the replicas.
#[test]
fn run_and_serve_print_one_start_line_per_volume() {
    let f = Fixture::new(Condition::Unmounted);
    f.config(false, "\n[schedule]\nbackup = \"0 3 * * *\"\n");
    let (code, _, err) = f.run(&["run", "--no-serve", "--", "true"]);
    assert_eq!(code, 0, "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("volume v: "))
        .unwrap_or_else(|| panic!("no start line: {err}"));
    assert!(line.contains("not a mount point"), "{line}");
    assert!(line.contains("backup 0 3 * * * (next "), "{line}");
    assert!(line.contains("repository file://"), "{line}");
    assert!(line.contains("no replicas"), "{line}");
    let s = Serve::start(&f);
    let log = s.log();
    assert_eq!(
        log.lines().filter(|l| l.contains("volume v: ")).count(),
        1,
        "{log}"
    );
    assert!(log.contains("backup 0 3 * * * (next "), "{log}");
}

/// What one entry point did in one condition.
#[derive(Debug)]
struct Seen {
    code: i32,
    text: String,
}

/// What a cell of the door table expects.
type Expect = Box<dyn Fn(&Fixture, &Seen) -> bool>;

/// Runs entry point `name` on the fixture.
fn door(f: &Fixture, name: &str, condition: Condition) -> Seen {
    let cmd: &[&str] = match name {
        "backup" => &["backup"],
        "restore --in-place" => &["restore", "latest:v", "--in-place", "--yes"],
        "restore --database" => &["restore", "latest:v", "--database", "app.db", "--yes"],
        "run" => &["run", "--no-serve", "--", "true"],
        "serve (start)" => {
            let s = Serve::start(f);
            return Seen {
                code: 0,
                text: s.log(),
            };
        }
        "files API PUT" | "API backup" => {
            let s = Serve::start(f);
            if condition == Condition::InterruptedSwap {
                // serve finished the swap at start: interrupt another one while it runs.
                assert!(!f.pending_swap(), "{}", s.log());
                f.interrupt();
            }
            if name == "API backup" {
                let job = s.backup_job();
                return Seen {
                    code: 0,
                    text: format!("{job}\n{}", s.log()),
                };
            }
            let (code, body) = s.request("PUT", "/api/v1/files/v/new.txt", b"hello");
            return Seen {
                code: i32::from(code),
                text: body,
            };
        }
        "cleanup" => {
            let vol = f.vol.to_string_lossy().into_owned();
            let (code, out, err) = f.run(&["cleanup", &vol, "--older-than", "1000d"]);
            return Seen {
                code,
                text: format!("{out}{err}"),
            };
        }
        other => panic!("no door {other}"),
    };
    let (code, out, err) = f.run(cmd);
    Seen {
        code,
        text: format!("{out}{err}"),
    }
}

/// Every entry point × every condition: the expected refusal (or, where the door only
/// reads, the backup with a warning; where a swap is pending, its recovery first).
#[test]
fn the_door_table() {
    use Condition::*;
    let refused_3 =
        |what: &'static str| move |_: &Fixture, s: &Seen| s.code == 3 && s.text.contains(what);
    let cells: Vec<(&str, Condition, Expect)> = vec![
        (
            "backup",
            Unmounted,
            Box::new(refused_3("is not a mount point")),
        ),
        (
            "backup",
            ReadOnly,
            Box::new(|f: &Fixture, s: &Seen| {
                s.code == 0 && s.text.contains("is not writable") && f.snapshots() == 2
            }),
        ),
        (
            "backup",
            Full,
            Box::new(|f: &Fixture, s: &Seen| {
                s.code == 0 && s.text.contains("% full") && f.snapshots() == 2
            }),
        ),
        (
            "backup",
            InterruptedSwap,
            Box::new(|f: &Fixture, s: &Seen| {
                s.code == 0 && s.text.contains("rolled forward") && f.notes() == "v1"
            }),
        ),
        (
            "restore --in-place",
            Unmounted,
            Box::new(refused_3("is not a mount point")),
        ),
        (
            "restore --in-place",
            ReadOnly,
            Box::new(refused_3("is not writable")),
        ),
        ("restore --in-place", Full, Box::new(refused_3("% full"))),
        (
            "restore --in-place",
            InterruptedSwap,
            Box::new(|f: &Fixture, s: &Seen| {
                s.code == 0 && s.text.contains("rolled forward") && f.notes() == "v1"
            }),
        ),
        (
            "restore --database",
            Unmounted,
            Box::new(refused_3("is not a mount point")),
        ),
        (
            "restore --database",
            ReadOnly,
            Box::new(refused_3("is not writable")),
        ),
        ("restore --database", Full, Box::new(refused_3("% full"))),
        (
            "restore --database",
            InterruptedSwap,
            Box::new(|f: &Fixture, s: &Seen| {
                s.code == 0 && s.text.contains("rolled forward") && f.notes() == "v1"
            }),
        ),
        (
            "run",
            Unmounted,
            Box::new(|_: &Fixture, s: &Seen| {
                s.code == 1
                    && s.text.contains("refusing to start: volume v: ")
                    && s.text.contains("is not a mount point")
            }),
        ),
        (
            "run",
            ReadOnly,
            Box::new(|_: &Fixture, s: &Seen| s.code == 1 && s.text.contains("is not writable")),
        ),
        (
            "run",
            Full,
            Box::new(|_: &Fixture, s: &Seen| s.code == 1 && s.text.contains("% full")),
        ),
        (
            "run",
            InterruptedSwap,
            Box::new(|f: &Fixture, s: &Seen| {
                s.code == 0 && s.text.contains("rolled forward") && f.notes() == "v1"
            }),
        ),
        (
            "serve (start)",
            Unmounted,
            Box::new(|_: &Fixture, s: &Seen| {
                s.text.contains("is not a mount point")
                    && s.text.contains("its backups are refused")
            }),
        ),
        (
            "serve (start)",
            ReadOnly,
            Box::new(|_: &Fixture, s: &Seen| s.text.contains("is not writable")),
        ),
        (
            "serve (start)",
            Full,
            Box::new(|_: &Fixture, s: &Seen| s.text.contains("% full")),
        ),
        (
            "serve (start)",
            InterruptedSwap,
            Box::new(|f: &Fixture, s: &Seen| {
                s.text.contains("rolled forward")
                    && s.text.contains("(at start)")
                    && f.notes() == "v1"
            }),
        ),
        (
            "API backup",
            Unmounted,
            Box::new(|f: &Fixture, s: &Seen| {
                s.text.contains("\"failed\"")
                    && s.text.contains("is not a mount point")
                    && f.snapshots() == 1
            }),
        ),
        (
            "API backup",
            ReadOnly,
            Box::new(|f: &Fixture, s: &Seen| {
                s.text.contains("is not writable") && f.snapshots() == 2
            }),
        ),
        (
            "API backup",
            Full,
            Box::new(|f: &Fixture, s: &Seen| s.text.contains("% full") && f.snapshots() == 2),
        ),
        (
            "API backup",
            InterruptedSwap,
            Box::new(|f: &Fixture, s: &Seen| {
                s.text.contains("rolled forward") && f.notes() == "v1" && f.snapshots() == 2
            }),
        ),
        (
            "files API PUT",
            Unmounted,
            Box::new(|f: &Fixture, s: &Seen| {
                s.code == 503
                    && s.text.contains("is not a mount point")
                    && !f.vol.join("new.txt").exists()
            }),
        ),
        (
            "files API PUT",
            ReadOnly,
            Box::new(|f: &Fixture, s: &Seen| s.code >= 400 && !f.vol.join("new.txt").exists()),
        ),
        (
            "files API PUT",
            Full,
            Box::new(|f: &Fixture, s: &Seen| s.code >= 400 && !f.vol.join("new.txt").exists()),
        ),
        (
            "files API PUT",
            InterruptedSwap,
            Box::new(|f: &Fixture, s: &Seen| {
                s.code == 409
                    && s.text.contains("an interrupted restore is pending")
                    && !f.vol.join("new.txt").exists()
            }),
        ),
        (
            "cleanup",
            Unmounted,
            Box::new(refused_3("is not a mount point")),
        ),
        (
            "cleanup",
            ReadOnly,
            Box::new(|f: &Fixture, s: &Seen| s.code == 0 && f.vol.join("notes.txt").exists()),
        ),
        (
            "cleanup",
            Full,
            Box::new(|f: &Fixture, s: &Seen| s.code == 0 && f.vol.join("notes.txt").exists()),
        ),
        (
            "cleanup",
            InterruptedSwap,
            Box::new(|f: &Fixture, s: &Seen| {
                s.code == 3
                    && s.text.contains("an interrupted restore is pending")
                    && f.pending_swap()
            }),
        ),
    ];
    let mut failures = Vec::new();
    let mut table = String::new();
    for (name, condition, expected) in &cells {
        let f = Fixture::new(*condition);
        let seen = door(&f, name, *condition);
        let line = seen
            .text
            .lines()
            .find(|l| l.contains("volume v") || l.contains("error") || l.contains("rolled"))
            .unwrap_or_default()
            .to_string();
        table.push_str(&format!("{name} × {condition:?} → {} {line}\n", seen.code));
        if !expected(&f, &seen) {
            failures.push(format!("{name} × {condition:?}: {seen:?}"));
        }
    }
    eprintln!("{table}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
