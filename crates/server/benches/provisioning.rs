//! Provisioning benchmark: `cargo bench -p server --bench provisioning [-- --quick]`.
//!
//! Starts the simulated KubeDB cluster in this process (zero provisioning delay) and the real
//! `dbaas serve` binary (SQLite) beside it, onboards the cluster, and reports:
//! - time to create N databases (default 1,000) over 10 projects until all are `running`, and the
//!   create call's p50/p99;
//! - time from a phase change in the cluster (as a watch client of the cluster sees it) until the
//!   API shows it, p50/p99;
//! - Kubernetes requests per minute from the platform in steady state;
//! - `GET /databases/{id}` and a 100-row list with auth, req/s and p50/p99, from the read cache
//!   and again with it off;
//! - the server's resident memory with every database watched.
//!
//! `BENCH_LOG=DIR` keeps the servers' and the simulated cluster's logs in DIR.
//!
//! `BENCH_BATCH=K` creates K databases at a time, waiting after each batch until all run (to reach
//! a large steady state without measuring how a single burst of that size is absorbed).
//!
//! `BENCH_HOLD=1` stops after the creates and keeps the loaded server up (its address, a token and
//! the measured paths are printed) for wrk or perf.
//!
//! `BENCH_STORE=postgres` runs it on a fresh PostgreSQL database (DBAAS_TEST_POSTGRES_URL) with
//! `BENCH_REPLICAS` replicas (default 2; the steady-state count is then every replica's traffic),
//! and adds the leader failover: the time until another replica leads after the leader is killed
//! (SIGKILL: the lease must run out) and after it shuts down (SIGTERM: it hands the lease over).

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::watcher;
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
        .unwrap_or(1000);
    let secs = if quick { 2.0 } else { 5.0 };
    let steady_secs = if quick { 20 } else { 60 };
    println!(
        "kubedb-dbaas provisioning benchmark ({} CPUs, {n} databases over {PROJECTS} projects)",
        num_cpus()
    );

    let sim = sim::start(sim::SimConfig {
        operator: sim::OperatorConfig {
            provisioning_delay: Duration::ZERO,
            step_delay: Duration::ZERO,
        },
        ..Default::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let postgres = std::env::var("BENCH_STORE").is_ok_and(|s| s == "postgres");
    let store_url = if postgres {
        store::testing::fresh_postgres_url().await
    } else {
        "sqlite".to_string()
    };
    let replicas: usize = if postgres {
        std::env::var("BENCH_REPLICAS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2)
    } else {
        1
    };
    println!(
        "store: {}, {replicas} replica(s)",
        if postgres { "PostgreSQL" } else { "SQLite" }
    );
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    let mut child = spawn_server(
        env!("CARGO_BIN_EXE_dbaas"),
        &store_url,
        dir.path(),
        addr,
        &[("DBAAS_PROVIDER_RATE_LIMIT", "1000")],
    )?;
    wait_ready(addr).await?;
    // The other replicas, each with its own data directory, on the same store.
    let mut others = vec![];
    for _ in 1..replicas {
        let d = tempfile::tempdir()?;
        let a: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
        let c = spawn_server(
            env!("CARGO_BIN_EXE_dbaas"),
            &store_url,
            d.path(),
            a,
            &[("DBAAS_PROVIDER_RATE_LIMIT", "1000")],
        )?;
        wait_ready(a).await?;
        others.push((a, c, d));
    }
    let token = login(addr).await?;
    let auth = format!("Bearer {token}");
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let post = |path: String, body: Value| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        async move {
            let t = Instant::now();
            let r = http
                .post(format!("{base}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await?;
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            anyhow::Ok((status, v, t.elapsed()))
        }
    };

    // Onboard the cluster; one tenant with ten projects, room for everything.
    let (s, p, _) = post(
        "/api/v1/providers".into(),
        json!({"name": "sim", "region": "local", "cpu_total_cores": 100000, "memory_total_gb": 400000,
            "storage_total_gb": 10000000, "kubeconfig_content": sim.kubeconfig_yaml}),
    )
    .await?;
    anyhow::ensure!(s == 201, "onboarding failed: {p}");
    let quota = json!({"max_cpu_cores": 100000, "max_memory_gb": 400000, "max_storage_gb": 1000000,
        "max_databases": 100000});
    let (s, t, _) = post(
        "/api/v1/tenants".into(),
        json!({"name": "bench", "quota": quota}),
    )
    .await?;
    anyhow::ensure!(s == 201, "creating the tenant failed: {t}");
    for p in 0..PROJECTS {
        let (s, b, _) = post(
            "/api/v1/tenants/bench/projects".into(),
            json!({"name": format!("p-{p}"), "quota": quota}),
        )
        .await?;
        anyhow::ensure!(s == 201, "creating a project failed: {b}");
    }

    // 1. Create N databases with CONCURRENCY clients, BENCH_BATCH at a time (default: all at
    // once); after each batch, wait until everything created so far runs.
    let batch: usize = std::env::var("BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|b| *b > 0)
        .unwrap_or(n);
    println!("\n== creating {n} databases, {batch} at a time");
    let started = Instant::now();
    let mut accepted_in = Duration::ZERO;
    let mut lat: Vec<f64> = vec![];
    let mut ids = vec![];
    let pct = |v: &[f64], p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    for first in (0..n).step_by(batch) {
        let upto = (first + batch).min(n);
        let batch_started = Instant::now();
        let results: Vec<_> = futures::stream::iter(first..upto)
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
        accepted_in += batch_started.elapsed();
        for r in results {
            let (s, v, t) = r?;
            anyhow::ensure!(s == 202, "create answered {s}: {v}");
            lat.push(t.as_secs_f64() * 1000.0);
            ids.push((
                v["project"].as_str().unwrap_or_default().to_string(),
                v["id"].as_str().unwrap_or_default().to_string(),
                v["name"].as_str().unwrap_or_default().to_string(),
            ));
        }
        let mut next_progress = Duration::from_secs(30);
        loop {
            let mut running = 0;
            for p in 0..PROJECTS {
                let r: Value = http
                    .get(format!(
                        "{base}/api/v1/domain/bench/project/p-{p}/databases?status=running&page_size=1"
                    ))
                    .bearer_auth(&token)
                    .send()
                    .await?
                    .json()
                    .await?;
                running += r["total"].as_u64().unwrap_or(0) as usize;
            }
            if running == upto {
                break;
            }
            let waited = batch_started.elapsed();
            if waited >= next_progress || waited >= Duration::from_secs(600) {
                // Where the rest are: the cluster's view beside the platform's.
                next_progress += Duration::from_secs(30);
                println!(
                    "   {:.0} s: {running}/{upto} running; the cluster's phases: {:?}",
                    started.elapsed().as_secs_f64(),
                    cluster_phases(&sim).await?
                );
            }
            anyhow::ensure!(
                waited < Duration::from_secs(600),
                "only {running}/{upto} running after 10 minutes"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if batch < n {
            println!(
                "   {upto}/{n} running after {:.1} s (this batch: {:.1} s)",
                started.elapsed().as_secs_f64(),
                batch_started.elapsed().as_secs_f64()
            );
        }
    }
    lat.sort_by(f64::total_cmp);
    let all_running = started.elapsed();
    if std::env::var_os("BENCH_HOLD").is_some() {
        // Leaves the loaded server up for an outside profiler or load generator (wrk, perf).
        let (project, id, _) = &ids[n / 2];
        println!(
            "holding: server pid {} on http://{addr}\n  token: {token}\n  one:  /api/v1/domain/bench/project/{project}/databases/{id}\n  list: /api/v1/domain/bench/project/{project}/databases?page_size=100\nCtrl-C to stop",
            child.id()
        );
        tokio::signal::ctrl_c().await?;
        child.kill()?;
        return Ok(());
    }
    let mut report = vec![
        format!(
            "create {n} databases: all accepted in {:.1} s, all running after {:.1} s ({:.0} databases/s)",
            accepted_in.as_secs_f64(),
            all_running.as_secs_f64(),
            n as f64 / all_running.as_secs_f64()
        ),
        format!(
            "create call latency ({CONCURRENCY} concurrent clients): p50 {:.1} ms, p99 {:.1} ms",
            pct(&lat, 0.5),
            pct(&lat, 0.99)
        ),
    ];
    println!("   {}\n   {}", report[0], report[1]);

    // 1b. The create call by itself: one client, one request at a time.
    let mut single = vec![];
    for i in 0..100 {
        let (s, v, t) = post(
            "/api/v1/domain/bench/project/p-0/databases".into(),
            json!({"name": format!("one-{i:03}"), "engine": "postgres", "version": "16.10",
                "storage_gb": 10}),
        )
        .await?;
        anyhow::ensure!(s == 202, "create answered {s}: {v}");
        single.push(t.as_secs_f64() * 1000.0);
    }
    single.sort_by(f64::total_cmp);
    report.push(format!(
        "create call latency (one client, 100 calls while provisioning runs): p50 {:.1} ms, p99 {:.1} ms",
        pct(&single, 0.5),
        pct(&single, 0.99)
    ));
    println!("   {}", report.last().unwrap());

    // 2. Phase change in the cluster → visible through the API.
    let samples = if quick { 30 } else { 100 };
    let mut delays = vec![];
    let ar = postgres_resource();
    for (project, id, name) in ids.iter().take(samples) {
        let ns = provider::translate::namespace_name("bench", project);
        let api: Api<DynamicObject> = Api::namespaced_with(sim.client(), &ns, &ar);
        let mut events = Box::pin(watcher(
            api,
            watcher::Config::default().fields(&format!("metadata.name={name}")),
        ));
        // Skip the initial list.
        while let Some(e) = events.next().await {
            if matches!(e, Ok(watcher::Event::InitDone)) {
                break;
            }
        }
        sim.faults.update(|f| {
            f.force_db_phase
                .insert(format!("{ns}/{name}"), "Critical".into());
        });
        let seen_in_cluster = loop {
            match events.next().await {
                Some(Ok(watcher::Event::Apply(o))) if o.data["status"]["phase"] == "Critical" => {
                    break Instant::now()
                }
                Some(_) => continue,
                None => anyhow::bail!("watch ended"),
            }
        };
        let path = format!("{base}/api/v1/domain/bench/project/{project}/databases/{id}");
        loop {
            let v: Value = http
                .get(&path)
                .bearer_auth(&token)
                .send()
                .await?
                .json()
                .await?;
            if v["health_status"] == "degraded" {
                break;
            }
            anyhow::ensure!(
                seen_in_cluster.elapsed() < Duration::from_secs(30),
                "API never showed the phase: {v}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        delays.push(seen_in_cluster.elapsed().as_secs_f64() * 1000.0);
        sim.faults.update(|f| {
            f.force_db_phase.remove(&format!("{ns}/{name}"));
        });
    }
    delays.sort_by(f64::total_cmp);
    report.push(format!(
        "phase change in the cluster → API ({samples} samples): p50 {:.1} ms, p99 {:.1} ms",
        pct(&delays, 0.5),
        pct(&delays, 0.99)
    ));
    println!("   {}", report.last().unwrap());

    // 3. Steady state: Kubernetes requests from the platform with N databases watched.
    tokio::time::sleep(Duration::from_secs(5)).await;
    sim.reset_request_counts();
    tokio::time::sleep(Duration::from_secs(steady_secs)).await;
    let counts = sim.request_counts();
    let ours = counts.client("kubedb-dbaas");
    let per_min = ours as f64 * 60.0 / steady_secs as f64;
    let detail: Vec<String> = counts
        .by_key
        .iter()
        .filter(|(k, _)| k.client == "kubedb-dbaas")
        .map(|(k, v)| format!("{} {}: {v}", k.verb, k.resource))
        .collect();
    report.push(format!(
        "steady state with {n} databases: {per_min:.1} Kubernetes requests/min from the platform over {steady_secs} s [{}]",
        detail.join(", ")
    ));
    println!("   {}", report.last().unwrap());

    // 4. Reads with auth: served from the read cache (nothing is written meanwhile), then by a
    // restarted server with the cache off, which reads the store for every request (what every
    // request costs right after a database record changes).
    let (project, id, _) = &ids[n / 2];
    let reads = [
        (
            "GET /databases/{id} (auth)",
            format!("/api/v1/domain/bench/project/{project}/databases/{id}"),
        ),
        (
            "GET /databases?page_size=100 (auth)",
            format!("/api/v1/domain/bench/project/{project}/databases?page_size=100"),
        ),
    ];
    for (label, path) in &reads {
        report.push(format!(
            "{label:<38} {}",
            measure_reads(addr, path, &auth, secs).await?
        ));
        println!("   {}", report.last().unwrap());
    }

    // 5. Memory.
    report.push(format!(
        "server RSS with {n} databases watched: {:.1} MB",
        rss_mb(child.id())
    ));
    println!("   {}", report.last().unwrap());

    let _ = child.kill();
    let _ = child.wait();
    let mut child = spawn_server(
        env!("CARGO_BIN_EXE_dbaas"),
        &store_url,
        dir.path(),
        addr,
        &[
            ("DBAAS_PROVIDER_RATE_LIMIT", "1000"),
            ("DBAAS_READ_CACHE_MB", "0"),
        ],
    )?;
    wait_ready(addr).await?;
    for (label, path) in &reads {
        let label = format!("{label}, no read cache");
        report.push(format!(
            "{label:<38} {}",
            measure_reads(addr, path, &auth, secs).await?
        ));
        println!("   {}", report.last().unwrap());
    }
    // 7. Leader failover, with the default lease.
    if others.is_empty() {
        let _ = child.kill();
        let _ = child.wait();
    } else {
        let mut all: Vec<(SocketAddr, std::process::Child)> = vec![(addr, child)];
        let spare = tempfile::tempdir()?;
        for (a, c, _) in others.drain(..) {
            all.push((a, c));
        }
        let killed = failover(&http, &mut all, "KILL").await?;
        // The killed one comes back (as a follower), then the leader shuts down gracefully.
        let a: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
        let c = spawn_server(
            env!("CARGO_BIN_EXE_dbaas"),
            &store_url,
            spare.path(),
            a,
            &[("DBAAS_PROVIDER_RATE_LIMIT", "1000")],
        )?;
        wait_ready(a).await?;
        all.push((a, c));
        let handed = failover(&http, &mut all, "TERM").await?;
        report.push(format!(
            "leader failover (lease 10 s): {killed:.1} s after SIGKILL of the leader, {handed:.1} s after its SIGTERM (handover)"
        ));
        println!("   {}", report.last().unwrap());
        for (_, mut c) in all {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    println!("\n{}", report.join("\n"));
    sim.shutdown().await;
    Ok(())
}

/// Who leads, as `/health` at `addr` says: (leader's replica id, this replica's id).
async fn leader_at(http: &reqwest::Client, addr: SocketAddr) -> Option<(String, String)> {
    let h: Value = http
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some((
        h["leader"]["holder"].as_str()?.to_string(),
        h["replica"].as_str()?.to_string(),
    ))
}

/// Signals the leader among `replicas` (removing it) and measures the seconds until another one
/// says it leads.
async fn failover(
    http: &reqwest::Client,
    replicas: &mut Vec<(SocketAddr, std::process::Child)>,
    signal: &str,
) -> anyhow::Result<f64> {
    let start = Instant::now();
    let leader = loop {
        let mut found = None;
        for (i, (a, _)) in replicas.iter().enumerate() {
            if let Some((holder, me)) = leader_at(http, *a).await {
                if holder == me {
                    found = Some(i);
                }
            }
        }
        if let Some(i) = found {
            break i;
        }
        anyhow::ensure!(start.elapsed() < Duration::from_secs(60), "no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (_, mut old) = replicas.remove(leader);
    std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(old.id().to_string())
        .status()?;
    let gone = Instant::now();
    let took = loop {
        let mut leads = false;
        for (a, _) in replicas.iter() {
            if let Some((holder, me)) = leader_at(http, *a).await {
                leads |= holder == me;
            }
        }
        if leads {
            break gone.elapsed().as_secs_f64();
        }
        anyhow::ensure!(gone.elapsed() < Duration::from_secs(120), "no takeover");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = old.wait();
    Ok(took)
}

/// Peak closed-loop throughput, then p99 at half that rate (open loop).
async fn measure_reads(
    addr: SocketAddr,
    path: &str,
    auth: &str,
    secs: f64,
) -> anyhow::Result<String> {
    let warmup = Duration::from_millis(500);
    load(addr, path, Some(auth), CONCURRENCY, warmup, None).await?;
    let run = Duration::from_secs_f64(secs);
    let peak = load(addr, path, Some(auth), CONCURRENCY, run, None).await?;
    let half = load(
        addr,
        path,
        Some(auth),
        CONCURRENCY,
        run,
        Some(peak.rps / 2.0),
    )
    .await?;
    Ok(format!(
        "peak {:>7.0} req/s p50 {:.2} ms p99 {:.2} ms | at {:.0} req/s p99 {:.2} ms (errors {})",
        peak.rps,
        peak.p50_ms,
        peak.p99_ms,
        half.rps,
        half.p99_ms,
        peak.errors + half.errors
    ))
}

/// How many Postgres objects the simulated cluster holds in each phase.
async fn cluster_phases(
    sim: &sim::SimHandle,
) -> anyhow::Result<std::collections::BTreeMap<String, usize>> {
    let api: Api<DynamicObject> = Api::all_with(sim.client(), &postgres_resource());
    let mut phases = std::collections::BTreeMap::new();
    for o in api.list(&Default::default()).await?.items {
        let phase = o.data["status"]["phase"]
            .as_str()
            .unwrap_or("none")
            .to_string();
        *phases.entry(phase).or_insert(0) += 1;
    }
    Ok(phases)
}

fn postgres_resource() -> ApiResource {
    provider::cluster::database_resource(domain::engine::Engine::Postgres)
}
