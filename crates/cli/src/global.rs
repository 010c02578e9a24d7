//! Global flags shared by every command, and logging set-up.

use std::path::PathBuf;

use clap::Args;

/// Flags accepted before or after any command.
#[derive(Debug, Args)]
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

/// Sets up `tracing` on stderr from `-v`/`-q` (or `RUST_LOG`).
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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
