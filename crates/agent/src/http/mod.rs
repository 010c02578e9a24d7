//! The shared state, the router and the connection loop the agent serves it with
//! ([`crate::Agent::run`] binds, prints `listening on http://ADDR` so a caller that asked
//! for port 0 learns the port, and stops it when the shutdown token fires).
//!
//! Connections are HTTP/1.1, served by hyper with a timer so that no client can hold
//! one forever ([`HttpLimits`]): the request head must arrive within the header
//! timeout, which also closes a keep-alive connection that stays idle that long, and a
//! request body that sends nothing for the body timeout fails with 408. A malformed
//! body (a bad chunk size, say) is the client's error: 400.

pub mod auth;
pub mod browse;
pub mod cache;
pub mod download;
pub mod error;
pub mod files;
pub mod health;
pub mod jobs;
pub mod page;
pub mod paths;
pub mod restores;
pub mod snapshots;
pub mod uploads;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use futures::StreamExt;
use holdfast_store::DiskCache;
use holdfast_volume::config::Config;
use tokio_util::sync::CancellationToken;

use self::auth::{ApiToken, require_token};
use self::error::ApiResult;
use self::jobs::BackupJobs;
use self::page::SnapshotCache;
use self::paths::Volumes;
use self::uploads::UploadLimits;
use crate::access::RepoAccess;
use crate::backup::BackupSinks;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::pitr::Pitr;
use crate::protection::{self, Watch};
use crate::replication::Replication;
use crate::schedule::JobBoard;

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
    /// On-demand backup jobs.
    pub backup_jobs: BackupJobs,
    /// Time limits of connections and request bodies.
    pub limits: HttpLimits,
    /// Whether the volumes are protected: problems, probes, the first-round signal.
    pub watch: Arc<Watch>,
    /// Push notifications.
    pub notifier: Notifier,
    /// The `[[replicas]]`: their runs, lag and alerts.
    pub replication: Arc<Replication>,
    /// SQLite databases replicated for point-in-time restores.
    pub pitr: Arc<Pitr>,
    /// The snapshot browser's opened repository and tree cache.
    pub browse: browse::BrowseState,
}

impl AppState {
    /// The state for a configuration.
    pub fn new(config: Config, token: Option<&str>, repo: RepoAccess) -> crate::Result<Self> {
        let notifier = Notifier::new(&config.notify);
        let config = Arc::new(config);
        let metrics: Arc<Metrics> = Arc::default();
        let replication = Arc::new(Replication::new(
            config.clone(),
            repo.clone(),
            metrics.clone(),
        ));
        Ok(AppState {
            replication,
            pitr: Arc::new(Pitr::new(&config)),
            watch: Arc::new(Watch::new(
                config.clone(),
                &repo,
                protection::intervals()?.0,
            )),
            notifier,
            volumes: Volumes::new(&config.volumes),
            memory_cache: cache::in_memory()?,
            uploads: UploadLimits::from_config(&config.uploads),
            config,
            token: token.and_then(ApiToken::new),
            metrics,
            board: Arc::default(),
            repo,
            backup_lock: Arc::default(),
            snapshot_cache: SnapshotCache::default(),
            backup_jobs: BackupJobs::default(),
            limits: HttpLimits::from_env()?,
            browse: browse::BrowseState::default(),
        })
    }
}

impl AppState {
    /// Where a backup of this server reports its outcome.
    pub fn backup_sinks(&self) -> BackupSinks {
        BackupSinks {
            metrics: self.metrics.clone(),
            watch: self.watch.clone(),
            notifier: self.notifier.clone(),
            replication: self.replication.clone(),
        }
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
        .route("/api/v1/backups", post(jobs::post_backup))
        .route("/api/v1/jobs/{id}", get(jobs::get_job))
        // Restores of one path into a live volume, and their undo.
        .route(
            "/api/v1/restores",
            post(restores::post_restore).get(restores::list_restores),
        )
        .route("/api/v1/restores/{id}/undo", post(restores::post_undo))
        // The snapshot browser (read side): browse.rs and download.rs.
        .route("/api/v1/snapshots/{id}/tree", get(browse::get_tree))
        .route("/api/v1/snapshots/{id}/tree/", get(browse::get_tree))
        .route("/api/v1/snapshots/{id}/tree/{*path}", get(browse::get_tree))
        .route(
            "/api/v1/snapshots/{id}/files/{*path}",
            get(download::get_file),
        )
        .route("/api/v1/snapshots/{id}/archive", get(download::get_archive))
        .route(
            "/api/v1/snapshots/{id}/archive/",
            get(download::get_archive),
        )
        .route(
            "/api/v1/snapshots/{id}/archive/{*path}",
            get(download::get_archive),
        )
        .route(
            "/api/v1/versions/{volume}/{*path}",
            get(browse::get_versions),
        )
        .route("/api/v1/diff/{a}/{b}", get(browse::get_diff))
        .route("/api/v1/find", get(browse::get_find))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/", get(page::page))
        .route(
            "/login",
            get(page::login::get_login)
                .post(page::login::post_login)
                .layer(DefaultBodyLimit::max(page::login::MAX_FORM)),
        )
        .route(
            "/restore",
            get(page::restore::confirm)
                .post(page::restore::start)
                .layer(DefaultBodyLimit::max(page::login::MAX_FORM)),
        )
        .route("/jobs/{id}", get(page::restore::job))
        // The snapshot view (page/browse.rs, page/compare.rs).
        .route("/browse", get(page::browse::volumes))
        .route("/browse/{id}", get(page::browse::tree))
        .route("/browse/{id}/file", get(page::browse::file))
        .route("/browse/{id}/download", get(page::browse::download))
        .route("/browse/{id}/archive", get(page::browse::archive))
        .route("/compare", get(page::compare::compare))
        .route("/search", get(page::compare::search))
        .route(
            "/restores/{id}/undo",
            post(page::restore::undo).layer(DefaultBodyLimit::max(page::login::MAX_FORM)),
        )
        .route(
            "/logout",
            post(page::login::post_logout).layer(DefaultBodyLimit::max(page::login::MAX_FORM)),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics))
        .merge(api)
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(
            state.limits.body,
            body_timeout,
        ))
        .with_state(state)
}

