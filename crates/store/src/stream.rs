//! Streamed reads that ride out an outage: when the body of an object stops (a reset,
//! a stall past the request timeout, a server restart), the stream reopens the object
//! at the first byte it has not yet handed out and goes on, under the same retry budget
//! as every other operation ([`crate::StoreOptions::retry_for`], counted from the first
//! failure since the last byte that arrived). The caller sees one unbroken stream of
//! the right bytes, or an [`ErrorKind::Unavailable`] error once the budget is spent.
//!
//! Listings resume the same way: the lister is recreated and the entries up to the
//! last one handed out are skipped, which relies on object stores listing in key order
//! (S3 and Azure Blob do).

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use opendal::{Entry, FuturesBytesStream, Lister, Operator};

use crate::error::{Error, ErrorKind, Result};
use crate::retry::{Outage, StoreOptions, Streak};

/// Where a resumable read stands.
struct Resume {
    op: Operator,
    url: String,
    key: String,
    /// Next offset to hand out.
    pos: u64,
    /// End of the range (exclusive), `None` for the end of the object.
    end: Option<u64>,
    body: Option<FuturesBytesStream>,
    streak: Streak,
    done: bool,
}

impl Resume {
    async fn open(&self) -> Result<FuturesBytesStream> {
        let dal = |e| Error::from_dal(e, "read", &self.url, &self.key);
        let reader = self.op.reader(&self.key).await.map_err(dal)?;
        match self.end {
            Some(end) => reader.into_bytes_stream(self.pos..end).await,
            None => reader.into_bytes_stream(self.pos..).await,
        }
        .map_err(dal)
    }

    /// The next piece, reopening the body after a transient failure.
    async fn next(&mut self) -> Option<Result<Bytes>> {
        loop {
            if self.done || self.end.is_some_and(|e| self.pos >= e) {
                return None;
            }
            let started = Instant::now();
            let err = match self.body.as_mut() {
                Some(body) => match body.next().await {
                    None => return None,
                    Some(Ok(b)) => {
                        self.pos += b.len() as u64;
                        self.streak.reset();
                        return Some(Ok(b));
                    }
                    Some(Err(e)) => {
                        self.body = None;
                        Error::from_io(e, "read", &self.url, &self.key)
                    }
                },
                None => match self.open().await {
                    Ok(body) => {
                        self.body = Some(body);
                        continue;
                    }
                    Err(e) => e,
                },
            };
            if err.kind() != ErrorKind::Unavailable {
                self.done = true;
                return Some(Err(err));
            }
            if let Err(e) = self.streak.failed(started, err).await {
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}

/// Opens `key` (all of it, or `range`) as a stream that resumes after transient
/// failures. Opening itself is retried under the budget; a missing object is
/// [`ErrorKind::NotFound`] at once.
pub(crate) async fn open(
    op: Operator,
    url: &str,
    key: &str,
    range: Option<Range<u64>>,
    options: &StoreOptions,
    outage: &Arc<Outage>,
) -> Result<BoxStream<'static, Result<Bytes>>> {
    let mut r = Resume {
        op,
        url: url.to_string(),
        key: key.to_string(),
        pos: range.as_ref().map_or(0, |r| r.start),
        end: range.map(|r| r.end),
        body: None,
        streak: Streak::new(options, outage, "read", url, key),
        done: false,
    };
    let body = options.run(outage, "read", url, key, || r.open()).await?;
    r.body = Some(body);
    Ok(futures::stream::unfold(
        r,
        |mut r| async move { r.next().await.map(|item| (item, r)) },
    )
    .boxed())
}

/// Where a resumable listing stands.
struct Listing {
    op: Operator,
    url: String,
    dir: String,
    recursive: bool,
    lister: Option<Lister>,
    /// Path of the last entry handed out.
    last: Option<String>,
    streak: Streak,
    done: bool,
}

impl Listing {
    async fn next(&mut self) -> Option<Result<Entry>> {
        loop {
            if self.done {
                return None;
            }
            let started = Instant::now();
            let dal = |e| Error::from_dal(e, "list", &self.url, &self.dir);
            let err = match self.lister.as_mut() {
                None => match self
                    .op
                    .lister_with(&self.dir)
                    .recursive(self.recursive)
                    .await
                {
                    Ok(l) => {
                        self.lister = Some(l);
                        continue;
                    }
                    Err(e) if e.kind() == opendal::ErrorKind::NotFound => return None,
                    Err(e) => dal(e),
                },
                Some(lister) => match lister.next().await {
                    None => return None,
                    Some(Ok(entry)) => {
                        if self.last.as_deref().is_some_and(|l| entry.path() <= l) {
                            continue;
                        }
                        self.last = Some(entry.path().to_string());
                        self.streak.reset();
                        return Some(Ok(entry));
                    }
                    Some(Err(e))
                        if e.kind() == opendal::ErrorKind::NotFound && self.last.is_none() =>
                    {
                        return None;
                    }
                    Some(Err(e)) => {
                        self.lister = None;
                        dal(e)
                    }
                },
            };
            if err.kind() != ErrorKind::Unavailable {
                self.done = true;
                return Some(Err(err));
            }
            if let Err(e) = self.streak.failed(started, err).await {
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}

/// Lists `dir` as a stream that resumes after transient failures (see the module doc).
/// A missing directory lists nothing.
pub(crate) fn list(
    op: Operator,
    url: &str,
    dir: String,
    recursive: bool,
    options: &StoreOptions,
    outage: &Arc<Outage>,
) -> BoxStream<'static, Result<Entry>> {
    let l = Listing {
        streak: Streak::new(options, outage, "list", url, &dir),
        op,
        url: url.to_string(),
        dir,
        recursive,
        lister: None,
        last: None,
        done: false,
    };
    futures::stream::unfold(
        l,
        |mut l| async move { l.next().await.map(|item| (item, l)) },
    )
    .boxed()
}
