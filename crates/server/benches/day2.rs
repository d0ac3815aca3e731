//! Day-2 operations benchmark: `cargo bench -p server --bench day2 [-- --quick]`.
//!
//! Starts the simulated KubeDB cluster in this process (zero provisioning and step delay) and the
//! real `dbaas serve` binary (SQLite) beside it, creates N databases (default 200), then reports:
//! - POST `/restart` → the OpsRequest exists in the cluster (as a watch client of the cluster sees
//!   it), p50/p99, one request at a time;
//! - POST → the operation `completed` (as the API shows it), p50/p99;
//! - Kubernetes requests the platform made per operation;
//! - N concurrent scale operations (one per database): wall time until all completed, and the
//!   server's resident memory;
//! - on-demand backups through the simulated KubeStash to its embedded S3 server: POST `/backup`
//!   → the operation `completed`, p50/p99, and Kubernetes requests per backup;
//! - the listing of one database's 1,000 backups (200 with `--quick`): 100-row pages, req/s.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::watcher;
use parking_lot::Mutex;
use serde_json::{json, Value};
use support::*;

const PROJECTS: usize = 10;
const CONCURRENCY: usize = 32;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_bench_log()?;
    let quick = std::env::args().any(|a| a == "--quick");
    let n: usize = std::env::var("BENCH_DATABASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let samples = if quick { 50 } else { 200 };
    println!(
        "kubedb-dbaas day-2 benchmark ({} CPUs, {n} databases, {samples} sequential samples)",
        num_cpus()
    );
    let s3_dir = tempfile::tempdir()?;
    let sim = sim::start(sim::SimConfig {
        operator: sim::OperatorConfig {
            provisioning_delay: Duration::ZERO,
            step_delay: Duration::ZERO,
        },
        s3: Some(sim::S3ServerConfig::new(s3_dir.path())),
        kubestash: sim::KubeStashConfig {
            backup_step_delay: Duration::ZERO,
            ..Default::default()
        },
        ..Default::default()
    })
    .await?;
    let s3 = sim.s3.as_ref().expect("embedded S3");
    let dir = tempfile::tempdir()?;
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    let mut child = spawn_server(
        env!("CARGO_BIN_EXE_dbaas"),
        "sqlite",
        dir.path(),
        addr,
        &[
            ("DBAAS_PROVIDER_RATE_LIMIT", "1000"),
            ("DBAAS_WORKERS", "8"),
        ],
    )?;
    wait_ready(addr).await?;
    let token = login(addr).await?;
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        async move {
            let mut r = http
                .request(method, format!("{base}{path}"))
                .bearer_auth(token);
            if let Some(b) = body {
                r = r.json(&b);
            }
            let r = r.send().await?;
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            anyhow::Ok((status, v))
        }
    };
    let post = |path: String, body: Value| call(reqwest::Method::POST, path, Some(body));

    let (s, p) = post(
        "/api/v1/providers".into(),
        json!({"name": "sim", "region": "local", "cpu_total_cores": 100000, "memory_total_gb": 400000,
            "storage_total_gb": 10000000, "kubeconfig_content": sim.kubeconfig_yaml}),
    )
    .await?;
    anyhow::ensure!(s == 201, "onboarding failed: {p}");
    let (s, b) = call(
        reqwest::Method::PUT,
        format!("/api/v1/providers/{}/backup-storage", p["id"].as_str().unwrap_or_default()),
        Some(json!({"endpoint": s3.url, "bucket": sim::s3::DEFAULT_BUCKET, "prefix": "bench",
            "region": s3.region, "access_key_id": s3.access_key, "secret_access_key": s3.secret_key})),
    )
    .await?;
    anyhow::ensure!(s == 200, "configuring backup storage failed: {b}");
    let quota = json!({"max_cpu_cores": 100000, "max_memory_gb": 400000, "max_storage_gb": 1000000,
        "max_databases": 100000, "max_backups": 100000});
    let (s, t) = post(
        "/api/v1/tenants".into(),
        json!({"name": "bench", "quota": quota}),
    )
    .await?;
    anyhow::ensure!(s == 201, "creating the tenant failed: {t}");
    for p in 0..PROJECTS {
        let (s, b) = post(
            "/api/v1/tenants/bench/projects".into(),
            json!({"name": format!("p-{p}"), "quota": quota}),
        )
        .await?;
        anyhow::ensure!(s == 201, "creating a project failed: {b}");
    }

    println!("\n== creating {n} databases");
    let created: Vec<_> = futures::stream::iter(0..n)
        .map(|i| {
            post(
                format!("/api/v1/domain/bench/project/p-{}/databases", i % PROJECTS),
                json!({"name": format!("db-{i:05}"), "engine": "postgres", "version": "16.10",
                    "storage_gb": 10}),
            )
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut paths = vec![];
    for r in created {
        let (s, v) = r?;
        anyhow::ensure!(s == 202, "create answered {s}: {v}");
        paths.push(format!(
            "/api/v1/domain/bench/project/{}/databases/{}",
            v["project"].as_str().unwrap_or_default(),
            v["id"].as_str().unwrap_or_default()
        ));
    }
    let wait_op = |id: String| async move {
        loop {
            let (_, o) = call(
                reqwest::Method::GET,
                format!("/api/v1/operations/{id}"),
                None,
            )
            .await?;
            match o["status"].as_str() {
                Some("completed") => return anyhow::Ok(Instant::now()),
                Some("failed" | "cancelled" | "timeout") => {
                    anyhow::bail!("operation {id} ended: {o}")
                }
                _ => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
    };
    for path in &paths {
        loop {
            let (_, d) = call(reqwest::Method::GET, path.clone(), None).await?;
            if d["status"] == "running" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Every OpsRequest's first appearance, as a watch client of the cluster sees it.
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Default::default();
    let ar = ApiResource {
        group: "ops.kubedb.com".into(),
        version: "v1alpha1".into(),
        api_version: "ops.kubedb.com/v1alpha1".into(),
        kind: "PostgresOpsRequest".into(),
        plural: "postgresopsrequests".into(),
    };
    let api: Api<DynamicObject> = Api::all_with(sim.client(), &ar);
    let recorder = {
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut events = std::pin::pin!(watcher(api, Default::default()));
            while let Some(e) = events.next().await {
                if let Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) = e {
                    if let Some(name) = o.metadata.name {
                        seen.lock().entry(name).or_insert_with(Instant::now);
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    println!("== {samples} restarts, one at a time");
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
    };
    let mut to_ops = vec![];
    let mut to_done = vec![];
    sim.reset_request_counts();
    for i in 0..samples {
        let path = &paths[i % paths.len()];
        let t = Instant::now();
        let (s, v) = post(format!("{path}/restart"), json!({})).await?;
        anyhow::ensure!(s == 202, "restart answered {s}: {v}");
        let id = v["operations"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = provider::day2::ops_request_name(&id);
        let done = wait_op(id).await?;
        to_done.push((done - t).as_secs_f64() * 1000.0);
        let at = loop {
            if let Some(at) = seen.lock().get(&name).copied() {
                break at;
            }
            anyhow::ensure!(t.elapsed() < Duration::from_secs(30), "{name} never seen");
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        to_ops.push((at - t).as_secs_f64() * 1000.0);
    }
    let counts = sim.request_counts();
    let ours = counts.client("kubedb-dbaas");
    let detail: Vec<String> = counts
        .by_key
        .iter()
        .filter(|(k, _)| k.client == "kubedb-dbaas")
        .map(|(k, v)| format!("{} {}: {v}", k.verb, k.resource))
        .collect();
    let mut report = vec![
        format!(
            "POST /restart → OpsRequest in the cluster: p50 {:.1} ms, p99 {:.1} ms",
            pct(&mut to_ops, 0.5),
            pct(&mut to_ops, 0.99)
        ),
        format!(
            "POST /restart → operation completed (zero sim delay): p50 {:.1} ms, p99 {:.1} ms",
            pct(&mut to_done, 0.5),
            pct(&mut to_done, 0.99)
        ),
        format!(
            "Kubernetes requests per operation: {:.1} [{}]",
            ours as f64 / samples as f64,
            detail.join(", ")
        ),
    ];
    for r in &report {
        println!("   {r}");
    }

    println!("== {samples} on-demand backups, one at a time");
    let mut to_backup = vec![];
    sim.reset_request_counts();
    for i in 0..samples {
        let path = &paths[i % paths.len()];
        let t = Instant::now();
        let (s, v) = post(format!("{path}/backup"), json!({})).await?;
        anyhow::ensure!(s == 202, "backup answered {s}: {v}");
        let id = v["operations"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let done = wait_op(id).await?;
        to_backup.push((done - t).as_secs_f64() * 1000.0);
    }
    let counts = sim.request_counts();
    let ours = counts.client("kubedb-dbaas");
    let detail: Vec<String> = counts
        .by_key
        .iter()
        .filter(|(k, _)| k.client == "kubedb-dbaas")
        .map(|(k, v)| format!("{} {}: {v}", k.verb, k.resource))
        .collect();
    report.push(format!(
        "POST /backup → operation completed (zero sim delay, real S3 writes): p50 {:.1} ms, p99 {:.1} ms",
        pct(&mut to_backup, 0.5),
        pct(&mut to_backup, 0.99)
    ));
    report.push(format!(
        "Kubernetes requests per backup: {:.1} [{}]",
        ours as f64 / samples as f64,
        detail.join(", ")
    ));
    for r in &report[report.len() - 2..] {
        println!("   {r}");
    }

    let listed = if quick { 200 } else { 1000 };
    let one = paths[0].clone();
    println!("== {listed} backups of one database, then 100-row pages of its listing");
    loop {
        let (_, l) = call(
            reqwest::Method::GET,
            format!("{one}/backups?page_size=1"),
            None,
        )
        .await?;
        if l["total"].as_u64().unwrap_or(0) >= listed as u64 {
            break;
        }
        let (s, v) = post(format!("{one}/backup"), json!({})).await?;
        anyhow::ensure!(s == 202, "backup answered {s}: {v}");
        wait_op(
            v["operations"][0]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
        .await?;
    }
    let r = load(
        addr,
        &format!("{one}/backups?page_size=100"),
        Some(&format!("Bearer {token}")),
        8,
        Duration::from_secs(5),
        None,
    )
    .await?;
    report.push(format!(
        "listing of {listed} backups, 100-row page with auth: {:.0} req/s (p50 {:.1} ms, p99 {:.1} ms, {} errors)",
        r.rps, r.p50_ms, r.p99_ms, r.errors
    ));
    println!("   {}", report.last().unwrap());

    println!("== {n} concurrent scale operations, one per database");
    let t = Instant::now();
    let answers: Vec<_> = futures::stream::iter(paths.iter())
        .map(|p| post(format!("{p}/scale"), json!({"size": "db.t3.small"})))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut ids = vec![];
    for a in answers {
        let (s, v) = a?;
        anyhow::ensure!(s == 202, "scale answered {s}: {v}");
        ids.push(
            v["operations"][0]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let accepted = t.elapsed();
    let done: Vec<_> = futures::stream::iter(ids)
        .map(wait_op)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for d in done {
        d?;
    }
    let wall = t.elapsed();
    let rss = rss_mb(child.id());
    report.push(format!(
        "{n} concurrent scale operations: all accepted in {:.2} s, all completed in {:.2} s; server RSS {rss:.0} MB",
        accepted.as_secs_f64(),
        wall.as_secs_f64()
    ));
    println!("   {}", report.last().unwrap());

    // No starvation: operations held running in one tenant never delay another tenant's create.
    const HELD: usize = 30;
    println!("== a create in another tenant while {HELD} restarts run in this one");
    sim.faults.update(|f| {
        f.hold_ops_requests.insert("*".into());
    });
    for p in paths.iter().take(HELD) {
        let (s, v) = post(format!("{p}/restart"), json!({})).await?;
        anyhow::ensure!(s == 202, "restart answered {s}: {v}");
    }
    for p in paths.iter().take(HELD) {
        loop {
            let (_, d) = call(reqwest::Method::GET, p.clone(), None).await?;
            if d["status"] == "updating" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let (s, t) = post(
        "/api/v1/tenants".into(),
        json!({"name": "other", "quota": quota}),
    )
    .await?;
    anyhow::ensure!(s == 201, "creating the tenant failed: {t}");
    let (s, b) = post(
        "/api/v1/tenants/other/projects".into(),
        json!({"name": "app", "quota": quota}),
    )
    .await?;
    anyhow::ensure!(s == 201, "creating a project failed: {b}");
    let t = Instant::now();
    let (s, v) = post(
        "/api/v1/domain/other/project/app/databases".into(),
        json!({"name": "quick", "engine": "postgres", "version": "16.10"}),
    )
    .await?;
    anyhow::ensure!(s == 202, "create answered {s}: {v}");
    let quick = format!(
        "/api/v1/domain/other/project/app/databases/{}",
        v["id"].as_str().unwrap_or_default()
    );
    loop {
        let (_, d) = call(reqwest::Method::GET, quick.clone(), None).await?;
        if d["status"] == "running" {
            break;
        }
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(60),
            "the create never ran"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    report.push(format!(
        "create in another tenant behind {HELD} running restarts: running after {:.0} ms \
         (target: provisioning delay 0 ms + 2 s)",
        t.elapsed().as_secs_f64() * 1000.0
    ));
    println!("   {}", report.last().unwrap());
    sim.faults.update(|f| f.hold_ops_requests.clear());

    recorder.abort();
    child.kill()?;
    let _ = child.wait();
    println!("\n== summary");
    for r in report {
        println!("   {r}");
    }
    Ok(())
}