/// Time limits of HTTP connections; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time to receive a request's head, and the longest a keep-alive connection may
    /// stay idle between requests.
    pub header: Duration,
    /// Longest pause while receiving a request body.
    pub body: Duration,
}

/// [`HttpLimits::header`] unless `HOLDFAST_HTTP_HEADER_TIMEOUT` says otherwise.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// [`HttpLimits::body`] unless `HOLDFAST_HTTP_BODY_TIMEOUT` says otherwise.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header: DEFAULT_HEADER_TIMEOUT,
            body: DEFAULT_BODY_TIMEOUT,
        }
    }
}

impl HttpLimits {
    /// The defaults, overridden by `HOLDFAST_HTTP_HEADER_TIMEOUT` and
    /// `HOLDFAST_HTTP_BODY_TIMEOUT` (a duration such as `30s`, or plain seconds).
    pub fn from_env() -> crate::Result<Self> {
        let read = |name: &str, default: Duration| -> crate::Result<Duration> {
            let Ok(text) = std::env::var(name) else {
                return Ok(default);
            };
            let d = match text.trim().parse::<u64>() {
                Ok(secs) => Duration::from_secs(secs),
                Err(_) => holdfast_volume::units::parse_duration(&text).map_err(|source| {
                    crate::Error::Setting {
                        name: name.to_owned(),
                        text: text.clone(),
                        source,
                    }
                })?,
            };
            if d.is_zero() {
                return Err(crate::Error::ZeroSetting {
                    name: name.to_owned(),
                });
            }
            Ok(d)
        };
        Ok(HttpLimits {
            header: read("HOLDFAST_HTTP_HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT)?,
            body: read("HOLDFAST_HTTP_BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT)?,
        })
    }
}

/// The error a request body gives when the client pauses longer than the body timeout.
#[derive(Debug)]
pub struct BodyTimedOut(pub Duration);

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body sent nothing for {} s",
            self.0.as_secs()
        )
    }
}

impl std::error::Error for BodyTimedOut {}

/// Middleware: every request body fails with [`BodyTimedOut`] once the client has sent
/// nothing of it for the body timeout.
async fn body_timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let stream = body.into_data_stream();
    let timed = futures::stream::unfold(Some(stream), move |s| async move {
        let mut s = s?;
        match tokio::time::timeout(limit, s.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(s))),
            Ok(Some(Err(e))) => Some((Err(axum::Error::new(e)), None)),
            Ok(None) => None,
            Err(_) => Some((Err(axum::Error::new(BodyTimedOut(limit))), None)),
        }
    });
    next.run(Request::from_parts(parts, Body::from_stream(timed)))
        .await
}

/// `GET /metrics`: the timer's last probes (a scrape writes nothing to a volume); the
/// first scrape waits for the timer's first round.
async fn metrics(State(state): State<Arc<AppState>>) -> ApiResult<Response> {
    state.watch.wait_ready(protection::READY_LIMIT).await;
    let statuses = state.watch.statuses(&state.metrics);
    let mut text = state.metrics.render(&statuses);
    text.push_str(&state.pitr.render_metrics());
    let mut res = text.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(res)
}

/// Accepts connections until `shutdown` fires, then lets every open connection finish
/// its request (see [`HttpLimits`] for the timeouts).
pub(crate) async fn serve_http(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: CancellationToken,
) -> crate::Result<()> {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shutdown.cancelled() => break,
        };
        while conns.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: wait a little rather than spin.
                tracing::warn!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let stop = shutdown.clone();
        conns.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header)
                .keep_alive(true)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!("connection from {peer}: {e}");
            }
        });
    }
    while conns.join_next().await.is_some() {}
    Ok(())
}
