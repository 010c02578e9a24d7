//! A volume's status as text: the table `holdfast status` prints, with each replicated
//! database's newest point, the alerts and a last line that says how many volumes are
//! healthy. The JSON form is [`VolumeStatus`]'s own serialisation; the status page
//! renders the same values as HTML.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::{UsageBasis, VolumeStatus};
use crate::freshness;
use crate::units::format_size;

/// `n volumes` / `1 volume`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "NO" }.to_string()
}

/// The status of `statuses` as `holdfast status` prints it: one table row per volume
/// (ages counted from `now`), then each replicated database's newest point, the alerts,
/// and one line that counts the healthy volumes.
pub fn render(statuses: &[VolumeStatus], now: DateTime<Utc>) -> String {
    let headers = [
        "VOLUME",
        "PATH",
        "MOUNTED",
        "WRITABLE",
        "USED",
        "SIZE",
        "FREE",
        "DATABASES",
        "LAST BACKUP",
    ];
    let rows: Vec<Vec<String>> = statuses
        .iter()
        .map(|s| {
            let used = match s.details.usage_basis {
                UsageBasis::Filesystem => format!("{:.1}%", s.usage_percent),
                UsageBasis::DeclaredSize => format!("{:.1}% of size", s.usage_percent),
            };
            let size = match s.details.declared_size {
                Some(d) if s.details.usage_basis == UsageBasis::DeclaredSize => {
                    format!("{} (fs {})", format_size(d), format_size(s.size_total))
                }
                _ => format_size(s.size_total),
            };
            let mounted = match (&s.details.fs_type, s.mounted) {
                (Some(fs), true) => format!("yes ({fs})"),
                _ => yes_no(s.mounted),
            };
            let dbs = if s.database_exists { "ok" } else { "MISSING" }.to_string();
            let ago = |t: &String| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|t| format!("{} ago", freshness::age(now - t.to_utc())))
                    .unwrap_or_else(|_| t.clone())
            };
            // A failure says how old the last good backup is: what is at risk.
            let last = match (&s.last_backup, &s.last_backup_error) {
                (Some(t), Some(_)) => format!("FAILED (last good {})", ago(t)),
                (None, Some(_)) => "FAILED (none good yet)".to_string(),
                (Some(t), None) => ago(t),
                (None, None) => "never".to_string(),
            };
            vec![
                s.name.clone(),
                s.path.display().to_string(),
                mounted,
                yes_no(s.writable),
                used,
                size,
                format_size(s.size_available),
                dbs,
                last,
            ]
        })
        .collect();
    let mut out = table(&headers, &rows);
    for s in statuses {
        for db in &s.databases {
            let _ = match (&db.newest_point, db.lag_seconds) {
                (Some(t), Some(lag)) => writeln!(
                    out,
                    "{}: database {} restorable to {t} ({} ago)",
                    s.name,
                    db.database,
                    freshness::age(chrono::Duration::seconds(lag))
                ),
                _ => writeln!(
                    out,
                    "{}: database {} has no replicated point yet",
                    s.name, db.database
                ),
            };
        }
    }
    for s in statuses {
        for alert in &s.alerts {
            let _ = writeln!(out, "alert: {}: {alert}", s.name);
        }
    }
    let bad = statuses.iter().filter(|s| !s.is_healthy()).count();
    if bad == 0 {
        let _ = writeln!(out, "{} healthy", count(statuses.len(), "volume"));
    } else {
        let _ = writeln!(
            out,
            "{bad} of {} need attention",
            count(statuses.len(), "volume")
        );
    }
    out
}

/// Left-aligned columns separated by two spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (cell, w) in cells.zip(&widths) {
            let _ = write!(text, "{cell:<w$}  ");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}
