//! The cron scheduler: one task per job, on an injectable [`Clock`].
//!
//! How it works:
//! - each job has its own loop: compute the next occurrence after *now*, sleep until
//!   then, run, repeat. Because the next occurrence is computed from the clock after a
//!   run ends, occurrences missed while a run was going on (or while the machine slept)
//!   collapse into one run, and a job never overlaps itself; a job also holds a lock
//!   that an on-demand run (`POST /api/v1/backups`) shares, and a tick that finds it
//!   taken is counted as `skipped`;
//! - the start time of every run is kept in a small JSON file on the first volume
//!   (`.holdfast/schedule.json`); a job seen for the first time is recorded as
//!   "scheduled since now". At start-up a job with an occurrence between its recorded
//!   time and now missed a run while the server was down, and runs once, right away;
//! - every run is logged and counted in [`Metrics`], and [`JobBoard`] shows the next and
//!   last runs on the status page;
//! - on shutdown a sleeping loop stops at once; a running job is awaited.

pub mod jobs;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use futures::future::BoxFuture;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Where the scheduler gets the time from; tests drive a fake one.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// Resolves at `deadline` or earlier (callers re-check [`Clock::now`]).
    fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'static, ()>;
}

/// The real clock. Sleeps at most a minute at a time so a wall-clock jump is noticed.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'static, ()> {
        let wait = (deadline - Utc::now())
            .to_std()
            .unwrap_or_default()
            .min(Duration::from_secs(60));
        Box::pin(tokio::time::sleep(wait))
    }
}

/// What a job does: a fresh future per run, giving a one-line summary.
pub type JobFn = Arc<dyn Fn() -> BoxFuture<'static, crate::Result<String>> + Send + Sync>;

/// One scheduled job.
#[derive(Clone)]
pub struct Job {
    /// Unique name (`backup`, `verify`, `prune`, `cleanup:/srv/tmp`).
    pub name: String,
    /// The cron expression as written.
    pub pattern: String,
    cron: Cron,
    /// The work.
    pub run: JobFn,
    /// Held while the job runs; shared with on-demand runs of the same work.
    pub lock: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("name", &self.name)
            .field("pattern", &self.pattern)
            .finish()
    }
}

impl Job {
    /// A job from a cron expression (five fields, an optional leading seconds field, or
    /// `@daily`-style shorthands).
    pub fn new(
        name: &str,
        pattern: &str,
        run: JobFn,
        lock: Arc<tokio::sync::Mutex<()>>,
    ) -> crate::Result<Job> {
        let cron = Cron::from_str(pattern).map_err(|source| crate::Error::Cron {
            job: name.to_owned(),
            pattern: pattern.to_owned(),
            source,
        })?;
        Ok(Job {
            name: name.to_string(),
            pattern: pattern.to_string(),
            cron,
            run,
            lock,
        })
    }

    /// The first occurrence strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }

    /// When the loop should first run the job: now when an occurrence fell between the
    /// recorded `last` time and `now` (a run missed while down: once, however many were
    /// missed), else the next occurrence.
    pub fn first_due(
        &self,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if let Some(last) = last
            && self.next_after(last).is_some_and(|t| t <= now)
        {
            return Some(now);
        }
        self.next_after(now)
    }
}

/// What the status page and tests see of a job.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobInfo {
    /// The cron expression.
    pub schedule: String,
    /// The next planned run.
    pub next: Option<DateTime<Utc>>,
    /// Start of the last run.
    pub last_run: Option<DateTime<Utc>>,
    /// `ok: …` or `failed: …` of the last run.
    pub last_result: Option<String>,
    /// A run is going on.
    pub running: bool,
    /// Runs since the server started.
    pub runs: u64,
}

/// The live view of every job; changes are broadcast so tests can wait for them.
#[derive(Debug)]
pub struct JobBoard {
    tx: watch::Sender<BTreeMap<String, JobInfo>>,
}

impl Default for JobBoard {
    fn default() -> Self {
        JobBoard {
            tx: watch::Sender::new(BTreeMap::new()),
        }
    }
}

impl JobBoard {
    fn update(&self, name: &str, f: impl FnOnce(&mut JobInfo)) {
        self.tx
            .send_modify(|m| f(m.entry(name.to_string()).or_default()));
    }

