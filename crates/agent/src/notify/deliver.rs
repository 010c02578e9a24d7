//! Sending: one task per target reads its queue and POSTs each event, with a
//! per-request timeout and bounded retries with doubling backoff. A 2xx answer is
//! delivery; a 5xx, a 408, a 429, a timeout or a connection error is retried; any other
//! answer is final. Nothing logged here holds more of the URL than
//! `scheme://host:port/…`: reqwest's errors are stripped of their URL.

use std::sync::Arc;
use std::time::Duration;

use holdfast_volume::config::Notify;
use tokio::sync::mpsc;

use super::render::{self, Body, Outgoing};
use super::{Envelope, Pending};

/// Limits of delivery.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Tries per event, the first included.
    pub attempts: u32,
    /// Longest wait for one request (connect, send, answer).
    pub timeout: Duration,
    /// Wait before the second try; doubled for each further one.
    pub backoff: Duration,
    /// Events a target's queue holds before new ones are dropped.
    pub queue: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            attempts: 3,
            timeout: Duration::from_secs(10),
            backoff: Duration::from_secs(1),
            queue: 64,
        }
    }
}

/// The HTTP client every target shares.
pub(super) fn client(policy: &Policy) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(policy.timeout)
        .user_agent(concat!("holdfast/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The task of one target.
pub(super) struct Worker {
    pub target: Notify,
    pub url: reqwest::Url,
    pub client: reqwest::Client,
    pub policy: Policy,
    pub host: String,
    pub pending: Arc<Pending>,
}

impl Worker {
    /// Sends what arrives on `rx` until every sender is gone.
    pub async fn run(self, mut rx: mpsc::Receiver<Envelope>) {
        while let Some(envelope) = rx.recv().await {
            let outgoing = render::request(
                self.target.kind,
                &self.url,
                &envelope.event,
                envelope.time,
                &self.host,
            );
            if let Some(outgoing) = outgoing {
                self.send(envelope.event.name(), &outgoing).await;
            }
            self.pending.done();
        }
    }

    /// Tries `outgoing` up to `attempts` times; logs the outcome.
    async fn send(&self, name: &str, outgoing: &Outgoing) {
        let shown = self.target.redacted_url();
        let mut wait = self.policy.backoff;
        let attempts = self.policy.attempts.max(1);
        for attempt in 1..=attempts {
            let error = match self.try_once(outgoing).await {
                Ok(()) => {
                    tracing::debug!("notification `{name}` delivered to {shown}");
                    return;
                }
                Err(Failure::Final(why)) => {
                    tracing::warn!("notification `{name}` to {shown} refused: {why}; dropped");
                    return;
                }
                Err(Failure::Retry(why)) => why,
            };
            if attempt == attempts {
                tracing::warn!(
                    "notification `{name}` to {shown} failed {}, last: {error}; dropped",
                    crate::text::count(attempts, "time")
                );
                return;
            }
            tracing::debug!(
                "notification `{name}` to {shown} failed ({error}); retrying in {}ms",
                wait.as_millis()
            );
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2);
        }
    }

    async fn try_once(&self, outgoing: &Outgoing) -> Result<(), Failure> {
        let mut req = self.client.post(outgoing.url.clone());
        for (name, value) in &outgoing.headers {
            req = req.header(*name, value.as_str());
        }
        req = match &outgoing.body {
            Body::Json(v) => req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(v.to_string()),
            Body::Text(t) => req
                .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(t.clone()),
        };
        let answer = req.send().await.map_err(|e| self.failure(e))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        let why = format!("answered {status}");
        if status.is_server_error()
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
        {
            Err(Failure::Retry(why))
        } else {
            Err(Failure::Final(why))
        }
    }

    /// A send error (always worth a retry), described with its causes and without the
    /// URL.
    fn failure(&self, e: reqwest::Error) -> Failure {
        if e.is_timeout() {
            return Failure::Retry(format!(
                "no answer within {}s",
                self.policy.timeout.as_secs_f64()
            ));
        }
        let e = e.without_url();
        let mut why = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            why = format!("{why}: {cause}");
            source = cause.source();
        }
        Failure::Retry(scrub(&why, &self.url))
    }
}

/// Why one try failed.
enum Failure {
    /// Worth another try.
    Retry(String),
    /// Trying again would not help (a 4xx answer).
    Final(String),
}

/// `text` with the URL's path, query and user-info taken out, should a cause quote them.
fn scrub(text: &str, url: &reqwest::Url) -> String {
    let mut out = text.replace(url.as_str(), "…");
    let secrets = [
        url.path(),
        url.query().unwrap_or(""),
        url.username(),
        url.password().unwrap_or(""),
    ];
    for secret in secrets {
        if secret.len() > 1 {
            out = out.replace(secret, "…");
        }
    }
    out
}
