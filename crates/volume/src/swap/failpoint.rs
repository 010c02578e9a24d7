//! The steps of a swap, and the hook a test puts at them.
//!
//! [`SwapOptions::hook`](super::SwapOptions) is called after every step; an error from
//! it stops the swap right there, with nothing cleaned up, exactly as a crash would.
//! Builds with the `failpoints` feature also read the environment
//! ([`from_env`]): `HOLDFAST_SWAP_FAILPOINT=STEP` names a step; with
//! `HOLDFAST_SWAP_FAILPOINT_WAIT=FILE` the process creates FILE at that step and waits
//! until FILE is removed (a test kills it meanwhile), without it the process kills
//! itself with SIGKILL there. Release builds have no such hook.

use std::fmt;
use std::sync::Arc;

/// A step of a swap, reported to the hook once it is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// The work directory exists; no journal yet.
    Begun,
    /// The journal says `staging`; the caller writes the stage next.
    JournalStaging,
    /// The stage is on disk.
    StageSynced,
    /// The journal says `staged` and lists every entry.
    JournalStaged,
    /// The N-th old entry (from 0) was moved aside.
    MovedOld(usize),
    /// Every old entry is aside and the directories are synced.
    OldSynced,
    /// The N-th new entry (from 0) was moved into place.
    MovedNew(usize),
    /// Every new entry is in place and the directories are synced.
    NewSynced,
    /// The journal says `swapped`.
    JournalSwapped,
    /// The old copy is removed (or moved to where it is kept).
    OldRemoved,
    /// The journal is removed; the work directory goes next.
    JournalRemoved,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Begun => f.write_str("begun"),
            Step::JournalStaging => f.write_str("journal-staging"),
            Step::StageSynced => f.write_str("stage-synced"),
            Step::JournalStaged => f.write_str("journal-staged"),
            Step::MovedOld(n) => write!(f, "moved-old:{n}"),
            Step::OldSynced => f.write_str("old-synced"),
            Step::MovedNew(n) => write!(f, "moved-new:{n}"),
            Step::NewSynced => f.write_str("new-synced"),
            Step::JournalSwapped => f.write_str("journal-swapped"),
            Step::OldRemoved => f.write_str("old-removed"),
            Step::JournalRemoved => f.write_str("journal-removed"),
        }
    }
}

/// Called after each step; an error is a simulated crash at that step.
pub type Hook = Arc<dyn Fn(Step) -> std::io::Result<()> + Send + Sync>;

/// The hook from `HOLDFAST_SWAP_FAILPOINT` (see the module docs), if set.
#[cfg(feature = "failpoints")]
pub fn from_env() -> Option<Hook> {
    let step = std::env::var("HOLDFAST_SWAP_FAILPOINT").ok()?;
    let wait = std::env::var_os("HOLDFAST_SWAP_FAILPOINT_WAIT").map(std::path::PathBuf::from);
    Some(Arc::new(move |s: Step| {
        if s.to_string() != step {
            return Ok(());
        }
        match &wait {
            Some(file) => {
                std::fs::write(file, step.as_bytes())?;
                while file.exists() {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Ok(())
            }
            None => {
                let me = rustix::process::getpid();
                rustix::process::kill_process(me, rustix::process::Signal::KILL)?;
                Ok(())
            }
        }
    }))
}

/// Without the `failpoints` feature there is no hook from the environment.
#[cfg(not(feature = "failpoints"))]
pub fn from_env() -> Option<Hook> {
    None
}
