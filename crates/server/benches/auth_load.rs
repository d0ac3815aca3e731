//! Sign-up and login under load: `cargo bench -p server --bench auth_load`.
//!
//! Starts the real `dbaas serve` (release, SQLite) and, from this process, sends 32 concurrent
//! sign-ups and then 200 concurrent logins while sampling the server's resident memory
//! (`/proc/<pid>/status` VmRSS every few ms, and the kernel's high-water mark VmHWM). It reports
//! memory before / peak / after, login latency p50/p99, and the count of each status. Three runs:
//! - `limits`: the defaults, every request from one address: the per-IP limits answer most of it;
//! - `hash-bound`: behind a trusted proxy, every request from its own `X-Forwarded-For` address, so
//!   all of it reaches the password-hash gate (its default size) and the gate alone bounds memory;
//! - `unbounded`: the same with 64 hashes allowed at once, as before the gate, for comparison.
//!
//! Target: resident memory growth under 100 MB and no 5xx other than the gate's 503.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;
use support::*;

const SIGNUPS: usize = 32;
const LOGINS: usize = 200;
const PASSWORD: &str = "bench-user-password-1";

struct Run {
    name: &'static str,
    env: Vec<(&'static str, &'static str)>,
    /// Each request from its own address (through the trusted proxy that the bench plays).
    distinct_ips: bool,
}

struct Phase {
    statuses: BTreeMap<u16, usize>,
    /// Milliseconds, sorted.
    latencies: Vec<f64>,
    ok_latencies: Vec<f64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bin = env!("CARGO_BIN_EXE_dbaas");
    println!(
        "kubedb-dbaas auth load benchmark ({} CPUs): {SIGNUPS} concurrent sign-ups, then {LOGINS} concurrent logins",
        num_cpus()
    );
    let runs = [
        Run {
            name: "limits",
            env: vec![],
            distinct_ips: false,
        },
        Run {
            name: "hash-bound",
            env: vec![("DBAAS_TRUST_PROXY", "true")],
            distinct_ips: true,
        },
        Run {
            name: "unbounded",
            env: vec![
                ("DBAAS_TRUST_PROXY", "true"),
                ("DBAAS_PASSWORD_HASH_CONCURRENCY", "64"),
                ("DBAAS_PASSWORD_HASH_WAIT_MS", "600000"),
            ],
            distinct_ips: true,
        },
    ];
    let mut summary = vec![];
    for run in &runs {
        summary.push(run_one(bin, run).await?);
    }
    println!("\n{}", summary.join("\n"));
    Ok(())
}

