//! Global flags shared by every command, and logging set-up.

use std::path::PathBuf;

use clap::Args;

/// Flags accepted before or after any command. `Debug` shows the repository URL
/// redacted.
#[derive(Args)]
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

/// Sets up `tracing` on stderr from `-v`/`-q` (or `RUST_LOG`); the request signer's
/// debug output, which shows credentials, is never enabled.
pub fn init_logging(g: &GlobalArgs) {
    let level = if g.quiet {
        "error"
    } else {
        match g.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // The request signer logs the credentials it loaded (secret included) at debug
    // level: it stays at info whatever -v or RUST_LOG ask for.
    for target in SECRET_LOGGING_TARGETS {
        if let Ok(d) = format!("{target}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
