//! The agent in-process, without the binary: the HTTP router driven with
//! `tower::ServiceExt::oneshot` (no socket), and the jobs of the scheduler run on
//! `file://` repositories in temporary directories.

mod integration {
    mod backup_failure;
    mod router;
    mod util;
}
