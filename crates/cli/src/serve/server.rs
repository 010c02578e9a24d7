//! The shared state, the router and the life cycle: bind, print `listening on
//! http://ADDR` on stderr (so a caller that asked for port 0 learns the port), serve
//! until the shutdown token fires, then stop the scheduler, letting a running job
//! finish.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use holdfast_store::DiskCache;
use holdfast_volume::config::Config;
use tokio_util::sync::CancellationToken;

use super::auth::{ApiToken, require_token};
use super::error::ApiResult;
use super::jobs::{self, JobContext};
use super::metrics::Metrics;
use super::paths::{STATE_DIR, Volumes};
use super::scheduler::{Clock, JobBoard, RunLog, Scheduler, SystemClock};
use super::snapshots::RepoAccess;
use super::status_page::SnapshotCache;
use super::uploads::UploadLimits;
use super::{cache, files, health, snapshots, status_page, uploads};

/// How to run the server.
#[derive(Debug)]
pub struct ServeOptions {
    /// holdfast.toml, loaded.
    pub config: Config,
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The API token (`HOLDFAST_API_TOKEN`); `None` turns the API off.
    pub token: Option<String>,
    /// The repository for backups and snapshot listings.
    pub repo: RepoAccess,
}

/// Everything the handlers share.
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// Each volume's store, by name.
    pub volumes: Volumes,
    /// The API token.
    pub token: Option<ApiToken>,
    /// The TTL cache used when no volume is configured.
    pub memory_cache: DiskCache,
    /// Upload limits.
    pub uploads: UploadLimits,
    /// Counters and gauges.
    pub metrics: Arc<Metrics>,
    /// Scheduled jobs.
    pub board: Arc<JobBoard>,
    /// The repository.
    pub repo: RepoAccess,
    /// Held by a running backup, scheduled or on demand.
    pub backup_lock: Arc<tokio::sync::Mutex<()>>,
    /// The last snapshot listing, for the status page.
    pub snapshot_cache: SnapshotCache,
}

impl AppState {
    /// The state for a configuration.
    pub fn new(config: Config, token: Option<&str>, repo: RepoAccess) -> anyhow::Result<Self> {
        Ok(AppState {
            volumes: Volumes::new(&config.volumes),
            memory_cache: cache::in_memory()?,
            uploads: UploadLimits::from_config(&config.uploads),
            config: Arc::new(config),
            token: token.and_then(ApiToken::new),
            metrics: Arc::default(),
            board: Arc::default(),
            repo,
            backup_lock: Arc::default(),
            snapshot_cache: SnapshotCache::default(),
        })
    }
}

/// The router: open routes (`/`, `/healthz`, `/readyz`, `/metrics`) and the token-gated
/// `/api/v1` routes.
pub fn router(state: Arc<AppState>) -> Router {
    let upload_limit = state
        .uploads
        .max_size
        .saturating_add(uploads::FRAMING_ALLOWANCE)
        .try_into()
        .unwrap_or(usize::MAX);
    let file = get(files::get_file)
        .head(files::head_file)
        .put(files::put_file)
        .delete(files::delete_file);
    let api = Router::new()
        .route("/api/v1/status", get(health::status))
        .route("/api/v1/files/{volume}", get(files::list_files))
        .route("/api/v1/files/{volume}/", get(files::list_files))
        .route("/api/v1/files/{volume}/{*path}", file)
        .route(
            "/api/v1/uploads/{volume}",
            post(uploads::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/api/v1/cache/{*key}",
            put(cache::put_entry)
                .get(cache::get_entry)
                .delete(cache::delete_entry)
                .layer(DefaultBodyLimit::max(cache::MAX_VALUE)),
        )
        .route("/api/v1/snapshots", get(snapshots::get_snapshots))
        .route("/api/v1/backups", post(snapshots::post_backup))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/", get(status_page::page))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics))
        .merge(api)
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// `GET /metrics`.
async fn metrics(State(state): State<Arc<AppState>>) -> ApiResult<Response> {
    let statuses = health::probe(&state).await?;
    let mut res = state.metrics.render(&statuses).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(res)
}

/// Runs the server and the scheduler until `shutdown` fires.
pub async fn serve(opts: ServeOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    let log_path = opts
        .config
        .volumes
        .first()
        .map(|v| v.path.join(STATE_DIR).join("schedule.json"));
    let state = Arc::new(AppState::new(
        opts.config,
        opts.token.as_deref(),
        opts.repo,
    )?);
    let ctx = JobContext {
        config: state.config.clone(),
        repo: state.repo.clone(),
        metrics: state.metrics.clone(),
        backup_lock: state.backup_lock.clone(),
    };
    let scheduler = Scheduler {
        jobs: jobs::build(&ctx)?,
        clock: Arc::new(SystemClock) as Arc<dyn Clock>,
        log: Arc::new(RunLog::load(log_path)),
        metrics: state.metrics.clone(),
        board: state.board.clone(),
    };
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    eprintln!("listening on http://{addr}");
    if state.token.is_none() {
        tracing::warn!("HOLDFAST_API_TOKEN is not set: the /api/v1 routes are off");
    }
    let jobs = scheduler.spawn(shutdown.clone());
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await
        .context("HTTP server failed");
    shutdown.cancel();
    tracing::info!("waiting for running jobs to finish");
    jobs.await.context("scheduler task failed")?;
    served
}