async fn run_one(bin: &str, run: &Run) -> anyhow::Result<String> {
    println!("\n== {}", run.name);
    let dir = tempfile::tempdir()?;
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    // spawn_server lifts the per-caller limit of authenticated routes; the limits measured here
    // are the unauthenticated ones, left at their defaults unless the run says otherwise.
    let mut child = spawn_server(bin, "sqlite", dir.path(), addr, &run.env)?;
    let pid = child.id();
    let outcome = async {
        wait_ready(addr).await?;
        // Let the start-up settle (the bootstrap admin's hash, migrations) before the baseline.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = proc_status_mb(pid, "VmRSS");
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = {
            let sampling = sampling.clone();
            tokio::spawn(async move {
                let mut peak = 0f64;
                while sampling.load(Ordering::Relaxed) {
                    peak = peak.max(proc_status_mb(pid, "VmRSS"));
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                peak
            })
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let base = format!("http://{addr}");
        let t = Instant::now();
        let signups = phase(&http, &base, "/api/v1/auth/register", run, |i| {
            json!({"email": format!("user{i}@bench.example"), "password": PASSWORD, "full_name": format!("Bench User {i}")})
        })
        .await;
        let signup_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let logins = phase(&http, &base, "/api/v1/auth/login", run, |i| {
            json!({"email": format!("user{}@bench.example", i % SIGNUPS), "password": PASSWORD})
        })
        .await;
        let login_secs = t.elapsed().as_secs_f64();
        sampling.store(false, Ordering::Relaxed);
        let peak = sampler.await?;
        let hwm = proc_status_mb(pid, "VmHWM");
        // Memory a while after the burst (the allocator returns freed arenas lazily).
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = proc_status_mb(pid, "VmRSS");
        let metrics = metrics_text(&http, &base).await;
        let gate = |name: &str| {
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .unwrap_or("?")
                .trim()
                .to_string()
        };
        println!(
            "   sign-ups: {} in {signup_secs:.2} s   p50 {:.0} ms  p99 {:.0} ms",
            counts(&signups.statuses),
            pct(&signups.latencies, 0.50),
            pct(&signups.latencies, 0.99),
        );
        println!(
            "   logins:   {} in {login_secs:.2} s   all p50 {:.0} ms  p99 {:.0} ms;  200 OK p50 {:.0} ms  p99 {:.0} ms",
            counts(&logins.statuses),
            pct(&logins.latencies, 0.50),
            pct(&logins.latencies, 0.99),
            pct(&logins.ok_latencies, 0.50),
            pct(&logins.ok_latencies, 0.99),
        );
        println!(
            "   memory:   before {before:.1} MB, peak {peak:.1} MB (VmHWM {hwm:.1} MB), after {after:.1} MB; growth {:.1} MB",
            peak - before
        );
        println!(
            "   gate:     permits {}, most at once {}, hashes {}, verifications {}, refused {}",
            gate("dbaas_password_hash_permits"),
            gate("dbaas_password_hashes_in_flight_max"),
            gate("dbaas_password_hashes_total{op=\"hash\"}"),
            gate("dbaas_password_hashes_total{op=\"verify\"}"),
            gate("dbaas_password_hashes_rejected_total"),
        );
        let fives: usize = signups
            .statuses
            .iter()
            .chain(&logins.statuses)
            .filter(|(s, _)| **s >= 500 && **s != 503)
            .map(|(_, n)| n)
            .sum();
        anyhow::Ok(format!(
            "{:<11} growth {:>6.1} MB (peak {:.1}, before {before:.1})  login p50 {:>5.0} ms p99 {:>5.0} ms  sign-ups {}  logins {}  5xx other than 503: {fives}",
            run.name,
            peak - before,
            peak,
            pct(&logins.latencies, 0.50),
            pct(&logins.latencies, 0.99),
            counts(&signups.statuses),
            counts(&logins.statuses),
        ))
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

/// Sends `n` requests at once (all of one phase) and collects their statuses and latencies.
async fn phase(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    run: &Run,
    body: impl Fn(usize) -> serde_json::Value,
) -> Phase {
    let n = if path.ends_with("register") {
        SIGNUPS
    } else {
        LOGINS
    };
    let answers = join_all((0..n).map(|i| {
        let mut req = http.post(format!("{base}{path}")).json(&body(i));
        if run.distinct_ips {
            // As our proxy would append it: one client address per request.
            req = req.header(
                "x-forwarded-for",
                format!("10.77.{}.{}", i / 250, i % 250 + 1),
            );
        }
        async move {
            let t = Instant::now();
            let status = match req.send().await {
                Ok(r) => {
                    let s = r.status().as_u16();
                    let _ = r.bytes().await;
                    s
                }
                // A refused or reset connection counts as its own outcome.
                Err(_) => 0,
            };
            (status, t.elapsed().as_secs_f64() * 1000.0)
        }
    }))
    .await;
    let mut statuses = BTreeMap::new();
    let mut latencies = vec![];
    let mut ok_latencies = vec![];
    for (s, ms) in answers {
        *statuses.entry(s).or_insert(0) += 1;
        latencies.push(ms);
        if (200..300).contains(&s) {
            ok_latencies.push(ms);
        }
    }
    latencies.sort_by(f64::total_cmp);
    ok_latencies.sort_by(f64::total_cmp);
    Phase {
        statuses,
        latencies,
        ok_latencies,
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn counts(statuses: &BTreeMap<u16, usize>) -> String {
    statuses
        .iter()
        .map(|(s, n)| format!("{n}×{s}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `/proc/<pid>/status` field given in kB (VmRSS, VmHWM), in MB.
fn proc_status_mb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

async fn metrics_text(http: &reqwest::Client, base: &str) -> String {
    match http.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}
