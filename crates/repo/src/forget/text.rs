//! A forget report as text, as `holdfast forget` prints it: per group a table of the
//! snapshots kept (with the policy's reasons) and removed, newest first, and one last
//! line with the count; for named snapshots one line each. The JSON form is
//! [`ForgetReport`]'s own serialisation.

use std::fmt::Write as _;

use super::ForgetReport;
use crate::retention::RetentionPolicy;
use crate::text::count;

/// The report of `forget SNAPSHOT…`: one line per snapshot removed (or that would be).
pub fn named(report: &ForgetReport) -> String {
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut out = String::new();
    for group in &report.groups {
        for r in &group.remove {
            let _ = writeln!(
                out,
                "{verb} snapshot {} of {} ({})",
                r.id.short(),
                group.group,
                r.time.format("%Y-%m-%d %H:%M:%S")
            );
        }
    }
    out
}

/// The report of a policy: the policy (unless `quiet`), then per group a table of kept
/// and removed snapshots, newest first, then the number removed.
pub fn table(policy: &RetentionPolicy, report: &ForgetReport, quiet: bool) -> String {
    let mut out = String::new();
    if !quiet {
        let _ = writeln!(out, "policy: {policy}");
    }
    for group in &report.groups {
        let what = match &group.volume {
            Some(v) => format!("volume {v}"),
            None => format!("root {}", group.root),
        };
        let _ = writeln!(
            out,
            "\n{what}: keep {}, remove {}",
            group.keep.len(),
            group.remove.len()
        );
        let _ = writeln!(out, "{:<10} {:<20} {:<7} REASONS", "ID", "TIME", "ACTION");
        let mut rows: Vec<(chrono::DateTime<chrono::Utc>, String, &str, String)> = group
            .keep
            .iter()
            .map(|k| (k.time, k.id.short(), "keep", k.reasons.join(", ")))
            .chain(
                group
                    .remove
                    .iter()
                    .map(|r| (r.time, r.id.short(), "remove", String::new())),
            )
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        for (time, id, action, reasons) in rows {
            let line = format!(
                "{id:<10} {:<20} {action:<7} {reasons}",
                time.format("%Y-%m-%d %H:%M:%S")
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    let removed: usize = report.groups.iter().map(|g| g.remove.len()).sum();
    if report.dry_run {
        let _ = writeln!(
            out,
            "\ndry run: would remove {}",
            count(removed, "snapshot")
        );
    } else {
        let _ = writeln!(out, "\nremoved {}", count(report.deleted, "snapshot"));
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::forget::{ForgetGroup, Kept, Removed};
    use crate::id::Id;

    fn report(dry_run: bool) -> ForgetReport {
        let at = |h| chrono::Utc.with_ymd_and_hms(2026, 12, 7, h, 0, 0).unwrap();
        ForgetReport {
            groups: vec![ForgetGroup {
                group: "app-data".into(),
                volume: Some("app-data".into()),
                root: "/data".into(),
                keep: vec![Kept {
                    id: Id([0xab; 32]),
                    time: at(2),
                    reasons: vec!["last snapshot".into()],
                }],
                remove: vec![Removed {
                    id: Id([0x01; 32]),
                    time: at(1),
                }],
            }],
            dry_run,
            deleted: usize::from(!dry_run),
        }
    }

    #[test]
    fn a_policy_is_a_table_per_group_newest_first() {
        let policy = RetentionPolicy {
            keep_last: Some(1),
            ..RetentionPolicy::default()
        };
        assert_eq!(
            table(&policy, &report(true), false),
            format!(
                "policy: {policy}\n\nvolume app-data: keep 1, remove 1\n\
                 ID         TIME                 ACTION  REASONS\n\
                 abababab   2026-12-07 02:00:00  keep    last snapshot\n\
                 01010101   2026-12-07 01:00:00  remove\n\
                 \ndry run: would remove 1 snapshot\n"
            )
        );
    }

    #[test]
    fn named_snapshots_are_one_line_each() {
        assert_eq!(
            named(&report(false)),
            "removed snapshot 01010101 of app-data (2026-12-07 01:00:00)\n"
        );
    }
}
