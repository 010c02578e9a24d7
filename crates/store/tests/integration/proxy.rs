//! A TCP proxy on 127.0.0.1 for outage tests: it forwards to an upstream server, except
//! that the test can queue faults which the next accepted connections get instead (a
//! reset, a connection that is accepted and never answered, a response cut short). The
//! outage is driven by the test's own state: it lasts exactly as many connections as
//! faults were queued, and the proxy counts the faults it served, so a test can check
//! that its reads really met the outage. No sleeps, no timing.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What one accepted connection gets instead of being forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Closed at once with a TCP reset, before a byte is read.
    Reset,
    /// Accepted, read from, and never answered (held open until the proxy is dropped).
    Stall,
    /// Forwarded, but only the first this-many bytes of the response reach the client;
    /// then both sides are closed.
    Cut(usize),
}

#[derive(Default)]
struct State {
    queued: VecDeque<Fault>,
    served: usize,
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
                    let fault = {
                        let mut s = state.lock().expect("proxy state");
                        let f = s.queued.pop_front();
                        if f.is_some() {
                            s.served += 1;
                        }
                        f
                    };
                    match fault {
                        Some(Fault::Reset) => {
                            let _ = conn.set_zero_linger();
                            drop(conn);
                        }
                        Some(Fault::Stall) => state.lock().expect("proxy state").held.push(conn),
                        Some(Fault::Cut(n)) => {
                            tokio::spawn(forward(conn, upstream, Some(n), gen_rx.clone()));
                        }
                        None => {
                            tokio::spawn(forward(conn, upstream, None, gen_rx.clone()));
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

    /// How many faults have been served so far.
    pub fn served(&self) -> usize {
        self.state.lock().expect("proxy state").served
    }

    /// How many queued faults no connection has met yet.
    pub fn pending(&self) -> usize {
        self.state.lock().expect("proxy state").queued.len()
    }
}

/// Copies both ways between `client` and a new connection to `upstream` until either
/// side closes, the generation changes, or (with `limit`) that many response bytes
/// have been passed on.
async fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    limit: Option<usize>,
    mut generation: watch::Receiver<u64>,
) {
    generation.mark_unchanged();
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
        let _ = sw.shutdown().await;
    };
    let down = async {
        let mut left = limit.unwrap_or(usize::MAX);
        let mut buf = vec![0u8; 16 * 1024];
        while left > 0 {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n.min(left),
            };
            if cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
            left -= n;
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = generation.changed() => {}
    }
}
