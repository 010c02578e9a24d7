//! Helpers of the repository command tests: a repository URL with a password and a
//! scratch directory, and `holdfast` runs against it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A repository under test and a scratch directory.
pub struct RepoEnv {
    pub url: String,
    pub dir: tempfile::TempDir,
}

/// The S3 or Azure test URL from the environment with a fresh prefix; fails (never
/// skips) when the variable is missing.
pub fn remote_url(var: &str) -> String {
    let base = std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests through scripts/test.sh, which starts the servers")
    });
    let prefix = uuid::Uuid::new_v4().simple().to_string();
    match base.split_once('?') {
        Some((head, query)) => format!("{}/{prefix}?{query}", head.trim_end_matches('/')),
        None => format!("{}/{prefix}", base.trim_end_matches('/')),
    }
}

impl RepoEnv {
    /// A file:// repository inside a fresh scratch directory.
    pub fn local() -> RepoEnv {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("file://{}", dir.path().join("repo").display());
        RepoEnv { url, dir }
    }

    /// A repository at `url` and a fresh scratch directory.
    pub fn at(url: String) -> RepoEnv {
        RepoEnv {
            url,
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `holdfast ARGS…` with this repository and password.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, Some("correct horse"))
    }

    /// `holdfast ARGS…` with the given password (or none).
    pub fn run_with(&self, args: &[&str], password: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("HOLDFAST_REPOSITORY", &self.url)
            .env("HOLDFAST_CACHE_DIR", self.dir.path().join("cache"))
            .env_remove("HOLDFAST_CONFIG")
            .env_remove("HOLDFAST_PASSWORD_FILE")
            .env_remove("STORAGE_TYPE");
        match password {
            Some(p) => cmd.env("HOLDFAST_PASSWORD", p),
            None => cmd.env_remove("HOLDFAST_PASSWORD"),
        };
        cmd.output().expect("run holdfast")
    }

    /// `holdfast ARGS…` as an unprivileged user: as `nobody` through `setpriv` when the
    /// tests run as root (so file permissions apply), else as the current user.
    pub fn run_unprivileged(&self, args: &[&str]) -> Output {
        use std::os::unix::fs::MetadataExt;
        let root = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let mut cmd = if root {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                env!("CARGO_BIN_EXE_holdfast"),
            ]);
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_holdfast"))
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("HOLDFAST_REPOSITORY", &self.url)
            .env("HOLDFAST_PASSWORD", "correct horse")
            .env("HOLDFAST_CACHE_DIR", self.dir.path().join("cache"))
            .env_remove("HOLDFAST_CONFIG")
            .env_remove("HOLDFAST_PASSWORD_FILE")
            .env_remove("STORAGE_TYPE");
        cmd.output().expect("run holdfast")
    }

    /// Runs and asserts the exit code; returns stdout.
    pub fn ok(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "holdfast {args:?}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

/// A small directory with files, an empty file and dir, a symlink and a unicode name.
pub fn sample(root: &Path) {
    std::fs::create_dir_all(root.join("sub/empty")).expect("mkdir");
    std::fs::write(root.join("hello.txt"), "hello\n").expect("write");
    std::fs::write(root.join("empty"), "").expect("write");
    std::fs::write(root.join("sub/ünï €.txt"), "unicode").expect("write");
    let big: Vec<u8> = (0..2_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(root.join("sub/big.bin"), big).expect("write");
    std::os::unix::fs::symlink("hello.txt", root.join("link")).expect("symlink");
}

/// Relative path → file content or link target, for every entry under `root`.
pub fn contents(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            let rel = p
                .strip_prefix(root)
                .expect("prefix")
                .to_string_lossy()
                .into_owned();
            let m = std::fs::symlink_metadata(&p).expect("stat");
            if m.is_dir() {
                stack.push(p);
                out.push((rel, b"<dir>".to_vec()));
            } else if m.file_type().is_symlink() {
                out.push((
                    rel,
                    std::fs::read_link(&p)
                        .expect("readlink")
                        .into_os_string()
                        .into_encoded_bytes(),
                ));
            } else {
                out.push((rel, std::fs::read(&p).expect("read")));
            }
        }
    }
    out.sort();
    out
}

/// Every file (not directory) under `dir`, sorted; none when `dir` is missing.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// `len` deterministic bytes that zstd cannot shrink (xorshift), different for each
/// `seed`: the one generator of incompressible test data.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
