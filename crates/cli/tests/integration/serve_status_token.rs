//! The status page keeps the snapshot list behind the API token like
//! `/api/v1/snapshots` does: without the token it shows volume health but no snapshot
//! id; with it — bearer header, `?token=` login (which sets a cookie) or that cookie —
//! or with `[serve] public_status = true`, the snapshots are there.

use reqwest::{Method, StatusCode};

use super::serve_backup::{prepare, repo_config};
use super::serve_util::{Server, TOKEN};

/// Backs up volume `data` once and returns the 8-character id the page shows. The
/// backup may run in the background (202): the listing is polled, a bounded number of
/// times, until the snapshot is there.
async fn one_snapshot(s: &Server) -> String {
    let r = s
        .authed(Method::POST, "/api/v1/backups?volume=data")
        .send()
        .await
        .expect("backup");
    assert!(r.status().is_success(), "backup: {}", r.status());
    for _ in 0..1200 {
        let r = s
            .authed(Method::GET, "/api/v1/snapshots")
            .send()
            .await
            .expect("snapshots");
        let v: serde_json::Value =
            serde_json::from_str(&r.text().await.expect("body")).expect("json");
        if let Some(id) = v.get(0).and_then(|e| e["id"].as_str()) {
            return id.chars().take(8).collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the backup never showed up in /api/v1/snapshots");
}

async fn page(s: &Server, path: &str, header: Option<(&str, String)>) -> (String, Option<String>) {
    let mut req = reqwest::Client::new().get(s.url(path));
    if let Some((k, v)) = header {
        req = req.header(k, v);
    }
    let r = req.send().await.expect("page");
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().expect("ascii").to_string());
    (r.text().await.expect("body"), cookie)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

#[test]
fn status_page_hides_snapshots_without_the_token() {
    let s = Server::start(repo_config(""), prepare);
    runtime().block_on(hides(&s));
}

async fn hides(s: &Server) {
    let id = one_snapshot(s).await;

    let (anon, cookie) = page(s, "/", None).await;
    assert!(
        anon.contains("data-volume=\"data\""),
        "health stays public: {anon}"
    );
    assert!(!anon.contains(&id), "snapshot id shown without the token");
    assert!(
        !anon.contains("class=\"snap\""),
        "timeline shown without the token"
    );
    assert!(anon.contains("name=\"token\""), "no login form: {anon}");
    assert!(cookie.is_none());

    let (wrong, cookie) = page(s, "/?token=not-the-token", None).await;
    assert!(!wrong.contains(&id) && cookie.is_none());
    let (wrong, _) = page(s, "/", Some(("Authorization", "Bearer nope".into()))).await;
    assert!(!wrong.contains(&id));
    let (wrong, _) = page(s, "/", Some(("Cookie", "holdfast_status=forged".into()))).await;
    assert!(!wrong.contains(&id));

    let (bearer, _) = page(s, "/", Some(("Authorization", format!("Bearer {TOKEN}")))).await;
    assert!(bearer.contains(&id), "bearer token: no snapshot id");

    let (login, cookie) = page(s, &format!("/?token={TOKEN}"), None).await;
    assert!(login.contains(&id), "?token=: no snapshot id");
    let cookie = cookie.expect("the login sets a cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(TOKEN),
        "the cookie holds the token itself: {cookie}"
    );
    let pair = cookie.split(';').next().expect("name=value").to_string();
    let (with_cookie, _) = page(s, "/", Some(("Cookie", pair))).await;
    assert!(with_cookie.contains(&id), "cookie: no snapshot id");
    assert!(!s.log().contains(TOKEN), "the token was logged");
}

#[test]
fn public_status_shows_snapshots_to_everyone() {
    let s = Server::start(repo_config("[serve]\npublic_status = true\n"), prepare);
    runtime().block_on(async {
        let id = one_snapshot(&s).await;
        let (anon, _) = page(&s, "/", None).await;
        assert!(anon.contains(&id), "public_status: no snapshot id");
    });
}
