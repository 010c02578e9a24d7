//! Every Prometheus metric of the server, declared in this one module: names start with
//! `holdfast_`, per-volume series carry a `volume` label. Volume gauges come from the
//! probes of the watch timer ([`crate::protection`]), never from a probe per scrape; backup
//! and job counters are recorded as jobs run; snapshot counts, the repository size and
//! each volume's last success are read from the repository at start, on a timer and
//! after each backup. Snapshots of plain paths (not volumes) count under the bounded
//! label `volume="(path)"`, never the path itself. The text exposition format is
//! written by hand (a few gauges and counters need no library).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use holdfast_volume::freshness::{BackupFailure, BackupRecord};
use holdfast_volume::status::{ReplicaStatus, VolumeStatus};

/// The `volume` label of snapshots that are not a configured volume's.
pub const PATH_LABEL: &str = "(path)";

/// Backup figures of one volume.
#[derive(Debug, Clone, Default)]
pub struct BackupStats {
    /// End of the last successful backup.
    pub last_success: Option<DateTime<Utc>>,
    /// Duration of the last successful backup.
    pub last_duration: Option<Duration>,
    /// Bytes added to the repository by backups of this volume.
    pub added_bytes: u64,
    /// Failed backups.
    pub failures: u64,
    /// The last failed backup.
    pub last_failure: Option<BackupFailure>,
}

impl BackupStats {
    /// The freshness record these figures hold.
    pub fn record(&self) -> BackupRecord {
        BackupRecord {
            last_success: self.last_success,
            last_failure: self.last_failure.clone(),
            ..BackupRecord::default()
        }
    }
}

/// Name, help text and value of a gauge probed per volume.
type VolumeGauge = (&'static str, &'static str, fn(&VolumeStatus) -> f64);

#[derive(Debug, Default)]
struct Inner {
    backups: BTreeMap<String, BackupStats>,
    snapshots: BTreeMap<String, u64>,
    job_runs: BTreeMap<(String, &'static str), u64>,
    repository_bytes: Option<u64>,
    replicas: Vec<(ReplicaStatus, Option<DateTime<Utc>>)>,
}

/// The counters and gauges that are not probed at scrape time.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one run of `job` (`ok`, `failed` or `skipped`).
    pub fn job_run(&self, job: &str, result: &'static str) {
        *self
            .lock()
            .job_runs
            .entry((job.to_string(), result))
            .or_default() += 1;
    }

    /// Records a successful backup of `volume`.
    pub fn backup_succeeded(&self, volume: &str, end: DateTime<Utc>, took: Duration, added: u64) {
        let mut inner = self.lock();
        let s = inner.backups.entry(volume.to_string()).or_default();
        s.last_success = Some(end);
        s.last_duration = Some(took);
        s.added_bytes += added;
    }

    /// Records a failed backup of `volume` and why.
    pub fn backup_failed(&self, volume: &str, error: &str) {
        let mut inner = self.lock();
        let s = inner.backups.entry(volume.to_string()).or_default();
        s.failures += 1;
        let mut record = s.record();
        record.failed(Utc::now(), error);
        s.last_failure = record.last_failure;
    }

    /// Takes in what a volume's own record says (at start).
    pub fn merge_record(&self, volume: &str, record: &BackupRecord) {
        let mut inner = self.lock();
        let s = inner.backups.entry(volume.to_string()).or_default();
        let mut merged = s.record();
        merged.merge(record);
        s.last_success = merged.last_success;
        s.last_failure = merged.last_failure;
    }

    /// Sets the snapshot count of every volume (from the latest repository listing);
    /// the last-backup time is raised to the newest snapshot when that is later.
    pub fn set_snapshots(
        &self,
        counts: BTreeMap<String, u64>,
        newest: BTreeMap<String, DateTime<Utc>>,
    ) {
        let mut inner = self.lock();
        inner.snapshots = counts;
        for (volume, time) in newest {
            let s = inner.backups.entry(volume).or_default();
            if s.last_success.is_none_or(|t| t < time) {
                s.last_success = Some(time);
            }
        }
    }

