//! The router as a service: health, the token gate, the file API beneath its volume,
//! the cache API, and the one status assembler behind `/api/v1/status`.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt as _;

use super::util::{Project, TOKEN};

/// One request through a fresh router: the status and the body as text.
async fn call(
    p: &Project,
    method: &str,
    uri: &str,
    token: bool,
    body: &str,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if token {
        req = req.header("authorization", format!("Bearer {TOKEN}"));
    }
    let req = req.body(Body::from(body.to_owned())).expect("request");
    let res = holdfast_agent::http::router(p.state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn health_is_open_and_the_api_needs_the_token() {
    let p = Project::new(true).await;
    let (s, body) = call(&p, "GET", "/healthz", false, "").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _) = call(&p, "GET", "/api/v1/status", false, "").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, body) = call(&p, "GET", "/api/v1/status", true, "").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v[0]["name"], "data", "{v}");
}

#[tokio::test]
async fn a_file_put_stays_beneath_its_volume() {
    let p = Project::new(true).await;
    let (s, body) = call(&p, "PUT", "/api/v1/files/data/up/new.txt", true, "payload").await;
    assert!(s.is_success(), "{s} {body}");
    assert_eq!(
        std::fs::read_to_string(p.vol().join("up/new.txt")).expect("written"),
        "payload"
    );
    let (s, body) = call(&p, "GET", "/api/v1/files/data/up/new.txt", true, "").await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "payload"));
    for (uri, want) in [
        (
            "/api/v1/files/data/..%2F..%2Fescape.txt",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/files/data/%2e%2e/escape.txt",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/files/data/.holdfast/backup.json",
            StatusCode::FORBIDDEN,
        ),
    ] {
        let (s, body) = call(&p, "PUT", uri, true, "x").await;
        assert_eq!(s, want, "{uri}: {body}");
    }
    std::os::unix::fs::symlink(p.dir.path(), p.vol().join("out")).expect("symlink");
    let (s, body) = call(&p, "PUT", "/api/v1/files/data/out/escape.txt", true, "x").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(!p.dir.path().join("escape.txt").exists());
}

#[tokio::test]
async fn the_cache_api_keeps_entries_in_the_volume() {
    let p = Project::new(true).await;
    let (s, body) = call(&p, "PUT", "/api/v1/cache/k1?ttl=60s", true, "v1").await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let (s, body) = call(&p, "GET", "/api/v1/cache/k1", true, "").await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "v1"));
    let entry = p
        .vol()
        .join(holdfast_volume::layout::CACHE_DIR)
        .join(holdfast_store::entry_name("k1"));
    assert!(entry.is_file(), "the one cache format: {}", entry.display());
}
