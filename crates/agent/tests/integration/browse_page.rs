//! The page's snapshot view through the router (no socket): every page route sends a
//! request without the session to `/login`, refuses every traversal form in its
//! `path` with `400`, and shows what the JSON routes show — a folder a page at a time,
//! a file's versions with their download links, the download's bytes, an archive, a
//! diff and a search.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use tower::ServiceExt as _;

use super::util::{Project, TOKEN};

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn call(
    p: &Project,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = holdfast_agent::http::router(p.state.clone())
        .oneshot(req.body(Body::from(body.to_owned())).expect("request"))
        .await
        .expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), 1 << 30)
        .await
        .expect("body")
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// Logs in through the form; the `Cookie` header value.
async fn log_in(p: &Project) -> String {
    let form = ("content-type", "application/x-www-form-urlencoded");
    let a = call(p, "POST", "/login", &[form], &format!("token={TOKEN}")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let set = a.headers[header::SET_COOKIE].to_str().expect("ascii");
    set.split(';').next().expect("pair").to_string()
}

async fn page(p: &Project, cookie: &str, uri: &str) -> Answer {
    call(p, "GET", uri, &[("cookie", cookie)], "").await
}

async fn backup(p: &Project, secs: i64) -> String {
    let repo = p.state.repo.open().await.expect("open");
    let mut repo = repo.load_index().await.expect("index");
    let mut opts = holdfast_repo::BackupOptions::new(p.vol());
    opts.volume = Some("data".into());
    opts.time = chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0);
    holdfast_repo::backup(&mut repo, &opts)
        .await
        .expect("backup")
        .id
        .to_hex()
}

fn write(p: &Project, rel: &str, data: &[u8]) {
    let path = p.vol().join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, data).expect("write");
}

/// Every page route, with `path=` where it takes one.
const ROUTES: &[&str] = &[
    "/browse?volume=data",
    "/browse/latest?path=docs",
    "/browse/latest/file?path=notes.txt",
    "/browse/latest/download?path=notes.txt",
    "/browse/latest/archive?path=docs",
    "/compare?a=latest&b=latest&path=docs",
    "/search?pattern=*.txt",
];

#[tokio::test]
async fn every_snapshot_page_sends_a_visitor_without_the_session_to_login() {
    let p = Project::new(true).await;
    backup(&p, 0).await;
    let forged = "holdfast_status=99999999999.abc.00";
    for uri in ROUTES {
        for headers in [&[][..], &[("cookie", forged)][..]] {
            let a = call(&p, "GET", uri, headers, "").await;
            assert_eq!(a.status, StatusCode::SEE_OTHER, "{uri}");
            assert_eq!(a.headers[header::LOCATION], "/login", "{uri}");
        }
    }
    // The bearer token opens the API, not these pages (they are the browser's).
    let bearer = format!("Bearer {TOKEN}");
    let a = call(&p, "GET", "/browse", &[("authorization", &bearer)], "").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn every_traversal_form_in_a_page_path_is_400() {
    let p = Project::new(true).await;
    backup(&p, 0).await;
    let cookie = log_in(&p).await;
    let routes = [
        "/browse/latest?path=",
        "/browse/latest/file?path=",
        "/browse/latest/download?path=",
        "/browse/latest/archive?path=",
        "/compare?a=latest&b=latest&path=",
    ];
    for route in routes {
        for bad in [
            "..",
            "docs/../..",
            "%2e%2e/%2E%2E/etc/passwd",
            "..%2F..%2Fetc%2Fpasswd",
            "/etc/passwd",
            "%2Fetc%2Fpasswd",
            "notes.txt%00.png",
            "%c0%ae%c0%ae/etc/passwd",
            "docs/%c0%af",
            "a//b",
            "./docs",
        ] {
            let uri = format!("{route}{bad}");
            let a = page(&p, &cookie, &uri).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}: {}", a.text());
            assert!(a.text().contains("class=\"bad error\""), "{uri}");
        }
    }
}

