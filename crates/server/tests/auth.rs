//! The authentication lifecycle, black-box, on both stores.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

both_stores!(
    login_refresh_rotation_reuse_and_logout,
    |backend| async move {
        let s = TestServer::start(backend).await;
        let pair = s.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(pair["token_type"], "bearer");
        assert!(pair["expires_in"].as_i64().unwrap() > 0);
        let access = pair["access_token"].as_str().unwrap();
        let r1 = pair["refresh_token"].as_str().unwrap().to_string();

        let (st, me) = s.get("/api/v1/auth/me", access).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(me["email"], ADMIN_EMAIL);
        assert_eq!(me["bindings"][0]["role"], "platform_admin");
        assert!(me.get("password_hash").is_none());

        // Rotation: r1 → r2; r2 works once more → r3.
        let (st, p2) = s
            .call(
                Method::POST,
                "/api/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": r1})),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let r2 = p2["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(r1, r2);
        let (st, _) = s
            .get("/api/v1/auth/me", p2["access_token"].as_str().unwrap())
            .await;
        assert_eq!(st, StatusCode::OK);

        // Reusing r1 (already rotated) is refused and revokes the family: r2 dies too.
        let (st, _) = s
            .call(
                Method::POST,
                "/api/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": r1})),
            )
            .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let (st, _) = s
            .call(Method::POST, "/api/v1/auth/refresh", Some(&r2), None)
            .await;
        assert_eq!(
            st,
            StatusCode::UNAUTHORIZED,
            "the whole family is revoked after reuse"
        );

        // Logout revokes a fresh family.
        let p = s.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let r = p["refresh_token"].as_str().unwrap();
        let (st, _) = s
            .call(
                Method::POST,
                "/api/v1/auth/logout",
                None,
                Some(json!({"refresh_token": r})),
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, _) = s
            .call(
                Method::POST,
                "/api/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": r})),
            )
            .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);

        // Garbage refresh token.
        let (st, _) = s
            .call(
                Method::POST,
                "/api/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": "dbaas_rt_nope"})),
            )
            .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        s.running.shutdown().await;
    }
);

both_stores!(
    login_failures_are_uniform_audited_and_rate_limited,
    |backend| async move {
        let s = TestServer::start_with(backend, |c| c.login_attempts_per_account = 3).await;
        let admin = s.admin_token().await;
        let bad = |email: &'static str| json!({"email": email, "password": "wrong-password-1"});
        let (st1, b1) = s
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(bad(ADMIN_EMAIL)),
            )
            .await;
        let (st2, b2) = s
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(bad("nobody@example.com")),
            )
            .await;
        assert_eq!(
            (st1, st2),
            (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
        );
        assert_eq!(b1["error"]["message"], "Invalid email or password");
        assert_eq!(
            b1["error"]["message"], b2["error"]["message"],
            "same text whether or not the user exists"
        );

        let (_, logs) = s
            .get("/api/v1/audit-logs?action=auth.login_failed", &admin)
            .await;
        assert!(logs["total"].as_i64().unwrap() >= 2, "{logs}");
        assert_eq!(logs["audit_logs"][0]["status"], "failure");

        // Per-account limit: 3 attempts per window, then 429 with Retry-After, even with the right password.
        for _ in 0..2 {
            s.call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(bad(ADMIN_EMAIL)),
            )
            .await;
        }
        let resp = s
            .http
            .post(s.url("/api/v1/auth/login"))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(resp.headers().get("retry-after").is_some());
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limited");
        s.running.shutdown().await;
    }
);

