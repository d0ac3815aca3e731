//! Day-2 operations end to end against the simulated KubeDB cluster (upstream CRDs), on both
//! stores: every operation for every engine, standalone and HA, checked in the cluster (spec, the
//! OpsRequest's type) and in the API (status, `current`, audit); refusals with the contract's
//! codes; a failed OpsRequest rolls back; queued operations run in order; dry runs write nothing.

mod common;

use std::time::Duration;

use common::cluster::*;
use common::{Backend, TestServer};
use kube::api::{ApiResource, DynamicObject};
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
const WITHIN: Duration = Duration::from_secs(90);

/// The database's KubeDB object, read straight from the cluster.
async fn kubedb_object(sim: &sim::SimHandle, engine: &str, ns: &str, name: &str) -> Value {
    let meta = provider::kubedb::names::engine(engine).expect("known engine");
    let ar = ApiResource {
        group: "kubedb.com".into(),
        version: "v1".into(),
        api_version: "kubedb.com/v1".into(),
        kind: meta.kind.into(),
        plural: meta.plural.into(),
    };
    let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(sim.client(), ns, &ar);
    serde_json::to_value(api.get(name).await.expect("the KubeDB object")).unwrap()
}

/// The OpsRequest an operation made, read straight from the cluster.
async fn ops_request(sim: &sim::SimHandle, engine: &str, ns: &str, op: &Value) -> Value {
    let meta = provider::kubedb::names::engine(engine).expect("known engine");
    let ar = ApiResource {
        group: "ops.kubedb.com".into(),
        version: "v1alpha1".into(),
        api_version: "ops.kubedb.com/v1alpha1".into(),
        kind: meta.ops_kind.into(),
        plural: meta.ops_plural.into(),
    };
    let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(sim.client(), ns, &ar);
    let name = op["ops_request_name"]
        .as_str()
        .unwrap_or_else(|| panic!("no OpsRequest name: {op}"));
    serde_json::to_value(api.get(name).await.expect("the OpsRequest")).unwrap()
}

