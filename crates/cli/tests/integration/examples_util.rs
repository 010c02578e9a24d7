//! Helpers of the example and guide tests: the files of `examples/` as this build reads
//! them, a `holdfast` command with no settings from the environment, a volume's contents
//! without holdfast's own records, and a server started from a unit's command line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use holdfast_volume::config::Config;

use super::repo_util::contents;
use super::serve_util::listening_url;
use super::volume_util::outcome;

pub use super::repo_util::pseudo_random;

/// The repository password of every example test.
pub const PASSWORD: &str = "correct horse battery staple";

/// How long a server may take to print its address.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// The repository's root directory.
pub fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The text of a file of the repository (`examples/railway/holdfast.toml`).
pub fn source_file(rel: &str) -> String {
    let path = source_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether this build knows the volume key `restore_if_empty` (whole-volume recovery).
pub fn restore_if_empty_supported() -> bool {
    Config::from_toml(
        "[[volumes]]\nname = \"v\"\npath = \"/v\"\nrestore_if_empty = true\n",
        Path::new("/probe/holdfast.toml"),
        &|_| None,
    )
    .is_ok()
}

/// A holdfast.toml of the examples as this build reads it. `restore_if_empty` comes
/// with the whole-volume recovery of a volume, which is built separately from the
/// examples: a build that does not know the key yet checks the example without that
/// line, and every other line as written.
pub fn config_for_this_build(text: &str) -> String {
    if restore_if_empty_supported() {
        return text.to_string();
    }
    text.lines()
        .filter(|l| !l.trim_start().starts_with("restore_if_empty"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Parses an example's holdfast.toml with holdfast's own parser.
pub fn parse_example(name: &str, env: &dyn Fn(&str) -> Option<String>) -> Config {
    let rel = format!("examples/{name}/holdfast.toml");
    let text = config_for_this_build(&source_file(&rel));
    Config::from_toml(&text, &source_root().join(&rel), env)
        .unwrap_or_else(|e| panic!("{rel} does not parse: {e}"))
}

/// Copies the files of `examples/NAME/` into `dir`, holdfast.toml as this build reads it.
pub fn copy_example(name: &str, dir: &Path) {
    let from = source_root().join("examples").join(name);
    for entry in std::fs::read_dir(&from).expect("read example directory") {
        let entry = entry.expect("entry");
        let file = entry.file_name().to_string_lossy().into_owned();
        let text = source_file(&format!("examples/{name}/{file}"));
        let text = if file == "holdfast.toml" {
            config_for_this_build(&text)
        } else {
            text
        };
        std::fs::write(dir.join(&file), text).expect("copy example file");
    }
}

/// `holdfast` run in `dir` with none of holdfast's settings taken from the environment.
pub fn holdfast(dir: &Path) -> Command {
    program(env!("CARGO_BIN_EXE_holdfast"), dir)
}

/// `program` run in `dir` with none of holdfast's settings taken from the environment.
pub fn program(program: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir);
    for key in [
        "HOLDFAST_CONFIG",
        "HOLDFAST_REPOSITORY",
        "HOLDFAST_PASSWORD",
        "HOLDFAST_PASSWORD_FILE",
        "HOLDFAST_PASSWORD_COMMAND",
        "HOLDFAST_LISTEN",
        "HOLDFAST_API_TOKEN",
        "HOLDFAST_LOG_FORMAT",
        "RAILWAY_VOLUME_MOUNT_PATH",
        "STORAGE_TYPE",
        "PORT",
        "RUST_LOG",
    ] {
        cmd.env_remove(key);
    }
    cmd
}

/// Runs `cmd`, asserts the exit code, returns stdout.
pub fn expect(cmd: &mut Command, code: i32) -> String {
    let out: Output = cmd.output().expect("run command");
    let (got, stdout, stderr) = outcome(&out);
    assert_eq!(got, code, "{cmd:?}\nstdout: {stdout}\nstderr: {stderr}");
    stdout
}

/// Every entry under a volume, as [`contents`], without holdfast's own `.holdfast/`
/// records and without the entries named in `skip`. A SQLite database is backed up as a
/// consistent copy made by SQLite's online backup API, which writes its own values of
/// the two change counters of the header (bytes 24–27 and 92–95): those eight bytes are
/// zeroed, every other byte of every file compares as it is. The snapshot holds no
/// `-wal`/`-shm` beside a database (the copy has everything): on the live volume the
/// `-shm` index is left out, and a `-wal` must be empty (nothing only in it).
pub fn volume_contents(root: &Path, skip: &[&str]) -> Vec<(String, Vec<u8>)> {
    contents(root)
        .into_iter()
        .filter(|(rel, bytes)| {
            let first = rel.split('/').next().unwrap_or_default();
            if rel.ends_with(".db-wal") {
                assert!(bytes.is_empty(), "{rel} holds {} bytes", bytes.len());
            }
            first != ".holdfast"
                && !rel.ends_with(".db-wal")
                && !rel.ends_with(".db-shm")
                && !skip.contains(&rel.as_str())
        })
        .map(|(rel, mut bytes)| {
            if bytes.starts_with(b"SQLite format 3\0") && bytes.len() >= 100 {
                bytes[24..28].fill(0);
                bytes[92..96].fill(0);
            }
            (rel, bytes)
        })
        .collect()
}

/// Fills a volume the way an app with SQLite and uploads does: a database in WAL mode
/// with rows, uploads of several sizes in nested directories, an empty file.
pub fn app_data(root: &Path, seed: u64) {
    let db_dir = root.join("db");
    std::fs::create_dir_all(&db_dir).expect("mkdir db");
    {
        let db = rusqlite::Connection::open(db_dir.join("app.db")).expect("open sqlite");
        db.pragma_update(None, "journal_mode", "WAL").expect("wal");
        db.execute_batch("CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT)")
            .expect("create table");
        for i in 0..200 {
            db.execute(
                "INSERT INTO users (name) VALUES (?1)",
                [format!("user {seed}-{i}")],
            )
            .expect("insert");
        }
    }
    for (i, size) in [0usize, 17, 4_096, 300_000, 1_500_000]
        .into_iter()
        .enumerate()
    {
        let dir = root.join(format!("uploads/{:02}", i % 3));
        std::fs::create_dir_all(&dir).expect("mkdir uploads");
        std::fs::write(
            dir.join(format!("{seed}-{i}.bin")),
            pseudo_random(seed + i as u64, size),
        )
        .expect("write upload");
    }
}

/// The rows of `db/app.db` under a volume.
pub fn users(root: &Path) -> Vec<String> {
    let db = rusqlite::Connection::open(root.join("db/app.db")).expect("open sqlite");
    let mut stmt = db
        .prepare("SELECT name FROM users ORDER BY id")
        .expect("prepare");
    stmt.query_map([], |r| r.get::<_, String>(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

/// A server process (`holdfast serve`, `holdfast run`) whose `listening on` line was
/// read; SIGTERM and a wait when dropped.
pub struct Running {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Running {
    /// Spawns `cmd` (stderr piped) and waits for its address.
    pub fn start(mut cmd: Command) -> Running {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start server");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = listening_url(&line) {
                    let _ = tx.send(Ok(url));
                }
                seen.push(line);
            }
            let _ = tx.send(Err(seen.join("\n")));
        });
        match rx.recv_timeout(START_DEADLINE) {
            Ok(Ok(url)) => Running {
                child,
                addr: url.trim_start_matches("http://").to_string(),
            },
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not start: {other:?}");
            }
        }
    }

    /// Stops the server with SIGTERM; its exit code.
    pub fn stop(mut self) -> i32 {
        self.terminate()
    }

    fn terminate(&mut self) -> i32 {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        self.child.wait().ok().and_then(|s| s.code()).unwrap_or(-1)
    }

    /// `GET path` (HTTP/1.0), with the bearer token when given: status and body.
    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {}\r\n{auth}\r\n",
            self.addr
        )
        .expect("send request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
        }
    }
}
