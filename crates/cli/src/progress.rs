//! Progress bars on a terminal: done of total, rate and ETA for backup, restore,
//! verify --read-data and copy. A bar is drawn only when standard error is a terminal
//! and logs are text (never with `--json`, `-q` or JSON logs); it polls the operation's
//! atomic counters every 200 ms, so the operation itself never waits on drawing.
//!
//! Backup counts bytes against a total that a scan of the roots (file sizes only, done
//! beside the backup on a blocking thread) finds out; the scan checks a stop flag at
//! every directory entry, and the bar sets it when it is dropped, so a scan of a big
//! tree ends with the backup instead of walking on. The other operations know their
//! total up front.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use holdfast_repo::{BackupProgress, Progress};
use indicatif::{ProgressBar, ProgressStyle};

use crate::global::{GlobalArgs, LogFormat};

/// What the bar counts.
#[derive(Clone, Copy, Debug)]
pub enum Unit {
    /// Bytes: sizes, a byte rate.
    Bytes,
    /// Whole things (packs, snapshots), named in the label.
    Items(&'static str),
}

/// A drawn bar; dropping it stops the drawing (and the scan behind a backup's total)
/// and clears the line.
pub struct Bar {
    task: tokio::task::JoinHandle<()>,
    bar: ProgressBar,
    /// Set on drop: tells the size scan of [`show_backup`] to end.
    stop: Arc<AtomicBool>,
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.abort();
        self.bar.finish_and_clear();
    }
}

/// True when a bar may be drawn for this invocation.
pub fn wanted(g: &GlobalArgs) -> bool {
    !g.json
        && !g.quiet
        && std::io::stderr().is_terminal()
        && crate::global::log_format() != LogFormat::Json
}

fn style(unit: Unit) -> ProgressStyle {
    let template = match unit {
        Unit::Bytes => {
            "{spinner} {elapsed} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}"
        }
        Unit::Items(_) => "{spinner} {elapsed} [{bar:30}] {pos}/{len} {msg} ETA {eta}",
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// Draws `progress` (done of total) with `label`, when [`wanted`].
pub fn show(g: &GlobalArgs, progress: Arc<Progress>, unit: Unit) -> Option<Bar> {
    if !wanted(g) {
        return None;
    }
    let bar = ProgressBar::new(0).with_style(style(unit));
    if let Unit::Items(what) = unit {
        bar.set_message(what);
    }
    let b = bar.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            let (done, total) = progress.get();
            b.set_length(total.max(done));
            b.set_position(done);
        }
    });
    Some(Bar {
        task,
        bar,
        stop: Arc::default(),
    })
}

/// Draws a backup of `roots`: bytes done of the bytes a scan beside the backup finds,
/// with the files done as the message.
pub fn show_backup(
    g: &GlobalArgs,
    progress: Arc<BackupProgress>,
    roots: Vec<PathBuf>,
) -> Option<Bar> {
    if !wanted(g) {
        return None;
    }
    let total = Arc::new(Progress::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (scan, stopped) = (total.clone(), stop.clone());
    tokio::task::spawn_blocking(move || {
        for root in roots {
            scan_sizes(&root, &scan, &stopped);
        }
    });
    let bar = ProgressBar::new(0).with_style(style(Unit::Bytes));
    let b = bar.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            let done = progress.bytes.load(Ordering::Relaxed);
            let files = progress.files.load(Ordering::Relaxed);
            let (_, found) = total.get();
            b.set_length(found.max(done));
            b.set_position(done);
            b.set_message(crate::text::count(files, "file"));
        }
    });
    Some(Bar { task, bar, stop })
}

/// Adds the sizes of the regular files under `root` to `total` (symlinks not followed,
/// unreadable directories skipped: the total is an estimate for the ETA only). Returns
/// as soon as it finds `stop` set, before the next directory entry.
fn scan_sizes(root: &std::path::Path, total: &Progress, stop: &AtomicBool) {
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

    /// Dropping a backup's bar (the backup ended) sets the flag its scan checks.
    #[tokio::test]
    async fn progress_scan_thread_is_stopped_when_the_bar_drops() {
        let stop = Arc::new(AtomicBool::new(false));
        let bar = Bar {
            task: tokio::spawn(std::future::pending()),
            bar: ProgressBar::hidden(),
            stop: stop.clone(),
        };
        drop(bar);
        assert!(stop.load(Ordering::Relaxed));
    }
}
