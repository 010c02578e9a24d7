//! The one way to open a repository, for every command and for the agent:
//!
//! - **where**: [`repo_url`] — `--repo` / `HOLDFAST_REPOSITORY`, else `[repository] url`
//!   of holdfast.toml (a plain relative path is a local repository, relative to the
//!   current directory or to the config file's directory); without either, the seed
//!   convention `STORAGE_TYPE` ([`open_store`]: `LOCAL` with `FILE_UPLOAD_DEST`, `S3`
//!   with `AWS_S3_BUCKET`, `AZURE_BLOB` with `AZURE_CONTAINER_NAME`);
//! - **with which password**: [`PasswordSource`] — a file's first line, what a command
//!   prints, or an environment variable ([`crate::password`]); replicas name their own
//!   (`password_file` / `password_env`);
//! - **opened once**: [`RepoAccess`] keeps the unlocked master key, so the agent's later
//!   opens skip Argon2id.
//!
//! A repository URL is only ever shown redacted ([`holdfast_store::redact_url`]):
//! credentials written into it never reach a message or a log line; neither does a
//! password or a password command.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use holdfast_repo::{KeyCache, OpenOptions, Repository};
use holdfast_store::Store;
use holdfast_volume::config::Config;

use crate::error::{Context as _, Error, Result};

/// Why a repository cannot be opened without a password, and how to give one.
pub const NO_PASSWORD: &str = "no repository password: set HOLDFAST_PASSWORD, or pass --password-file FILE or --password-command CMD";

/// The repository URL: `flag` (`--repo` / `HOLDFAST_REPOSITORY`), else `[repository]
/// url` of the config file at `config_path`; `None` when neither is given (then
/// [`open_store`] falls back to `STORAGE_TYPE`).
pub fn repo_url(flag: Option<&str>, config_path: &Path) -> Result<Option<String>> {
    if let Some(url) = flag {
        let cwd = std::env::current_dir().context("the current directory")?;
        return Ok(Some(local_path_url(url, &cwd)));
    }
    let config = Config::load_optional(config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let base = std::path::absolute(config_path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    Ok(config.and_then(|c| c.repository_url().map(|u| local_path_url(u, &base))))
}

/// `raw` made absolute against `base` when it is a relative path (no `scheme://`, no
/// leading `/`); any other value as given.
pub fn local_path_url(raw: &str, base: &Path) -> String {
    let is_relative_path = !raw.is_empty()
        && !raw.contains("://")
        && !raw.starts_with('/')
        && !raw.starts_with("memory:");
    if is_relative_path {
        let joined = base.join(raw);
        let clean: PathBuf = joined
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        clean.to_string_lossy().into_owned()
    } else {
        raw.to_string()
    }
}

/// The store at `url`, else the one `STORAGE_TYPE` names; an error that says what to
/// set when there is neither.
pub fn open_store(url: Option<&str>) -> Result<Store> {
    if let Some(url) = url {
        return Store::open(url)
            .with_context(|| format!("repository URL {}", holdfast_store::redact_url(url)));
    }
    match Store::from_env().context("STORAGE_TYPE environment")? {
        Some(store) => Ok(store),
        None => Err(Error::NoRepository),
    }
}

/// Where a password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// The first line of a file (`--password-file`, `HOLDFAST_PASSWORD_FILE`, a
    /// replica's `password_file`).
    File(PathBuf),
    /// The first line a command prints (`--password-command`).
    Command(String),
    /// An environment variable (`HOLDFAST_PASSWORD`, a replica's `password_env`).
    Env(String),
}

impl PasswordSource {
    /// The source a front end's password options name: `--password-file` (or
    /// `HOLDFAST_PASSWORD_FILE`), else `--password-command` (or
    /// `HOLDFAST_PASSWORD_COMMAND`), else `HOLDFAST_PASSWORD`.
    pub fn from_flags(file: Option<&Path>, command: Option<&str>) -> Self {
        match (file, command) {
            (Some(path), _) => PasswordSource::File(path.to_path_buf()),
            (None, Some(cmd)) => PasswordSource::Command(cmd.to_owned()),
            (None, None) => PasswordSource::Env("HOLDFAST_PASSWORD".to_owned()),
        }
    }

    /// Where a source from [`PasswordSource::from_flags`] came from, for a message:
    /// `HOLDFAST_PASSWORD`, `--password-file FILE`, `HOLDFAST_PASSWORD_FILE (FILE)`,
    /// `--password-command` or `HOLDFAST_PASSWORD_COMMAND` (never the password, nor the
    /// command: it may embed a token).
    pub fn shown_as_flag(&self) -> String {
        let from_env = |var: &str, value: &std::ffi::OsStr| {
            std::env::var_os(var).is_some_and(|v| v.as_os_str() == value)
        };
        match self {
            PasswordSource::File(path) if from_env("HOLDFAST_PASSWORD_FILE", path.as_os_str()) => {
                format!("HOLDFAST_PASSWORD_FILE ({})", path.display())
            }
            PasswordSource::File(path) => format!("--password-file {}", path.display()),
            PasswordSource::Command(cmd)
                if from_env("HOLDFAST_PASSWORD_COMMAND", std::ffi::OsStr::new(cmd)) =>
            {
                "HOLDFAST_PASSWORD_COMMAND".to_owned()
            }
            PasswordSource::Command(_) => "--password-command".to_owned(),
            PasswordSource::Env(var) => var.clone(),
        }
    }

    /// Where the password comes from, for a message: the file, the variable, or
    /// "the password command" (never the command: it may embed a token).
    pub fn describe(&self) -> String {
        match self {
            PasswordSource::File(path) => format!("password file {}", path.display()),
            PasswordSource::Command(_) => "the password command".to_owned(),
            PasswordSource::Env(var) => var.clone(),
        }
    }

    /// The password.
    pub fn read(&self) -> Result<String> {
        match self {
            PasswordSource::File(path) => crate::password::from_file(path),
            PasswordSource::Command(cmd) => crate::password::from_command(cmd),
            PasswordSource::Env(var) => match crate::password::from_env(var) {
                Some(p) => Ok(p),
                None if var == "HOLDFAST_PASSWORD" => Err(Error::NoPassword),
                None => Err(Error::PasswordEnvUnset { var: var.clone() }),
            },
        }
    }
}

/// Opens the repository in `store` with `password`; `shown` is its redacted URL and
/// `source` where the password came from, for the two errors a person fixes (a wrong
/// password, no repository there). `keys` keeps the unlocked master key.
pub async fn open(
    store: Store,
    password: String,
    shown: &str,
    source: &str,
    keys: Option<&KeyCache>,
) -> Result<Repository> {
    let opts = OpenOptions {
        password,
        cache: None,
    };
    let opened = match keys {
        Some(keys) => holdfast_repo::open_cached(store, &opts, keys).await,
        None => holdfast_repo::open(store, &opts).await,
    };
    match opened {
        Ok(repo) => Ok(repo),
        Err(holdfast_repo::Error::WrongPassword { .. }) => Err(Error::WrongPassword {
            repo: shown.to_owned(),
            from: source.to_owned(),
        }),
        Err(holdfast_repo::Error::NotInitialized { .. }) => Err(Error::NotInitialized {
            repo: shown.to_owned(),
        }),
        // An error that names the repository already needs no "opening repository URL"
        // in front of it.
        Err(e) if e.to_string().contains(shown) => Err(e.into()),
        Err(e) => Err(Error::from(e).context(format!("opening repository {shown}"))),
    }
}

/// Opens the repository at `url` (a replica, the other side of `copy`) with the
/// password from `source` (named in the wrong-password message).
pub async fn open_url(url: &str, password: String, source: &str) -> Result<Repository> {
    let store = open_store(Some(url))?;
    let shown = holdfast_store::redact_url(url);
    open(store, password, &shown, source, None).await
}

/// Where the repository is and how to unlock it: what the agent opens for each
/// operation.
#[derive(Clone, Default)]
pub struct RepoAccess {
    /// Repository URL; `None`: the one `STORAGE_TYPE` names, if any.
    pub url: Option<String>,
    /// The password, when one is given.
    pub password: Option<String>,
    /// Where the password came from, for the wrong-password message.
    pub source: String,
    /// The master key once unlocked: every later open of this process skips Argon2id.
    pub keys: Arc<KeyCache>,
}

impl std::fmt::Debug for RepoAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoAccess")
            .field("url", &self.shown())
            .finish_non_exhaustive()
    }
}

