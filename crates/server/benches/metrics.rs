//! Live-metrics benchmark: `cargo bench -p server --bench metrics [-- --quick]`.
//!
//! Starts the simulated cluster in this process and two real `dbaas serve` replicas on one fresh
//! PostgreSQL database (DBAAS_TEST_POSTGRES_URL) sharing the real Redis (DBAAS_TEST_REDIS_URL,
//! default redis://127.0.0.1:6379), creates N PostgreSQL databases (default 200), and reports for
//! `GET /{id}/metrics` with auth:
//! - an L1 hit (one database, answered from the replica's memory): peak req/s, p50/p99, and p99
//!   at half and at a quarter of peak, each phase after 1 s at its rate and then second by second
//!   beside the machine's steal and each process's CPU;
//! - a cold read (each database's first request: one exporter read through the cluster's API
//!   server): p50/p99 over the N databases, one at a time;
//! - an L2 hit (each database's first request on the other replica, which finds the first's
//!   reading in Redis): p50/p99 over the N databases;
//! - 1,000 concurrent requests for one cold database: exporter reads (the cluster's proxy
//!   requests) and p99.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_bench_log()?;
    let quick = std::env::args().any(|a| a == "--quick");
    let n: usize = std::env::var("BENCH_DATABASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let secs = if quick { 2.0 } else { 5.0 };
    println!(
        "kubedb-dbaas metrics benchmark ({} CPUs, {n} databases, two replicas on PostgreSQL + Redis)",
        num_cpus()
    );
    let redis =
        std::env::var("DBAAS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let sim = sim::start(sim::SimConfig {
        operator: sim::OperatorConfig {
            provisioning_delay: Duration::ZERO,
            step_delay: Duration::ZERO,
        },
        ..Default::default()
    })
    .await?;
    let store_url = store::testing::fresh_postgres_url().await;
    let env: &[(&str, &str)] = &[
        ("DBAAS_PROVIDER_RATE_LIMIT", "1000"),
        ("DBAAS_REDIS_URL", &redis),
        ("DBAAS_METRICS_PER_USER_PER_MINUTE", "1000000000"),
        ("DBAAS_METRICS_PER_DATABASE_PER_MINUTE", "1000000000"),
    ];
    let mut replicas = vec![];
    for _ in 0..2 {
        let dir = tempfile::tempdir()?;
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
        let child = spawn_server(
            env!("CARGO_BIN_EXE_dbaas"),
            &store_url,
            dir.path(),
            addr,
            env,
        )?;
        wait_ready(addr).await?;
        replicas.push((addr, child, dir));
    }
    let (a, b) = (replicas[0].0, replicas[1].0);
    let token = login(a).await?;
    let auth = format!("Bearer {token}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let post = |path: &str, body: Value| {
        let (http, token) = (http.clone(), token.clone());
        let url = format!("http://{a}{path}");
        async move {
            let r = http.post(url).bearer_auth(token).json(&body).send().await?;
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            anyhow::Ok((status, v))
        }
    };
    let (s, p) = post(
        "/api/v1/providers",
        json!({"name": "sim", "region": "local", "cpu_total_cores": 100000, "memory_total_gb": 400000,
            "storage_total_gb": 10000000, "kubeconfig_content": sim.kubeconfig_yaml}),
    )
    .await?;
    anyhow::ensure!(s == 201, "onboarding failed: {p}");
    let quota = json!({"max_cpu_cores": 100000, "max_memory_gb": 400000, "max_storage_gb": 1000000,
        "max_databases": 100000});
    let (s, t) = post("/api/v1/tenants", json!({"name": "bench", "quota": quota})).await?;
    anyhow::ensure!(s == 201, "creating the tenant failed: {t}");
    let (s, t) = post(
        "/api/v1/tenants/bench/projects",
        json!({"name": "app", "quota": quota}),
    )
    .await?;
    anyhow::ensure!(s == 201, "creating the project failed: {t}");
    let base = "/api/v1/domain/bench/project/app/databases";
    let mut paths = vec![];
    for i in 0..=n {
        let (s, v) = post(
            base,
            json!({"name": format!("m-{i:05}"), "engine": "postgres", "version": "16.10",
                "storage_gb": 10}),
        )
        .await?;
        anyhow::ensure!(s == 202, "create answered {s}: {v}");
        paths.push(format!(
            "{base}/{}/metrics",
            v["id"].as_str().unwrap_or_default()
        ));
    }
    let started = Instant::now();
    loop {
        let r: Value = http
            .get(format!("http://{a}{base}?status=running&page_size=1"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        if r["total"].as_u64() == Some(paths.len() as u64) {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "not all running: {r}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let get = |addr: SocketAddr, path: String| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let t = Instant::now();
            let r = http
                .get(format!("http://{addr}{path}"))
                .bearer_auth(token)
                .send()
                .await?;
            anyhow::ensure!(r.status() == 200, "{path}: {}", r.status());
            let v: Value = r.json().await?;
            anyhow::Ok((
                v["source"].as_str().unwrap_or_default().to_string(),
                t.elapsed(),
            ))
        }
    };
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
    };
    let mut report = vec![];

    // Cold reads on replica a (one exporter read each), then L2 hits on replica b.
    let (last, cold_paths) = paths.split_last().expect("databases");
    let mut cold = vec![];
    let mut l2 = vec![];
    let proxied = sim.request_counts().verb("proxy");
    for p in cold_paths {
        let (source, t) = get(a, p.clone()).await?;
        anyhow::ensure!(source == "live", "{p}: {source}");
        cold.push(t.as_secs_f64() * 1000.0);
        let (source, t) = get(b, p.clone()).await?;
        anyhow::ensure!(source == "cache", "{p} on b: {source}");
        l2.push(t.as_secs_f64() * 1000.0);
    }
    let reads = sim.request_counts().verb("proxy") - proxied;
    report.push(format!(
        "cold (one exporter read through the API server's proxy), {} databases: p50 {:.2} ms, p99 {:.2} ms ({reads} exporter reads)",
        cold.len(),
        pct(&mut cold, 0.5),
        pct(&mut cold, 0.99)
    ));
    report.push(format!(
        "L2 hit (the other replica's reading, from Redis), {} databases: p50 {:.2} ms, p99 {:.2} ms",
        l2.len(),
        pct(&mut l2, 0.5),
        pct(&mut l2, 0.99)
    ));
    for r in &report {
        println!("   {r}");
    }

    // L1 hits: one database, closed loop, then at half the peak rate.
    let one = &cold_paths[0];
    load(a, one, Some(&auth), 32, Duration::from_millis(500), None).await?;
    let run = Duration::from_secs_f64(secs);
    // Each second's tail beside the machine's steal and each process's CPU: a slow second with
    // steal, or with CPU in the idle replica or the cluster, is the machine's, not the route's.
    let watch = Watch {
        warmup: Duration::from_secs(1),
        pids: vec![replicas[0].1.id(), replicas[1].1.id(), std::process::id()],
    };
    let phase =
        |rate: Option<f64>| load_watching(a, one, Some(&auth), 32, run, rate, watch.clone());
    let peak = phase(None).await?;
    let half = phase(Some(peak.rps / 2.0)).await?;
    // The latency curve below half: on a small machine the generator shares the server's cores.
    let quarter = phase(Some(peak.rps / 4.0)).await?;
    report.push(format!(
        "L1 hit: peak {:.0} req/s (p50 {:.2} ms, p99 {:.2} ms) | at {:.0} req/s p99 {:.2} ms | at {:.0} req/s p99 {:.2} ms (errors {})",
        peak.rps,
        peak.p50_ms,
        peak.p99_ms,
        half.rps,
        half.p99_ms,
        quarter.rps,
        quarter.p99_ms,
        peak.errors + half.errors + quarter.errors
    ));
    println!("   {}", report.last().unwrap());
    for (name, r) in [("peak", &peak), ("half", &half), ("quarter", &quarter)] {
        println!("      {name}, second by second:{}", by_second(r));
    }

    // The L1 phase's last hits may have set off a background refresh of its database (an exporter
    // read): once the cluster has served no read for a second, the reads counted are the cold one's.
    let mut proxied = sim.request_counts().verb("proxy");
    let mut quiet_since = Instant::now();
    let settle = Instant::now() + Duration::from_secs(30);
    while quiet_since.elapsed() < Duration::from_secs(1) && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = sim.request_counts().verb("proxy");
        if now != proxied {
            (proxied, quiet_since) = (now, Instant::now());
        }
    }
    // 1,000 concurrent requests for one cold database, spread over both replicas.
    let t0 = Instant::now();
    let answers = futures::future::join_all((0..1000).map(|i| {
        let addr = if i % 2 == 0 { a } else { b };
        get(addr, last.clone())
    }))
    .await;
    let mut lat = vec![];
    for r in answers {
        lat.push(r?.1.as_secs_f64() * 1000.0);
    }
    report.push(format!(
        "1,000 concurrent requests for one cold database over two replicas: {} exporter read(s), p50 {:.1} ms, p99 {:.1} ms, all answered in {:.0} ms",
        sim.request_counts().verb("proxy") - proxied,
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99),
        t0.elapsed().as_secs_f64() * 1000.0
    ));
    println!("   {}", report.last().unwrap());

    println!("\n{}", report.join("\n"));
    for (_, mut c, _) in replicas {
        let _ = c.kill();
        let _ = c.wait();
    }
    sim.shutdown().await;
    Ok(())
}

/// A run's seconds as columns: answers, p99, steal, and the CPU of replica a, replica b and this
/// process (the simulated cluster and the load generator).
fn by_second(r: &LoadResult) -> String {
    let row = |label: &str, cell: &dyn Fn(&Second) -> String| {
        let cells: Vec<String> = r.seconds.iter().map(cell).collect();
        format!("\n        {label:<22}{}", cells.join(" "))
    };
    let cpu = |i: usize| move |s: &Second| format!("{:>7}", s.cpu_ms.get(i).copied().unwrap_or(0));
    [
        row("answers", &|s| format!("{:>7}", s.answers)),
        row("p99 ms", &|s| format!("{:>7.2}", s.p99_ms)),
        row("steal ms", &|s| format!("{:>7}", s.steal_ms)),
        row("CPU ms, replica a", &cpu(0)),
        row("CPU ms, replica b", &cpu(1)),
        row("CPU ms, cluster+load", &cpu(2)),
    ]
    .concat()
}
