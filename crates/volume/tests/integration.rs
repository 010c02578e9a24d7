//! Integration tests of holdfast-volume against real filesystems: tmpfs mounts made by the
//! tests themselves (they run as root; a test fails, with the reason, where mounting is not
//! allowed), and fixture directories.

mod integration {
    mod backup_databases;
    mod cleanup;
    mod hostile_input;
    mod lint;
    mod migrate;
    mod migrate_store;
    mod restore_live;
    mod restore_path;
    mod sqlite_crash;
    mod sqlite_follow;
    mod status;
    mod swap;
    mod util;
}
