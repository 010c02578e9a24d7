//! The agent in-process, without the binary: the HTTP router driven with
//! `tower::ServiceExt::oneshot` (no socket), the jobs of the scheduler run on `file://`
//! repositories in temporary directories, and the notifier against a small receiver on
//! loopback.

mod integration {
    mod backup_failure;
    mod browse;
    mod browse_page;
    mod login;
    mod notify;
    mod restores;
    mod router;
    mod util;
}
