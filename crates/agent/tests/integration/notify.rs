//! The notifier against a small HTTP receiver on loopback that records what arrives.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use holdfast_volume::config::{NOTIFY_EVENTS, Notify, NotifyKind};

use holdfast_agent::notify::{Event, Notifier, Policy};

/// Long enough for anything on loopback; `flush` returns as soon as all is sent.
const GENEROUS: Duration = Duration::from_secs(120);

/// How the receiver answers.
#[derive(Clone, Copy)]
enum Answer {
    /// 200 to everything.
    Ok,
    /// This status to the first `n` requests, then 200.
    FailFirst(u16, usize),
    /// Never answers.
    Stall,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: String,
}

#[derive(Clone)]
struct Receiver {
    base: String,
    seen: Arc<Mutex<Vec<Received>>>,
    answered: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(answer: Answer) -> Receiver {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(AtomicUsize::new(0));
        let state = (answer, seen.clone(), answered.clone());
        let app = axum::Router::new().fallback(record).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            base: format!("http://{addr}"),
            seen,
            answered,
        }
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().expect("receiver log").clone()
    }

    /// Waits (polling, up to a generous deadline) until `n` requests arrived.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + GENEROUS;
        loop {
            let seen = self.seen();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} requests arrived",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

type ReceiverState = (Answer, Arc<Mutex<Vec<Received>>>, Arc<AtomicUsize>);

async fn record(
    State((answer, seen, answered)): State<ReceiverState>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let n = {
        let mut seen = seen.lock().expect("receiver log");
        seen.push(Received {
            path: uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            headers,
            body,
        });
        seen.len()
    };
    let status = match answer {
        Answer::Ok => StatusCode::OK,
        Answer::FailFirst(code, times) if n <= times => {
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Answer::FailFirst(..) => StatusCode::OK,
        Answer::Stall => std::future::pending().await,
    };
    answered.fetch_add(1, Ordering::SeqCst);
    status
}

fn target(kind: NotifyKind, url: String, events: Option<&[&str]>) -> Notify {
    Notify {
        kind,
        url,
        events: events.map(|e| e.iter().map(|s| s.to_string()).collect()),
    }
}

fn fast() -> Policy {
    Policy {
        attempts: 3,
        timeout: Duration::from_secs(30),
        backoff: Duration::from_millis(10),
        queue: 64,
    }
}

fn ok_event() -> Event {
    Event::BackupSucceeded {
        volume: "app-data".into(),
        snapshot: "0123abcd".into(),
        files: 12,
        size: 4096,
        added: 1024,
        duration: Duration::from_millis(1500),
    }
}

fn failed_event() -> Event {
    Event::BackupFailed {
        volume: "app-data".into(),
        error: "repository unreachable".into(),
    }
}

/// Log lines written while the guard lives (current-thread runtime: the senders run on
/// this thread).
struct Logs {
    buf: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Logs {
    fn capture() -> Logs {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || SharedBuf(writer.clone()))
            .finish();
        Logs {
            buf,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().expect("log buffer")).into_owned()
    }
}

struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn every_event_name_is_a_known_filter_name() {
    let events = [
        Event::BackupStarted { volume: "v".into() },
        ok_event(),
        failed_event(),
        Event::BackupShrunk {
            volume: "v".into(),
            snapshot: "86b7b026".into(),
            shrunk: holdfast_repo::Shrunk {
                reference: holdfast_repo::Id::hash(b"good"),
                files_before: 3030,
                files_after: 0,
                size_before: 1 << 20,
                size_after: 0,
            },
        },
        Event::VerifyFinished {
            ok: true,
            problems: 0,
            restore_time: None,
            summary: String::new(),
        },
        Event::VerifyFinished {
            ok: false,
            problems: 1,
            restore_time: None,
            summary: String::new(),
        },
        Event::UsageAlert {
            volume: "v".into(),
            usage_percent: 95.0,
        },
        Event::GuardRefused { reasons: vec![] },
        Event::BackupStale {
            volume: "v".into(),
            last_success: None,
            max_age: Duration::from_secs(90_000),
        },
        Event::PitrAlert {
            volume: "v".into(),
            database: "db/app.db".into(),
            message: "replication failing".into(),
        },
    ];
    let names: Vec<&str> = events.iter().map(Event::name).collect();
    assert_eq!(names, NOTIFY_EVENTS);
}

#[tokio::test]
async fn webhook_gets_one_json_object_per_event() {
    let rx = Receiver::start(Answer::Ok).await;
    let url = format!("{}/hooks/T0KEN", rx.base);
    let n = Notifier::with_policy(&[target(NotifyKind::Webhook, url, None)], fast());
    n.notify(ok_event());
    n.notify(failed_event());
    n.notify(Event::VerifyFinished {
        ok: true,
        problems: 0,
        restore_time: Some(Duration::from_millis(2500)),
        summary: "2 snapshots checked".into(),
    });
    n.flush(GENEROUS).await;
    let seen = rx.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    let json: Vec<serde_json::Value> = seen
        .iter()
        .map(|r| {
            assert_eq!(r.path, "/hooks/T0KEN");
            assert_eq!(r.headers["content-type"], "application/json");
            serde_json::from_str(&r.body).expect("a JSON body")
        })
        .collect();
    let ok = &json[0];
    assert_eq!(ok["event"], "backup_ok");
    assert_eq!(ok["volume"], "app-data");
    assert_eq!(ok["snapshot"], "0123abcd");
    assert_eq!(ok["files"], 12);
    assert_eq!(ok["size_bytes"], 4096);
    assert_eq!(ok["added_bytes"], 1024);
    assert_eq!(ok["duration_seconds"], 1.5);
    assert_eq!(ok["host"], holdfast_repo::snapshot::hostname());
    let time = ok["time"].as_str().expect("time");
    chrono::DateTime::parse_from_rfc3339(time).expect("RFC 3339 time");
    let failed = &json[1];
    assert_eq!(failed["event"], "backup_failed");
    assert_eq!(failed["volume"], "app-data");
    assert_eq!(failed["error"], "repository unreachable");
    assert!(
        failed["message"]
            .as_str()
            .is_some_and(|m| m.contains("repository unreachable"))
    );
    let drill = &json[2];
    assert_eq!(drill["event"], "verify_ok");
    assert_eq!(drill["restore_seconds"], 2.5);
    assert_eq!(drill["problems"], 0);
}

#[tokio::test]
async fn healthchecks_pings_start_success_and_fail() {
    let rx = Receiver::start(Answer::Ok).await;
    let url = format!("{}/ping/5e0c-SECRET-uuid", rx.base);
    let n = Notifier::with_policy(&[target(NotifyKind::Healthchecks, url, None)], fast());
    n.notify(Event::BackupStarted {
        volume: "app-data".into(),
    });
    n.notify(ok_event());
    n.notify(Event::BackupStarted {
        volume: "app-data".into(),
    });
    n.notify(failed_event());
    // Not about backups (usage) or would hide stopped backups (verify ok): no ping.
    n.notify(Event::UsageAlert {
        volume: "app-data".into(),
        usage_percent: 97.0,
    });
    n.notify(Event::VerifyFinished {
        ok: true,
        problems: 0,
        restore_time: None,
        summary: "fine".into(),
    });
    n.notify(Event::BackupStale {
        volume: "app-data".into(),
        last_success: None,
        max_age: Duration::from_secs(26 * 3600),
    });
    n.flush(GENEROUS).await;
    let seen = rx.seen();
    let paths: Vec<&str> = seen.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/ping/5e0c-SECRET-uuid/start",
            "/ping/5e0c-SECRET-uuid",
            "/ping/5e0c-SECRET-uuid/start",
            "/ping/5e0c-SECRET-uuid/fail",
            "/ping/5e0c-SECRET-uuid/fail",
        ]
    );
    assert!(seen[1].body.contains("12 files"), "{}", seen[1].body);
    assert!(
        seen[3].body.contains("repository unreachable"),
        "{}",
        seen[3].body
    );
    assert!(seen[4].body.contains("never succeeded"), "{}", seen[4].body);
}

