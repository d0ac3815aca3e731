//! API benchmark: `cargo bench -p server --bench api` (add `-- --quick` for a shorter run,
//! `-- --only postgres` or `-- --only sqlite` for one store).
//!
//! For each store (SQLite; PostgreSQL at DBAAS_TEST_POSTGRES_URL, default 127.0.0.1:5432) it seeds
//! 10,000 databases across 100 projects and 10,000 audit entries, starts the real `dbaas serve`
//! binary, and measures from a separate process: time until ready, resident memory idle and after
//! load, and requests/s with p50/p99 latency for an authenticated project-quota read, a 100-row
//! audit page, one database by id, a 100-row database page, and `/health` — at peak (closed loop)
//! and at half of peak (open loop). On PostgreSQL a second replica runs on the same store and the
//! database reads are measured on it too, after checking that a write made through the first
//! shows in the second's next read.

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
use http_body_util::BodyExt;
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
    let argv: Vec<String> = std::env::args().collect();
    let quick = argv.iter().any(|a| a == "--quick");
    let only = argv
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| argv.get(i + 1).cloned());
    let runs = |store: &str| only.as_deref().is_none_or(|o| o == store);
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
    if runs("sqlite") {
        report.push(run_store("sqlite", &sqlite_url, dir.path(), bin, &args).await?);
    }
    if runs("postgres") {
        let pg_dir = tempfile::tempdir()?;
        let pg_url = store::testing::fresh_postgres_url().await;
        report.push(run_store("postgres", &pg_url, pg_dir.path(), bin, &args).await?);
    }
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
    let page_path = "/api/v1/domain/bench/project/p-7/databases?page_size=100";
    let one_path = format!(
        "/api/v1/domain/bench/project/p-7/databases/{}",
        first_id(addr, &auth, page_path).await?
    );
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
        (
            "GET database by id (auth)",
            one_path.clone(),
            Some(auth.clone()),
        ),
        (
            "GET databases page_size=100 (auth)",
            page_path.to_string(),
            Some(auth.clone()),
        ),
        ("GET /health", "/health".to_string(), None),
    ];
    check_audit_page(addr, &auth, args.databases).await?;
    let mut lines = vec![format!(
        "{name}: ready {ready_ms:.0} ms after start, RSS idle {rss_idle:.1} MB"
    )];
    for (label, path, auth) in &targets {
        lines.push(measure(name, label, addr, path, auth.as_deref(), args).await?);
    }
    let rss_after = rss_mb(child.id());
    lines.push(format!("{name}: RSS after load {rss_after:.1} MB"));
    println!("   RSS after load {rss_after:.1} MB");
    if name == "postgres" {
        // A second replica on the same store: a write through the first shows in its next read;
        // then its own read rates.
        let addr2: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
        let dir2 = tempfile::tempdir()?;
        let mut second = spawn_server(bin, url, dir2.path(), addr2, &[])?;
        wait_ready(addr2).await?;
        let auth2 = format!("Bearer {}", login(addr2).await?);
        check_cross_replica(addr, &auth, addr2, &auth2, &one_path).await?;
        for (label, path) in [
            ("replica 2: GET database by id (auth)", one_path.as_str()),
            ("replica 2: GET databases page_size=100", page_path),
        ] {
            lines.push(measure(name, label, addr2, path, Some(&auth2), args).await?);
        }
        let _ = second.kill();
        let _ = second.wait();
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(lines.join("\n"))
}

/// Warm-up, then peak (closed loop), then half of peak (open loop): one report line.
async fn measure(
    name: &str,
    label: &str,
    addr: SocketAddr,
    path: &str,
    auth: Option<&str>,
    args: &Args,
) -> anyhow::Result<String> {
    load(
        addr,
        path,
        auth,
        args.concurrency,
        Duration::from_millis(500),
        None,
    )
    .await?;
    let peak = load(
        addr,
        path,
        auth,
        args.concurrency,
        Duration::from_secs_f64(args.secs),
        None,
    )
    .await?;
    let half = load(
        addr,
        path,
        auth,
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
    Ok(line)
}

async fn send(
    addr: SocketAddr,
    req: hyper::Request<http_body_util::Full<Bytes>>,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = tx.send_request(req).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((status, serde_json::from_slice(&bytes).unwrap_or_default()))
}

async fn get_json(addr: SocketAddr, path: &str, auth: &str) -> anyhow::Result<serde_json::Value> {
    let req = hyper::Request::get(path)
        .header("host", "localhost")
        .header("authorization", auth)
        .body(http_body_util::Full::new(Bytes::new()))?;
    Ok(send(addr, req).await?.1)
}

/// The id of the first database of a full page.
async fn first_id(addr: SocketAddr, auth: &str, page: &str) -> anyhow::Result<String> {
    let v = get_json(addr, page, auth).await?;
    if v["databases"].as_array().map(Vec::len) != Some(100) {
        anyhow::bail!("not a full database page: {v}");
    }
    Ok(v["databases"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// A PATCH through replica 1 shows in the very next read on replica 2 (warm before each write).
async fn check_cross_replica(
    a: SocketAddr,
    auth_a: &str,
    b: SocketAddr,
    auth_b: &str,
    one: &str,
) -> anyhow::Result<()> {
    const ROUNDS: usize = 50;
    for round in 0..ROUNDS {
        get_json(b, one, auth_b).await?;
        get_json(b, one, auth_b).await?;
        let body = format!(r#"{{"labels": {{"round": "r{round}"}}}}"#);
        let req = hyper::Request::patch(one)
            .header("host", "localhost")
            .header("authorization", auth_a)
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(Bytes::from(body)))?;
        let (status, answer) = send(a, req).await?;
        if status != 200 {
            anyhow::bail!("PATCH answered {status}: {answer}");
        }
        let seen = get_json(b, one, auth_b).await?;
        if seen["labels"]["round"] != format!("r{round}") {
            anyhow::bail!("replica 2 answered a stale read after a write on replica 1: {seen}");
        }
    }
    println!(
        "   a write on replica 1 showed in the next read on replica 2, {ROUNDS} of {ROUNDS} times"
    );
    Ok(())
}

/// The measured audit page must be a real one: a full page of the seeded entries, newest first.
async fn check_audit_page(addr: SocketAddr, auth: &str, seeded: usize) -> anyhow::Result<()> {
    let v = get_json(addr, "/api/v1/audit-logs?page_size=100", auth).await?;
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
        namespace: Some(provider::translate::namespace_name("bench", project)),
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
