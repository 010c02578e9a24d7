//! `holdfast serve` (and the server `holdfast run` starts beside the app): an axum HTTP
//! server and a cron scheduler sharing one state.
//!
//! - [`server`]: the shared state, the router and the listen/shutdown life cycle.
//! - [`auth`]: the bearer-token gate in front of the `/api/v1` routes.
//! - [`health`]: `/healthz`, `/readyz`, `/api/v1/status`.
//! - [`metrics`]: every Prometheus metric, declared in one place.
//! - [`paths`], [`files`]: the file API over each volume's store.
//! - [`uploads`], [`cache`]: seed 000's multer uploads and TTL disk cache.
//! - [`scheduler`], [`jobs`]: cron jobs (backup, verify, prune, cleanup) on an
//!   injectable clock.
//! - [`snapshots`]: snapshot listing and backups of every volume through the repository.
//! - [`backup_jobs`]: on-demand backups as jobs (`202`, then `GET /api/v1/jobs/{id}`).
//! - [`replication`]: `[[replicas]]` after every backup or on their cron, their lag
//!   and alerts.
//! - [`start`]: the start line of each volume.
//! - [`status_page`]: the server-rendered page at `/`.
//! - [`watch`]: whether the volumes are protected (why backups cannot run, the warning
//!   block at start), volume probes and the repository survey on a timer.

pub mod auth;
pub mod backup_jobs;
pub mod cache;
pub mod error;
pub mod files;
pub mod health;
pub mod jobs;
pub mod metrics;
pub mod paths;
pub mod replication;
pub mod scheduler;
pub mod server;
pub mod snapshots;
pub mod start;
pub mod status_page;
pub mod uploads;
pub mod watch;

pub use server::{ServeOptions, serve};
