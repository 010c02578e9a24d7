//! The page's login: the token in a form sets a session cookie (`HttpOnly`,
//! `SameSite=Strict`, never the token itself) that opens the page's private parts and
//! the API, and every request that changes something needs the session's CSRF token.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

use super::util::{Project, TOKEN};

struct Answer {
    status: StatusCode,
    cookie: Option<String>,
    body: String,
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
    let req = req.body(Body::from(body.to_owned())).expect("request");
    let res = holdfast_agent::http::router(p.state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    let status = res.status();
    let cookie = res
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().expect("ascii").to_string());
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    Answer {
        status,
        cookie,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// Logs in; the `Cookie` header value and the page's CSRF token.
async fn log_in(p: &Project) -> (String, String) {
    let a = call(p, "POST", "/login", &[FORM], &format!("token={TOKEN}")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let set = a.cookie.expect("a session cookie");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains(TOKEN), "the cookie holds the token: {set}");
    let pair = set.split(';').next().expect("name=value").to_string();
    let page = call(p, "GET", "/", &[("cookie", &pair)], "").await;
    let csrf = page
        .body
        .split("data-csrf=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the page carries the CSRF token")
        .to_string();
    (pair, csrf)
}

#[tokio::test]
async fn without_a_cookie_only_the_summary_is_shown() {
    let p = Project::new(true).await;
    let a = call(&p, "GET", "/", &[], "").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("class=\"summary"), "{}", a.body);
    assert!(
        a.body.contains("action=\"/login\""),
        "no login form: {}",
        a.body
    );
    assert!(!a.body.contains("data-csrf"), "{}", a.body);
    assert!(
        !a.body.contains("file://"),
        "the repository URL is public: {}",
        a.body
    );
    let a = call(&p, "GET", "/api/v1/restores", &[], "").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = call(&p, "GET", "/login", &[], "").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("type=\"password\""), "{}", a.body);
}

#[tokio::test]
async fn a_wrong_token_is_401_and_a_forged_cookie_opens_nothing() {
    let p = Project::new(true).await;
    let a = call(&p, "POST", "/login", &[FORM], "token=not-the-token").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.cookie.is_none());
    let a = call(&p, "POST", "/login", &[FORM], "").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    for forged in [
        "holdfast_status=forged",
        "holdfast_status=99999999999.abc.0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let a = call(&p, "GET", "/api/v1/restores", &[("cookie", forged)], "").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{forged}");
        let a = call(&p, "GET", "/", &[("cookie", forged)], "").await;
        assert!(!a.body.contains("data-csrf"), "{forged}");
    }
}

#[tokio::test]
async fn a_session_opens_the_api_and_changes_need_its_csrf_token() {
    let p = Project::new(true).await;
    let (cookie, csrf) = log_in(&p).await;
    let a = call(&p, "GET", "/api/v1/restores", &[("cookie", &cookie)], "").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let body = r#"{"snapshot": "latest", "path": "notes.txt", "volume": "data"}"#;
    let json = ("content-type", "application/json");
    let a = call(
        &p,
        "POST",
        "/api/v1/restores",
        &[("cookie", &cookie), json],
        body,
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let wrong = [("cookie", cookie.as_str()), json, ("x-csrf-token", "0000")];
    let a = call(&p, "POST", "/api/v1/restores", &wrong, body).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = call(&p, "POST", "/api/v1/backups", &[("cookie", &cookie)], "").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    // With the token the request gets through the gate (no snapshot yet: 404).
    let right = [
        ("cookie", cookie.as_str()),
        json,
        ("x-csrf-token", csrf.as_str()),
    ];
    let a = call(&p, "POST", "/api/v1/restores", &right, body).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);

    let a = call(&p, "POST", "/logout", &[("cookie", &cookie), FORM], "").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = call(
        &p,
        "POST",
        "/logout",
        &[("cookie", &cookie), FORM],
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a.cookie.expect("cleared").contains("Max-Age=0"));
}

#[tokio::test]
async fn the_page_restore_forms_need_the_session_and_its_csrf_token() {
    let p = Project::new(true).await;
    let a = call(
        &p,
        "GET",
        "/restore?volume=data&snapshot=latest&path=docs",
        &[],
        "",
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let a = call(&p, "GET", "/jobs/x", &[], "").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let (cookie, csrf) = log_in(&p).await;
    let form = "volume=data&snapshot=latest&path=docs";
    for (uri, body) in [
        ("/restore", form.to_string()),
        ("/restore", format!("{form}&csrf=0000")),
        ("/restores/x/undo", String::new()),
    ] {
        let a = call(&p, "POST", uri, &[("cookie", &cookie), FORM], &body).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{uri} {body}");
    }
    let a = call(
        &p,
        "POST",
        "/restore",
        &[FORM],
        &format!("{form}&csrf={csrf}"),
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "a CSRF token without its session"
    );
    // With both the form gets through (no snapshot yet: refused with 404).
    let a = call(
        &p,
        "POST",
        "/restore",
        &[("cookie", &cookie), FORM],
        &format!("{form}&csrf={csrf}"),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
}
