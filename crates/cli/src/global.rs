//! Global flags shared by every command, and logging set-up: levels (holdfast's own
//! targets apart from the libraries'), text or JSON lines, colour only on a terminal.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Flags accepted before or after any command. `Debug` shows the repository URL
/// redacted.
#[derive(Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Config file.
    #[arg(
        long,
        global = true,
        env = "HOLDFAST_CONFIG",
        default_value = "holdfast.toml"
    )]
    pub config: PathBuf,
    /// Repository URL (file:///…, s3://bucket/prefix, azblob://container/prefix, memory://).
    #[arg(long, global = true, env = "HOLDFAST_REPOSITORY")]
    pub repo: Option<String>,
    /// File holding the repository password (else HOLDFAST_PASSWORD).
    #[arg(long, global = true, env = "HOLDFAST_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// Command whose first line of output is the repository password (run with `sh -c`).
    #[arg(long, global = true, env = "HOLDFAST_PASSWORD_COMMAND")]
    pub password_command: Option<String>,
    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// More logging (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output: errors only.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log lines as text or as one JSON object per line (for log collectors).
    #[arg(
        long,
        global = true,
        env = "HOLDFAST_LOG_FORMAT",
        value_enum,
        ignore_case = true,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

/// How log lines on stderr are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line of text per event; coloured only when stderr is a terminal.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message`, fields.
    Json,
}

impl std::fmt::Debug for GlobalArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalArgs")
            .field("config", &self.config)
            .field(
                "repo",
                &self.repo.as_deref().map(holdfast_store::redact_url),
            )
            .field("password_file", &self.password_file)
            .field("json", &self.json)
            .field("verbose", &self.verbose)
            .field("quiet", &self.quiet)
            .field("log_format", &self.log_format)
            .finish()
    }
}

/// Log targets of libraries that print credentials in their debug output.
const SECRET_LOGGING_TARGETS: &[&str] = &[
    "reqsign",
    "reqsign_core",
    "reqsign_aws_core",
    "reqsign_aws_v4",
    "reqsign_azure_storage",
    "reqsign_file_read_tokio",
];

/// holdfast's own log targets (the binary and its library crates).
const OWN_TARGETS: &[&str] = &[
    "holdfast",
    "holdfast_repo",
    "holdfast_store",
    "holdfast_volume",
];

/// The filter directives for `-q`/`-v…`: libraries at `warn` up to `-vv`; holdfast's own
/// lines at `info` for the long-running commands (`run`, `serve`: each job's outcome
/// line), `warn` for the others, `debug` with `-v`, `trace` with `-vv`; `-vvv` adds the
/// libraries' debug lines and `-vvvv` everything.
fn directives(verbose: u8, quiet: bool, long_running: bool) -> String {
    let own = |level: &str| {
        OWN_TARGETS
            .iter()
            .map(|t| format!(",{t}={level}"))
            .collect::<String>()
    };
    if quiet {
        return "error".into();
    }
    match verbose {
        0 if long_running => format!("warn{}", own("info")),
        0 => "warn".into(),
        1 => format!("warn{}", own("debug")),
        2 => format!("warn{}", own("trace")),
        3 => format!("debug{}", own("trace")),
        _ => "trace".into(),
    }
}

/// True when log lines may carry colour: stderr is a terminal and `NO_COLOR` is unset
/// or empty.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The log format chosen at start, for lines written to stderr without `tracing`.
static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// Writes a message that must reach stderr whatever the log filter (the final error of a
/// command, a refusal to start): `holdfast: error: MESSAGE` (`warning: ` for `WARN`,
/// nothing for lower levels) as text, or with `--log-format json` one JSON object with
/// `timestamp`, `level` (`ERROR`, `WARN`…), `target` and `message`, so that every
/// stderr line parses.
pub fn stderr_line(level: tracing::Level, message: &str) {
    let prefix = match level {
        tracing::Level::ERROR => "error: ",
        tracing::Level::WARN => "warning: ",
        _ => "",
    };
    stderr_note(level, message, prefix);
}

/// [`stderr_line`] with the text form `holdfast: PREFIX MESSAGE` given by the caller
/// (`""` for none), for notes whose wording is not `error:`/`warning:`.
pub fn stderr_note(level: tracing::Level, message: &str, prefix: &str) {
    stderr_event(
        level,
        &format!("holdfast: {prefix}{message}"),
        message,
        serde_json::Map::new(),
    );
}

/// The log format chosen at start (text before logging is set up).
pub fn log_format() -> LogFormat {
    FORMAT.get().copied().unwrap_or(LogFormat::Text)
}

/// Writes `text` (one or more lines, written as given) in text mode, or with
/// `--log-format json` ONE JSON object ([`holdfast_agent::console::json_line`]), so a
/// block of lines stays one event.
pub fn stderr_event(
    level: tracing::Level,
    text: &str,
    message: &str,
    fields: serde_json::Map<String, serde_json::Value>,
) {
    if log_format() == LogFormat::Json {
        eprintln!(
            "{}",
            holdfast_agent::console::json_line(level, message, fields)
        );
    } else if text.ends_with('\n') {
        eprint!("{text}");
    } else {
        eprintln!("{text}");
    }
}

/// Sets up `tracing` on stderr from `-v`/`-q` (or `RUST_LOG`) and `--log-format`;
/// `long_running` is true for `run` and `serve`. The request signer's debug output,
/// which shows credentials, is never enabled.
pub fn init_logging(g: &GlobalArgs, long_running: bool) {
    let _ = FORMAT.set(g.log_format);
    let level = directives(g.verbose, g.quiet, long_running);
    let from_env = tracing_subscriber::EnvFilter::try_from_default_env().ok();
    let shown = if from_env.is_some() {
        "RUST_LOG".to_string()
    } else {
        level.clone()
    };
    let mut filter = from_env.unwrap_or_else(|| tracing_subscriber::EnvFilter::new(level));
    // The request signer logs the credentials it loaded (secret included) at debug
    // level: it stays at info whatever -v or RUST_LOG ask for.
    for target in SECRET_LOGGING_TARGETS {
        if let Ok(d) = format!("{target}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match g.log_format {
        LogFormat::Text => builder.with_ansi(colour()).try_init(),
        LogFormat::Json => builder
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .try_init(),
    };
    tracing::debug!("log filter: {shown}");
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn levels_keep_libraries_quiet_until_vvv() {
        assert_eq!(directives(0, false, false), "warn");
        assert_eq!(
            directives(0, false, true),
            "warn,holdfast=info,holdfast_repo=info,holdfast_store=info,holdfast_volume=info"
        );
        assert!(directives(1, false, false).starts_with("warn,holdfast=debug,"));
        assert!(directives(2, false, true).starts_with("warn,holdfast=trace,"));
        assert!(directives(3, false, false).starts_with("debug,holdfast=trace,"));
        assert_eq!(directives(4, false, false), "trace");
        assert_eq!(directives(2, true, true), "error");
    }
}
