//! `POST /api/v1/restores`, `GET /api/v1/jobs/{id}` and `POST /api/v1/restores/{id}/undo`
//! through the router: one file and one folder of a snapshot back into the live volume,
//! the job's bytes done / total, the undo, and the requests refused before anything runs.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt as _;

use super::util::{Project, TOKEN};

async fn call(
    p: &Project,
    method: &str,
    uri: &str,
    token: bool,
    body: &str,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
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
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, v)
}

/// Starts a job with `POST uri` and waits for its end.
async fn run_job(p: &Project, uri: &str, body: &str) -> Value {
    let (s, job) = call(p, "POST", uri, true, body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().expect("job id").to_string();
    let (s, done) = call(p, "GET", &format!("/api/v1/jobs/{id}?wait=true"), true, "").await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "succeeded", "{done}");
    done
}

async fn snapshot(p: &Project) -> String {
    let done = run_job(p, "/api/v1/backups", "").await;
    done["snapshots"][0]["snapshot"]
        .as_str()
        .expect("snapshot id")
        .to_string()
}

#[tokio::test]
async fn a_folder_comes_back_with_progress_and_the_undo_puts_the_changed_one_back() {
    let p = Project::new(true).await;
    let snap = snapshot(&p).await;
    std::fs::write(p.vol().join("docs/a.txt"), "changed").expect("write");
    std::fs::write(p.vol().join("docs/b.txt"), "added").expect("write");
    std::fs::write(p.vol().join("notes.txt"), "app kept writing").expect("write");
    let body = format!(
        r#"{{"snapshot": "{}", "path": "docs", "volume": "data"}}"#,
        &snap[..8]
    );
    let (s, job) = call(&p, "POST", "/api/v1/restores", true, &body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    assert_eq!(
        (job["kind"].as_str(), job["path"].as_str()),
        (Some("restore"), Some("docs"))
    );
    assert_eq!(job["progress"]["done"], 0, "{job}");
    let id = job["id"].as_str().expect("id");
    let (_, done) = call(&p, "GET", &format!("/api/v1/jobs/{id}?wait=true"), true, "").await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["progress"]["done"], 1, "{done}");
    assert_eq!(done["progress"]["total"], 1, "{done}");
    let restore = &done["restore"];
    assert_eq!(restore["went_aside"][0], "docs", "{done}");
    assert_eq!(restore["state"], "done", "{done}");
    assert_eq!(
        std::fs::read_to_string(p.vol().join("docs/a.txt")).expect("a"),
        "a"
    );
    assert!(!p.vol().join("docs/b.txt").exists());
    assert_eq!(
        std::fs::read_to_string(p.vol().join("notes.txt")).expect("notes"),
        "app kept writing"
    );
    let rid = restore["id"].as_str().expect("restore id").to_string();
    let (s, list) = call(&p, "GET", "/api/v1/restores", true, "").await;
    assert_eq!(
        (s, list[0]["id"].as_str()),
        (StatusCode::OK, Some(rid.as_str()))
    );

    let undone = run_job(&p, &format!("/api/v1/restores/{rid}/undo"), "").await;
    assert_eq!(undone["restore"]["undoes"], rid.as_str(), "{undone}");
    assert_eq!(
        std::fs::read_to_string(p.vol().join("docs/a.txt")).expect("a"),
        "changed"
    );
    assert_eq!(
        std::fs::read_to_string(p.vol().join("docs/b.txt")).expect("b"),
        "added"
    );
    let (s, again) = call(
        &p,
        "POST",
        &format!("/api/v1/restores/{rid}/undo"),
        true,
        "",
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{again}");
}

#[tokio::test]
async fn restores_need_the_token_and_bad_requests_are_refused_before_a_job() {
    let p = Project::new(true).await;
    let snap = snapshot(&p).await;
    let ok = format!(r#"{{"snapshot": "{snap}", "path": "notes.txt", "volume": "data"}}"#);
    let (s, _) = call(&p, "POST", "/api/v1/restores", false, &ok).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = call(&p, "POST", "/api/v1/restores/x/undo", false, "").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    for (body, want) in [
        (
            format!(r#"{{"snapshot": "{snap}", "path": "../etc/passwd"}}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!(r#"{{"snapshot": "{snap}", "path": "/etc/passwd"}}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!(r#"{{"snapshot": "{snap}", "path": ".holdfast/kept"}}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!(r#"{{"snapshot": "{snap}", "path": "a/\u0000b"}}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!(r#"{{"snapshot": "{snap}", "path": "x", "volume": "nope"}}"#),
            StatusCode::NOT_FOUND,
        ),
        (
            r#"{"snapshot": "ffffffff", "path": "x"}"#.to_string(),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (s, v) = call(&p, "POST", "/api/v1/restores", true, &body).await;
        assert_eq!(s, want, "{body}: {v}");
    }
    let (s, _) = call(&p, "POST", "/api/v1/restores/..%2Fx/undo", true, "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, list) = call(&p, "GET", "/api/v1/restores", true, "").await;
    assert_eq!((s, list), (StatusCode::OK, serde_json::json!([])));
}
