//! Provisioning end to end against the simulated KubeDB cluster, on both stores: every engine
//! standalone and HA to `running` and back to `deleted`; refusals; placement; concurrency; faults.

mod common;

use std::time::Duration;

use common::cluster::*;
use common::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

const ENGINES: [&str; 6] = [
    "postgres",
    "mysql",
    "mariadb",
    "mongodb",
    "redis",
    "elasticsearch",
];
const WITHIN: Duration = Duration::from_secs(60);

async fn quota_used(srv: &TestServer, token: &str, domain: &str, project: &str) -> Value {
    let (s, q) = srv
        .get(
            &format!("/api/v1/tenants/{domain}/projects/{project}/quota"),
            token,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    q
}

/// Create → running (credentials, endpoint) → delete → deleted, objects gone, reservation back.
async fn lifecycle(srv: &TestServer, admin: &str, sim: &sim::SimHandle, engine: &str, ha: bool) {
    let version = newest_version(srv, admin, engine).await;
    let name = format!(
        "{}-{}",
        &engine[..5.min(engine.len())],
        if ha { "ha" } else { "one" }
    );
    let replicas = if ha { 3 } else { 1 };
    let (s, created) = srv
        .post(
            &dbs_path("acme", "web"),
            admin,
            json!({"name": name, "engine": engine, "version": version, "replicas": replicas,
                "high_availability": ha, "size": "db.t3.small", "storage_gb": 10,
                "username": "app_user", "password": "p@ss:w/rd?#%-long"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{engine}: {created}");
    assert_eq!(created["status"], "pending");
    let id = created["id"].as_str().unwrap().to_string();
    let op = created["operation_id"].as_str().unwrap().to_string();
    assert_eq!(
        created["poll_url"].as_str().unwrap(),
        format!("/api/v1/operations/{op}")
    );
    let path = format!("{}/{id}", dbs_path("acme", "web"));
    let o = wait_operation(srv, admin, &op, WITHIN).await;
    assert_eq!(o["status"], "completed", "{engine} create: {o}");
    assert!(
        o["desired_state"].get("credentials").is_none(),
        "sealed credentials leaked: {o}"
    );
    let d = wait_status(srv, admin, &path, "running", WITHIN).await;
    assert_eq!(d["ready_replicas"], replicas, "{d}");
    assert_eq!(d["current"]["replicas"], replicas, "{d}");
    assert!(d["endpoint"].as_str().unwrap().contains(".svc"), "{d}");
    let ns = d["namespace"].as_str().unwrap().to_string();
    let (s, st) = srv.get(&format!("{path}/status"), admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(st["kubedb_phase"], "Ready");
    assert_eq!(st["replicas"]["status"], format!("{replicas}/{replicas}"));

    let (s, c) = srv.get(&format!("{path}/credentials"), admin).await;
    assert_eq!(s, StatusCode::OK, "{engine} credentials: {c}");
    assert_eq!(c["username"], "app_user");
    assert_eq!(c["password"], "p@ss:w/rd?#%-long");
    assert_eq!(c["port"].as_u64().unwrap(), d["port"].as_u64().unwrap());
    let url = c["connection_string"].as_str().unwrap();
    assert!(
        url.contains("p%40ss%3Aw%2Frd%3F%23%25-long"),
        "password must be URL-encoded: {url}"
    );
    let (s, _) = srv
        .post(&format!("{path}/refresh-endpoint"), admin, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);

    let plural = provider::kubedb::names::engine(engine).unwrap().plural;
    let exists = || {
        sim.state
            .get("kubedb.com/v1", plural, Some(&ns), &name)
            .is_some()
    };
    assert!(exists(), "{engine}: the KubeDB object exists");
    let (s, del) = srv.delete(&path, admin).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{del}");
    let o = wait_operation(srv, admin, del["operation_id"].as_str().unwrap(), WITHIN).await;
    assert_eq!(o["status"], "completed", "{engine} delete: {o}");
    let d = wait_status(srv, admin, &path, "deleted", WITHIN).await;
    assert!(d["endpoint"].is_null());
    assert!(!exists(), "{engine}: the KubeDB object is gone");
}

both_stores!(every_engine_standalone_and_ha, |backend| async move {
    let sim = start_sim(Duration::from_millis(200)).await;
    let srv = TestServer::start(backend).await;
    let admin = srv.admin_token().await;
    onboard(&srv, &admin, &sim, "sim-1", json!({})).await;
    tenant(&srv, &admin, "acme", "web", 50).await;
    let runs = ENGINES.iter().flat_map(|e| [(*e, false), (*e, true)]);
    futures::future::join_all(runs.map(|(e, ha)| lifecycle(&srv, &admin, &sim, e, ha))).await;
    let q = quota_used(&srv, &admin, "acme", "web").await;
    assert_eq!(q["used_databases"], 0, "every reservation released: {q}");
    assert_eq!(q["used_cpu_cores"], 0.0, "{q}");
    // Deleted records stay for audit, out of the default listing.
    let (_, list) = srv.get(&dbs_path("acme", "web"), &admin).await;
    assert_eq!(list["total"], 0, "{list}");
    let (_, list) = srv
        .get(
            &format!("{}?status=deleted&page_size=100", dbs_path("acme", "web")),
            &admin,
        )
        .await;
    assert_eq!(list["total"], 12, "{list}");
    sim.shutdown().await;
    srv.running.shutdown().await;
});

// The read cache never shows a page or record older than the last write: a create shows
// in the next listing, the watcher's status changes in the next GET, a delete leaves the listing.
both_stores!(reads_follow_every_write, |backend| async move {
    let sim = start_sim(Duration::from_millis(300)).await;
    let srv = TestServer::start(backend).await;
    let admin = srv.admin_token().await;
    onboard(&srv, &admin, &sim, "sim-1", json!({})).await;
    tenant(&srv, &admin, "acme", "web", 50).await;
    let list = dbs_path("acme", "web");
    let names = |v: &Value| -> Vec<String> {
        v["databases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                format!(
                    "{}:{}",
                    d["name"].as_str().unwrap(),
                    d["status"].as_str().unwrap()
                )
            })
            .collect()
    };
    for _ in 0..3 {
        let (s, v) = srv.get(&list, &admin).await;
        assert_eq!((s, v["total"].as_i64()), (StatusCode::OK, Some(0)), "{v}");
    }
    let version = newest_version(&srv, &admin, "postgres").await;
    let (s, created) = srv
        .post(
            &list,
            &admin,
            json!({"name": "fresh", "engine": "postgres", "version": version}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{created}");
    let (_, v) = srv.get(&list, &admin).await;
    let shown = names(&v);
    assert!(
        shown == ["fresh:pending"] || shown == ["fresh:provisioning"],
        "a create shows at once: {shown:?}"
    );
    let path = format!("{list}/{}", created["id"].as_str().unwrap());
    let (_, one) = srv.get(&path, &admin).await;
    assert!(
        one["status"] == "pending" || one["status"] == "provisioning",
        "{one}"
    );
    wait_status(&srv, &admin, &path, "running", WITHIN).await;
    let (_, v) = srv.get(&list, &admin).await;
    assert_eq!(
        names(&v),
        ["fresh:running"],
        "the listing follows the watcher"
    );
    let (s, del) = srv.delete(&path, &admin).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{del}");
    wait_status(&srv, &admin, &path, "deleted", WITHIN).await;
    let (_, v) = srv.get(&list, &admin).await;
    assert_eq!(v["total"], 0, "{v}");
    // Repeated reads were answered from the cache (on PostgreSQL too: it hears every write).
    let metrics = srv.metrics().await;
    let hits = metrics
        .lines()
        .find(|l| l.starts_with("dbaas_read_cache_lookups_total{result=\"hit\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(hits > 0, "no cache hits on {backend:?}:\n{metrics}");
});

both_stores!(refusals_say_why, |backend| async move {
    let sim = start_sim(Duration::ZERO).await;
    let srv = TestServer::start(backend).await;
    let admin = srv.admin_token().await;
    onboard(&srv, &admin, &sim, "sim-1", json!({})).await;
    tenant(&srv, &admin, "acme", "web", 50).await;
    let path = dbs_path("acme", "web");
    let cases = [
        (
            json!({"name": "nover", "engine": "postgres", "version": "8.4"}),
            "version_unavailable",
            "not in the catalog",
        ),
        (
            json!({"name": "oldie", "engine": "postgres", "version": deprecated_version(&sim, "postgres").await}),
            "version_unavailable",
            "deprecated",
        ),
        (
            json!({"name": "two", "engine": "postgres", "version": "16.10", "replicas": 2, "high_availability": true}),
            "bad_request",
            "odd",
        ),
        (
            json!({"name": "three", "engine": "postgres", "version": "16.10", "replicas": 3}),
            "bad_request",
            "high_availability",
        ),
        (
            json!({"name": "evenmongo", "engine": "mongodb", "version": newest_version(&srv, &admin, "mongodb").await, "replicas": 4, "high_availability": true}),
            "bad_request",
            "odd",
        ),
    ];
    for (body, code, text) in cases {
        let (s, e) = srv.post(&path, &admin, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert_eq!(e["error"]["code"], code, "{e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(text),
            "{body}: {e}"
        );
    }
    for (body, field) in [
        (
            json!({"name": "x", "engine": "postgres", "version": "16.10"}),
            "name",
        ),
        (
            json!({"name": "okname", "engine": "oracle", "version": "1"}),
            "engine",
        ),
        (
            json!({"name": "okname", "engine": "postgres", "version": "16.10", "storage_gb": 5}),
            "storage_gb",
        ),
        (
            json!({"name": "okname", "engine": "postgres", "version": "16.10", "password": "short"}),
            "password",
        ),
        (
            json!({"name": "okname", "engine": "postgres", "version": "16.10", "labels": {"dbaas.io/x": "y"}}),
            "labels",
        ),
        (
            json!({"name": "okname", "engine": "postgres", "version": "16.10", "size": "db.huge"}),
            "size",
        ),
    ] {
        let (s, e) = srv.post(&path, &admin, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {e}");
        assert!(
            e["error"]["details"].to_string().contains(field),
            "{body}: {e}"
        );
    }
    // Duplicate names conflict; deletion protection refuses deletion.
    let body = json!({"name": "keep", "engine": "postgres", "version": "16.10", "deletion_protection": true});
    let (s, d) = srv.post(&path, &admin, body.clone()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{d}");
    let (s, _) = srv.post(&path, &admin, body).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let id = d["id"].as_str().unwrap();
    wait_status(&srv, &admin, &format!("{path}/{id}"), "running", WITHIN).await;
    let (s, e) = srv.delete(&format!("{path}/{id}"), &admin).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "invalid_state");
    // The KubeDB object carries DoNotTerminate.
    let obj = sim
        .state
        .get(
            "kubedb.com/v1",
            "postgreses",
            Some(provider::translate::namespace_name("acme", "web").as_str()),
            "keep",
        )
        .expect("the KubeDB object exists");
    assert_eq!(obj["spec"]["deletionPolicy"], "DoNotTerminate");
    sim.shutdown().await;
    srv.running.shutdown().await;
});

/// A deprecated version in the simulated catalog.
async fn deprecated_version(sim: &sim::SimHandle, engine: &str) -> String {
    let cluster = provider::Cluster::connect(&sim.kubeconfig_yaml, true)
        .await
        .unwrap();
    let report = cluster.probe().await.unwrap();
    report
        .catalog
        .iter()
        .find(|c| c.engine.as_str() == engine && c.deprecated)
        .map(|c| c.name.clone())
        .expect("the simulated catalog has a deprecated version")
}

both_stores!(
    placement_prefers_dedicated_and_skips_unavailable,
    |backend| async move {
        let sim = start_sim(Duration::ZERO).await;
        let srv = TestServer::start(backend).await;
        let admin = srv.admin_token().await;
        tenant(&srv, &admin, "acme", "web", 50).await;
        tenant(&srv, &admin, "globex", "web", 50).await;
        let shared = onboard(&srv, &admin, &sim, "shared", json!({"priority": 1000})).await;
        let dedicated = onboard(
            &srv,
            &admin,
            &sim,
            "dedicated",
            json!({"domain": "acme", "cpu_total_cores": 10}),
        )
        .await;
        let other = onboard(
            &srv,
            &admin,
            &sim,
            "other-tenant",
            json!({"domain": "globex"}),
        )
        .await;
        let far = onboard(
            &srv,
            &admin,
            &sim,
            "far",
            json!({"region": "us-east", "availability_zone": "us-east-1a"}),
        )
        .await;
        let path = dbs_path("acme", "web");
        let create = |name: &str| json!({"name": name, "engine": "redis", "version": "7.4.1", "storage_gb": 10});
        let version = newest_version(&srv, &admin, "redis").await;
        let create = |name: &str| {
            let mut b = create(name);
            b["version"] = json!(version);
            b
        };
        let (s, d) = srv.post(&path, &admin, create("first")).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{d}");
        assert_eq!(d["provider_id"], dedicated.as_str(), "dedicated first: {d}");
        let (s, _) = srv
            .patch(
                &format!("/api/v1/providers/{dedicated}"),
                &admin,
                json!({"is_maintenance": true}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (_, d) = srv.post(&path, &admin, create("second")).await;
        assert_eq!(
            d["provider_id"],
            shared.as_str(),
            "maintenance skipped: {d}"
        );
        let (s, _) = srv
            .patch(
                &format!("/api/v1/providers/{shared}"),
                &admin,
                json!({"is_active": false}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, d) = srv.post(&path, &admin, create("third")).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{d}");
        assert_eq!(
            d["provider_id"],
            far.as_str(),
            "inactive skipped, another tenant's never used: {d}"
        );
        assert_ne!(d["provider_id"], other.as_str());
        // Region steering.
        let (s, e) = srv
            .http
            .post(srv.url(&path))
            .bearer_auth(&admin)
            .header("X-Region", "ap-south")
            .json(&create("fourth"))
            .send()
            .await
            .map(|r| (r.status(), r))
            .unwrap();
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let e: Value = e.json().await.unwrap();
        assert_eq!(e["error"]["code"], "no_capacity", "{e}");
        sim.shutdown().await;
        srv.running.shutdown().await;
    }
);

both_stores!(
    concurrent_creates_never_over_allocate,
    |backend| async move {
        let sim = start_sim(Duration::ZERO).await;
        let srv = TestServer::start(backend).await;
        let admin = srv.admin_token().await;
        // 4 cores at 100 % hold 8 micro (0.5-core) databases; the project quota admits 12.
        onboard(
            &srv,
            &admin,
            &sim,
            "small",
            json!({"cpu_total_cores": 4, "cpu_reservation_percent": 100}),
        )
        .await;
        tenant(&srv, &admin, "acme", "web", 12).await;
        let version = newest_version(&srv, &admin, "postgres").await;
        let path = dbs_path("acme", "web");
        let results = futures::future::join_all((0..30).map(|i| {
            let body =
                json!({"name": format!("db-{i:02}"), "engine": "postgres", "version": version});
            let (srv, admin, path) = (&srv, &admin, &path);
            async move { srv.post(path, admin, body).await }
        }))
        .await;
        let accepted = results
            .iter()
            .filter(|(s, _)| *s == StatusCode::ACCEPTED)
            .count();
        let no_room = results
            .iter()
            .filter(|(s, e)| *s == StatusCode::BAD_REQUEST && e["error"]["code"] == "no_capacity")
            .count();
        assert_eq!(accepted, 8, "the provider admits exactly 8");
        assert_eq!(no_room, 22);
        let (_, p) = srv.get("/api/v1/providers", &admin).await;
        let cpu = &p
            .as_array()
            .map(|a| a[0].clone())
            .unwrap_or_else(|| p["providers"][0].clone())["resources"]["cpu"];
        assert_eq!(cpu["allocated_cores"], 4.0, "{p}");
        // A tighter project quota: 3 more fit the quota (11 of 12 would be over the provider anyway).
        sim.shutdown().await;
        srv.running.shutdown().await;
    }
);

both_stores!(
    unreachable_provider_fails_and_releases,
    |backend| async move {
        let sim = start_sim(Duration::ZERO).await;
        let srv = TestServer::start_with(backend, |c| {
            c.operation_max_retries = 2;
            c.retry_base_ms = 20;
            c.retry_cap_secs = 1;
        })
        .await;
        let admin = srv.admin_token().await;
        onboard(&srv, &admin, &sim, "doomed", json!({})).await;
        tenant(&srv, &admin, "acme", "web", 10).await;
        let version = newest_version(&srv, &admin, "postgres").await;
        sim.shutdown().await;
        let (s, d) = srv
            .post(
                &dbs_path("acme", "web"),
                &admin,
                json!({"name": "lost", "engine": "postgres", "version": version}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{d}");
        let o = wait_operation(&srv, &admin, d["operation_id"].as_str().unwrap(), WITHIN).await;
        assert_eq!(o["status"], "failed", "{o}");
        assert_eq!(o["retry_count"], 2, "{o}");
        assert!(
            o["error_message"].as_str().unwrap().contains("gave up"),
            "{o}"
        );
        let path = format!("{}/{}", dbs_path("acme", "web"), d["id"].as_str().unwrap());
        wait_status(&srv, &admin, &path, "failed", WITHIN).await;
        let q = quota_used(&srv, &admin, "acme", "web").await;
        assert_eq!(q["used_databases"], 0, "reservation released: {q}");
        srv.running.shutdown().await;
    }
);

both_stores!(faults_delay_but_do_not_break, |backend| async move {
    let sim = start_sim_with(|c| {
        c.operator.provisioning_delay = Duration::from_millis(300);
        c.faults = sim::FaultSettings {
            api: vec![sim::faults::ApiFault {
                verb: None,
                resource: None,
                latency_ms: 20,
                error_rate: 0.2,
                error: Some(sim::faults::FaultKind::ServerError),
            }],
            cut_watches_after_secs: Some(1),
            ..Default::default()
        };
    })
    .await;
    let srv = TestServer::start_with(backend, |c| {
        c.retry_base_ms = 50;
        c.retry_cap_secs = 1;
        c.operation_max_retries = 10;
        // Cut watches lose wake-ups by design here: a parked create looks again every 2 s.
        c.park_recheck_secs = 2;
    })
    .await;
    let admin = srv.admin_token().await;
    // Onboarding itself must get through a clean cluster; faults start after it.
    let faults = sim.faults.get();
    sim.faults.set(Default::default());
    onboard(&srv, &admin, &sim, "flaky", json!({})).await;
    sim.faults.set(faults);
    tenant(&srv, &admin, "acme", "web", 10).await;
    let version = "16.10";
    let mut ids = vec![];
    for i in 0..5 {
        let (s, d) = srv
            .post(
                &dbs_path("acme", "web"),
                &admin,
                json!({"name": format!("flaky-{i}"), "engine": "postgres", "version": version}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{d}");
        ids.push(d["id"].as_str().unwrap().to_string());
    }
    for id in ids {
        wait_status(
            &srv,
            &admin,
            &format!("{}/{id}", dbs_path("acme", "web")),
            "running",
            Duration::from_secs(120),
        )
        .await;
    }
    sim.faults.set(Default::default());
    sim.shutdown().await;
    srv.running.shutdown().await;
});

/// Two replicas on one PostgreSQL: each operation carried out exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_process_each_operation_once() {
    let sim = start_sim(Duration::from_millis(100)).await;
    let url = store::testing::fresh_postgres_url().await;
    // Replicas share the store and the master secret.
    let shared = |c: &mut server::Config| {
        c.database_url = Some(url.clone());
        c.secret_key = Some("two-replicas-share-this-secret-0123456789".into());
    };
    let a = TestServer::start_with(Backend::Postgres, shared).await;
    let b = TestServer::start_with(Backend::Postgres, shared).await;
    let admin = a.admin_token().await;
    onboard(&a, &admin, &sim, "shared", json!({})).await;
    tenant(&a, &admin, "acme", "web", 50).await;
    let path = dbs_path("acme", "web");
    let admin_b = b.admin_token().await;
    let mut ops = vec![];
    for i in 0..20 {
        let (srv, token) = if i % 2 == 0 {
            (&a, &admin)
        } else {
            (&b, &admin_b)
        };
        let (s, d) = srv
            .post(
                &path,
                token,
                json!({"name": format!("pair-{i:02}"), "engine": "postgres", "version": "16.10"}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{d}");
        ops.push(d["operation_id"].as_str().unwrap().to_string());
    }
    for op in &ops {
        let o = wait_operation(&a, &admin, op, WITHIN).await;
        assert_eq!(o["status"], "completed", "{o}");
        assert_eq!(o["retry_count"], 0, "ran once: {o}");
    }
    assert_eq!(
        count_objects(
            &sim,
            "postgreses",
            &provider::translate::namespace_name("acme", "web"),
        )
        .await,
        20
    );
    // Both replicas worked (the claims are spread), and no create was sent twice.
    let posts = sim.request_counts().get("create", "postgreses.kubedb.com");
    assert_eq!(posts, 20, "one create request per database");
    sim.shutdown().await;
    a.running.shutdown().await;
    b.running.shutdown().await;
}
