//! Helpers of the guard tests (`guard_doors`): a project over one volume put in each
//! condition the guard must catch, and a `holdfast serve` over it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use super::volume_util::{Tmpfs, fill_until_full, outcome};

pub const PASSWORD: &str = "guard test";
pub const TOKEN: &str = "guard-token-0123456789";

/// What is wrong with the volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
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
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub mount: Option<Tmpfs>,
    pub vol: PathBuf,
}

pub fn make_db(db: &Path, rows: i64) {
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
    pub fn new(condition: Condition) -> Fixture {
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
    pub fn config(&self, require_mount: bool, extra: &str) {
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
    pub fn interrupt(&self) {
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

    pub fn pending_swap(&self) -> bool {
        std::fs::read_dir(self.vol.join(".holdfast/swap"))
            .map(|d| d.filter_map(Result::ok).any(|e| e.path().is_dir()))
            .unwrap_or(false)
    }

    pub fn command(&self, args: &[&str]) -> Command {
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

    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        outcome(&self.command(args).output().expect("run holdfast"))
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "holdfast {args:?}\nstdout: {out}\nstderr: {err}");
        out
    }

    /// How many snapshots the repository holds.
    pub fn snapshots(&self) -> usize {
        let out = self.ok(&["--json", "snapshots"]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("snapshots json");
        v.as_array().map_or(0, Vec::len)
    }

    pub fn notes(&self) -> String {
        std::fs::read_to_string(self.vol.join("notes.txt")).unwrap_or_default()
    }
}

/// A running `holdfast serve` over a fixture, killed when dropped.
pub struct Serve {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    pub fn start(f: &Fixture) -> Serve {
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

    pub fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// `METHOD PATH` with the token and `body`: status code and body.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
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
    pub fn backup_job(&self) -> String {
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