impl RepoAccess {
    /// The repository's URL as it may be shown: redacted, or what `STORAGE_TYPE` names.
    pub fn shown(&self) -> Option<String> {
        match &self.url {
            Some(u) => Some(holdfast_store::redact_url(u)),
            None => holdfast_store::Location::from_env()
                .ok()
                .flatten()
                .map(|l| l.display_url()),
        }
    }

    /// Whether a repository is named at all: a URL, or `STORAGE_TYPE`.
    pub fn is_configured(&self) -> bool {
        self.shown().is_some()
    }

    /// Opens the repository.
    pub async fn open(&self) -> Result<Repository> {
        let store = open_store(self.url.as_deref())?;
        let Some(password) = &self.password else {
            return Err(Error::NoPassword);
        };
        let shown = self.shown().unwrap_or_else(|| store.url().to_owned());
        open(
            store,
            password.clone(),
            &shown,
            &self.source,
            Some(&self.keys),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::local_path_url;
    use std::path::Path;

    #[test]
    fn a_relative_repository_path_is_a_local_repository_under_the_base() {
        let base = Path::new("/srv/app");
        assert_eq!(local_path_url("backups", base), "/srv/app/backups");
        assert_eq!(local_path_url("./backups/r", base), "/srv/app/backups/r");
        assert_eq!(local_path_url("/abs/r", base), "/abs/r");
        for url in [
            "file:///r",
            "s3://b/p?region=x",
            "memory://",
            "azblob://c/p",
        ] {
            assert_eq!(local_path_url(url, base), url);
        }
    }
}
