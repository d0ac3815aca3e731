//! Store-level throughput of the server's hot reads, per backend.
//!
//! Loads 10,000 databases across 100 projects (and 10,000 audit rows), then for a few seconds
//! runs, from N concurrent tasks: one project's quota (`get_project` + `project_usage`), a
//! 100-row audit page and a 100-row page of one project's databases (each with the five
//! conditions a ready KubeDB resource reports). Prints requests/s and p50/p99 latency.
//!
//! `cargo run -p store --release --example store_bench [sqlite|postgres|both]`
//! Env: BENCH_SECS (default 3), BENCH_CONCURRENCY (default 8), DBAAS_TEST_POSTGRES_URL.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use domain::audit::{AuditEntry, AuditFilter, AuditOutcome};
use domain::engine::{Engine, Size};
use domain::ids::{new_id, IdKind};
use domain::model::{CurrentState, Database, Operation, PageRequest, Plan, Project, Tenant};
use domain::quota::{QuotaLimits, Usage};
use domain::status::{DatabaseStatus, OperationStatus, OperationType};
use store::{Cipher, Store};

const PROJECTS: usize = 100;
const DATABASES: usize = 10_000;
const AUDIT_ROWS: usize = 10_000;
const LOADERS: usize = 8;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn quota() -> QuotaLimits {
    QuotaLimits {
        max_cpu_cores: 1e6,
        max_memory_gb: 1e6,
        max_storage_gb: 1e6,
        max_databases: 1_000_000,
        max_backups: 0,
    }
}

fn database(project: &str, i: usize) -> Database {
    let t = Utc::now();
    Database {
        id: new_id(IdKind::Database),
        name: format!("db-{i:05}"),
        domain: "bench".into(),
        project: project.into(),
        engine: Engine::Postgres,
        version: "16.4".into(),
        size: Size::Micro,
        storage_gb: 10,
        replicas: 1,
        ready_replicas: 1,
        status: DatabaseStatus::Running,
        health_status: None,
        kubedb_phase: None,
        backup_enabled: true,
        backup_schedule: "daily".into(),
        backup_retention_days: 7,
        high_availability: false,
        monitoring_enabled: true,
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
        conditions: ready_conditions(),
        reserved: Usage::of_database(Size::Micro, 10, 1),
        created_at: t,
        updated_at: t,
    }
}

fn operation(db: &Database) -> Operation {
    let t = Utc::now();
    Operation {
        id: new_id(IdKind::Operation),
        database_id: db.id.clone(),
        op_type: OperationType::Create,
        status: OperationStatus::Completed,
        progress: 100,
        message: None,
        desired_state: serde_json::json!({}),
        ops_request_name: None,
        ops_request_phase: None,
        error_message: None,
        retry_count: 0,
        max_retries: 3,
        created_by: None,
        domain: db.domain.clone(),
        project: db.project.clone(),
        lease_owner: None,
        lease_expires_at: None,
        run_after: t,
        created_at: t,
        started_at: None,
        completed_at: None,
        estimated_completion_at: None,
    }
}

fn audit(i: usize) -> AuditEntry {
    AuditEntry {
        id: new_id(IdKind::Audit),
        action: "database.create".into(),
        resource_type: "database".into(),
        resource_id: Some(format!("db-{i}")),
        domain: Some("bench".into()),
        project: Some(format!("p{:03}", i % PROJECTS)),
        user_id: Some("user-bench".into()),
        user_email: Some("bench@example.com".into()),
        ip_address: Some("127.0.0.1".into()),
        user_agent: Some("bench".into()),
        request_method: Some("POST".into()),
        request_path: Some("/api/v1/domain/bench/project/p/databases".into()),
        status: AuditOutcome::Success,
        status_code: Some(202),
        details: serde_json::json!({"engine": "postgres", "size": "db.t3.micro"}),
        timestamp: Utc::now(),
    }
}

