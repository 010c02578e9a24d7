//! Whether the volumes are protected, watched on a timer: the reasons backups cannot
//! run, the volume probes that `/metrics` reads, and the alerts that become
//! notifications when they are raised.
//!
//! How it works:
//! - at start, [`fixed_problems`] reads what the configuration and environment already
//!   tell (no repository, no password, no `[schedule] backup`), and [`run`] opens the
//!   repository once ([`check_repository`]: not initialised, unreachable, wrong
//!   password) and reads its snapshots into the metrics ([`crate::survey::survey`]);
//!   every reason is printed on stderr as ONE warning block ([`warning_block`]), shown
//!   as the status page's red banner and added to every volume's backup alerts;
//! - each volume's own `.holdfast/backup.json` is read in, so a failure recorded before
//!   a restart is still shown;
//! - then, every [`PROBE_INTERVAL_ENV`] (default 60 s), the volumes are probed once
//!   (this is the only probe `/metrics` uses: a scrape writes nothing to a volume), and
//!   every [`SURVEY_INTERVAL_ENV`] (default 10 min) the repository is read again;
//! - a usage alert and a stale backup are notified when they are raised (the first
//!   tick that sees them), not on every tick;
//! - `/metrics` waits (at most [`READY_LIMIT`]) for the first round, so even the first
//!   scrape after a restart has every volume's last-success time;
//! - `/readyz`, `/api/v1/status` and the status page read the same probes
//!   ([`Watch::current`]): a request writes no probe file, unless the last probe is
//!   older than two intervals (the timer is stuck or late), when it probes once more
//!   (one request at a time) so that readiness is never judged on old facts.

pub mod status;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use holdfast_volume::config::Config;
use holdfast_volume::freshness::{self, BackupRecord, Blocker, one_line};
use holdfast_volume::status::VolumeStatus;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::access::RepoAccess;
use crate::metrics::Metrics;
use crate::notify::{Event, Notifier};
use crate::survey::survey;

/// Environment variable: how often the volumes are probed (a duration such as `30s`).
pub const PROBE_INTERVAL_ENV: &str = "HOLDFAST_PROBE_INTERVAL";
/// Environment variable: how often the repository's snapshots and size are read.
pub const SURVEY_INTERVAL_ENV: &str = "HOLDFAST_SURVEY_INTERVAL";
/// The default of [`PROBE_INTERVAL_ENV`].
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(60);
/// The default of [`SURVEY_INTERVAL_ENV`].
pub const DEFAULT_SURVEY_INTERVAL: Duration = Duration::from_secs(600);
/// The longest `/metrics` waits for the first round of the timer.
pub const READY_LIMIT: Duration = Duration::from_secs(30);

