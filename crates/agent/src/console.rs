//! What the agent says to the person who started it — the `listening on` line, the start
//! line of each volume, the warning block when backups cannot run — goes through one
//! function the front end installs ([`install`]): the CLI writes it on stderr as text or
//! as one JSON object per event (`--log-format`). Without one installed (tests, a
//! library user), each event is a `tracing` event. The agent never writes to stdout.

use std::sync::OnceLock;

/// The front end's writer: level, the text form (one or more lines), the one-line
/// message, and structured fields.
pub type Writer =
    dyn Fn(tracing::Level, &str, &str, serde_json::Map<String, serde_json::Value>) + Send + Sync;

static WRITER: OnceLock<Box<Writer>> = OnceLock::new();

/// Installs the front end's writer (the first call wins).
pub fn install(writer: Box<Writer>) {
    let _ = WRITER.set(writer);
}

/// One event: `text` as written in text mode, `message` and `fields` for structured
/// logs.
pub fn event(
    level: tracing::Level,
    text: &str,
    message: &str,
    fields: serde_json::Map<String, serde_json::Value>,
) {
    match WRITER.get() {
        Some(w) => w(level, text, message, fields),
        None => match level {
            tracing::Level::ERROR => tracing::error!("{message}"),
            tracing::Level::WARN => tracing::warn!("{message}"),
            _ => tracing::info!("{message}"),
        },
    }
}

/// A one-line note, written `holdfast: PREFIX MESSAGE` in text mode.
pub fn note(level: tracing::Level, message: &str, prefix: &str) {
    event(
        level,
        &format!("holdfast: {prefix}{message}"),
        message,
        serde_json::Map::new(),
    );
}

/// One event as the JSON object a log collector reads (`--log-format json`):
/// `timestamp` (UTC, microseconds), `level` (`ERROR`, `WARN`…), `target` (`holdfast`),
/// `message`, then the `fields` that do not take one of those names.
pub fn json_line(
    level: tracing::Level,
    message: &str,
    fields: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let mut line = serde_json::Map::new();
    line.insert(
        "timestamp".into(),
        chrono::Utc::now()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            .into(),
    );
    line.insert("level".into(), level.as_str().into());
    line.insert("target".into(), "holdfast".into());
    line.insert("message".into(), message.into());
    for (k, v) in fields {
        line.entry(k).or_insert(v);
    }
    serde_json::Value::Object(line)
}
