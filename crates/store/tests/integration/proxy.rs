//! A TCP proxy on 127.0.0.1 for fault tests: it forwards to an upstream HTTP server,
//! except that some accepted connections get a fault instead: a reset, a connection that
//! is accepted and never answered, an HTTP error status (500, 503, 429), a response cut
//! short, a request cut short (a half-sent upload), a response with one byte flipped, or
//! a request with one byte of its body flipped (an upload damaged on the way).
//!
//! Faults come from two sources, both driven by the test's own state, never by time:
//! - [`Proxy::fail_next`] queues faults that the next accepted connections get in order
//!   (an outage that lasts exactly as many connections as faults were queued);
//! - [`Proxy::fail_next_to`] aims faults at the next requests of a method for some path
//!   (a pack read, say), whatever comes between;
//! - [`Proxy::chaos`] gives each accepted connection, with a fixed-seed probability, a
//!   fault drawn from a list (faults spread over a whole backup or restore).
//!
//! The proxy counts the faults it served per kind ([`Proxy::counts`]), so a test can
//! report how many it injected and check that its operations really met them. It only
//! ever listens on loopback and holds at most the connections the client opens.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What one accepted connection gets instead of being forwarded whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Closed at once with a TCP reset, before a byte is read.
    Reset,
    /// Accepted, read from, and never answered (held open until the proxy is dropped).
    Stall,
    /// Forwarded, but only the first this-many bytes of the response reach the client;
    /// then both sides are closed.
    Cut(usize),
    /// The request head is read, then answered with this HTTP status (500, 503, 429…)
    /// and an empty body, and the connection is closed; nothing reaches the server.
    Status(u16),
    /// Forwarded, but only the first this-many bytes of the request reach the server
    /// (an upload cut short); then both sides are closed.
    CutRequest(usize),
    /// Forwarded, but the byte this many bytes into the response body is flipped (a
    /// response whose body is shorter passes unchanged and is not counted as corrupted).
    Corrupt(usize),
    /// Forwarded, but the byte this many bytes into the request body is flipped (an
    /// upload damaged on the way; a shorter body passes unchanged and is not counted).
    CorruptRequest(usize),
}

impl Fault {
    /// A stable name of the fault's kind, for the per-kind counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Reset => "reset",
            Fault::Stall => "stall",
            Fault::Cut(_) => "cut-response",
            Fault::Status(500) => "http-500",
            Fault::Status(503) => "http-503",
            Fault::Status(429) => "http-429",
            Fault::Status(_) => "http-other",
            Fault::CutRequest(_) => "cut-request",
            Fault::Corrupt(_) => "corrupt",
            Fault::CorruptRequest(_) => "corrupt-request",
        }
    }
}

/// Faults drawn at random: each connection gets one with probability `per_mille`/1000.
struct Chaos {
    rng: u64,
    per_mille: u64,
    kinds: Vec<Fault>,
}

impl Chaos {
    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn draw(&mut self) -> Option<Fault> {
        if self.kinds.is_empty() || self.next() % 1000 >= self.per_mille {
            return None;
        }
        let i = (self.next() % self.kinds.len() as u64) as usize;
        Some(self.kinds[i])
    }
}

#[derive(Default)]
struct State {
    queued: VecDeque<Fault>,
    /// Faults aimed at requests whose request line starts with the first text (the
    /// method) and contains the second.
    aimed: VecDeque<(String, String, Fault)>,
    chaos: Option<Chaos>,
    served: usize,
    by_kind: BTreeMap<&'static str, usize>,
    held: Vec<TcpStream>,
}

/// A running proxy; dropping it stops it and closes every connection.
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    /// Bumped when an outage starts: forwarded connections end, so pooled keep-alive
    /// connections cannot carry requests past the outage.
    generation: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.generation.send_modify(|g| *g += 1);
    }
}

