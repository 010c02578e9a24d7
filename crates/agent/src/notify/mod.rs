//! Push notifications (`[[notify]]`): a generic JSON webhook, a healthchecks.io-style
//! ping URL and an ntfy topic.
//!
//! How it works: [`Notifier::notify`] never blocks its caller. Each target has its own
//! bounded queue and background task, so a stalled receiver delays nobody else; a full
//! queue drops the event with a warning. The task sends each event (rendered for its
//! kind by `render`) with a per-request timeout and bounded retries with backoff
//! (`deliver`); a target that keeps failing is logged with its URL redacted to
//! `scheme://host:port/…` and the event dropped. [`Notifier::flush`] waits, up to a
//! limit, for what is queued (used before a short-lived command exits).

mod deliver;
mod render;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use holdfast_volume::config::Notify;
use tokio::sync::mpsc;

pub use deliver::Policy;

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
    /// A backup of `volume` committed a snapshot flagged shrunk: it holds far less than
    /// the volume's last good snapshot (an unmounted volume, or a real deletion to accept
    /// with `holdfast tag ID --remove shrunk`).
    BackupShrunk {
        /// The volume.
        volume: String,
        /// The new snapshot's id.
        snapshot: String,
        /// Why it is flagged: the snapshot compared with and the counts.
        shrunk: holdfast_repo::Shrunk,
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
    /// The point-in-time replication of a SQLite database is failing, or skipped
    /// writes ([`crate::pitr`]); raised once, when it starts.
    PitrAlert {
        /// The volume.
        volume: String,
        /// The database (its path in the volume).
        database: String,
        /// What is wrong, one line.
        message: String,
    },
}

impl Event {
    /// The events of one step of a volume backup ([`holdfast_volume::backup::backup_all`]):
    /// started; succeeded (and shrunk, when the snapshot is flagged); failed. The CLI's
    /// `backup` and the daemon's backups send the same.
    pub fn of_step(step: &holdfast_volume::backup::BackupStep<'_>) -> Vec<Event> {
        use holdfast_volume::backup::BackupStep;
        match step {
            BackupStep::Started(v) => vec![Event::BackupStarted {
                volume: v.name.clone(),
            }],
            BackupStep::Finished(v, Ok(s)) => {
                let ok = Event::BackupSucceeded {
                    volume: v.name.clone(),
                    snapshot: s.id.to_hex(),
                    files: s.snapshot.files,
                    size: s.snapshot.size,
                    added: s.snapshot.added,
                    duration: s.duration,
                };
                std::iter::once(ok)
                    .chain(Event::shrunk(&v.name, s))
                    .collect()
            }
            BackupStep::Finished(v, Err(e)) => vec![Event::BackupFailed {
                volume: v.name.clone(),
                error: holdfast_volume::freshness::one_line(&e.to_string()),
            }],
        }
    }

    /// The [`Event::BackupShrunk`] of a backup whose snapshot is flagged, else `None`.
    pub fn shrunk(volume: &str, summary: &holdfast_repo::BackupSummary) -> Option<Event> {
        summary
            .snapshot
            .shrunk
            .clone()
            .map(|shrunk| Event::BackupShrunk {
                volume: volume.to_owned(),
                snapshot: summary.id.to_hex(),
                shrunk,
            })
    }

    /// The event's name, one of [`holdfast_volume::config::NOTIFY_EVENTS`]: what an
    /// `events` filter lists and what the webhook's `event` field says.
    pub fn name(&self) -> &'static str {
        match self {
            Event::BackupStarted { .. } => "backup_started",
            Event::BackupSucceeded { .. } => "backup_ok",
            Event::BackupShrunk { .. } => "backup_shrunk",
            Event::BackupFailed { .. } => "backup_failed",
            Event::VerifyFinished { ok: true, .. } => "verify_ok",
            Event::VerifyFinished { ok: false, .. } => "verify_failed",
            Event::UsageAlert { .. } => "usage_alert",
            Event::GuardRefused { .. } => "guard_refused",
            Event::BackupStale { .. } => "backup_stale",
            Event::PitrAlert { .. } => "pitr_alert",
        }
    }

    /// True for events that mean data is (or may soon be) unprotected.
    pub fn is_problem(&self) -> bool {
        !matches!(
            self,
            Event::BackupStarted { .. }
                | Event::BackupSucceeded { .. }
                | Event::VerifyFinished { ok: true, .. }
        )
    }
}