#[tokio::test]
async fn ntfy_gets_title_priority_and_tags() {
    let rx = Receiver::start(Answer::Ok).await;
    let url = format!("{}/holdfast-private-topic", rx.base);
    let n = Notifier::with_policy(&[target(NotifyKind::Ntfy, url, None)], fast());
    n.notify(ok_event());
    n.notify(failed_event());
    n.notify(Event::GuardRefused {
        reasons: vec!["app-data: not mounted".into()],
    });
    n.flush(GENEROUS).await;
    let seen = rx.seen();
    assert_eq!(seen.len(), 3);
    let header = |r: &Received, h: &str| {
        r.headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header(&seen[0], "title"), "holdfast: backup of app-data ok");
    assert_eq!(header(&seen[0], "priority"), "default");
    assert_eq!(header(&seen[0], "tags"), "white_check_mark,holdfast");
    assert!(
        seen[0].body.contains("snapshot 0123abcd"),
        "{}",
        seen[0].body
    );
    assert_eq!(
        header(&seen[1], "title"),
        "holdfast: backup of app-data failed"
    );
    assert_eq!(header(&seen[1], "priority"), "high");
    assert!(header(&seen[1], "tags").starts_with("rotating_light"));
    assert!(seen[1].body.contains("repository unreachable"));
    assert_eq!(header(&seen[2], "priority"), "high");
    assert!(seen[2].body.contains("app-data: not mounted"));
    assert!(header(&seen[2], "content-type").starts_with("text/plain"));
}

