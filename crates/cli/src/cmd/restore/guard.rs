//! What every restore that replaces data does first, and what it says on stderr: the
//! guard of the volume, and the warnings about an index read around.

use holdfast_repo::restore::text;
use holdfast_volume::config::Volume;
use holdfast_volume::guard::{self, Door};

use crate::exit::{self, Failure};

/// The guard before data is replaced ([`holdfast_volume::guard::enter`] with
/// [`Door::Replace`]): a volume that is missing, not mounted when it must be, read-only
/// or critically full is refused (exit 3, nothing restored); an interrupted swap is
/// finished first and stderr says so.
pub(super) fn guard_replace(volume: &Volume) -> Result<(), Failure> {
    match guard::enter(volume, Door::Replace) {
        Ok(admitted) => {
            for line in admitted.recovered {
                crate::global::stderr_note(tracing::Level::INFO, &line, "");
            }
            Ok(())
        }
        Err(r) => Err(Failure {
            error: anyhow::anyhow!("{r}; nothing was restored"),
            code: exit::PROBLEMS,
        }),
    }
}

/// Warns on stderr about what loading the index found ([`RestoreOptions::on_index`]): a
/// damaged or missing index file does not stop a restore, the blobs it listed are read
/// from the packs' own trailers ([`holdfast_repo::repair::index_for_reading`]), and the
/// warning says how to make the repair permanent.
pub(super) fn index_warnings() -> holdfast_repo::OnIndex {
    holdfast_repo::OnIndex(std::sync::Arc::new(|recovery| {
        for line in text::index_warnings(recovery) {
            eprintln!("holdfast: warning: {line}");
        }
    }))
}
