//! Security regressions: abuse of the routes that answer without a credential (finding 3 of the
//! review: 32 concurrent sign-ups took resident memory from ~45 MB to ~700 MB and created 32
//! tenants with ten times the default quota), and client addresses behind proxies.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::*;

/// One request as an outsider sends it, optionally through our proxy (`X-Forwarded-For`).
async fn send(
    s: &TestServer,
    method: Method,
    path: &str,
    forwarded_for: Option<&str>,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = s.http.request(method, s.url(path));
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert!(
        status.as_u16() < 500 || status == StatusCode::SERVICE_UNAVAILABLE,
        "{status} on {path}: {text}"
    );
    if status.is_client_error() || status.is_server_error() {
        assert_envelope(status, &json);
    }
    (status, headers, json)
}

fn signup(i: usize) -> Value {
    json!({"email": format!("mallory{i}@evil.example"), "password": "mallory-password-1", "full_name": format!("Mallory {i}")})
}

/// The value of an unlabelled (or fully labelled) sample in Prometheus text.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
        .trim()
        .parse()
        .unwrap()
}

/// A 429 in the contract's shape: `rate_limited`, `Retry-After` and `RateLimit-*`.
fn assert_rate_limited(status: StatusCode, headers: &HeaderMap, body: &Value) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "Retry-After {retry}");
    assert!(headers.contains_key("ratelimit-limit"));
    assert_eq!(headers["ratelimit-remaining"], "0");
}

/// A client address of our own, so that limits counted in a shared Redis never meet another
/// test's (or another run's): a random /64 of the documentation range.
fn random_client() -> String {
    format!(
        "2001:db8:{:x}:{:x}::1",
        rand::random::<u16>(),
        rand::random::<u16>()
    )
}

