//! The snapshot browser's JSON routes, all behind the API token:
//!
//! - `GET /api/v1/snapshots/{id}/tree/{path}`: one directory, a page at a time;
//! - `GET /api/v1/versions/{volume}/{path}`: every version of one path;
//! - `GET /api/v1/diff/{a}/{b}?path=`: what changed between two snapshots, paged;
//! - `GET /api/v1/find?pattern=GLOB&volume=`: matching paths, newest snapshot first, paged.
//!
//! (`files/{path}` and `archive/{path}` are in [`crate::http::download`].) The walks
//! are the repository crate's ([`holdfast_repo::browse`]); this module only checks
//! the request, resolves the snapshot and answers. `{id}` is an id prefix, `latest` or
//! `latest:VOLUME` ([`holdfast_volume::select::find`], the resolver of the CLI): an
//! ambiguous prefix is 409 with the candidates.
//!
//! Every `{path}` goes through [`snapshot_path`], the one check: the raw request path
//! may not hide a separator or NUL (`%2F`, `%5C`, `%00`); the decoded path must be
//! UTF-8 (an overlong encoding such as `%C0%AE` is not), relative, without empty, `.`
//! or `..` components or NUL — else 400 with a one-line JSON error, before the
//! repository is touched.
//!
//! The repository is opened once and its index kept ([`BrowseState`]) until the list
//! of index files changes (one LIST per request); decoded trees are shared through one
//! bounded [`TreeCache`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, Query, State};
use futures::TryStreamExt;
use holdfast_repo::browse::{
    DiffOptions, DirOptions, FindPageOptions, TreeCache, VersionsOptions, after_bytes,
};
use holdfast_repo::{Id, IndexedRepository, Snapshot};
use serde::{Deserialize, Serialize};

use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::paths::check_raw;

/// Entries per page when `limit` is not given.
pub const DEFAULT_PAGE: usize = 1_000;
/// Most entries one page returns.
pub const MAX_PAGE: usize = 10_000;

/// What the browse routes keep between requests: the opened repository with its index
/// (and the index files it was loaded from), and the tree cache.
#[derive(Default)]
pub struct BrowseState {
    repo: tokio::sync::Mutex<Option<(Vec<String>, IndexedRepository)>>,
    /// Decoded trees, shared by every request.
    pub trees: Arc<TreeCache>,
}

impl std::fmt::Debug for BrowseState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowseState")
            .field("trees", &self.trees)
            .finish_non_exhaustive()
    }
}

/// The index files of a repository, sorted.
async fn index_files(repo: &holdfast_repo::Repository) -> ApiResult<Vec<String>> {
    let opts = holdfast_store::ListOptions {
        recursive: true,
        filter: None,
    };
    let metas: Vec<holdfast_store::ObjectMeta> =
        repo.store().list("index/", opts).try_collect().await?;
    let mut keys: Vec<String> = metas.into_iter().map(|m| m.key).collect();
    keys.sort();
    Ok(keys)
}

/// The repository with its index: the kept one while the index files are the same,
/// else opened and loaded again.
pub async fn indexed(state: &AppState) -> ApiResult<IndexedRepository> {
    let mut kept = state.browse.repo.lock().await;
    if let Some((files, repo)) = kept.as_ref()
        && index_files(repo).await? == *files
    {
        return Ok(repo.clone());
    }
    let repo = state.repo.open().await?;
    let files = index_files(&repo).await?;
    let repo = repo.load_index().await?;
    *kept = Some((files, repo.clone()));
    Ok(repo)
}

/// The snapshot `spec` names (see the module doc).
pub async fn snapshot(
    state: &AppState,
    repo: &IndexedRepository,
    spec: &str,
) -> ApiResult<(Id, Snapshot)> {
    let project = holdfast_volume::select::Project {
        config: &state.config,
        file: std::path::Path::new("holdfast.toml"),
    };
    let found = holdfast_volume::select::find(repo, spec, None, Some(project)).await?;
    Ok((found.id, found.snapshot))
}

/// The one check of a `{path}` inside a snapshot (see the module doc): `raw` is the
/// request's still-encoded path, `path` the extracted (decoded) parameter, `None` for
/// the routes without one (the root). Returns the path without a trailing `/`.
pub fn snapshot_path(
    raw: &str,
    path: Result<Path<HashMap<String, String>>, PathRejection>,
) -> ApiResult<String> {
    check_raw(raw)?;
    let params = path.map_err(|e| ApiError::bad_request(format!("path: {}", e.body_text())))?;
    match params.0.get("path") {
        Some(p) => checked_relative(p),
        None => Ok(String::new()),
    }
}

