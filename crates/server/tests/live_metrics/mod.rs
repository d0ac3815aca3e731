//! Live database metrics against the simulated cluster's exporters (read through its service
//! proxy): every engine's document; L1, L2 and stale answers; 1,000 concurrent cold requests read
//! the exporter once; two replicas share L2 and one read; a failing exporter opens the breaker
//! (no reads while open) and the stale copy is served; per-user and per-database limits; tenancy.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::common::cluster::*;
use super::common::{Backend, TestServer};

const WITHIN: Duration = Duration::from_secs(90);

fn redis_url() -> String {
    std::env::var("DBAAS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Exporter reads the simulated cluster has served so far.
fn proxy_reads(sim: &sim::SimHandle) -> u64 {
    sim.request_counts().verb("proxy")
}

/// Creates a database of `engine` and waits until it runs; its path.
async fn running(srv: &TestServer, token: &str, engine: &str, name: &str) -> String {
    let version = newest_version(srv, token, engine).await;
    let body = json!({"name": name, "engine": engine, "version": version,
        "size": "db.t3.small", "storage_gb": 10});
    let (s, d) = srv.post(&dbs_path("acme", "web"), token, body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{d}");
    let path = format!("{}/{}", dbs_path("acme", "web"), d["id"].as_str().unwrap());
    wait_status(srv, token, &path, "running", WITHIN).await;
    path
}

async fn setup(srv: &TestServer) -> (sim::SimHandle, String) {
    let sim = start_sim(Duration::ZERO).await;
    let admin = srv.admin_token().await;
    onboard(srv, &admin, &sim, "sim", json!({})).await;
    tenant(srv, &admin, "acme", "web", 20).await;
    (sim, admin)
}

/// Every exporter read through the cluster's service proxy takes `latency_ms` and fails (500)
/// with `error_rate`, from now on.
fn exporter_fault(sim: &sim::SimHandle, latency_ms: u64, error_rate: f64) {
    sim.faults.update(|f| {
        f.api.push(sim::faults::ApiFault {
            verb: Some("proxy".into()),
            resource: None,
            latency_ms,
            error_rate,
            error: Some(sim::faults::FaultKind::ServerError),
        })
    });
}

/// Every exporter read through the cluster's service proxy fails (500) from now on.
fn fail_exporter_reads(sim: &sim::SimHandle) {
    exporter_fault(sim, 0, 1.0);
}

async fn metrics(srv: &TestServer, token: &str, path: &str) -> (StatusCode, Value) {
    srv.get(&format!("{path}/metrics"), token).await
}

/// Every engine answers its document, first read live, then from the cache; the platform's own
/// metrics count where answers came from.
async fn each_engine(backend: Backend) {
    // A long L1, so that the second read is a cache hit however slow the machine is.
    let srv = TestServer::start_with(backend, |c| c.metrics_l1_secs = 600).await;
    let sim = start_sim(Duration::ZERO).await;
    let admin = srv.admin_token().await;
    let provider = onboard(&srv, &admin, &sim, "sim", json!({})).await;
    tenant(&srv, &admin, "acme", "web", 20).await;
    let expect: [(&str, &str); 6] = [
        ("postgres", "cache_hit_ratio"),
        ("mysql", "buffer_pool_used_ratio"),
        ("mariadb", "max_connections"),
        ("mongodb", "connections_available"),
        ("redis", "keyspace_hit_ratio"),
        ("elasticsearch", "cluster_health"),
    ];
    let mut first_id = String::new();
    for (engine, specific) in expect {
        let path = running(&srv, &admin, engine, &format!("m-{engine}")).await;
        if first_id.is_empty() {
            first_id = path.rsplit('/').next().unwrap().to_string();
        }
        let before = proxy_reads(&sim);
        let (s, m) = metrics(&srv, &admin, &path).await;
        assert_eq!(s, StatusCode::OK, "{engine}: {m}");
        assert_eq!(m["source"], "live", "{engine}: {m}");
        assert_eq!(m["engine"], engine);
        assert!(path.ends_with(m["database_id"].as_str().unwrap()));
        let doc = &m["metrics"];
        assert_eq!(
            doc["storage_total_bytes"],
            10.0 * 1024f64.powi(3),
            "{engine}: {doc}"
        );
        assert_eq!(doc["ready_replicas"], 1, "{engine}: {doc}");
        assert!(!doc[specific].is_null(), "{engine} lacks {specific}: {doc}");
        if engine != "elasticsearch" {
            assert!(doc["connections"].as_f64().is_some(), "{engine}: {doc}");
        }
        assert_eq!(proxy_reads(&sim) - before, 1, "{engine}: one exporter read");
        let (s, again) = metrics(&srv, &admin, &path).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(again["source"], "cache", "{engine}: {again}");
        assert_eq!(again["collected_at"], m["collected_at"]);
        assert_eq!(
            proxy_reads(&sim) - before,
            1,
            "{engine}: the cache answered"
        );
    }
    let text = srv.metrics().await;
    assert!(
        text.contains("dbaas_metrics_requests_total{source=\"live\"} 6"),
        "{text}"
    );
    assert!(text.contains("dbaas_metrics_exporter_fetches_total{outcome=\"ok\"} 6"));
    // What the dashboards and alerts read besides: Kubernetes requests per provider, the
    // databases as the leader's watchers see them, the queue.
    let series = |name: &str, labels: &[&str]| {
        text.lines().any(|l| {
            l.starts_with(&format!("{name}{{")) && labels.iter().all(|want| l.contains(want))
        })
    };
    let provider = format!("provider=\"{provider}\"");
    assert!(
        series(
            "dbaas_kubernetes_requests_total",
            &[&provider, "outcome=\"ok\""]
        ),
        "{text}"
    );
    assert!(series(
        "dbaas_kubernetes_request_duration_seconds_count",
        &[&provider]
    ));
    let db = format!("database_id=\"{first_id}\"");
    assert!(series("dbaas_database_storage_bytes", &[&db]), "{text}");
    let started = Instant::now();
    loop {
        let text = srv.metrics().await;
        let ready = text.lines().any(|l| {
            l.starts_with("dbaas_database_ready{") && l.contains(&db) && l.ends_with(" 1")
        });
        if ready && text.contains("dbaas_operations{state=\"queued\"}") {
            break;
        }
        assert!(started.elapsed() < WITHIN, "{text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Monitoring off: a clear 400, no read.
    let version = newest_version(&srv, &admin, "postgres").await;
    let (s, d) = srv
        .post(
            &dbs_path("acme", "web"),
            &admin,
            json!({"name": "unmonitored", "engine": "postgres", "version": version,
                "monitoring_enabled": false}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{d}");
    let path = format!("{}/{}", dbs_path("acme", "web"), d["id"].as_str().unwrap());
    wait_status(&srv, &admin, &path, "running", WITHIN).await;
    let (s, e) = metrics(&srv, &admin, &path).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["code"], "invalid_state", "{e}");

    // Another tenant's admin never sees them, even with the cache warm.
    tenant(&srv, &admin, "other", "web", 5).await;
    let (other, _) = srv
        .user_bound(
            &admin,
            "owner@other.io",
            json!([{"role": "domain_admin", "domain": "other"}]),
        )
        .await;
    let path = format!("{}/{}", dbs_path("acme", "web"), first_id);
    let id = first_id.as_str();
    for p in [
        format!("{path}/metrics"),
        format!("/api/v1/domain/other/project/web/databases/{id}/metrics"),
    ] {
        let (s, _) = srv.get(&p, &other).await;
        assert!(
            s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
            "{p}: {s}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_engine_answers_its_document_sqlite() {
    each_engine(Backend::Sqlite).await;
}

/// 1,000 concurrent requests for one cold database read its exporter once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cold_requests_read_the_exporter_once() {
    // A long L1: however long the 1,000 take, none arrives after the reading expired.
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.metrics_per_user_per_minute = 100_000;
        c.metrics_per_database_per_minute = 100_000;
        c.metrics_l1_secs = 600;
    })
    .await;
    let (sim, admin) = setup(&srv).await;
    let path = running(&srv, &admin, "postgres", "cold").await;
    let before = proxy_reads(&sim);
    let url = srv.url(&format!("{path}/metrics"));
    let answers = futures::future::join_all((0..1000).map(|_| {
        let (http, url, admin) = (srv.http.clone(), url.clone(), admin.clone());
        async move {
            let r = http.get(url).bearer_auth(admin).send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }
    }))
    .await;
    let mut live = 0;
    for (s, m) in &answers {
        assert_eq!(*s, StatusCode::OK, "{m}");
        live += usize::from(m["source"] == "live");
    }
    assert_eq!(live, 1, "one answer was read, the others waited for it");
    assert_eq!(proxy_reads(&sim) - before, 1, "exactly one exporter read");
    sim.shutdown().await;
}

/// A database being watched has its L1 entry refreshed in the background before it expires: every
/// answer is an L1 hit (none waits for a refill) while the reading keeps moving. Paused while still
/// watched, the refresh drops its entry (rather than keep refilling it), and requests say why
/// there are no metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watched_reading_is_refreshed_ahead_of_its_expiry() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.metrics_per_user_per_minute = 100_000;
        c.metrics_per_database_per_minute = 100_000;
        // Refreshed once it is 2.4 s old; requests come every 100 ms.
        c.metrics_l1_secs = 3;
    })
    .await;
    let (sim, admin) = setup(&srv).await;
    let path = running(&srv, &admin, "postgres", "watched").await;
    let (s, first) = metrics(&srv, &admin, &path).await;
    assert_eq!(
        (s, first["source"].as_str()),
        (StatusCode::OK, Some("live"))
    );
    let reads = proxy_reads(&sim);
    let mut collected = vec![first["collected_at"].clone()];
    // Three expiries' worth: without the refresh, a request after each would be a miss (`live`).
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        let (s, m) = metrics(&srv, &admin, &path).await;
        assert_eq!(
            (s, m["source"].as_str()),
            (StatusCode::OK, Some("cache")),
            "{m}"
        );
        if collected.last() != Some(&m["collected_at"]) {
            collected.push(m["collected_at"].clone());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        collected.len() >= 3 && proxy_reads(&sim) - reads >= 2,
        "refreshed in the background: {collected:?}"
    );

    let (s, op) = srv.post(&format!("{path}/pause"), &admin, json!({})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{op}");
    let started = Instant::now();
    loop {
        let (s, m) = metrics(&srv, &admin, &path).await;
        if s == StatusCode::BAD_REQUEST {
            assert_eq!(m["error"]["code"], "invalid_state", "{m}");
            break;
        }
        assert_eq!(s, StatusCode::OK, "{m}");
        assert!(started.elapsed() < WITHIN, "still answered from L1: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sim.shutdown().await;
}

/// A miss that comes while a refresh ahead is still reading (the entry expired before the slow
/// exporter answered) waits for that reading: one exporter read, not two, even without Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_miss_during_a_slow_refresh_waits_for_it() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.metrics_per_user_per_minute = 100_000;
        c.metrics_per_database_per_minute = 100_000;
        // Refreshed ahead once 1.6 s old, expired at 2 s.
        c.metrics_l1_secs = 2;
        c.metrics_fetch_timeout_ms = 20_000;
    })
    .await;
    let (sim, admin) = setup(&srv).await;
    let path = running(&srv, &admin, "postgres", "slow").await;
    let (s, first) = metrics(&srv, &admin, &path).await;
    assert_eq!(
        (s, first["source"].as_str()),
        (StatusCode::OK, Some("live"))
    );
    let taken = Instant::now();
    let reads = proxy_reads(&sim);
    // From now on the exporter takes 4 s to answer.
    exporter_fault(&sim, 4_000, 0.0);
    // Time itself is what is waited for here: the entry's age. On a slow machine the first
    // request may already be a miss, which reads once and the second is a hit: one read either way.
    tokio::time::sleep_until((taken + Duration::from_millis(1_700)).into()).await;
    let (s, m) = metrics(&srv, &admin, &path).await;
    assert_eq!(s, StatusCode::OK, "{m}");
    tokio::time::sleep_until((taken + Duration::from_millis(2_500)).into()).await;
    let (s, m) = metrics(&srv, &admin, &path).await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_ne!(
        m["collected_at"], first["collected_at"],
        "a new reading: {m}"
    );
    assert_eq!(
        proxy_reads(&sim) - reads,
        1,
        "the miss waited for the refresh's read"
    );
    sim.shutdown().await;
}

/// Two replicas on one store and one Redis: what one read, the other serves from L2; a cold
/// database asked on both at once is read once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_l2_and_one_read() {
    let url = store::testing::fresh_postgres_url().await;
    let config = |c: &mut server::config::Config| {
        c.database_url = Some(url.clone());
        // Replicas of one platform share its key (the kubeconfigs are sealed with it).
        c.secret_key = Some("metrics-test-shared-secret-key-0123456789".into());
        c.redis_url = Some(redis_url());
        c.metrics_per_user_per_minute = 100_000;
        c.metrics_per_database_per_minute = 100_000;
        // Long-lived layers: what is measured is sharing, not expiry.
        c.metrics_l1_secs = 600;
        c.metrics_l2_secs = 600;
    };
    let a = TestServer::start_with(Backend::Sqlite, config).await;
    let b = TestServer::start_with(Backend::Sqlite, config).await;
    let (sim, admin) = setup(&a).await;
    let first = running(&a, &admin, "postgres", "shared").await;
    let second = running(&a, &admin, "redis", "both").await;

    let before = proxy_reads(&sim);
    let (s, m) = metrics(&a, &admin, &first).await;
    assert_eq!(
        (s, m["source"].as_str()),
        (StatusCode::OK, Some("live")),
        "{m}"
    );
    let (s, n) = metrics(&b, &admin, &first).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(n["source"], "cache", "the other replica's L2: {n}");
    assert_eq!(n["collected_at"], m["collected_at"]);
    assert_eq!(proxy_reads(&sim) - before, 1);
    assert!(b
        .metrics()
        .await
        .contains("dbaas_metrics_requests_total{source=\"l2\"} 1"));

    let before = proxy_reads(&sim);
    let ask = |srv: &TestServer| {
        let (http, url, admin) = (
            srv.http.clone(),
            srv.url(&format!("{second}/metrics")),
            admin.clone(),
        );
        async move {
            let r = http.get(url).bearer_auth(admin).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        }
    };
    let mut all = vec![];
    for i in 0..100 {
        all.push(ask(if i % 2 == 0 { &a } else { &b }));
    }
    futures::future::join_all(all).await;
    assert_eq!(
        proxy_reads(&sim) - before,
        1,
        "one read across both replicas"
    );
    sim.shutdown().await;
}

/// A failing exporter: the stale copy is served; after the threshold the breaker opens and no
/// read goes out while it is open; once the exporter is back and the breaker's cool-down is over,
/// a live reading again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_serve_stale_and_open_the_breaker() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.metrics_l1_secs = 1;
        c.metrics_breaker_failures = 3;
        // Long enough that the reads asserted to stay away do so on a slow machine.
        c.metrics_breaker_cooldown_secs = 10;
    })
    .await;
    let (sim, admin) = setup(&srv).await;
    let path = running(&srv, &admin, "mysql", "flaky").await;
    let (s, m) = metrics(&srv, &admin, &path).await;
    assert_eq!(
        (s, m["source"].as_str()),
        (StatusCode::OK, Some("live")),
        "{m}"
    );

    fail_exporter_reads(&sim);
    // Each refill of L1 (a miss, or a hit near the entry's expiry, which refills it in the
    // background and is answered from it) tries the exporter; once one has failed, the answers
    // are the stale copy.
    let started = Instant::now();
    let failing_from = proxy_reads(&sim);
    let mut stale_served = false;
    loop {
        let (s, m) = metrics(&srv, &admin, &path).await;
        assert_eq!(s, StatusCode::OK, "{m}");
        // The cached live reading until a read has failed, then the stale copy for good (the
        // request that set off a background refill is answered from the entry it refills).
        match m["source"].as_str() {
            Some("cache") => assert!(!stale_served, "the live reading again after stale: {m}"),
            Some("stale") => stale_served = true,
            _ => panic!("neither the cached reading nor the stale copy: {m}"),
        }
        if srv
            .metrics()
            .await
            .contains("dbaas_circuit_breakers_open{scope=\"database\"} 1")
        {
            break;
        }
        assert!(started.elapsed() < WITHIN, "the breaker never opened");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(stale_served);
    assert_eq!(
        proxy_reads(&sim) - failing_from,
        3,
        "the breaker opened after 3 failed reads"
    );
    // Open: no read goes out, the stale copy is served.
    let before = proxy_reads(&sim);
    let mut stale_at = Value::Null;
    for _ in 0..5 {
        let (s, m) = metrics(&srv, &admin, &path).await;
        stale_at = m["collected_at"].clone();
        assert_eq!(
            (s, m["source"].as_str()),
            (StatusCode::OK, Some("stale")),
            "{m}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        proxy_reads(&sim),
        before,
        "no exporter read while the breaker is open"
    );

    sim.faults.update(|f| f.api.clear());
    let started = Instant::now();
    loop {
        let (s, m) = metrics(&srv, &admin, &path).await;
        assert_eq!(s, StatusCode::OK, "{m}");
        // A new reading: `live` when this request read it, `cache` when a background refill did.
        if m["source"] != "stale" {
            assert!(m["collected_at"] != stale_at, "{m}");
            break;
        }
        assert!(started.elapsed() < WITHIN, "never read live again: {m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sim.shutdown().await;
}

/// A database whose exporter was never read and cannot be: 503 `unavailable`, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_reading_at_all_is_unavailable() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let (sim, admin) = setup(&srv).await;
    let path = running(&srv, &admin, "postgres", "dark").await;
    fail_exporter_reads(&sim);
    let (s, e) = metrics(&srv, &admin, &path).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert_eq!(e["error"]["code"], "unavailable");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("exporter"),
        "{e}"
    );
    sim.shutdown().await;
}

/// The database's `<name>-stats` Service, if the cluster has it.
async fn stats_service(sim: &sim::SimHandle, ns: &str, name: &str) -> Option<Value> {
    let ar = kube::api::ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "Service".into(),
        plural: "services".into(),
    };
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(sim.client(), ns, &ar);
    let svc = api.get_opt(&format!("{name}-stats")).await.unwrap()?;
    Some(serde_json::to_value(svc).unwrap())
}