/// An event with the time it happened.
#[derive(Debug)]
struct Envelope {
    event: Arc<Event>,
    time: DateTime<Utc>,
}

/// Events queued and not yet delivered or given up, and a wake-up for [`Notifier::flush`].
#[derive(Debug, Default)]
struct Pending {
    count: AtomicUsize,
    idle: tokio::sync::Notify,
}

impl Pending {
    fn add(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    fn done(&self) {
        if self.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }
}

/// One target and the queue its task reads.
#[derive(Debug)]
struct Queue {
    target: Notify,
    tx: mpsc::Sender<Envelope>,
}

#[derive(Debug)]
struct Inner {
    queues: Vec<Queue>,
    pending: Arc<Pending>,
}

/// Sends events to the configured targets; cheap to clone (clones share the queues).
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    inner: Option<Arc<Inner>>,
}

impl Notifier {
    /// A notifier for the `[[notify]]` targets of a config (none: every call is a no-op).
    /// Starts one background task per target, so it must be called inside the Tokio
    /// runtime; outside one, notifications are off (with a warning).
    pub fn new(targets: &[Notify]) -> Self {
        Self::with_policy(targets, Policy::default())
    }

    /// Whether any target is configured (without one, every call is a no-op).
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// [`Notifier::new`] with explicit retry, timeout and queue limits.
    pub fn with_policy(targets: &[Notify], policy: Policy) -> Self {
        if targets.is_empty() {
            return Self::default();
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("notifications are off: no async runtime to send them from");
            return Self::default();
        };
        let client = match deliver::client(&policy) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("notifications are off: cannot set up an HTTP client: {e}");
                return Self::default();
            }
        };
        let host = holdfast_repo::snapshot::hostname();
        let pending = Arc::new(Pending::default());
        let mut queues = Vec::new();
        for target in targets {
            let Ok(url) = reqwest::Url::parse(target.url.trim()) else {
                tracing::warn!(
                    "notification target {} is not a URL; skipped",
                    target.redacted_url()
                );
                continue;
            };
            let (tx, rx) = mpsc::channel(policy.queue);
            let worker = deliver::Worker {
                target: target.clone(),
                url,
                client: client.clone(),
                policy: policy.clone(),
                host: host.clone(),
                pending: pending.clone(),
            };
            runtime.spawn(worker.run(rx));
            queues.push(Queue {
                target: target.clone(),
                tx,
            });
        }
        tracing::debug!("notifications go to {} target(s)", queues.len());
        Self {
            inner: Some(Arc::new(Inner { queues, pending })),
        }
    }

    /// Queues `event` for every target that wants it; returns at once. A target whose
    /// queue is full drops the event with a warning.
    pub fn notify(&self, event: Event) {
        let Some(inner) = &self.inner else { return };
        let name = event.name();
        let envelope_event = Arc::new(event);
        let time = Utc::now();
        for queue in &inner.queues {
            if !queue.target.wants(name) || !render::sends(queue.target.kind, &envelope_event) {
                continue;
            }
            inner.pending.add();
            let envelope = Envelope {
                event: envelope_event.clone(),
                time,
            };
            match queue.tx.try_send(envelope) {
                Ok(()) => {
                    tracing::debug!(
                        "notification `{name}` queued for {}",
                        queue.target.redacted_url()
                    );
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    inner.pending.done();
                    tracing::warn!(
                        "notification queue of {} is full; dropped `{name}`",
                        queue.target.redacted_url()
                    );
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    inner.pending.done();
                    tracing::warn!(
                        "notification sender of {} has stopped; dropped `{name}`",
                        queue.target.redacted_url()
                    );
                }
            }
        }
    }

    /// Waits up to `limit` for queued events to be delivered or given up; what is still
    /// queued after that is left (with a warning) and lost when the process exits.
    pub async fn flush(&self, limit: Duration) {
        let Some(inner) = &self.inner else { return };
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let idle = inner.pending.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            let left = inner.pending.count.load(Ordering::SeqCst);
            if left == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                tracing::warn!(
                    "{} not yet sent after {}s; not waiting longer",
                    crate::text::count(left, "notification"),
                    limit.as_secs()
                );
                return;
            }
        }
    }
}
