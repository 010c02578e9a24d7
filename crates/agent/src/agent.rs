//! The agent's life cycle: [`Agent::new`] takes the loaded configuration and how to
//! reach the repository; [`Agent::prestart`] runs `holdfast run`'s checks before its app
//! starts ([`crate::prestart`]); [`Agent::run`] runs the protection runtime until its
//! cancellation token fires (the steps are in the crate doc). `holdfast serve` calls
//! `run`, `holdfast run` calls `prestart` and then `run` beside its app.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use holdfast_volume::config::Config;
use tokio_util::sync::CancellationToken;

use crate::access::RepoAccess;
use crate::error::{Context as _, Result};
use crate::http::{AppState, router, serve_http};
use crate::notify::Notifier;
use crate::prestart::{PrestartOptions, prestart};
use crate::protection::{self, WatchContext};
use crate::schedule::jobs::JobContext;
use crate::schedule::{Clock, RunLog, Scheduler, SystemClock};

/// How long a stopping agent waits for queued notifications.
const NOTIFY_FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// What the agent protects and how it is reached.
#[derive(Debug)]
pub struct AgentOptions {
    /// holdfast.toml, loaded.
    pub config: Config,
    /// Address the HTTP server listens on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The API token (`HOLDFAST_API_TOKEN`); `None` turns the API off.
    pub token: Option<String>,
    /// The repository for backups and snapshot listings.
    pub repo: RepoAccess,
}

/// The long-running protection runtime.
#[derive(Debug)]
pub struct Agent {
    opts: AgentOptions,
}

impl Agent {
    /// An agent for `opts`; nothing runs until [`Agent::prestart`] or [`Agent::run`].
    pub fn new(opts: AgentOptions) -> Self {
        Self { opts }
    }

    /// The checks before an app starts ([`crate::prestart`]); `Ok` when it may start. A
    /// refusal is notified, and the notification delivered, before this returns.
    pub async fn prestart(&self, opts: &PrestartOptions) -> Result<()> {
        let notifier = Notifier::new(&self.opts.config.notify);
        let ready = prestart(&self.opts.config, &self.opts.repo, &notifier, opts).await;
        if ready.is_err() {
            notifier.flush(NOTIFY_FLUSH_LIMIT).await;
        }
        ready
    }

    /// Runs the server, the scheduler, replication and the followers until `shutdown`
    /// fires, then lets running work finish and flushes the notifications.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let config = self.opts.config.clone();
        let url = self.opts.repo.shown();
        tokio::task::spawn_blocking(move || {
            crate::start::guard(&config);
            crate::start::print(&config, url.as_deref());
        })
        .await
        .context("the start-up guard panicked")?;
        let log_path = self
            .opts
            .config
            .volumes
            .first()
            .map(|v| v.path.join(holdfast_volume::layout::SCHEDULE_FILE));
        let state = Arc::new(AppState::new(
            self.opts.config,
            self.opts.token.as_deref(),
            self.opts.repo,
        )?);
        let ctx = JobContext {
            config: state.config.clone(),
            repo: state.repo.clone(),
            sinks: state.backup_sinks(),
            backup_lock: state.backup_lock.clone(),
        };
        let watch_ctx = WatchContext {
            watch: state.watch.clone(),
            metrics: state.metrics.clone(),
            repo: state.repo.clone(),
            notifier: state.notifier.clone(),
            intervals: protection::intervals()?,
        };
        let mut scheduled = crate::schedule::jobs::build(&ctx)?;
        scheduled.extend(state.replication.jobs(&shutdown)?);
        let scheduler = Scheduler {
            jobs: scheduled,
            clock: Arc::new(SystemClock) as Arc<dyn Clock>,
            log: Arc::new(RunLog::load(log_path)),
            metrics: state.metrics.clone(),
            board: state.board.clone(),
        };
        protection::probe_now(&watch_ctx).await;
        let listener = tokio::net::TcpListener::bind(self.opts.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (pass --listen ADDR or set HOLDFAST_LISTEN; port 0 picks a free one)",
                self.opts.listen
            )
        })?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let url = format!("http://{addr}");
        let mut fields = serde_json::Map::new();
        fields.insert("address".into(), url.clone().into());
        crate::console::event(
            tracing::Level::INFO,
            &format!("listening on {url}"),
            &format!("listening on {url}"),
            fields,
        );
        if state.token.is_none() {
            tracing::warn!("HOLDFAST_API_TOKEN is not set: the /api/v1 routes are off");
        }
        let replicating = state
            .replication
            .spawn(watch_ctx.intervals.0, shutdown.clone());
        let watcher = tokio::spawn(protection::run(watch_ctx, shutdown.clone()));
        let mut following = state.pitr.spawn(
            state.config.clone(),
            state.repo.clone(),
            state.notifier.clone(),
            shutdown.clone(),
        );
        let jobs = scheduler.spawn(shutdown.clone());
        let limits = state.limits;
        let served = serve_http(listener, router(state.clone()), limits, shutdown.clone()).await;
        shutdown.cancel();
        tracing::info!("waiting for running jobs to finish");
        jobs.await.context("scheduler task failed")?;
        replicating.await.context("replication task failed")?;
        while following.join_next().await.is_some() {}
        watcher.abort();
        // An on-demand backup holds the backup lock until it ends.
        drop(state.backup_lock.lock().await);
        // What the last jobs had to say reaches the [[notify]] targets before the exit.
        state.notifier.flush(NOTIFY_FLUSH_LIMIT).await;
        served
    }
}
