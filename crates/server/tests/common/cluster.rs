//! A simulated KubeDB cluster for black-box tests, and the API steps around databases.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sim::{OperatorConfig, SimConfig, SimHandle};

use super::TestServer;

fn shared_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"))
}

/// The real upstream CRDs when `../shared` is there (CI has it), else the generated ones.
pub fn crds_dir() -> Option<PathBuf> {
    let d = shared_dir().join("kubedb-crds");
    d.is_dir().then_some(d)
}

pub async fn start_sim(provisioning_delay: Duration) -> SimHandle {
    start_sim_with(|c| c.operator.provisioning_delay = provisioning_delay).await
}

pub async fn start_sim_with(tweak: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut config = SimConfig {
        crds_dir: crds_dir(),
        operator: OperatorConfig {
            provisioning_delay: Duration::ZERO,
            step_delay: Duration::ZERO,
        },
        ..Default::default()
    };
    tweak(&mut config);
    sim::start(config).await.expect("simulated cluster starts")
}

/// Onboards a cluster through the API; returns the provider id.
pub async fn onboard(
    srv: &TestServer,
    admin: &str,
    sim: &SimHandle,
    name: &str,
    extra: Value,
) -> String {
    let mut body = json!({
        "name": name, "region": "eu-west", "availability_zone": "eu-west-1a",
        "cpu_total_cores": 1000, "memory_total_gb": 4000, "storage_total_gb": 100000,
        "kubeconfig_content": sim.kubeconfig_yaml,
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let (s, p) = srv.post("/api/v1/providers", admin, body).await;
    assert_eq!(s, StatusCode::CREATED, "onboarding {name}: {p}");
    p["id"].as_str().unwrap().to_string()
}

/// A tenant with one project and a roomy quota.
pub async fn tenant(srv: &TestServer, admin: &str, domain: &str, project: &str, max_dbs: i64) {
    let quota = json!({"max_cpu_cores": 1000, "max_memory_gb": 4000, "max_storage_gb": 100000,
        "max_databases": max_dbs, "max_backups": 100});
    let (s, b) = srv
        .post(
            "/api/v1/tenants",
            admin,
            json!({"name": domain, "quota": quota.clone()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = srv
        .post(
            &format!("/api/v1/tenants/{domain}/projects"),
            admin,
            json!({"name": project, "quota": quota}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

pub fn dbs_path(domain: &str, project: &str) -> String {
    format!("/api/v1/domain/{domain}/project/{project}/databases")
}

/// The newest offered version of an engine.
pub async fn newest_version(srv: &TestServer, token: &str, engine: &str) -> String {
    let (s, v) = srv
        .get(&format!("/api/v1/versions?engine={engine}"), token)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v[engine][0]["version"]
        .as_str()
        .unwrap_or_else(|| panic!("no {engine} version offered: {v}"))
        .to_string()
}

/// Polls a database until `want` (or panics after `within`); returns the last body.
pub async fn wait_status(
    srv: &TestServer,
    token: &str,
    path: &str,
    want: &str,
    within: Duration,
) -> Value {
    wait_field(srv, token, path, "status", want, within).await
}

/// Polls `path` until its `field` reads `want` (panics after `within`); returns the record.
pub async fn wait_field(
    srv: &TestServer,
    token: &str,
    path: &str,
    field: &str,
    want: &str,
    within: Duration,
) -> Value {
    let start = Instant::now();
    loop {
        let (s, d) = srv.get(path, token).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        if d[field] == want {
            return d;
        }
        if start.elapsed() >= within {
            let (_, ops) = srv
                .get(
                    &format!(
                        "/api/v1/operations?database_id={}",
                        d["id"].as_str().unwrap_or("")
                    ),
                    token,
                )
                .await;
            panic!("{path} {field} did not reach {want} within {within:?}: {d}\noperations: {ops}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls an operation until it is terminal; returns it.
pub async fn wait_operation(srv: &TestServer, token: &str, op_id: &str, within: Duration) -> Value {
    let start = Instant::now();
    loop {
        let (s, o) = srv.get(&format!("/api/v1/operations/{op_id}"), token).await;
        assert_eq!(s, StatusCode::OK, "{o}");
        if ["completed", "failed", "cancelled", "timeout"]
            .contains(&o["status"].as_str().unwrap_or(""))
        {
            return o;
        }
        assert!(
            start.elapsed() < within,
            "operation {op_id} not finished within {within:?}: {o}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many KubeDB objects of a kind exist in a namespace, read straight from the cluster.
pub async fn count_objects(sim: &SimHandle, plural: &str, namespace: &str) -> usize {
    let meta = provider::kubedb::names::by_plural(plural).expect("known plural");
    let ar = kube::api::ApiResource {
        group: "kubedb.com".into(),
        version: "v1".into(),
        api_version: "kubedb.com/v1".into(),
        kind: meta.kind.into(),
        plural: plural.into(),
    };
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(sim.client(), namespace, &ar);
    api.list(&Default::default()).await.unwrap().items.len()
}
