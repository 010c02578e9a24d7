//! What each kind of target receives for an event: the webhook's JSON object, the
//! healthchecks ping (which URL, which body) and the ntfy message (title, priority,
//! tags, text). Pure functions; sending is `deliver`'s.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use holdfast_volume::config::NotifyKind;
use holdfast_volume::units::HumanDuration;
use serde_json::{Value, json};

use super::Event;

/// One HTTP request to send: always a POST.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Outgoing {
    /// Where to.
    pub url: reqwest::Url,
    /// Extra headers (ntfy's `Title`, `Priority`, `Tags`).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Body,
}

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Body {
    /// `application/json`.
    Json(Value),
    /// `text/plain; charset=utf-8`.
    Text(String),
}

/// True when a target of `kind` sends anything for `event`. A healthchecks check
/// follows the backups: it ignores `verify_ok` (a success ping would hide backups
/// that stopped) and `usage_alert` (not about backups).
pub(super) fn sends(kind: NotifyKind, event: &Event) -> bool {
    match kind {
        NotifyKind::Healthchecks => healthchecks_suffix(event).is_some(),
        NotifyKind::Webhook | NotifyKind::Ntfy => true,
    }
}

/// The request a target of `kind` at `url` gets for `event`, or `None` when it gets
/// nothing (see [`sends`]).
pub(super) fn request(
    kind: NotifyKind,
    url: &reqwest::Url,
    event: &Event,
    time: DateTime<Utc>,
    host: &str,
) -> Option<Outgoing> {
    let text = format!("{}\nhost: {host}", message(event));
    match kind {
        NotifyKind::Webhook => Some(Outgoing {
            url: url.clone(),
            headers: Vec::new(),
            body: Body::Json(webhook_json(event, time, host)),
        }),
        NotifyKind::Healthchecks => {
            let suffix = healthchecks_suffix(event)?;
            let mut url = url.clone();
            if !suffix.is_empty()
                && let Ok(mut segments) = url.path_segments_mut()
            {
                segments.pop_if_empty().push(suffix);
            }
            Some(Outgoing {
                url,
                headers: Vec::new(),
                body: Body::Text(text),
            })
        }
        NotifyKind::Ntfy => Some(Outgoing {
            url: url.clone(),
            headers: vec![
                ("Title", header_text(&title(event))),
                ("Priority", priority(event).to_string()),
                ("Tags", format!("{},holdfast", tag(event))),
            ],
            body: Body::Text(text),
        }),
    }
}

/// The path suffix of the healthchecks ping: `start`, empty (success) or `fail`.
fn healthchecks_suffix(event: &Event) -> Option<&'static str> {
    match event {
        Event::BackupStarted { .. } => Some("start"),
        Event::BackupSucceeded { .. } => Some(""),
        Event::BackupFailed { .. }
        | Event::BackupShrunk { .. }
        | Event::VerifyFinished { ok: false, .. }
        | Event::GuardRefused { .. }
        | Event::BackupStale { .. }
        | Event::PitrAlert { .. } => Some("fail"),
        Event::VerifyFinished { ok: true, .. } | Event::UsageAlert { .. } => None,
    }
}

/// The webhook body: `event`, `time`, `host`, `message` and the event's own fields.
pub(super) fn webhook_json(event: &Event, time: DateTime<Utc>, host: &str) -> Value {
    let mut v = json!({
        "event": event.name(),
        "time": time.to_rfc3339_opts(SecondsFormat::Secs, true),
        "host": host,
        "message": message(event),
    });
    let fields = match event {
        Event::BackupStarted { volume } => json!({ "volume": volume }),
        Event::BackupSucceeded {
            volume,
            snapshot,
            files,
            size,
            added,
            duration,
        } => json!({
            "volume": volume,
            "snapshot": snapshot,
            "files": files,
            "size_bytes": size,
            "added_bytes": added,
            "duration_seconds": duration.as_secs_f64(),
        }),
        Event::BackupFailed { volume, error } => json!({ "volume": volume, "error": error }),
        Event::BackupShrunk {
            volume,
            snapshot,
            shrunk,
        } => json!({
            "volume": volume,
            "snapshot": snapshot,
            "reference": shrunk.reference.to_hex(),
            "files_before": shrunk.files_before,
            "files_after": shrunk.files_after,
            "size_before_bytes": shrunk.size_before,
            "size_after_bytes": shrunk.size_after,
        }),
        Event::VerifyFinished {
            ok,
            problems,
            restore_time,
            summary,
        } => json!({
            "ok": ok,
            "problems": problems,
            "restore_seconds": restore_time.map(|d| d.as_secs_f64()),
            "summary": summary,
        }),
        Event::UsageAlert {
            volume,
            usage_percent,
        } => json!({ "volume": volume, "usage_percent": usage_percent }),
        Event::GuardRefused { reasons } => json!({ "reasons": reasons }),
        Event::PitrAlert {
            volume,
            database,
            message,
        } => json!({ "volume": volume, "database": database, "alert": message }),
        Event::BackupStale {
            volume,
            last_success,
            max_age,
        } => json!({
            "volume": volume,
            "last_success": last_success.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            "max_age_seconds": max_age.as_secs(),
        }),
    };
    if let (Some(all), Value::Object(own)) = (v.as_object_mut(), fields) {
        all.extend(own);
    }
    v
}

