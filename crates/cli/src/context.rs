//! Opening the repository from the global flags: which URL ([`repo_url`]), which
//! password ([`password`]), and the opened store and repository. A repository URL is
//! only ever shown redacted ([`holdfast_store::redact_url`]): credentials written into
//! it never reach a message or a log line.

use anyhow::{Context, bail};
use holdfast_agent::access::{self, PasswordSource, RepoAccess};
use holdfast_repo::Repository;
use holdfast_store::Store;

use crate::global::GlobalArgs;

/// The repository URL: `--repo` / `HOLDFAST_REPOSITORY`, else `[repository] url` of the
/// config file ([`holdfast_agent::access::repo_url`]); `None` when neither is given.
pub fn repo_url(g: &GlobalArgs) -> anyhow::Result<Option<String>> {
    Ok(access::repo_url(g.repo.as_deref(), &g.config)?)
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
    Ok(access::open_store(repo_url(g)?.as_deref())?)
}

/// Where the global flags say the password comes from
/// ([`PasswordSource::from_flags`]).
pub fn password_source(g: &GlobalArgs) -> PasswordSource {
    PasswordSource::from_flags(g.password_file.as_deref(), g.password_command.as_deref())
}

/// The password ([`password_source`]).
pub fn password(g: &GlobalArgs) -> anyhow::Result<String> {
    Ok(password_source(g).read()?)
}

/// Where [`password`] took the password from, for a message.
pub fn password_shown(g: &GlobalArgs) -> String {
    password_source(g).shown_as_flag()
}

/// The repository and password the global flags name, for the agent: either may be
/// absent, and only the operations that need the repository fail then (a password
/// file that cannot be read fails at once).
pub fn access(g: &GlobalArgs) -> anyhow::Result<RepoAccess> {
    let password = if g.password_file.is_some() {
        Some(password(g)?)
    } else {
        password(g).ok()
    };
    Ok(RepoAccess {
        url: repo_url(g)?,
        password,
        source: password_shown(g),
        keys: Default::default(),
    })
}

/// Opens the repository named by the global flags.
pub async fn open_repo(g: &GlobalArgs) -> anyhow::Result<Repository> {
    let password = password(g)?;
    let url = repo_url(g)?;
    let store = access::open_store(url.as_deref())?;
    // The URL as given (redacted): a store's own URL leaves out the S3 endpoint.
    let shown = url
        .map(|u| holdfast_store::redact_url(&u))
        .unwrap_or_else(|| store.url().to_owned());
    Ok(access::open(store, password, &shown, &password_shown(g), None).await?)
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

/// `print!` of text that ends its own lines (a renderer's output), returning the write
/// error like [`outln!`].
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($t)*).map_err(anyhow::Error::from)?
    }};
}
pub(crate) use out;
