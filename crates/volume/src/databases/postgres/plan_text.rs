//! A Postgres recovery plan ([`RecoverPlan`]) in one line, as `holdfast restore
//! --database NAME` prints it before (or, with `--dry-run`, instead of) the replay: the
//! base backup, its snapshot, the first WAL file, how many follow, the point and the gap
//! the newest point stops before; and what the replay reached, as text and as the
//! `--json` document.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::recover::{RecoverPlan, Recovered};

/// `database NAME: base backup of TIME (snapshot ID, WAL from FILE), N WAL files,
/// replayed to …`, with the gap the plan stops before, if any; `time` is the target.
pub fn describe(plan: &RecoverPlan, name: &str, time: Option<DateTime<Utc>>) -> String {
    format!(
        "database {name}: base backup of {} (snapshot {}, WAL from {}), {} WAL files{}{}",
        plan.base
            .time
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        plan.base.snapshot.short(),
        plan.source.segment_name(plan.base.start),
        plan.files.len(),
        time.map(|t| format!(", replayed to {}", t.to_rfc3339()))
            .unwrap_or_else(|| ", replayed to the newest point".into()),
        plan.stops_before
            .as_ref()
            .map(|s| format!(" (stops before the gap at {s})"))
            .unwrap_or_default()
    )
}

/// The time the replay reached, to the microsecond (`None`: the base backup's end).
fn reached(done: &Recovered) -> Option<String> {
    done.reached
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// What the replay of `plan` reached, in one line that ends with the plan's
/// [`describe`] (`said`) and the data directory.
pub fn recovered(name: &str, done: &Recovered, said: &str) -> String {
    format!(
        "restored database {name} to {} ({} WAL files replayed; {}) at {}",
        reached(done).as_deref().unwrap_or("the base backup's end"),
        done.replayed,
        said,
        done.dir.display()
    )
}

/// What the replay of `plan` reached, as the `--json` document.
pub fn recovered_json(name: &str, plan: &RecoverPlan, done: &Recovered) -> Value {
    json!({
        "database": name,
        "reached": reached(done),
        "base": plan.base.time,
        "snapshot": plan.base.snapshot.to_hex(),
        "wal_fetched": done.fetched,
        "wal_replayed": done.replayed,
        "dir": done.dir,
    })
}