#[tokio::test]
async fn a_folder_pages_with_breadcrumbs_and_a_file_shows_its_versions_and_downloads() {
    let p = Project::new(true).await;
    for i in 0..5 {
        write(&p, &format!("docs/deep/er/f{i}.txt"), b"first");
    }
    let first = backup(&p, 0).await;
    write(&p, "docs/deep/er/f1.txt", b"second, longer");
    let second = backup(&p, 60).await;
    let cookie = log_in(&p).await;

    let a = page(&p, &cookie, "/browse?volume=data").await;
    assert_eq!(a.status, StatusCode::OK);
    let t = a.text();
    let (at_first, at_second) = (
        t.find(&first[..8]).expect("first listed"),
        t.find(&second[..8]).expect("second listed"),
    );
    assert!(at_second < at_first, "newest first: {t}");
    assert!(t.contains("2023-11-14 22:13:20 UTC"), "times as text: {t}");

    let a = page(&p, &cookie, "/browse/latest?path=docs/deep/er&limit=2").await;
    assert_eq!(a.status, StatusCode::OK);
    let t = a.text();
    assert!(
        t.contains("class=\"crumbs\"") && t.contains("href=\"/browse/"),
        "{t}"
    );
    assert!(t.contains(">f0.txt<") && t.contains(">f1.txt<") && !t.contains(">f2.txt<"));
    assert!(t.contains("5 entries"), "{t}");
    assert!(t.contains("after=f1.txt"), "next page link: {t}");
    let a = page(
        &p,
        &cookie,
        "/browse/latest?path=docs/deep/er&after=f1.txt&limit=2",
    )
    .await;
    let t = a.text();
    assert!(t.contains(">f2.txt<") && t.contains(">f3.txt<") && !t.contains(">f1.txt<"));

    let a = page(&p, &cookie, "/browse/latest/file?path=docs/deep/er/f1.txt").await;
    assert_eq!(a.status, StatusCode::OK);
    let t = a.text();
    assert!(t.contains("2 versions"), "{t}");
    assert!(t.contains("14 B") && t.contains("5 B"), "sizes: {t}");
    assert!(t.contains(&format!(
        "/browse/{first}/download?path=docs/deep/er/f1.txt"
    )));
    assert!(t.contains(&format!(
        "/restore?volume=data&amp;snapshot={second}&amp;path=docs/deep/er/f1.txt"
    )));
    let a = page(
        &p,
        &cookie,
        &format!("/browse/{first}/download?path=docs/deep/er/f1.txt"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, b"first");
    let disposition = a.headers[header::CONTENT_DISPOSITION]
        .to_str()
        .expect("ascii");
    assert!(disposition.starts_with("attachment"), "{disposition}");

    let a = page(&p, &cookie, "/browse/latest/archive?path=docs&format=zip").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers[header::CONTENT_TYPE], "application/zip");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(a.body)).expect("zip");
    let mut f4 = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name("docs/deep/er/f4.txt").expect("entry"),
        &mut f4,
    )
    .expect("read");
    assert_eq!(f4, "first");

    // A folder opened as a file goes to its folder page.
    let a = page(&p, &cookie, "/browse/latest/file?path=docs/deep").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let a = page(&p, &cookie, "/browse/latest?path=nothing/here").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn compare_and_search_page_through_changes_and_matches() {
    let p = Project::new(true).await;
    let first = backup(&p, 0).await;
    write(&p, "docs/a.txt", b"changed");
    write(&p, "docs/b.txt", b"new");
    std::fs::remove_file(p.vol().join("notes.txt")).expect("rm");
    let second = backup(&p, 60).await;
    let cookie = log_in(&p).await;

    let a = page(&p, &cookie, "/compare").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.text().contains("name=\"a\""));
    let uri = format!("/compare?a={first}&b={second}&limit=2");
    let a = page(&p, &cookie, &uri).await;
    assert_eq!(a.status, StatusCode::OK);
    let t = a.text();
    assert!(t.contains("changes"), "{t}");
    assert!(t.contains("id=\"next\""), "paged: {t}");
    let words: Vec<&str> = ["added", "removed", "changed"]
        .into_iter()
        .filter(|w| t.contains(&format!("<td data-label=\"change\" class=\"{w}\">")))
        .collect();
    assert!(!words.is_empty(), "{t}");
    let all = page(&p, &cookie, &format!("/compare?a={first}&b={second}"))
        .await
        .text();
    for w in ["added", "removed", "changed"] {
        assert!(
            all.contains(&format!("class=\"{w}\">{w}</td>")),
            "{w}: {all}"
        );
    }
    assert!(
        all.contains(">docs/b.txt<") && all.contains(">notes.txt<"),
        "{all}"
    );

    let a = page(&p, &cookie, "/search?pattern=*.txt&volume=data&limit=2").await;
    assert_eq!(a.status, StatusCode::OK);
    let t = a.text();
    assert!(
        t.contains("id=\"found\"") && t.contains("id=\"next\""),
        "{t}"
    );
    let newest = t.find(&second[..8]).expect("the newest snapshot's matches");
    assert!(newest < t.find(&first[..8]).unwrap_or(usize::MAX), "{t}");
    let a = page(&p, &cookie, "/search?pattern=b.txt").await;
    let t = a.text();
    assert!(
        t.contains(">docs/b.txt<") && !t.contains("id=\"next\""),
        "{t}"
    );
}
