//! `completions`, `man` and `version`: shell completion scripts and a roff man page
//! generated from the clap definitions (clap_complete, clap_mangen), and the version with
//! the target it was built for. None of them needs a repository or a config.
//!
//! The man page holdfast.1 adds ENVIRONMENT, EXIT STATUS and SEE ALSO to clap's sections;
//! `man --dir DIR` writes it with one page per command (holdfast-backup.1,
//! holdfast-key-add.1, …), the pages its COMMANDS section names.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory, ValueEnum};

use crate::exit::Failure;

/// Shells `completions` writes a script for.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Shell {
    /// Bash (source it, or put it in bash-completion's completions directory).
    Bash,
    /// Zsh (put it as `_holdfast` in a directory of `$fpath`).
    Zsh,
    /// Fish (put it in `~/.config/fish/completions/holdfast.fish`).
    Fish,
}

/// Flags of `holdfast completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Flags of `holdfast man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write holdfast.1 and one page per command (holdfast-backup.1, …) into DIR instead
    /// of printing holdfast.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The target triple this binary was built for (set by the build script).
pub const TARGET: &str = env!("HOLDFAST_TARGET");

/// Prints the completion script of `shell` on stdout.
pub fn completions<C: CommandFactory>(args: &CompletionsArgs) -> Result<ExitCode, Failure> {
    let mut cmd = C::command();
    let mut out = Vec::new();
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, "holdfast", &mut out);
    write_stdout(&out)
}

/// Prints the man page (roff, section 1) of the whole command on stdout, or with `--dir`
/// writes it and a page per command into that directory.
pub fn man<C: CommandFactory>(args: &ManArgs) -> Result<ExitCode, Failure> {
    let cmd = C::command().disable_help_subcommand(true);
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .map_err(anyhow::Error::from)?;
    let page = with_sections(&title_first(&out));
    let Some(dir) = &args.dir else {
        return write_stdout(&page);
    };
    let context = || format!("writing the man pages to {}", dir.display());
    std::fs::create_dir_all(dir).with_context(context)?;
    clap_mangen::generate_to(cmd, dir).with_context(context)?;
    std::fs::write(dir.join("holdfast.1"), page).with_context(context)?;
    Ok(ExitCode::SUCCESS)
}

/// The sections holdfast.1 adds to clap's: the environment it reads, its exit codes, and
/// where the page of each command is.
const SECTIONS: &str = r#".SH ENVIRONMENT
.TP
\fBHOLDFAST_REPOSITORY\fR
The repository URL (as \fB\-\-repo\fR): file:///…, s3://bucket/prefix, azblob://container/prefix.
.TP
\fBHOLDFAST_PASSWORD\fR, \fBHOLDFAST_PASSWORD_FILE\fR, \fBHOLDFAST_PASSWORD_COMMAND\fR
The repository password, a file whose first line is it, or a command that prints it.
.TP
\fBHOLDFAST_CONFIG\fR
The config file (default holdfast.toml).
.TP
\fBHOLDFAST_NEW_PASSWORD\fR
The new password of \fBkey add\fR and \fBkey passwd\fR.
.TP
\fBHOLDFAST_LISTEN\fR, \fBHOLDFAST_API_TOKEN\fR
The HTTP address of \fBserve\fR and \fBrun\fR, and the token of its API.
.TP
\fBHOLDFAST_CACHE_DIR\fR
Where the repository cache lives.
.TP
\fBHOLDFAST_STORE_RETRY_FOR\fR, \fBHOLDFAST_STORE_TIMEOUT\fR
How long an unavailable store is retried, and the timeout of one request.
.TP
\fBHOLDFAST_LOG_FORMAT\fR, \fBRUST_LOG\fR, \fBNO_COLOR\fR
Log lines as text or json, the log filter, and no colour.
.TP
\fBAWS_ACCESS_KEY_ID\fR, \fBAWS_SECRET_ACCESS_KEY\fR, \fBAWS_SESSION_TOKEN\fR, \fBAWS_REGION\fR, \fBAWS_ENDPOINT_URL\fR
Credentials and endpoint of an s3:// repository.
.TP
\fBAZURE_STORAGE_ACCOUNT\fR, \fBAZURE_STORAGE_KEY\fR, \fBAZURE_STORAGE_SAS_TOKEN\fR, \fBAZURE_STORAGE_CONNECTION_STRING\fR
Credentials of an azblob:// repository.
.TP
\fBSTORAGE_TYPE\fR
Without a repository URL: the store from the platform's environment (docs/CONFIG.md).
.SH "EXIT STATUS"
.TP
0
Success.
.TP
1
An error (the last line on standard error says which).
.TP
2
Bad usage: an unknown flag, a bad argument or an invalid config file.
.TP
3
A check found problems: \fBstatus\fR, \fBverify\fR, \fBlint\fR, or an incomplete backup.
.TP
130, 143
Stopped by SIGINT or SIGTERM; a stopped \fBbackup\fR committed nothing.
.SH "SEE ALSO"
Each command has its own page (holdfast\-backup(1), …): \fBholdfast man \-\-dir DIR\fR writes them.
\fBholdfast COMMAND \-\-help\fR shows the same text with examples.
"#;

/// `page` with [`SECTIONS`] before its VERSION section (or at its end).
fn with_sections(page: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(page);
    let text = match text.find("\n.SH VERSION") {
        Some(at) => format!("{}\n{}{}", &text[..at], SECTIONS, &text[at + 1..]),
        None => format!("{text}{SECTIONS}"),
    };
    text.into_bytes()
}

/// Moves the `.TH` line ahead of clap_mangen's quote-string preamble, so the page opens
/// with its title as man pages conventionally do (the preamble only defines `\*(Aq`).
fn title_first(page: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(page);
    let Some(th) = text.lines().find(|l| l.starts_with(".TH ")) else {
        return page.to_vec();
    };
    let mut out = format!("{th}\n");
    for line in text.lines().filter(|l| *l != th) {
        out.push_str(line);
        out.push('\n');
    }
    out.into_bytes()
}

/// Prints `holdfast VERSION (TARGET)`, or with `json` one object.
pub fn version(json: bool) -> Result<ExitCode, Failure> {
    let version = env!("CARGO_PKG_VERSION");
    let text = if json {
        serde_json::json!({"version": version, "target": TARGET}).to_string()
    } else {
        format!("holdfast {version} ({TARGET})")
    };
    write_stdout(format!("{text}\n").as_bytes())
}

fn write_stdout(bytes: &[u8]) -> Result<ExitCode, Failure> {
    std::io::stdout()
        .lock()
        .write_all(bytes)
        .map_err(anyhow::Error::from)?;
    Ok(ExitCode::SUCCESS)
}
