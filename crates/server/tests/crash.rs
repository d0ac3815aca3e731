//! The real `dbaas` binary killed with SIGKILL in the middle of 20 creates comes back and finishes
//! all 20, with exactly one KubeDB resource each, on both stores. Replicas on one PostgreSQL and
//! one Redis elect one leader, the only one that watches the cluster; when it is killed in the
//! middle of 50 creates and 20 day-2 operations another takes over and every operation completes
//! exactly once; a leader paused past its lease writes nothing when it wakes up.

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
    let quota = json!({"max_cpu_cores": 500, "max_memory_gb": 2000, "max_storage_gb": 10000, "max_databases": 100});
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

/// Replicas of one platform: every `dbaas serve` on the same PostgreSQL and Redis.
struct Fleet {
    servers: Vec<Server>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Fleet {
    fn start(n: usize, url: &str, env: &[(&str, &str)]) -> Fleet {
        let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let servers = dirs
            .iter()
            .map(|d| spawn_with(d.path(), free_port(), Some(url), env))
            .collect();
        Fleet {
            servers,
            _dirs: dirs,
        }
    }

    fn base(&self, i: usize) -> String {
        self.servers[i].base.clone()
    }

    fn signal(&self, i: usize, signal: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.servers[i].child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{signal}");
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
    }
}

/// What a replica's `/health` says: its id and the leader (holder, term, this replica leads).
async fn leader_of(http: &reqwest::Client, base: &str) -> Option<(String, String, i64, bool)> {
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
        h["replica"].as_str()?.to_string(),
        l["holder"].as_str()?.to_string(),
        l["term"].as_i64()?,
        l["this_replica"].as_bool()?,
    ))
}

