//! Status probes against real tmpfs mounts.

use std::path::Path;

use holdfast_volume::config::Config;
use holdfast_volume::status::{UsageBasis, VolumeStatus, probe};

use std::os::unix::fs::MetadataExt;

use holdfast_volume::mounts::{is_mount_point, read_mountinfo};

use super::util::{BindMount, Tmpfs, fill, fill_until_full};

fn volume_config(path: &Path, extra: &str) -> Config {
    let text = format!(
        "[[volumes]]\nname = \"data\"\npath = {:?}\nrequire_mount = true\n{extra}",
        path.display().to_string()
    );
    Config::from_toml(&text, Path::new("holdfast.toml"), &|_| None).expect("valid config")
}

fn status_of(path: &Path, extra: &str) -> VolumeStatus {
    let config = volume_config(path, extra);
    probe(&config.volumes[0])
}

#[test]
fn healthy_tmpfs_volume() {
    let fs = Tmpfs::mount("8m", &[]);
    std::fs::create_dir(fs.path().join("db")).expect("mkdir");
    std::fs::write(fs.path().join("db/app.db"), b"x").expect("db file");
    let s = status_of(
        fs.path(),
        "alert_at = \"80%\"\ndatabases = [{ kind = \"sqlite\", path = \"db/app.db\" }]\n",
    );
    assert!(s.mounted, "{s:?}");
    assert!(s.writable, "{s:?}");
    assert_eq!(s.size_total, 8 << 20);
    assert!(s.size_available > 7 << 20, "{s:?}");
    assert!(s.database_exists);
    assert_eq!(s.details.fs_type.as_deref(), Some("tmpfs"));
    assert!(s.alerts.is_empty(), "{:?}", s.alerts);
    let leftovers: Vec<_> = std::fs::read_dir(fs.path()).expect("list").collect();
    assert_eq!(leftovers.len(), 1, "the probe file must be removed");
}

#[test]
fn plain_directory_is_not_mounted() {
    let fs = Tmpfs::mount("1m", &[]);
    let plain = fs.parent().join("plain");
    std::fs::create_dir(&plain).expect("mkdir");
    let s = status_of(
        &plain,
        "databases = [{ kind = \"sqlite\", path = \"app.db\" }]\n",
    );
    assert!(!s.mounted);
    assert!(s.writable);
    assert!(!s.database_exists);
    assert_eq!(s.alerts.len(), 1, "{:?}", s.alerts);
    assert!(s.alerts[0].contains("not a mount point"), "{:?}", s.alerts);
}

#[test]
fn read_only_tmpfs_is_not_writable() {
    let fs = Tmpfs::mount("1m", &[]);
    fs.remount_read_only();
    let s = status_of(fs.path(), "");
    assert!(s.mounted);
    assert!(!s.writable);
    let reason = s.details.writable_error.clone().unwrap_or_default();
    assert!(reason.contains("Read-only file system"), "{reason}");
    assert!(
        s.alerts.iter().any(|a| a.starts_with("not writable")),
        "{:?}",
        s.alerts
    );
}

#[test]
fn full_tmpfs_is_past_alert_and_not_writable() {
    let fs = Tmpfs::mount("1m", &[]);
    fill(&fs.path().join("big"), 900 << 10);
    let s = status_of(fs.path(), "alert_at = \"80%\"\n");
    assert!(s.usage_percent >= 80.0, "{s:?}");
    assert!(
        s.alerts.iter().any(|a| a.contains("past alert_at 80%")),
        "{:?}",
        s.alerts
    );
    assert!(s.writable, "there is still room for a probe");

    fill_until_full(&fs.path().join("rest"));
    let full = status_of(fs.path(), "alert_at = \"80%\"\n");
    assert!(!full.writable, "{full:?}");
    let reason = full.details.writable_error.clone().unwrap_or_default();
    assert!(reason.contains("No space left"), "{reason}");
}

#[test]
fn fill_grows_into_failed_write() {
    let fs = Tmpfs::mount("1m", &[]);
    let err = std::fs::write(fs.path().join("too-big"), vec![0u8; 2 << 20]).expect_err("no room");
    assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
}

#[test]
fn declared_size_smaller_than_filesystem() {
    let fs = Tmpfs::mount("8m", &[]);
    fill(&fs.path().join("data"), 900 << 10);
    let s = status_of(fs.path(), "size = \"1Mi\"\nalert_at = \"80%\"\n");
    assert_eq!(s.details.usage_basis, UsageBasis::DeclaredSize);
    assert!(s.usage_percent > 80.0, "{s:?}");
    assert!(
        s.alerts.iter().any(|a| a.contains("declared size 1.0 MiB")),
        "{:?}",
        s.alerts
    );
}

#[test]
fn missing_path_alerts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = status_of(&dir.path().join("absent"), "");
    assert!(!s.mounted && !s.writable);
    assert_eq!((s.size_total, s.size_available), (0, 0));
    assert!(s.alerts[0].contains("does not exist"), "{:?}", s.alerts);
}

#[test]
fn json_has_exactly_the_documented_fields() {
    let fs = Tmpfs::mount("1m", &[]);
    let s = status_of(fs.path(), "");
    let value = serde_json::to_value(&s).expect("json");
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "alerts",
            "backup_max_age_s",
            "database_exists",
            "last_backup",
            "last_backup_error",
            "last_check",
            "mounted",
            "name",
            "path",
            "size_available",
            "size_total",
            "usage_percent",
            "writable"
        ]
    );
}

#[test]
fn bind_mount_on_the_same_device_is_found_in_mountinfo() {
    let fs = Tmpfs::mount("1m", &[]);
    let source = fs.path().join("source");
    let target = fs.path().join("my volume\twith\\escapes");
    std::fs::create_dir(&source).expect("mkdir");
    std::fs::create_dir(&target).expect("mkdir");
    let _bind = BindMount::new(&source, &target);
    let dev = |p: &Path| std::fs::metadata(p).expect("stat").dev();
    assert_eq!(
        dev(&target),
        dev(fs.path()),
        "a bind mount keeps the device number"
    );
    let entries = read_mountinfo().expect("mountinfo");
    assert!(
        entries.iter().any(|e| e.mount_point == target),
        "mountinfo lists the escaped mount point {}",
        target.display()
    );
    assert!(is_mount_point(&target, &entries).expect("stat"));
    assert!(!is_mount_point(&source, &entries).expect("stat"));
    assert!(status_of(&target, "").mounted);
}

#[test]
fn a_symlink_to_a_mount_point_counts_as_mounted() {
    let fs = Tmpfs::mount("1m", &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("data");
    std::os::unix::fs::symlink(fs.path(), &link).expect("symlink");
    let s = status_of(&link, "");
    assert!(s.mounted && s.writable, "{s:?}");
    assert!(s.alerts.is_empty(), "{:?}", s.alerts);
}
