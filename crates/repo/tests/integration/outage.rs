//! A store that goes away during a restore or verify (Garage behind a TCP proxy that the
//! test breaks at a failpoint): an outage within the retry budget is ridden out and the
//! restore is byte-exact; a longer one fails the restore as "unavailable", never as
//! damaged files.

use std::sync::Arc;
use std::time::Duration;

use holdfast_repo::{
    BackupOptions, Failpoints, InitOptions, KdfParams, OpenOptions, RestoreOptions, Step,
};
use holdfast_store::{Store, StoreOptions};

// The store tests' outage proxy; only some of its faults are used here.
#[allow(dead_code)]
#[path = "../../../store/tests/integration/proxy.rs"]
mod proxy;

use proxy::{Fault, Proxy};

use super::util::{TestResult, sample_tree, snapshot_of};

/// The S3 test URL with a fresh prefix; fails (never skips) without the server.
fn s3_url() -> String {
    let base = std::env::var("HOLDFAST_TEST_S3_URL").unwrap_or_else(|_| {
        panic!("HOLDFAST_TEST_S3_URL is not set: run the tests through scripts/test.sh")
    });
    let prefix = uuid::Uuid::new_v4().simple().to_string();
    match base.split_once('?') {
        Some((head, query)) => format!("{}/{prefix}?{query}", head.trim_end_matches('/')),
        None => panic!("HOLDFAST_TEST_S3_URL has no endpoint"),
    }
}

/// The upstream address in `endpoint=http://ADDR`, and the URL with `proxy` in its place.
fn through(url: &str, proxy: std::net::SocketAddr) -> (String, std::net::SocketAddr) {
    let start = url.find("endpoint=http://").expect("endpoint") + "endpoint=http://".len();
    let end = url[start..].find('&').map_or(url.len(), |e| start + e);
    let upstream = url[start..end].parse().expect("endpoint address");
    (format!("{}{proxy}{}", &url[..start], &url[end..]), upstream)
}

/// A repository on Garage holding a snapshot of the sample tree; the repository opened
/// again through a proxy with `options`.
async fn proxied(
    options: StoreOptions,
) -> Result<
    (
        tempfile::TempDir,
        Arc<Proxy>,
        holdfast_repo::IndexedRepository,
    ),
    Box<dyn std::error::Error>,
> {
    let url = s3_url();
    let dir = tempfile::tempdir()?;
    let init = InitOptions {
        password: "pw".into(),
        kdf: KdfParams::insecure_fast(),
    };
    let repo = holdfast_repo::init(Store::open(&url)?, &init).await?;
    let mut repo = repo.load_index().await?;
    sample_tree(&dir.path().join("src"))?;
    holdfast_repo::backup(&mut repo, &BackupOptions::new(dir.path().join("src"))).await?;
    let (_, upstream) = through(&url, "127.0.0.1:1".parse()?);
    let proxy = Arc::new(Proxy::start(upstream).await);
    let (via, _) = through(&url, proxy.addr());
    let open = OpenOptions {
        password: "pw".into(),
        cache: Some(false),
    };
    let repo = holdfast_repo::open(Store::open_with(&via, options)?, &open).await?;
    Ok((dir, proxy, repo.load_index().await?))
}

/// Failpoints that start an outage of `faults` when the restore has read its trees.
fn outage_at_restore(proxy: &Arc<Proxy>, faults: Vec<Fault>) -> Failpoints {
    let proxy = proxy.clone();
    Failpoints::new(move |step| {
        if step == Step::RestoreAfterTrees {
            proxy.fail_next(&faults);
        }
        Box::pin(async { Ok(()) })
    })
}

/// Finding: Garage restarted for 5 s during a restore; retries gave up after ~4.5 s and 7
/// files were listed as damaged (exit 3) though the repository was sound.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_restore_rides_out_a_store_restart() -> TestResult {
    let options = StoreOptions::default()
        .with_retry_for(Duration::from_secs(90))
        .with_request_timeout(Duration::from_secs(5));
    let (dir, proxy, repo) = proxied(options).await?;
    let (_, snap) = repo.find_snapshot("latest").await?;
    let target = dir.path().join("out");
    let faults = [vec![Fault::Reset; 10], vec![Fault::Stall; 2]].concat();
    let n = faults.len();
    let opts = RestoreOptions {
        target: target.clone(),
        failpoints: outage_at_restore(&proxy, faults),
        ..Default::default()
    };
    let summary = holdfast_repo::restore(&repo, &snap, &opts).await?;
    assert!(summary.damaged.is_empty(), "{:?}", summary.damaged);
    assert_eq!(proxy.served(), n, "the restore met the whole outage");
    assert_eq!(snapshot_of(&target)?, snapshot_of(&dir.path().join("src"))?);
    Ok(())
}

/// An outage longer than the retry budget fails the restore as unavailable, and lists
/// nothing as damaged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_restore_from_a_store_that_stays_away_is_unavailable_not_damaged() -> TestResult {
    let options = StoreOptions::default()
        .with_retry_for(Duration::from_millis(800))
        .with_request_timeout(Duration::from_millis(500));
    let (dir, proxy, repo) = proxied(options).await?;
    let (_, snap) = repo.find_snapshot("latest").await?;
    let opts = RestoreOptions {
        target: dir.path().join("out"),
        failpoints: outage_at_restore(&proxy, vec![Fault::Reset; 100_000]),
        ..Default::default()
    };
    let r = holdfast_repo::restore(&repo, &snap, &opts).await;
    let Err(e) = r else {
        panic!("a restore from a store that is gone must fail: {r:?}");
    };
    assert!(e.is_unavailable(), "{e}");
    assert!(e.to_string().contains("unavailable"), "{e}");
    Ok(())
}