    /// A copy of every job's state.
    pub fn snapshot(&self) -> BTreeMap<String, JobInfo> {
        self.tx.borrow().clone()
    }

    /// Waits until `f` holds for the board.
    #[cfg(test)]
    pub async fn wait_for(&self, f: impl Fn(&BTreeMap<String, JobInfo>) -> bool) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|m| f(m)).await;
    }
}

/// The recorded start of each job's last run, kept in a JSON file when a path is given.
#[derive(Debug, Default)]
pub struct RunLog {
    path: Option<PathBuf>,
    runs: Mutex<BTreeMap<String, DateTime<Utc>>>,
}

impl RunLog {
    /// Loads the log at `path` (a missing or unreadable file is an empty log).
    pub fn load(path: Option<PathBuf>) -> RunLog {
        let runs = path
            .as_ref()
            .and_then(|p| match std::fs::read(p) {
                Ok(bytes) => serde_json::from_slice(&bytes)
                    .map_err(|e| tracing::warn!("ignoring {}: {e}", p.display()))
                    .ok(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    tracing::warn!("ignoring {}: {e}", p.display());
                    None
                }
            })
            .unwrap_or_default();
        RunLog {
            path,
            runs: Mutex::new(runs),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, DateTime<Utc>>> {
        self.runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The recorded time of `job`.
    pub fn last(&self, job: &str) -> Option<DateTime<Utc>> {
        self.lock().get(job).copied()
    }

    /// Records `t` for `job` and saves the file (temp file + rename). Only the file's
    /// own directory is created, never its parent (a volume that is not mounted).
    pub fn record(&self, job: &str, t: DateTime<Utc>) {
        let text = {
            let mut runs = self.lock();
            runs.insert(job.to_string(), t);
            serde_json::to_vec_pretty(&*runs)
        };
        let Some(path) = &self.path else { return };
        let saved = text.map_err(std::io::Error::other).and_then(|bytes| {
            if let Some(dir) = path.parent() {
                match std::fs::create_dir(dir) {
                    Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
                    _ => {}
                }
            }
            let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, path)
        });
        if let Err(e) = saved {
            tracing::warn!("cannot save the schedule log {}: {e}", path.display());
        }
    }
}

/// The jobs and everything their loops share.
pub struct Scheduler {
    /// The jobs.
    pub jobs: Vec<Job>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Recorded runs.
    pub log: Arc<RunLog>,
    /// Where runs are counted.
    pub metrics: Arc<Metrics>,
    /// Live job states.
    pub board: Arc<JobBoard>,
}

impl Scheduler {
    /// Starts one loop per job; the handle resolves once `cancel` fired and every running
    /// job finished.
    pub fn spawn(self, cancel: CancellationToken) -> JoinHandle<()> {
        let now = self.clock.now();
        for job in &self.jobs {
            if self.log.last(&job.name).is_none() {
                self.log.record(&job.name, now);
            }
            self.board
                .update(&job.name, |i| i.schedule = job.pattern.clone());
        }
        let loops: Vec<JoinHandle<()>> = self
            .jobs
            .into_iter()
            .map(|job| {
                let ctx = (
                    self.clock.clone(),
                    self.log.clone(),
                    self.metrics.clone(),
                    self.board.clone(),
                );
                tokio::spawn(job_loop(job, ctx, cancel.clone()))
            })
            .collect();
        tokio::spawn(async move {
            for l in loops {
                if let Err(e) = l.await {
                    tracing::error!("a scheduler loop failed: {e}");
                }
            }
        })
    }
}

type LoopContext = (Arc<dyn Clock>, Arc<RunLog>, Arc<Metrics>, Arc<JobBoard>);

async fn job_loop(job: Job, (clock, log, metrics, board): LoopContext, cancel: CancellationToken) {
    let mut next = job.first_due(log.last(&job.name), clock.now());
    loop {
        board.update(&job.name, |i| i.next = next);
        let Some(due) = next else {
            tracing::warn!(
                "job {}: {:?} has no future occurrence",
                job.name,
                job.pattern
            );
            return;
        };
        while clock.now() < due {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = clock.sleep_until(due) => {}
            }
        }
        if cancel.is_cancelled() {
            return;
        }
        run_once(&job, clock.as_ref(), &log, &metrics, &board).await;
        next = job.next_after(clock.now());
    }
}

/// Runs `job` once unless it is already running (then the tick counts as skipped).
pub async fn run_once(
    job: &Job,
    clock: &dyn Clock,
    log: &RunLog,
    metrics: &Metrics,
    board: &JobBoard,
) {
    let Ok(_guard) = job.lock.clone().try_lock_owned() else {
        tracing::info!("job {}: still running, this run is skipped", job.name);
        metrics.job_run(&job.name, "skipped");
        return;
    };
    let started = clock.now();
    board.update(&job.name, |i| i.running = true);
    tracing::info!("job {}: started", job.name);
    let result = (job.run)().await;
    let summary = match &result {
        Ok(msg) => {
            tracing::info!("job {}: ok: {msg}", job.name);
            metrics.job_run(&job.name, "ok");
            format!("ok: {msg}")
        }
        Err(e) => {
            let message = crate::error::chain(e);
            if e.is_logged() {
                // One line per volume said why already.
                tracing::info!("job {}: failed (logged above)", job.name);
            } else {
                tracing::error!("job {}: failed: {message}", job.name);
            }
            metrics.job_run(&job.name, "failed");
            format!("failed: {message}")
        }
    };
    log.record(&job.name, started);
    board.update(&job.name, |i| {
        i.running = false;
        i.last_run = Some(started);
        i.last_result = Some(summary);
        i.runs += 1;
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::TimeZone;
    use tokio::sync::{Notify, mpsc};

    use super::*;

    /// A clock that moves only when the test says so.
    struct FakeClock {
        now: watch::Sender<DateTime<Utc>>,
    }

    impl FakeClock {
        fn at(t: DateTime<Utc>) -> Arc<FakeClock> {
            Arc::new(FakeClock {
                now: watch::Sender::new(t),
            })
        }
        fn set(&self, t: DateTime<Utc>) {
            self.now.send_replace(t);
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> DateTime<Utc> {
            *self.now.borrow()
        }
        fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'static, ()> {
            let mut rx = self.now.subscribe();
            Box::pin(async move {
                let _ = rx.wait_for(|t| *t >= deadline).await;
            })
        }
    }

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, m, s)
            .single()
            .expect("valid time")
    }

    /// A job that reports each start on a channel.
    fn counting_job(pattern: &str) -> (Job, mpsc::UnboundedReceiver<()>, Arc<AtomicUsize>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let run: JobFn = Arc::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
            let _ = tx.send(());
            Box::pin(async { Ok("done".to_string()) })
        });
        let job = Job::new("backup", pattern, run, Arc::default()).expect("valid cron");
        (job, rx, count)
    }

    fn scheduler(
        job: Job,
        clock: Arc<FakeClock>,
        log: RunLog,
    ) -> (Scheduler, Arc<JobBoard>, Arc<Metrics>) {
        let board = Arc::new(JobBoard::default());
        let metrics = Arc::new(Metrics::default());
        let s = Scheduler {
            jobs: vec![job],
            clock,
            log: Arc::new(log),
            metrics: metrics.clone(),
            board: board.clone(),
        };
        (s, board, metrics)
    }

    async fn next_is(board: &JobBoard, when: DateTime<Utc>) {
        board
            .wait_for(|m| {
                m.get("backup")
                    .is_some_and(|i| i.next == Some(when) && !i.running)
            })
            .await;
    }

    #[test]
    fn first_due_catches_up_once() -> crate::Result<()> {
        let run: JobFn = Arc::new(|| Box::pin(async { Ok(String::new()) }));
        let hourly = Job::new("j", "0 * * * *", run, Arc::default())?;
        assert_eq!(hourly.first_due(None, t(13, 30, 0)), Some(t(14, 0, 0)));
        assert_eq!(
            hourly.first_due(Some(t(10, 0, 0)), t(13, 30, 0)),
            Some(t(13, 30, 0))
        );
        assert_eq!(
            hourly.first_due(Some(t(13, 5, 0)), t(13, 30, 0)),
            Some(t(14, 0, 0))
        );
        assert!(Job::new("bad", "61 * * * *", hourly.run.clone(), Arc::default()).is_err());
        Ok(())
    }

    #[tokio::test]
    async fn runs_on_time_and_collapses_missed_runs() {
        let clock = FakeClock::at(t(12, 0, 30));
        let (job, mut started, count) = counting_job("* * * * *");
        let (s, board, metrics) = scheduler(job, clock.clone(), RunLog::default());
        let cancel = CancellationToken::new();
        let handle = s.spawn(cancel.clone());
        next_is(&board, t(12, 1, 0)).await;
        assert_eq!(count.load(Ordering::SeqCst), 0);
        clock.set(t(12, 1, 0));
        started.recv().await;
        next_is(&board, t(12, 2, 0)).await;
        clock.set(t(12, 10, 30));
        started.recv().await;
        next_is(&board, t(12, 11, 0)).await;
        assert_eq!(
            count.load(Ordering::SeqCst),
            2,
            "nine missed minutes run once"
        );
        assert!(
            metrics
                .render(&[])
                .contains("holdfast_job_runs_total{job=\"backup\",result=\"ok\"} 2")
        );
        cancel.cancel();
        handle.await.expect("loop ends");
    }

    #[tokio::test]
    async fn a_run_missed_while_down_runs_once_at_start() -> crate::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("schedule.json");
        RunLog::load(Some(path.clone())).record("backup", t(10, 0, 0));
        let clock = FakeClock::at(t(13, 30, 0));
        let (job, mut started, count) = counting_job("0 * * * *");
        let (s, board, _) = scheduler(job, clock.clone(), RunLog::load(Some(path.clone())));
        let cancel = CancellationToken::new();
        let handle = s.spawn(cancel.clone());
        started.recv().await;
        next_is(&board, t(14, 0, 0)).await;
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "three missed hours run once"
        );
        assert_eq!(RunLog::load(Some(path)).last("backup"), Some(t(13, 30, 0)));
        cancel.cancel();
        handle.await?;
        Ok(())
    }

    #[tokio::test]
    async fn first_start_does_not_run_at_once() {
        let clock = FakeClock::at(t(13, 30, 0));
        let (job, _started, count) = counting_job("0 * * * *");
        let (s, board, _) = scheduler(job, clock.clone(), RunLog::default());
        let cancel = CancellationToken::new();
        let handle = s.spawn(cancel.clone());
        next_is(&board, t(14, 0, 0)).await;
        assert_eq!(count.load(Ordering::SeqCst), 0);
        cancel.cancel();
        handle.await.expect("loop ends");
    }

    #[tokio::test]
    async fn never_overlaps_itself() {
        let clock = FakeClock::at(t(12, 0, 30));
        let gate = Arc::new(Notify::new());
        let (tx, mut started) = mpsc::unbounded_channel();
        let active = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (g, a, p) = (gate.clone(), active.clone(), peak.clone());
        let run: JobFn = Arc::new(move || {
            let (g, a, p, tx) = (g.clone(), a.clone(), p.clone(), tx.clone());
            Box::pin(async move {
                let now = a.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                let _ = tx.send(());
                g.notified().await;
                a.fetch_sub(1, Ordering::SeqCst);
                Ok("slow".to_string())
            })
        });
        let job = Job::new("backup", "* * * * *", run, Arc::default()).expect("valid cron");
        let lock = job.lock.clone();
        let (s, board, metrics) = scheduler(job.clone(), clock.clone(), RunLog::default());
        let cancel = CancellationToken::new();
        let handle = s.spawn(cancel.clone());
        next_is(&board, t(12, 1, 0)).await;
        clock.set(t(12, 1, 0));
        started.recv().await;
        clock.set(t(12, 5, 0));
        run_once(&job, clock.as_ref(), &RunLog::default(), &metrics, &board).await;
        gate.notify_one();
        next_is(&board, t(12, 6, 0)).await;
        assert_eq!(peak.load(Ordering::SeqCst), 1);
        assert!(metrics.render(&[]).contains("result=\"skipped\"} 1"));
        let _held = lock.lock().await;
        clock.set(t(12, 6, 0));
        next_is(&board, t(12, 7, 0)).await;
        assert!(metrics.render(&[]).contains("result=\"skipped\"} 2"));
        cancel.cancel();
        handle.await.expect("loop ends");
    }
}
