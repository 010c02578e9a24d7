//! The tables of the status page: the `[[replicas]]` and the scheduled jobs. Each cell
//! carries its column's name (`data-label`), which a narrow screen shows before the
//! value when the table turns into lines.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use holdfast_volume::status::ReplicaStatus;

use super::once::Once;
use super::{age, esc};
use crate::schedule::JobInfo;

fn head(out: &mut String, columns: &[&str]) {
    out.push_str("<table><tr class=\"head\">");
    for c in columns {
        let _ = write!(out, "<th>{}</th>", esc(c));
    }
    out.push_str("</tr>\n");
}

fn cell(out: &mut String, label: &str, class: &str, html: &str) {
    let _ = write!(out, "<td data-label=\"{}\"{class}>{html}</td>", esc(label));
}

/// The `[[replicas]]`: schedule, last success, lag and alerts (nothing without any);
/// shown, like the snapshots, only to a viewer with the token (a redacted URL still
/// names a bucket and host).
pub fn replicas(out: &mut String, replicas: &[ReplicaStatus], once: &mut Once) {
    if replicas.is_empty() {
        return;
    }
    out.push_str("<section class=\"replicas\"><h2>Replicas</h2>\n");
    head(
        out,
        &["replica", "schedule", "last success", "lag", "state"],
    );
    for r in replicas {
        let lag = match (r.lag_snapshots, r.lag_seconds) {
            (Some(0), _) => "up to date".to_string(),
            (Some(n), Some(s)) => format!(
                "{} behind, newest {}",
                crate::text::count(n, "snapshot"),
                age(chrono::Duration::seconds(s))
            ),
            (Some(n), None) => format!("{} behind", crate::text::count(n, "snapshot")),
            (None, _) => "not measured yet".to_string(),
        };
        out.push_str("<tr>");
        cell(out, "replica", "", &esc(&r.name));
        cell(
            out,
            "schedule",
            "",
            &format!("<code>{}</code>", esc(&r.schedule)),
        );
        cell(
            out,
            "last success",
            "",
            &esc(r.last_success.as_deref().unwrap_or("never yet")),
        );
        cell(out, "lag", "", &esc(&lag));
        if r.alerts.is_empty() {
            cell(out, "state", " class=\"ok\"", "ok");
        } else {
            let (text, referred) = once.say(&r.alerts.join("; "));
            let class = if referred {
                " class=\"bad\""
            } else {
                " class=\"bad error\""
            };
            cell(out, "state", class, &esc(&text));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></section>\n");
}

/// The scheduled jobs: schedule, next run, last run and its result.
pub fn jobs(
    out: &mut String,
    jobs: &std::collections::BTreeMap<String, JobInfo>,
    now: DateTime<Utc>,
    once: &mut Once,
) {
    out.push_str("<section class=\"jobs\"><h2>Scheduled jobs</h2>\n");
    if jobs.is_empty() {
        out.push_str("<p>No jobs are scheduled ([schedule] and [[cleanup]] in holdfast.toml).</p></section>\n");
        return;
    }
    head(out, &["job", "schedule", "next run", "last run", "result"]);
    for (name, j) in jobs {
        let next = match j.next {
            _ if j.running => "running now".to_string(),
            Some(t) if t > now => format!(
                "in {} (<time>{}</time>)",
                esc(&age(t - now)),
                t.format("%Y-%m-%d %H:%M UTC")
            ),
            Some(_) => "due".to_string(),
            None => "never".to_string(),
        };
        let last = j.last_run.map_or_else(
            || "not yet".to_string(),
            |t| format!("{} ago", age(now - t)),
        );
        let result = j.last_result.clone().unwrap_or_else(|| "—".into());
        out.push_str("<tr>");
        cell(out, "job", "", &esc(name));
        cell(
            out,
            "schedule",
            "",
            &format!("<code>{}</code>", esc(&j.schedule)),
        );
        cell(out, "next run", "", &next);
        cell(out, "last run", "", &esc(&last));
        if result.starts_with("failed") {
            let (text, referred) = once.say(&result);
            let class = if referred {
                " class=\"bad\""
            } else {
                " class=\"bad error\""
            };
            cell(out, "result", class, &esc(&text));
        } else {
            cell(out, "result", "", &esc(&result));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></section>\n");
}
