//! API benchmark: `cargo bench -p server --bench api` (add `-- --quick` for a shorter run).
//!
//! For each store (SQLite; PostgreSQL at DBAAS_TEST_POSTGRES_URL, default 127.0.0.1:5432) it seeds
//! 10,000 databases across 100 projects and 10,000 audit entries, starts the real `dbaas serve`
//! binary, and measures from a separate process: time until ready, resident memory idle and after
//! load, and requests/s with p50/p99 latency for an authenticated project-quota read, a 100-row
//! audit page, and `/health` — at peak (closed loop) and at half of peak (open loop).

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use domain::audit::{AuditEntry, AuditOutcome};
use domain::engine::{Engine, Size};
use domain::ids::{new_id, IdKind};
use domain::model::{Database, Operation, Project, Tenant};
use domain::quota::{QuotaLimits, Usage};
use domain::status::{DatabaseStatus, OperationStatus, OperationType};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::json;
use support::*;

struct Args {
    secs: f64,
    concurrency: usize,
    databases: usize,
    projects: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let args = Args {
        secs: if quick { 2.0 } else { 5.0 },
        concurrency: 32,
        databases: 10_000,
        projects: 100,
    };
    let bin = env!("CARGO_BIN_EXE_dbaas");
    println!(
        "kubedb-dbaas API benchmark ({} CPUs, {} s per measurement, {} connections)",
        num_cpus(),
        args.secs,
        args.concurrency
    );
    let mut report = vec![];
    let dir = tempfile::tempdir()?;
    let sqlite_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("dbaas.db").display()
    );
    report.push(run_store("sqlite", &sqlite_url, dir.path(), bin, &args).await?);
    let pg_dir = tempfile::tempdir()?;
    let pg_url = store::testing::fresh_postgres_url().await;
    report.push(run_store("postgres", &pg_url, pg_dir.path(), bin, &args).await?);
    println!("\n{}", report.join("\n"));
    Ok(())
}

async fn run_store(
    name: &str,
    url: &str,
    data_dir: &Path,
    bin: &str,
    args: &Args,
) -> anyhow::Result<String> {
    println!(
        "\n== {name}: seeding {} databases across {} projects and {} audit entries",
        args.databases, args.projects, args.databases
    );
    let t = Instant::now();
    seed(url, args).await?;
    println!("   seeded in {:.1} s", t.elapsed().as_secs_f64());

    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let started = Instant::now();
    let mut child = spawn_server(bin, url, data_dir, addr, &[])?;
    wait_ready(addr).await?;
    let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = rss_mb(child.id());

    let token = login(addr).await?;
    let auth = format!("Bearer {token}");
    let targets = [
        (
            "GET project quota (auth)",
            "/api/v1/tenants/bench/projects/p-7/quota".to_string(),
            Some(auth.clone()),
        ),
        (
            "GET audit-logs page_size=100 (auth)",
            "/api/v1/audit-logs?page_size=100".to_string(),
            Some(auth.clone()),
        ),
        ("GET /health", "/health".to_string(), None),
    ];
    check_audit_page(addr, &auth, args.databases).await?;
    let mut lines = vec![format!(
        "{name}: ready {ready_ms:.0} ms after start, RSS idle {rss_idle:.1} MB"
    )];
    for (label, path, auth) in &targets {
        // Warm up, then peak (closed loop), then half of peak (open loop).
        load(
            addr,
            path,
            auth.as_deref(),
            args.concurrency,
            Duration::from_millis(500),
            None,
        )
        .await?;
        let peak = load(
            addr,
            path,
            auth.as_deref(),
            args.concurrency,
            Duration::from_secs_f64(args.secs),
            None,
        )
        .await?;
        let half = load(
            addr,
            path,
            auth.as_deref(),
            args.concurrency,
            Duration::from_secs_f64(args.secs),
            Some(peak.rps / 2.0),
        )
        .await?;
        let line = format!(
            "{name}: {label:<38} peak {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms | at {:>6.0} req/s: p50 {:>5.2} ms  p99 {:>5.2} ms  (errors {})",
            peak.rps,
            peak.p50_ms,
            peak.p99_ms,
            half.rps,
            half.p50_ms,
            half.p99_ms,
            peak.errors + half.errors
        );
        println!("   {line}");
        lines.push(line);
    }
    let rss_after = rss_mb(child.id());
    lines.push(format!("{name}: RSS after load {rss_after:.1} MB"));
    println!("   RSS after load {rss_after:.1} MB");
    let _ = child.kill();
    let _ = child.wait();
    Ok(lines.join("\n"))
}

