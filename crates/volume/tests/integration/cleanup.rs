//! `cleanup` on a real tmpfs where part of the tree is read-only: the files that can be
//! deleted are, the others are counted as errors.

use std::path::Path;
use std::time::{Duration, SystemTime};

use holdfast_volume::cleanup::{CleanupOptions, cleanup_dir};

use super::util::{ReadOnlyBind, Tmpfs};

fn old_file(path: &Path, len: usize, age: Duration) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, vec![7u8; len]).expect("write");
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    f.set_modified(SystemTime::now() - age).expect("mtime");
}

#[test]
fn undeletable_files_do_not_stop_the_rest() {
    let fs = Tmpfs::mount("4m", &[]);
    let week = Duration::from_secs(7 * 86_400);
    old_file(&fs.path().join("a/old-1.log"), 100, 2 * week);
    old_file(&fs.path().join("locked/old-2.log"), 200, 2 * week);
    old_file(&fs.path().join("z/old-3.log"), 300, 2 * week);
    old_file(&fs.path().join("z/new.log"), 400, Duration::from_secs(60));
    let _ro = ReadOnlyBind::new(&fs.path().join("locked"));
    let opts = CleanupOptions {
        older_than: week,
        filter: None,
        dry_run: false,
        now: None,
    };
    let report = cleanup_dir(fs.path(), &opts).expect("cleanup");
    assert_eq!((report.deleted, report.bytes, report.errors), (2, 400, 1));
    assert!(
        report.problems[0].contains("old-2.log"),
        "{:?}",
        report.problems
    );
    assert!(
        report.problems[0].contains("Read-only file system"),
        "{:?}",
        report.problems
    );
    assert!(!fs.path().join("a/old-1.log").exists());
    assert!(!fs.path().join("z/old-3.log").exists());
    assert!(fs.path().join("z/new.log").exists());
    assert!(fs.path().join("locked/old-2.log").exists());
}