    /// Sets the bytes the repository holds (all its objects).
    pub fn set_repository_size(&self, bytes: u64) {
        self.lock().repository_bytes = Some(bytes);
    }

    /// Sets every replica's state, with the time of its last successful replication.
    pub fn set_replicas(&self, replicas: &[ReplicaStatus], success: &[Option<DateTime<Utc>>]) {
        self.lock().replicas = replicas
            .iter()
            .cloned()
            .zip(success.iter().copied())
            .collect();
    }

    /// The backup figures of `volume`.
    pub fn backup_stats(&self, volume: &str) -> BackupStats {
        self.lock().backups.get(volume).cloned().unwrap_or_default()
    }

    /// The Prometheus text exposition of everything, with `statuses` probed just now.
    pub fn render(&self, statuses: &[VolumeStatus]) -> String {
        let inner = self.lock();
        let mut out = String::new();
        let volume_gauges: [VolumeGauge; 6] = [
            (
                "holdfast_volume_used_bytes",
                "Bytes used on the volume's filesystem.",
                |s| s.size_total.saturating_sub(s.size_available) as f64,
            ),
            (
                "holdfast_volume_total_bytes",
                "Size of the volume's filesystem in bytes.",
                |s| s.size_total as f64,
            ),
            (
                "holdfast_volume_available_bytes",
                "Bytes available on the volume.",
                |s| s.size_available as f64,
            ),
            (
                "holdfast_volume_usage_percent",
                "Usage in percent, as `status` reports it.",
                |s| s.usage_percent,
            ),
            (
                "holdfast_volume_mounted",
                "1 when the volume path is a mount point.",
                |s| f64::from(u8::from(s.mounted)),
            ),
            (
                "holdfast_volume_writable",
                "1 when a probe file could be written.",
                |s| f64::from(u8::from(s.writable)),
            ),
        ];
        for (name, help, value) in volume_gauges {
            header(&mut out, name, help, "gauge");
            for s in statuses {
                sample(&mut out, name, &[("volume", &s.name)], value(s));
            }
        }
        header(
            &mut out,
            "holdfast_volume_alerts",
            "Alerts raised by the volume probe (its backup's not included).",
            "gauge",
        );
        for s in statuses {
            sample(
                &mut out,
                "holdfast_volume_alerts",
                &[("volume", &s.name)],
                s.volume_alerts().len() as f64,
            );
        }
        let b = &inner.backups;
        header(
            &mut out,
            "holdfast_backup_last_success_timestamp_seconds",
            "Unix time of the last successful backup.",
            "gauge",
        );
        for (v, s) in b {
            if let Some(t) = s.last_success {
                let name = "holdfast_backup_last_success_timestamp_seconds";
                sample(&mut out, name, &[("volume", v)], t.timestamp() as f64);
            }
        }
        header(
            &mut out,
            "holdfast_backup_duration_seconds",
            "Duration of the last successful backup.",
            "gauge",
        );
        for (v, s) in b {
            if let Some(d) = s.last_duration {
                sample(
                    &mut out,
                    "holdfast_backup_duration_seconds",
                    &[("volume", v)],
                    d.as_secs_f64(),
                );
            }
        }
        header(
            &mut out,
            "holdfast_backup_added_bytes_total",
            "Bytes added to the repository by backups.",
            "counter",
        );
        for (v, s) in b {
            sample(
                &mut out,
                "holdfast_backup_added_bytes_total",
                &[("volume", v)],
                s.added_bytes as f64,
            );
        }
        header(
            &mut out,
            "holdfast_backup_failures_total",
            "Failed backups.",
            "counter",
        );
        for (v, s) in b {
            sample(
                &mut out,
                "holdfast_backup_failures_total",
                &[("volume", v)],
                s.failures as f64,
            );
        }
        header(
            &mut out,
            "holdfast_backup_last_failure_timestamp_seconds",
            "Unix time of the last failed backup.",
            "gauge",
        );
        for (v, s) in b {
            if let Some(f) = &s.last_failure {
                let name = "holdfast_backup_last_failure_timestamp_seconds";
                sample(&mut out, name, &[("volume", v)], f.time.timestamp() as f64);
            }
        }
        header(
            &mut out,
            "holdfast_backup_failing",
            "1 while the volume's backup is failing, cannot run, or is older than backup_max_age.",
            "gauge",
        );
        for s in statuses {
            let failing = !s.backup_alerts().is_empty();
            let name = "holdfast_backup_failing";
            sample(
                &mut out,
                name,
                &[("volume", &s.name)],
                f64::from(u8::from(failing)),
            );
        }
        header(
            &mut out,
            "holdfast_snapshots",
            "Snapshots in the repository.",
            "gauge",
        );
        for (v, n) in &inner.snapshots {
            sample(&mut out, "holdfast_snapshots", &[("volume", v)], *n as f64);
        }
        if let Some(bytes) = inner.repository_bytes {
            let name = "holdfast_repository_size_bytes";
            header(&mut out, name, "Bytes stored in the repository.", "gauge");
            sample(&mut out, name, &[], bytes as f64);
        }
        render_replicas(&mut out, &inner.replicas);
        header(
            &mut out,
            "holdfast_job_runs_total",
            "Scheduled and on-demand job runs by result.",
            "counter",
        );
        for ((job, result), n) in &inner.job_runs {
            sample(
                &mut out,
                "holdfast_job_runs_total",
                &[("job", job), ("result", result)],
                *n as f64,
            );
        }
        out
    }
}

