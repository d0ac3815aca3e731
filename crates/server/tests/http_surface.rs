//! Bad input of every kind gets a 4xx in the envelope, never a 500; the open routes work.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

both_stores!(bad_input_is_a_4xx_envelope, |backend| async move {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let send = |method: Method, path: &str, ct: Option<&str>, body: Vec<u8>| {
        let mut r = s
            .http
            .request(method, s.url(path))
            .bearer_auth(&admin)
            .body(body);
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        r.send()
    };
    type Case<'a> = (Method, &'a str, Option<&'a str>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        (
            Method::POST,
            "/api/v1/tenants",
            Some("application/json"),
            b"{not json".to_vec(),
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants",
            Some("application/json"),
            b"".to_vec(),
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants",
            Some("application/json"),
            br#"{"name": 42}"#.to_vec(),
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants",
            Some("application/json"),
            br#"{"name": "okname", "plan": "gold"}"#.to_vec(),
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants",
            Some("application/json"),
            br#"{"name": "okname", "surprise": 1}"#.to_vec(),
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants",
            Some("application/json"),
            br#"{"name": "Bad_Name"}"#.to_vec(),
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants",
            Some("application/json"),
            br#"[1,2,3]"#.to_vec(),
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants",
            Some("text/plain"),
            br#"{"name": "okname"}"#.to_vec(),
            415,
        ),
        (
            Method::POST,
            "/api/v1/tenants",
            None,
            br#"{"name": "okname"}"#.to_vec(),
            415,
        ),
        (
            Method::POST,
            "/api/v1/tenants",
            Some("application/json"),
            vec![b' '; 2 * 1024 * 1024],
            413,
        ),
        (
            Method::POST,
            "/api/v1/auth/refresh",
            Some("application/json"),
            vec![b' '; 2 * 1024 * 1024],
            413,
        ),
        (
            Method::POST,
            "/api/v1/auth/login",
            Some("application/json"),
            br#"{"email": "a@b.io"}"#.to_vec(),
            422,
        ),
        (Method::GET, "/api/v1/tenants?page=0", None, vec![], 422),
        (Method::GET, "/api/v1/tenants?page=abc", None, vec![], 422),
        (
            Method::GET,
            "/api/v1/tenants?page_size=101",
            None,
            vec![],
            422,
        ),
        (
            Method::GET,
            "/api/v1/audit-logs?status=maybe",
            None,
            vec![],
            422,
        ),
        (
            Method::GET,
            "/api/v1/audit-logs?since=yesterday",
            None,
            vec![],
            422,
        ),
        (Method::GET, "/api/v1/users/not-an-id", None, vec![], 404),
        (
            Method::GET,
            "/api/v1/users/user-../../etc/passwd",
            None,
            vec![],
            404,
        ),
        (Method::GET, "/api/v1/tenants/NOT_A_SLUG", None, vec![], 404),
        (Method::GET, "/api/v1/tenants/%00%ff", None, vec![], 400),
        (
            Method::DELETE,
            "/api/v1/auth/api-keys/key-zzz",
            None,
            vec![],
            404,
        ),
        (Method::GET, "/api/v1/no-such-route", None, vec![], 404),
        (Method::GET, "/nothing-here", None, vec![], 404),
        (
            Method::PUT,
            "/api/v1/tenants",
            Some("application/json"),
            b"{}".to_vec(),
            405,
        ),
        (Method::DELETE, "/health", None, vec![], 405),
    ];
    for (method, path, ct, body, want) in cases {
        let resp = send(method.clone(), path, ct, body).await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let json: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
        assert_eq!(status.as_u16(), want, "{method} {path}: {text}");
        assert_envelope(status, &json);
    }
    // The 422 names the field.
    let (_, b) = s
        .post(
            "/api/v1/tenants",
            &admin,
            json!({"name": "okname", "quota": {"max_databases": "ten"}}),
        )
        .await;
    assert_eq!(
        b["error"]["details"][0]["field"], "quota.max_databases",
        "{b}"
    );
    s.running.shutdown().await;
});

