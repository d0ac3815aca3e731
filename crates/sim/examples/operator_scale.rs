//! How the simulated operator keeps up as the number of databases grows:
//! `cargo run --release -p sim --example operator_scale [-- --databases N --batch K]`.
//!
//! Starts the simulated cluster in-process (zero provisioning delay), then creates N Postgres
//! objects (default 10,000) over 10 namespaces, K at a time (default 1,000) with 32 concurrent
//! clients, each with a NetworkPolicy beside it as the platform makes them. After each batch it
//! waits until every database is Ready and prints the batch's time, the process's CPU time, its
//! resident memory and the operator's Kubernetes requests. Finally it idles for `--steady S`
//! seconds (default 30) and reports the operator's steady-state CPU and requests.

use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use serde_json::{json, Value};

const NAMESPACES: usize = 10;
const CONCURRENCY: usize = 32;

fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

/// (user + system CPU seconds, resident MB) of this process.
fn usage() -> (f64, f64) {
    let ticks = 100.0;
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            let u: f64 = f.get(11)?.parse().ok()?;
            let s: f64 = f.get(12)?.parse().ok()?;
            Some((u + s) / ticks)
        })
        .unwrap_or(0.0);
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0);
    (cpu, rss)
}

fn ar(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn postgres(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "kubedb.com/v1", "kind": "Postgres",
        "metadata": {"name": name, "namespace": ns, "labels": {
            "app.kubernetes.io/managed-by": "kubedb-dbaas", "dbaas.example/database": name}},
        "spec": {
            "version": "16.10", "replicas": 1, "storageType": "Durable", "deletionPolicy": "Delete",
            "storage": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
            "podTemplate": {"spec": {"containers": [{"name": "postgres", "resources": {
                "requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}}]}},
            "serviceTemplates": [{"alias": "primary", "spec": {"type": "ClusterIP"}}],
            "monitor": {"agent": "prometheus.io/builtin"}
        }
    })
}

fn network_policy(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": format!("dbaas-{name}"), "namespace": ns},
        "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": name}},
                 "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}]}
    })
}

fn operator_requests(sim: &sim::SimHandle) -> u64 {
    sim.request_counts().client("kubedb-operator")
}

/// The operator's most frequent requests since the counters were reset.
fn top_requests(sim: &sim::SimHandle) -> String {
    let counts = sim.request_counts();
    let mut by: Vec<(String, u64)> = counts
        .by_key
        .iter()
        .filter(|(k, _)| k.client == "kubedb-operator")
        .map(|(k, v)| (format!("{} {}", k.verb, k.resource), *v))
        .collect();
    by.sort_by_key(|e| std::cmp::Reverse(e.1));
    by.iter()
        .take(10)
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = arg("--databases").unwrap_or(10_000);
    let batch = arg("--batch").unwrap_or(1_000).max(1);
    let steady = arg("--steady").unwrap_or(30);
    let sim = sim::start(sim::SimConfig {
        operator: sim::OperatorConfig {
            provisioning_delay: Duration::ZERO,
            step_delay: Duration::ZERO,
        },
        ..Default::default()
    })
    .await?;
    let client = sim.client();
    let namespaces: Vec<String> = (0..NAMESPACES).map(|i| format!("scale-{i}")).collect();
    let ns_api: Api<DynamicObject> =
        Api::all_with(client.clone(), &ar("v1", "Namespace", "namespaces"));
    for ns in &namespaces {
        let obj: DynamicObject = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )?;
        ns_api.create(&PostParams::default(), &obj).await?;
    }
    let pg = ar("kubedb.com/v1", "Postgres", "postgreses");
    let np = ar("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies");
    let store = sim.state.store().clone();
    let ready = || {
        store
            .resource("kubedb.com", "postgreses")
            .map(|r| {
                r.list(None)
                    .0
                    .iter()
                    .filter(|o| o.pointer("/status/phase").and_then(Value::as_str) == Some("Ready"))
                    .count()
            })
            .unwrap_or(0)
    };
    println!("operator scale: {n} Postgres over {NAMESPACES} namespaces, {batch} at a time");
    let started = Instant::now();
    for first in (0..n).step_by(batch) {
        let upto = (first + batch).min(n);
        let t0 = Instant::now();
        let (cpu0, _) = usage();
        sim.reset_request_counts();
        let req0 = operator_requests(&sim);
        let results: Vec<anyhow::Result<()>> = futures::stream::iter(first..upto)
            .map(|i| {
                let client = client.clone();
                let ns = namespaces[i % NAMESPACES].clone();
                let (pg, np) = (pg.clone(), np.clone());
                async move {
                    let name = format!("db-{i:05}");
                    let nps: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &np);
                    nps.create(
                        &PostParams::default(),
                        &serde_json::from_value(network_policy(&ns, &name))?,
                    )
                    .await?;
                    let dbs: Api<DynamicObject> = Api::namespaced_with(client, &ns, &pg);
                    dbs.create(
                        &PostParams::default(),
                        &serde_json::from_value(postgres(&ns, &name))?,
                    )
                    .await?;
                    Ok(())
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for r in results {
            r?;
        }
        let created = t0.elapsed();
        let mut last_print = Instant::now();
        loop {
            let r = ready();
            if r >= upto {
                break;
            }
            if last_print.elapsed() > Duration::from_secs(15) {
                let (cpu, rss) = usage();
                println!(
                    "   … {r}/{upto} Ready after {:.0} s (cpu {:.1} s, rss {rss:.0} MB)",
                    t0.elapsed().as_secs_f64(),
                    cpu - cpu0
                );
                println!("     operator: {}", top_requests(&sim));
                // A few of those not Ready, as stored.
                if let Some(res) = store.resource("kubedb.com", "postgreses") {
                    for o in res
                        .list(None)
                        .0
                        .iter()
                        .filter(|o| {
                            o.pointer("/status/phase").and_then(Value::as_str) != Some("Ready")
                        })
                        .take(3)
                    {
                        if std::env::var_os("SCALE_DUMP").is_some() {
                            println!("{}", serde_json::to_string_pretty(&**o).unwrap_or_default());
                        }
                        println!(
                            "     {}/{} rv {} finalizers {} authSecret {} phase {}",
                            o["metadata"]["namespace"],
                            o["metadata"]["name"],
                            o["metadata"]["resourceVersion"],
                            o["metadata"]["finalizers"],
                            o["spec"]["authSecret"],
                            o["status"]["phase"]
                        );
                    }
                }
                last_print = Instant::now();
            }
            anyhow::ensure!(
                t0.elapsed() < Duration::from_secs(900),
                "only {r}/{upto} Ready after 15 minutes"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let (cpu, rss) = usage();
        println!(
            "{upto:>6} Ready: batch {:.1} s (created in {:.1} s), cpu {:.1} s, rss {rss:.0} MB, operator requests {}",
            t0.elapsed().as_secs_f64(),
            created.as_secs_f64(),
            cpu - cpu0,
            operator_requests(&sim) - req0
        );
        println!("     operator: {}", top_requests(&sim));
    }
    println!(
        "all {n} Ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (cpu0, _) = usage();
    let req0 = operator_requests(&sim);
    tokio::time::sleep(Duration::from_secs(steady as u64)).await;
    let (cpu, rss) = usage();
    let reqs = operator_requests(&sim) - req0;
    println!(
        "steady {steady} s with {n}: cpu {:.2} cores, operator {:.0} requests/min, rss {rss:.0} MB",
        (cpu - cpu0) / steady as f64,
        reqs as f64 * 60.0 / steady as f64
    );
    sim.shutdown().await;
    Ok(())
}