both_stores!(
    concurrent_signups_from_one_ip_are_limited_and_get_a_small_quota,
    |backend| async move {
        let s = TestServer::start_with(backend, |c| {
            c.registrations_per_hour_per_ip = 5;
            c.unauthenticated_per_minute_per_ip = 60;
        })
        .await;
        // The attack of the review: 32 sign-ups at once from one address.
        let answers = join_all((0..32).map(|i| {
            let s = &s;
            async move {
                send(
                    s,
                    Method::POST,
                    "/api/v1/auth/register",
                    None,
                    None,
                    Some(signup(i)),
                )
                .await
            }
        }))
        .await;
        let mut tokens = vec![];
        for (status, headers, body) in &answers {
            match *status {
                StatusCode::CREATED => {
                    tokens.push(body["access_token"].as_str().unwrap().to_string())
                }
                _ => assert_rate_limited(*status, headers, body),
            }
        }
        assert_eq!(tokens.len(), 5, "five sign-ups per hour per IP");

        // Each tenant that got through holds the small self-service quota, domain and project.
        for t in &tokens {
            let (_, me) = s.get("/api/v1/auth/me", t).await;
            let domain = me["bindings"][0]["domain"].as_str().unwrap().to_string();
            let (st, q) = s.get(&format!("/api/v1/tenants/{domain}/quota"), t).await;
            assert_eq!(st, StatusCode::OK, "{q}");
            assert_eq!(q["max_databases"], 2, "{q}");
            assert_eq!(q["max_cpu_cores"].as_f64(), Some(2.0), "{q}");
            assert_eq!(q["max_memory_gb"].as_f64(), Some(4.0), "{q}");
            assert_eq!(q["max_storage_gb"].as_f64(), Some(20.0), "{q}");
            let (st, q) = s
                .get(
                    &format!("/api/v1/tenants/{domain}/projects/default/quota"),
                    t,
                )
                .await;
            assert_eq!(st, StatusCode::OK, "{q}");
            assert_eq!(q["max_databases"], 2, "{q}");
            // The owner cannot raise their own tenant's quota.
            let (st, _) = s
                .patch(
                    &format!("/api/v1/tenants/{domain}"),
                    t,
                    json!({"quota": {"max_databases": 1000}}),
                )
                .await;
            assert_eq!(st, StatusCode::FORBIDDEN);
        }

        // A tenant a platform admin creates keeps the regular defaults.
        let admin = s.admin_token().await;
        let (st, b) = s
            .post("/api/v1/tenants", &admin, json!({"name": "onboarded"}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        let (_, q) = s.get("/api/v1/tenants/onboarded/quota", &admin).await;
        assert_eq!(q["max_databases"], 100, "{q}");
        s.running.shutdown().await;
    }
);

both_stores!(a_taken_email_answers_without_a_hash, |backend| async move {
    let s = TestServer::start(backend).await;
    let hashes = |m: &str| sample(m, "dbaas_password_hashes_total{op=\"hash\"}");
    let before = hashes(&s.metrics().await);
    let (st, _, b) = send(
        &s,
        Method::POST,
        "/api/v1/auth/register",
        None,
        None,
        Some(signup(1)),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let after_first = hashes(&s.metrics().await);
    assert_eq!(
        after_first,
        before + 1.0,
        "a sign-up hashes its password once"
    );
    // The same e-mail again, differently cased: 409 at once, no argon2 work spent on it.
    let mut again = signup(1);
    again["email"] = json!("MALLORY1@evil.example");
    for _ in 0..3 {
        let (st, _, b) = send(
            &s,
            Method::POST,
            "/api/v1/auth/register",
            None,
            None,
            Some(again.clone()),
        )
        .await;
        assert_eq!(st, StatusCode::CONFLICT, "{b}");
        assert_eq!(b["error"]["code"], "conflict", "{b}");
    }
    assert_eq!(hashes(&s.metrics().await), after_first);
    s.running.shutdown().await;
});

both_stores!(
    login_refresh_and_failed_auth_are_limited_per_ip,
    |backend| async move {
        let s = TestServer::start_with(backend, |c| {
            c.unauthenticated_per_minute_per_ip = 6;
            // Our test client stands behind "our proxy" at 127.0.0.1, so each test address is its own client.
            c.trust_proxy = true;
        })
        .await;
        let refresh = json!({"refresh_token": "not-a-real-token"});
        let login = json!({"email": "nobody@example.com", "password": "wrong-password-1"});

        // Refresh: six tries, then 429.
        let ip = random_client();
        for _ in 0..6 {
            let (st, _, b) = send(
                &s,
                Method::POST,
                "/api/v1/auth/refresh",
                Some(&ip),
                None,
                Some(refresh.clone()),
            )
            .await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "{b}");
        }
        let (st, h, b) = send(
            &s,
            Method::POST,
            "/api/v1/auth/refresh",
            Some(&ip),
            None,
            Some(refresh.clone()),
        )
        .await;
        assert_rate_limited(st, &h, &b);
        // The budget is per IP across the open routes: login from there is refused before any hash.
        let (st, h, b) = send(
            &s,
            Method::POST,
            "/api/v1/auth/login",
            Some(&ip),
            None,
            Some(login.clone()),
        )
        .await;
        assert_rate_limited(st, &h, &b);
        let (st, h, b) = send(
            &s,
            Method::POST,
            "/api/v1/auth/logout",
            Some(&ip),
            None,
            Some(refresh.clone()),
        )
        .await;
        assert_rate_limited(st, &h, &b);

        // Login from another address: its own budget.
        let ip = random_client();
        for _ in 0..6 {
            let (st, _, b) = send(
                &s,
                Method::POST,
                "/api/v1/auth/login",
                Some(&ip),
                None,
                Some(login.clone()),
            )
            .await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "{b}");
        }
        let (st, h, b) = send(
            &s,
            Method::POST,
            "/api/v1/auth/login",
            Some(&ip),
            None,
            Some(login.clone()),
        )
        .await;
        assert_rate_limited(st, &h, &b);

        // Guessing credentials on a protected route counts too.
        let ip = random_client();
        for _ in 0..6 {
            let (st, _, b) = send(
                &s,
                Method::GET,
                "/api/v1/auth/me",
                Some(&ip),
                Some("dbaas_guess0000000000000000"),
                None,
            )
            .await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "{b}");
        }
        let (st, h, b) = send(
            &s,
            Method::GET,
            "/api/v1/auth/me",
            Some(&ip),
            Some("dbaas_guess0000000000000000"),
            None,
        )
        .await;
        assert_rate_limited(st, &h, &b);

        // An authenticated caller from a throttled address is not affected: its limit is its own.
        let (st, _, pair) = send(
            &s,
            Method::POST,
            "/api/v1/auth/login",
            Some(&random_client()),
            None,
            Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{pair}");
        let token = pair["access_token"].as_str().unwrap();
        let (st, _, b) = send(
            &s,
            Method::GET,
            "/api/v1/auth/me",
            Some(&ip),
            Some(token),
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        s.running.shutdown().await;
    }
);

/// Trust the proxy?, trusted CIDRs, the `X-Forwarded-For` of the attacker's i-th request.
type Case = (bool, Vec<&'static str>, fn(usize) -> String);

both_stores!(
    spoofed_forwarded_for_does_not_escape_the_limit,
    |backend| async move {
        let refresh = json!({"refresh_token": "not-a-real-token"});
        // Each configuration: (trust the proxy?, trusted CIDRs, what the attacker's request carries).
        // 1. No proxy trusted: any X-Forwarded-For is the attacker's own words.
        // 2. Our proxy (the peer) appends the address it saw: the spoofed left part changes, the
        //    right-most entry does not.
        // 3. Only 10.0.0.0/8 is trusted: a direct connection from elsewhere is never believed.
        let cases: [Case; 3] = [
            (false, vec![], |i| format!("198.51.100.{i}")),
            (true, vec![], |i| {
                format!("198.51.100.{i}, 10.0.0.{i}, 192.0.2.77")
            }),
            (true, vec!["10.0.0.0/8"], |i| format!("10.0.0.{i}")),
        ];
        for (trust, cidrs, header) in cases {
            let s = TestServer::start_with(backend, |c| {
                c.unauthenticated_per_minute_per_ip = 5;
                c.trust_proxy = trust;
                c.trusted_proxies = cidrs.iter().map(|c| c.parse().unwrap()).collect();
            })
            .await;
            let mut statuses = vec![];
            for i in 0..12 {
                let (st, _, _) = send(
                    &s,
                    Method::POST,
                    "/api/v1/auth/refresh",
                    Some(&header(i)),
                    None,
                    Some(refresh.clone()),
                )
                .await;
                statuses.push(st.as_u16());
            }
            assert_eq!(
                statuses,
                [vec![401; 5], vec![429; 7]].concat(),
                "trust_proxy={trust} cidrs={cidrs:?}"
            );
            s.running.shutdown().await;
        }
    }
);

both_stores!(
    the_password_gate_bounds_concurrent_hashes,
    |backend| async move {
        let s = TestServer::start_with(backend, |c| {
            c.password_hash_concurrency = 2;
            c.password_hash_wait_ms = 600_000;
        })
        .await;
        // 32 sign-ups and 32 logins at once (per-IP limits raised): all answered, two hashes at a time.
        let answers = join_all((0..32).map(|i| {
            let s = &s;
            async move {
                send(
                    s,
                    Method::POST,
                    "/api/v1/auth/register",
                    None,
                    None,
                    Some(signup(i)),
                )
                .await
            }
        }))
        .await;
        assert!(answers.iter().all(|a| a.0 == StatusCode::CREATED));
        let answers = join_all((0..32).map(|i| {
        let s = &s;
        let body = json!({"email": format!("mallory{i}@evil.example"), "password": "mallory-password-1"});
        async move { send(s, Method::POST, "/api/v1/auth/login", None, None, Some(body)).await }
    }))
    .await;
        assert!(answers.iter().all(|a| a.0 == StatusCode::OK));
        let m = s.metrics().await;
        assert_eq!(sample(&m, "dbaas_password_hash_permits"), 2.0);
        let peak = sample(&m, "dbaas_password_hashes_in_flight_max");
        assert!((1.0..=2.0).contains(&peak), "peak {peak}");
        // The bootstrap admin's hash, then ours.
        assert_eq!(sample(&m, "dbaas_password_hashes_total{op=\"hash\"}"), 33.0);
        assert_eq!(
            sample(&m, "dbaas_password_hashes_total{op=\"verify\"}"),
            32.0
        );
        assert_eq!(sample(&m, "dbaas_password_hashes_in_flight"), 0.0);
        s.running.shutdown().await;

        // With one permit and almost no wait, the excess is told to come back: 503 with Retry-After,
        // never a 500 and never an unbounded queue.
        let s = TestServer::start_with(backend, |c| {
            c.password_hash_concurrency = 1;
            c.password_hash_wait_ms = 1;
            c.login_attempts_per_ip = 100_000;
        })
        .await;
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut refused = 0;
        while refused == 0 {
            assert!(Instant::now() < deadline, "no login was ever refused");
            // Unknown accounts (a verification all the same), so no per-account limit interferes.
            let answers = join_all((0..8).map(|_| {
            let s = &s;
            let body = json!({"email": format!("{}@example.com", random_client().replace(':', "-")), "password": "wrong-password-1"});
            async move { send(s, Method::POST, "/api/v1/auth/login", None, None, Some(body)).await }
        }))
        .await;
            for (st, h, b) in answers {
                match st {
                    StatusCode::UNAUTHORIZED => {}
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert_eq!(b["error"]["code"], "unavailable", "{b}");
                        assert_eq!(h["retry-after"], "1");
                        refused += 1;
                    }
                    other => panic!("unexpected {other}: {b}"),
                }
            }
        }
        let m = s.metrics().await;
        assert!(sample(&m, "dbaas_password_hashes_rejected_total") >= refused as f64);
        assert!(sample(&m, "dbaas_password_hashes_in_flight_max") <= 1.0);
        s.running.shutdown().await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signup_limit_is_shared_between_replicas_through_redis() {
    let redis_url =
        std::env::var("DBAAS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let pg = store::testing::fresh_postgres_url().await;
    let tweak = |c: &mut server::Config| {
        c.redis_url = Some(redis_url.clone());
        c.database_url = Some(pg.clone());
        c.secret_key = Some("shared-secret-for-both-replicas-0123456789".into());
        c.registrations_per_hour_per_ip = 3;
        c.trust_proxy = true;
    };
    let a = TestServer::start_with(Backend::Sqlite, tweak).await;
    let b = TestServer::start_with(Backend::Sqlite, tweak).await;
    let ip = random_client();
    let mut statuses = vec![];
    for i in 0..6 {
        let s = if i % 2 == 0 { &a } else { &b };
        let (st, _, _) = send(
            s,
            Method::POST,
            "/api/v1/auth/register",
            Some(&ip),
            None,
            Some(signup(i)),
        )
        .await;
        statuses.push(st.as_u16());
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429, 429]);
    a.running.shutdown().await;
    b.running.shutdown().await;
}
