//! Test helpers: a tmpfs mounted into a temporary directory and unmounted on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a fresh temporary directory; unmounted (and the directory removed)
/// when dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
    mount_point: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (such as `"4m"`) with extra options (such as `"ro"`).
    /// Panics with the reason when mounting is not permitted: these tests need root.
    pub fn mount(size: &str, extra: &[&str]) -> Tmpfs {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mount_point = dir.path().join("mnt");
        std::fs::create_dir(&mount_point).expect("mount point directory");
        let mut options = format!("size={size},mode=0755");
        for o in extra {
            options.push(',');
            options.push_str(o);
        }
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(&mount_point)
            .output()
            .expect("run mount(8)");
        assert!(
            out.status.success(),
            "mounting a tmpfs on {} failed (these tests need root and mount permission): {}",
            mount_point.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir, mount_point }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.mount_point
    }

    /// The temporary directory holding the mount point (same filesystem as its parent).
    pub fn parent(&self) -> &Path {
        self.dir.path()
    }

    /// Remounts read-only.
    pub fn remount_read_only(&self) {
        let out = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.mount_point)
            .output()
            .expect("run mount(8)");
        assert!(
            out.status.success(),
            "remount ro: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.mount_point)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mount_point)
                .status();
        }
    }
}

/// Writes `bytes` zero bytes into `path` (fills a tmpfs).
pub fn fill(path: &Path, bytes: usize) {
    std::fs::write(path, vec![0x5a; bytes]).expect("fill file");
}

/// Writes into `path` until the filesystem is full; returns the bytes written.
pub fn fill_until_full(path: &Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create fill file");
    let chunk = vec![0x5a; 4096];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => return written,
            Ok(n) => written += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => return written,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}

impl Tmpfs {
    /// Remounts with a new size (such as `"16m"`).
    pub fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.mount_point)
            .output()
            .expect("run mount(8)");
        assert!(
            out.status.success(),
            "remount size: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Deterministic pseudo-random bytes (xorshift), so files do not compress or dedupe.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
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

/// A directory bind-mounted read-only onto itself; unmounted when dropped.
pub struct ReadOnlyBind {
    path: PathBuf,
}

impl ReadOnlyBind {
    /// Makes `path` read-only by bind-mounting it onto itself and remounting `ro`.
    pub fn new(path: &Path) -> ReadOnlyBind {
        for args in [vec!["--bind"], vec!["-o", "remount,bind,ro"]] {
            let out = Command::new("mount")
                .args(&args)
                .arg(path)
                .arg(path)
                .output()
                .expect("mount");
            assert!(
                out.status.success(),
                "bind mount {} failed (these tests need root): {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        ReadOnlyBind {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for ReadOnlyBind {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// `source` bind-mounted on `target`; unmounted when dropped.
pub struct BindMount {
    target: PathBuf,
}

impl BindMount {
    /// Bind-mounts `source` on `target` (both directories).
    pub fn new(source: &Path, target: &Path) -> BindMount {
        let out = Command::new("mount")
            .arg("--bind")
            .arg(source)
            .arg(target)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "bind mount on {} failed (these tests need root): {}",
            target.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        BindMount {
            target: target.to_path_buf(),
        }
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.target).status();
    }
}
