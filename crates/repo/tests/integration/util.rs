//! Shared helpers: a test repository and a sample directory tree with its comparison.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use holdfast_repo::{IndexedRepository, InitOptions, KdfParams, OpenOptions, Repository};
use holdfast_store::Store;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub struct TestRepo {
    pub dir: tempfile::TempDir,
    pub url: String,
}

impl TestRepo {
    pub async fn new() -> Result<(TestRepo, IndexedRepository), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let url = format!("file://{}", dir.path().join("repo").display());
        let opts = InitOptions {
            password: "pw".into(),
            kdf: KdfParams::insecure_fast(),
        };
        let repo = holdfast_repo::init(Store::open(&url)?, &opts).await?;
        let repo = repo.load_index().await?;
        Ok((TestRepo { dir, url }, repo))
    }

    pub async fn open(&self, password: &str) -> holdfast_repo::Result<Repository> {
        let store = Store::open(&self.url)?;
        holdfast_repo::open(
            store,
            &OpenOptions {
                password: password.into(),
                cache: Some(false),
            },
        )
        .await
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// Every object file under a prefix of the repository directory.
    pub fn objects(&self, prefix: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.root().join(prefix)];
        while let Some(d) = stack.pop() {
            let Ok(rd) = fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p)
                } else {
                    out.push(p)
                }
            }
        }
        out.sort();
        out
    }
}

pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A directory with every kind of entry holdfast keeps.
pub fn sample_tree(root: &Path) -> std::io::Result<()> {
    fs::create_dir_all(root.join("sub/deeper"))?;
    fs::create_dir_all(root.join("empty-dir"))?;
    fs::write(root.join("hello.txt"), "hello world\n")?;
    fs::write(root.join("empty"), "")?;
    fs::write(
        root.join("sub/big.bin"),
        pseudo_random(5 * 1024 * 1024 + 17, 1),
    )?;
    fs::write(root.join("sub/deeper/text.txt"), "a".repeat(300_000))?;
    fs::write(root.join("sub/日本語 ünïcode.txt"), "unicode")?;
    fs::write(root.join("script.sh"), "#!/bin/sh\n")?;
    fs::set_permissions(root.join("script.sh"), fs::Permissions::from_mode(0o755))?;
    fs::set_permissions(root.join("sub/deeper"), fs::Permissions::from_mode(0o700))?;
    std::os::unix::fs::symlink("hello.txt", root.join("link"))?;
    std::os::unix::fs::symlink("../nowhere", root.join("sub/dangling"))?;
    let t = filetime::FileTime::from_unix_time(1_600_000_000, 123_456_789);
    filetime::set_file_mtime(root.join("hello.txt"), t)?;
    filetime::set_symlink_file_times(root.join("link"), t, t)?;
    filetime::set_file_mtime(root.join("sub/deeper"), t)?;
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    kind: &'static str,
    mode: u32,
    mtime: (i64, i64),
    content: Vec<u8>,
}

/// Path → (kind, mode, mtime, content or link target) of everything under `root`.
pub fn snapshot_of(root: &Path) -> std::io::Result<BTreeMap<PathBuf, Meta>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let p = e?.path();
            let m = fs::symlink_metadata(&p)?;
            let rel = p
                .strip_prefix(root)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let (kind, content) = if m.is_dir() {
                stack.push(p.clone());
                ("dir", Vec::new())
            } else if m.file_type().is_symlink() {
                (
                    "link",
                    fs::read_link(&p)?.into_os_string().into_encoded_bytes(),
                )
            } else {
                ("file", fs::read(&p)?)
            };
            out.insert(
                rel,
                Meta {
                    kind,
                    mode: m.mode() & 0o7777,
                    mtime: (m.mtime(), m.mtime_nsec()),
                    content,
                },
            );
        }
    }
    Ok(out)
}
