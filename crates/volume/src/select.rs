//! Resolving a snapshot selector a person typed (`restore`, `ls`, `diff`, `export`)
//! inside a project: the repository crate's [`holdfast_repo::snapshot::select`] plus
//! what only the project knows.
//!
//! - `latest` is never ambiguous in silence: in a repository holding snapshots of more
//!   than one volume or path, a selector naming none is refused
//!   ([`holdfast_repo::Error::AmbiguousLatest`], with the choices `latest:app-data`,
//!   `latest:/srv/x`) — unless the command targets a volume (`restore --database` the
//!   volume holding that database) or holdfast.toml configures exactly one volume: then
//!   that volume is pinned (`latest~1` → `latest:app-data~1`) and a note says so.
//! - `latest…` that lands on a snapshot flagged shrunk resolves as written (the newest),
//!   with a loud note naming the newest unflagged snapshot of the same volume or path
//!   and the two ways on (name that one, or accept the deletion with `holdfast tag ID
//!   --remove shrunk`). docs/RETENTION.md, "Shrunk snapshots", states the rule.

use std::path::Path;

use holdfast_repo::snapshot::Selector;
use holdfast_repo::{Error, Id, Repository, Snapshot};

use crate::config::Config;

/// The snapshot a selector named, and what the person should be told about it.
#[derive(Debug)]
pub struct Selected {
    /// Its id.
    pub id: Id,
    /// The snapshot.
    pub snapshot: Snapshot,
    /// Warnings to show (a pinned `latest`, a shrunk snapshot), one line each.
    pub notes: Vec<String>,
}

/// The project a selector is typed in: its configuration and the file it came from.
#[derive(Debug, Clone, Copy)]
pub struct Project<'a> {
    /// holdfast.toml, loaded.
    pub config: &'a Config,
    /// Where it was read from (named in the note).
    pub file: &'a Path,
}

/// Finds the snapshot `spec` names (see the module docs). `volume` is the volume the
/// command targets, when it knows one; `project` the configuration, when there is one.
pub async fn find(
    repo: &Repository,
    spec: &str,
    volume: Option<&str>,
    project: Option<Project<'_>>,
) -> Result<Selected, Error> {
    let mut notes = Vec::new();
    let found = match repo.find_snapshot_noting(spec).await {
        Err(Error::AmbiguousLatest { spec, choices }) => {
            let Some((pinned, why)) = pin(&spec, volume, project, &choices) else {
                return Err(Error::AmbiguousLatest { spec, choices });
            };
            notes.push(format!(
                "`{spec}` is ambiguous here (the repository holds snapshots of {} volumes or \
                 paths: {}); using `{pinned}`, {why}",
                choices.len(),
                choices.join(", ")
            ));
            repo.find_snapshot_noting(&pinned).await?
        }
        other => other?,
    };
    let latest = Selector::parse(spec).is_ok_and(|s| s.is_latest());
    if latest && let Some(shrunk) = &found.snapshot.shrunk {
        let instead = match &found.intact {
            Some((id, s)) => format!(
                "the newest unflagged snapshot of {} is {} ({}): name it instead of `{spec}`, \
                 or",
                s.group(),
                id.short(),
                s.time.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None => format!(
                "no unflagged snapshot of {} exists; if the files are really gone,",
                found.snapshot.group()
            ),
        };
        notes.push(format!(
            "WARNING: `{spec}` is snapshot {}, which is flagged shrunk ({shrunk}); {instead} \
             accept the deletion with `holdfast tag {} --remove shrunk`",
            found.id.short(),
            found.id.short()
        ));
    }
    Ok(Selected {
        id: found.id,
        snapshot: found.snapshot,
        notes,
    })
}

/// The selector `spec` pinned to the volume the command targets, else to the one volume
/// the project configures, with the reason to print; `None` when neither applies or the
/// repository holds no snapshot of that volume.
fn pin(
    spec: &str,
    volume: Option<&str>,
    project: Option<Project<'_>>,
    choices: &[String],
) -> Option<(String, String)> {
    let (name, why) = match volume {
        Some(v) => (v.to_owned(), "the volume the command targets".to_owned()),
        None => match project?.config.volumes.as_slice() {
            [only] => (
                only.name.clone(),
                format!("the one volume {} configures", project?.file.display()),
            ),
            _ => return None,
        },
    };
    if !choices.iter().any(|c| *c == format!("latest:{name}")) {
        return None;
    }
    Selector::pinned(spec, &name).map(|p| (p, why))
}
