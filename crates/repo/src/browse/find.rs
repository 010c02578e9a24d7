//! [`find_page`]: the matches of [`crate::tools::find`] (the one search `holdfast find`
//! runs), newest snapshot first, a page at a time. Each page runs the search again, so
//! its cost is the search's (a tree shared by many snapshots is read once per search);
//! the cursor names the last match shown, so pages stay stable while snapshots are
//! added.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::IndexedRepository;
use crate::tools::{FindOptions, Found, SnapshotFilter, find};

/// Options of [`find_page`].
#[derive(Clone, Debug, Default)]
pub struct FindPageOptions {
    /// The glob (see [`crate::tools::find`]).
    pub pattern: String,
    /// Only snapshots of this volume.
    pub volume: Option<String>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
    /// Most matches on the page (at least 1).
    pub limit: usize,
}

/// A page of [`find_page`].
#[derive(Clone, Debug, Serialize)]
pub struct FindPage {
    /// Matches: newest snapshot first, paths in tree order within a snapshot.
    pub found: Vec<Found>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// The order of matches: newer snapshot first, then path.
type Key = (std::cmp::Reverse<(i64, Id)>, String);

fn key(f: &Found) -> Key {
    let t = f.time.timestamp_nanos_opt().unwrap_or_default();
    (std::cmp::Reverse((t, f.snapshot)), f.path.clone())
}

fn cursor(f: &Found) -> String {
    let t = f.time.timestamp_nanos_opt().unwrap_or_default();
    format!("{t}:{}:{}", f.snapshot.to_hex(), f.path)
}

fn parse_cursor(c: &str) -> Result<Key> {
    let bad = || Error::Invalid(format!("find cursor {c:?} is not one this server gave"));
    let mut it = c.splitn(3, ':');
    let t: i64 = it.next().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
    let id: Id = it.next().and_then(|i| i.parse().ok()).ok_or_else(bad)?;
    let path = it.next().ok_or_else(bad)?.to_owned();
    Ok((std::cmp::Reverse((t, id)), path))
}

/// A page of the entries matching `opts.pattern` (see the module doc).
pub async fn find_page(repo: &IndexedRepository, opts: &FindPageOptions) -> Result<FindPage> {
    let after = opts.after.as_deref().map(parse_cursor).transpose()?;
    let mut found = find(
        repo,
        &FindOptions {
            pattern: opts.pattern.clone(),
            filter: SnapshotFilter {
                volume: opts.volume.clone(),
                ..Default::default()
            },
        },
    )
    .await?;
    found.sort_by_key(key);
    let limit = opts.limit.max(1);
    let mut page: Vec<Found> = found
        .into_iter()
        .filter(|f| after.as_ref().is_none_or(|a| key(f) > *a))
        .take(limit + 1)
        .collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next = more.then(|| page.last().map(cursor)).flatten();
    Ok(FindPage { found: page, next })
}
