//! The real `dbaas` binary killed with SIGKILL in the middle of 20 creates comes back and finishes
//! all 20, with exactly one KubeDB resource each, on both stores; two replicas on one PostgreSQL
//! elect one leader, and the other takes over when the leader is killed.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::{count_objects, start_sim};
use common::{ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

struct Server {
    child: Child,
    base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(data_dir: &std::path::Path, port: u16, database_url: Option<&str>) -> Server {
    spawn_with(data_dir, port, database_url, &[])
}

fn spawn_with(
    data_dir: &std::path::Path,
    port: u16,
    database_url: Option<&str>,
    env: &[(&str, &str)],
) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbaas"));
    cmd.envs(env.iter().copied());
    cmd.arg("serve")
        .env("DBAAS_DATA_DIR", data_dir)
        .env("DBAAS_LISTEN", format!("127.0.0.1:{port}"))
        .env("DBAAS_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("DBAAS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("DBAAS_OPERATION_LEASE_SECS", "2")
        .env("DBAAS_RATE_LIMIT_PER_MINUTE", "100000")
        .env("DBAAS_LOG", "warn")
        .env_remove("DBAAS_DATABASE_URL")
        .env_remove("DBAAS_REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(url) = database_url {
        cmd.env("DBAAS_DATABASE_URL", url);
    }
    Server {
        child: cmd.spawn().expect("dbaas starts"),
        base: format!("http://127.0.0.1:{port}"),
    }
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    let start = Instant::now();
    while http
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server not ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

async fn token(http: &reqwest::Client, base: &str) -> String {
    let r: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_string()
}

/// Onboards the simulated cluster as provider `sim` and creates tenant `acme` with project `web`.
async fn onboard_acme_web(http: &reqwest::Client, base: &str, admin: &str, kubeconfig: &str) {
    let post = |path: &str, body: Value| {
        call(
            http,
            reqwest::Method::POST,
            format!("{base}{path}"),
            admin,
            Some(body),
        )
    };
    let (s, p) = post(
        "/api/v1/providers",
        json!({"name": "sim", "region": "eu", "cpu_total_cores": 1000, "memory_total_gb": 4000,
            "storage_total_gb": 100000, "kubeconfig_content": kubeconfig}),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    let quota = json!({"max_cpu_cores": 100, "max_memory_gb": 400, "max_storage_gb": 10000, "max_databases": 50});
    let (s, t) = post("/api/v1/tenants", json!({"name": "acme", "quota": quota})).await;
    assert_eq!(s, 201, "{t}");
    let (s, p) = post(
        "/api/v1/tenants/acme/projects",
        json!({"name": "web", "quota": quota}),
    )
    .await;
    assert_eq!(s, 201, "{p}");
}

async fn killed_mid_creates(database_url: Option<String>) {
    let sim = start_sim(Duration::from_millis(1500)).await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let port = free_port();
    let mut srv = spawn(dir.path(), port, database_url.as_deref());
    wait_ready(&http, &srv.base).await;
    let admin = token(&http, &srv.base).await;
    onboard_acme_web(&http, &srv.base, &admin, &sim.kubeconfig_yaml).await;
    use reqwest::Method;
    let path = "/api/v1/domain/acme/project/web/databases";
    let mut ids = vec![];
    for i in 0..20 {
        let (s, d) = call(
            &http,
            Method::POST,
            format!("{}{path}", srv.base),
            &admin,
            Some(
                json!({"name": format!("crash-{i:02}"), "engine": "postgres", "version": "16.10"}),
            ),
        )
        .await;
        assert_eq!(s, 202, "{d}");
        ids.push(d["id"].as_str().unwrap().to_string());
    }
    // Let the workers get some of them under way, then pull the plug.
    tokio::time::sleep(Duration::from_millis(800)).await;
    srv.child.kill().unwrap();
    srv.child.wait().unwrap();

    let mut srv = spawn(dir.path(), port, database_url.as_deref());
    wait_ready(&http, &srv.base).await;
    let admin = token(&http, &srv.base).await;
    let start = Instant::now();
    for id in &ids {
        loop {
            let (_, d) = call(
                &http,
                Method::GET,
                format!("{}{path}/{id}", srv.base),
                &admin,
                None,
            )
            .await;
            if d["status"] == "running" {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{id} never ran: {d}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(
        count_objects(
            &sim,
            "postgreses",
            &provider::translate::namespace_name("acme", "web"),
        )
        .await,
        20,
        "one KubeDB resource each"
    );
    srv.child.kill().unwrap();
    srv.child.wait().unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_creates_sqlite() {
    killed_mid_creates(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_creates_postgres() {
    killed_mid_creates(Some(store::testing::fresh_postgres_url().await)).await;
}

/// What a replica's `/health` says of the leader: (holder, term, this replica leads).
async fn leader_of(http: &reqwest::Client, base: &str) -> Option<(String, i64, bool)> {
    let h: Value = http
        .get(format!("{base}/health"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let l = &h["leader"];
    Some((
        l["holder"].as_str()?.to_string(),
        l["term"].as_i64()?,
        l["this_replica"].as_bool()?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_among_replicas_and_failover_postgres() {
    let url = store::testing::fresh_postgres_url().await;
    let sim = start_sim(Duration::ZERO).await;
    let http = reqwest::Client::new();
    // Shared secret key (tokens and sealed secrets work on both); a short lease; parked
    // operations are not re-checked on their own, so only a leader's watcher can wake them.
    let env = [
        (
            "DBAAS_SECRET_KEY",
            "replica-test-secret-key-0123456789abcdef",
        ),
        ("DBAAS_LEADER_LEASE_SECS", "3"),
        ("DBAAS_PARK_RECHECK_SECS", "600"),
    ];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut replicas = vec![
        spawn_with(dir_a.path(), free_port(), Some(&url), &env),
        spawn_with(dir_b.path(), free_port(), Some(&url), &env),
    ];
    for r in &replicas {
        wait_ready(&http, &r.base).await;
    }
    // Both see the same leader; exactly one of them is it.
    let start = Instant::now();
    let (leader, term) = loop {
        let a = leader_of(&http, &replicas[0].base).await;
        let b = leader_of(&http, &replicas[1].base).await;
        if let (Some(a), Some(b)) = (a, b) {
            if a.0 == b.0 && a.1 == b.1 && (a.2 ^ b.2) {
                break (usize::from(b.2), a.1);
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no single leader"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let follower = 1 - leader;

    use reqwest::Method;
    // Set up through the leader (a provider added on a follower reaches the leader's watchers
    // at its next relist).
    let base = replicas[leader].base.clone();
    let admin = token(&http, &base).await;
    onboard_acme_web(&http, &base, &admin, &sim.kubeconfig_yaml).await;
    let runs = |name: &'static str, base: String| {
        let (http, admin, path) = (
            http.clone(),
            admin.clone(),
            format!("{base}/api/v1/domain/acme/project/web/databases"),
        );
        async move {
            let (s, d) = call(
                &http,
                Method::POST,
                path.clone(),
                &admin,
                Some(json!({"name": name, "engine": "postgres", "version": "16.10"})),
            )
            .await;
            assert_eq!(s, 202, "{d}");
            let id = d["id"].as_str().unwrap().to_string();
            let start = Instant::now();
            loop {
                let (_, d) = call(&http, Method::GET, format!("{path}/{id}"), &admin, None).await;
                if d["status"] == "running" {
                    return;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "{name} never ran: {d}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    runs("before", base.clone()).await;

    // The leader dies without handing over; the other replica leads once the lease ran out.
    replicas[leader].child.kill().unwrap();
    replicas[leader].child.wait().unwrap();
    let base = replicas[follower].base.clone();
    let killed = Instant::now();
    loop {
        if let Some((_, t, true)) = leader_of(&http, &base).await {
            assert!(t > term, "a new term: {t} after {term}");
            break;
        }
        assert!(killed.elapsed() < Duration::from_secs(60), "no takeover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Status following resumed on the new leader: a create completes without re-checks.
    runs("after", base.clone()).await;
    for r in &mut replicas {
        let _ = r.child.kill();
        let _ = r.child.wait();
    }
    sim.shutdown().await;
}