/// What the timer knows; shared by the handlers and the backup jobs.
#[derive(Debug)]
pub struct Watch {
    config: Arc<Config>,
    fixed: Vec<String>,
    repository: Mutex<Option<String>>,
    statuses: Mutex<Vec<VolumeStatus>>,
    probed_at: Mutex<Option<tokio::time::Instant>>,
    probe_every: Duration,
    probing: tokio::sync::Mutex<()>,
    ready: watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Watch {
    /// The state at start: the [`fixed_problems`] of the configuration; the volumes are
    /// probed every `probe_every`.
    pub fn new(config: Arc<Config>, repo: &RepoAccess, probe_every: Duration) -> Watch {
        Watch {
            fixed: fixed_problems(&config, repo),
            config,
            repository: Mutex::new(None),
            statuses: Mutex::new(Vec::new()),
            probed_at: Mutex::new(None),
            probe_every,
            probing: tokio::sync::Mutex::new(()),
            ready: watch::Sender::new(false),
        }
    }

    /// Probes every volume once (on the blocking pool) and keeps the result.
    pub async fn probe(&self) {
        let _one = self.probing.lock().await;
        self.probe_locked().await;
    }

    /// [`Watch::probe`] with `probing` held by the caller.
    async fn probe_locked(&self) {
        let config = self.config.clone();
        match tokio::task::spawn_blocking(move || holdfast_volume::status::probe_all(&config)).await
        {
            Ok(statuses) => {
                *lock(&self.statuses) = statuses;
                *lock(&self.probed_at) = Some(tokio::time::Instant::now());
            }
            Err(e) => tracing::error!("volume probe failed: {e}"),
        }
    }

    /// True when no probe ran yet or the last one is older than two intervals.
    fn probe_is_old(&self) -> bool {
        lock(&self.probed_at).is_none_or(|t| t.elapsed() > self.probe_every * 2)
    }

    /// The last probes with the current backup state, for `/readyz`, `/api/v1/status`
    /// and the status page: after waiting for the first round (at most [`READY_LIMIT`])
    /// when `wait` is true; probed again first when the last probe is older than two
    /// intervals (or none ran). Requests that find the probe old while another request
    /// probes wait for that probe instead of writing one more probe file.
    pub async fn current(&self, metrics: &Metrics, wait: bool) -> Vec<VolumeStatus> {
        if wait {
            self.wait_ready(READY_LIMIT).await;
        }
        if self.probe_is_old() {
            let _one = self.probing.lock().await;
            if self.probe_is_old() {
                self.probe_locked().await;
            }
        }
        self.statuses(metrics)
    }

    /// Sets (or clears) why the repository cannot be used; a change is logged.
    pub fn set_repository_problem(&self, problem: Option<String>) {
        let mut current = lock(&self.repository);
        if *current != problem {
            match &problem {
                Some(p) => tracing::warn!("backups cannot run: {p}"),
                None if current.is_some() => tracing::info!("the repository can be used again"),
                None => {}
            }
            *current = problem;
        }
    }

    /// Every reason backups cannot run now; empty when they can.
    pub fn problems(&self) -> Vec<String> {
        let mut out = self.fixed.clone();
        out.extend(lock(&self.repository).clone());
        out
    }

    /// The problems as a [`Blocker`] of every volume's backup.
    pub fn blocker(&self) -> Option<Blocker> {
        let p = self.problems();
        (!p.is_empty()).then(|| Blocker::CannotRun(p.join("; ")))
    }

    /// Adds each volume's backup state and alerts to `statuses` ([`status::assemble`]):
    /// the volume's own record (as `holdfast status` reads it: failures, a shrunk
    /// snapshot) merged with what this process saw (`metrics`: backups whose record
    /// could not be written, the survey's newest snapshots).
    pub fn apply(&self, statuses: &mut [VolumeStatus], metrics: &Metrics) {
        status::assemble(
            &self.config,
            statuses,
            |name| {
                let mut record = status::volume_record(&self.config, name);
                record.merge(&metrics.backup_stats(name).record());
                record
            },
            self.blocker().as_ref(),
            Utc::now(),
        );
    }

    /// The last probes of the timer with the current backup state.
    pub fn statuses(&self, metrics: &Metrics) -> Vec<VolumeStatus> {
        let mut statuses = lock(&self.statuses).clone();
        self.apply(&mut statuses, metrics);
        statuses
    }

    /// Waits until the first round of the timer is done (at most `limit`).
    pub async fn wait_ready(&self, limit: Duration) {
        let mut rx = self.ready.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|r| *r)).await;
    }
}

/// What the configuration and environment tell without asking the repository.
pub fn fixed_problems(config: &Config, repo: &RepoAccess) -> Vec<String> {
    let mut out = Vec::new();
    if config.volumes.is_empty() {
        return out;
    }
    if !repo.is_configured() {
        out.push(
            "no repository configured: set [repository] url in holdfast.toml, \
             HOLDFAST_REPOSITORY or STORAGE_TYPE"
                .to_string(),
        );
    } else if repo.password.is_none() {
        out.push(crate::access::NO_PASSWORD.to_string());
    }
    if config.schedule.backup.is_none() && config.alerts.backup_max_age.is_none() {
        out.push("no [schedule] backup in holdfast.toml: nothing backs the volumes up".to_string());
    }
    out
}

