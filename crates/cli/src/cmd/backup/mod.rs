//! `holdfast backup [PATH…] [--volume NAME]`: one snapshot per path, or, without paths,
//! one per configured volume (with consistent copies of its databases, between the
//! `[hooks]`); exit 3 when a snapshot is incomplete.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use holdfast_repo::{BackupOptions, BackupProgress};

use crate::context;
use crate::exit::{self, Failure};
use crate::global::GlobalArgs;

mod args;
mod report;
mod volumes;

pub use args::BackupArgs;

/// Runs `holdfast backup`.
pub async fn run(g: &GlobalArgs, args: BackupArgs) -> Result<ExitCode, Failure> {
    if args.paths.is_empty() {
        return volumes::run(g, &args).await;
    }
    // The backup loads the index under its lock; none is loaded before it.
    let mut repo = holdfast_repo::IndexedRepository::without_index(context::open_repo(g).await?);
    let mut incomplete = false;
    let mut reports = Vec::new();
    // SIGINT/SIGTERM stop the backup without committing and remove its lock.
    let interrupt = crate::interrupt::Interrupt::listen();
    for (i, path) in args.paths.iter().enumerate() {
        let progress = Arc::new(BackupProgress::default());
        let mut opts = BackupOptions::new(path);
        opts.cancel = interrupt.token.clone();
        opts.tags = args.tags.clone();
        opts.time = args.time.map(|t| t.with_timezone(&chrono::Utc));
        opts.excludes = args.excludes.clone();
        opts.progress = Some(progress.clone());
        let bar = crate::progress::show_backup(g, progress, vec![path.clone()]);
        let result = holdfast_repo::backup(&mut repo, &opts).await;
        drop(bar);
        if let (Err(_), Some(signal)) = (&result, interrupt.received()) {
            return Err(interrupted(signal, path, i > 0));
        }
        let summary = result.with_context(|| format!("backing up {}", path.display()))?;
        incomplete |= report::report(g, &summary, &mut reports)?;
    }
    report::print_reports(g, &reports)?;
    Ok(exit::problems_if(incomplete))
}

/// The failure of a backup stopped by `signal` while it backed up `path` (exit 130 or
/// 143); `earlier` is true when snapshots of earlier paths were committed.
fn interrupted(signal: crate::interrupt::Signal, path: &std::path::Path, earlier: bool) -> Failure {
    let done = if earlier {
        "nothing of it was committed (the snapshots before it were)"
    } else {
        "nothing was committed; the repository is unchanged"
    };
    Failure {
        error: anyhow::anyhow!(
            "backup of {} cancelled by {}: {done}; run the backup again to continue",
            path.display(),
            signal.name()
        ),
        code: signal.exit_code(),
    }
}
