//! holdfast-agent: the long-running protection runtime behind `holdfast serve` and the
//! server `holdfast run` starts beside the app. No command-line parsing and no stdout
//! here; the binary translates flags into [`AgentOptions`] and installs how the agent
//! speaks ([`console`]).
//!
//! # Life cycle
//!
//! [`Agent::run`] runs until its cancellation token fires ([`Agent::prestart`] first, under
//! `holdfast run`):
//!
//! 1. **Guard and start lines** ([`start`]): every volume passes the guard of the backup
//!    door (an interrupted restore is finished first), and one line per volume says
//!    whether it is mounted, its schedule and next backup, the repository (redacted) and
//!    the replicas.
//! 2. **State** ([`http::AppState`]): the protection state ([`protection`]), the metrics
//!    ([`metrics`]), the notifier ([`notify`]), replication ([`replication`]) and the
//!    repository access ([`access`]).
//! 3. **Background work**: the scheduler ([`schedule`]: backup, verify and restore
//!    drill, forget and prune, cleanup, replicas on their own cron), the probe timer of
//!    [`protection`], the replication workers.
//! 4. **HTTP** ([`http`]): health, readiness, metrics, the status page, the file,
//!    upload and cache API, snapshots and on-demand backups.
//! 5. **Stop**: on cancellation, accept no new connection, let running requests and a
//!    running job finish, flush queued notifications.
//!
//! # Where to look
//!
//! - what happens when a scheduled backup fails: [`backup`];
//! - how a file PUT stays beneath its volume: [`http::paths`];
//! - how replication lag is computed: [`replication::lag`];
//! - the status of a volume, for `holdfast status`, `/api/v1/status`, `/readyz` and the
//!   page: [`protection`];
//! - what can go wrong: [`Error`] (one typed error; the caller's input apart from
//!   internal failures, the HTTP statuses at the edge in [`http::error`]).

pub mod access;
pub mod agent;
pub mod backup;
pub mod console;
pub mod error;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod password;
pub mod pg_archive;
pub mod pitr;
pub mod prestart;
pub mod protection;
pub mod replication;
pub mod schedule;
pub mod start;
pub mod survey;
pub mod text;
pub mod verify;

pub use agent::{Agent, AgentOptions};
pub use error::{Error, Result};
