//! What several commands share, so that no command imports another: the flags of the
//! agent's listener (`serve`, `run`), how long a command waits for its notifications,
//! the lock retry flag (`forget`, `prune`) and the prune report (`prune`, `forget
//! --prune`).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use holdfast_repo::{LockOptions, PruneReport};

use crate::context::outln;

/// How long a command waits for queued notifications before it exits.
pub const FLUSH_LIMIT: Duration = Duration::from_secs(15);

/// The address `serve` and `run` listen on by default: loopback, on a port apps rarely
/// take (`$PORT` is usually 3000, 5000, 8000 or 8080).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8425";

/// Flags of `holdfast serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the address is printed on stderr).
    /// Use 0.0.0.0:8425 to be reachable from a private network (set HOLDFAST_API_TOKEN).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = DEFAULT_LISTEN,
        env = "HOLDFAST_LISTEN"
    )]
    pub listen: SocketAddr,
}

/// Lock options that wait up to `retry` for a conflicting lock to go away.
pub fn lock_options(retry: Option<holdfast_volume::units::HumanDuration>) -> LockOptions {
    LockOptions {
        wait: retry.map(|d| d.get()).unwrap_or_default(),
        ..LockOptions::default()
    }
}

/// Prints a prune report as text.
pub fn print_report(r: &PruneReport) -> anyhow::Result<()> {
    let bytes = |n: u64| indicatif::HumanBytes(n).to_string();
    let would = if r.dry_run { "would be " } else { "" };
    outln!("snapshots kept:   {}", r.snapshots);
    outln!(
        "blobs:            {} used, {} unused",
        r.blobs_used,
        r.blobs_unused
    );
    outln!(
        "packs:            {} -> {} ({} deleted, {} repacked into {}, {} unindexed marked, {} unindexed deleted, {} unindexed kept)",
        r.packs_before,
        r.packs_after,
        r.packs_deleted,
        r.packs_repacked,
        r.packs_written,
        r.unindexed_marked,
        r.unindexed_deleted,
        r.unindexed_kept
    );
    if r.packs_marked + r.marked_waiting + r.packs_rescued > 0 {
        outln!(
            "marked packs:     {} {would}newly marked, {} waiting for the grace period, {} rescued ({} marked)",
            r.packs_marked,
            r.marked_waiting,
            r.packs_rescued,
            bytes(r.marked_bytes)
        );
    }
    if r.wal.kept + r.wal.deleted + r.wal.pg_objects > 0 {
        outln!(
            "replicated wal:   {} lineages {would}deleted ({} objects, {} Postgres segments), {} kept",
            r.wal.deleted,
            r.wal.objects,
            r.wal.pg_objects,
            r.wal.kept
        );
    }
    if r.temp_files_removed > 0 {
        outln!(
            "temp files:       {} {would}removed ({})",
            r.temp_files_removed,
            bytes(r.temp_bytes_removed)
        );
    }
    if r.packs_missing > 0 {
        outln!(
            "missing packs:    {} (dropped from the index)",
            r.packs_missing
        );
    }
    outln!(
        "repository size:  {} -> {} ({} {would}freed)",
        bytes(r.size_before),
        bytes(r.size_after),
        bytes(r.bytes_freed)
    );
    outln!("duration:         {:.2} s", r.duration_s);
    Ok(())
}