async fn load(s: Arc<dyn Store>) -> Result<(), Box<dyn std::error::Error>> {
    let t = Utc::now();
    s.create_tenant(&Tenant {
        name: "bench".into(),
        display_name: "Bench".into(),
        plan: Plan::Enterprise,
        contact_email: None,
        quota: quota(),
        metadata: serde_json::json!({}),
        is_active: true,
        created_at: t,
        updated_at: t,
    })
    .await?;
    for p in 0..PROJECTS {
        s.create_project(&Project {
            domain: "bench".into(),
            name: format!("p{p:03}"),
            display_name: format!("Project {p}"),
            description: None,
            quota: quota(),
            metadata: serde_json::json!({}),
            is_active: true,
            created_at: t,
            updated_at: t,
        })
        .await?;
    }
    let mut tasks = Vec::new();
    for w in 0..LOADERS {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..DATABASES).step_by(LOADERS) {
                let db = database(&format!("p{:03}", i % PROJECTS), i);
                s.create_database(&db, &operation(&db), None, &[]).await?;
            }
            for i in (w..AUDIT_ROWS).step_by(LOADERS) {
                s.insert_audit(&audit(i)).await?;
            }
            Ok::<(), store::StoreError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// The page every listing read asks for.
const FIRST_100: PageRequest = PageRequest {
    page: 1,
    page_size: 100,
};

#[derive(Clone, Copy)]
enum Read {
    Quota,
    AuditPage,
    DatabasePage,
}

/// What KubeDB reports on a ready database: five conditions, about 950 bytes.
fn ready_conditions() -> serde_json::Value {
    let c = |t: &str, reason: &str, message: &str| {
        serde_json::json!({"lastTransitionTime": "2026-11-26T03:08:05Z", "message": message,
            "observedGeneration": 2, "reason": reason, "status": "True", "type": t})
    };
    serde_json::json!([
        c(
            "ProvisioningStarted",
            "DatabaseProvisioningStartedSuccessfully",
            "provisioning started"
        ),
        c(
            "ReplicaReady",
            "AllReplicasReady",
            "all desired replicas are ready"
        ),
        c(
            "AcceptingConnection",
            "DatabaseAcceptingConnectionRequest",
            "the database is accepting connection requests"
        ),
        c("Ready", "ReadinessCheckSucceeded", "the database is ready"),
        c(
            "Provisioned",
            "DatabaseSuccessfullyProvisioned",
            "the database is provisioned"
        ),
    ])
}

async fn measure(
    s: Arc<dyn Store>,
    read: Read,
    concurrency: usize,
    secs: u64,
) -> (f64, Duration, Duration) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = w;
            while Instant::now() < deadline {
                let t = Instant::now();
                match read {
                    Read::Quota => {
                        let p = format!("p{:03}", i % PROJECTS);
                        let project = s.get_project("bench", &p).await.ok().flatten();
                        let usage = s.project_usage("bench", &p).await.ok();
                        assert!(project.is_some() && usage.is_some_and(|u| u.databases == 100));
                    }
                    Read::AuditPage => {
                        let page = s.list_audit(&AuditFilter::default(), FIRST_100).await.ok();
                        assert!(page.is_some_and(|p| p.items.len() == 100));
                    }
                    Read::DatabasePage => {
                        let p = format!("p{:03}", i % PROJECTS);
                        let page = s
                            .list_databases(
                                "bench",
                                &p,
                                &store::DatabaseFilter::default(),
                                FIRST_100,
                            )
                            .await
                            .ok();
                        assert!(page.is_some_and(|p| p.items.len() == 100));
                    }
                }
                lat.push(t.elapsed());
                i += concurrency;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |q: f64| {
        all.get(((all.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or_default()
    };
    (all.len() as f64 / elapsed, pct(0.50), pct(0.99))
}

async fn run(backend: &str) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let url = match backend {
        "sqlite" => store::testing::fresh_sqlite_url(dir.path()),
        _ => store::testing::fresh_postgres_url().await,
    };
    let s = store::connect(&url, Cipher::new([1u8; 32])).await?;
    let t = Instant::now();
    load(s.clone()).await?;
    println!(
        "[{backend}] loaded {DATABASES} databases in {PROJECTS} projects + {AUDIT_ROWS} audit rows in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let secs = env_num("BENCH_SECS", 3);
    let conc = env_num("BENCH_CONCURRENCY", 8) as usize;
    for (name, read) in [
        ("project quota (get_project + project_usage)", Read::Quota),
        ("audit page of 100", Read::AuditPage),
        ("database page of 100 (list_databases)", Read::DatabasePage),
    ] {
        let (rps, p50, p99) = measure(s.clone(), read, conc, secs).await;
        println!(
            "[{backend}] {name}: {rps:.0} req/s, p50 {:.3} ms, p99 {:.3} ms (concurrency {conc})",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let which = std::env::args().nth(1).unwrap_or_else(|| "both".into());
    for backend in ["sqlite", "postgres"] {
        if which == "both" || which == backend {
            run(backend).await?;
        }
    }
    Ok(())
}
