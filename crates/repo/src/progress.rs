//! Live progress of a long operation (verify's pack reads, copy's snapshots, restore's
//! bytes): a total that may grow while it is found out, and the amount done, both atomic
//! so the operation counts while a caller polls them to draw a bar with a rate and an ETA.
//!
//! A backup does not know its total: [`scan_sizes`] finds it out beside the backup (file
//! sizes only), checking a stop flag at every directory entry so that a scan of a big
//! tree ends with the backup instead of walking on.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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

/// Adds the sizes of the regular files under `root` to `total` (symlinks not followed,
/// unreadable directories skipped: the total is an estimate for the ETA only). Returns
/// as soon as it finds `stop` set, before the next directory entry.
pub fn scan_sizes(root: &Path, total: &Progress, stop: &AtomicBool) {
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(meta) = std::fs::symlink_metadata(&dir) else {
            continue;
        };
        if meta.is_file() {
            total.add_total(meta.len());
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => dirs.push(entry.path()),
                Ok(t) if t.is_file() => {
                    if let Ok(m) = entry.metadata() {
                        total.add_total(m.len());
                    }
                }
                _ => {}
            }
        }
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

    #[test]
    fn the_scan_counts_file_bytes_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a"), [0u8; 100]).expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/b"), [0u8; 20]).expect("write");
        std::os::unix::fs::symlink("/", dir.path().join("link")).expect("symlink");
        let total = Progress::default();
        scan_sizes(dir.path(), &total, &AtomicBool::new(false));
        assert_eq!(total.get(), (0, 120));
    }

    /// Finding: the size scan behind a backup's bar ran on after the backup ended (over
    /// a big tree, for as long as the walk took). A stopped scan visits nothing more.
    #[test]
    fn progress_scan_thread_is_stopped_by_its_flag() {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..50 {
            let sub = dir.path().join(format!("d{i}"));
            std::fs::create_dir(&sub).expect("mkdir");
            std::fs::write(sub.join("f"), [0u8; 10]).expect("write");
        }
        let total = Progress::default();
        scan_sizes(dir.path(), &total, &AtomicBool::new(true));
        assert_eq!(total.get(), (0, 0), "a scan stopped first visits nothing");
    }
}
