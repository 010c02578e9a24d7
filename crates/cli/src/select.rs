//! Resolving a snapshot selector a person typed (`restore`, `ls`, `diff`, `export`):
//! [`holdfast_volume::select`] with the project of `--config`, its notes on stderr.

use holdfast_repo::{Id, Repository, Snapshot};
use holdfast_volume::select::{self, Project};

use crate::context;
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Finds the snapshot `spec` names ([`holdfast_volume::select::find`]). `volume` is the
/// volume the command targets, when it knows one.
pub async fn find(
    g: &GlobalArgs,
    repo: &Repository,
    spec: &str,
    volume: Option<&str>,
) -> Result<(Id, Snapshot), Failure> {
    let config = holdfast_volume::config::Config::load_optional(&g.config)
        .ok()
        .flatten();
    let project = config.as_ref().map(|config| Project {
        config,
        file: &g.config,
    });
    let found = select::find(repo, spec, volume, project)
        .await
        .map_err(context::fail)?;
    for note in &found.notes {
        crate::global::stderr_note(tracing::Level::WARN, note, "");
    }
    Ok((found.id, found.snapshot))
}
