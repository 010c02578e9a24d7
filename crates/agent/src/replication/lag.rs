//! How replication lag is computed: one quantity, named once, reported everywhere the
//! same way — the `copy --replicas` line and its JSON (`lag.lag_seconds`), each
//! replica's `lag_seconds` in `/api/v1/status`, `holdfast_replica_lag_seconds`, the
//! status page and the replica alert.
//!
//! **lag** ([`holdfast_repo::copy::Lag::seconds_at`]): how much recent history the
//! replica lacks now — the age of the newest source snapshot it holds when it lacks a
//! newer one (the age of the oldest source snapshot it lacks when it holds none of its
//! group); 0 when it lacks nothing. If the source were lost now, the replica would be
//! missing the backups of the last `lag` seconds. Snapshots the replica's own retention
//! forgot are not "lacked" ([`holdfast_repo::copy::missing`]).
//!
//! **lag in snapshots** (`lag_snapshots`, `holdfast_replica_lag_snapshots`): how many
//! source snapshots the replica lacks.
//!
//! **overdue** ([`overdue`]): the replica lacks snapshots and its lag is past the
//! replica's allowance (its interval × 1.5 + 15 min; after-backup replicas: the
//! backups' `backup_max_age`): an alert.

use chrono::{DateTime, Utc};
use holdfast_repo::copy::Lag;

/// The lag at `now`, in seconds (see the module doc).
pub fn seconds(lag: &Lag, now: DateTime<Utc>) -> i64 {
    lag.seconds_at(now)
}

/// Whether the lag at `now` is past `allowance`: an alert.
pub fn overdue(lag: &Lag, allowance: std::time::Duration, now: DateTime<Utc>) -> bool {
    lag.missing > 0 && seconds(lag, now) > i64::try_from(allowance.as_secs()).unwrap_or(i64::MAX)
}