both_stores!(
    api_keys_create_use_scope_revoke_expire,
    |backend| async move {
        let s = TestServer::start(backend).await;
        let admin = s.admin_token().await;
        let (st, w) = s
            .post(
                "/api/v1/auth/api-keys",
                &admin,
                json!({"name": "ci-writer", "scopes": ["read", "write"], "expires_in_days": 30}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{w}");
        let wkey = w["key"].as_str().unwrap().to_string();
        assert!(wkey.starts_with("dbaas_"));
        let (st, r) = s
            .post(
                "/api/v1/auth/api-keys",
                &admin,
                json!({"name": "dashboard"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        assert_eq!(r["scopes"], json!(["read"]));
        let rkey = r["key"].as_str().unwrap().to_string();

        // Use via X-API-Key and via Bearer.
        let resp = s
            .http
            .get(s.url("/api/v1/auth/me"))
            .header("X-API-Key", &wkey)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers().get("ratelimit-limit").is_some());
        let (st, _) = s.get("/api/v1/tenants", &rkey).await;
        assert_eq!(st, StatusCode::OK);

        // A read-only key is refused on writes; a write key may write.
        let (st, b) = s
            .post("/api/v1/tenants", &rkey, json!({"name": "ro-tenant"}))
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
        let (st, _) = s
            .post("/api/v1/tenants", &wkey, json!({"name": "rw-tenant"}))
            .await;
        assert_eq!(st, StatusCode::CREATED);

        // Listing never shows the secret; last_used_at gets recorded.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let (_, list) = s.get("/api/v1/auth/api-keys", &admin).await;
        assert_eq!(list["total"], 2);
        for k in list["api_keys"].as_array().unwrap() {
            assert!(k.get("key").is_none());
        }
        assert!(list["api_keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| !k["last_used_at"].is_null()));

        // Revoke → 401.
        let id = w["id"].as_str().unwrap();
        let (st, _) = s
            .delete(&format!("/api/v1/auth/api-keys/{id}"), &admin)
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, _) = s.get("/api/v1/auth/me", &wkey).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let (st, _) = s
            .delete(&format!("/api/v1/auth/api-keys/{id}"), &admin)
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);

        // An expired key is refused: expire the read key in the store.
        let store = s.running.state.store.clone();
        let rid = r["id"].as_str().unwrap();
        let mut keys = store
            .list_api_keys(
                &s.running
                    .state
                    .store
                    .get_user_by_email(ADMIN_EMAIL)
                    .await
                    .unwrap()
                    .unwrap()
                    .user
                    .id,
            )
            .await
            .unwrap();
        let mut k = keys.drain(..).find(|k| k.id == rid).unwrap();
        k.id = domain::ids::new_id(domain::ids::IdKind::ApiKey);
        let (expired_key, prefix) = (
            "dbaas_expiredkey_0123456789012345678901234567890123456789".to_string(),
            "expiredkey".to_string(),
        );
        k.prefix = prefix;
        k.key_hash = server::auth::tokens::sha256_hex(&expired_key);
        k.expires_at = Some(chrono::Utc::now() - chrono::Duration::minutes(1));
        store.create_api_key(&k).await.unwrap();
        let (st, _) = s.get("/api/v1/auth/me", &expired_key).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);

        // Validation.
        let (st, _) = s
            .post("/api/v1/auth/api-keys", &admin, json!({"name": "x"}))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        let (st, _) = s
            .post(
                "/api/v1/auth/api-keys",
                &admin,
                json!({"name": "bad-scope", "scopes": ["admin"]}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        s.running.shutdown().await;
    }
);

both_stores!(
    tampered_expired_and_alg_none_tokens_refused,
    |backend| async move {
        use base64::Engine as _;
        let s = TestServer::start(backend).await;
        let token = s.admin_token().await;
        let parts: Vec<&str> = token.split('.').collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        claims["sub"] = json!("user-00000000000000000000000000000000");
        let forged_payload = b64.encode(serde_json::to_vec(&claims).unwrap());
        let none_header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let user_id = s
            .running
            .state
            .store
            .get_user_by_email(ADMIN_EMAIL)
            .await
            .unwrap()
            .unwrap()
            .user
            .id;
        let expired = s
            .running
            .state
            .tokens
            .issue_access(&user_id, chrono::Utc::now() - chrono::Duration::hours(2));
        let cases = [
            format!("{}.{}.{}", parts[0], forged_payload, parts[2]),
            format!("{none_header}.{}.", parts[1]),
            format!("{none_header}.{forged_payload}."),
            expired,
            "not-a-token".to_string(),
            format!("{}.{}.{}x", parts[0], parts[1], parts[2]),
        ];
        for bad in cases {
            let resp = s
                .http
                .get(s.url("/api/v1/auth/me"))
                .bearer_auth(&bad)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{bad}");
            assert_eq!(resp.headers().get("www-authenticate").unwrap(), "Bearer");
        }
        let (st, _) = s.call(Method::GET, "/api/v1/auth/me", None, None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        // A deactivated user's still-valid token stops working at once on this replica.
        let (t, id) = s.user(&token, "leaver@example.com").await;
        let (st, _) = s.get("/api/v1/auth/me", &t).await;
        assert_eq!(st, StatusCode::OK);
        let (st, _) = s.delete(&format!("/api/v1/users/{id}"), &token).await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, _) = s.get("/api/v1/auth/me", &t).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        s.running.shutdown().await;
    }
);

both_stores!(
    register_creates_a_tenant_and_can_be_disabled,
    |backend| async move {
        let s = TestServer::start(backend).await;
        let body = json!({"email": "Founder@Acme.io", "password": "founder-password-1", "full_name": "Ada Founder", "organization": "Acme Corp"});
        let (st, pair) = s
            .call(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(body.clone()),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{pair}");
        let t = pair["access_token"].as_str().unwrap();
        let (_, me) = s.get("/api/v1/auth/me", t).await;
        assert_eq!(me["email"], "founder@acme.io");
        assert_eq!(me["bindings"][0]["role"], "domain_admin");
        assert_eq!(me["bindings"][0]["domain"], "acme-corp");
        let (st, projects) = s.get("/api/v1/tenants/acme-corp/projects", t).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(projects["projects"][0]["name"], "default");
        let (st, _) = s
            .call(Method::POST, "/api/v1/auth/register", None, Some(body))
            .await;
        assert_eq!(st, StatusCode::CONFLICT);
        let (st, b) = s
            .call(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(json!({"email": "x@y.io", "password": "short", "full_name": "X Y"})),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(b["error"]["details"][0]["field"], "password");
        s.running.shutdown().await;

        let s = TestServer::start_with(backend, |c| c.registration_enabled = false).await;
        let (st, _) = s
            .call(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(
                    json!({"email": "a@b.io", "password": "long-enough-pass", "full_name": "A B"}),
                ),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        s.running.shutdown().await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_rate_limits_are_shared_through_redis() {
    let redis_url =
        std::env::var("DBAAS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let pg = store::testing::fresh_postgres_url().await;
    let tweak = |c: &mut server::Config| {
        c.redis_url = Some(redis_url.clone());
        c.database_url = Some(pg.clone());
        c.rate_limit_per_minute = 6;
        c.secret_key = Some("shared-secret-for-both-replicas-0123456789".into());
    };
    let a = TestServer::start_with(Backend::Sqlite, tweak).await;
    let b = TestServer::start_with(Backend::Sqlite, tweak).await;
    // Both replicas share the PostgreSQL store and Redis.
    let token = a.admin_token().await;
    let mut statuses = vec![];
    for i in 0..8 {
        let s = if i % 2 == 0 { &a } else { &b };
        let resp = s
            .http
            .get(s.url("/api/v1/auth/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(resp.headers().get("retry-after").is_some());
            assert_eq!(resp.headers().get("ratelimit-remaining").unwrap(), "0");
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        6,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
    let (st, ready) = a.call(Method::GET, "/health/ready", None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(ready["checks"]["redis"]["status"], "ok");
    a.running.shutdown().await;
    b.running.shutdown().await;
}

/// The `name=value` of each `Set-Cookie` header, with its attributes.
fn set_cookies(r: &reqwest::Response) -> Vec<(String, String, String)> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| {
            let text = v.to_str().unwrap().to_string();
            let (pair, attrs) = text.split_once(';').unwrap_or((&text, ""));
            let (k, val) = pair.split_once('=').unwrap();
            (k.to_string(), val.to_string(), attrs.to_string())
        })
        .collect()
}

/// A cookie's `(name, value, attributes)`.
fn cookie<'a>(cookies: &'a [(String, String, String)], name: &str) -> &'a (String, String, String) {
    cookies
        .iter()
        .find(|(k, _, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
}

fn cookie_value(cookies: &[(String, String, String)], name: &str) -> String {
    cookie(cookies, name).1.clone()
}

/// Signs in through the console's route.
async fn console_login(s: &TestServer, password: &str) -> reqwest::Response {
    s.http
        .post(s.url("/api/v1/auth/console/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": password}))
        .send()
        .await
        .unwrap()
}

both_stores!(
    console_session_keeps_the_refresh_token_in_a_csrf_guarded_cookie,
    |backend| async move {
        let s = TestServer::start(backend).await;
        let post = |path: &str, cookie: Option<String>, csrf: Option<String>| {
            let mut r = s.http.post(s.url(path));
            if let Some(c) = cookie {
                r = r.header("cookie", c);
            }
            if let Some(t) = csrf {
                r = r.header("x-csrf-token", t);
            }
            r.send()
        };

        // Sign in: the access token in the body, no refresh token there; two cookies.
        let r = console_login(&s, ADMIN_PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let cookies = set_cookies(&r);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body.get("refresh_token").is_none(), "{body}");
        let access = body["access_token"].as_str().unwrap().to_string();
        assert_eq!(s.get("/api/v1/auth/me", &access).await.0, StatusCode::OK);
        let refresh = cookie_value(&cookies, "dbaas_refresh");
        let csrf = cookie_value(&cookies, "dbaas_csrf");
        let attrs = |name: &str| cookie(&cookies, name).2.clone();
        assert!(attrs("dbaas_refresh").contains("HttpOnly"));
        assert!(attrs("dbaas_refresh").contains("SameSite=Strict"));
        assert!(attrs("dbaas_refresh").contains("Path=/api/v1/auth/console"));
        assert!(!attrs("dbaas_csrf").contains("HttpOnly"), "scripts read it");
        // Plain HTTP, no trusted proxy saying otherwise: not Secure (the browser would drop it).
        assert!(!attrs("dbaas_refresh").contains("Secure"));
        let jar = format!("dbaas_refresh={refresh}; dbaas_csrf={csrf}");

        // The cookie alone (a cross-site request) is refused; so is a wrong header.
        let r = post("/api/v1/auth/console/refresh", Some(jar.clone()), None)
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let e: serde_json::Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "csrf_failed");
        let r = post(
            "/api/v1/auth/console/refresh",
            Some(jar.clone()),
            Some("guessed".into()),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);

        // With the header: a new access token, both cookies rotated.
        let r = post(
            "/api/v1/auth/console/refresh",
            Some(jar.clone()),
            Some(csrf.clone()),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let rotated = set_cookies(&r);
        let refresh2 = cookie_value(&rotated, "dbaas_refresh");
        let csrf2 = cookie_value(&rotated, "dbaas_csrf");
        assert_ne!(refresh2, refresh);
        assert_ne!(csrf2, csrf);
        let body: serde_json::Value = r.json().await.unwrap();
        let access2 = body["access_token"].as_str().unwrap();
        assert_eq!(s.get("/api/v1/auth/me", access2).await.0, StatusCode::OK);

        // The old cookie presented again is reuse: 401, cookies cleared, the family ended.
        let r = post("/api/v1/auth/console/refresh", Some(jar), Some(csrf))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let cleared = set_cookies(&r);
        assert!(cleared
            .iter()
            .all(|(_, v, a)| v.is_empty() && a.contains("Max-Age=0")));
        let jar2 = format!("dbaas_refresh={refresh2}; dbaas_csrf={csrf2}");
        let r = post(
            "/api/v1/auth/console/refresh",
            Some(jar2.clone()),
            Some(csrf2.clone()),
        )
        .await
        .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "the family is revoked"
        );

        // A fresh session signs out: 204, cookies cleared, the refresh cookie no longer works.
        let r = console_login(&s, ADMIN_PASSWORD).await;
        let c = set_cookies(&r);
        let (refresh3, csrf3) = (
            cookie_value(&c, "dbaas_refresh"),
            cookie_value(&c, "dbaas_csrf"),
        );
        let jar3 = format!("dbaas_refresh={refresh3}; dbaas_csrf={csrf3}");
        let r = post("/api/v1/auth/console/logout", Some(jar3.clone()), None)
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "logout wants the header too"
        );
        let r = post(
            "/api/v1/auth/console/logout",
            Some(jar3.clone()),
            Some(csrf3.clone()),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(set_cookies(&r).len(), 2);
        let r = post("/api/v1/auth/console/refresh", Some(jar3), Some(csrf3))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

        // A wrong password is the usual 401 envelope, and sets nothing.
        let r = console_login(&s, "wrong-password-123").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(set_cookies(&r).is_empty());
    }
);

#[tokio::test]
async fn console_cookies_are_secure_behind_a_tls_terminating_proxy() {
    let s = TestServer::start_with(Backend::Sqlite, |c| c.trust_proxy = true).await;
    let r = s
        .http
        .post(s.url("/api/v1/auth/console/login"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 2);
    assert!(cookies.iter().all(|(_, _, a)| a.contains("; Secure")));
}
