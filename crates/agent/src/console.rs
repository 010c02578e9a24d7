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