/// Opens the repository once; `None` when it opens, else why not in one line (not
/// initialised, unreachable, wrong password). Nothing to try without a URL or password.
pub async fn check_repository(repo: &RepoAccess) -> Option<String> {
    if !repo.is_configured() || repo.password.is_none() {
        return None;
    }
    repo.open()
        .await
        .err()
        .map(|e| one_line(&crate::error::chain(&e)))
}

/// Every reason backups cannot run: [`fixed_problems`] and [`check_repository`].
pub async fn check(config: &Config, repo: &RepoAccess) -> Vec<String> {
    let mut out = fixed_problems(config, repo);
    if !config.volumes.is_empty() {
        out.extend(check_repository(repo).await);
    }
    out
}

/// The one warning block printed on stderr at start when backups cannot run.
pub fn warning_block(problems: &[String]) -> String {
    let mut out =
        String::from("holdfast: WARNING: backups cannot run: the volumes are NOT protected\n");
    for p in problems {
        out.push_str(&format!("holdfast:   - {p}\n"));
    }
    out.push_str(
        "holdfast: the status page and /api/v1/status show this until it is fixed; \
         [alerts] require_backups = true makes `holdfast run` refuse to start instead\n",
    );
    out
}

/// Prints the [`warning_block`] on stderr; with `--log-format json`, ONE `WARN` line
/// whose `reasons` field lists the problems.
pub fn print_warning(problems: &[String]) {
    let mut fields = serde_json::Map::new();
    fields.insert("reasons".into(), problems.into());
    fields.insert(
        "hint".into(),
        "the status page and /api/v1/status show this until it is fixed; \
         [alerts] require_backups = true makes `holdfast run` refuse to start instead"
            .into(),
    );
    crate::console::event(
        tracing::Level::WARN,
        &warning_block(problems),
        "backups cannot run: the volumes are NOT protected",
        fields,
    );
}

fn interval(name: &str, default: Duration) -> crate::Result<Duration> {
    let Ok(text) = std::env::var(name) else {
        return Ok(default);
    };
    let d =
        holdfast_volume::units::parse_duration(&text).map_err(|source| crate::Error::Setting {
            name: name.to_owned(),
            text: text.clone(),
            source,
        })?;
    if d.is_zero() {
        return Err(crate::Error::ZeroSetting {
            name: name.to_owned(),
        });
    }
    Ok(d)
}

/// The probe and survey intervals from the environment (checked at start).
pub fn intervals() -> crate::Result<(Duration, Duration)> {
    Ok((
        interval(PROBE_INTERVAL_ENV, DEFAULT_PROBE_INTERVAL)?,
        interval(SURVEY_INTERVAL_ENV, DEFAULT_SURVEY_INTERVAL)?,
    ))
}

/// What [`run`] needs.
pub struct WatchContext {
    /// The shared state.
    pub watch: Arc<Watch>,
    /// Counters and gauges.
    pub metrics: Arc<Metrics>,
    /// The repository.
    pub repo: RepoAccess,
    /// Push notifications.
    pub notifier: Notifier,
    /// Probe and survey intervals.
    pub intervals: (Duration, Duration),
}

async fn survey_now(ctx: &WatchContext) {
    if !ctx.repo.is_configured() || ctx.repo.password.is_none() {
        return;
    }
    let result = async {
        let repo = ctx.repo.open().await?;
        survey(&repo, &ctx.metrics).await
    }
    .await;
    ctx.watch
        .set_repository_problem(result.err().map(|e| one_line(&crate::error::chain(&e))));
}

/// Probes every volume once and keeps the result for `/metrics` (the server calls it
/// before it listens, so no probe file is in flight when the first request comes).
pub async fn probe_now(ctx: &WatchContext) {
    ctx.watch.probe().await;
}

/// Raised alerts seen by the last tick, to notify only what is new.
#[derive(Default)]
struct Raised {
    usage: BTreeSet<String>,
    stale: BTreeSet<String>,
}

