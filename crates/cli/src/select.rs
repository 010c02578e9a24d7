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

/// The warning `backup` prints for a snapshot it committed flagged shrunk.
pub fn shrunk_warning(id: Id, s: &Snapshot) -> Option<String> {
    let shrunk = s.shrunk.as_ref()?;
    Some(format!(
        "WARNING: snapshot {} of {} is flagged shrunk: {} files, {} where snapshot {} had {} \
         files, {}. Is the volume mounted? The snapshot is kept; automatic restores take \
         snapshot {} instead and `forget` keeps that one. If the files are really gone, \
         accept it with `holdfast tag {} --remove shrunk`",
        id.short(),
        s.group(),
        shrunk.files_after,
        indicatif::HumanBytes(shrunk.size_after),
        shrunk.reference.short(),
        shrunk.files_before,
        indicatif::HumanBytes(shrunk.size_before),
        shrunk.reference.short(),
        id.short()
    ))
}
