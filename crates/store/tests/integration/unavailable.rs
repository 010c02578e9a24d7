//! An unreachable, stalled or flapping store is "unavailable", never "not found" or
//! damaged, and never a hang: refused and stalled endpoints fail with
//! [`ErrorKind::Unavailable`] once the retry budget is spent, and reads through an
//! outage that ends within the budget return the right bytes.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use holdfast_store::{ErrorKind, ListOptions, Store, StoreOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::proxy::{Fault, Proxy};

/// A small retry budget and request timeout, so the failing cases end quickly.
fn impatient() -> StoreOptions {
    StoreOptions::default()
        .with_retry_for(Duration::from_millis(600))
        .with_request_timeout(Duration::from_millis(250))
}

/// An S3 store at `addr` with credentials in the URL (so nothing else is consulted).
fn s3_at(addr: SocketAddr) -> Store {
    let url = format!("s3://AKIDTEST:SECRETTEST@bucket/p?endpoint=http://{addr}&region=test");
    Store::open_with(&url, impatient()).expect("open")
}

/// Every operation kind fails as `Unavailable`, naming the store and the key.
async fn all_unavailable(store: &Store) {
    let check = |what: &str, e: holdfast_store::Error| {
        let msg = e.to_string();
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{what}: {msg}");
        assert!(msg.contains("unavailable"), "{what}: {msg}");
        assert!(msg.contains(store.url()), "{what}: {msg}");
        assert!(
            !format!("{msg} {e:?}").contains("SECRETTEST"),
            "{what}: {e:?}"
        );
    };
    let e = store.read("config").await.expect_err("read");
    assert!(e.to_string().contains("config"), "{e}");
    check("read", e);
    check(
        "range",
        store
            .read_range("data/ab/p", 0..10)
            .await
            .expect_err("range"),
    );
    check("stat", store.stat("config").await.expect_err("stat"));
    let listed: Result<Vec<_>, _> = store
        .list("snapshots/", ListOptions::default())
        .try_collect()
        .await;
    check("list", listed.expect_err("list"));
    check(
        "write",
        store
            .write("locks/x", Bytes::from_static(b"1"))
            .await
            .expect_err("write"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_endpoint_is_unavailable_not_a_hang() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    all_unavailable(&s3_at(addr)).await;
    holder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_endpoint_is_unavailable() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    all_unavailable(&s3_at(addr)).await;
}

/// A server that answers with headers and the first bytes of a body, then stops; asked
/// again for the rest (a range request), it sends the headers and nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_stalled_midway_is_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let req = String::from_utf8_lossy(&req).to_ascii_lowercase();
            let start: Option<u64> = req
                .split("range: bytes=")
                .nth(1)
                .and_then(|r| r.split('-').next())
                .and_then(|n| n.trim().parse().ok())
                .filter(|&n| n > 0);
            let head = match start {
                None => "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789".to_string(),
                Some(n) => format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {n}-999/1000\r\n\
                     Content-Length: {}\r\n\r\n",
                    1000 - n
                ),
            };
            let _ = conn.write_all(head.as_bytes()).await;
            held.push(conn);
        }
    });
    let store = s3_at(addr);
    let e = store.read("data/ab/pack").await.expect_err("read");
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    let stream = store.read_stream("data/ab/pack").await;
    let e = match stream {
        Ok(s) => s
            .try_collect::<Vec<Bytes>>()
            .await
            .expect_err("stream stalls"),
        Err(e) => e,
    };
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    server.abort();
}

fn pattern(len: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 12) as u8)
            .collect::<Vec<u8>>(),
    )
}

/// The S3 test server's URL with its endpoint replaced by the proxy's.
fn through(url: &str, proxy: SocketAddr) -> (String, SocketAddr) {
    let mut u = url::Url::parse(url).expect("url");
    let pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    let endpoint = pairs
        .iter()
        .find(|(k, _)| k == "endpoint")
        .map(|(_, v)| v.clone())
        .expect("HOLDFAST_TEST_S3_URL has an endpoint");
    let ep = url::Url::parse(&endpoint).expect("endpoint url");
    let upstream = ep
        .socket_addrs(|| None)
        .expect("endpoint address")
        .into_iter()
        .next()
        .expect("one address");
    u.query_pairs_mut().clear();
    for (k, v) in &pairs {
        let v = if k == "endpoint" {
            format!("http://{proxy}")
        } else {
            v.clone()
        };
        u.query_pairs_mut().append_pair(k, &v);
    }
    (u.to_string(), upstream)
}

/// Garage behind the proxy goes away (resets, stalls, responses cut short) during a
/// sequence of reads and comes back after a fixed number of failed connections: every
/// read returns the right bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_reads_ride_out_an_outage() {
    let base = super::backends::unique(&super::backends::server_url("HOLDFAST_TEST_S3_URL"));
    let direct = Store::open(&base).expect("open direct");
    let objects: Vec<(String, Bytes)> = (0..6u8)
        .map(|i| (format!("data/0{i}/pack"), pattern(3 << 20, i)))
        .collect();
    for (k, v) in &objects {
        direct.write(k, v.clone()).await.expect("seed object");
    }
    let url_probe = through(&base, "127.0.0.1:1".parse().expect("addr"));
    let proxy = Proxy::start(url_probe.1).await;
    let (url, _) = through(&base, proxy.addr());
    let opts = StoreOptions::default()
        .with_retry_for(Duration::from_secs(90))
        .with_request_timeout(Duration::from_secs(2));
    let store = Store::open_with(&url, opts).expect("open proxied");

    assert_eq!(store.read(&objects[0].0).await.expect("warm"), objects[0].1);
    let mut queued = 0;
    let outages: [&[Fault]; 4] = [
        &[Fault::Reset; 8],
        &[Fault::Stall, Fault::Stall],
        &[
            Fault::Cut(64 << 10),
            Fault::Cut(1 << 20),
            Fault::Reset,
            Fault::Cut(2 << 20),
        ],
        &[Fault::Reset; 5],
    ];
    for (i, faults) in outages.iter().enumerate() {
        proxy.fail_next(faults);
        queued += faults.len();
        let (k, v) = &objects[i + 1];
        match i {
            0 | 1 => assert_eq!(&store.read(k).await.expect("read"), v, "{k}"),
            2 => {
                let got: Vec<Bytes> = store
                    .read_stream(k)
                    .await
                    .expect("stream")
                    .try_collect()
                    .await
                    .expect("stream body");
                assert_eq!(&got.concat(), v, "{k}");
            }
            _ => {
                let r = store.read_range(k, 1000..(2 << 20)).await.expect("range");
                assert_eq!(r, v.slice(1000..(2 << 20)), "{k}");
            }
        }
        assert_eq!(proxy.pending(), 0, "outage {i} was met in full");
    }
    proxy.fail_next(&[Fault::Reset; 4]);
    queued += 4;
    let listed: Vec<String> = store
        .list(
            "data/",
            ListOptions {
                recursive: true,
                filter: None,
            },
        )
        .map_ok(|m| m.key)
        .try_collect()
        .await
        .expect("list");
    assert_eq!(listed.len(), objects.len(), "{listed:?}");
    assert_eq!(proxy.served(), queued);
}
