//! Failpoints: the named steps of backup, prune, restore and WAL shipping where a test stops an operation, makes
//! it fail, or holds it while another client runs.
//!
//! Every operation that writes to a repository calls [`Failpoints::hit`] at each step
//! that matters to the invariant in docs/FORMAT.md ("Invariant"). Without a hook the call
//! does nothing. A test installs an async hook with [`Failpoints::new`]: it can park the
//! operation at a step (await a channel) while another client runs to completion, then
//! let it go on, or return an error to simulate a failure there. Each operation has its
//! own hook, so two clients in one process are driven independently.
//!
//! For real processes, debug builds (and builds with the `failpoints` feature) also read
//! `HOLDFAST_FAILPOINTS=step=action[,step=action]` ([`Failpoints::from_env`]), where the
//! action is `stop` (the process sends itself SIGSTOP, so a test can act while it is
//! paused and then continue it), `park` (prints `failpoint STEP: parked` on stderr and
//! waits until the operation is cancelled, e.g. by SIGINT), `kill` (SIGKILL: a crash at
//! exactly that step) or `error`. The step names are [`Step::name`]. Release builds
//! without the feature have no such hook.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::error::{Error, Result};

/// A step of an operation where a failpoint sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Backup: the lock is held and the index reloaded; nothing is written yet.
    BackupLocked,
    /// Backup: every pack is uploaded; no index file names them yet.
    BackupAfterUpload,
    /// Backup: the index file of the new packs is written.
    BackupAfterIndex,
    /// Backup: the snapshot is ready; the lock check and the commit are next.
    BackupBeforeSnapshot,
    /// Backup: the snapshot is written; the lock is still held.
    BackupAfterSnapshot,
    /// Prune: the lock is held, the used blobs are known; nothing is written yet.
    PruneAfterMark,
    /// Prune: the repacked blobs are in new packs.
    PruneAfterRepack,
    /// Prune: the new index is written.
    PruneAfterIndex,
    /// Prune: a batch of deletions (old index files, or packs) is done.
    PruneAfterDelete,
    /// Restore: the lock is held and every tree is read; no file content is fetched yet.
    RestoreAfterTrees,
    /// WAL follower: a base part is stored; the head is not written yet.
    WalBaseAfterPart,
    /// WAL follower: every base part and segment is stored; the head is next.
    WalBaseBeforeHead,
    /// WAL follower: the head is stored; the follower has not recorded the lineage yet.
    WalAfterHead,
    /// WAL follower: a segment is stored; the follower has not advanced its cursor yet.
    WalAfterSegment,
    /// WAL follower: a compacted segment is stored; the level-0 ones are not forgotten.
    WalAfterCompact,
    /// Prune of `wal/`: one object of a doomed lineage is deleted.
    WalPruneAfterDelete,
}

impl Step {
    /// Every step, in no particular order.
    pub const ALL: [Step; 16] = [
        Step::BackupLocked,
        Step::BackupAfterUpload,
        Step::BackupAfterIndex,
        Step::BackupBeforeSnapshot,
        Step::BackupAfterSnapshot,
        Step::PruneAfterMark,
        Step::PruneAfterRepack,
        Step::PruneAfterIndex,
        Step::PruneAfterDelete,
        Step::RestoreAfterTrees,
        Step::WalBaseAfterPart,
        Step::WalBaseBeforeHead,
        Step::WalAfterHead,
        Step::WalAfterSegment,
        Step::WalAfterCompact,
        Step::WalPruneAfterDelete,
    ];

