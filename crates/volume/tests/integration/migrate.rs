//! `migrate` between real tmpfs mounts: metadata kept, re-runs resume, overlaps refused,
//! running out of space is a clear error that leaves the source alone.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use holdfast_volume::migrate::{MigrateError, MigrateOptions, migrate};

use super::util::{Tmpfs, noise};

fn write(path: &Path, data: &[u8], mode: u32, age_days: u64) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, data).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    let when =
        SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000 - age_days * 86_400, 123_456_789);
    std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(when)
        .expect("mtime");
}

fn tree(root: &Path) {
    write(&root.join("db/app.db"), &noise(300_000, 1), 0o600, 1);
    write(&root.join("db/empty"), b"", 0o644, 2);
    write(
        &root.join("uploads/a b/photo.jpg"),
        &noise(70_000, 2),
        0o640,
        3,
    );
    write(&root.join("run.sh"), b"#!/bin/sh\n", 0o755, 4);
    std::os::unix::fs::symlink("db/app.db", root.join("current.db")).expect("symlink");
    std::os::unix::fs::symlink("/nowhere", root.join("dangling")).expect("symlink");
    std::os::unix::fs::chown(root.join("uploads/a b/photo.jpg"), Some(1234), Some(5678))
        .expect("chown");
    std::fs::set_permissions(root.join("uploads"), std::fs::Permissions::from_mode(0o750))
        .expect("chmod");
}

fn assert_same_meta(src: &Path, dst: &Path, rel: &str) {
    let a = std::fs::symlink_metadata(src.join(rel)).expect("src meta");
    let b = std::fs::symlink_metadata(dst.join(rel)).expect("dst meta");
    assert_eq!(a.mode(), b.mode(), "{rel} mode");
    assert_eq!((a.uid(), a.gid()), (b.uid(), b.gid()), "{rel} owner");
    assert_eq!(
        (a.mtime(), a.mtime_nsec()),
        (b.mtime(), b.mtime_nsec()),
        "{rel} mtime"
    );
    assert_eq!(a.len(), b.len(), "{rel} size");
}

#[test]
fn copies_with_metadata_and_resumes() {
    let src = Tmpfs::mount("8m", &[]);
    let dst = Tmpfs::mount("8m", &[]);
    tree(src.path());
    let target = dst.path().join("new-volume");
    let opts = MigrateOptions {
        workers: 3,
        verify: true,
        ..MigrateOptions::default()
    };
    let r = migrate(src.path(), &target, &opts).expect("migrate");
    assert_eq!(
        (r.files, r.copied, r.skipped, r.symlinks, r.dirs),
        (4, 4, 0, 2, 3)
    );
    assert_eq!(r.bytes, 300_000 + 70_000 + 10);
    assert!(r.verified);
    for rel in [
        "db/app.db",
        "db/empty",
        "uploads/a b/photo.jpg",
        "run.sh",
        "uploads",
        "db",
        "current.db",
        "dangling",
    ] {
        assert_same_meta(src.path(), &target, rel);
    }
    assert_eq!(
        std::fs::read(target.join("db/app.db")).expect("read"),
        noise(300_000, 1)
    );
    assert_eq!(
        std::fs::read_link(target.join("current.db")).expect("link"),
        Path::new("db/app.db")
    );
    assert_eq!(
        std::fs::metadata(&target).expect("meta").mode(),
        std::fs::metadata(src.path()).expect("meta").mode()
    );

    let again = migrate(src.path(), &target, &opts).expect("second run");
    assert_eq!((again.copied, again.skipped), (0, 4));
    assert!(again.verified);

    write(
        &src.path().join("run.sh"),
        b"#!/bin/sh\necho changed\n",
        0o755,
        0,
    );
    let third = migrate(src.path(), &target, &opts).expect("third run");
    assert_eq!((third.copied, third.skipped), (1, 3));
    assert_eq!(
        std::fs::read(target.join("run.sh")).expect("read"),
        b"#!/bin/sh\necho changed\n"
    );
}

#[test]
fn verify_catches_a_changed_copy_with_equal_size_and_time() {
    let src = Tmpfs::mount("2m", &[]);
    let dst = Tmpfs::mount("2m", &[]);
    write(&src.path().join("f"), b"original", 0o644, 1);
    migrate(src.path(), dst.path(), &MigrateOptions::default()).expect("first run");
    let copy = dst.path().join("f");
    let mtime = std::fs::metadata(&copy)
        .expect("meta")
        .modified()
        .expect("mtime");
    std::fs::write(&copy, b"tampered").expect("tamper");
    std::fs::File::options()
        .write(true)
        .open(&copy)
        .expect("open")
        .set_modified(mtime)
        .expect("mtime");
    let err = migrate(src.path(), dst.path(), &MigrateOptions::default()).expect_err("mismatch");
    assert!(
        matches!(err, MigrateError::Mismatch { count: 1, .. }),
        "{err}"
    );
}

#[test]
fn refuses_overlapping_paths() {
    let src = Tmpfs::mount("1m", &[]);
    std::fs::create_dir(src.path().join("sub")).expect("mkdir");
    let inside = migrate(
        src.path(),
        &src.path().join("sub/new"),
        &MigrateOptions::default(),
    );
    assert!(
        matches!(&inside, Err(MigrateError::Overlap { message }) if message.contains("inside the source")),
        "{inside:?}"
    );
    let around = migrate(
        &src.path().join("sub"),
        src.path(),
        &MigrateOptions::default(),
    );
    assert!(
        matches!(&around, Err(MigrateError::Overlap { message }) if message.contains("inside the destination")),
        "{around:?}"
    );
    let same = migrate(src.path(), src.path(), &MigrateOptions::default());
    assert!(matches!(same, Err(MigrateError::Overlap { .. })));
    let missing = migrate(
        &src.path().join("absent"),
        &src.path().join("x"),
        &MigrateOptions::default(),
    );
    assert!(matches!(missing, Err(MigrateError::Source { .. })));
}

#[test]
fn out_of_space_names_the_file_and_leaves_the_source_alone() {
    let src = Tmpfs::mount("8m", &[]);
    let dst = Tmpfs::mount("1m", &[]);
    for i in 0..4u64 {
        write(
            &src.path().join(format!("part-{i}")),
            &noise(600_000, i + 10),
            0o644,
            1,
        );
    }
    let before: Vec<Vec<u8>> = (0..4)
        .map(|i| std::fs::read(src.path().join(format!("part-{i}"))).expect("read"))
        .collect();
    let err = migrate(
        src.path(),
        dst.path(),
        &MigrateOptions {
            workers: 2,
            verify: true,
            ..MigrateOptions::default()
        },
    )
    .expect_err("destination too small");
    let MigrateError::NoSpace { file } = &err else {
        panic!("expected NoSpace, got {err}")
    };
    assert!(
        file.starts_with(std::fs::canonicalize(src.path()).expect("canonical")),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("no space left on the destination while copying"),
        "{err}"
    );
    for (i, data) in before.iter().enumerate() {
        assert_eq!(
            &std::fs::read(src.path().join(format!("part-{i}"))).expect("read"),
            data
        );
    }
    let leftovers: Vec<String> = std::fs::read_dir(dst.path())
        .expect("list")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    dst.resize("8m");
    let r = migrate(src.path(), dst.path(), &MigrateOptions::default()).expect("resumed run");
    assert!(r.verified);
    assert_eq!(r.copied + r.skipped, 4);
}
