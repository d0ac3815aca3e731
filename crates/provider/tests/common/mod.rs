//! Shared by the provider's integration tests: a simulated cluster with the upstream CRDs and a
//! zero-delay operator, domain fixtures, and small waiting helpers.

#![allow(dead_code)]

pub mod schema;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use domain::engine::{Engine, Size};
use domain::model::{CurrentState, Database};
use domain::quota::Usage;
use domain::status::DatabaseStatus;
use provider::{Cluster, ProbeReport};
use sim::{OperatorConfig, SimConfig, SimHandle};

pub fn sim_config() -> SimConfig {
    SimConfig {
        crds_dir: schema::crd_dir(),
        operator: OperatorConfig {
            provisioning_delay: Duration::ZERO,
            step_delay: Duration::ZERO,
        },
        ..Default::default()
    }
}

pub async fn start() -> SimHandle {
    start_with(sim_config()).await
}

pub async fn start_with(config: SimConfig) -> SimHandle {
    let sim = sim::start(config).await.expect("simulated cluster starts");
    assert!(
        sim.bootstrap_warnings.is_empty(),
        "{:?}",
        sim.bootstrap_warnings
    );
    sim
}

pub async fn cluster(sim: &SimHandle) -> Cluster {
    Cluster::connect(&sim.kubeconfig_yaml, true)
        .await
        .expect("cluster from the sim's kubeconfig")
}

/// A database record as the server would hand it over.
pub fn database(engine: Engine, name: &str) -> Database {
    let now = Utc::now();
    Database {
        id: format!("0190a8e4-0000-7000-8000-{:012x}", fnv(name)),
        name: name.to_string(),
        domain: "acme".into(),
        project: "web".into(),
        engine,
        version: String::new(),
        size: Size::Micro,
        storage_gb: 20,
        replicas: 1,
        ready_replicas: 0,
        status: DatabaseStatus::Pending,
        health_status: None,
        kubedb_phase: None,
        backup_enabled: false,
        backup_schedule: "daily".into(),
        backup_retention_days: 7,
        high_availability: false,
        monitoring_enabled: false,
        deletion_protection: false,
        endpoint: None,
        port: None,
        service_type: None,
        loadbalancer_ip: None,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        provider_id: None,
        namespace: None,
        kubedb_resource_name: None,
        current: CurrentState::default(),
        upgrade_policy: None,
        conditions: serde_json::json!([]),
        reserved: Usage::default(),
        created_at: now,
        updated_at: now,
    }
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h & 0xffff_ffff_ffff
}

/// A non-deprecated catalog name for the engine, newest first by the catalog's own order.
pub fn version_for(report: &ProbeReport, engine: Engine) -> String {
    report
        .catalog
        .iter()
        .filter(|c| c.engine == engine && !c.deprecated)
        .filter(|c| engine != Engine::Elasticsearch || c.name.starts_with("xpack"))
        .map(|c| c.name.clone())
        .next_back()
        .unwrap_or_else(|| panic!("no usable {engine} version in the catalog"))
}

/// Polls until `f` yields `Some`, or panics after `secs` with `what`.
pub async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}
