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
/// where the page of each command is (`man/sections.roff`, roff as written).
const SECTIONS: &str = include_str!("../../man/sections.roff");

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
