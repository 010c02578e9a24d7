//! Riding out an unavailable store, and abandoning a stalled one.
//!
//! Invariant: an operation that meets transient failures (connection refused or reset,
//! HTTP 5xx, 429, timeouts) is retried with exponential backoff until it succeeds or
//! [`StoreOptions::retry_for`] has passed since its first failure; only then does it fail,
//! with [`ErrorKind::Unavailable`] naming the store URL and the key, never as a missing
//! or damaged object. Every attempt is bounded: OpenDAL's `TimeoutLayer` ends each
//! request, and each read or write of a body, after [`StoreOptions::request_timeout`],
//! so a server that accepts and never answers, or stops sending mid-body, costs one
//! timeout and a retry, not a hang.
//!
//! Two loops do this. OpenDAL's `RetryLayer` (inside) retries a failed request or body
//! read a few times at once (a body read resumes where it stopped); the loop here
//! (outside) retries the whole operation with backoff for the time budget.
//!
//! Each attempt that fails is logged at debug level only. So that a person is not left
//! waiting in silence for the whole budget, the first operation of a store that starts
//! retrying says so in one warning line (what failed, why, for how long it will keep
//! trying); the other operations that fail in the same outage stay quiet. The warning
//! is given again only for a new outage: after an operation of the store succeeded, or
//! once the budget announced by the last warning has run out.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};

/// Environment variable for [`StoreOptions::retry_for`] (`90s`, `2m`, `500ms`, `1h`).
pub const RETRY_FOR_ENV: &str = "HOLDFAST_STORE_RETRY_FOR";

/// Environment variable for [`StoreOptions::request_timeout`].
pub const TIMEOUT_ENV: &str = "HOLDFAST_STORE_TIMEOUT";

/// First backoff delay of the outer loop; it doubles up to [`MAX_DELAY`].
const MIN_DELAY: Duration = Duration::from_millis(200);

/// Longest backoff delay of the outer loop.
const MAX_DELAY: Duration = Duration::from_secs(10);