/// A decoded path inside a snapshot: relative, no empty, `.` or `..` component, no NUL;
/// one trailing `/` is dropped.
pub fn checked_relative(path: &str) -> ApiResult<String> {
    let refuse = |why: &str| {
        Err(ApiError::bad_request(format!(
            "path {path:?} refused: {why}"
        )))
    };
    if path.starts_with('/') {
        return refuse("absolute");
    }
    if path.contains('\0') {
        return refuse("NUL");
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    for part in trimmed.split('/') {
        match part {
            "" => return refuse("empty component"),
            "." | ".." => return refuse("`.` or `..` component"),
            _ => {}
        }
    }
    Ok(trimmed.to_owned())
}

/// A page size from the query: the default when absent, 1..=[`MAX_PAGE`].
fn page_size(limit: Option<usize>) -> usize {
    limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}

/// Query of the tree route.
#[derive(Debug, Deserialize)]
pub struct TreeQuery {
    /// The `next_after` of the previous page.
    pub after: Option<String>,
    /// The `next_after_raw` of the previous page (a name that is not UTF-8, as hex).
    pub after_raw: Option<String>,
    /// Page size (default 1000, at most 10000).
    pub limit: Option<usize>,
}

/// What the tree route answers.
#[derive(Debug, Serialize)]
pub struct TreePage {
    /// The snapshot id.
    pub snapshot: Id,
    /// The directory, relative to the snapshot root (`""` for the root).
    pub path: String,
    /// The entries and the cursor.
    #[serde(flatten)]
    pub page: holdfast_repo::DirPage,
}

/// `GET /api/v1/snapshots/{id}/tree/{path}`.
pub async fn get_tree(
    State(state): State<Arc<AppState>>,
    uri: OriginalUri,
    params: Result<Path<HashMap<String, String>>, PathRejection>,
    Query(q): Query<TreeQuery>,
) -> ApiResult<Json<TreePage>> {
    let id = params
        .as_ref()
        .ok()
        .and_then(|p| p.0.get("id").cloned())
        .unwrap_or_default();
    let path = snapshot_path(uri.path(), params)?;
    let repo = indexed(&state).await?;
    let (id, snap) = snapshot(&state, &repo, &id).await?;
    let opts = DirOptions {
        path: path.clone(),
        after: after_bytes(q.after.as_deref(), q.after_raw.as_deref())?,
        limit: page_size(q.limit),
    };
    let page = holdfast_repo::list_dir(&repo, &state.browse.trees, &snap, &opts).await?;
    Ok(Json(TreePage {
        snapshot: id,
        path,
        page,
    }))
}

/// `GET /api/v1/versions/{volume}/{path}`.
pub async fn get_versions(
    State(state): State<Arc<AppState>>,
    uri: OriginalUri,
    params: Result<Path<HashMap<String, String>>, PathRejection>,
) -> ApiResult<Json<holdfast_repo::Versions>> {
    let volume = params
        .as_ref()
        .ok()
        .and_then(|p| p.0.get("volume").cloned())
        .unwrap_or_default();
    let path = snapshot_path(uri.path(), params)?;
    let repo = indexed(&state).await?;
    let opts = VersionsOptions { volume, path };
    Ok(Json(
        holdfast_repo::versions(&repo, &state.browse.trees, &opts).await?,
    ))
}

/// Query of the diff route.
#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    /// Only changes at or below this path.
    pub path: Option<String>,
    /// The `next_after` of the previous page.
    pub after: Option<String>,
    /// Page size (default 1000, at most 10000).
    pub limit: Option<usize>,
}

/// What the diff route answers.
#[derive(Debug, Serialize)]
pub struct DiffAnswer {
    /// The first snapshot's id.
    pub a: Id,
    /// The second snapshot's id.
    pub b: Id,
    /// The path compared (`""`: the whole snapshots).
    pub path: String,
    /// The changes and the cursor.
    #[serde(flatten)]
    pub page: holdfast_repo::DiffPage,
}

/// `GET /api/v1/diff/{a}/{b}?path=&after=&limit=`.
pub async fn get_diff(
    State(state): State<Arc<AppState>>,
    uri: OriginalUri,
    Path((a, b)): Path<(String, String)>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<DiffAnswer>> {
    check_raw(uri.path())?;
    let path = checked_relative(q.path.as_deref().unwrap_or_default())?;
    let repo = indexed(&state).await?;
    let (ida, sa) = snapshot(&state, &repo, &a).await?;
    let (idb, sb) = snapshot(&state, &repo, &b).await?;
    let opts = DiffOptions {
        path: path.clone(),
        after: q.after,
        limit: page_size(q.limit),
    };
    let page = holdfast_repo::diff_page(&repo, &state.browse.trees, &sa, &sb, &opts).await?;
    Ok(Json(DiffAnswer {
        a: ida,
        b: idb,
        path,
        page,
    }))
}

/// Query of the find route.
#[derive(Debug, Deserialize)]
pub struct FindQuery {
    /// The glob.
    pub pattern: Option<String>,
    /// Only snapshots of this volume.
    pub volume: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Page size (default 1000, at most 10000).
    pub limit: Option<usize>,
}

/// `GET /api/v1/find?pattern=GLOB&volume=&after=&limit=`.
pub async fn get_find(
    State(state): State<Arc<AppState>>,
    Query(q): Query<FindQuery>,
) -> ApiResult<Json<holdfast_repo::FindPage>> {
    let Some(pattern) = q.pattern.filter(|p| !p.is_empty()) else {
        return Err(ApiError::bad_request("pattern: a glob is required"));
    };
    let repo = indexed(&state).await?;
    let opts = FindPageOptions {
        pattern,
        volume: q.volume,
        after: q.after,
        limit: page_size(q.limit),
    };
    Ok(Json(holdfast_repo::find_page(&repo, &opts).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_only() {
        for bad in [
            "/etc/passwd",
            "a//b",
            "../x",
            "a/../b",
            "./a",
            "a/.",
            "a\0b",
            "//",
        ] {
            assert!(checked_relative(bad).is_err(), "{bad:?}");
        }
        assert_eq!(checked_relative("a/b/").ok().as_deref(), Some("a/b"));
        assert_eq!(checked_relative("").ok().as_deref(), Some(""));
        assert_eq!(checked_relative("a/..b/c").ok().as_deref(), Some("a/..b/c"));
    }
}