/// Waits until the replicas `among` agree on one leader in a term after `after`, exactly one of
/// them saying it is that leader; returns its index, its replica id and the term.
async fn agreed_leader(
    http: &reqwest::Client,
    fleet: &Fleet,
    among: &[usize],
    after: i64,
) -> (usize, String, i64) {
    let start = Instant::now();
    loop {
        let mut seen = vec![];
        for &i in among {
            seen.push((i, leader_of(http, &fleet.base(i)).await));
        }
        let views: Vec<_> = seen
            .iter()
            .filter_map(|(i, v)| Some((*i, v.clone()?)))
            .collect();
        if views.len() == among.len() {
            let (holder, term) = (&views[0].1 .1, views[0].1 .2);
            let agree = views.iter().all(|(_, v)| &v.1 == holder && v.2 == term);
            let leaders: Vec<_> = views.iter().filter(|(_, v)| v.3).collect();
            if agree && term > after && leaders.len() == 1 && &leaders[0].1 .0 == holder {
                return (leaders[0].0, holder.clone(), term);
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no single leader among {among:?}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const DBS: &str = "/api/v1/domain/acme/project/web/databases";

/// Creates a PostgreSQL through `base`; its id.
async fn create_pg(http: &reqwest::Client, base: &str, admin: &str, name: &str) -> String {
    let (s, d) = call(
        http,
        reqwest::Method::POST,
        format!("{base}{DBS}"),
        admin,
        Some(json!({"name": name, "engine": "postgres", "version": "16.10"})),
    )
    .await;
    assert_eq!(s, 202, "{d}");
    d["id"].as_str().unwrap().to_string()
}

/// Waits until `url` answers a document whose `field` is `want`.
async fn wait_for(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
    field: &str,
    want: &str,
) -> Value {
    let start = Instant::now();
    loop {
        let (_, d) = call(http, reqwest::Method::GET, url.to_string(), admin, None).await;
        if d[field] == want {
            return d;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "{url}: {field} never became {want}: {d}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many OpsRequests of PostgreSQL databases exist in a namespace, read from the cluster.
async fn count_ops_requests(sim: &sim::SimHandle, namespace: &str) -> usize {
    let meta = provider::kubedb::names::engine("postgres").expect("known engine");
    let ar = kube::api::ApiResource {
        group: "ops.kubedb.com".into(),
        version: "v1alpha1".into(),
        api_version: "ops.kubedb.com/v1alpha1".into(),
        kind: meta.ops_kind.into(),
        plural: meta.ops_plural.into(),
    };
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(sim.client(), namespace, &ar);
    api.list(&Default::default()).await.unwrap().items.len()
}

/// The replicas whose clients opened watches on the cluster.
fn watching_replicas(sim: &sim::SimHandle) -> Vec<String> {
    sim.request_counts()
        .watches_by_agent
        .keys()
        .filter_map(|agent| {
            let id = agent.split("(replica ").nth(1)?;
            Some(id.trim_end_matches(')').to_string())
        })
        .collect()
}

const REPLICA_ENV: [(&str, &str); 3] = [
    (
        "DBAAS_SECRET_KEY",
        "replica-test-secret-key-0123456789abcdef",
    ),
    ("DBAAS_LEADER_LEASE_SECS", "3"),
    // Parked operations are not re-checked on their own: only a leader's watcher wakes them.
    ("DBAAS_PARK_RECHECK_SECS", "600"),
];

fn redis_url() -> String {
    std::env::var("DBAAS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Three replicas: one leader, the only one watching; killed in the middle of 50 creates and 20
/// restarts, another takes over, status following resumes, every operation completes exactly
/// once with exactly one KubeDB object per database and one OpsRequest per restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_survive_the_leaders_sigkill_postgres() {
    let url = store::testing::fresh_postgres_url().await;
    let sim = start_sim(Duration::from_millis(1500)).await;
    let http = reqwest::Client::new();
    let redis = redis_url();
    let mut env = REPLICA_ENV.to_vec();
    env.push(("DBAAS_REDIS_URL", &redis));
    let mut fleet = Fleet::start(3, &url, &env);
    for i in 0..3 {
        wait_ready(&http, &fleet.base(i)).await;
    }
    let (leader, leader_id, term) = agreed_leader(&http, &fleet, &[0, 1, 2], 0).await;
    let admin = token(&http, &fleet.base(leader)).await;
    onboard_acme_web(&http, &fleet.base(leader), &admin, &sim.kubeconfig_yaml).await;

    // 20 databases to restart later, created through every replica.
    let mut running = vec![];
    for i in 0..20 {
        running.push(create_pg(&http, &fleet.base(i % 3), &admin, &format!("day2-{i:02}")).await);
    }
    for id in &running {
        wait_for(
            &http,
            &format!("{}{DBS}/{id}", fleet.base(leader)),
            &admin,
            "status",
            "running",
        )
        .await;
    }
    assert_eq!(
        watching_replicas(&sim),
        vec![leader_id.clone()],
        "only the leader watches the cluster"
    );

    // 50 creates and 20 restarts through the followers, then the leader dies.
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let mut created = vec![];
    for i in 0..50 {
        created.push(
            create_pg(
                &http,
                &fleet.base(followers[i % 2]),
                &admin,
                &format!("load-{i:02}"),
            )
            .await,
        );
    }
    let mut restarts = vec![];
    for (i, id) in running.iter().enumerate() {
        let (s, d) = call(
            &http,
            reqwest::Method::POST,
            format!("{}{DBS}/{id}/restart", fleet.base(followers[i % 2])),
            &admin,
            None,
        )
        .await;
        assert_eq!(s, 202, "{d}");
        restarts.push(d["operations"][0]["id"].as_str().unwrap().to_string());
    }
    fleet.servers[leader].child.kill().unwrap();
    fleet.servers[leader].child.wait().unwrap();
    let killed = Instant::now();
    let (new_leader, new_id, new_term) = agreed_leader(&http, &fleet, &followers, term).await;
    assert!(new_term > term);
    println!(
        "takeover {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );

    let base = fleet.base(new_leader);
    for id in &created {
        wait_for(
            &http,
            &format!("{base}{DBS}/{id}"),
            &admin,
            "status",
            "running",
        )
        .await;
    }
    for op in &restarts {
        let d = wait_for(
            &http,
            &format!("{base}/api/v1/operations/{op}"),
            &admin,
            "status",
            "completed",
        )
        .await;
        assert_eq!(d["progress"], 100, "{d}");
    }
    let ns = provider::translate::namespace_name("acme", "web");
    assert_eq!(
        count_objects(&sim, "postgreses", &ns).await,
        70,
        "one KubeDB object per database"
    );
    assert_eq!(
        count_ops_requests(&sim, &ns).await,
        20,
        "one OpsRequest per restart"
    );
    let mut watching = watching_replicas(&sim);
    watching.sort();
    let mut expected = vec![leader_id, new_id];
    expected.sort();
    assert_eq!(watching, expected, "only leaders watched");
    drop(fleet);
    sim.shutdown().await;
}

/// A leader frozen (SIGSTOP) past its lease, while the cluster changes and another replica
/// leads, writes nothing of what it saw when it wakes up (SIGCONT): its writes carry its term.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_writes_nothing_when_it_wakes_postgres() {
    let url = store::testing::fresh_postgres_url().await;
    let sim = start_sim(Duration::ZERO).await;
    let http = reqwest::Client::new();
    let fleet = Fleet::start(2, &url, &REPLICA_ENV);
    for i in 0..2 {
        wait_ready(&http, &fleet.base(i)).await;
    }
    let (leader, _, term) = agreed_leader(&http, &fleet, &[0, 1], 0).await;
    let other = 1 - leader;
    let admin = token(&http, &fleet.base(leader)).await;
    onboard_acme_web(&http, &fleet.base(leader), &admin, &sim.kubeconfig_yaml).await;
    let id = create_pg(&http, &fleet.base(leader), &admin, "fenced").await;
    let db_url = |i: usize| format!("{}{DBS}/{id}", fleet.base(i));
    wait_for(&http, &db_url(other), &admin, "status", "running").await;

    fleet.signal(leader, "STOP");
    agreed_leader(&http, &fleet, &[other], term).await;
    // The cluster changes while the old leader sleeps: its watches queue what the new leader
    // records – the database failing, then running again.
    let ns = provider::translate::namespace_name("acme", "web");
    let key = format!("{ns}/fenced");
    sim.faults.update(|f| {
        f.force_db_phase.insert(key.clone(), "NotReady".into());
    });
    wait_for(&http, &db_url(other), &admin, "status", "failed").await;
    sim.faults.update(|f| {
        f.force_db_phase.remove(&key);
    });
    wait_for(&http, &db_url(other), &admin, "status", "running").await;
    let timeline = |i: usize| {
        let (http, admin, url) = (http.clone(), admin.clone(), db_url(i));
        async move {
            let (_, t) = call(
                &http,
                reqwest::Method::GET,
                format!("{url}/events?page_size=100"),
                &admin,
                None,
            )
            .await;
            t["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["kind"] == "status")
                .map(|e| e["message"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let before = timeline(other).await;
    assert!(before.iter().any(|m| m.contains("failed")), "{before:?}");

    // It wakes up: it finds out it no longer leads, and whatever its watches delivered meanwhile
    // (unfenced: `running → failed → running` once more) is refused.
    fleet.signal(leader, "CONT");
    let start = Instant::now();
    while leader_of(&http, &fleet.base(leader))
        .await
        .is_none_or(|l| l.3)
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the old leader still leads"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing can prove an absence at one instant: look again over a few renewal periods.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            timeline(other).await,
            before,
            "the old leader wrote after waking up"
        );
    }
    drop(fleet);
    sim.shutdown().await;
}
