//! Helpers of the retention, prune and lock tests: a repository (file://, or a fresh
//! prefix on the S3 / Azure test servers), `holdfast` runs against it, directory
//! contents.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

pub const PASSWORD: &str = "retention test";

/// A repository under test and a scratch directory (the working directory of runs).
pub struct Repo {
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Repo {
    /// A file:// repository in a fresh scratch directory.
    pub fn local() -> Repo {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("file://{}", dir.path().join("repo").display());
        Repo { url, dir }
    }

    /// A repository under a fresh prefix of the server named by `var`; fails (never
    /// skips) when the variable is missing.
    pub fn remote(var: &str) -> Repo {
        Repo {
            url: super::repo_util::remote_url(var),
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `holdfast ARGS…` against this repository, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("HOLDFAST_REPOSITORY", &self.url)
            .env("HOLDFAST_PASSWORD", PASSWORD)
            .env("HOLDFAST_CACHE_DIR", self.dir.path().join("cache"))
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .env_remove("HOLDFAST_CONFIG")
            .env_remove("HOLDFAST_PASSWORD_FILE")
            .env_remove("STORAGE_TYPE");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run holdfast")
    }

    /// Starts `holdfast ARGS…` in the background with its output captured.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start holdfast")
    }

    /// Runs, asserts the exit code, returns stdout.
    pub fn ok(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        check(&out, args, code)
    }

    /// Runs with `--json`, asserts success, parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let text = self.ok(&all, 0);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    }
}

/// Asserts the exit code of a finished run; returns stdout.
pub fn check(out: &Output, args: &[&str], code: i32) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "holdfast {args:?}\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

pub use super::repo_util::contents;

/// Deterministic incompressible bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