impl Proxy {
    /// Starts a proxy in front of `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let state = Arc::new(Mutex::new(State::default()));
        let (generation, gen_rx) = watch::channel(0u64);
        let task = {
            let state = state.clone();
            tokio::spawn(async move {
                while let Ok((conn, _)) = listener.accept().await {
                    let (fault, close_each) = {
                        let mut s = state.lock().expect("proxy state");
                        // A fault drawn or aimed per request needs each request on a
                        // connection of its own.
                        let close_each = s.chaos.as_ref().is_some_and(|c| c.per_mille > 0)
                            || !s.aimed.is_empty();
                        let f = match s.queued.pop_front() {
                            Some(f) => Some(f),
                            None => s.chaos.as_mut().and_then(Chaos::draw),
                        };
                        if let Some(f) = f {
                            s.served += 1;
                            // A fault applied while forwarding is counted there, when it
                            // really happens (a body long enough to cut or flip).
                            if matches!(f, Fault::Reset | Fault::Stall | Fault::Status(_)) {
                                *s.by_kind.entry(f.kind()).or_default() += 1;
                            }
                        }
                        (f, close_each)
                    };
                    let state = state.clone();
                    let generation = gen_rx.clone();
                    match fault {
                        Some(Fault::Reset) => {
                            let _ = conn.set_zero_linger();
                            drop(conn);
                        }
                        Some(Fault::Stall) => state.lock().expect("proxy state").held.push(conn),
                        Some(Fault::Status(code)) => {
                            tokio::spawn(answer(conn, code));
                        }
                        f => {
                            tokio::spawn(forward(conn, upstream, f, close_each, state, generation));
                        }
                    }
                }
            })
        };
        Proxy {
            addr,
            state,
            generation,
            task,
        }
    }

    /// The address clients should connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts an outage: the next `faults.len()` connections get these faults in order,
    /// and every connection forwarded so far is closed.
    pub fn fail_next(&self, faults: &[Fault]) {
        self.state
            .lock()
            .expect("proxy state")
            .queued
            .extend(faults.iter().copied());
        self.generation.send_modify(|g| *g += 1);
    }

    /// The next `faults.len()` requests with this method (`GET`) whose path (the
    /// request target without its query) contains `part` (such as `/data/`) get these
    /// faults in order, one each, while other requests pass.
    /// While aimed faults wait, every request comes on a connection of its own.
    /// Only faults applied while forwarding: [`Fault::Cut`], [`Fault::CutRequest`],
    /// [`Fault::Corrupt`] and [`Fault::CorruptRequest`].
    pub fn fail_next_to(&self, method: &str, part: &str, faults: &[Fault]) {
        let start = format!("{method} ");
        self.state
            .lock()
            .expect("proxy state")
            .aimed
            .extend(faults.iter().map(|f| (start.clone(), part.to_owned(), *f)));
    }

    /// How many aimed faults no request has met yet.
    pub fn aimed_pending(&self) -> usize {
        self.state.lock().expect("proxy state").aimed.len()
    }

    /// From now on each accepted connection gets, with probability `per_mille`/1000, a
    /// fault drawn from `kinds` (a fixed-seed generator), and every connection forwarded
    /// so far is closed. `per_mille` 0 ends it.
    pub fn chaos(&self, seed: u64, per_mille: u64, kinds: &[Fault]) {
        self.state.lock().expect("proxy state").chaos = Some(Chaos {
            rng: seed | 1,
            per_mille,
            kinds: kinds.to_vec(),
        });
        self.generation.send_modify(|g| *g += 1);
    }

    /// How many faults have been served so far.
    pub fn served(&self) -> usize {
        self.state.lock().expect("proxy state").served
    }

    /// Faults served so far per kind ([`Fault::kind`]); corruptions only when a byte
    /// was flipped.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        self.state.lock().expect("proxy state").by_kind.clone()
    }

    /// How many queued faults no connection has met yet.
    pub fn pending(&self) -> usize {
        self.state.lock().expect("proxy state").queued.len()
    }
}

/// Reads the request head (up to a blank line, at most 64 KiB) and answers `code`.
async fn answer(mut conn: TcpStream, code: u16) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 << 10 {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let reason = match code {
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let reply = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nRetry-After: 0\r\nConnection: close\r\n\r\n"
    );
    let _ = conn.write_all(reply.as_bytes()).await;
    let _ = conn.shutdown().await;
}

