//! `holdfast serve` over HTTP: health, readiness, status, metrics, the token gate, the
//! file API with its refusals, uploads and the TTL cache.

use reqwest::Method;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use super::serve_util::{PNG, Server, Setup, TOKEN, files_under};

const ONE_VOLUME: &str = "[[volumes]]\nname = \"data\"\npath = \"vol\"\n";

fn one_volume() -> Server {
    Server::start(Setup::new(ONE_VOLUME), |d| {
        std::fs::create_dir(d.join("vol")).expect("mkdir vol")
    })
}

#[tokio::test]
async fn health_status_and_metrics() {
    let s = one_volume();
    let r = reqwest::get(s.url("/healthz")).await.expect("healthz");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("body").trim(), "ok");
    let r = reqwest::get(s.url("/readyz")).await.expect("readyz");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let r = s
        .authed(Method::GET, "/api/v1/status")
        .send()
        .await
        .expect("status");
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&r.text().await.expect("body")).expect("json");
    let first = &v.as_array().expect("an array")[0];
    for key in [
        "name",
        "path",
        "mounted",
        "writable",
        "size_total",
        "size_available",
        "usage_percent",
        "database_exists",
        "last_check",
        "alerts",
    ] {
        assert!(first.get(key).is_some(), "status lacks {key}: {first}");
    }
    assert_eq!(first["name"], "data");
    let r = reqwest::get(s.url("/metrics")).await.expect("metrics");
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.expect("body");
    assert!(
        text.contains("holdfast_volume_used_bytes{volume=\"data\"}"),
        "{text}"
    );
    assert!(
        text.contains("holdfast_volume_writable{volume=\"data\"} 1"),
        "{text}"
    );
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(line.starts_with("holdfast_"), "unprefixed metric: {line}");
    }
}

#[tokio::test]
async fn readyz_names_a_missing_volume_and_does_not_create_it() {
    let config = format!(
        "{ONE_VOLUME}[[volumes]]\nname = \"lost\"\npath = \"not-there\"\nrequire_mount = true\n"
    );
    let s = Server::start(Setup::new(&config), |d| {
        std::fs::create_dir(d.join("vol")).expect("mkdir")
    });
    let r = reqwest::get(s.url("/readyz")).await.expect("readyz");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v: serde_json::Value = serde_json::from_str(&r.text().await.expect("body")).expect("json");
    assert_eq!(v["ready"], false);
    let reasons = v["reasons"].as_array().expect("reasons");
    assert!(reasons.iter().all(|r| r["volume"] == "lost"), "{v}");
    assert!(!reasons.is_empty());
    let r = s
        .authed(Method::PUT, "/api/v1/files/lost/a.txt")
        .body("x")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        !s.path("not-there").exists(),
        "serving must not create a missing volume"
    );
}