/// PATCH `monitoring_enabled` reaches the KubeDB object: off removes `spec.monitor` and the stats
/// Service (the route then says monitoring is off); on brings both back, labelled, and the route
/// reads the exporter again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn monitoring_turns_off_and_on_in_the_cluster() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let (sim, admin) = setup(&srv).await;
    let path = running(&srv, &admin, "postgres", "toggled").await;
    let (_, d) = srv.get(&path, &admin).await;
    let ns = d["namespace"].as_str().unwrap().to_string();
    let id = d["id"].as_str().unwrap().to_string();
    assert_eq!(metrics(&srv, &admin, &path).await.0, StatusCode::OK);

    let (s, v) = srv
        .patch(&path, &admin, json!({"monitoring_enabled": false}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let obj = super::kubedb_object(&sim, "postgres", &ns, "toggled").await;
    assert!(obj["spec"].get("monitor").is_none(), "{}", obj["spec"]);
    let templates = obj["spec"]["serviceTemplates"].as_array().unwrap();
    assert!(
        templates.iter().all(|t| t["alias"] != "stats"),
        "{templates:?}"
    );
    assert!(
        templates.iter().any(|t| t["alias"] == "primary"),
        "{templates:?}"
    );
    let deadline = Instant::now() + WITHIN;
    while stats_service(&sim, &ns, "toggled").await.is_some() {
        assert!(Instant::now() < deadline, "the stats Service stayed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A reading cached before (L1 keeps one for 5 s) may still answer; then the route says no.
    let deadline = Instant::now() + WITHIN;
    loop {
        let (s, e) = metrics(&srv, &admin, &path).await;
        if s == StatusCode::BAD_REQUEST {
            let message = e["error"]["message"].as_str().unwrap();
            assert!(message.contains("monitoring is off"), "{e}");
            break;
        }
        assert_eq!(s, StatusCode::OK, "{e}");
        assert!(
            Instant::now() < deadline,
            "metrics still answered with monitoring off"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (s, v) = srv
        .patch(&path, &admin, json!({"monitoring_enabled": true}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let obj = super::kubedb_object(&sim, "postgres", &ns, "toggled").await;
    assert_eq!(
        obj["spec"]["monitor"]["agent"], "prometheus.io/builtin",
        "{}",
        obj["spec"]
    );
    let deadline = Instant::now() + WITHIN;
    let svc = loop {
        if let Some(svc) = stats_service(&sim, &ns, "toggled").await {
            break svc;
        }
        assert!(Instant::now() < deadline, "no stats Service came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        svc["metadata"]["labels"]["dbaas.io/database-id"],
        id.as_str()
    );
    let deadline = Instant::now() + WITHIN;
    loop {
        let (s, m) = metrics(&srv, &admin, &path).await;
        if s == StatusCode::OK {
            assert_eq!(m["database_id"], id.as_str());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "metrics stayed unreadable: {s} {m}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sim.shutdown().await;
}

/// The per-user and per-database limits answer 429 with `Retry-After`, counted in process or
/// (shared by the replicas) in Redis.
async fn limits(redis: bool) {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.metrics_per_user_per_minute = 3;
        c.metrics_per_database_per_minute = 5;
        if redis {
            c.redis_url = Some(redis_url());
        }
    })
    .await;
    let (sim, admin) = setup(&srv).await;
    let path = running(&srv, &admin, "redis", "limited").await;
    for _ in 0..3 {
        assert_eq!(metrics(&srv, &admin, &path).await.0, StatusCode::OK);
    }
    let r = srv
        .http
        .get(srv.url(&format!("{path}/metrics")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");

    // Another user of the project still has room of their own, until the database's is used up.
    let (dev, _) = srv
        .user_bound(
            &admin,
            "dev@acme.io",
            json!([{"role": "developer", "domain": "acme", "project": "web"}]),
        )
        .await;
    // The admin's refused fourth request never reached the database's count: 3 of its 5.
    for _ in 0..2 {
        assert_eq!(metrics(&srv, &dev, &path).await.0, StatusCode::OK);
    }
    let (s, e) = metrics(&srv, &dev, &path).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{e}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_user_and_per_database_limits() {
    limits(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_user_and_per_database_limits_in_redis() {
    limits(true).await;
}

/// The real Prometheus of the monitoring tests (Debian's package; `.ci/run` installs it).
#[path = "../../../sim/tests/monitoring/mod.rs"]
mod monitoring;

/// History from a real Prometheus scraping the simulated exporters (as the shipped scrape config
/// labels them): the route's fixed queries return the database's series; a name outside the
/// engine's list is refused; without a Prometheus, 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn history_comes_from_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets.json");
    std::fs::write(&targets, "[]").unwrap();
    let sim = start_sim(Duration::ZERO).await;
    let host = sim.url.trim_start_matches("http://").to_string();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             scrape_configs:\n\
             - job_name: kubedb-databases\n\
             \x20 authorization: {{credentials: {token}}}\n\
             \x20 file_sd_configs: [{{files: ['{targets}'], refresh_interval: 1s}}]\n",
            token = sim.token,
            targets = targets.display()
        ),
    )
    .unwrap();
    let prom = monitoring::Prometheus::start(&config, dir.path(), WITHIN).await;
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.prometheus_url = Some(prom.base.clone());
        c.metrics_per_user_per_minute = 100_000;
    })
    .await;
    let admin = srv.admin_token().await;
    onboard(&srv, &admin, &sim, "sim", json!({})).await;
    tenant(&srv, &admin, "acme", "web", 20).await;
    let path = running(&srv, &admin, "postgres", "history").await;
    let id = path.rsplit('/').next().unwrap().to_string();
    let (s, d) = srv.get(&path, &admin).await;
    assert_eq!(s, StatusCode::OK);
    let ns = d["namespace"].as_str().unwrap();
    // What the shipped scrape config makes of the stats Service, reached through the service proxy.
    std::fs::write(
        &targets,
        json!([{
            "targets": [host],
            "labels": {
                "__metrics_path__": format!("/api/v1/namespaces/{ns}/services/history-stats:metrics/proxy/metrics"),
                "database_id": id, "domain": "acme", "project": "web", "namespace": ns,
                "service": "history-stats",
            }
        }])
        .to_string(),
    )
    .unwrap();
    let started = Instant::now();
    let answer = loop {
        let (s, h) = srv
            .get(
                &format!("{path}/metrics/history?metric=qps&range=5m&step=1s"),
                &admin,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{h}");
        if h["series"][0]["points"]
            .as_array()
            .is_some_and(|p| p.len() >= 2)
        {
            break h;
        }
        assert!(
            started.elapsed() < WITHIN,
            "no history after {WITHIN:?}: {h}\n{}",
            prom.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(answer["database_id"], id.as_str());
    assert_eq!(answer["unit"], "transactions/s");
    assert_eq!(answer["step_seconds"], 1);
    let point = &answer["series"][0]["points"][0];
    assert!(
        point[0].as_f64().unwrap() > 1.7e9 && point[1].as_f64().unwrap() >= 0.0,
        "{point}"
    );
    let (s, h) = srv
        .get(
            &format!("{path}/metrics/history?metric=connections"),
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{h}");
    assert_eq!(h["unit"], "connections");

    // Only the engine's own list, and sane ranges.
    let (s, e) = srv
        .get(
            &format!("{path}/metrics/history?metric=keyspace_hit_ratio"),
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cache_hit_ratio"),
        "{e}"
    );
    for q in [
        "metric=qps&range=1y",
        "metric=qps&range=1h&step=0s",
        "metric=qps&range=30d&step=1s",
    ] {
        let (s, e) = srv
            .get(&format!("{path}/metrics/history?{q}"), &admin)
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {e}");
    }

    // A platform without a Prometheus says so.
    let bare = TestServer::start(Backend::Sqlite).await;
    let admin = bare.admin_token().await;
    onboard(&bare, &admin, &sim, "sim", json!({})).await;
    tenant(&bare, &admin, "acme", "web", 20).await;
    let path = running(&bare, &admin, "redis", "no-prom").await;
    let (s, e) = bare
        .get(&format!("{path}/metrics/history?metric=qps"), &admin)
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Prometheus"),
        "{e}"
    );
    sim.shutdown().await;
}
