//! Helpers of the copy, key and snapshot-tool tests: two repositories with different
//! passwords side by side, `holdfast` runs with the other repository's password in the
//! environment, generated data and JSON output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const PW_A: &str = "first password";
pub const PW_B: &str = "second password";

/// A scratch directory holding data, restores, caches and (for file://) repositories.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A file:// URL inside the scratch directory.
    pub fn file_url(&self, name: &str) -> String {
        format!("file://{}", self.path(name).display())
    }

    /// `holdfast ARGS…` against `url` with `password`, not started; `HOLDFAST_TO_PASSWORD`
    /// and `HOLDFAST_FROM_PASSWORD` are cleared (tests set what they need).
    pub fn command(&self, url: &str, password: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("HOLDFAST_REPOSITORY", url)
            .env("HOLDFAST_PASSWORD", password)
            .env("HOLDFAST_CACHE_DIR", self.path("cache"))
            .env("HOLDFAST_KDF", "insecure-fast")
            .env_remove("HOLDFAST_CONFIG")
            .env_remove("HOLDFAST_PASSWORD_FILE")
            .env_remove("HOLDFAST_PASSWORD_COMMAND")
            .env_remove("HOLDFAST_TO_PASSWORD")
            .env_remove("HOLDFAST_FROM_PASSWORD")
            .env_remove("STORAGE_TYPE");
        cmd
    }

    /// Runs and asserts the exit code; returns stdout.
    pub fn ok(&self, url: &str, password: &str, args: &[&str], code: i32) -> String {
        check(
            self.command(url, password, args)
                .output()
                .expect("run holdfast"),
            args,
            code,
        )
    }

    /// `copy ARGS… --to TO` from `from` (password A) with `HOLDFAST_TO_PASSWORD` = B;
    /// returns the JSON report.
    pub fn copy_to(&self, from: &str, to: &str, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json", "copy", "--to", to];
        all.extend_from_slice(args);
        let out = self
            .command(from, PW_A, &all)
            .env("HOLDFAST_TO_PASSWORD", PW_B)
            .output()
            .expect("run holdfast");
        json(&check(out, &all, 0))
    }
}

/// Asserts the exit code of a finished run; returns stdout.
pub fn check(out: Output, args: &[&str], code: i32) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "holdfast {args:?}\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// `n` bytes that zstd cannot shrink (xorshift), different for each `seed`.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Writes `files` files of `size` bytes of noise under `dir` (two sub-directories).
pub fn generate(dir: &Path, files: usize, size: usize, seed: u64) {
    for i in 0..files {
        let sub = dir.join(if i % 2 == 0 { "even" } else { "odd" });
        std::fs::create_dir_all(&sub).expect("mkdir");
        std::fs::write(
            sub.join(format!("f{i:03}.bin")),
            noise(size, seed + i as u64),
        )
        .expect("write");
    }
}

/// The id of the newest snapshot (`snapshots --json`).
pub fn snapshot_ids(s: &Scratch, url: &str, password: &str) -> Vec<serde_json::Value> {
    let out = s.ok(url, password, &["--json", "snapshots"], 0);
    json(&out).as_array().cloned().unwrap_or_default()
}