#[tokio::test]
async fn api_is_off_without_a_token() {
    let setup = Setup {
        token: None,
        ..Setup::new(ONE_VOLUME)
    };
    let s = Server::start(setup, |d| {
        std::fs::create_dir(d.join("vol")).expect("mkdir")
    });
    for path in [
        "/api/v1/status",
        "/api/v1/files/data/a.txt",
        "/api/v1/cache/k",
        "/api/v1/snapshots",
    ] {
        let r = s.authed(Method::GET, path).send().await.expect("request");
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    for path in ["/", "/healthz", "/readyz", "/metrics"] {
        let r = reqwest::get(s.url(path)).await.expect("request");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_401() {
    let s = one_volume();
    let client = reqwest::Client::new();
    let r = client
        .get(s.url("/api/v1/status"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for auth in [
        "Bearer wrong",
        &format!("Bearer {TOKEN}x"),
        &format!("Basic {TOKEN}"),
        "Bearer ",
    ] {
        let r = client
            .get(s.url("/api/v1/status"))
            .header("Authorization", auth)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth}");
    }
    let r = client
        .put(s.url("/api/v1/files/data/x.txt"))
        .body("x")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!s.path("vol/x.txt").exists());
}

#[tokio::test]
async fn files_put_get_range_etag_head_list_delete() {
    let s = one_volume();
    let body = "0123456789abcdef";
    let r = s
        .authed(Method::PUT, "/api/v1/files/data/docs/a.txt")
        .body(body)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        std::fs::read_to_string(s.path("vol/docs/a.txt")).expect("on disk"),
        body
    );
    let r = s
        .authed(Method::PUT, "/api/v1/files/data/docs/a.txt")
        .body(body)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::OK, "a replacement is 200");
    let r = s
        .authed(Method::GET, "/api/v1/files/data/docs/a.txt")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    let etag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("etag")
        .to_string();
    assert_eq!(r.text().await.expect("body"), body);

    let r = s
        .authed(Method::GET, "/api/v1/files/data/docs/a.txt")
        .header("Range", "bytes=2-5")
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok()),
        Some("bytes 2-5/16")
    );
    assert_eq!(r.text().await.expect("body"), "2345");
    let r = s
        .authed(Method::GET, "/api/v1/files/data/docs/a.txt")
        .header("Range", "bytes=-3")
        .send()
        .await
        .expect("range");
    assert_eq!(r.text().await.expect("body"), "def");
    let r = s
        .authed(Method::GET, "/api/v1/files/data/docs/a.txt")
        .header("Range", "bytes=99-")
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok()),
        Some("bytes */16")
    );

    let r = s
        .authed(Method::GET, "/api/v1/files/data/docs/a.txt")
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("conditional");
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = s
        .authed(Method::HEAD, "/api/v1/files/data/docs/a.txt")
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()),
        Some("16")
    );
    assert_eq!(
        r.headers()
            .get("accept-ranges")
            .and_then(|v| v.to_str().ok()),
        Some("bytes")
    );

    for name in ["docs/b.txt", "docs/c.txt", "other/d.txt"] {
        let r = s
            .authed(Method::PUT, &format!("/api/v1/files/data/{name}"))
            .body(name.to_string())
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/api/v1/files/data/?prefix=docs/&limit=2&cursor={cursor}");
        let r = s.authed(Method::GET, &path).send().await.expect("list");
        assert_eq!(r.status(), StatusCode::OK);
        let v: serde_json::Value =
            serde_json::from_str(&r.text().await.expect("body")).expect("json");
        for item in v["items"].as_array().expect("items") {
            seen.push(item["path"].as_str().expect("path").to_string());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ["docs/a.txt", "docs/b.txt", "docs/c.txt"]);

    let r = s
        .authed(Method::DELETE, "/api/v1/files/data/docs/a.txt")
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(!s.path("vol/docs/a.txt").exists());
    let r = s
        .authed(Method::GET, "/api/v1/files/data/docs/a.txt")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s
        .authed(Method::DELETE, "/api/v1/files/data/docs/a.txt")
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    for path in ["docs", "docs/b.txt/x"] {
        let r = s
            .authed(Method::PUT, &format!("/api/v1/files/data/{path}"))
            .body("x")
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), StatusCode::CONFLICT, "{path}");
    }
    assert_eq!(
        files_under(&s.path("vol/.holdfast-tmp")),
        Vec::<String>::new()
    );
    let r = s
        .authed(Method::GET, "/api/v1/files/nope/a.txt")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn traversal_forms_are_refused_and_touch_nothing() {
    let s = one_volume();
    std::fs::write(s.path("secret.txt"), "outside").expect("write outside file");
    let before = files_under(s.dir());
    let forms = [
        "/api/v1/files/data/../secret.txt",
        "/api/v1/files/data/../../secret.txt",
        "/api/v1/files/data/%2e%2e/secret.txt",
        "/api/v1/files/data/%2E%2E/secret.txt",
        "/api/v1/files/data/.%2e/secret.txt",
        "/api/v1/files/data/..%2fsecret.txt",
        "/api/v1/files/data/..%2Fsecret.txt",
        "/api/v1/files/data/a%2F..%2F..%2Fsecret.txt",
        "/api/v1/files/data/..%5csecret.txt",
        "/api/v1/files/data//etc/passwd",
        "/api/v1/files/data/%2Fetc%2Fpasswd",
        "/api/v1/files/data/a/./b.txt",
        "/api/v1/files/data/x%00.txt",
        "/api/v1/files/data/.holdfast/cache/x",
        "/api/v1/files/data/.holdfast-tmp/x",
    ];
    for path in forms {
        for method in ["GET", "PUT", "DELETE", "HEAD"] {
            let (status, body) = s.raw(method, path, b"pwned");
            assert!(
                matches!(status, 400 | 403),
                "{method} {path} answered {status}: {body}"
            );
            assert!(!body.contains("outside"), "{method} {path} leaked the file");
        }
    }
    assert_eq!(
        files_under(s.dir()),
        before,
        "a refused request changed files"
    );
    assert_eq!(
        std::fs::read_to_string(s.path("secret.txt")).expect("still there"),
        "outside"
    );
}

#[tokio::test]
async fn symlinks_out_of_the_volume_are_refused() {
    let s = Server::start(Setup::new(ONE_VOLUME), |d| {
        std::fs::create_dir_all(d.join("vol")).expect("mkdir vol");
        std::fs::create_dir_all(d.join("outside")).expect("mkdir outside");
        std::fs::write(d.join("outside/secret.txt"), "outside").expect("secret");
        std::os::unix::fs::symlink(d.join("outside"), d.join("vol/link")).expect("dir symlink");
        std::os::unix::fs::symlink(d.join("outside/secret.txt"), d.join("vol/file-link"))
            .expect("file symlink");
    });
    for path in ["link/secret.txt", "file-link", "link/new.txt"] {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let r = s
                .authed(method.clone(), &format!("/api/v1/files/data/{path}"))
                .body("pwned")
                .send()
                .await
                .expect("request");
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
            assert!(!r.text().await.unwrap_or_default().contains("outside\""));
        }
    }
    assert!(!s.path("outside/new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(s.path("outside/secret.txt")).expect("kept"),
        "outside"
    );
    let r = s
        .authed(Method::GET, "/api/v1/files/data/")
        .send()
        .await
        .expect("list");
    let text = r.text().await.expect("body");
    assert!(
        !text.contains("secret") && !text.contains("file-link"),
        "{text}"
    );
}