fn notify_new(ctx: &WatchContext, raised: &mut Raised) {
    let now = Utc::now();
    let max_age = freshness::max_age(&ctx.watch.config, now);
    let mut usage = BTreeSet::new();
    let mut stale = BTreeSet::new();
    for s in ctx.watch.statuses(&ctx.metrics) {
        if s.details.exists && s.usage_percent >= s.details.alert_at {
            if !raised.usage.contains(&s.name) {
                ctx.notifier.notify(Event::UsageAlert {
                    volume: s.name.clone(),
                    usage_percent: s.usage_percent,
                });
            }
            usage.insert(s.name.clone());
        }
        let record: BackupRecord = ctx.metrics.backup_stats(&s.name).record();
        if let Some(max) = max_age
            && freshness::is_stale(&record, max_age, now)
        {
            if !raised.stale.contains(&s.name) {
                tracing::warn!(
                    "volume {}: the last backup is older than backup_max_age",
                    s.name
                );
                ctx.notifier.notify(Event::BackupStale {
                    volume: s.name.clone(),
                    last_success: record.last_success,
                    max_age: max,
                });
            }
            stale.insert(s.name.clone());
        }
    }
    *raised = Raised { usage, stale };
}

/// The timer: the first round (records, survey, a probe unless [`probe_now`] ran, the
/// warning block), then probes
/// and surveys at their intervals until `cancel` fires.
pub async fn run(ctx: WatchContext, cancel: CancellationToken) {
    for v in &ctx.watch.config.volumes {
        let path = v.path.clone();
        if let Ok(record) = tokio::task::spawn_blocking(move || BackupRecord::load(&path)).await {
            ctx.metrics.merge_record(&v.name, &record);
        }
    }
    survey_now(&ctx).await;
    if lock(&ctx.watch.probed_at).is_none() {
        probe_now(&ctx).await;
    }
    ctx.watch.ready.send_replace(true);
    let problems = ctx.watch.problems();
    if !problems.is_empty() {
        print_warning(&problems);
    }
    let mut raised = Raised::default();
    notify_new(&ctx, &mut raised);
    let (probe_every, survey_every) = ctx.intervals;
    let mut last_survey = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(probe_every) => {}
        }
        if last_survey.elapsed() >= survey_every {
            survey_now(&ctx).await;
            last_survey = tokio::time::Instant::now();
        }
        probe_now(&ctx).await;
        notify_new(&ctx, &mut raised);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch_over(dir: &std::path::Path) -> Watch {
        let config: Config = format!("[[volumes]]\nname = \"a\"\npath = \"{}\"\n", dir.display())
            .parse()
            .expect("valid config");
        Watch::new(
            Arc::new(config),
            &RepoAccess::default(),
            Duration::from_secs(60),
        )
    }

    #[tokio::test]
    async fn a_request_reads_a_recent_probe_and_probes_an_old_one_again() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let watch = watch_over(dir.path());
        let metrics = Metrics::default();
        // Never probed: the request probes.
        assert_eq!(watch.current(&metrics, false).await.len(), 1);
        // A recent probe is read as it is (an emptied list stays empty).
        lock(&watch.statuses).clear();
        assert!(watch.current(&metrics, false).await.is_empty());
        // Older than two intervals: probed again.
        let old = tokio::time::Instant::now()
            .checked_sub(Duration::from_secs(121))
            .expect("an instant two minutes back");
        *lock(&watch.probed_at) = Some(old);
        assert_eq!(watch.current(&metrics, false).await.len(), 1);
        assert!(lock(&watch.probed_at).is_some_and(|t| t > old));
    }

    #[test]
    fn fixed_problems_name_each_missing_part() {
        let config: Config = "[[volumes]]\nname = \"a\"\npath = \"/a\"\n"
            .parse()
            .expect("valid config");
        let none = RepoAccess::default();
        let p = fixed_problems(&config, &none);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("no repository configured"));
        assert!(p[1].contains("[schedule] backup"));
        let no_password = RepoAccess {
            url: Some("file:///r".into()),
            password: None,
            ..Default::default()
        };
        assert!(fixed_problems(&config, &no_password)[0].starts_with("no repository password"));
        let block = warning_block(&p);
        assert_eq!(block.lines().count(), 4);
        assert!(block.lines().all(|l| l.starts_with("holdfast: ")));
    }
}
