//! Benchmark of the simulated API server: objects held and RSS at 10,000 database objects, time
//! to list them, create throughput over HTTP/1.1 keep-alive, and watch event latency with 100
//! concurrent watchers. Run with `cargo run --release -p sim --bin sim-bench [-- --objects N]`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn postgres(name: &str, version: &str) -> Value {
    json!({
        "apiVersion": "kubedb.com/v1", "kind": "Postgres",
        "metadata": {"name": name, "namespace": "bench", "labels": {"app.kubernetes.io/instance": name, "bench": "yes"}},
        "spec": {
            "version": version, "replicas": 3, "storageType": "Durable", "deletionPolicy": "WipeOut",
            "standbyMode": "Hot", "streamingMode": "Synchronous",
            "storage": {"storageClassName": "standard", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
            "podTemplate": {"spec": {"containers": [{"name": "postgres", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}}]}}
        }
    })
}

async fn send(
    client: &HttpClient,
    method: http::Method,
    url: &str,
    token: &str,
    body: Option<Vec<u8>>,
) -> anyhow::Result<(u16, Bytes)> {
    let req = http::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("user-agent", "sim-bench/1")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let resp = client.request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let objects: usize = arg("--objects")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let connections: usize = arg("--connections")
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let watchers: usize = arg("--watchers")
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let crds_dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/kubedb-crds"
    ));
    let use_real = crds_dir.is_dir();
    if use_real {
        println!("using the real upstream CRDs from {}", crds_dir.display());
    } else {
        println!(
            "../shared/kubedb-crds not found: using the CRDs generated from the typed definitions"
        );
    }
    let rss_start = rss_mb();
    let t0 = Instant::now();
    let sim = sim::start(sim::SimConfig {
        run_operator: false,
        crds_dir: use_real.then(|| crds_dir.clone()),
        ..sim::SimConfig::default()
    })
    .await?;
    let startup = t0.elapsed();
    println!(
        "start-up (CRDs + catalog + nodes): {:.0} ms, RSS {:.0} MB (process before start {:.0} MB)",
        startup.as_secs_f64() * 1000.0,
        rss_mb(),
        rss_start
    );
    let version = sim
        .state
        .list("catalog.kubedb.com/v1alpha1", "postgresversions", None)
        .iter()
        .filter(|v| v.pointer("/spec/deprecated").and_then(Value::as_bool) != Some(true))
        .filter_map(|v| {
            v.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .max()
        .unwrap_or_else(|| "16.4".to_string());
    let token = sim.token.clone();
    let base = sim.url.clone();
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(connections)
        .build_http();
    let (code, body) = send(
        &client,
        http::Method::POST,
        &format!("{base}/api/v1/namespaces"),
        &token,
        Some(serde_json::to_vec(&json!({"metadata": {"name": "bench"}}))?),
    )
    .await?;
    anyhow::ensure!(
        code == 201,
        "creating namespace: {code} {}",
        String::from_utf8_lossy(&body)
    );
    let url = format!("{base}/apis/kubedb.com/v1/namespaces/bench/postgreses");
    // One probe create so a rejected object fails loudly.
    let (code, body) = send(
        &client,
        http::Method::POST,
        &url,
        &token,
        Some(serde_json::to_vec(&postgres("probe", &version))?),
    )
    .await?;
    anyhow::ensure!(
        code == 201,
        "probe create failed: {code} {}",
        String::from_utf8_lossy(&body)
    );

    // Create throughput over keep-alive connections.
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, url, token, next, failures, version) = (
            client.clone(),
            url.clone(),
            token.clone(),
            next.clone(),
            failures.clone(),
            version.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= objects - 1 {
                    break;
                }
                let body = serde_json::to_vec(&postgres(&format!("pg-{i:05}"), &version))
                    .unwrap_or_default();
                match send(&client, http::Method::POST, &url, &token, Some(body)).await {
                    Ok((201, _)) => {}
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let create_secs = start.elapsed().as_secs_f64();
    let held = sim.state.count("kubedb.com/v1", "postgreses");
    println!(
        "create: {} Postgres objects in {:.2} s over {connections} keep-alive connections = {:.0} objects/s ({} failed)",
        objects - 1,
        create_secs,
        (objects - 1) as f64 / create_secs,
        failures.load(Ordering::Relaxed)
    );
    println!(
        "held: {held} Postgres objects, process RSS {:.0} MB",
        rss_mb()
    );

    // List all of them: time until the whole body has arrived, and separately the client's parse.
    let mut list_times = Vec::new();
    let mut parse_times = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let (code, body) = send(&client, http::Method::GET, &url, &token, None).await?;
        anyhow::ensure!(code == 200, "list failed: {code}");
        list_times.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let v: Value = serde_json::from_slice(&body).context("list body")?;
        parse_times.push(t.elapsed().as_secs_f64() * 1000.0);
        size = body.len();
        anyhow::ensure!(
            v["items"].as_array().map(Vec::len) == Some(held),
            "list returned a different count"
        );
    }
    list_times.sort_by(|a, b| a.total_cmp(b));
    parse_times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "list of {held}: median {:.0} ms, best {:.0} ms until the full {:.1} MB body is received (client JSON parse afterwards: median {:.0} ms)",
        percentile(&list_times, 0.5),
        list_times[0],
        size as f64 / 1e6,
        percentile(&parse_times, 0.5)
    );

    // Watch latency: N watchers on configmaps; each event carries its send time.
    let watch_url = format!(
        "{base}/api/v1/namespaces/bench/configmaps?watch=1&resourceVersion=0&timeoutSeconds=120"
    );
    let latencies = Arc::new(parking_lot::Mutex::new(Vec::<f64>::new()));
    let epoch = Instant::now();
    let events = 200usize;
    let ready = Arc::new(AtomicUsize::new(0));
    let mut watch_tasks = Vec::new();
    let watch_client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(watchers + 4)
        .build_http();
    for _ in 0..watchers {
        let (client, url, token, latencies, ready) = (
            watch_client.clone(),
            watch_url.clone(),
            token.clone(),
            latencies.clone(),
            ready.clone(),
        );
        watch_tasks.push(tokio::spawn(async move {
            let req = http::Request::get(&url)
                .header("authorization", format!("Bearer {token}"))
                .body(Full::new(Bytes::new()))
                .ok()?;
            let resp = client.request(req).await.ok()?;
            ready.fetch_add(1, Ordering::SeqCst);
            let mut body = resp.into_body();
            let mut buf = Vec::new();
            let mut seen = 0;
            while seen < events {
                let frame = body.frame().await?.ok()?;
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                buf.extend_from_slice(&data);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let now = epoch.elapsed().as_secs_f64() * 1000.0;
                    if let Ok(ev) = serde_json::from_slice::<Value>(&line) {
                        if let Some(sent) = ev
                            .pointer("/object/data/sent")
                            .and_then(Value::as_str)
                            .and_then(|s| s.parse::<f64>().ok())
                        {
                            latencies.lock().push(now - sent);
                            seen += 1;
                        }
                    }
                }
            }
            Some(())
        }));
    }
    while ready.load(Ordering::SeqCst) < watchers {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cm_url = format!("{base}/api/v1/namespaces/bench/configmaps");
    for i in 0..events {
        let sent = epoch.elapsed().as_secs_f64() * 1000.0;
        let body = serde_json::to_vec(
            &json!({"metadata": {"name": format!("tick-{i}")}, "data": {"sent": format!("{sent:.3}")}}),
        )?;
        send(&client, http::Method::POST, &cm_url, &token, Some(body)).await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for t in watch_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    let mut lat = latencies.lock().clone();
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "watch: {watchers} watchers x {events} events = {} deliveries, latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0)
    );
    println!("final process RSS {:.0} MB", rss_mb());
    sim.shutdown().await;
    Ok(())
}