/// How patient a store is with its backend.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreOptions {
    /// How long an operation keeps retrying transient failures, counted from its first
    /// failure (default 2 minutes: long enough to ride out a server restart).
    pub retry_for: Duration,
    /// Longest wait for one request, or for one piece of a body being read or written
    /// (default 30 seconds); a stalled connection is abandoned after it.
    pub request_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            retry_for: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl StoreOptions {
    /// The defaults, overridden by `HOLDFAST_STORE_RETRY_FOR` and
    /// `HOLDFAST_STORE_TIMEOUT` when set; a malformed value is an
    /// [`ErrorKind::InvalidConfig`] error naming the variable.
    pub fn from_env() -> Result<StoreOptions> {
        from_vars(|k| std::env::var(k).ok())
    }

    /// Sets [`StoreOptions::retry_for`].
    pub fn with_retry_for(mut self, retry_for: Duration) -> Self {
        self.retry_for = retry_for;
        self
    }

    /// Sets [`StoreOptions::request_timeout`] (at least one millisecond).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Runs `attempt` until it succeeds, fails for good, or keeps failing transiently
    /// for longer than `retry_for`; then the error is [`ErrorKind::Unavailable`] and says
    /// how long it tried.
    /// `outage` is shared by every operation of one store (see the module doc).
    pub(crate) async fn run<T, F, Fut>(
        &self,
        outage: &Arc<Outage>,
        op: &'static str,
        url: &str,
        key: &str,
        mut attempt: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut streak = Streak::new(self, outage, op, url, key);
        loop {
            let started = Instant::now();
            match attempt().await {
                Ok(v) => {
                    streak.reset();
                    return Ok(v);
                }
                Err(e) if e.kind() == ErrorKind::Unavailable => streak.failed(started, e).await?,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether the current outage of one store has been announced: shared by all its
/// operations, so that one warning stands for all those that retry together.
#[derive(Debug, Default)]
pub(crate) struct Outage {
    /// When the warning was given, in nanoseconds after [`epoch`] plus one; 0 when no
    /// outage is known.
    warned_at: AtomicU64,
}

/// A fixed instant of this process that [`Outage`] counts from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Outage {
    /// True when the caller is the first to meet this outage and should warn: nobody
    /// warned since the store last answered, or the budget that warning announced has
    /// run out (its operations gave up, so this is a new wait).
    fn first(&self, retry_for: Duration) -> bool {
        let now = u64::try_from(epoch().elapsed().as_nanos())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1);
        let seen = self.warned_at.load(Ordering::Acquire);
        let budget = u64::try_from(retry_for.as_nanos()).unwrap_or(u64::MAX);
        if seen != 0 && now.saturating_sub(seen) < budget {
            return false;
        }
        self.warned_at
            .compare_exchange(seen, now, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The store answered: the next failure is a new outage.
    fn over(&self) {
        if self.warned_at.load(Ordering::Relaxed) != 0 {
            self.warned_at.store(0, Ordering::Release);
        }
    }
}

/// A run of transient failures of one operation: when it began, how many, the next
/// backoff delay.
pub(crate) struct Streak {
    outage: Arc<Outage>,
    retry_for: Duration,
    op: &'static str,
    url: String,
    key: String,
    since: Option<Instant>,
    attempts: u32,
    delay: Duration,
}

impl Streak {
    /// A new, empty streak for operation `op` on `key` of the store at `url`, whose
    /// operations share `outage`.
    pub(crate) fn new(
        opts: &StoreOptions,
        outage: &Arc<Outage>,
        op: &'static str,
        url: &str,
        key: &str,
    ) -> Streak {
        Streak {
            outage: outage.clone(),
            retry_for: opts.retry_for,
            op,
            url: url.to_string(),
            key: key.to_string(),
            since: None,
            attempts: 0,
            delay: MIN_DELAY,
        }
    }

    /// Progress was made: the next failure starts a new streak.
    pub(crate) fn reset(&mut self) {
        self.since = None;
        self.delay = MIN_DELAY;
        self.outage.over();
    }

    /// Records that an attempt started at `started` failed transiently with `err`. When
    /// the budget is spent this returns the final [`ErrorKind::Unavailable`] error;
    /// otherwise it sleeps the backoff delay (never past the budget).
    pub(crate) async fn failed(&mut self, started: Instant, err: Error) -> Result<()> {
        self.attempts += 1;
        let starting = self.since.is_none();
        let spent = self.since.get_or_insert(started).elapsed();
        let (op, url, key) = (self.op, self.url.as_str(), self.key.as_str());
        if spent >= self.retry_for {
            return Err(Error::new(ErrorKind::Unavailable, op, url, key)
                .with_detail(format!(
                    "gave up after {} attempts in {:.1}s ({RETRY_FOR_ENV} allows {}): {}",
                    self.attempts,
                    spent.as_secs_f64(),
                    show(self.retry_for),
                    err.detail()
                ))
                .with_source(err));
        }
        let wait = jitter(self.delay).min(self.retry_for - spent);
        if starting && self.outage.first(self.retry_for) {
            let sep = if key.is_empty() { "" } else { " key " };
            tracing::warn!(
                "store unavailable: {op} {url}{sep}{key}: {}; retrying for up to {} ({RETRY_FOR_ENV})",
                err.detail(),
                show(self.retry_for)
            );
        }
        tracing::debug!(
            "{op} {url} {key}: unavailable (attempt {}), retrying in {:.1}s: {}",
            self.attempts,
            wait.as_secs_f64(),
            err.detail()
        );
        tokio::time::sleep(wait).await;
        self.delay = (self.delay * 2).min(MAX_DELAY);
        Ok(())
    }
}

/// `d` scaled by a factor in [0.75, 1.25), so clients that failed together do not
/// retry together.
fn jitter(d: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    h.write_u128(now.map(|d| d.as_nanos()).unwrap_or(0));
    let f = 0.75 + (h.finish() % 1000) as f64 / 2000.0;
    d.mul_f64(f)
}

/// A duration as the environment variable would spell it.
fn show(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_millis() != 0 || secs == 0 {
        format!("{}ms", d.as_millis())
    } else if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// `from_env` over any variable source (so tests need not touch the process env).
pub(crate) fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<StoreOptions> {
    let mut opts = StoreOptions::default();
    let read = |var: &'static str| -> Result<Option<Duration>> {
        let Some(v) = get(var).filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        parse_duration(&v).map(Some).ok_or_else(|| {
            Error::new(ErrorKind::InvalidConfig, "open", var, "").with_detail(format!(
                "`{v}` is not a duration (write e.g. 90s, 2m, 500ms, 1h)"
            ))
        })
    };
    if let Some(d) = read(RETRY_FOR_ENV)? {
        opts = opts.with_retry_for(d);
    }
    if let Some(d) = read(TIMEOUT_ENV)? {
        opts = opts.with_request_timeout(d);
    }
    Ok(opts)
}

/// Parses `90s`, `2m`, `500ms`, `1h`, `1d`, `1m30s` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n.checked_mul(60)?),
            "h" => Duration::from_secs(n.checked_mul(3600)?),
            "d" => Duration::from_secs(n.checked_mul(86_400)?),
            _ => return None,
        };
        total = total.checked_add(unit)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        for (s, secs) in [
            ("90s", 90.0),
            ("2m", 120.0),
            ("1m30s", 90.0),
            ("500ms", 0.5),
        ] {
            assert_eq!(
                parse_duration(s),
                Some(Duration::from_secs_f64(secs)),
                "{s}"
            );
        }
        assert_eq!(parse_duration("15"), Some(Duration::from_secs(15)));
        for bad in ["", "s", "2x", "-1s", "1.5s", "m2"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn options_from_env() {
        let opts = from_vars(|k| (k == RETRY_FOR_ENV).then(|| "90s".to_string())).expect("ok");
        assert_eq!(opts.retry_for, Duration::from_secs(90));
        assert_eq!(
            opts.request_timeout,
            StoreOptions::default().request_timeout
        );
        let e = from_vars(|k| (k == TIMEOUT_ENV).then(|| "soon".to_string())).expect_err("bad");
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.to_string().contains(TIMEOUT_ENV), "{e}");
    }

    /// The outer loop stops after its budget with `Unavailable`, and passes other errors
    /// through at once.
    #[tokio::test]
    async fn gives_up_as_unavailable_after_the_budget() {
        let opts = StoreOptions::default().with_retry_for(Duration::from_millis(300));
        let mut calls = 0;
        let e = opts
            .run::<(), _, _>(&Arc::default(), "read", "s3://b/", "k", || {
                calls += 1;
                async { Err(Error::new(ErrorKind::Unavailable, "read", "s3://b/", "k")) }
            })
            .await
            .expect_err("never succeeds");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(calls >= 2, "retried: {calls}");
        assert!(e.to_string().contains("gave up after"), "{e}");
        let mut calls = 0;
        let e = opts
            .run::<(), _, _>(&Arc::default(), "read", "s3://b/", "k", || {
                calls += 1;
                async { Err(Error::new(ErrorKind::NotFound, "read", "s3://b/", "k")) }
            })
            .await
            .expect_err("not found");
        assert_eq!((e.kind(), calls), (ErrorKind::NotFound, 1));
    }

    /// The warning lines `f` logs, with the text of each.
    fn warnings(f: impl FnOnce()) -> Vec<String> {
        #[derive(Clone, Default)]
        struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                let mut out = self.0.lock().unwrap_or_else(|p| p.into_inner());
                out.extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .without_time()
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let out = sink.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&out)
            .lines()
            .map(|l| l.trim().to_string())
            .collect()
    }

    /// Finding: with the default budget a store that could not be reached kept a person
    /// waiting two minutes in silence (every retry logged at debug only). Now the first
    /// operation to retry warns once, for all the operations that fail with it; after the
    /// store answered again, the next outage is announced again.
    #[test]
    fn silent_retry_wait_is_announced_once_per_outage() {
        let opts = StoreOptions::default().with_retry_for(Duration::from_secs(60));
        let outage = Arc::new(Outage::default());
        let url = "s3://bucket/prefix?endpoint=http://127.0.0.1:9";
        // Each operation fails once (connection refused), then succeeds.
        let flaky = |opts: &StoreOptions, outage: &Arc<Outage>, key: &'static str| {
            let (opts, outage) = (opts.clone(), outage.clone());
            async move {
                let mut failed = false;
                opts.run(&outage, "read", url, key, || {
                    let first = !std::mem::replace(&mut failed, true);
                    async move {
                        if first {
                            Err(Error::new(ErrorKind::Unavailable, "read", url, key)
                                .with_detail("connection refused"))
                        } else {
                            Ok(())
                        }
                    }
                })
                .await
            }
        };
        let lines = warnings(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let burst = ["config", "index/a", "index/b", "keys/k", "snapshots/s"];
                let results =
                    futures::future::join_all(burst.map(|k| flaky(&opts, &outage, k))).await;
                assert!(results.iter().all(Result::is_ok), "{results:?}");
                flaky(&opts, &outage, "data/00/p")
                    .await
                    .expect("second outage");
            });
        });
        assert_eq!(lines.len(), 2, "one warning per outage: {lines:#?}");
        assert_eq!(
            lines[0],
            format!(
                "WARN holdfast_store::retry: store unavailable: read {url} key config: connection \
                 refused; retrying for up to 1m ({RETRY_FOR_ENV})"
            )
        );
        assert!(lines[1].contains(" key data/00/p: "), "{}", lines[1]);
    }

    /// Once the budget a warning announced has run out, its operations have given up: an
    /// operation that starts failing after that warns anew.
    #[test]
    fn an_outage_is_announced_again_after_its_budget() {
        let outage = Outage::default();
        assert!(outage.first(Duration::from_secs(60)));
        assert!(!outage.first(Duration::from_secs(60)));
        assert!(outage.first(Duration::ZERO));
        outage.over();
        assert!(outage.first(Duration::from_secs(60)));
    }
}
