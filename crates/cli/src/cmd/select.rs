//! Resolving a snapshot selector a person typed (`restore`, `ls`, `diff`, `export`):
//! the repository crate's [`holdfast_repo::snapshot::select`] plus what only the command
//! line knows — the configured project, and stderr to warn on.
//!
//! - `latest` is never ambiguous in silence: in a repository holding snapshots of more
//!   than one volume or path, a selector naming none is refused (exit 2) with the
//!   choices (`latest:app-data`, `latest:/srv/x`) — unless the command targets a volume
//!   (`restore --database` the volume holding that database) or holdfast.toml configures
//!   exactly one volume: then that volume is pinned (`latest~1` → `latest:app-data~1`)
//!   and stderr says so.
//! - `latest…` that lands on a snapshot flagged shrunk resolves as written (the newest),
//!   with a loud warning naming the newest unflagged snapshot of the same volume or path
//!   and the two ways on (name that one, or accept the deletion with `holdfast tag ID
//!   --remove shrunk`). docs/RETENTION.md, "Shrunk snapshots", states the rule.

use holdfast_repo::snapshot::Selector;
use holdfast_repo::{Error, Id, Repository, Snapshot};

use crate::context;
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Finds the snapshot `spec` names (see the module docs). `volume` is the volume the
/// command targets, when it knows one.
pub async fn find(
    g: &GlobalArgs,
    repo: &Repository,
    spec: &str,
    volume: Option<&str>,
) -> Result<(Id, Snapshot), Failure> {
    let found = match repo.find_snapshot_noting(spec).await {
        Err(Error::AmbiguousLatest { spec, choices }) => {
            let Some((pinned, why)) = pin(g, &spec, volume, &choices) else {
                return Err(context::fail(Error::AmbiguousLatest { spec, choices }));
            };
            crate::global::stderr_note(
                tracing::Level::WARN,
                &format!(
                    "`{spec}` is ambiguous here (the repository holds snapshots of {} volumes \
                     or paths: {}); using `{pinned}`, {why}",
                    choices.len(),
                    choices.join(", ")
                ),
                "",
            );
            repo.find_snapshot_noting(&pinned)
                .await
                .map_err(context::fail)?
        }
        other => other.map_err(context::fail)?,
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
        crate::global::stderr_note(
            tracing::Level::WARN,
            &format!(
                "WARNING: `{spec}` is snapshot {}, which is flagged shrunk ({shrunk}); {instead} \
                 accept the deletion with `holdfast tag {} --remove shrunk`",
                found.id.short(),
                found.id.short()
            ),
            "",
        );
    }
    Ok((found.id, found.snapshot))
}

/// The selector `spec` pinned to the volume the command targets, else to the one volume
/// holdfast.toml configures, with the reason to print; `None` when neither applies or
/// the repository holds no snapshot of that volume.
fn pin(
    g: &GlobalArgs,
    spec: &str,
    volume: Option<&str>,
    choices: &[String],
) -> Option<(String, String)> {
    let (name, why) = match volume {
        Some(v) => (v.to_owned(), "the volume the command targets".to_owned()),
        None => {
            let config = holdfast_volume::config::Config::load_optional(&g.config)
                .ok()
                .flatten()?;
            match config.volumes.as_slice() {
                [only] => (
                    only.name.clone(),
                    format!("the one volume {} configures", g.config.display()),
                ),
                _ => return None,
            }
        }
    };
    if !choices.iter().any(|c| *c == format!("latest:{name}")) {
        return None;
    }
    Selector::pinned(spec, &name).map(|p| (p, why))
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
