//! Where passwords come from: a file's first line, the first line a command prints
//! (`--password-command`, run through `sh -c` with no arguments of ours, so the password
//! never appears on a command line), or an environment variable. The password itself
//! never reaches a message; the command is not shown either (it may embed a token).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// A new repository's password shorter than this (in characters) gets a warning.
pub const MIN_LENGTH: usize = 12;

/// The warning for a new repository's password shorter than [`MIN_LENGTH`], else
/// `None`.
pub fn weak_warning(password: &str) -> Option<String> {
    let length = password.chars().count();
    (length < MIN_LENGTH).then(|| {
        format!(
            "the password has {}: use {MIN_LENGTH} or more (e.g. `openssl rand -base64 24`), \
             it is all that keeps a copy of the repository unreadable",
            crate::text::count(length, "character")
        )
    })
}

/// The first line of `path`; an empty first line is an error.
pub fn from_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::PasswordFile {
        path: path.to_path_buf(),
        source,
    })?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(Error::PasswordFileEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(line.to_owned())
}

/// The first line `sh -c CMD` prints on stdout; fails when it exits non-zero or prints
/// nothing. Its stderr goes to ours.
pub fn from_command(cmd: &str) -> Result<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| command_error("running the password command", Some(e.into())))?;
    if !out.status.success() {
        let what = format!("the password command failed ({})", out.status);
        return Err(command_error(&what, None));
    }
    let text = String::from_utf8(out.stdout)
        .map_err(|e| command_error("the password command printed non-UTF-8", Some(e.into())))?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(command_error(
            "the password command printed no password",
            None,
        ));
    }
    Ok(line.to_owned())
}

fn command_error(what: &str, source: Option<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::PasswordCommand {
        what: what.to_owned(),
        source,
    }
}

/// A non-empty environment variable.
pub fn from_env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_gives_its_first_line() {
        assert_eq!(
            from_command("printf 'sekrit\\nsecond\\n'").ok().as_deref(),
            Some("sekrit")
        );
        assert!(from_command("exit 3").is_err());
        assert!(from_command("true").is_err());
    }
}
