//! Security regressions: operations.
//! - Finding 7: one tenant's slow creates must not hold every worker (submit, park, resume).
//! - Finding 4: a failed or timed-out create must not leave a database running outside its quota.
//! - A cancelled create that had already started leaves a consistent record.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::cluster::*;
use crate::common::*;

const WITHIN: Duration = Duration::from_secs(90);

async fn create(srv: &TestServer, token: &str, domain: &str, name: &str) -> (String, String) {
    let (s, d) = srv
        .post(
            &dbs_path(domain, "web"),
            token,
            json!({"name": name, "engine": "postgres", "version": "16.10"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "creating {name}: {d}");
    (
        d["id"].as_str().unwrap().to_string(),
        d["operation_id"].as_str().unwrap().to_string(),
    )
}

async fn operation(srv: &TestServer, token: &str, id: &str) -> Value {
    let (s, o) = srv.get(&format!("/api/v1/operations/{id}"), token).await;
    assert_eq!(s, StatusCode::OK, "{o}");
    o
}

/// The namespace the platform uses for a project, learnt the way a tenant sees it: from a probe
/// database's record (then deleted again).
async fn project_namespace(srv: &TestServer, token: &str, domain: &str) -> String {
    let (id, _) = create(srv, token, domain, "probe").await;
    let path = format!("{}/{id}", dbs_path(domain, "web"));
    let d = wait_status(srv, token, &path, "running", WITHIN).await;
    let ns = d["namespace"].as_str().unwrap().to_string();
    let (s, del) = srv.delete(&path, token).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{del}");
    wait_status(srv, token, &path, "deleted", WITHIN).await;
    ns
}

fn force_phase(sim: &sim::SimHandle, ns: &str, name: &str, phase: Option<&str>) {
    let key = format!("{ns}/{name}");
    sim.faults.update(|f| match phase {
        Some(p) => {
            f.force_db_phase.insert(key, p.to_string());
        }
        None => {
            f.force_db_phase.remove(&key);
        }
    });
}

both_stores!(
    slow_creates_of_one_tenant_do_not_stall_another,
    |backend| async move {
        let sim = start_sim(Duration::from_millis(200)).await;
        // Fewer workers than the slow tenant has creates.
        let srv = TestServer::start_with(backend, |c| c.workers = 2).await;
        let admin = srv.admin_token().await;
        onboard(&srv, &admin, &sim, "shared", json!({})).await;
        tenant(&srv, &admin, "acme", "web", 10).await;
        tenant(&srv, &admin, "globex", "web", 10).await;
        let ns = project_namespace(&srv, &admin, "acme").await;

        // acme's databases never turn Ready while the cluster holds them NotReady.
        let slow: Vec<String> = (1..=4).map(|i| format!("slow-{i}")).collect();
        for name in &slow {
            force_phase(&sim, &ns, name, Some("NotReady"));
        }
        let mut acme = vec![];
        for name in &slow {
            acme.push(create(&srv, &admin, "acme", name).await);
        }
        // Every one of them is submitted and parked: in progress, no worker holding it.
        let start = Instant::now();
        for (_, op) in &acme {
            loop {
                let o = operation(&srv, &admin, op).await;
                assert!(
                    o["status"] == "queued" || o["status"] == "in_progress",
                    "{o}"
                );
                if o["parked"] == true && o["progress"].as_i64() >= Some(50) {
                    break;
                }
                assert!(start.elapsed() < WITHIN, "never parked: {o}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        // Another tenant's create goes through at once.
        let (quick, quick_op) = create(&srv, &admin, "globex", "quick").await;
        let o = wait_operation(&srv, &admin, &quick_op, WITHIN).await;
        assert_eq!(o["status"], "completed", "{o}");
        wait_status(
            &srv,
            &admin,
            &format!("{}/{quick}", dbs_path("globex", "web")),
            "running",
            WITHIN,
        )
        .await;

        // acme's still wait, holding nothing, with their progress and what they wait for.
        // A watch event may wake one for a moment to look again: it parks again at once.
        for (id, op) in &acme {
            let start = Instant::now();
            let o = loop {
                let o = operation(&srv, &admin, op).await;
                assert_eq!(o["status"], "in_progress", "{o}");
                assert_eq!(o["retry_count"], 0, "parking is no retry: {o}");
                if o["parked"] == true {
                    break o;
                }
                assert!(start.elapsed() < WITHIN, "never parked again: {o}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            assert!(o["message"].as_str().unwrap_or("").contains("Ready"), "{o}");
            let (_, d) = srv
                .get(&format!("{}/{id}", dbs_path("acme", "web")), &admin)
                .await;
            assert_eq!(d["status"], "provisioning", "{d}");
        }

        // The cluster turns them Ready: the watch events resume them and they finish.
        for name in &slow {
            force_phase(&sim, &ns, name, None);
        }
        for (id, op) in &acme {
            let o = wait_operation(&srv, &admin, op, WITHIN).await;
            assert_eq!(o["status"], "completed", "{o}");
            assert_eq!(o["parked"], false, "{o}");
            wait_status(
                &srv,
                &admin,
                &format!("{}/{id}", dbs_path("acme", "web")),
                "running",
                WITHIN,
            )
            .await;
        }
        sim.shutdown().await;
        srv.running.shutdown().await;
    }
);

/// What a tenant can see of its project at one moment.
struct Seen {
    running: usize,
    reserved: i64,
    objects: usize,
}

async fn look(srv: &TestServer, token: &str, sim: &sim::SimHandle, ns: &str) -> (Seen, Value) {
    let (s, list) = srv.get(&dbs_path("acme", "web"), token).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let items = list["databases"]
        .as_array()
        .or_else(|| list["items"].as_array())
        .or_else(|| list.as_array())
        .cloned()
        .unwrap_or_default();
    let running = items.iter().filter(|d| d["status"] == "running").count();
    let (s, q) = srv
        .get("/api/v1/tenants/acme/projects/web/quota", token)
        .await;
    assert_eq!(s, StatusCode::OK, "{q}");
    let seen = Seen {
        running,
        reserved: q["used_databases"].as_i64().unwrap(),
        objects: count_objects(sim, "postgreses", ns).await,
    };
    (seen, Value::Array(items))
}

both_stores!(
    a_failed_create_never_runs_outside_the_quota,
    |backend| async move {
        let sim = start_sim(Duration::from_millis(200)).await;
        let srv = TestServer::start_with(backend, |c| c.operation_timeout_secs = 8).await;
        let admin = srv.admin_token().await;
        onboard(&srv, &admin, &sim, "shared", json!({})).await;
        tenant(&srv, &admin, "acme", "web", 10).await;
        let ns = project_namespace(&srv, &admin, "acme").await;
        // The attacker's project may hold one database.
        let (s, p) = srv
            .patch(
                "/api/v1/tenants/acme/projects/web",
                &admin,
                json!({"quota": {"max_cpu_cores": 1000, "max_memory_gb": 4000,
                    "max_storage_gb": 100000, "max_databases": 1, "max_backups": 100}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{p}");

        // The cluster is slow for "first": its create times out with the KubeDB object made.
        force_phase(&sim, &ns, "first", Some("NotReady"));
        let (first, first_op) = create(&srv, &admin, "acme", "first").await;
        let o = wait_operation(&srv, &admin, &first_op, WITHIN).await;
        assert_eq!(o["status"], "timeout", "{o}");
        let first_path = format!("{}/{first}", dbs_path("acme", "web"));
        let (_, d) = srv.get(&first_path, &admin).await;
        assert_eq!(d["status"], "failed", "{d}");

        // Then the cluster recovers: were the object still there, it would turn Ready now.
        force_phase(&sim, &ns, "first", None);

        // The attacker creates again (and again) as soon as the quota lets them, while watching.
        let mut second = None;
        let start = Instant::now();
        let mut done_at = None;
        loop {
            let (seen, items) = look(&srv, &admin, &sim, &ns).await;
            assert!(seen.running <= 1, "more running than the quota: {items}");
            assert!(seen.reserved <= 1, "more reserved than the quota: {items}");
            assert!(
                seen.objects <= seen.reserved as usize,
                "{} KubeDB objects but {} reserved: {items}",
                seen.objects,
                seen.reserved
            );
            for d in items.as_array().unwrap() {
                if d["id"] == first.as_str() {
                    assert_ne!(d["status"], "running", "the failed create came back: {d}");
                }
            }
            if second.is_none() {
                let (s, d) = srv
                    .post(
                        &dbs_path("acme", "web"),
                        &admin,
                        json!({"name": "second", "engine": "postgres", "version": "16.10"}),
                    )
                    .await;
                match s {
                    StatusCode::ACCEPTED => second = Some(d["id"].as_str().unwrap().to_string()),
                    // Until the failed create's reservation comes back, the quota is full.
                    StatusCode::FORBIDDEN => {
                        assert_eq!(d["error"]["code"], "quota_exceeded", "{d}")
                    }
                    other => panic!("unexpected {other}: {d}"),
                }
            } else if done_at.is_none() && seen.running == 1 {
                done_at = Some(Instant::now());
            }
            // Keep watching a while after the second runs: nothing else may come up.
            if done_at.is_some_and(|t| t.elapsed() > Duration::from_secs(3)) {
                break;
            }
            assert!(
                start.elapsed() < WITHIN,
                "the second database never ran: {items}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let second = second.unwrap();
        let (_, d) = srv
            .get(&format!("{}/{second}", dbs_path("acme", "web")), &admin)
            .await;
        assert_eq!(d["status"], "running", "{d}");
        let (_, d) = srv.get(&first_path, &admin).await;
        assert_eq!(d["status"], "failed", "{d}");
        let (seen, items) = look(&srv, &admin, &sim, &ns).await;
        assert_eq!(seen.objects, 1, "only the second's object: {items}");
        assert_eq!(seen.reserved, 1, "{items}");
        sim.shutdown().await;
        srv.running.shutdown().await;
    }
);

both_stores!(
    cancelling_a_create_queued_for_retry_leaves_a_consistent_record,
    |backend| async move {
        let sim = start_sim(Duration::from_millis(200)).await;
        // A transient failure waits long before its retry: the cancel comes first.
        let srv = TestServer::start_with(backend, |c| {
            c.retry_base_ms = 120_000;
            c.retry_cap_secs = 600;
        })
        .await;
        let admin = srv.admin_token().await;
        onboard(&srv, &admin, &sim, "shared", json!({})).await;
        tenant(&srv, &admin, "acme", "web", 10).await;
        // The cluster refuses to create KubeDB objects for now: the create fails transiently
        // after it made the namespace and the network policy, and is queued for a retry.
        sim.faults.update(|f| {
            f.api.push(sim::faults::ApiFault {
                verb: Some("create".into()),
                resource: Some("postgreses".into()),
                latency_ms: 0,
                error_rate: 1.0,
                error: Some(sim::faults::FaultKind::ServerError),
            })
        });
        let (id, op) = create(&srv, &admin, "acme", "doomed").await;
        let start = Instant::now();
        loop {
            let o = operation(&srv, &admin, &op).await;
            if o["status"] == "queued" && o["retry_count"] == 1 {
                break;
            }
            assert!(start.elapsed() < WITHIN, "never queued for a retry: {o}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let path = format!("{}/{id}", dbs_path("acme", "web"));
        let (_, d) = srv.get(&path, &admin).await;
        assert_eq!(d["status"], "provisioning", "{d}");
        let ns = d["namespace"].as_str().unwrap().to_string();

        let (s, c) = srv
            .post(
                &format!("/api/v1/operations/{op}/cancel"),
                &admin,
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{c}");
        assert_eq!(c["success"], true, "{c}");
        sim.faults.update(|f| f.api.clear());

        let o = operation(&srv, &admin, &op).await;
        assert_eq!(o["status"], "cancelled", "{o}");
        let d = wait_status(&srv, &admin, &path, "failed", WITHIN).await;
        assert_eq!(d["health_status"], "cancelled", "{d}");
        let (_, q) = srv
            .get("/api/v1/tenants/acme/projects/web/quota", &admin)
            .await;
        assert_eq!(q["used_databases"], 0, "reservation given back: {q}");
        assert_eq!(count_objects(&sim, "postgreses", &ns).await, 0);
        // Nothing brings it back, and it can be deleted cleanly.
        let (s, del) = srv.delete(&path, &admin).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{del}");
        let o = wait_operation(&srv, &admin, del["operation_id"].as_str().unwrap(), WITHIN).await;
        assert_eq!(o["status"], "completed", "{o}");
        wait_status(&srv, &admin, &path, "deleted", WITHIN).await;
        sim.shutdown().await;
        srv.running.shutdown().await;
    }
);
