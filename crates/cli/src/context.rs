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
pub fn repo_url(g: &GlobalArgs) -> anyhow::Result<Option<String>> {
    if let Some(url) = &g.repo {
        return Ok(Some(url.clone()));
    }
    let config = holdfast_volume::config::Config::load_optional(&g.config)
        .with_context(|| format!("reading {}", g.config.display()))?;
    Ok(config.and_then(|c| c.repository_url().map(str::to_owned)))
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

/// Opens the repository named by the global flags.
pub async fn open_repo(g: &GlobalArgs) -> anyhow::Result<Repository> {
    let password = password(g)?;
    let store = open_store(g)?;
    let url = store.url().to_owned();
    holdfast_repo::open(
        store,
        &OpenOptions {
            password,
            cache: None,
        },
    )
    .await
    .with_context(|| format!("opening repository {url}"))
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
