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
    // Last: a test's own settings win over the defaults above.
    cmd.envs(env.iter().copied());
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
    let follower = (leader + 1) % 3;
    let admin = token(&http, &fleet.base(follower)).await;
    // Onboarded through a follower: the leader hears of it (PostgreSQL NOTIFY) and starts
    // watching at once, not at its next relist of the providers (every 30 s).
    let onboarded = Instant::now();
    onboard_acme_web(&http, &fleet.base(follower), &admin, &sim.kubeconfig_yaml).await;
    while watching_replicas(&sim).is_empty() {
        assert!(
            onboarded.elapsed() < Duration::from_secs(20),
            "the leader did not hear of the new provider"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

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

/// A TCP forwarder standing between the replicas and PostgreSQL: `cut` drops every connection and
/// refuses new ones (what a replica sees when its database restarts), `restore` lets them through.
struct Cable {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Cable {
    async fn to(upstream: std::net::SocketAddr) -> Cable {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (cut, cuts) = tokio::sync::watch::channel(0u64);
        let flag = up.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let mut cuts = cuts.clone();
                // Only a cut after this connection came in ends it.
                cuts.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Cable {
            port,
            up,
            cut,
            task,
        }
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Cable {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A Redis of the test's own, so stopping it disturbs no other test.
fn start_redis(port: u16) -> Child {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server runs (the CI installs it)");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "redis-server never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// `/health/ready` of a replica: (HTTP status, `status` field).
async fn readiness(http: &reqwest::Client, base: &str) -> (u16, String) {
    match http.get(format!("{base}/health/ready")).send().await {
        Ok(r) => {
            let code = r.status().as_u16();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            (code, v["status"].as_str().unwrap_or("").to_string())
        }
        Err(_) => (0, String::new()),
    }
}

async fn wait_readiness(http: &reqwest::Client, base: &str, want: &str) {
    let start = Instant::now();
    loop {
        let (_, said) = readiness(http, base).await;
        if said == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{base} never said {want}: {said}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two replicas through Redis stopped and started and PostgreSQL cut off and back: they keep
/// serving without Redis (degraded, not unready), answer 503 `unavailable` – never another 5xx –
/// while the store is away, write nothing half, lose nothing they accepted, and recover alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_and_postgres_outages_cost_no_write_postgres() {
    let direct = store::testing::fresh_postgres_url().await;
    let mut url = reqwest::Url::parse(&direct).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let upstream = tokio::net::lookup_host(upstream)
        .await
        .unwrap()
        .next()
        .unwrap();
    let cable = Cable::to(upstream).await;
    url.set_port(Some(cable.port)).unwrap();
    let url = url.to_string();
    let redis_port = free_port();
    let mut redis = start_redis(redis_port);
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let sim = start_sim(Duration::from_millis(300)).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut env = REPLICA_ENV.to_vec();
    env.push(("DBAAS_REDIS_URL", &redis_url));
    let fleet = Fleet::start(2, &url, &env);
    for i in 0..2 {
        wait_ready(&http, &fleet.base(i)).await;
    }
    let (leader, _, _) = agreed_leader(&http, &fleet, &[0, 1], 0).await;
    let admin = token(&http, &fleet.base(leader)).await;
    onboard_acme_web(&http, &fleet.base(leader), &admin, &sim.kubeconfig_yaml).await;
    let mut accepted = vec![create_pg(&http, &fleet.base(0), &admin, "before").await];

    // Redis goes away: both replicas keep serving, say so, and count rate limits in process.
    redis.kill().unwrap();
    redis.wait().unwrap();
    for i in 0..2 {
        wait_readiness(&http, &fleet.base(i), "degraded").await;
        let (code, _) = readiness(&http, &fleet.base(i)).await;
        assert_eq!(code, 200, "a replica without Redis still serves");
        let (s, d) = call(
            &http,
            reqwest::Method::GET,
            format!("{}{DBS}", fleet.base(i)),
            &admin,
            None,
        )
        .await;
        assert_eq!(s, 200, "{d}");
    }
    accepted.push(create_pg(&http, &fleet.base(1), &admin, "no-redis").await);
    let mut redis = start_redis(redis_port);
    for i in 0..2 {
        wait_readiness(&http, &fleet.base(i), "ready").await;
    }

    // PostgreSQL goes away: 503 `unavailable`, nothing else; nothing written.
    cable.cut();
    for i in 0..2 {
        wait_readiness(&http, &fleet.base(i), "not_ready").await;
    }
    for (i, name) in ["cut-a", "cut-b", "cut-c"].into_iter().enumerate() {
        let base = fleet.base(i % 2);
        let (s, d) = call(
            &http,
            reqwest::Method::POST,
            format!("{base}{DBS}"),
            &admin,
            Some(json!({"name": name, "engine": "postgres", "version": "16.10"})),
        )
        .await;
        assert_eq!(s, 503, "a write while the store is away: {d}");
        assert_eq!(d["error"]["code"], "unavailable", "{d}");
        let (s, d) = call(
            &http,
            reqwest::Method::GET,
            format!("{base}{DBS}"),
            &admin,
            None,
        )
        .await;
        assert!(
            s == 503 || s == 200,
            "a read while the store is away: {s} {d}"
        );
    }

    // It comes back: both replicas recover alone, everything accepted completes, nothing of
    // what was refused exists, and new writes go through.
    cable.restore();
    for i in 0..2 {
        wait_readiness(&http, &fleet.base(i), "ready").await;
    }
    accepted.push(create_pg(&http, &fleet.base(0), &admin, "after").await);
    for id in &accepted {
        for i in 0..2 {
            wait_for(
                &http,
                &format!("{}{DBS}/{id}", fleet.base(i)),
                &admin,
                "status",
                "running",
            )
            .await;
        }
    }
    let (s, list) = call(
        &http,
        reqwest::Method::GET,
        format!("{}{DBS}?page_size=100", fleet.base(1)),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 200);
    let mut names: Vec<&str> = list["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["after", "before", "no-redis"], "{list}");
    let ns = provider::translate::namespace_name("acme", "web");
    assert_eq!(count_objects(&sim, "postgreses", &ns).await, 3);
    drop(fleet);
    let _ = redis.kill();
    let _ = redis.wait();
    sim.shutdown().await;
}
