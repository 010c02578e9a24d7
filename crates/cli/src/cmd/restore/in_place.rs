//! `holdfast restore SNAPSHOT --in-place --yes`: restores a snapshot into its own root.
//!
//! The snapshot is first restored into a staging directory inside the root (same
//! filesystem, so the swap is made of renames) and checked: any damaged entry stops it
//! there, with the live data untouched. Then every live top-level entry is renamed into
//! an `.holdfast-old-…` directory, every staged entry renamed into place, and the old
//! data deleted last. A crash during the swap leaves both the old and the new data on
//! the volume, each in its own directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use holdfast_repo::{Id, IndexedRepository, RestoreOptions, Snapshot};

use crate::context::outln;
use crate::exit::Failure;
use crate::global::GlobalArgs;

const STAGING: &str = ".holdfast-restore-";
const OLD: &str = ".holdfast-old-";

fn ours(name: &std::ffi::OsStr) -> bool {
    let n = name.to_string_lossy();
    n.starts_with(STAGING) || n.starts_with(OLD)
}

/// Restores `snap` into its root with a staged swap.
pub async fn run(
    g: &GlobalArgs,
    repo: &IndexedRepository,
    id: Id,
    snap: &Snapshot,
    include: &[String],
) -> Result<ExitCode, Failure> {
    if !include.is_empty() {
        return Err(Failure::usage(anyhow!(
            "--in-place restores the whole snapshot; use --target DIR with --include"
        )));
    }
    let root = PathBuf::from(&snap.root);
    if !root.is_dir() {
        return Err(anyhow!(
            "{} (the snapshot's root) is not a directory here",
            root.display()
        )
        .into());
    }
    let tag = id.short();
    let staging = root.join(format!("{STAGING}{tag}"));
    let old = root.join(format!("{OLD}{tag}"));
    let opts = RestoreOptions {
        target: staging.clone(),
        include: Vec::new(),
    };
    let summary = holdfast_repo::restore(repo, snap, &opts)
        .await
        .context("staging the restore")?;
    if !summary.damaged.is_empty() {
        for d in &summary.damaged {
            eprintln!("holdfast: damaged: {}: {}", d.path, d.error);
        }
        let _ = std::fs::remove_dir_all(&staging);
        return Err(anyhow!("the snapshot is damaged; the volume was not touched").into());
    }
    // Database dumps live in the snapshot only; the volume never held them.
    let dumps = staging.join(holdfast_repo::DATABASES_DIR);
    if dumps.exists() {
        std::fs::remove_dir_all(&dumps).with_context(|| format!("removing {}", dumps.display()))?;
    }
    let (r, s, o) = (root.clone(), staging.clone(), old.clone());
    tokio::task::spawn_blocking(move || swap(&r, &s, &o))
        .await
        .map_err(|e| anyhow!("swap: {e}"))??;
    if !g.quiet {
        outln!(
            "restored snapshot {tag} in place into {}: {} files, {}",
            root.display(),
            summary.files,
            indicatif::HumanBytes(summary.bytes)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn entries(dir: &Path) -> anyhow::Result<Vec<std::ffi::OsString>> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let name = e
            .with_context(|| format!("listing {}", dir.display()))?
            .file_name();
        if !ours(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

fn sync(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

fn swap(root: &Path, staging: &Path, old: &Path) -> anyhow::Result<()> {
    // The staged files must be on disk before any of them replaces live data.
    let fs =
        std::fs::File::open(staging).with_context(|| format!("opening {}", staging.display()))?;
    rustix::fs::syncfs(&fs)
        .with_context(|| format!("syncing the filesystem of {}", staging.display()))?;
    std::fs::create_dir(old).with_context(|| format!("creating {}", old.display()))?;
    for name in entries(root)? {
        std::fs::rename(root.join(&name), old.join(&name))
            .with_context(|| format!("moving {} aside", root.join(&name).display()))?;
    }
    sync(old)?;
    for name in entries(staging)? {
        std::fs::rename(staging.join(&name), root.join(&name))
            .with_context(|| format!("moving {} into place", root.join(&name).display()))?;
    }
    sync(root)?;
    std::fs::remove_dir(staging).with_context(|| format!("removing {}", staging.display()))?;
    std::fs::remove_dir_all(old)
        .with_context(|| format!("removing the old data in {}", old.display()))
}
