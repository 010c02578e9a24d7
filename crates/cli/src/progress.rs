//! Progress bars on a terminal: done of total, rate and ETA for backup, restore,
//! verify --read-data and copy. A bar is drawn only when standard error is a terminal
//! and logs are text (never with `--json`, `-q` or JSON logs); it polls the operation's
//! atomic counters every 200 ms, so the operation itself never waits on drawing.
//!
//! Backup counts bytes against a total that a scan of the roots
//! ([`holdfast_repo::progress::scan_sizes`], on a blocking thread) finds out; the bar
//! sets the scan's stop flag when it is dropped, so the scan ends with the backup. The other operations know their
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
            holdfast_repo::progress::scan_sizes(&root, &scan, &stopped);
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
            b.set_message(holdfast_repo::text::count(files, "file"));
        }
    });
    Some(Bar { task, bar, stop })
}

#[cfg(test)]
mod tests {
    use super::*;

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