/// One line a person reads: what happened, with figures.
pub(super) fn message(event: &Event) -> String {
    match event {
        Event::BackupStarted { volume } => format!("backup of {volume} started"),
        Event::BackupSucceeded {
            volume,
            snapshot,
            files,
            size,
            added,
            duration,
        } => format!(
            "backup of {volume} ok: snapshot {snapshot}, {}, {}, {} new, in {}",
            crate::text::count(*files, "file"),
            indicatif::HumanBytes(*size),
            indicatif::HumanBytes(*added),
            seconds(*duration),
        ),
        Event::BackupFailed { volume, error } => format!("backup of {volume} FAILED: {error}"),
        Event::BackupShrunk {
            volume,
            snapshot,
            shrunk,
        } => format!(
            "backup of {volume} SHRUNK: snapshot {} holds {} files, {} where snapshot {} \
             held {} files, {}; check the volume is mounted, or accept the deletion with \
             `holdfast tag {} --remove shrunk`",
            &snapshot[..snapshot.len().min(8)],
            shrunk.files_after,
            indicatif::HumanBytes(shrunk.size_after),
            shrunk.reference.short(),
            shrunk.files_before,
            indicatif::HumanBytes(shrunk.size_before),
            &snapshot[..snapshot.len().min(8)],
        ),
        Event::VerifyFinished {
            ok,
            problems,
            restore_time,
            summary,
        } => {
            let drill = restore_time
                .map(|d| format!("; restore drill took {}", seconds(d)))
                .unwrap_or_default();
            if *ok {
                format!("verify ok: {summary}{drill}")
            } else {
                format!(
                    "verify FAILED, {}: {summary}{drill}",
                    crate::text::count(*problems, "problem")
                )
            }
        }
        Event::UsageAlert {
            volume,
            usage_percent,
        } => format!("volume {volume} is {usage_percent:.1}% full"),
        Event::GuardRefused { reasons } => {
            format!("holdfast refused to start the app: {}", reasons.join("; "))
        }
        Event::PitrAlert { message, .. } => message.clone(),
        Event::BackupStale {
            volume,
            last_success,
            max_age,
        } => {
            let limit = HumanDuration(*max_age);
            match last_success {
                Some(t) => format!(
                    "backup of {volume} is stale: last success {} (limit {limit})",
                    t.to_rfc3339_opts(SecondsFormat::Secs, true)
                ),
                None => format!("backup of {volume} is stale: never succeeded (limit {limit})"),
            }
        }
    }
}

/// The ntfy title.
fn title(event: &Event) -> String {
    match event {
        Event::BackupStarted { volume } => format!("holdfast: backup of {volume} started"),
        Event::BackupSucceeded { volume, .. } => format!("holdfast: backup of {volume} ok"),
        Event::BackupFailed { volume, .. } => format!("holdfast: backup of {volume} failed"),
        Event::BackupShrunk { volume, .. } => format!("holdfast: backup of {volume} shrunk"),
        Event::VerifyFinished { ok: true, .. } => "holdfast: verify ok".into(),
        Event::VerifyFinished { ok: false, .. } => "holdfast: verify failed".into(),
        Event::UsageAlert { volume, .. } => format!("holdfast: volume {volume} almost full"),
        Event::GuardRefused { .. } => "holdfast: app not started".into(),
        Event::BackupStale { volume, .. } => format!("holdfast: backup of {volume} is stale"),
        Event::PitrAlert { database, .. } => {
            format!("holdfast: replication of {database} needs attention")
        }
    }
}

/// The ntfy priority: `high` for every problem, `min` for a start, else `default`.
fn priority(event: &Event) -> &'static str {
    match event {
        e if e.is_problem() => "high",
        Event::BackupStarted { .. } => "min",
        _ => "default",
    }
}

/// The ntfy tag (an emoji short code) of an event.
fn tag(event: &Event) -> &'static str {
    match event {
        Event::BackupStarted { .. } => "arrow_forward",
        Event::BackupSucceeded { .. } | Event::VerifyFinished { ok: true, .. } => {
            "white_check_mark"
        }
        Event::BackupFailed { .. } | Event::VerifyFinished { ok: false, .. } => "rotating_light",
        Event::UsageAlert { .. } | Event::BackupShrunk { .. } => "warning",
        Event::GuardRefused { .. } => "no_entry",
        Event::BackupStale { .. } => "hourglass",
        Event::PitrAlert { .. } => "warning",
    }
}

/// `text` as an HTTP header value: visible ASCII, anything else as `?`.
fn header_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// `12.3s`.
fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