async fn post_ok(srv: &TestServer, token: &str, path: &str, body: Value) -> Value {
    let (s, v) = srv.post(path, token, body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{path}: {v}");
    v
}

/// Waits for every operation a day-2 answer queued; each must complete.
async fn completes(srv: &TestServer, token: &str, answer: &Value) -> Vec<Value> {
    let mut done = vec![];
    for op in answer["operations"].as_array().expect("operations listed") {
        let o = wait_operation(srv, token, op["id"].as_str().unwrap(), WITHIN).await;
        assert_eq!(o["status"], "completed", "{o}");
        done.push(o);
    }
    done
}

async fn create(
    srv: &TestServer,
    admin: &str,
    engine: &str,
    name: &str,
    ha: bool,
    extra: Value,
) -> String {
    let version = oldest_upgradable(srv, admin, engine).await;
    let mut body = json!({"name": name, "engine": engine, "version": version,
        "replicas": if ha { 3 } else { 1 }, "high_availability": ha,
        "size": "db.t3.small", "storage_gb": 10});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let (s, created) = srv.post(&dbs_path("acme", "web"), admin, body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{created}");
    let path = format!(
        "{}/{}",
        dbs_path("acme", "web"),
        created["id"].as_str().unwrap()
    );
    wait_status(srv, admin, &path, "running", WITHIN).await;
    path
}

/// An offered version with something newer offered too (so an upgrade can be tried), else the newest.
async fn oldest_upgradable(srv: &TestServer, token: &str, engine: &str) -> String {
    let (_, v) = srv
        .get(&format!("/api/v1/versions?engine={engine}"), token)
        .await;
    let list = v[engine].as_array().expect("versions");
    // Newest first; the second newest usually has the newest as an allowed upgrade.
    list.get(1)
        .or_else(|| list.first())
        .and_then(|x| x["version"].as_str())
        .expect("a version")
        .to_string()
}

fn container_cpu(obj: &Value) -> Value {
    obj["spec"]["podTemplate"]["spec"]["containers"][0]["resources"]["requests"]["cpu"].clone()
}

/// Every day-2 operation on one database, checked on both sides.
async fn day2_lifecycle(
    srv: &TestServer,
    admin: &str,
    sim: &sim::SimHandle,
    engine: &str,
    ha: bool,
) {
    let name = format!(
        "{}-{}",
        &engine[..5.min(engine.len())],
        if ha { "ha" } else { "one" }
    );
    let path = create(srv, admin, engine, &name, ha, json!({})).await;
    let (_, d) = srv.get(&path, admin).await;
    let ns = d["namespace"].as_str().unwrap().to_string();

    // Scale: size and storage in one request → VerticalScaling then VolumeExpansion (and, for
    // HA, replicas first → HorizontalScaling).
    let mut body = json!({"size": "db.t3.medium", "storage_gb": 20});
    if ha {
        body["replicas"] = json!(5);
    }
    let answer = post_ok(srv, admin, &format!("{path}/scale"), body).await;
    let kinds: Vec<&str> = answer["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    let mut want = vec!["scale_vertical", "expand_storage"];
    if ha {
        want.insert(0, "scale_horizontal");
    }
    assert_eq!(kinds, want, "{engine}: {answer}");
    assert_eq!(answer["size"], "db.t3.medium", "desired at once: {answer}");
    let ops = completes(srv, admin, &answer).await;
    let types: Vec<Value> = futures::future::join_all(
        ops.iter()
            .map(|o| async { ops_request(sim, engine, &ns, o).await["spec"]["type"].clone() }),
    )
    .await;
    let mut want_types = vec![json!("VerticalScaling"), json!("VolumeExpansion")];
    if ha {
        want_types.insert(0, json!("HorizontalScaling"));
    }
    assert_eq!(types, want_types, "{engine}");
    let d = wait_status(srv, admin, &path, "running", WITHIN).await;
    assert_eq!(d["current"]["size"], "db.t3.medium", "{engine}: {d}");
    assert_eq!(d["current"]["storage_gb"], 20, "{engine}: {d}");
    let obj = kubedb_object(sim, engine, &ns, &name).await;
    assert_eq!(container_cpu(&obj), json!("2"), "{engine}: {obj}");
    if ha {
        assert_eq!(d["current"]["replicas"], 5, "{engine}: {d}");
        let replicas = if engine == "redis" {
            obj["spec"]["cluster"]["replicas"].clone()
        } else {
            obj["spec"]["replicas"].clone()
        };
        assert_eq!(replicas, 5, "{engine}: {obj}");
    }

    // Restart.
    let answer = post_ok(srv, admin, &format!("{path}/restart"), json!({})).await;
    let ops = completes(srv, admin, &answer).await;
    assert_eq!(
        ops_request(sim, engine, &ns, &ops[0]).await["spec"]["type"],
        "Restart"
    );

    // Pause: halted with deletionPolicy Halt; only storage is held. Resume restores both.
    let answer = post_ok(srv, admin, &format!("{path}/pause"), json!({})).await;
    completes(srv, admin, &answer).await;
    wait_status(srv, admin, &path, "paused", WITHIN).await;
    // The watcher may still apply an observation from before the halt; the halt's own follows.
    wait_field(srv, admin, &path, "health_status", "halted", WITHIN).await;
    let obj = kubedb_object(sim, engine, &ns, &name).await;
    assert_eq!(obj["spec"]["halted"], true, "{obj}");
    assert_eq!(obj["spec"]["deletionPolicy"], "Halt", "{obj}");
    let (s, again) = srv.post(&format!("{path}/pause"), admin, json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{again}");
    assert_eq!(again["error"]["code"], "invalid_state");
    let answer = post_ok(srv, admin, &format!("{path}/resume"), json!({})).await;
    completes(srv, admin, &answer).await;
    wait_status(srv, admin, &path, "running", WITHIN).await;
    let obj = kubedb_object(sim, engine, &ns, &name).await;
    assert_ne!(obj["spec"]["halted"], true, "{obj}");
    assert_eq!(obj["spec"]["deletionPolicy"], "Delete", "{obj}");

    // Upgrade to what the catalog offers.
    let (s, ups) = srv.get(&format!("{path}/available-upgrades"), admin).await;
    assert_eq!(s, StatusCode::OK, "{ups}");
    if let Some(target) = ups["available_upgrades"][0]["version"].as_str() {
        let answer = post_ok(
            srv,
            admin,
            &format!("{path}/upgrade"),
            json!({"target_version": target}),
        )
        .await;
        let ops = completes(srv, admin, &answer).await;
        let or = ops_request(sim, engine, &ns, &ops[0]).await;
        assert_eq!(or["spec"]["type"], "UpdateVersion");
        let d = wait_status(srv, admin, &path, "running", WITHIN).await;
        assert_eq!(d["version"], target, "{d}");
        assert_eq!(d["current"]["version"], target, "{d}");
        assert_eq!(
            kubedb_object(sim, engine, &ns, &name).await["spec"]["version"],
            target
        );
    }

    // Reconfigure through a config Secret.
    let answer = post_ok(
        srv,
        admin,
        &format!("{path}/reconfigure"),
        json!({"config": {"max_connections": "200"}}),
    )
    .await;
    let ops = completes(srv, admin, &answer).await;
    assert_eq!(
        ops_request(sim, engine, &ns, &ops[0]).await["spec"]["type"],
        "Reconfigure"
    );

    // Rotate credentials: the answer of /credentials changes.
    let (_, before) = srv.get(&format!("{path}/credentials"), admin).await;
    let answer = post_ok(srv, admin, &format!("{path}/rotate-credentials"), json!({})).await;
    let ops = completes(srv, admin, &answer).await;
    assert!(
        ops[0]["desired_state"].get("credentials").is_none(),
        "sealed credentials leaked: {}",
        ops[0]
    );
    assert_eq!(
        ops_request(sim, engine, &ns, &ops[0]).await["spec"]["type"],
        "RotateAuth"
    );
    let (s, after) = srv.get(&format!("{path}/credentials"), admin).await;
    assert_eq!(s, StatusCode::OK, "{after}");
    assert_ne!(before["password"], after["password"], "{engine}");
    assert_eq!(before["username"], after["username"], "{engine}");
    wait_status(srv, admin, &path, "running", WITHIN).await;
}

both_stores!(every_operation_on_every_engine, |backend| async move {
    let sim = start_sim(Duration::from_millis(100)).await;
    let srv = TestServer::start(backend).await;
    let admin = srv.admin_token().await;
    onboard(&srv, &admin, &sim, "sim-1", json!({})).await;
    tenant(&srv, &admin, "acme", "web", 50).await;
    let runs = ENGINES.iter().flat_map(|e| [(*e, false), (*e, true)]);
    futures::future::join_all(runs.map(|(e, ha)| day2_lifecycle(&srv, &admin, &sim, e, ha))).await;
    // Every change was audited with its action.
    for action in [
        "database.scale",
        "database.restart",
        "database.pause",
        "database.resume",
        "database.reconfigure",
        "database.rotate_auth",
    ] {
        let (_, a) = srv
            .get(&format!("/api/v1/audit-logs?action={action}"), &admin)
            .await;
        assert_eq!(a["total"], 12, "{action}: {a}");
    }
    sim.shutdown().await;
    srv.running.shutdown().await;
});

async fn quota(srv: &TestServer, token: &str) -> Value {
    let (s, q) = srv
        .get("/api/v1/tenants/acme/projects/web/quota", token)
        .await;
    assert_eq!(s, StatusCode::OK, "{q}");
    q
}

both_stores!(
    refusals_answer_with_the_contract_codes,
    |backend| async move {
        let sim = start_sim(Duration::ZERO).await;
        let srv = TestServer::start(backend).await;
        let admin = srv.admin_token().await;
        onboard(
            &srv,
            &admin,
            &sim,
            "small",
            json!({"cpu_total_cores": 3, "memory_total_gb": 4000, "storage_total_gb": 100000}),
        )
        .await;
        tenant(&srv, &admin, "acme", "web", 50).await;
        let path = create(
            &srv,
            &admin,
            "postgres",
            "refused",
            false,
            json!({"storage_gb": 20}),
        )
        .await;
        let code = |v: &Value| v["error"]["code"].as_str().unwrap_or_default().to_string();

        let (s, v) = srv
            .post(&format!("{path}/scale"), &admin, json!({"storage_gb": 15}))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("shrink"),
            "{v}"
        );
        let (s, v) = srv
            .post(&format!("{path}/scale"), &admin, json!({"replicas": 3}))
            .await;
        assert_eq!(
            s,
            StatusCode::BAD_REQUEST,
            "non-HA stays at one replica: {v}"
        );
        let (s, v) = srv
            .post(
                &format!("{path}/scale"),
                &admin,
                json!({"size": "db.t3.xlarge"}),
            )
            .await;
        assert_eq!(
            (s, code(&v).as_str()),
            (StatusCode::BAD_REQUEST, "no_capacity"),
            "3 cores, 1 held, 3 more asked: {v}"
        );
        let (s, v) = srv.post(&format!("{path}/resume"), &admin, json!({})).await;
        assert_eq!(
            (s, code(&v).as_str()),
            (StatusCode::BAD_REQUEST, "invalid_state"),
            "{v}"
        );
        let (s, v) = srv
            .post(
                &format!("{path}/upgrade"),
                &admin,
                json!({"target_version": "0.0.1"}),
            )
            .await;
        assert_eq!(
            (s, code(&v).as_str()),
            (StatusCode::BAD_REQUEST, "version_unavailable"),
            "{v}"
        );
        // A tight project quota: the growth is refused with 403 and nothing is queued.
        let (s, v) = srv
        .patch(
            "/api/v1/tenants/acme/projects/web",
            &admin,
            json!({"quota": {"max_cpu_cores": 1.5, "max_memory_gb": 4000, "max_storage_gb": 100000,
                "max_databases": 50, "max_backups": 100}}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) = srv
            .post(
                &format!("{path}/scale"),
                &admin,
                json!({"size": "db.t3.medium"}),
            )
            .await;
        assert_eq!(
            (s, code(&v).as_str()),
            (StatusCode::FORBIDDEN, "quota_exceeded"),
            "{v}"
        );
        let (_, d) = srv.get(&path, &admin).await;
        assert_eq!(
            d["size"], "db.t3.small",
            "a refused change writes nothing: {d}"
        );

        // A dry run answers with the plan and writes nothing.
        let before = quota(&srv, &admin).await;
        let (s, plan) = srv
            .post(
                &format!("{path}/scale?dry_run=true"),
                &admin,
                json!({"storage_gb": 30}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{plan}");
        assert_eq!(plan["dry_run"], true);
        assert_eq!(plan["operations"][0]["type"], "expand_storage", "{plan}");
        assert_eq!(
            plan["kubernetes_objects"][0]["spec"]["type"], "VolumeExpansion",
            "{plan}"
        );
        assert_eq!(plan["quota_delta"]["storage_gb"], 10.0, "{plan}");
        let (_, d) = srv.get(&path, &admin).await;
        assert_eq!(d["storage_gb"], 20, "{d}");
        assert_eq!(quota(&srv, &admin).await, before);
        let (_, ops) = srv
            .get(
                &format!(
                    "/api/v1/operations?database_id={}",
                    d["id"].as_str().unwrap()
                ),
                &admin,
            )
            .await;
        assert_eq!(ops["total"], 1, "only the create: {ops}");
        // Create and delete take dry runs too.
        let (s, plan) = srv
            .post(
                &format!("{}?dry_run=true", dbs_path("acme", "web")),
                &admin,
                json!({"name": "planned", "engine": "postgres", "version": "16.10"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{plan}");
        let kinds: Vec<&str> = plan["kubernetes_objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["Namespace", "NetworkPolicy", "Postgres"], "{plan}");
        assert_eq!(plan["quota_delta"]["databases"], 1, "{plan}");
        assert!(
            plan["operations"][0]["provider_id"].is_string(),
            "placed: {plan}"
        );
        // A plan the quota would refuse is refused as the create would be.
        let (s, v) = srv
            .post(
                &format!("{}?dry_run=true", dbs_path("acme", "web")),
                &admin,
                json!({"name": "too-big", "engine": "postgres", "version": "16.10",
                    "size": "db.t3.medium"}),
            )
            .await;
        assert_eq!(
            (s, code(&v).as_str()),
            (StatusCode::FORBIDDEN, "quota_exceeded"),
            "{v}"
        );
        let (s, plan) = srv.delete(&format!("{path}?dry_run=true"), &admin).await;
        assert_eq!(s, StatusCode::OK, "{plan}");
        assert_eq!(plan["operations"][0]["type"], "delete", "{plan}");
        let (_, list) = srv.get(&dbs_path("acme", "web"), &admin).await;
        assert_eq!(list["total"], 1, "nothing created or deleted: {list}");
        assert_eq!(list["databases"][0]["status"], "running", "{list}");
        sim.shutdown().await;
        srv.running.shutdown().await;
    }
);

both_stores!(a_failed_ops_request_rolls_back, |backend| async move {
    let sim = start_sim(Duration::ZERO).await;
    let srv = TestServer::start(backend).await;
    let admin = srv.admin_token().await;
    onboard(&srv, &admin, &sim, "sim-1", json!({})).await;
    tenant(&srv, &admin, "acme", "web", 50).await;
    let path = create(&srv, &admin, "mysql", "fails", false, json!({})).await;
    let before = quota(&srv, &admin).await;
    sim.faults.update(|f| {
        f.fail_ops_requests
            .insert("*".into(), "NodeOutOfMemory".into());
    });
    let answer = post_ok(
        &srv,
        &admin,
        &format!("{path}/scale"),
        json!({"size": "db.t3.large"}),
    )
    .await;
    let op = wait_operation(
        &srv,
        &admin,
        answer["operations"][0]["id"].as_str().unwrap(),
        WITHIN,
    )
    .await;
    assert_eq!(op["status"], "failed", "{op}");
    assert!(
        op["error_message"]
            .as_str()
            .unwrap()
            .contains("NodeOutOfMemory"),
        "KubeDB's reason: {op}"
    );
    let d = wait_status(&srv, &admin, &path, "running", WITHIN).await;
    assert_eq!(
        d["size"], "db.t3.small",
        "the desired size is put back: {d}"
    );
    assert_eq!(d["current"]["size"], "db.t3.small", "{d}");
    assert_eq!(
        quota(&srv, &admin).await,
        before,
        "the reserved growth is given back"
    );
    sim.faults.set(Default::default());
    sim.shutdown().await;
    srv.running.shutdown().await;
});

both_stores!(queued_operations_run_in_order, |backend| async move {
    let sim = start_sim_with(|c| {
        c.operator.step_delay = Duration::from_millis(200);
    })
    .await;
    let srv = TestServer::start(backend).await;
    let admin = srv.admin_token().await;
    onboard(&srv, &admin, &sim, "sim-1", json!({})).await;
    tenant(&srv, &admin, "acme", "web", 50).await;
    let path = create(&srv, &admin, "postgres", "ordered", false, json!({})).await;
    let first = post_ok(&srv, &admin, &format!("{path}/restart"), json!({})).await;
    let second = post_ok(&srv, &admin, &format!("{path}/pause"), json!({})).await;
    // Pausing is queued behind the restart: resuming is allowed now, a second pause is not.
    let (s, v) = srv.post(&format!("{path}/pause"), &admin, json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let a = completes(&srv, &admin, &first).await.remove(0);
    let b = completes(&srv, &admin, &second).await.remove(0);
    let at =
        |o: &Value, k: &str| chrono::DateTime::parse_from_rfc3339(o[k].as_str().unwrap()).unwrap();
    assert!(
        at(&b, "started_at") >= at(&a, "completed_at"),
        "one at a time, in order: {a} {b}"
    );
    assert_eq!(a["ops_request_phase"], "Successful", "{a}");
    wait_status(&srv, &admin, &path, "paused", WITHIN).await;
    // Cancelling a queued change puts the record back.
    let third = post_ok(&srv, &admin, &format!("{path}/resume"), json!({})).await;
    let id = third["operations"][0]["id"].as_str().unwrap();
    let (s, c) = srv
        .post(
            &format!("/api/v1/operations/{id}/cancel"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    if c["success"] == true {
        let (_, d) = srv.get(&path, &admin).await;
        assert_eq!(d["status"], "paused", "{d}");
    }
    sim.shutdown().await;
    srv.running.shutdown().await;
});

both_stores!(
    patch_applies_settings_and_queues_resizes,
    |backend| async move {
        let sim = start_sim(Duration::ZERO).await;
        let srv = TestServer::start(backend).await;
        let admin = srv.admin_token().await;
        onboard(&srv, &admin, &sim, "sim-1", json!({})).await;
        tenant(&srv, &admin, "acme", "web", 50).await;
        let path = create(&srv, &admin, "redis", "patched", false, json!({})).await;
        let (s, v) = srv
            .patch(
                &path,
                &admin,
                json!({"deletion_protection": true, "labels": {"team": "web"},
                "backup_schedule": "hourly", "storage_gb": 15}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let mut changed: Vec<&str> = v["changed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        changed.sort();
        assert_eq!(
            changed,
            [
                "backup_schedule",
                "deletion_protection",
                "labels",
                "storage_gb"
            ],
            "{v}"
        );
        assert_eq!(v["operations"][0]["type"], "expand_storage", "{v}");
        completes(&srv, &admin, &v).await;
        let d = wait_status(&srv, &admin, &path, "running", WITHIN).await;
        assert_eq!(d["deletion_protection"], true);
        assert_eq!(d["labels"]["team"], "web");
        assert_eq!(d["current"]["storage_gb"], 15, "{d}");
        let ns = d["namespace"].as_str().unwrap();
        let obj = kubedb_object(&sim, "redis", ns, "patched").await;
        assert_eq!(obj["spec"]["deletionPolicy"], "DoNotTerminate", "{obj}");
        assert_eq!(obj["metadata"]["labels"]["team"], "web", "{obj}");
        // Labels and annotations reach the KubeDB object; a removed label leaves it.
        let (s, v) = srv
            .patch(
                &path,
                &admin,
                json!({"labels": {"tier": "gold"}, "annotations": {"example.com/owner": "ana"}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let obj = kubedb_object(&sim, "redis", ns, "patched").await;
        assert_eq!(obj["metadata"]["labels"]["tier"], "gold", "{obj}");
        assert!(obj["metadata"]["labels"]["team"].is_null(), "{obj}");
        assert_eq!(
            obj["metadata"]["annotations"]["example.com/owner"], "ana",
            "{obj}"
        );
        assert!(
            !obj["metadata"]["labels"]["dbaas.io/database-id"].is_null(),
            "{obj}"
        );
        let (s, v) = srv.delete(&path, &admin).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "protected: {v}");
        let (s, v) = srv
            .patch(&path, &admin, json!({"backup_schedule": "hourly"}))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "nothing to change: {v}");
        // Upgrade policy: stored and shown with its next window.
        let (s, v) = srv
        .call(
            reqwest::Method::PUT,
            &format!("{path}/upgrade-policy"),
            Some(&admin),
            Some(json!({"mode": "auto_patch",
                "maintenance_window": {"days": ["sun"], "start_utc": "03:00", "duration_minutes": 120}})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (_, d) = srv.get(&path, &admin).await;
        assert_eq!(d["upgrade_policy"]["mode"], "auto_patch", "{d}");
        let (s, v) = srv
            .call(
                reqwest::Method::PUT,
                &format!("{path}/upgrade-policy"),
                Some(&admin),
                Some(json!({"mode": "auto_minor"})),
            )
            .await;
        assert_eq!(
            s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "automatic needs a window: {v}"
        );
        sim.shutdown().await;
        srv.running.shutdown().await;
    }
);

// The scheduler queues the permitted upgrade only inside the window (an injected clock).
both_stores!(
    maintenance_upgrades_only_inside_the_window,
    |backend| async move {
        use chrono::TimeZone;
        let sim = start_sim(Duration::ZERO).await;
        let srv = TestServer::start(backend).await;
        let admin = srv.admin_token().await;
        onboard(&srv, &admin, &sim, "sim-1", json!({})).await;
        tenant(&srv, &admin, "acme", "web", 50).await;
        let (s, created) = srv
            .post(
                &dbs_path("acme", "web"),
                &admin,
                json!({"name": "scheduled", "engine": "mongodb", "version": "8.0.10"}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{created}");
        let path = format!(
            "{}/{}",
            dbs_path("acme", "web"),
            created["id"].as_str().unwrap()
        );
        wait_status(&srv, &admin, &path, "running", WITHIN).await;
        let (_, ups) = srv.get(&format!("{path}/available-upgrades"), &admin).await;
        let patch = ups["available_upgrades"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["kind"] == "patch")
            .unwrap_or_else(|| panic!("a patch upgrade is offered: {ups}"))["version"]
            .as_str()
            .unwrap()
            .to_string();
        let (s, v) = srv
        .call(
            reqwest::Method::PUT,
            &format!("{path}/upgrade-policy"),
            Some(&admin),
            Some(json!({"mode": "auto_patch",
                "maintenance_window": {"days": ["sun"], "start_utc": "03:00", "duration_minutes": 60}})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["pending_maintenance"]["version"], patch.as_str(), "{v}");
        let state = &srv.running.state;
        // 2026-11-29 is a Sunday.
        let before = chrono::Utc
            .with_ymd_and_hms(2026, 11, 29, 2, 59, 0)
            .unwrap();
        let after = chrono::Utc.with_ymd_and_hms(2026, 11, 29, 4, 0, 0).unwrap();
        let monday = chrono::Utc
            .with_ymd_and_hms(2026, 11, 30, 3, 30, 0)
            .unwrap();
        for outside in [before, after, monday] {
            assert_eq!(
                server::workflows::maintenance::tick(state, outside, None).await,
                0,
                "never outside the window ({outside})"
            );
        }
        let inside = chrono::Utc
            .with_ymd_and_hms(2026, 11, 29, 3, 10, 0)
            .unwrap();
        assert_eq!(
            server::workflows::maintenance::tick(state, inside, None).await,
            1
        );
        assert_eq!(
            server::workflows::maintenance::tick(state, inside, None).await,
            0,
            "one at a time"
        );
        let (_, ops) = srv
            .get(
                &format!(
                    "/api/v1/operations?database_id={}&type=upgrade_version",
                    created["id"].as_str().unwrap()
                ),
                &admin,
            )
            .await;
        let op = ops["operations"][0]["id"].as_str().unwrap().to_string();
        let o = wait_operation(&srv, &admin, &op, WITHIN).await;
        assert_eq!(o["status"], "completed", "{o}");
        let d = wait_status(&srv, &admin, &path, "running", WITHIN).await;
        assert_eq!(d["version"], patch.as_str(), "{d}");
        sim.shutdown().await;
        srv.running.shutdown().await;
    }
);

/// Operations waiting on slow OpsRequests hold no worker: with 30 of them parked in one tenant, a
/// create in another tenant still runs at once (were the 3 workers held, it would wait minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_operations_do_not_starve_other_tenants() {
    let provisioning = Duration::from_millis(500);
    let sim = start_sim_with(|c| {
        c.operator.provisioning_delay = provisioning;
        c.operator.step_delay = Duration::from_secs(60);
    })
    .await;
    let srv = TestServer::start(Backend::Sqlite).await;
    let admin = srv.admin_token().await;
    onboard(&srv, &admin, &sim, "sim-1", json!({})).await;
    tenant(&srv, &admin, "acme", "web", 50).await;
    tenant(&srv, &admin, "other", "app", 50).await;
    let mut paths = vec![];
    for i in 0..30 {
        let (s, d) = srv
            .post(
                &dbs_path("acme", "web"),
                &admin,
                json!({"name": format!("busy-{i:02}"), "engine": "postgres", "version": "16.10"}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{d}");
        paths.push(format!(
            "{}/{}",
            dbs_path("acme", "web"),
            d["id"].as_str().unwrap()
        ));
    }
    for p in &paths {
        wait_status(&srv, &admin, p, "running", WITHIN).await;
    }
    for p in &paths {
        post_ok(&srv, &admin, &format!("{p}/restart"), json!({})).await;
    }
    for p in &paths {
        wait_status(&srv, &admin, p, "updating", WITHIN).await;
    }
    let started = std::time::Instant::now();
    let (s, d) = srv
        .post(
            &dbs_path("other", "app"),
            &admin,
            json!({"name": "quick", "engine": "postgres", "version": "16.10"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{d}");
    let path = format!("{}/{}", dbs_path("other", "app"), d["id"].as_str().unwrap());
    wait_status(&srv, &admin, &path, "running", WITHIN).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "a create behind 30 parked restarts took {took:?}"
    );
    sim.shutdown().await;
    srv.running.shutdown().await;
}

/// Reads a server-sent-events body until `want` shows up in it or `within` passes; returns the text.
async fn read_stream(resp: &mut reqwest::Response, want: &str, within: Duration) -> String {
    let deadline = tokio::time::Instant::now() + within;
    let mut text = String::new();
    while !text.contains(want) {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(bytes))) => text.push_str(&String::from_utf8_lossy(&bytes)),
            _ => break,
        }
    }
    text
}

// The events stream tells each caller about the databases it can see, and nothing else; the
// timeline lists status moves and operations.
both_stores!(events_stream_and_timeline, |backend| async move {
    let sim = start_sim(Duration::ZERO).await;
    let srv = TestServer::start(backend).await;
    let admin = srv.admin_token().await;
    onboard(&srv, &admin, &sim, "sim-1", json!({})).await;
    tenant(&srv, &admin, "acme", "web", 50).await;
    let (outsider, _) = srv.user(&admin, "outsider@example.com").await;
    let path = create(&srv, &admin, "postgres", "streamed", false, json!({})).await;
    let (_, d) = srv.get(&path, &admin).await;
    let id = d["id"].as_str().unwrap().to_string();
    let open = |token: String| {
        let http = srv.http.clone();
        let url = srv.url("/api/v1/events/stream");
        async move {
            let resp = http.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert!(resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream"));
            resp
        }
    };
    let mut mine = open(admin.clone()).await;
    let mut theirs = open(outsider.clone()).await;
    let answer = post_ok(&srv, &admin, &format!("{path}/restart"), json!({})).await;
    completes(&srv, &admin, &answer).await;
    let seen = read_stream(&mut mine, "\"status\":\"running\"", WITHIN).await;
    assert!(seen.contains("event: database"), "{seen}");
    assert!(seen.contains(&id), "{seen}");
    assert!(
        seen.contains("\"type\":\"restart\""),
        "the operation rides along: {seen}"
    );
    let other = read_stream(&mut theirs, &id, Duration::from_secs(2)).await;
    assert!(
        !other.contains(&id),
        "another tenant's change leaked: {other}"
    );

    let (s, t) = srv
        .get(&format!("{path}/events?page_size=50"), &admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let messages: Vec<&str> = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    for want in [
        "created as pending",
        "pending → provisioning",
        "provisioning → running",
        "running → updating",
        "updating → running",
        "restart queued",
        "restart completed",
        "create completed",
    ] {
        assert!(messages.contains(&want), "{want} in {messages:?}");
    }
    let at = |i: usize| {
        chrono::DateTime::parse_from_rfc3339(t["events"][i]["at"].as_str().unwrap()).unwrap()
    };
    assert!(at(0) >= at(messages.len() - 1), "newest first: {t}");
    // The cluster's Events of the database and of its OpsRequest are merged in (the operator
    // records them just after the status it reports, so look until they are there).
    let kubernetes = |t: &Value, kind: &str, reason: &str| {
        t["events"].as_array().unwrap().iter().any(|e| {
            e["kind"] == "kubernetes"
                && e["details"]["object_kind"] == kind
                && e["details"]["reason"] == reason
        })
    };
    let started = std::time::Instant::now();
    loop {
        let (s, t) = srv
            .get(&format!("{path}/events?page_size=100"), &admin)
            .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        assert!(t.get("kubernetes_events_unavailable").is_none(), "{t}");
        if kubernetes(&t, "Postgres", "Ready") && kubernetes(&t, "PostgresOpsRequest", "Successful")
        {
            break;
        }
        assert!(started.elapsed() < WITHIN, "no Kubernetes events in {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, _) = srv.get(&format!("{path}/events"), &outsider).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "not the outsider's to read");
    sim.shutdown().await;
    srv.running.shutdown().await;
});

// ---- the drift reconciler

/// The reconciler's period in these tests.
const RECONCILE_SECS: u64 = 2;

/// A KubeDB database kind's API in the simulated cluster.
fn kubedb_api(sim: &sim::SimHandle, engine: &str, ns: &str) -> kube::Api<DynamicObject> {
    let meta = provider::kubedb::names::engine(engine).expect("known engine");
    let ar = ApiResource {
        group: "kubedb.com".into(),
        version: "v1".into(),
        api_version: "kubedb.com/v1".into(),
        kind: meta.kind.into(),
        plural: meta.plural.into(),
    };
    kube::Api::namespaced_with(sim.client(), ns, &ar)
}

fn network_policies(sim: &sim::SimHandle, ns: &str) -> kube::Api<DynamicObject> {
    let ar = ApiResource {
        group: "networking.k8s.io".into(),
        version: "v1".into(),
        api_version: "networking.k8s.io/v1".into(),
        kind: "NetworkPolicy".into(),
        plural: "networkpolicies".into(),
    };
    kube::Api::namespaced_with(sim.client(), ns, &ar)
}

/// What `kubectl patch --type merge` does.
async fn kubectl_patch(api: &kube::Api<DynamicObject>, name: &str, patch: Value) {
    api.patch(
        name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .unwrap_or_else(|e| panic!("patching {name}: {e}"));
}

/// Polls `probe` until it returns Some (panics with `what` after `within`).
async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The drift reports of a database, oldest first.
async fn drift_reports(srv: &TestServer, admin: &str, id: &str) -> Vec<Value> {
    let (s, a) = srv
        .get(
            &format!(
                "/api/v1/audit-logs?action=database.drift_detected&resource_id={id}&page_size=100"
            ),
            admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let mut items = a["audit_logs"].as_array().cloned().unwrap_or_default();
    items.reverse();
    items
}

/// Waits for a drift report of `field` beyond the first `after` reports; returns it.
async fn drift_report(srv: &TestServer, admin: &str, id: &str, field: &str, after: usize) -> Value {
    eventually(&format!("a drift report of {field}"), WITHIN, || async {
        drift_reports(srv, admin, id)
            .await
            .into_iter()
            .skip(after)
            .find(|r| {
                r["details"]["drift"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|d| d["field"] == field))
            })
    })
    .await
}

/// When the reconciler's full pass last checked every provider (orphans route).
async fn checked_at(srv: &TestServer, admin: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let (s, o) = srv.get("/api/v1/admin/orphans", admin).await;
    assert_eq!(s, StatusCode::OK, "{o}");
    o["checked_at"]
        .as_str()
        .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc())
}

/// Waits until two more full passes have run after now.
async fn two_passes(srv: &TestServer, admin: &str) {
    let now = chrono::Utc::now();
    eventually("two more full passes", WITHIN, || async {
        checked_at(srv, admin)
            .await
            .filter(|t| *t > now + chrono::Duration::seconds(RECONCILE_SECS as i64))
    })
    .await;
}

// Out-of-band changes – `spec.replicas`, `spec.halted`, a deleted NetworkPolicy – are put back
// (through an operation, or re-applied), each audited and shown in the database's events; an
// object with the platform's labels and no record is reported as an orphan and left alone.
both_stores!(drift_is_healed_and_orphans_reported, |backend| async move {
    let sim = start_sim(Duration::ZERO).await;
    let srv = TestServer::start_with(backend, |c| c.reconcile_secs = RECONCILE_SECS).await;
    let admin = srv.admin_token().await;
    onboard(&srv, &admin, &sim, "sim-1", json!({})).await;
    tenant(&srv, &admin, "acme", "web", 50).await;
    let path = create(&srv, &admin, "postgres", "drifty", true, json!({})).await;
    let (_, d) = srv.get(&path, &admin).await;
    let id = d["id"].as_str().unwrap().to_string();
    let ns = d["namespace"].as_str().unwrap().to_string();
    let dbs = kubedb_api(&sim, "postgres", &ns);

    // kubectl patch spec.replicas → a scale_horizontal by the reconciler puts 3 back.
    kubectl_patch(&dbs, "drifty", json!({"spec": {"replicas": 5}})).await;
    let report = drift_report(&srv, &admin, &id, "replicas", 0).await;
    assert_eq!(report["user_email"], "system:reconciler", "{report}");
    let drift = &report["details"]["drift"][0];
    assert_eq!(
        (&drift["desired"], &drift["observed"], &drift["action"]),
        (&json!("3"), &json!("5"), &json!("queued scale_horizontal")),
        "{report}"
    );
    let op = report["details"]["operation_ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let o = wait_operation(&srv, &admin, &op, WITHIN).await;
    assert_eq!(
        (&o["status"], &o["type"]),
        (&json!("completed"), &json!("scale_horizontal")),
        "{o}"
    );
    assert_eq!(dbs.get("drifty").await.unwrap().data["spec"]["replicas"], 3);
    let d = wait_status(&srv, &admin, &path, "running", WITHIN).await;
    assert_eq!(
        (&d["replicas"], &d["current"]["replicas"]),
        (&json!(3), &json!(3)),
        "{d}"
    );

    // kubectl patch spec.halted → re-applied: running again, with the policy the record names.
    kubectl_patch(&dbs, "drifty", json!({"spec": {"halted": true}})).await;
    let report = drift_report(&srv, &admin, &id, "halted", 1).await;
    assert_eq!(
        report["details"]["drift"][0]["action"], "re-applied",
        "{report}"
    );
    eventually("the database runs again", WITHIN, || async {
        let o = dbs.get("drifty").await.unwrap();
        let s = &o.data["spec"];
        (s["halted"] != true
            && s["deletionPolicy"] == "Delete"
            && o.data["status"]["phase"] == "Ready")
            .then_some(())
    })
    .await;
    wait_status(&srv, &admin, &path, "running", WITHIN).await;

    // A deleted NetworkPolicy is made again.
    let policies = network_policies(&sim, &ns);
    let np = provider::translate::network_policy_name("drifty");
    policies
        .delete(&np, &Default::default())
        .await
        .expect("deleting the policy");
    let report = drift_report(&srv, &admin, &id, "network_policy", 2).await;
    assert_eq!(
        report["details"]["drift"][0]["action"], "re-applied",
        "{report}"
    );
    let back = policies.get(&np).await.expect("the policy is back");
    assert_eq!(back.metadata.labels.unwrap()["dbaas.io/database-id"], id);

    // Each drift is in the database's events.
    let (s, t) = srv
        .get(&format!("{path}/events?page_size=100"), &admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let drifts: Vec<&str> = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "drift")
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(drifts.len(), 3, "{drifts:?}");
    assert!(
        drifts
            .iter()
            .any(|m| m.contains("replicas is 5 (desired 3)")),
        "{drifts:?}"
    );

    // An orphan: a Postgres with the platform's labels that no record accounts for.
    let ghost = "4b8a2a0e-0c4e-4b8e-9a55-2f1d8c7e6a01";
    let version = d["version"].as_str().unwrap();
    let orphan: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kubedb.com/v1", "kind": "Postgres",
        "metadata": {"name": "ghost", "namespace": ns, "labels": {
            "app.kubernetes.io/managed-by": "kubedb-dbaas", "dbaas.io/domain": "acme",
            "dbaas.io/project": "web", "dbaas.io/database-id": ghost}},
        "spec": {"version": version, "storageType": "Durable", "deletionPolicy": "Delete",
            "storage": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
    }))
    .unwrap();
    dbs.create(&Default::default(), &orphan)
        .await
        .expect("the orphan is created");
    let listed = eventually("the orphan is reported", WITHIN, || async {
        let (_, o) = srv.get("/api/v1/admin/orphans", &admin).await;
        o["orphans"]
            .as_array()
            .and_then(|l| l.iter().find(|o| o["name"] == "ghost").cloned())
    })
    .await;
    assert_eq!(
        (
            &listed["reason"],
            &listed["database_id"],
            &listed["kind"],
            &listed["provider_name"]
        ),
        (
            &json!("no_record"),
            &json!(ghost),
            &json!("Postgres"),
            &json!("sim-1")
        ),
        "{listed}"
    );
    assert_eq!(
        (&listed["domain"], &listed["project"], &listed["namespace"]),
        (&json!("acme"), &json!("web"), &json!(ns))
    );
    assert!(listed["first_seen_at"].is_string(), "{listed}");
    two_passes(&srv, &admin).await;
    assert!(
        dbs.get_opt("ghost").await.unwrap().is_some(),
        "orphans are never deleted"
    );
    let (_, o) = srv.get("/api/v1/admin/orphans", &admin).await;
    assert_eq!(
        o["orphans"].as_array().unwrap().len(),
        1,
        "only the ghost: {o}"
    );
    assert_eq!(
        o["orphans"][0]["first_seen_at"], listed["first_seen_at"],
        "first seen stays"
    );
    // Only a platform admin may look.
    let (user, _) = srv.user(&admin, "someone@example.com").await;
    let (s, e) = srv.get("/api/v1/admin/orphans", &user).await;
    assert_eq!(
        (s, &e["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("forbidden")),
        "{e}"
    );
    let (s, _) = srv
        .call(reqwest::Method::GET, "/api/v1/admin/orphans", None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Nothing drifts any more: no new report.
    assert_eq!(drift_reports(&srv, &admin, &id).await.len(), 3);
    sim.shutdown().await;
    srv.running.shutdown().await;
});

// With the policy `report`, drift is audited and shown once, and nothing is changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_only_reported_under_the_report_policy() {
    let sim = start_sim(Duration::ZERO).await;
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.reconcile_secs = RECONCILE_SECS;
        c.drift_policy = domain::drift::Policy::Report;
    })
    .await;
    let admin = srv.admin_token().await;
    onboard(&srv, &admin, &sim, "sim-1", json!({})).await;
    tenant(&srv, &admin, "acme", "web", 50).await;
    let path = create(&srv, &admin, "postgres", "watched", true, json!({})).await;
    let (_, d) = srv.get(&path, &admin).await;
    let id = d["id"].as_str().unwrap().to_string();
    let ns = d["namespace"].as_str().unwrap().to_string();
    let dbs = kubedb_api(&sim, "postgres", &ns);

    kubectl_patch(&dbs, "watched", json!({"spec": {"replicas": 5}})).await;
    let policies = network_policies(&sim, &ns);
    let np = provider::translate::network_policy_name("watched");
    policies.delete(&np, &Default::default()).await.unwrap();
    let report = drift_report(&srv, &admin, &id, "replicas", 0).await;
    let report = if report["details"]["drift"].as_array().unwrap().len() == 2 {
        report
    } else {
        drift_report(&srv, &admin, &id, "network_policy", 0).await
    };
    assert_eq!(report["details"]["policy"], "report", "{report}");
    for d in report["details"]["drift"].as_array().unwrap() {
        assert_eq!(d["action"], "reported only (policy report)", "{report}");
    }
    let (s, t) = srv
        .get(&format!("{path}/events?page_size=100"), &admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert!(
        t["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "drift"
                && e["message"]
                    .as_str()
                    .unwrap()
                    .contains("replicas is 5 (desired 3)")),
        "{t}"
    );
    two_passes(&srv, &admin).await;
    // Nothing changed, nothing queued, and reported once, not on every pass.
    assert_eq!(
        dbs.get("watched").await.unwrap().data["spec"]["replicas"],
        5
    );
    assert!(policies.get_opt(&np).await.unwrap().is_none());
    let (_, ops) = srv
        .get(&format!("/api/v1/operations?database_id={id}"), &admin)
        .await;
    let types: Vec<&str> = ops["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, vec!["create"], "{ops}");
    let fields: usize = drift_reports(&srv, &admin, &id)
        .await
        .iter()
        .map(|r| r["details"]["drift"].as_array().unwrap().len())
        .sum();
    assert_eq!(fields, 2, "each drift reported once");
    sim.shutdown().await;
    srv.running.shutdown().await;
}
#[path = "backups/mod.rs"]
mod backups;
mod live_metrics;
