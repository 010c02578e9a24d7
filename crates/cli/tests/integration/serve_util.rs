//! Helpers of the `holdfast serve` tests: a server started from the real binary on a free
//! port (it prints `listening on http://ADDR`, as text or as a JSON log line, which is
//! read back), an HTTP client, and
//! a raw HTTP/1.1 client for paths a URL library would normalise.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The API token every test server gets unless started without one.
pub const TOKEN: &str = "test-token-0123456789";

/// How long a server may take to start or stop before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// The URL of a `listening on http://ADDR` line, as text or as a `--log-format json`
/// line (its `address` field).
pub fn listening_url(line: &str) -> Option<String> {
    if let Some(url) = line.strip_prefix("listening on ") {
        return Some(url.trim().to_string());
    }
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let message = v["message"].as_str()?;
    message.starts_with("listening on ").then_some(())?;
    v["address"].as_str().map(str::to_string)
}

/// A running `holdfast serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Everything the server printed on stderr so far.
    pub stderr: Arc<Mutex<Vec<String>>>,
    dir: tempfile::TempDir,
    setup: Setup,
    args: Vec<String>,
}

/// How to start a server.
pub struct Setup {
    /// holdfast.toml; relative volume paths are relative to the test directory, and
    /// `{dir}` stands for that directory.
    pub config: String,
    /// The API token, or none to leave the API off.
    pub token: Option<&'static str>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

impl Setup {
    /// A config with the default token.
    pub fn new(config: &str) -> Setup {
        Setup {
            config: config.to_string(),
            token: Some(TOKEN),
            env: Vec::new(),
        }
    }
}

impl Server {
    /// Writes the config into a fresh directory, lets `prepare` create files there, then
    /// starts `holdfast serve --listen 127.0.0.1:0` and waits for its address.
    pub fn start(setup: Setup, prepare: impl FnOnce(&Path)) -> Server {
        Server::start_with(setup, &["serve", "--listen", "127.0.0.1:0"], prepare)
    }

    /// [`Server::start`] with other arguments after `--config holdfast.toml` (such as
    /// `run --listen 127.0.0.1:0 -- CMD…`); the command must print `listening on`.
    pub fn start_with(setup: Setup, args: &[&str], prepare: impl FnOnce(&Path)) -> Server {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = setup.config.replace("{dir}", &dir.path().to_string_lossy());
        std::fs::write(dir.path().join("holdfast.toml"), config).expect("write config");
        prepare(dir.path());
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        Server::spawn(dir, setup, args)
    }

    /// Stops the server (SIGTERM) and starts the same command again in the same
    /// directory.
    pub fn restart(mut self) -> Server {
        self.terminate();
        let setup = Setup {
            config: String::new(),
            token: self.setup.token,
            env: self.setup.env.clone(),
        };
        let args = self.args.clone();
        let dir = tempfile::tempdir().expect("temporary directory");
        let dir = std::mem::replace(&mut self.dir, dir);
        Server::spawn(dir, setup, args)
    }

    /// The base `holdfast` command of the tests: the test directory, no holdfast
    /// settings from the environment, INFO logs.
    pub fn command(dir: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
        cmd.current_dir(dir)
            .env_remove("HOLDFAST_CONFIG")
            .env_remove("HOLDFAST_REPOSITORY")
            .env_remove("HOLDFAST_PASSWORD")
            .env_remove("HOLDFAST_PASSWORD_FILE")
            .env_remove("HOLDFAST_LISTEN")
            .env_remove("RAILWAY_VOLUME_MOUNT_PATH")
            .env("RUST_LOG", "info");
        cmd
    }

    fn spawn(dir: tempfile::TempDir, setup: Setup, args: Vec<String>) -> Server {
        let mut cmd = Server::command(dir.path());
        cmd.args(["--config", "holdfast.toml"])
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match setup.token {
            Some(t) => cmd.env("HOLDFAST_API_TOKEN", t),
            None => cmd.env_remove("HOLDFAST_API_TOKEN"),
        };
        for (k, v) in &setup.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start holdfast serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = listening_url(&line) {
                    let _ = tx.send(url);
                }
                sink.lock().expect("stderr lines").push(line);
            }
        });
        let base = match rx.recv_timeout(DEADLINE) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "server did not start: {:?}",
                    lines.lock().expect("stderr lines")
                );
            }
        };
        let addr = base.trim_start_matches("http://").to_string();
        Server {
            child,
            base,
            addr,
            stderr: lines,
            dir,
            setup,
            args,
        }
    }

    /// Waits (up to a deadline) until stderr has a line containing `needle`; all of
    /// stderr so far.
    pub fn wait_log(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "stderr never said {needle:?}: {log}"
            );
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }

    /// The test directory (config, volumes).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path in the test directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the bearer token.
    pub fn authed(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, self.url(path))
            .header("Authorization", format!("Bearer {TOKEN}"))
    }

    /// Sends a request exactly as written (no URL normalisation) and returns the status
    /// code and body.
    pub fn raw(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(DEADLINE)).expect("read timeout");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        s.write_all(head.as_bytes()).expect("send request");
        s.write_all(body).expect("send body");
        let mut out = Vec::new();
        s.read_to_end(&mut out).expect("read response");
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (up to a deadline) for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        self.wait_exit()
    }

    /// Waits for the process to exit by itself, failing the test after the deadline.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for server") {
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "server did not exit in time");
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }

    /// Lines of stderr so far.
    pub fn log(&self) -> String {
        self.stderr.lock().expect("stderr lines").join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Every file name (relative) under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// A tiny valid PNG (1×1).
pub const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\
\0\0\0\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99=\x1d\0\0\0\0IEND\xaeB`\x82";

/// `POST /api/v1/backups{query}`, then the job it started until it ends. Returns the
/// POST status and, for a `202`, the ended job (`status`, `snapshots`, `error`).
pub async fn backup_now(s: &Server, query: &str) -> (reqwest::StatusCode, serde_json::Value) {
    let r = s
        .authed(reqwest::Method::POST, &format!("/api/v1/backups{query}"))
        .send()
        .await
        .expect("POST /api/v1/backups");
    let status = r.status();
    let text = r.text().await.expect("body");
    if status != reqwest::StatusCode::ACCEPTED {
        return (status, serde_json::Value::String(text));
    }
    let job: serde_json::Value = serde_json::from_str(&text).expect("job json");
    let id = job["id"].as_str().expect("job id").to_owned();
    // `?wait=true` holds each answer until the job ends (or a minute passes).
    for _ in 0..30 {
        let r = s
            .authed(
                reqwest::Method::GET,
                &format!("/api/v1/jobs/{id}?wait=true"),
            )
            .send()
            .await
            .expect("GET /api/v1/jobs");
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        let job: serde_json::Value =
            serde_json::from_str(&r.text().await.expect("body")).expect("job json");
        if job["status"] != "running" {
            return (status, job);
        }
    }
    panic!("backup job {id} did not end: {}", s.log());
}