    /// The step's name in `HOLDFAST_FAILPOINTS`, e.g. `backup-after-index`.
    pub fn name(self) -> &'static str {
        match self {
            Step::BackupLocked => "backup-locked",
            Step::BackupAfterUpload => "backup-after-upload",
            Step::BackupAfterIndex => "backup-after-index",
            Step::BackupBeforeSnapshot => "backup-before-snapshot",
            Step::BackupAfterSnapshot => "backup-after-snapshot",
            Step::PruneAfterMark => "prune-after-mark",
            Step::PruneAfterRepack => "prune-after-repack",
            Step::PruneAfterIndex => "prune-after-index",
            Step::PruneAfterDelete => "prune-after-delete",
            Step::RestoreAfterTrees => "restore-after-trees",
            Step::WalBaseAfterPart => "wal-base-after-part",
            Step::WalBaseBeforeHead => "wal-base-before-head",
            Step::WalAfterHead => "wal-after-head",
            Step::WalAfterSegment => "wal-after-segment",
            Step::WalAfterCompact => "wal-after-compact",
            Step::WalPruneAfterDelete => "wal-prune-after-delete",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

type Hook = dyn Fn(Step) -> BoxFuture<'static, Result<()>> + Send + Sync;

/// The failpoints of one operation; the default has none.
#[derive(Clone, Default)]
pub struct Failpoints(Option<Arc<Hook>>);

impl Failpoints {
    /// Failpoints that call `hook` at every step; an error it returns fails the
    /// operation there.
    pub fn new(
        hook: impl Fn(Step) -> BoxFuture<'static, Result<()>> + Send + Sync + 'static,
    ) -> Self {
        Failpoints(Some(Arc::new(hook)))
    }

    /// Failpoints from `HOLDFAST_FAILPOINTS` (debug builds or the `failpoints` feature;
    /// none otherwise, or when the variable is unset or malformed).
    pub fn from_env() -> Self {
        #[cfg(any(debug_assertions, feature = "failpoints"))]
        if let Some(spec) = std::env::var_os("HOLDFAST_FAILPOINTS") {
            return env::parse(&spec.to_string_lossy());
        }
        Failpoints::default()
    }

    /// Runs the hook for `step`, if any.
    pub async fn hit(&self, step: Step) -> Result<()> {
        match &self.0 {
            Some(hook) => hook(step).await,
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Failpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Failpoints(hook)"
        } else {
            "Failpoints(none)"
        })
    }
}

/// The failure a failpoint injects.
pub fn injected(step: Step) -> Error {
    Error::Internal(format!("failpoint {step} fired"))
}

#[cfg(any(debug_assertions, feature = "failpoints"))]
mod env {
    //! `HOLDFAST_FAILPOINTS` for real-process tests.
    use super::{Failpoints, Step, injected};

    #[derive(Clone, Copy)]
    enum Action {
        Stop,
        Park,
        Kill,
        Error,
    }

    pub(super) fn parse(spec: &str) -> Failpoints {
        let mut rules = Vec::new();
        for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
            let Some((name, action)) = part.trim().split_once('=') else {
                continue;
            };
            let Some(step) = Step::ALL.into_iter().find(|s| s.name() == name) else {
                continue;
            };
            let action = match action {
                "stop" => Action::Stop,
                "park" => Action::Park,
                "kill" => Action::Kill,
                "error" => Action::Error,
                _ => continue,
            };
            rules.push((step, action));
        }
        if rules.is_empty() {
            return Failpoints::default();
        }
        Failpoints::new(move |step| {
            let action = rules.iter().find(|(s, _)| *s == step).map(|(_, a)| *a);
            Box::pin(async move {
                let me = rustix::process::getpid();
                match action {
                    None => Ok(()),
                    Some(Action::Stop) => {
                        let _ = rustix::process::kill_process(me, rustix::process::Signal::STOP);
                        Ok(())
                    }
                    Some(Action::Park) => {
                        eprintln!("holdfast: failpoint {step}: parked");
                        std::future::pending::<()>().await;
                        Ok(())
                    }
                    Some(Action::Kill) => {
                        let _ = rustix::process::kill_process(me, rustix::process::Signal::KILL);
                        Err(injected(step))
                    }
                    Some(Action::Error) => Err(injected(step)),
                }
            })
        })
    }
}