/// Copies both ways between `client` and a new connection to `upstream` until either
/// side closes or the generation changes, applying `fault` (a cut response, a cut
/// request, a flipped response byte or a flipped request byte) or, when it has none, the
/// first fault aimed at its request line ([`Proxy::fail_next_to`]). With `close_each`
/// (while chaos is on) the first request and the first response both get a
/// `Connection: close` header, so neither side keeps the connection after one
/// exchange (Azurite ignores the request's header) and every request of the client
/// comes on a new connection, which draws its own fault. A fault that really happened
/// is counted.
async fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    fault: Option<Fault>,
    close_each: bool,
    state: Arc<Mutex<State>>,
    mut generation: watch::Receiver<u64>,
) {
    generation.mark_unchanged();
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    // The fault in force: decided before the request head reaches the server, so before
    // any byte of the response can come back.
    let decided = Mutex::new(fault);
    // Counted the moment it is applied (before the damaged bytes go on), so a test that
    // reads the counts after its client is done sees it.
    let counted = std::sync::atomic::AtomicBool::new(false);
    let happened = |f: Fault| {
        if !counted.swap(true, std::sync::atomic::Ordering::Relaxed) {
            *state
                .lock()
                .expect("proxy state")
                .by_kind
                .entry(f.kind())
                .or_default() += 1;
        }
    };
    let up = async {
        let mut left = usize::MAX;
        let mut flip = None;
        let mut buf = vec![0u8; 16 * 1024];
        let mut first = true;
        while left > 0 {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if first {
                let mut d = decided.lock().expect("decided fault");
                if d.is_none() {
                    *d = aimed(&state, &buf[..n]);
                }
                match *d {
                    Some(Fault::CutRequest(k)) => left = k,
                    Some(Fault::CorruptRequest(k)) => flip = Some(BodyFlip::new(k)),
                    _ => {}
                }
            }
            let n = n.min(left);
            let mut chunk = buf[..n].to_vec();
            if first
                && close_each
                && let Some(p) = chunk.windows(2).position(|w| w == b"\r\n")
            {
                chunk.splice(p + 2..p + 2, b"Connection: close\r\n".iter().copied());
            }
            first = false;
            if let Some(f) = flip.as_mut()
                && f.apply(&mut chunk)
            {
                happened(Fault::CorruptRequest(0));
                flip = None;
            }
            if n == left {
                happened(Fault::CutRequest(0));
            }
            if sw.write_all(&chunk).await.is_err() {
                break;
            }
            left -= n;
        }
        let _ = sw.shutdown().await;
    };
    let down = async {
        let mut left = usize::MAX;
        let mut flip = None;
        let mut buf = vec![0u8; 16 * 1024];
        let mut first = true;
        while left > 0 {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if first {
                match *decided.lock().expect("decided fault") {
                    Some(Fault::Cut(k)) => left = k,
                    Some(Fault::Corrupt(k)) => flip = Some(BodyFlip::new(k)),
                    _ => {}
                }
            }
            let n = n.min(left);
            let chunk = &mut buf[..n];
            if let Some(f) = flip.as_mut()
                && f.apply(chunk)
            {
                happened(Fault::Corrupt(0));
                flip = None;
            }
            if n == left {
                happened(Fault::Cut(0));
            }
            let mut out = chunk.to_vec();
            if first
                && close_each
                && let Some(p) = out.windows(2).position(|w| w == b"\r\n")
            {
                out.splice(p + 2..p + 2, b"Connection: close\r\n".iter().copied());
            }
            first = false;
            if cw.write_all(&out).await.is_err() {
                break;
            }
            left -= n;
        }
    };
    tokio::select! {
        () = up => {}
        () = down => {}
        _ = generation.changed() => {}
    }
}

/// The first fault aimed at a request line that `head` (the first bytes of a request)
/// starts with, taken off its queue.
fn aimed(state: &Mutex<State>, head: &[u8]) -> Option<Fault> {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    // The path of the request target, without its query (a listing names its prefix in
    // the query).
    let target = line.split(' ').nth(1).unwrap_or_default();
    let path = target.split('?').next().unwrap_or_default();
    let mut s = state.lock().expect("proxy state");
    let i = s.aimed.iter().position(|(method, part, _)| {
        line.starts_with(method.as_str()) && path.contains(part.as_str())
    })?;
    let (_, _, f) = s.aimed.remove(i)?;
    s.served += 1;
    Some(f)
}

/// Flips the byte `k` bytes into the body of one HTTP message (which starts after the
/// first blank line), fed to it piece by piece as the bytes pass.
struct BodyFlip {
    k: usize,
    head: Vec<u8>,
    body_start: Option<usize>,
    passed: usize,
}

impl BodyFlip {
    fn new(k: usize) -> BodyFlip {
        BodyFlip {
            k,
            head: Vec::new(),
            body_start: None,
            passed: 0,
        }
    }

    /// Flips the byte if it is in `chunk`; true when it was flipped.
    fn apply(&mut self, chunk: &mut [u8]) -> bool {
        if self.body_start.is_none() {
            self.head.extend_from_slice(chunk);
            if let Some(p) = self.head.windows(4).position(|w| w == b"\r\n\r\n") {
                self.body_start = Some(p + 4);
            }
        }
        let mut done = false;
        if let Some(b) = self.body_start {
            let target = b + self.k;
            if target >= self.passed && target < self.passed + chunk.len() {
                chunk[target - self.passed] ^= 0x20;
                done = true;
            }
        }
        self.passed += chunk.len();
        done
    }
}