fn upload_form(name: &str, label: &str, bytes: Vec<u8>) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(label)
        .expect("mime");
    reqwest::multipart::Form::new()
        .text("note", "hello")
        .part("file", part)
}

#[tokio::test]
async fn uploads_sniff_limit_and_hash() {
    let config = format!("{ONE_VOLUME}[uploads]\nmax_size = \"4KiB\"\n");
    let s = Server::start(Setup::new(&config), |d| {
        std::fs::create_dir(d.join("vol")).expect("mkdir")
    });

    let r = s
        .authed(Method::POST, "/api/v1/uploads/data")
        .multipart(upload_form("cat.jpeg", "image/jpeg", PNG.to_vec()))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: serde_json::Value = serde_json::from_str(&r.text().await.expect("body")).expect("json");
    assert_eq!(
        v["mimetype"], "image/png",
        "the content decides, not the label"
    );
    assert_eq!(v["size"], PNG.len());
    assert_eq!(v["sha256"], hex_sha256(PNG));
    let filename = v["filename"].as_str().expect("filename");
    assert!(
        filename.ends_with(".png") && filename.len() == 36 + 4,
        "{filename}"
    );
    assert_eq!(
        std::fs::read(s.path("vol/uploads").join(filename)).expect("stored"),
        PNG
    );

    let php = b"<?php system($_GET['c']); ?>".to_vec();
    let r = s
        .authed(Method::POST, "/api/v1/uploads/data")
        .multipart(upload_form("shell.png", "image/png", php))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let zip = b"PK\x03\x04\x14\0\0\0\0\0".to_vec();
    let r = s
        .authed(Method::POST, "/api/v1/uploads/data")
        .multipart(upload_form("a.pdf", "application/pdf", zip))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let mut big = PNG.to_vec();
    big.resize(64 * 1024, 0);
    let r = s
        .authed(Method::POST, "/api/v1/uploads/data")
        .multipart(upload_form("big.png", "image/png", big))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let mut just_over = PNG.to_vec();
    just_over.resize(4 * 1024 + 1, 0);
    let r = s
        .authed(Method::POST, "/api/v1/uploads/data")
        .multipart(upload_form("big.png", "image/png", just_over))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let padding = "x".repeat(2 * 1024 * 1024);
    let part = reqwest::multipart::Part::bytes(PNG.to_vec())
        .file_name("a.png")
        .mime_str("image/png")
        .expect("mime");
    let form = reqwest::multipart::Form::new()
        .text("padding", padding)
        .part("file", part);
    // The server answers 413 and closes without reading the rest, so the client may see
    // the connection closed while it is still sending: either is a refusal.
    match s
        .authed(Method::POST, "/api/v1/uploads/data")
        .multipart(form)
        .send()
        .await
    {
        Ok(r) => assert_eq!(
            r.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "other parts count"
        ),
        Err(e) => assert!(e.is_request(), "unexpected failure: {e}"),
    }
    assert_eq!(
        r.status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "other parts count too"
    );

    let stored: Vec<String> = files_under(&s.path("vol"))
        .into_iter()
        .filter(|f| !f.starts_with(".holdfast/"))
        .collect();
    assert_eq!(
        stored,
        [format!("uploads/{filename}")],
        "refused uploads left files behind"
    );

    let r = s
        .authed(Method::POST, "/api/v1/uploads/nope")
        .multipart(upload_form("a.png", "image/png", PNG.to_vec()))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn cache_set_get_expire_delete() {
    let s = one_volume();
    let r = s
        .authed(Method::PUT, "/api/v1/cache/user:1?ttl=60s")
        .body("alice")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s
        .authed(Method::GET, "/api/v1/cache/user:1")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("body"), "alice");
    let r = s
        .authed(Method::PUT, "/api/v1/cache/user:2")
        .header("X-Ttl", "1h")
        .body("bob")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s
        .authed(Method::GET, "/api/v1/cache/user:2")
        .send()
        .await
        .expect("get");
    assert_eq!(r.text().await.expect("body"), "bob");

    let r = s
        .authed(Method::PUT, "/api/v1/cache/gone?ttl=0s")
        .body("x")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s
        .authed(Method::GET, "/api/v1/cache/gone")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "an expired key is gone");

    let r = s
        .authed(Method::DELETE, "/api/v1/cache/user:1")
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s
        .authed(Method::GET, "/api/v1/cache/user:1")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s
        .authed(Method::PUT, "/api/v1/cache/k?ttl=soon")
        .body("x")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        s.path("vol/.holdfast/cache").is_dir(),
        "the cache lives on the volume"
    );
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let mut s = one_volume();
    let r = reqwest::get(s.url("/healthz")).await.expect("healthz");
    assert_eq!(r.status(), StatusCode::OK);
    let status = s.terminate();
    assert!(status.success(), "exit {status:?}; log:\n{}", s.log());
}
