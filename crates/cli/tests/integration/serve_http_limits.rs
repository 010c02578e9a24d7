//! The HTTP server against clients that break the framing or hold connections: a chunk
//! size no body could have is a 400 (not a 500); a connection that stays idle, that
//! sends half a request head, or that stops in the middle of a body, is closed by the
//! server after the configured timeout. The timeouts are set short through
//! `HOLDFAST_HTTP_HEADER_TIMEOUT` / `HOLDFAST_HTTP_BODY_TIMEOUT`; each wait is a
//! blocking read bounded by a generous deadline, which fails the test if the server
//! never closes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::serve_util::{Server, Setup, TOKEN};

/// The bound of every wait for the server to act.
const DEADLINE: Duration = Duration::from_secs(60);

fn server() -> Server {
    let mut setup = Setup::new("[[volumes]]\nname = \"v\"\npath = \"vol\"\n");
    setup
        .env
        .push(("HOLDFAST_HTTP_HEADER_TIMEOUT".into(), "1".into()));
    setup
        .env
        .push(("HOLDFAST_HTTP_BODY_TIMEOUT".into(), "1".into()));
    Server::start(setup, |d| {
        std::fs::create_dir(d.join("vol")).expect("mkdir vol")
    })
}

fn connect(s: &Server) -> TcpStream {
    let c = TcpStream::connect(&s.addr).expect("connect");
    c.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    c
}

/// Reads until the server closes the connection; fails when it does not within the
/// deadline. Returns what it sent.
fn read_until_closed(c: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&out).into_owned(),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return String::from_utf8_lossy(&out).into_owned();
            }
            Err(e) => panic!(
                "the server did not close the connection: {e}; got {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

fn status_of(reply: &str) -> u16 {
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {reply:?}"))
}

#[test]
fn absurd_chunk_size_is_a_400_not_a_500() {
    let s = server();
    for size in ["ffffffffffffffffffff", "zz", "-1"] {
        let mut c = connect(&s);
        let req = format!(
            "PUT /api/v1/files/v/chunked.txt HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{size}\r\nabc\r\n0\r\n\r\n",
            s.addr
        );
        c.write_all(req.as_bytes()).expect("send");
        let reply = read_until_closed(&mut c);
        assert_eq!(status_of(&reply), 400, "chunk size {size}: {reply}");
    }
    assert!(
        !s.path("vol/chunked.txt").exists(),
        "a broken body was stored"
    );
    let leftovers = super::serve_util::files_under(&s.path("vol"));
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    assert!(!s.log().contains(TOKEN));
}

#[test]
fn idle_and_slow_connections_are_closed() {
    let s = server();
    // Idle: connected, sends nothing.
    let mut idle = connect(&s);
    read_until_closed(&mut idle);
    // Idle after a first request on a keep-alive connection.
    let mut kept = connect(&s);
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr);
    kept.write_all(req.as_bytes()).expect("send");
    let reply = read_until_closed(&mut kept);
    assert_eq!(status_of(&reply), 200, "{reply}");
    // Slow head: half a request line, then nothing.
    let mut slow = connect(&s);
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x")
        .expect("send");
    read_until_closed(&mut slow);
    // Slow body: the head and part of the body, then nothing.
    let mut body = connect(&s);
    let req = format!(
        "PUT /api/v1/files/v/slow.txt HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Length: 100\r\n\r\nonly part",
        s.addr
    );
    body.write_all(req.as_bytes()).expect("send");
    let reply = read_until_closed(&mut body);
    assert_eq!(status_of(&reply), 408, "{reply}");
    assert!(!s.path("vol/slow.txt").exists(), "a cut body was stored");
    // The server still answers.
    let mut fresh = connect(&s);
    let req = format!(
        "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        s.addr
    );
    fresh.write_all(req.as_bytes()).expect("send");
    assert_eq!(status_of(&read_until_closed(&mut fresh)), 200);
    assert!(!s.log().contains(TOKEN));
}
