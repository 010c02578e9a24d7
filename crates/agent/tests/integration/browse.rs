//! The snapshot browser's routes through the router (no socket): tree pages, files with
//! `Range`, archives, versions, diff and find, the token gate, every traversal form in
//! `{path}`, and an ambiguous id prefix.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt as _;

use super::util::{Project, TOKEN};

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn get(p: &Project, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = Request::builder()
        .method("GET")
        .uri(uri)
        .header("authorization", format!("Bearer {TOKEN}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = holdfast_agent::http::router(p.state.clone())
        .oneshot(req.body(Body::empty()).expect("request"))
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

/// A backup of the project's volume as volume `data`, `secs` after a fixed time; the
/// snapshot id.
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

fn names(v: &Value) -> Vec<String> {
    v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["name"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test]
async fn tree_needs_the_token() {
    let p = Project::new(true).await;
    backup(&p, 0).await;
    let req = Request::builder()
        .uri("/api/v1/snapshots/latest/tree/")
        .body(Body::empty())
        .expect("request");
    let res = holdfast_agent::http::router(p.state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tree_pages_are_stable_and_going_up_reads_nothing_again() {
    let p = Project::new(true).await;
    for i in 0..250 {
        write(&p, &format!("docs/many/f{i:03}.txt"), b"x");
    }
    let id = backup(&p, 0).await;
    let root = get(&p, "/api/v1/snapshots/latest/tree", &[]).await;
    assert_eq!(root.status, StatusCode::OK);
    let v = root.json();
    assert_eq!(v["snapshot"], id.as_str());
    assert_eq!(names(&v), ["docs", "notes.txt"]);
    let notes = &v["entries"][1];
    assert_eq!(notes["type"], "file");
    assert_eq!(notes["size"], 5);
    assert!(notes["mode"].as_u64().is_some() && notes["mtime"].is_string());
    assert_eq!(notes["content"].as_str().map(str::len), Some(64));

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let uri = match &after {
            Some(a) => format!(
                "/api/v1/snapshots/{}/tree/docs/many/?limit=100&after={a}",
                &id[..12]
            ),
            None => format!("/api/v1/snapshots/{}/tree/docs/many?limit=100", &id[..12]),
        };
        let page = get(&p, &uri, &[]).await;
        assert_eq!(page.status, StatusCode::OK);
        let v = page.json();
        assert_eq!(v["total"], 250);
        seen.extend(names(&v));
        match v["next_after"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    let want: Vec<String> = (0..250).map(|i| format!("f{i:03}.txt")).collect();
    assert_eq!(seen, want, "every entry once, in order");
    // The same page asked twice is the same page.
    let a = get(
        &p,
        "/api/v1/snapshots/latest/tree/docs/many?after=f099.txt&limit=3",
        &[],
    )
    .await;
    let b = get(
        &p,
        "/api/v1/snapshots/latest/tree/docs/many?after=f099.txt&limit=3",
        &[],
    )
    .await;
    assert_eq!(a.body, b.body);
    assert_eq!(names(&a.json()), ["f100.txt", "f101.txt", "f102.txt"]);

    let loads = p.state.browse.trees.loads();
    let up = get(&p, "/api/v1/snapshots/latest/tree/docs", &[]).await;
    assert_eq!(up.status, StatusCode::OK);
    assert_eq!(
        p.state.browse.trees.loads(),
        loads,
        "going up read a tree again"
    );

    let missing = get(&p, "/api/v1/snapshots/latest/tree/nope", &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let file = get(&p, "/api/v1/snapshots/latest/tree/notes.txt", &[]).await;
    assert_eq!(file.status, StatusCode::BAD_REQUEST);
    let no_snap = get(&p, "/api/v1/snapshots/abcdef12/tree/", &[]).await;
    assert_eq!(no_snap.status, StatusCode::NOT_FOUND);
}

/// Every route that takes a `{path}` in the URL.
const PATH_ROUTES: [&str; 4] = [
    "/api/v1/snapshots/latest/tree/",
    "/api/v1/snapshots/latest/files/",
    "/api/v1/snapshots/latest/archive/",
    "/api/v1/versions/data/",
];

/// `tail` after every path route is 400 with a one-line JSON error.
async fn refused_everywhere(tail: &str) {
    let p = Project::new(true).await;
    backup(&p, 0).await;
    for route in PATH_ROUTES {
        let uri = format!("{route}{tail}");
        let a = get(&p, &uri, &[]).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}");
        let text = String::from_utf8_lossy(&a.body).into_owned();
        assert!(!text.contains('\n'), "{uri}: {text}");
        assert!(a.json()["error"].is_string(), "{uri}: {text}");
    }
}

#[tokio::test]
async fn snapshot_paths_reject_encoded_dot_dot() {
    refused_everywhere("docs/%2e%2e/%2E%2E/etc/passwd").await;
    refused_everywhere("docs/../notes.txt").await;
}

#[tokio::test]
async fn snapshot_paths_reject_encoded_slash() {
    refused_everywhere("docs%2fa.txt").await;
    refused_everywhere("..%2F..%2Fetc%2Fpasswd").await;
    refused_everywhere("docs%5Ca.txt").await;
}

#[tokio::test]
async fn snapshot_paths_reject_absolute() {
    refused_everywhere("/etc/passwd").await;
}

#[tokio::test]
async fn snapshot_paths_reject_nul() {
    refused_everywhere("notes.txt%00.png").await;
}

#[tokio::test]
async fn snapshot_paths_reject_overlong_utf8() {
    refused_everywhere("%c0%ae%c0%ae/etc/passwd").await;
    refused_everywhere("docs/%c0%af").await;
}

#[tokio::test]
async fn diff_path_rejects_traversal() {
    let p = Project::new(true).await;
    backup(&p, 0).await;
    for q in ["..", "docs/../..", "/etc", "a//b"] {
        let a = get(&p, &format!("/api/v1/diff/latest/latest?path={q}"), &[]).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{q}");
    }
}

#[tokio::test]
async fn an_ambiguous_id_prefix_is_409_with_the_candidates() {
    let p = Project::new(true).await;
    let mut ids = Vec::new();
    for i in 0..17 {
        write(&p, "notes.txt", format!("v{i}").as_bytes());
        ids.push(backup(&p, i).await);
    }
    // 17 ids over 16 first digits: some digit is shared.
    let mut by_digit: BTreeMap<char, Vec<String>> = BTreeMap::new();
    for id in &ids {
        by_digit
            .entry(id.chars().next().expect("digit"))
            .or_default()
            .push(id.clone());
    }
    let (digit, mut want) = by_digit
        .into_iter()
        .max_by_key(|(_, v)| v.len())
        .expect("some digit");
    want.sort();
    let a = get(&p, &format!("/api/v1/snapshots/{digit}/tree/"), &[]).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let v = a.json();
    let got: Vec<String> = serde_json::from_value(v["candidates"].clone()).expect("candidates");
    assert_eq!(got, want);
    assert!(v["error"].as_str().is_some_and(|e| e.contains("ambiguous")));
    let one = get(&p, &format!("/api/v1/snapshots/{}/tree/", want[0]), &[]).await;
    assert_eq!(one.status, StatusCode::OK);
}

#[tokio::test]
async fn files_stream_with_range_etag_type_and_disposition() {
    let p = Project::new(true).await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    write(&p, "img/pixel é.png", png);
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write(&p, "big.bin", &big);
    backup(&p, 0).await;
    let a = get(
        &p,
        "/api/v1/snapshots/latest/files/img/pixel%20%C3%A9.png",
        &[],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, png);
    assert_eq!(a.header("content-type"), "image/png");
    assert_eq!(a.header("x-content-type-options"), "nosniff");
    assert!(a.header("content-disposition").starts_with("attachment;"));
    assert!(
        a.header("content-disposition")
            .contains("UTF-8''pixel%20%C3%A9.png")
    );
    let tag = a.header("etag").to_owned();
    let tree = get(&p, "/api/v1/snapshots/latest/tree/img", &[])
        .await
        .json();
    assert_eq!(
        tag,
        format!(
            "\"{}\"",
            tree["entries"][0]["content"].as_str().expect("content")
        )
    );
    let again = get(
        &p,
        "/api/v1/snapshots/latest/files/img/pixel%20%C3%A9.png",
        &[("if-none-match", &tag)],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    let whole = get(&p, "/api/v1/snapshots/latest/files/big.bin", &[]).await;
    assert_eq!(whole.body, big);
    assert_eq!(whole.header("content-type"), "application/octet-stream");
    let part = get(
        &p,
        "/api/v1/snapshots/latest/files/big.bin",
        &[("range", "bytes=1000000-2499999")],
    )
    .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.header("content-range"),
        "bytes 1000000-2499999/3000000"
    );
    assert_eq!(part.body, &big[1_000_000..2_500_000]);
    let tail = get(
        &p,
        "/api/v1/snapshots/latest/files/big.bin",
        &[("range", "bytes=-10")],
    )
    .await;
    assert_eq!(tail.body, &big[big.len() - 10..]);
    let outside = get(
        &p,
        "/api/v1/snapshots/latest/files/big.bin",
        &[("range", "bytes=3000000-")],
    )
    .await;
    assert_eq!(outside.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(outside.header("content-range"), "bytes */3000000");
    let dir = get(&p, "/api/v1/snapshots/latest/files/img", &[]).await;
    assert_eq!(dir.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn archive_streams_a_directory_as_tar_zst_and_zip() {
    let p = Project::new(true).await;
    write(&p, "docs/sub/b.txt", b"bee");
    let id = backup(&p, 0).await;
    let t = get(
        &p,
        "/api/v1/snapshots/latest/archive/docs?format=tar.zst",
        &[],
    )
    .await;
    assert_eq!(t.status, StatusCode::OK);
    assert_eq!(t.header("content-type"), "application/zstd");
    assert!(
        t.header("content-disposition")
            .contains(&format!("docs-{}.tar.zst", &id[..8]))
    );
    let tar = zstd::decode_all(&t.body[..]).expect("zstd");
    let mut ar = tar::Archive::new(&tar[..]);
    let mut got = BTreeMap::new();
    for e in ar.entries().expect("tar") {
        let mut e = e.expect("entry");
        let mut data = String::new();
        std::io::Read::read_to_string(&mut e, &mut data).expect("read");
        got.insert(e.path().expect("path").to_string_lossy().into_owned(), data);
    }
    let want: BTreeMap<String, String> = [
        ("docs", ""),
        ("docs/a.txt", "a"),
        ("docs/sub", ""),
        ("docs/sub/b.txt", "bee"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(got, want);

    let z = get(&p, "/api/v1/snapshots/latest/archive/?format=zip", &[]).await;
    assert_eq!(z.status, StatusCode::OK);
    assert_eq!(z.header("content-type"), "application/zip");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(z.body)).expect("zip");
    let mut b = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("docs/sub/b.txt").expect("entry"), &mut b)
        .expect("read");
    assert_eq!(b, "bee");
    assert!(zip.by_name("notes.txt").is_ok());
    let bad = get(&p, "/api/v1/snapshots/latest/archive/docs?format=rar", &[]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let file = get(&p, "/api/v1/snapshots/latest/archive/notes.txt", &[]).await;
    assert_eq!(file.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn versions_list_each_content_newest_first_with_absences() {
    let p = Project::new(true).await;
    let s1 = backup(&p, 1).await;
    write(&p, "notes.txt", b"changed");
    let s2 = backup(&p, 2).await;
    let s3 = backup(&p, 3).await;
    std::fs::remove_file(p.vol().join("notes.txt")).expect("rm");
    let s4 = backup(&p, 4).await;
    let a = get(&p, "/api/v1/versions/data/notes.txt", &[]).await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    let versions = v["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2, "{v}");
    assert_eq!(versions[0]["snapshot"], s3.as_str());
    assert_eq!(versions[0]["size"], 7);
    let held: Vec<&str> = versions[0]["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(held, [s3.as_str(), s2.as_str()]);
    assert_eq!(versions[1]["snapshot"], s1.as_str());
    assert_eq!(v["absent"][0]["id"], s4.as_str());
    let none = get(&p, "/api/v1/versions/elsewhere/notes.txt", &[]).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn diff_pages_added_removed_and_changed_with_sizes() {
    let p = Project::new(true).await;
    let a = backup(&p, 1).await;
    write(&p, "notes.txt", b"hello, again");
    write(&p, "docs/new.txt", b"n");
    std::fs::remove_file(p.vol().join("docs/a.txt")).expect("rm");
    let b = backup(&p, 2).await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let uri = match &after {
            Some(x) => format!("/api/v1/diff/{a}/{b}?limit=1&after={x}"),
            None => format!("/api/v1/diff/{}/{}?limit=1", &a[..10], &b[..10]),
        };
        let r = get(&p, &uri, &[]).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let v = r.json();
        assert_eq!(v["total"], 3);
        assert_eq!(
            (v["a"].as_str(), v["b"].as_str()),
            (Some(a.as_str()), Some(b.as_str()))
        );
        for c in v["changes"].as_array().expect("changes") {
            seen.push((
                c["path"].as_str().expect("path").to_owned(),
                c["change"].as_str().expect("change").to_owned(),
                c["size_before"].as_u64(),
                c["size_after"].as_u64(),
            ));
        }
        match v["next_after"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    let s = |x: &str| x.to_owned();
    assert_eq!(
        seen,
        [
            (s("docs/a.txt"), s("removed"), Some(1), None),
            (s("docs/new.txt"), s("added"), None, Some(1)),
            (s("notes.txt"), s("modified"), Some(5), Some(12)),
        ]
    );
    let below = get(&p, &format!("/api/v1/diff/{a}/{b}?path=docs"), &[])
        .await
        .json();
    assert_eq!(below["total"], 2);
}

#[tokio::test]
async fn find_pages_matches_newest_first() {
    let p = Project::new(true).await;
    let s1 = backup(&p, 1).await;
    write(&p, "docs/b.txt", b"b");
    let s2 = backup(&p, 2).await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let uri = match &after {
            Some(x) => format!(
                "/api/v1/find?pattern=*.txt&volume=data&limit=2&after={}",
                urlencode(x)
            ),
            None => "/api/v1/find?pattern=*.txt&volume=data&limit=2".to_owned(),
        };
        let r = get(&p, &uri, &[]).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let v = r.json();
        for f in v["found"].as_array().expect("found") {
            seen.push((
                f["snapshot"].as_str().expect("snapshot").to_owned(),
                f["path"].as_str().expect("path").to_owned(),
            ));
        }
        match v["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    let want = [
        (s2.clone(), "docs/a.txt".to_owned()),
        (s2.clone(), "docs/b.txt".to_owned()),
        (s2, "notes.txt".to_owned()),
        (s1.clone(), "docs/a.txt".to_owned()),
        (s1, "notes.txt".to_owned()),
    ];
    assert_eq!(seen, want);
    let none = get(&p, "/api/v1/find", &[]).await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
