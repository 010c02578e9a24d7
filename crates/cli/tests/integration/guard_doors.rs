//! The guard at every door ([`holdfast_volume::guard`]): each command that reads or
//! replaces a volume's data checks the volume first, with the real binary on real
//! volumes: a directory that is not a mount point under `require_mount = true`, a tmpfs
//! remounted read-only, a tmpfs filled to the last block, and an in-place restore killed
//! in the middle of its swap (the `HOLDFAST_SWAP_FAILPOINT` of builds with the
//! `failpoints` feature). [`the_door_table`] runs every entry point against every
//! condition; the tests before it pin the findings one by one.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use super::volume_util::{Tmpfs, fill_until_full, outcome};

const PASSWORD: &str = "guard test";
const TOKEN: &str = "guard-token-0123456789";

/// What is wrong with the volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    /// `require_mount = true` on a directory that is not a mount point.
    Unmounted,
    /// A tmpfs remounted read-only.
    ReadOnly,
    /// A tmpfs with no free block.
    Full,
    /// An in-place restore killed after moving the first old entry aside.
    InterruptedSwap,
}

/// A project (holdfast.toml, file:// repository, cache) over volume `v`, which holds
/// `notes.txt` ("v1") and the SQLite database `db/app.db`, backed up once, then put in
/// the condition.
struct Fixture {
    dir: tempfile::TempDir,
    mount: Option<Tmpfs>,
    vol: PathBuf,
}

fn make_db(db: &Path, rows: i64) {
    std::fs::create_dir_all(db.parent().expect("parent")).expect("mkdir");
    let conn = rusqlite::Connection::open(db).expect("create db");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.execute_batch("CREATE TABLE IF NOT EXISTS t(n INTEGER)")
        .expect("table");
    for n in 0..rows {
        conn.execute("INSERT INTO t VALUES (?1)", [n])
            .expect("insert");
    }
}

impl Fixture {
    fn new(condition: Condition) -> Fixture {
        let dir = tempfile::tempdir().expect("project dir");
        let mount = matches!(condition, Condition::ReadOnly | Condition::Full)
            .then(|| Tmpfs::mount("8m", &[]));
        let vol = match &mount {
            Some(m) => m.path().to_path_buf(),
            None => dir.path().join("vol"),
        };
        std::fs::create_dir_all(&vol).expect("volume");
        std::fs::write(vol.join("notes.txt"), "v1").expect("write");
        make_db(&vol.join("db/app.db"), 10);
        let f = Fixture { dir, mount, vol };
        f.config(false, "");
        f.ok(&["init"]);
        f.ok(&["backup"]);
        match condition {
            Condition::Unmounted => f.config(true, ""),
            Condition::ReadOnly => f.mount.as_ref().expect("tmpfs").remount_read_only(),
            Condition::Full => fill_until_full(&f.vol.join("fill.bin")),
            Condition::InterruptedSwap => f.interrupt(),
        }
        f
    }

    /// Writes holdfast.toml: volume `v`, its database, and `extra` tables.
    fn config(&self, require_mount: bool, extra: &str) {
        std::fs::write(
            self.dir.path().join("holdfast.toml"),
            format!(
                "[repository]\nurl = \"file://{}\"\n\n[[volumes]]\nname = \"v\"\npath = \"{}\"\n\
                 require_mount = {require_mount}\ndatabases = [{{ kind = \"sqlite\", path = \"db/app.db\" }}]\n{extra}",
                self.dir.path().join("repo").display(),
                self.vol.display()
            ),
        )
        .expect("config");
    }

    /// Changes the volume (notes "v2", one more file), then kills an in-place restore of
    /// the backed-up snapshot after it moved the first old entry aside: the volume is
    /// half swapped and a journal says so.
    fn interrupt(&self) {
        std::fs::write(self.vol.join("notes.txt"), "v2").expect("write");
        std::fs::write(self.vol.join("extra.txt"), "new since the backup").expect("write");
        let out = self
            .command(&["restore", "latest:v", "--in-place", "--yes"])
            .env("HOLDFAST_SWAP_FAILPOINT", "moved-old:0")
            .output()
            .expect("run restore");
        assert_eq!(out.status.code(), None, "killed by its failpoint: {out:?}");
        assert!(self.pending_swap(), "a journal is left mid-swap");
    }

    fn pending_swap(&self) -> bool {
        std::fs::read_dir(self.vol.join(".holdfast/swap"))
            .map(|d| d.filter_map(Result::ok).any(|e| e.path().is_dir()))
            .unwrap_or(false)
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
            .env_remove("HOLDFAST_LISTEN")
            .env_remove("RAILWAY_VOLUME_MOUNT_PATH");
        cmd
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        outcome(&self.command(args).output().expect("run holdfast"))
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "holdfast {args:?}\nstdout: {out}\nstderr: {err}");
        out
    }

    /// How many snapshots the repository holds.
    fn snapshots(&self) -> usize {
        let out = self.ok(&["--json", "snapshots"]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("snapshots json");
        v.as_array().map_or(0, Vec::len)
    }

    fn notes(&self) -> String {
        std::fs::read_to_string(self.vol.join("notes.txt")).unwrap_or_default()
    }
}

/// A running `holdfast serve` over a fixture, killed when dropped.
struct Serve {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(f: &Fixture) -> Serve {
        let mut child = f
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .env("HOLDFAST_API_TOKEN", TOKEN)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                }
                sink.lock().expect("log").push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("serve did not start: {:?}", log.lock().expect("log")));
        Serve { child, addr, log }
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// `METHOD PATH` with the token and `body`: status code and body.
    fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(90)))
            .expect("timeout");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        s.write_all(head.as_bytes()).expect("send");
        s.write_all(body).expect("send body");
        let mut out = Vec::new();
        s.read_to_end(&mut out).expect("read");
        let text = String::from_utf8_lossy(&out).into_owned();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (code, body)
    }

    /// `POST /api/v1/backups`, then its job until it ends: the job as JSON text.
    fn backup_job(&self) -> String {
        let (code, body) = self.request("POST", "/api/v1/backups", b"");
        assert_eq!(code, 202, "{body}");
        let job: serde_json::Value = serde_json::from_str(&body).expect("job json");
        let id = job["id"].as_str().expect("job id").to_owned();
        loop {
            let (code, body) = self.request("GET", &format!("/api/v1/jobs/{id}?wait=true"), b"");
            assert_eq!(code, 200, "{body}");
            let job: serde_json::Value = serde_json::from_str(&body).expect("job json");
            if job["status"] != "running" {
                return body;
            }
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
