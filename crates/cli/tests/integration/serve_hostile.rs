//! Hostile HTTP clients against a real `holdfast serve`: path traversal in many more
//! encodings (double-encoded, overlong UTF-8, full-width and leader dots, backslashes,
//! NUL, absolute and drive paths, `;` path parameters, through the volume name, the cache
//! key and the upload volume), oversized headers and bodies, stalled half-sent requests,
//! and 200 concurrent clients. Nothing outside the volume is read or written, no request
//! gets a 5xx, and the server stays up and answers throughout. One summary line:
//! `hostile http: N requests, N refused, 0 escaped, server up`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use reqwest::Method;

use super::serve_util::{Server, Setup, TOKEN, files_under};

const ONE_VOLUME: &str = "[[volumes]]\nname = \"data\"\npath = \"vol\"\n[uploads]\nmax_size = \"64KiB\"\nallow = [\"image/png\"]\n";

/// Traversal forms beyond the basic ones of `serve_api` (which has 15 more).
const FORMS: [&str; 24] = [
    "/api/v1/files/data/%252e%252e/secret.txt",
    "/api/v1/files/data/%252e%252e%252fsecret.txt",
    "/api/v1/files/data/%c0%ae%c0%ae/secret.txt",
    "/api/v1/files/data/%c0%ae%c0%ae%c0%afsecret.txt",
    "/api/v1/files/data/%e0%80%ae%e0%80%ae/secret.txt",
    "/api/v1/files/data/%ef%bc%8e%ef%bc%8e/secret.txt",
    "/api/v1/files/data/%ef%bc%8e%ef%bc%8e%ef%bc%8fsecret.txt",
    "/api/v1/files/data/%e2%80%a5/secret.txt",
    "/api/v1/files/data/..\\secret.txt",
    "/api/v1/files/data/..%5c..%5csecret.txt",
    "/api/v1/files/data/%2e%2e%5csecret.txt",
    "/api/v1/files/data/..%00/secret.txt",
    "/api/v1/files/data/%00../secret.txt",
    "/api/v1/files/data/..;/secret.txt",
    "/api/v1/files/data/%2e%2e;x=1/secret.txt",
    "/api/v1/files/%2e%2e/secret.txt",
    "/api/v1/files/..%2fvol/secret.txt",
    "/api/v1/files/data/C:%5csecret.txt",
    "/api/v1/files/data/%5c%5c127.0.0.1%5cshare%5csecret.txt",
    "/api/v1/files/data/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/api/v1/files/data/%2fproc%2fself%2fenviron",
    "/api/v1/cache/..%2f..%2fsecret.txt",
    "/api/v1/cache/%2e%2e%2fsecret.txt",
    "/api/v1/uploads/..%2fdata",
];

fn start() -> Server {
    Server::start(Setup::new(ONE_VOLUME), |d| {
        std::fs::create_dir(d.join("vol")).expect("mkdir vol");
        std::fs::write(d.join("secret.txt"), "outside").expect("write outside file");
    })
}

/// Every file outside the volume directory, with its content.
fn outside(s: &Server) -> Vec<(String, Vec<u8>)> {
    files_under(s.dir())
        .into_iter()
        .filter(|f| !f.starts_with("vol/"))
        .map(|f| {
            let bytes = std::fs::read(s.path(&f)).unwrap_or_default();
            (f, bytes)
        })
        .collect()
}

