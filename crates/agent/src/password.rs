//! Where passwords come from: a file's first line, the first line a command prints
//! (`--password-command`, run through `sh -c` with no arguments of ours, so the password
//! never appears on a command line), or an environment variable. The password itself
//! never reaches a message; the command is not shown either (it may embed a token).

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// The first line of `path`; an empty first line is an error.
pub fn from_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading password file {}", path.display()))?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        bail!("password file {} is empty", path.display());
    }
    Ok(line.to_owned())
}

/// The first line `sh -c CMD` prints on stdout; fails when it exits non-zero or prints
/// nothing. Its stderr goes to ours.
pub fn from_command(cmd: &str) -> anyhow::Result<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running the password command")?;
    if !out.status.success() {
        bail!("the password command failed ({})", out.status);
    }
    let text = String::from_utf8(out.stdout).context("the password command printed non-UTF-8")?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        bail!("the password command printed no password");
    }
    Ok(line.to_owned())
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
