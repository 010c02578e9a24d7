//! Opening the repository from the global flags: which URL ([`repo_url`]), which
//! password ([`password`]), and the opened store and repository. A repository URL is
//! only ever shown redacted ([`holdfast_store::redact_url`]): credentials written into
//! it never reach a message or a log line.

use anyhow::{Context, bail};
use holdfast_repo::{OpenOptions, Repository};
use holdfast_store::Store;

use crate::global::GlobalArgs;

/// The repository URL: `--repo` / `HOLDFAST_REPOSITORY`, else `[repository] url` of the
/// config file; `None` when neither is given.
/// A plain relative path (`backups`, `./backups`) is a local repository: relative to the
/// current directory for `--repo` / `HOLDFAST_REPOSITORY`, to the config file's directory
/// for `[repository] url`.
pub fn repo_url(g: &GlobalArgs) -> anyhow::Result<Option<String>> {
    if let Some(url) = &g.repo {
        let cwd = std::env::current_dir().context("the current directory")?;
        return Ok(Some(local_path_url(url, &cwd)));
    }
    let config = holdfast_volume::config::Config::load_optional(&g.config)
        .with_context(|| format!("reading {}", g.config.display()))?;
    let base = std::path::absolute(&g.config)
        .ok()
        .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
        .unwrap_or_default();
    Ok(config.and_then(|c| c.repository_url().map(|u| local_path_url(u, &base))))
}

/// `raw` made absolute against `base` when it is a relative path (no `scheme://`, no
/// leading `/`); any other value as given.
fn local_path_url(raw: &str, base: &std::path::Path) -> String {
    let is_relative_path = !raw.is_empty()
        && !raw.contains("://")
        && !raw.starts_with('/')
        && !raw.starts_with("memory:");
    if is_relative_path {
        let joined = base.join(raw);
        let clean: std::path::PathBuf = joined
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        clean.to_string_lossy().into_owned()
    } else {
        raw.to_string()
    }
}

/// Loads holdfast.toml (`--config`), which must exist: a missing file is one line that
/// says how to write one, not an `os error 2`.
pub fn load_config(g: &GlobalArgs) -> anyhow::Result<holdfast_volume::config::Config> {
    match holdfast_volume::config::Config::load_optional(&g.config)? {
        Some(config) => Ok(config),
        None => bail!(
            "no config file {}: write one (`holdfast import railway.toml > holdfast.toml`, \
             or see docs/CONFIG.md) or pass --config FILE",
            g.config.display()
        ),
    }
}

/// The store of the repository: [`repo_url`], else the `STORAGE_TYPE` environment.
pub fn open_store(g: &GlobalArgs) -> anyhow::Result<Store> {
    if let Some(url) = repo_url(g)? {
        return Store::open(&url)
            .with_context(|| format!("repository URL {}", holdfast_store::redact_url(&url)));
    }
    match Store::from_env().context("STORAGE_TYPE environment")? {
        Some(store) => Ok(store),
        None => bail!(
            "no repository given: pass --repo URL, set HOLDFAST_REPOSITORY, or set \
             [repository] url in {}",
            g.config.display()
        ),
    }
}

/// The password: the first line of `--password-file`, else of what
/// `--password-command` prints, else `HOLDFAST_PASSWORD`.
pub fn password(g: &GlobalArgs) -> anyhow::Result<String> {
    if let Some(path) = &g.password_file {
        return crate::password::from_file(path);
    }
    if let Some(cmd) = &g.password_command {
        return crate::password::from_command(cmd);
    }
    match crate::password::from_env("HOLDFAST_PASSWORD") {
        Some(p) => Ok(p),
        None => bail!(
            "no repository password: set HOLDFAST_PASSWORD, or pass --password-file FILE or \
             --password-command CMD"
        ),
    }
}

/// Where [`password`] took the password from, for a message: `HOLDFAST_PASSWORD`,
/// `--password-file FILE`, `HOLDFAST_PASSWORD_FILE (FILE)`, `--password-command` or
/// `HOLDFAST_PASSWORD_COMMAND` (never the password, nor the command: it may embed a
/// token).
pub fn password_source(g: &GlobalArgs) -> String {
    let from_env = |var: &str, value: &std::ffi::OsStr| {
        std::env::var_os(var).is_some_and(|v| v.as_os_str() == value)
    };
    if let Some(path) = &g.password_file {
        return if from_env("HOLDFAST_PASSWORD_FILE", path.as_os_str()) {
            format!("HOLDFAST_PASSWORD_FILE ({})", path.display())
        } else {
            format!("--password-file {}", path.display())
        };
    }
    if let Some(cmd) = &g.password_command {
        return if from_env("HOLDFAST_PASSWORD_COMMAND", std::ffi::OsStr::new(cmd)) {
            "HOLDFAST_PASSWORD_COMMAND".to_owned()
        } else {
            "--password-command".to_owned()
        };
    }
    "HOLDFAST_PASSWORD".to_owned()
}

/// Opens the repository named by the global flags.
pub async fn open_repo(g: &GlobalArgs) -> anyhow::Result<Repository> {
    let password = password(g)?;
    let store = open_store(g)?;
    // The URL as given (redacted): a store's own URL leaves out the S3 endpoint.
    let url = repo_url(g)?
        .map(|u| holdfast_store::redact_url(&u))
        .unwrap_or_else(|| store.url().to_owned());
    match holdfast_repo::open(
        store,
        &OpenOptions {
            password,
            cache: None,
        },
    )
    .await
    {
        Ok(repo) => Ok(repo),
        Err(holdfast_repo::Error::WrongPassword { .. }) => bail!(
            "wrong password for repository {url}: the password from {} does not open it (if \
             it is right, the repository's `config` object may be damaged: `holdfast verify`)",
            password_source(g)
        ),
        Err(holdfast_repo::Error::NotInitialized { .. }) => bail!(
            "no repository at {url}: check the URL, or run `holdfast init` to create one there"
        ),
        // An error that names the repository already (wrong password, not initialised)
        // needs no "opening repository URL" in front of it.
        Err(e) if e.to_string().contains(&url) => Err(e.into()),
        Err(e) => Err(anyhow::Error::from(e).context(format!("opening repository {url}"))),
    }
}

/// Opens the repository named by the global flags and loads its index.
pub async fn open_indexed(g: &GlobalArgs) -> anyhow::Result<holdfast_repo::IndexedRepository> {
    open_repo(g)
        .await?
        .load_index()
        .await
        .context("loading the index")
}

/// Maps a repository error to a failure: a bad argument (snapshot spec, glob) is a usage
/// error (exit 2), anything else (internal faults, the store, damage) an error (exit 1).
pub fn fail(e: holdfast_repo::Error) -> crate::exit::Failure {
    if e.is_input() {
        crate::exit::Failure::usage(e)
    } else {
        crate::exit::Failure::from(anyhow::Error::from(e))
    }
}

/// `println!` that returns the write error (a closed pipe ends the command quietly)
/// instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($t)*).map_err(anyhow::Error::from)?
    }};
}
pub(crate) use outln;

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