both_stores!(open_routes_and_trailing_slashes, |backend| async move {
    let s = TestServer::start(backend).await;
    for path in [
        "/health",
        "/health/live",
        "/health/ready",
        "/health/startup",
        "/metrics",
        "/openapi.json",
        "/docs",
    ] {
        let resp = s.http.get(s.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert!(resp.headers().get("x-request-id").is_some(), "{path}");
    }
    let (_, h) = s.call(Method::GET, "/health", None, None).await;
    assert_eq!(h["status"], "healthy");
    assert!(h["version"].is_string() && h["timestamp"].is_string());
    let (_, spec) = s.call(Method::GET, "/openapi.json", None, None).await;
    assert!(spec["paths"]["/api/v1/tenants/{domain}/projects/{project}/quota"].is_object());
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    let docs = s
        .http
        .get(s.url("/docs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        docs.contains("/openapi.json") && !docs.contains("https://"),
        "docs page must work offline"
    );
    let metrics = s.metrics().await;
    assert!(metrics.contains("dbaas_http_requests_total"));

    let admin = s.admin_token().await;
    let (a, with) = s.get("/api/v1/tenants/", &admin).await;
    let (b, without) = s.get("/api/v1/tenants", &admin).await;
    assert_eq!((a, b), (StatusCode::OK, StatusCode::OK));
    assert_eq!(with, without);
    let (st, _) = s
        .post("/api/v1/tenants/", &admin, json!({"name": "slashy"}))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    s.running.shutdown().await;
});

both_stores!(
    cors_is_off_by_default_and_configurable,
    |backend| async move {
        let s = TestServer::start_with(backend, |c| {
            c.cors_origins = vec!["https://console.example.com".into()]
        })
        .await;
        let resp = s
            .http
            .request(Method::OPTIONS, s.url("/api/v1/tenants"))
            .header("origin", "https://console.example.com")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.headers().get("access-control-allow-origin").unwrap(),
            "https://console.example.com"
        );
        let resp = s
            .http
            .request(Method::OPTIONS, s.url("/api/v1/tenants"))
            .header("origin", "https://evil.example.com")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert!(resp.headers().get("access-control-allow-origin").is_none());
        s.running.shutdown().await;
    }
);

/// The web console (web/dist, embedded): `/` and client routes get index.html, hashed assets are
/// cached for good and gzip-compressed, and the API keeps its JSON 404s.
#[tokio::test]
async fn the_console_is_served_at_the_root_with_client_routes_and_cached_assets() {
    let s = TestServer::start(Backend::Sqlite).await;
    let page = |path: &str| {
        s.http
            .get(s.url(path))
            .header("accept", "text/html,application/xhtml+xml")
            .send()
    };
    let root = page("/").await.unwrap();
    assert_eq!(root.status(), StatusCode::OK);
    let h = root.headers().clone();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(h["cache-control"], "no-cache");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    assert_eq!(h["x-frame-options"], "DENY");
    let etag = h["etag"].to_str().unwrap().to_string();
    let html = root.text().await.unwrap();
    assert!(html.contains("<div id=\"root\">"), "{html}");

    // A client route is the same page; a second load is a 304.
    let deep = page("/databases/demo/default/db-0123").await.unwrap();
    assert_eq!(deep.status(), StatusCode::OK);
    assert_eq!(deep.headers()["etag"].to_str().unwrap(), etag);
    let again = s
        .http
        .get(s.url("/"))
        .header("accept", "text/html")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // The entry script: hashed, immutable, gzip when asked.
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("index.html loads a script");
    assert!(script.starts_with("/assets/"), "{script}");
    let js = s
        .http
        .get(s.url(script))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert_eq!(
        js.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(js.headers()["content-encoding"], "gzip");
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    let plain = s.http.get(s.url(script)).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert!(plain.bytes().await.unwrap().len() > 1000);

    // Not the console's: unknown API paths and missing files keep the JSON 404.
    for path in [
        "/api/v1/no-such-route",
        "/assets/missing-0000.js",
        "/health/nope",
    ] {
        let r = page(path).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    let (st, _) = s.call(Method::POST, "/", None, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
