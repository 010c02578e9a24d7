//! The one place the repository reads the local clock, and what it knows of the store's.
//!
//! [`now`] is the local wall clock. Debug builds and builds with the `failpoints` feature
//! add `HOLDFAST_CLOCK_OFFSET` seconds to it (e.g. `7200`, `-10800`), so a real-process
//! test can run a client whose clock runs ahead or behind; release builds without the
//! feature read the clock as it is.
//!
//! No decision that deletes data rests on this clock alone (docs/FORMAT.md, "Invariant"):
//! lock staleness, the age of unindexed packs and the age of marks are judged in *store
//! time* — the modification times the store gives its objects, compared with the
//! modification time of an object this client has just written ([`StoreClock`]). Only a
//! store that keeps no modification times (`memory://`) falls back to the local clock.

use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};

/// Local and store clocks further apart than this are reported (a warning): one of the
/// two hosts keeps bad time. Nothing depends on them agreeing.
pub const SKEW_WARNING: TimeDelta = TimeDelta::minutes(5);

/// The local wall clock (with the test offset, see the module doc).
pub fn now() -> DateTime<Utc> {
    Utc::now() + offset()
}

#[cfg(any(debug_assertions, feature = "failpoints"))]
fn offset() -> TimeDelta {
    std::env::var("HOLDFAST_CLOCK_OFFSET")
        .ok()
        .and_then(|s| s.trim().trim_start_matches('+').parse::<i64>().ok())
        .and_then(TimeDelta::try_seconds)
        .unwrap_or_default()
}

#[cfg(not(any(debug_assertions, feature = "failpoints")))]
fn offset() -> TimeDelta {
    TimeDelta::zero()
}

/// The store's clock as read from one object this client wrote: its modification time,
/// advanced by the monotonic time elapsed since it was read.
#[derive(Clone, Copy, Debug)]
pub struct StoreClock {
    /// Store time at `read_at` (`None`: the store keeps no times).
    at: Option<DateTime<Utc>>,
    read_at: Instant,
}

impl StoreClock {
    /// A reading: `modified` is the modification time the store gave an object written
    /// just now (`None` when the store has none: the local clock stands in).
    pub fn reading(modified: Option<DateTime<Utc>>) -> StoreClock {
        let clock = StoreClock {
            at: modified,
            read_at: Instant::now(),
        };
        if let Some(at) = modified {
            let skew = now() - at;
            if skew.abs() > SKEW_WARNING {
                tracing::warn!(
                    "this host's clock and the store's differ by {} s (more than {} s): \
                     decisions that delete data follow the store's clock",
                    skew.num_seconds(),
                    SKEW_WARNING.num_seconds()
                );
            }
        }
        clock
    }

    /// The store's time now.
    pub fn now(&self) -> DateTime<Utc> {
        match self.at {
            Some(at) => at + TimeDelta::from_std(self.read_at.elapsed()).unwrap_or_default(),
            None => now(),
        }
    }

    /// True when the store gave a modification time.
    pub fn from_store(&self) -> bool {
        self.at.is_some()
    }
}
