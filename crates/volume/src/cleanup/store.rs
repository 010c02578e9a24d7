//! Cleanup under a store URL: the same rules as for a directory, over a listing.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use holdfast_store::{ListOptions, Store};

use super::{CleanedFile, CleanupError, CleanupOptions, CleanupReport, NameFilter};

/// Deletes (or, in a dry run, lists) the objects of `store` last modified before
/// `now - older_than`. Objects without a modification time are kept; listing and delete
/// failures are counted in `errors` and the rest goes on.
pub async fn cleanup_store(
    store: &Store,
    opts: &CleanupOptions,
) -> Result<CleanupReport, CleanupError> {
    let filter = opts.filter.as_deref().map(NameFilter::new).transpose()?;
    let now: DateTime<Utc> = opts.now.map_or_else(Utc::now, DateTime::<Utc>::from);
    let age = chrono::Duration::from_std(opts.older_than).unwrap_or(chrono::Duration::MAX);
    let cutoff = now
        .checked_sub_signed(age)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut report = CleanupReport::default();
    let mut listing = store.list(
        "",
        ListOptions {
            recursive: true,
            filter: None,
        },
    );
    while let Some(item) = listing.next().await {
        let meta = match item {
            Ok(m) => m,
            Err(e) => {
                report.errors += 1;
                report.problems.push(e.to_string());
                continue;
            }
        };
        if meta.modified.is_none_or(|m| m >= cutoff) {
            continue;
        }
        if filter
            .as_ref()
            .is_some_and(|f| !f.matches(std::path::Path::new(&meta.key)))
        {
            continue;
        }
        let error = if opts.dry_run {
            None
        } else {
            store
                .delete_file(&meta.key)
                .await
                .err()
                .map(|e| e.to_string())
        };
        match &error {
            None => {
                report.deleted += 1;
                report.bytes += meta.size;
            }
            Some(e) => {
                report.errors += 1;
                report.problems.push(e.clone());
            }
        }
        report.files.push(CleanedFile {
            path: meta.key.into(),
            size: meta.size,
            error,
        });
    }
    Ok(report)
}

/// Cleans `target`: a store URL (anything with `://`) or a directory.
pub async fn cleanup_path(
    target: &str,
    opts: &CleanupOptions,
) -> Result<CleanupReport, CleanupError> {
    if target.contains("://") {
        let store = Store::open(target).map_err(|source| CleanupError::Store { source })?;
        return cleanup_store(&store, opts).await;
    }
    let dir = std::path::PathBuf::from(target);
    let opts = opts.clone();
    tokio::task::spawn_blocking(move || super::cleanup_dir(&dir, &opts))
        .await
        .map_err(|e| CleanupError::Interrupted {
            message: e.to_string(),
        })?
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn aged(path: &std::path::Path, days: u64) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, b"12345").expect("write");
        let when = SystemTime::now() - Duration::from_secs(days * 86_400);
        let f = std::fs::File::options()
            .write(true)
            .open(path)
            .expect("open");
        f.set_modified(when).expect("mtime");
    }

    #[tokio::test]
    async fn store_cleanup_filters_on_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        aged(&dir.path().join("a.tmp"), 10);
        aged(&dir.path().join("sub/b.tmp"), 10);
        aged(&dir.path().join("sub/c.log"), 10);
        aged(&dir.path().join("d.tmp"), 1);
        let url = format!("file://{}", dir.path().display());
        let opts = CleanupOptions {
            older_than: Duration::from_secs(7 * 86_400),
            filter: Some("*.tmp".into()),
            dry_run: false,
            now: None,
        };
        let r = cleanup_path(&url, &opts).await.expect("cleanup");
        assert_eq!((r.deleted, r.bytes, r.errors), (2, 10, 0));
        assert!(dir.path().join("sub/c.log").exists() && dir.path().join("d.tmp").exists());
        assert!(!dir.path().join("sub/b.tmp").exists());

        let missing = format!("file://{}", dir.path().join("absent").display());
        let r = cleanup_path(&missing, &opts)
            .await
            .expect("missing is empty");
        assert_eq!((r.deleted, r.errors), (0, 0));
    }
}
