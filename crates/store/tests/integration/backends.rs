//! Opens a fresh, empty store per test on each backend and runs every suite function on
//! it. S3 (Garage) and Azure Blob (Azurite) come from `HOLDFAST_TEST_S3_URL` and
//! `HOLDFAST_TEST_AZBLOB_URL`, which `scripts/test.sh` sets after starting the servers;
//! a missing variable fails the test rather than skipping it.

use holdfast_store::Store;

/// A store and whatever keeps it alive (a temp dir).
pub struct TestStore {
    /// The store under test.
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
}

/// The value of `var`; panics (the test fails) when the servers are not running.
pub fn server_url(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set: run the tests through scripts/test.sh, which starts the servers"
        ),
    }
}

/// The base URL with a fresh unique prefix, so tests never see each other's objects.
pub fn unique(base: &str) -> String {
    let mut url = url::Url::parse(base).expect("test server URL parses");
    let path = format!(
        "{}/{}",
        url.path().trim_end_matches('/'),
        uuid::Uuid::new_v4()
    );
    url.set_path(&path);
    url.to_string()
}

pub fn fs() -> TestStore {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&format!("file://{}", dir.path().display())).expect("open fs");
    TestStore {
        store,
        _dir: Some(dir),
    }
}

pub fn memory() -> TestStore {
    TestStore {
        store: Store::open("memory://").expect("open memory"),
        _dir: None,
    }
}

pub fn s3() -> TestStore {
    let url = unique(&server_url("HOLDFAST_TEST_S3_URL"));
    TestStore {
        store: Store::open(&url).expect("open s3"),
        _dir: None,
    }
}

pub fn azblob() -> TestStore {
    let url = unique(&server_url("HOLDFAST_TEST_AZBLOB_URL"));
    TestStore {
        store: Store::open(&url).expect("open azblob"),
        _dir: None,
    }
}

macro_rules! conformance {
    ($backend:ident: $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let t = super::$backend();
                    super::super::suite::$case(&t.store).await;
                }
            )*
        }
    };
}

macro_rules! all_backends {
    ($($case:ident),* $(,)?) => {
        conformance!(fs: $($case),*);
        conformance!(memory: $($case),*);
        conformance!(s3: $($case),*);
        conformance!(azblob: $($case),*);
    };
}

all_backends!(
    sizes_round_trip,
    nested_listing,
    listing_pages_past_1000,
    ranges,
    overwrite_is_atomic,
    delete_missing_is_ok,
    write_if_absent_race,
    delete_older_than,
    unicode_names,
    rejected_keys,
    cache_ttl,
    directories,
    checksums,
);

#[tokio::test]
async fn fs_symlinks_are_not_objects() {
    let t = fs();
    super::suite::fs_symlinks_are_not_objects_and_do_not_break_listing(&t.store).await;
}

#[tokio::test]
async fn fs_missing_root_is_not_created_by_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("not-yet");
    let store = Store::open(&format!("file://{}", root.display())).expect("open");
    super::suite::fs_reads_of_a_missing_root_create_nothing(&store).await;
}

#[tokio::test]
async fn fs_failed_writes_leave_no_temp_files() {
    let t = fs();
    super::suite::fs_failed_write_leaves_no_temp_file(&t.store).await;
}

#[tokio::test]
async fn fs_delete_older_than_by_mtime() {
    let t = fs();
    super::suite::fs_mtime_cleanup(&t.store).await;
}

#[tokio::test]
async fn fs_stale_temp_files_are_removed() {
    let t = fs();
    super::suite::fs_stale_temp_files_are_removed(&t.store).await;
}