#[tokio::test]
async fn a_receiver_answering_500_twice_then_200_gets_the_event() {
    let rx = Receiver::start(Answer::FailFirst(500, 2)).await;
    let url = format!("{}/hook", rx.base);
    let n = Notifier::with_policy(&[target(NotifyKind::Webhook, url, None)], fast());
    n.notify(failed_event());
    n.flush(GENEROUS).await;
    let seen = rx.seen();
    assert_eq!(seen.len(), 3, "two failures then the delivery");
    assert!(seen.iter().all(|r| r.body.contains("backup_failed")));
    assert_eq!(rx.answered.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_4xx_answer_is_not_retried() {
    let logs = Logs::capture();
    let rx = Receiver::start(Answer::FailFirst(404, 10)).await;
    let url = format!("{}/wrong/path", rx.base);
    let n = Notifier::with_policy(&[target(NotifyKind::Webhook, url, None)], fast());
    n.notify(failed_event());
    n.flush(GENEROUS).await;
    assert_eq!(rx.seen().len(), 1);
    let text = logs.text();
    assert!(text.contains("answered 404"), "{text}");
    assert!(!text.contains("wrong/path"), "{text}");
}

#[tokio::test]
async fn a_stalled_receiver_blocks_neither_the_caller_nor_other_targets() {
    let stalled = Receiver::start(Answer::Stall).await;
    let fine = Receiver::start(Answer::Ok).await;
    let policy = Policy {
        timeout: Duration::from_secs(3600),
        queue: 2,
        ..fast()
    };
    let logs = Logs::capture();
    let n = Notifier::with_policy(
        &[
            target(NotifyKind::Webhook, format!("{}/stuck", stalled.base), None),
            target(NotifyKind::Webhook, format!("{}/fine", fine.base), None),
        ],
        policy,
    );
    n.notify(ok_event());
    n.notify(ok_event());
    fine.wait_for(2).await;
    // The stalled target holds the first in flight and the second in its queue.
    stalled.wait_for(1).await;
    assert!(!logs.text().contains("is full"));
    n.notify(ok_event());
    n.notify(ok_event());
    // The healthy target gets all four while the stalled one is still stuck on its first.
    assert_eq!(fine.wait_for(4).await.len(), 4);
    assert_eq!(stalled.seen().len(), 1);
    // Its queue (two places) took the third; the fourth was dropped, with a warning.
    assert_eq!(
        logs.text().matches("is full; dropped `backup_ok`").count(),
        1
    );
    // flush gives up at its limit instead of waiting for the stalled target.
    n.flush(Duration::from_millis(50)).await;
    assert!(logs.text().contains("not yet sent"), "{}", logs.text());
}

#[tokio::test]
async fn a_failure_log_line_hides_the_secret_parts_of_the_url() {
    let rx = Receiver::start(Answer::Stall).await;
    let port = rx.base.rsplit(':').next().expect("port").to_string();
    let policy = Policy {
        attempts: 2,
        timeout: Duration::from_millis(200),
        ..fast()
    };
    let logs = Logs::capture();
    let urls = [
        (
            NotifyKind::Healthchecks,
            format!("{}/ping/0f6d-SECRETUUID", rx.base),
        ),
        (
            NotifyKind::Ntfy,
            format!("http://user:SECRETPW@127.0.0.1:{port}/SECRETTOPIC"),
        ),
        (
            NotifyKind::Webhook,
            format!("{}/hook?token=SECRETQUERY", rx.base),
        ),
        // Nothing listens on port 1: a connection error rather than a timeout.
        (NotifyKind::Webhook, "http://127.0.0.1:1/SECRETPATH".into()),
    ];
    let targets: Vec<Notify> = urls
        .iter()
        .map(|(kind, url)| target(*kind, url.clone(), None))
        .collect();
    let n = Notifier::with_policy(&targets, policy);
    n.notify(failed_event());
    n.flush(GENEROUS).await;
    let text = logs.text();
    assert_eq!(
        text.matches("failed 2 times").count(),
        4,
        "one give-up line per target: {text}"
    );
    assert!(text.contains("no answer within 0.2s"), "{text}");
    assert!(
        text.contains(&format!("http://127.0.0.1:{port}/…")),
        "{text}"
    );
    assert!(!text.contains("SECRET"), "{text}");
    assert!(!text.contains("user"), "{text}");
}

#[tokio::test]
async fn an_events_filter_picks_what_a_target_gets() {
    let rx = Receiver::start(Answer::Ok).await;
    let only_failures = target(
        NotifyKind::Webhook,
        format!("{}/failures", rx.base),
        Some(&["backup_failed", "backup_stale"]),
    );
    let everything = target(NotifyKind::Webhook, format!("{}/all", rx.base), None);
    let n = Notifier::with_policy(&[only_failures, everything], fast());
    n.notify(Event::BackupStarted {
        volume: "app-data".into(),
    });
    n.notify(ok_event());
    n.notify(failed_event());
    n.flush(GENEROUS).await;
    let seen = rx.seen();
    let at = |path: &str| -> Vec<String> {
        seen.iter()
            .filter(|r| r.path == path)
            .map(|r| {
                let v: serde_json::Value = serde_json::from_str(&r.body).expect("JSON");
                v["event"].as_str().unwrap_or_default().to_string()
            })
            .collect()
    };
    assert_eq!(at("/failures"), ["backup_failed"]);
    assert_eq!(at("/all"), ["backup_started", "backup_ok", "backup_failed"]);
}

#[tokio::test]
async fn no_targets_means_no_work() {
    let n = Notifier::new(&[]);
    n.notify(failed_event());
    n.flush(Duration::ZERO).await;
    assert!(!n.is_on());
}
