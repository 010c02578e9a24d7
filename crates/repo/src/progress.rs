//! Live progress of a long operation (verify's pack reads, copy's snapshots, restore's
//! bytes): a total that may grow while it is found out, and the amount done, both atomic
//! so the operation counts while a caller polls them to draw a bar with a rate and an ETA.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters an operation updates and a caller polls.
#[derive(Debug, Default)]
pub struct Progress {
    /// How much there is to do, in the operation's unit (0: not known yet).
    pub total: AtomicU64,
    /// How much is done.
    pub done: AtomicU64,
}

impl Progress {
    /// Sets the total.
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// Adds to the total (a scan that is still finding work).
    pub fn add_total(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` more done.
    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// `(done, total)` as last counted.
    pub fn get(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up() {
        let p = Progress::default();
        p.set_total(10);
        p.add_total(5);
        p.add(3);
        p.add(4);
        assert_eq!(p.get(), (7, 15));
    }
}
