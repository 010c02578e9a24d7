//! CLI integration tests: the `holdfast` binary run against real directories and mounts.

mod integration {
    mod child_secrets;
    mod cli_conventions;
    mod copy_append_only;
    mod copy_backends;
    mod copy_local;
    mod copy_util;
    mod key_roundtrip;
    mod logs_collectors;
    mod notify_backup;
    mod protect_metrics;
    mod protect_outage;
    mod protect_start;
    mod repo_backends;
    mod repo_lock_loss;
    mod repo_repair;
    mod repo_suite;
    mod repo_unavailable;
    mod repo_util;
    mod repo_verify_subset;
    mod restore_overwrite;
    mod restore_swap;
    mod restore_swap_database;
    mod retention_forget;
    mod retention_locks;
    mod retention_restic;
    mod retention_util;
    mod run_guard;
    mod serve_api;
    mod serve_backup;
    mod serve_http_limits;
    mod serve_status_page;
    mod serve_status_token;
    mod serve_stream;
    mod serve_symlink_race;
    mod serve_util;
    mod snapshots_tools;
    mod store_redaction;
    mod torture;
    mod volume_cleanup;
    mod volume_import;
    mod volume_lint;
    mod volume_migrate;
    mod volume_status;
    mod volume_util;
}
