//! A 1 GiB file streamed through `PUT` and `GET /api/v1/files/…` comes back intact while
//! the server's peak memory stays far below the file's size.

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};

use super::serve_util::{Server, Setup};

const CHUNK: usize = 1 << 20;
const CHUNKS: usize = 1024;
/// The server may not hold more than this at its peak (the file is 1024 MiB).
const MAX_RSS_KIB: u64 = 256 * 1024;

/// Chunk `i` of the test file: a fixed pattern whose first bytes are the chunk's index,
/// so chunks differ.
fn chunk(base: &[u8], i: usize) -> bytes::Bytes {
    let mut c = base.to_vec();
    c[..8].copy_from_slice(&(i as u64).to_le_bytes());
    bytes::Bytes::from(c)
}

fn base() -> Vec<u8> {
    (0..CHUNK)
        .map(|j| (j.wrapping_mul(7) ^ (j >> 9)) as u8)
        .collect()
}

/// Peak resident memory of a process in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc status")
}

#[tokio::test]
async fn a_gigabyte_streams_through_with_flat_memory() {
    let config = "[[volumes]]\nname = \"data\"\npath = \"vol\"\n";
    let s = Server::start(Setup::new(config), |d| {
        std::fs::create_dir(d.join("vol")).expect("mkdir")
    });
    let base = base();
    let mut expected = Sha256::new();
    for i in 0..CHUNKS {
        expected.update(chunk(&base, i));
    }
    let expected = expected.finalize();
    let body =
        futures::stream::iter(0..CHUNKS).map(move |i| Ok::<_, std::io::Error>(chunk(&base, i)));
    let r = s
        .authed(Method::PUT, "/api/v1/files/data/big.bin")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::CREATED, "{}", s.log());
    let size = std::fs::metadata(s.path("vol/big.bin"))
        .expect("stored")
        .len();
    assert_eq!(size, (CHUNK * CHUNKS) as u64);

    let r = s
        .authed(Method::GET, "/api/v1/files/data/big.bin")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    let mut got = Sha256::new();
    let mut n = 0u64;
    let mut stream = r.bytes_stream();
    while let Some(piece) = stream.next().await {
        let piece = piece.expect("body piece");
        n += piece.len() as u64;
        got.update(&piece);
    }
    assert_eq!(n, size);
    assert_eq!(got.finalize(), expected, "the file came back changed");
    let peak = peak_rss_kib(s.pid());
    assert!(
        peak < MAX_RSS_KIB,
        "server peaked at {peak} KiB for a 1 GiB file"
    );
}
