//! `holdfast init`: creates a repository.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_repo::{InitOptions, KdfParams};

use crate::context::{self, outln};
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast init`.
#[derive(Debug, Args)]
pub struct InitArgs {}

/// Runs `holdfast init`.
pub async fn run(g: &GlobalArgs, _args: InitArgs) -> Result<ExitCode, Failure> {
    let password = context::password(g)?;
    if let Some(warning) = holdfast_agent::password::weak_warning(&password) {
        crate::global::stderr_line(tracing::Level::WARN, &warning);
    }
    let store = context::open_store(g)?;
    let url = store.url().to_owned();
    let repo = holdfast_repo::init(
        store,
        &InitOptions {
            password,
            kdf: KdfParams::default(),
        },
    )
    .await
    .with_context(|| format!("creating repository {url}"))?;
    let id = repo.config().id.clone();
    if g.json {
        outln!("{}", serde_json::json!({ "id": id, "url": url }));
    } else if !g.quiet {
        outln!("created repository {} at {url}", &id[..8]);
        outln!(
            "keep the password in a password manager or your platform's secrets, apart from \
             the repository: without it nobody can read these backups"
        );
    }
    Ok(ExitCode::SUCCESS)
}