/// The measured audit page must be a real one: a full page of the seeded entries, newest first.
async fn check_audit_page(addr: SocketAddr, auth: &str, seeded: usize) -> anyhow::Result<()> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::get("/api/v1/audit-logs?page_size=100")
        .header("host", "localhost")
        .header("authorization", auth)
        .body(Empty::<Bytes>::new())?;
    let resp = send.send_request(req).await?;
    let bytes = resp.into_body().collect().await?.to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes)?;
    let entries = v["audit_logs"].as_array().map(Vec::len).unwrap_or(0);
    let total = v["total"].as_u64().unwrap_or(0) as usize;
    let newest_first = v["audit_logs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["timestamp"].as_str().unwrap_or_default().to_string())
        .map(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .collect::<Option<Vec<_>>>()
        .is_some_and(|ts| ts.windows(2).all(|w| w[0] >= w[1]));
    if entries != 100 || total < seeded || !newest_first {
        anyhow::bail!(
            "audit page is not what the benchmark measures: {entries} entries, total {total}, \
             newest first: {newest_first}"
        );
    }
    Ok(())
}

async fn seed(url: &str, args: &Args) -> anyhow::Result<()> {
    let key = server::keys::Keys::derive(SECRET.as_bytes());
    let store = store::connect(url, store::Cipher::new(key.encryption)).await?;
    let now = chrono::Utc::now();
    let big = QuotaLimits {
        max_cpu_cores: 1e6,
        max_memory_gb: 1e6,
        max_storage_gb: 1e6,
        max_databases: 1_000_000,
        max_backups: 1_000_000,
    };
    store
        .create_tenant(&Tenant {
            name: "bench".into(),
            display_name: "Bench".into(),
            plan: domain::model::Plan::Enterprise,
            contact_email: None,
            quota: big,
            metadata: json!({}),
            is_active: true,
            created_at: now,
            updated_at: now,
        })
        .await?;
    let per_project = args.databases / args.projects;
    let mut jobs = tokio::task::JoinSet::new();
    for p in 0..args.projects {
        let store = store.clone();
        jobs.spawn(async move {
            let project = format!("p-{p}");
            store
                .create_project(&Project {
                    domain: "bench".into(),
                    name: project.clone(),
                    display_name: project.clone(),
                    description: None,
                    quota: big,
                    metadata: json!({}),
                    is_active: true,
                    created_at: now,
                    updated_at: now,
                })
                .await?;
            for i in 0..per_project {
                let db = bench_database(&project, i);
                let op = bench_operation(&db);
                store.create_database(&db, &op, None, &[]).await?;
                store
                    .insert_audit(&AuditEntry {
                        id: new_id(IdKind::Audit),
                        action: "database.create".into(),
                        resource_type: "database".into(),
                        resource_id: Some(db.id.clone()),
                        domain: Some("bench".into()),
                        project: Some(project.clone()),
                        user_id: None,
                        user_email: Some("seed@example.com".into()),
                        ip_address: Some("127.0.0.1".into()),
                        user_agent: Some("bench".into()),
                        request_method: Some("POST".into()),
                        request_path: Some(format!(
                            "/api/v1/domain/bench/project/{project}/databases"
                        )),
                        status: AuditOutcome::Success,
                        status_code: Some(202),
                        details: json!({"engine": db.engine, "size": db.size}),
                        timestamp: chrono::Utc::now(),
                    })
                    .await?;
            }
            anyhow::Ok(())
        });
        while jobs.len() >= 8 {
            jobs.join_next().await.expect("a job is running")??;
        }
    }
    while let Some(r) = jobs.join_next().await {
        r??;
    }
    Ok(())
}

fn bench_database(project: &str, i: usize) -> Database {
    let now = chrono::Utc::now();
    let engine = Engine::ALL[i % 6];
    Database {
        id: new_id(IdKind::Database),
        name: format!("db-{i}"),
        domain: "bench".into(),
        project: project.into(),
        engine,
        version: "16.4".into(),
        size: Size::Micro,
        storage_gb: 20,
        replicas: 1,
        ready_replicas: 1,
        status: DatabaseStatus::Running,
        health_status: Some("healthy".into()),
        kubedb_phase: Some("Ready".into()),
        backup_enabled: true,
        backup_schedule: "daily".into(),
        backup_retention_days: 7,
        high_availability: false,
        monitoring_enabled: true,
        deletion_protection: false,
        endpoint: Some("10.96.0.10".into()),
        port: Some(engine.default_port() as i64),
        service_type: Some("ClusterIP".into()),
        loadbalancer_ip: None,
        labels: Default::default(),
        annotations: Default::default(),
        provider_id: None,
        namespace: Some(format!("dbaas-bench-{project}")),
        kubedb_resource_name: Some(format!("db-{i}")),
        current: Default::default(),
        upgrade_policy: None,
        conditions: json!([]),
        reserved: Usage::of_database(Size::Micro, 20, 1),
        created_at: now,
        updated_at: now,
    }
}

fn bench_operation(db: &Database) -> Operation {
    let now = chrono::Utc::now();
    Operation {
        id: new_id(IdKind::Operation),
        database_id: db.id.clone(),
        op_type: OperationType::Create,
        status: OperationStatus::Completed,
        progress: 100,
        message: None,
        desired_state: json!({}),
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
        run_after: now,
        created_at: now,
        started_at: Some(now),
        completed_at: Some(now),
        estimated_completion_at: None,
    }
}
