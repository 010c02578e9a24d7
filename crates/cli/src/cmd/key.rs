//! `holdfast key list|add|remove|passwd`: the passwords of a repository (one key file
//! each). The protocol is [`holdfast_repo::keys`]; new passwords are read from
//! `--new-password-file` (else `HOLDFAST_NEW_PASSWORD`), never from the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use holdfast_repo::KdfParams;

use crate::context::{self, out, outln};
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast key`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub action: KeyAction,
}

/// What to do with the keys.
#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// List the key files: id, created, host, and which one the password opened.
    #[command(after_help = "Examples:\n  holdfast key list\n  holdfast key list --json")]
    List,
    /// Add a password.
    #[command(
        after_help = "Examples:\n  holdfast key add --new-password-file second.pw\n  HOLDFAST_NEW_PASSWORD=… holdfast key add"
    )]
    Add(NewPassword),
    /// Remove a key file (not the last one).
    #[command(after_help = "Examples:\n  holdfast key list\n  holdfast key remove 5b1e")]
    Remove {
        /// The key id (or a unique prefix).
        id: String,
    },
    /// Change the password that opened the repository (its key file is replaced).
    #[command(after_help = "Examples:\n  holdfast key passwd --new-password-file new.pw")]
    Passwd(NewPassword),
}

/// Where the new password comes from.
#[derive(Debug, Args)]
pub struct NewPassword {
    /// File whose first line is the new password (else HOLDFAST_NEW_PASSWORD).
    #[arg(long, value_name = "FILE")]
    pub new_password_file: Option<PathBuf>,
}

impl NewPassword {
    fn read(&self) -> anyhow::Result<String> {
        match &self.new_password_file {
            Some(f) => Ok(holdfast_agent::password::from_file(f)?),
            None => holdfast_agent::password::from_env("HOLDFAST_NEW_PASSWORD").context(
                "no new password: pass --new-password-file FILE or set HOLDFAST_NEW_PASSWORD",
            ),
        }
    }
}

/// Argon2id cost of new key files: the default, or `HOLDFAST_KDF=insecure-fast` for
/// tests (never for real repositories).
fn kdf() -> KdfParams {
    match std::env::var("HOLDFAST_KDF").as_deref() {
        Ok("insecure-fast") => KdfParams::insecure_fast(),
        _ => KdfParams::default(),
    }
}

/// Runs `holdfast key …`.
pub async fn run(g: &GlobalArgs, args: KeyArgs) -> Result<ExitCode, Failure> {
    let repo = context::open_repo(g).await?;
    match args.action {
        KeyAction::List => {
            let keys = holdfast_repo::keys::list_keys(&repo)
                .await
                .map_err(context::fail)?;
            if g.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&keys).context("encoding keys")?
                );
                return Ok(ExitCode::SUCCESS);
            }
            out!("{}", holdfast_repo::keys::text::list(&keys));
        }
        KeyAction::Add(p) => {
            let pw = p.read()?;
            let id = holdfast_repo::keys::add_key(&repo, &pw, kdf())
                .await
                .map_err(context::fail)?;
            if g.json {
                outln!("{}", serde_json::json!({ "added": id }));
            } else if !g.quiet {
                outln!("added key {}", &id[..8]);
            }
        }
        KeyAction::Remove { id } => {
            let removed = holdfast_repo::keys::remove_key(&repo, &id)
                .await
                .map_err(context::fail)?;
            if g.json {
                outln!("{}", serde_json::json!({ "removed": removed }));
            } else if !g.quiet {
                outln!("removed key {}", &removed[..8]);
            }
        }
        KeyAction::Passwd(p) => {
            let pw = p.read()?;
            let (old, new) = holdfast_repo::keys::change_password(&repo, &pw, kdf())
                .await
                .map_err(context::fail)?;
            if g.json {
                outln!("{}", serde_json::json!({ "removed": old, "added": new }));
            } else if !g.quiet {
                outln!(
                    "password changed: key {} replaced by {}",
                    &old[..8],
                    &new[..8]
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