/// Sends raw bytes and returns the status code, or None when the server closed the
/// connection without a response.
fn raw_bytes(s: &Server, request: &[u8]) -> Option<u16> {
    let mut c = TcpStream::connect(&s.addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let _ = c.write_all(request);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
}

async fn healthy(s: &Server) {
    let r = reqwest::get(s.url("/healthz")).await.expect("healthz");
    assert_eq!(r.status(), 200, "the server stays up");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_http_clients_reach_nothing_outside_and_the_server_stays_up() {
    let s = start();
    let before = outside(&s);
    let (mut requests, mut refused) = (0usize, 0usize);
    for path in FORMS {
        for method in ["GET", "PUT", "DELETE", "HEAD", "POST"] {
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Content-Length: 5\r\nConnection: close\r\n\r\npwned",
                s.addr
            );
            requests += 1;
            match raw_bytes(&s, request.as_bytes()) {
                Some(code) => {
                    assert!(code < 500, "{method} {path} answered {code}");
                    if code >= 400 {
                        refused += 1;
                    }
                }
                None => refused += 1,
            }
        }
    }
    assert_eq!(
        outside(&s),
        before,
        "a traversal reached outside the volume"
    );
    healthy(&s).await;

    // Oversized headers: one 1 MiB value, and 20,000 small headers.
    let big = format!(
        "GET /api/v1/files/data/x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {TOKEN}\r\n\
         X-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let many = format!(
        "GET /api/v1/files/data/x HTTP/1.1\r\nHost: h\r\n{}Connection: close\r\n\r\n",
        "X-A: b\r\n".repeat(20_000)
    );
    for r in [big, many] {
        requests += 1;
        let code = raw_bytes(&s, r.as_bytes());
        assert!(
            code.is_none_or(|c| (400..500).contains(&c)),
            "oversized headers answered {code:?}"
        );
        refused += 1;
    }
    healthy(&s).await;

    // A body that claims 10 GiB and stops after 1 MiB: no file appears under its name.
    {
        let mut c = TcpStream::connect(&s.addr).expect("connect");
        let head = format!(
            "PUT /api/v1/files/data/claimed.bin HTTP/1.1\r\nHost: h\r\n\
             Authorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n",
            10u64 << 30
        );
        c.write_all(head.as_bytes()).expect("head");
        let _ = c.write_all(&vec![7u8; 1 << 20]);
        requests += 1;
    }
    // An upload over the size limit is refused.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vec![0u8; 200_000]).file_name("big.png"),
    );
    let r = s
        .authed(Method::POST, "/api/v1/uploads/data")
        .multipart(form)
        .send()
        .await
        .expect("upload");
    requests += 1;
    assert!(
        r.status().is_client_error(),
        "an upload over max_size: {}",
        r.status()
    );
    refused += 1;

    // 50 clients that send half a request and stall, while 200 clients work at once.
    let stalled: Vec<TcpStream> = (0..50)
        .map(|i| {
            let mut c = TcpStream::connect(&s.addr).expect("connect");
            let _ =
                c.write_all(format!("PUT /api/v1/files/data/slow{i} HTTP/1.1\r\nHo").as_bytes());
            c
        })
        .collect();
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let client = client.clone();
            let url = s.url(&format!("/api/v1/files/data/c/{i}.txt"));
            tokio::spawn(async move {
                let body = format!("client {i}\n");
                let put = client
                    .put(&url)
                    .bearer_auth(TOKEN)
                    .body(body.clone())
                    .send()
                    .await
                    .map(|r| r.status().as_u16());
                let got = client
                    .get(&url)
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .map(|r| r.status().as_u16());
                (put, got, body)
            })
        })
        .collect();
    let mut ok = 0usize;
    for t in tasks {
        let (put, got, _) = t.await.expect("task");
        requests += 2;
        let (put, got) = (put.expect("put"), got.expect("get"));
        assert!(
            put < 300 && got == 200,
            "concurrent client: PUT {put}, GET {got}"
        );
        ok += 1;
    }
    for i in 0..200 {
        assert_eq!(
            std::fs::read_to_string(s.path(&format!("vol/c/{i}.txt"))).expect("written"),
            format!("client {i}\n")
        );
    }
    drop(stalled);
    healthy(&s).await;
    assert!(
        !s.path("vol/claimed.bin").exists(),
        "a body cut short was kept under its name"
    );
    assert_eq!(outside(&s), before, "something outside the volume changed");
    println!(
        "hostile http: {requests} requests, {refused} refused, {ok} concurrent clients served, 0 escaped, server up"
    );
}
