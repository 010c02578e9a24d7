//! Helpers of the volume command tests: a temporary directory to run `holdfast` in, and a
//! tmpfs mounted for the length of a test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary working directory for one `holdfast` invocation or more.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    /// A fresh empty directory.
    pub fn new() -> TestDir {
        TestDir {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `name` (relative), creating parent directories.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directories");
        }
        std::fs::write(&path, contents).expect("write test file");
        path
    }

    /// `holdfast ARGS…` run in this directory, with no config from the environment.
    pub fn holdfast(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_holdfast"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("HOLDFAST_CONFIG")
            .env_remove("RAILWAY_VOLUME_MOUNT_PATH")
            .output()
            .expect("run holdfast")
    }
}

/// Exit code, stdout and stderr of a run, for assertions and failure messages.
pub fn outcome(out: &Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A tmpfs mounted on a fresh directory, unmounted when dropped. Mounting needs root:
/// where it is not permitted the test fails and says why.
pub struct Tmpfs {
    _dir: tempfile::TempDir,
    mount_point: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`"4m"`) with extra options (`"ro"`).
    pub fn mount(size: &str, extra: &[&str]) -> Tmpfs {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mount_point = dir.path().join("mnt");
        std::fs::create_dir(&mount_point).expect("mount point");
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
        Tmpfs {
            _dir: dir,
            mount_point,
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.mount_point
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

/// Writes into `path` until the filesystem is full.
pub fn fill_until_full(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create fill file");
    let chunk = vec![0x5a; 4096];
    loop {
        match f.write(&chunk) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => return,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}