/// The `holdfast_replica_*` gauges, labelled with the replica's name (or redacted URL).
fn render_replicas(out: &mut String, replicas: &[(ReplicaStatus, Option<DateTime<Utc>>)]) {
    if replicas.is_empty() {
        return;
    }
    type Gauge = (
        &'static str,
        &'static str,
        fn(&ReplicaStatus, Option<DateTime<Utc>>) -> Option<f64>,
    );
    let gauges: [Gauge; 4] = [
        (
            "holdfast_replica_lag_snapshots",
            "Source snapshots the replica lacks, as last measured.",
            |r, _| r.lag_snapshots.map(|n| n as f64),
        ),
        (
            "holdfast_replica_lag_seconds",
            "Age of the newest source snapshot the replica lacks (0: none).",
            |r, _| r.lag_seconds.map(|n| n as f64),
        ),
        (
            "holdfast_replica_last_success_timestamp_seconds",
            "Unix time of the replica's last successful replication.",
            |_, t| t.map(|t| t.timestamp() as f64),
        ),
        (
            "holdfast_replica_failing",
            "1 while the replica's last run failed or it lacks a snapshot older than allowed.",
            |r, _| Some(f64::from(u8::from(!r.alerts.is_empty()))),
        ),
    ];
    for (name, help, value) in gauges {
        header(out, name, help, "gauge");
        for (r, t) in replicas {
            if let Some(v) = value(r, *t) {
                sample(out, name, &[("replica", &r.name)], v);
            }
        }
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    let _ = write!(out, "{name}");
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let m = Metrics::default();
        m.job_run("backup", "ok");
        m.job_run("backup", "ok");
        m.backup_failed("we\"ird", "boom");
        let text = m.render(&[]);
        assert!(
            text.contains("holdfast_job_runs_total{job=\"backup\",result=\"ok\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("holdfast_backup_failures_total{volume=\"we\\\"ird\"} 1\n"),
            "{text}"
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("holdfast_"), "{line}");
        }
    }

    #[test]
    fn snapshot_listing_raises_last_success() {
        let m = Metrics::default();
        let t = Utc::now();
        m.set_snapshots(
            BTreeMap::from([("a".into(), 3)]),
            BTreeMap::from([("a".into(), t)]),
        );
        assert_eq!(m.backup_stats("a").last_success, Some(t));
        assert!(
            m.render(&[])
                .contains("holdfast_snapshots{volume=\"a\"} 3\n")
        );
    }
}
