//! Helpers for the monitoring test: the Debian `prometheus` package's binaries, a Prometheus child
//! process and its HTTP API, the platform's `/metrics` page (every `dbaas_*` series of the metrics
//! contract, with plausible, moving values), and the dashboards' variables.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub const PROMETHEUS: &str = "/usr/bin/prometheus";
pub const PROMTOOL: &str = "/usr/bin/promtool";

/// The repository's root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .canonicalize()
        .expect("repository root")
}

pub fn monitoring_dir() -> PathBuf {
    repo_root().join("deploy/monitoring")
}

/// The binary at `path`, or a failure that says how to get it: these tests never skip.
pub fn require(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.is_file(),
        "{path} is missing: the monitoring tests run a real Prometheus. `.ci/run` installs Debian's \
         `prometheus` package (which provides /usr/bin/prometheus and /usr/bin/promtool) when it is \
         absent; install it with `apt-get install -y prometheus`"
    );
    p
}

/// Runs promtool; returns whether it succeeded and everything it printed.
pub fn promtool(args: &[&str], cwd: &Path) -> (bool, String) {
    let out = Command::new(require(PROMTOOL))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("running promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A free TCP port on 127.0.0.1 (bound, then released for the child to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A Prometheus server running as a child process; killed when dropped.
pub struct Prometheus {
    child: Child,
    pub base: String,
    pub log: PathBuf,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Prometheus {
    /// Starts `/usr/bin/prometheus` on `config` with its TSDB under `dir`, and waits until it is
    /// ready (or fails with its log). Tries another port when the free one it picked was taken
    /// in the meantime.
    pub async fn start(config: &Path, dir: &Path, deadline: Duration) -> Prometheus {
        let until = Instant::now() + deadline;
        let mut attempt = 0;
        'start: loop {
            attempt += 1;
            let port = free_port();
            let log = dir.join(format!("prometheus-{attempt}.log"));
            let log_file = std::fs::File::create(&log).expect("prometheus log file");
            let child = Command::new(require(PROMETHEUS))
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("tsdb").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--storage.tsdb.retention.time=1h")
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("log file"))
                .stderr(log_file)
                .spawn()
                .expect("starting prometheus");
            let mut prom = Prometheus {
                child,
                base: format!("http://127.0.0.1:{port}"),
                log,
                client: Client::builder(TokioExecutor::new()).build_http(),
            };
            loop {
                if let Ok(Some(status)) = prom.child.try_wait() {
                    let tail = prom.log_tail();
                    if tail.contains("address already in use") && attempt < 5 {
                        continue 'start;
                    }
                    panic!("prometheus exited early ({status}):\n{tail}");
                }
                if let Ok((200, _)) = prom.get("/-/ready").await {
                    return prom;
                }
                assert!(
                    Instant::now() < until,
                    "prometheus was not ready within {deadline:?}:\n{}",
                    prom.log_tail()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// The last lines Prometheus logged, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// GET `path_and_query`: the status and the body.
    pub async fn get(&self, path_and_query: &str) -> Result<(u16, String), String> {
        let uri: http::Uri = format!("{}{path_and_query}", self.base)
            .parse()
            .map_err(|e| format!("bad uri {path_and_query}: {e}"))?;
        let resp = tokio::time::timeout(Duration::from_secs(30), self.client.get(uri))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// GET an API path and parse the JSON envelope. `Err` for transport failures only; a PromQL
    /// error comes back as `Ok` with `status: "error"`.
    pub async fn api(&self, path_and_query: &str) -> Result<Value, String> {
        let (status, body) = self.get(path_and_query).await?;
        serde_json::from_str(&body).map_err(|e| format!("HTTP {status}, not JSON ({e}): {body}"))
    }

    /// An instant query.
    pub async fn query(&self, expr: &str) -> Result<Value, String> {
        self.api(&format!("/api/v1/query?query={}", encode(expr)))
            .await
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query parameter value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Whether a successful query result holds data: a non-empty vector or matrix, or a scalar.
pub fn has_data(result: &Value) -> bool {
    match result["data"]["resultType"].as_str() {
        Some("vector") | Some("matrix") => result["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        Some("scalar") | Some("string") => true,
        _ => false,
    }
}

/// Prometheus's label name for a Kubernetes label or annotation key (invalid characters become `_`).
pub fn sanitize_label(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Dashboards

/// Every panel of a dashboard, rows' nested panels included; rows themselves are left out.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().into_iter().flatten());
        } else {
            out.push(p);
        }
    }
    out
}

/// A panel's query expressions, with their refIds.
pub fn exprs(panel: &Value) -> Vec<(String, String)> {
    panel["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let expr = t["expr"].as_str()?.trim();
            (!expr.is_empty()).then(|| {
                (
                    t["refId"].as_str().unwrap_or("?").to_string(),
                    expr.to_string(),
                )
            })
        })
        .collect()
}

/// Replaces Grafana's variables (`$name`, `${name}`, `[[name]]`) as Grafana would before sending
/// the query; panics when one is left that the test does not know.
pub fn substitute(expr: &str, vars: &[(&str, &str)]) -> String {
    let mut names: Vec<&(&str, &str)> = vars.iter().collect();
    names.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let mut out = expr.to_string();
    for (name, value) in names {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("[[{name}]]"), value)
            .replace(&format!("${name}"), value);
    }
    let left = regex::Regex::new(r"\$(\{|[A-Za-z_])").expect("regex");
    assert!(
        !left.is_match(&out),
        "unknown variable left in {out:?} (from {expr:?})"
    );
    out
}

/// A Grafana `label_values(selector, label)` variable query as `(selector, label)`.
pub fn parse_label_values(query: &str) -> Option<(String, String)> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    let (selector, label) = inner.rsplit_once(',')?;
    Some((selector.trim().to_string(), label.trim().to_string()))
}

// ---------------------------------------------------------------------------------------------
// The platform's /metrics

/// A database as the platform's per-database series name it.
#[derive(Clone)]
pub struct PlatformDatabase {
    pub id: String,
    pub engine: &'static str,
    pub storage_bytes: f64,
    /// Whether its newest backup failed.
    pub backup_failed: bool,
}

/// The `/metrics` page of one `dbaas serve` replica, as the metrics contract describes it: every
/// `dbaas_*` family with its labels; counters grow with the time since `started`, gauges move.
pub struct PlatformPage {
    pub started: Instant,
    pub databases: Vec<PlatformDatabase>,
    pub providers: Vec<String>,
}

/// The `dbaas_*` families the page publishes (all of the contract's).
pub const PLATFORM_FAMILIES: [&str; 23] = [
    "dbaas_http_requests_total",
    "dbaas_http_request_duration_seconds",
    "dbaas_operations_claimed_total",
    "dbaas_operation_outcomes_total",
    "dbaas_operation_attempt_duration_seconds",
    "dbaas_watch_database_updates_total",
    "dbaas_read_cache_lookups_total",
    "dbaas_http_open_connections",
    "dbaas_leader",
    "dbaas_leader_term",
    "dbaas_metrics_requests_total",
    "dbaas_metrics_exporter_fetches_total",
    "dbaas_metrics_exporter_fetch_duration_seconds",
    "dbaas_circuit_breakers_open",
    "dbaas_operations",
    "dbaas_operations_oldest_queued_seconds",
    "dbaas_kubernetes_requests_total",
    "dbaas_kubernetes_request_duration_seconds",
    "dbaas_provider_up",
    "dbaas_database_ready",
    "dbaas_database_backup_last_success_timestamp_seconds",
    "dbaas_database_backup_last_failed",
    "dbaas_database_storage_bytes",
];

#[derive(Default)]
struct Page {
    out: String,
}

impl Page {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            let body: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            let _ = write!(self.out, "{{{}}}", body.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// One histogram series: `count` observations spread exponentially around `typical`.
    fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        buckets: &[f64],
        count: f64,
        typical: f64,
    ) {
        let count = count.floor();
        let with_le = |le: &str| {
            let mut l = labels.to_vec();
            l.push(("le", le));
            l.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        for le in buckets {
            let share = 1.0 - (-le / typical).exp();
            let l = with_le(&le.to_string());
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            self.sample(&format!("{name}_bucket"), &l, (count * share).floor());
        }
        let l = with_le("+Inf");
        let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.sample(&format!("{name}_bucket"), &l, count);
        self.sample(&format!("{name}_sum"), labels, count * typical);
        self.sample(&format!("{name}_count"), labels, count);
    }
}

impl PlatformPage {
    pub fn render(&self) -> String {
        // as if the replica had been up ten minutes when the test started
        let t = self.started.elapsed().as_secs_f64() + 600.0;
        let wave = |period: f64| (t / period * std::f64::consts::TAU).sin();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs_f64();
        let mut p = Page::default();

        let routes: [(&str, &str, &str, f64, f64); 5] = [
            (
                "GET",
                "/api/v1/domain/{domain}/project/{project}/databases/{id}",
                "200",
                40.0,
                0.004,
            ),
            (
                "POST",
                "/api/v1/domain/{domain}/project/{project}/databases",
                "202",
                2.0,
                0.03,
            ),
            (
                "GET",
                "/api/v1/domain/{domain}/project/{project}/databases/{id}/metrics",
                "200",
                25.0,
                0.002,
            ),
            ("GET", "/api/v1/operations/{id}", "200", 10.0, 0.003),
            ("POST", "/api/v1/auth/login", "200", 0.5, 0.08),
        ];
        p.family(
            "dbaas_http_requests_total",
            "counter",
            "HTTP requests by method, route and status",
        );
        for (method, route, ok, rate, _) in routes {
            for (status, share) in [(ok, 0.97), ("404", 0.02), ("503", 0.01)] {
                p.sample(
                    "dbaas_http_requests_total",
                    &[("method", method), ("route", route), ("status", status)],
                    (rate * share * t).floor(),
                );
            }
        }
        p.family(
            "dbaas_http_request_duration_seconds",
            "histogram",
            "HTTP request latency by method and route",
        );
        let http_buckets = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ];
        for (method, route, _, rate, typical) in routes {
            p.histogram(
                "dbaas_http_request_duration_seconds",
                &[("method", method), ("route", route)],
                &http_buckets,
                rate * t,
                typical,
            );
        }
        p.family(
            "dbaas_http_open_connections",
            "gauge",
            "HTTP connections open now",
        );
        p.sample(
            "dbaas_http_open_connections",
            &[],
            (12.0 + 6.0 * wave(90.0)).round(),
        );

        p.family(
            "dbaas_operations_claimed_total",
            "counter",
            "Operations claimed by this replica's workers",
        );
        p.sample("dbaas_operations_claimed_total", &[], (0.5 * t).floor());
        let types: [(&str, f64, f64); 4] = [
            ("create", 0.2, 20.0),
            ("scale", 0.1, 60.0),
            ("backup", 0.15, 30.0),
            ("restore", 0.05, 90.0),
        ];
        p.family(
            "dbaas_operation_outcomes_total",
            "counter",
            "Operation attempts by type and outcome",
        );
        for (kind, rate, _) in types {
            for (outcome, share) in [
                ("completed", 0.9),
                ("retried", 0.06),
                ("failed", 0.03),
                ("timeout", 0.01),
            ] {
                p.sample(
                    "dbaas_operation_outcomes_total",
                    &[("type", kind), ("outcome", outcome)],
                    (rate * share * t).floor(),
                );
            }
        }
        p.family(
            "dbaas_operation_attempt_duration_seconds",
            "histogram",
            "How long one attempt of an operation ran, by type",
        );
        let op_buckets = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0];
        for (kind, rate, typical) in types {
            p.histogram(
                "dbaas_operation_attempt_duration_seconds",
                &[("type", kind)],
                &op_buckets,
                rate * t,
                typical,
            );
        }
        p.family(
            "dbaas_operations",
            "gauge",
            "Operations by state (queued, running)",
        );
        for (state, mid) in [("queued", 3.0), ("running", 2.0)] {
            p.sample(
                "dbaas_operations",
                &[("state", state)],
                (mid + mid * wave(60.0)).round(),
            );
        }
        p.family(
            "dbaas_operations_oldest_queued_seconds",
            "gauge",
            "Age of the oldest operation waiting for a worker",
        );
        p.sample(
            "dbaas_operations_oldest_queued_seconds",
            &[],
            5.0 + t % 40.0,
        );
        p.family(
            "dbaas_watch_database_updates_total",
            "counter",
            "Database records changed by status watchers",
        );
        p.sample("dbaas_watch_database_updates_total", &[], (3.0 * t).floor());
        p.family(
            "dbaas_read_cache_lookups_total",
            "counter",
            "Cached-read lookups by result",
        );
        for (result, rate) in [("hit", 80.0), ("miss", 8.0), ("bypass", 1.0)] {
            p.sample(
                "dbaas_read_cache_lookups_total",
                &[("result", result)],
                (rate * t).floor(),
            );
        }
        p.family("dbaas_leader", "gauge", "1 while this replica leads");
        p.sample("dbaas_leader", &[], 1.0);
        p.family("dbaas_leader_term", "gauge", "The leader lease's term");
        p.sample("dbaas_leader_term", &[], 4.0);

        p.family(
            "dbaas_metrics_requests_total",
            "counter",
            "Database metrics requests by source",
        );
        for (source, rate) in [
            ("l1", 60.0),
            ("l2", 20.0),
            ("live", 8.0),
            ("stale", 1.0),
            ("unavailable", 0.2),
            ("rate_limited", 0.5),
        ] {
            p.sample(
                "dbaas_metrics_requests_total",
                &[("source", source)],
                (rate * t).floor(),
            );
        }
        p.family(
            "dbaas_metrics_exporter_fetches_total",
            "counter",
            "Reads of database exporters by outcome",
        );
        for (outcome, rate) in [("ok", 8.0), ("error", 0.3), ("breaker_open", 0.2)] {
            p.sample(
                "dbaas_metrics_exporter_fetches_total",
                &[("outcome", outcome)],
                (rate * t).floor(),
            );
        }
        p.family(
            "dbaas_metrics_exporter_fetch_duration_seconds",
            "histogram",
            "How long one read of a database exporter took",
        );
        p.histogram(
            "dbaas_metrics_exporter_fetch_duration_seconds",
            &[],
            &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
            8.5 * t,
            0.03,
        );
        p.family(
            "dbaas_circuit_breakers_open",
            "gauge",
            "Circuit breakers open now, by scope",
        );
        p.sample("dbaas_circuit_breakers_open", &[("scope", "provider")], 0.0);
        p.sample(
            "dbaas_circuit_breakers_open",
            &[("scope", "database")],
            if wave(120.0) > 0.5 { 1.0 } else { 0.0 },
        );

        p.family(
            "dbaas_kubernetes_requests_total",
            "counter",
            "Requests to providers' Kubernetes API servers by provider and outcome",
        );
        for (i, provider) in self.providers.iter().enumerate() {
            let rate = 30.0 / (i + 1) as f64;
            for (outcome, share) in [("ok", 0.99), ("error", 0.01)] {
                p.sample(
                    "dbaas_kubernetes_requests_total",
                    &[("provider", provider), ("outcome", outcome)],
                    (rate * share * t).floor(),
                );
            }
        }
        p.family(
            "dbaas_kubernetes_request_duration_seconds",
            "histogram",
            "Time to the answer's head of requests to providers' API servers",
        );
        for (i, provider) in self.providers.iter().enumerate() {
            p.histogram(
                "dbaas_kubernetes_request_duration_seconds",
                &[("provider", provider)],
                &[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
                30.0 / (i + 1) as f64 * t,
                0.02,
            );
        }
        p.family(
            "dbaas_provider_up",
            "gauge",
            "1 while the provider's last health check passed",
        );
        for provider in &self.providers {
            p.sample("dbaas_provider_up", &[("provider", provider)], 1.0);
        }

        p.family(
            "dbaas_database_ready",
            "gauge",
            "1 while the database's KubeDB phase is Ready",
        );
        for db in &self.databases {
            p.sample(
                "dbaas_database_ready",
                &[("database_id", &db.id), ("engine", db.engine)],
                1.0,
            );
        }
        p.family(
            "dbaas_database_backup_last_success_timestamp_seconds",
            "gauge",
            "When the database's newest succeeded backup was taken",
        );
        for (i, db) in self.databases.iter().enumerate() {
            p.sample(
                "dbaas_database_backup_last_success_timestamp_seconds",
                &[("database_id", &db.id)],
                (now - 3600.0 * (i + 1) as f64).floor(),
            );
        }
        p.family(
            "dbaas_database_backup_last_failed",
            "gauge",
            "1 when the database's newest finished backup failed",
        );
        for db in &self.databases {
            p.sample(
                "dbaas_database_backup_last_failed",
                &[("database_id", &db.id)],
                if db.backup_failed { 1.0 } else { 0.0 },
            );
        }
        p.family(
            "dbaas_database_storage_bytes",
            "gauge",
            "Storage provisioned for the database",
        );
        for db in &self.databases {
            p.sample(
                "dbaas_database_storage_bytes",
                &[("database_id", &db.id)],
                db.storage_bytes,
            );
        }
        p.out
    }
}

/// A database as a real cluster shows it: one exporter target per pod (with the `pod` label
/// kubernetes_sd gives it), and cAdvisor, kubelet and kube-state-metrics series that carry
/// `namespace` and `pod` but no `database_id`. Served by [`StandIns`] so the dashboards' and rules'
/// joins from those series to a database are exercised, not only the simulated cluster's shortcut.
pub struct RealWorldDatabase {
    pub started: Instant,
    pub namespace: String,
    pub pods: Vec<String>,
    /// The database container's name (cAdvisor's `container` label).
    pub container: String,
    pub capacity_bytes: f64,
}

impl RealWorldDatabase {
    /// What a kubelet (cAdvisor and volume stats) and kube-state-metrics would publish for the
    /// database's pods, plus a pod of the same name in another namespace that must not be joined.
    pub fn kubelet_page(&self) -> String {
        let t = self.started.elapsed().as_secs_f64() + 600.0;
        let mut p = Page::default();
        let mut pods: Vec<(&str, &str)> = self
            .pods
            .iter()
            .map(|pod| (self.namespace.as_str(), pod.as_str()))
            .collect();
        pods.push(("unrelated", self.pods[0].as_str()));
        p.family(
            "container_cpu_usage_seconds_total",
            "counter",
            "Cumulative cpu time consumed in seconds.",
        );
        for (ns, pod) in &pods {
            // the pod's own cgroup (container="") double counts its containers: queries skip it
            for (container, cores) in [
                (self.container.as_str(), 0.2),
                ("exporter", 0.01),
                ("", 0.21),
            ] {
                p.sample(
                    "container_cpu_usage_seconds_total",
                    &[("container", container), ("namespace", ns), ("pod", pod)],
                    cores * t,
                );
            }
        }
        p.family(
            "container_memory_working_set_bytes",
            "gauge",
            "Current working set in bytes.",
        );
        p.family(
            "container_spec_memory_limit_bytes",
            "gauge",
            "Memory limit for the container.",
        );
        for (ns, pod) in &pods {
            let labels = [
                ("container", self.container.as_str()),
                ("namespace", ns),
                ("pod", pod),
            ];
            p.sample("container_memory_working_set_bytes", &labels, 400_000_000.0);
            p.sample(
                "container_spec_memory_limit_bytes",
                &labels,
                1_073_741_824.0,
            );
        }
        for (family, rate) in [
            ("container_fs_reads_bytes_total", 50_000.0),
            ("container_fs_writes_bytes_total", 150_000.0),
        ] {
            p.family(family, "counter", "Cumulative count of bytes");
            for (ns, pod) in &pods {
                p.sample(
                    family,
                    &[
                        ("container", self.container.as_str()),
                        ("device", "/dev/sda"),
                        ("namespace", ns),
                        ("pod", pod),
                    ],
                    (rate * t).floor(),
                );
            }
        }
        p.family(
            "kubelet_volume_stats_used_bytes",
            "gauge",
            "Number of used bytes in the volume",
        );
        p.family(
            "kubelet_volume_stats_capacity_bytes",
            "gauge",
            "Capacity in bytes of the volume",
        );
        for (i, (ns, pod)) in pods.iter().enumerate() {
            let pvc = format!("data-{pod}");
            let labels = [("namespace", *ns), ("persistentvolumeclaim", pvc.as_str())];
            let used = self.capacity_bytes * (0.3 + 0.05 * i as f64) + (2_000.0 * t).floor();
            p.sample("kubelet_volume_stats_used_bytes", &labels, used.floor());
            p.sample(
                "kubelet_volume_stats_capacity_bytes",
                &labels,
                self.capacity_bytes,
            );
        }
        p.family(
            "kube_pod_status_ready",
            "gauge",
            "Describes whether the pod is ready to serve requests.",
        );
        for (ns, pod) in &pods {
            for (condition, v) in [("true", 1.0), ("false", 0.0), ("unknown", 0.0)] {
                p.sample(
                    "kube_pod_status_ready",
                    &[("condition", condition), ("namespace", ns), ("pod", pod)],
                    v,
                );
            }
        }
        p.out
    }

    /// A PostgreSQL exporter's page (a few families; the rest of the engine is the simulated
    /// cluster's business).
    pub fn exporter_page(&self) -> String {
        let mut p = Page::default();
        p.family(
            "pg_up",
            "gauge",
            "Whether the last scrape was able to connect to the server.",
        );
        p.sample("pg_up", &[], 1.0);
        p.family(
            "pg_stat_database_numbackends",
            "gauge",
            "Number of backends currently connected to this database",
        );
        p.sample("pg_stat_database_numbackends", &[("datname", "app")], 7.0);
        p.out
    }
}

/// Serves, on 127.0.0.1 until dropped: the platform's `/metrics`, and for `real`
/// `/kubelet/metrics` and `/exporter/metrics`.
pub struct StandIns {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl StandIns {
    pub async fn start(page: PlatformPage, real: RealWorldDatabase) -> StandIns {
        use axum::routing::get;
        fn text(body: String) -> ([(http::header::HeaderName, &'static str); 1], String) {
            (
                [(
                    http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                body,
            )
        }
        let page = std::sync::Arc::new(page);
        let real = std::sync::Arc::new(real);
        let real2 = real.clone();
        let app = axum::Router::new()
            .route(
                "/metrics",
                get(move || {
                    let page = page.clone();
                    async move { text(page.render()) }
                }),
            )
            .route(
                "/kubelet/metrics",
                get(move || {
                    let real = real.clone();
                    async move { text(real.kubelet_page()) }
                }),
            )
            .route(
                "/exporter/metrics",
                get(move || {
                    let real = real2.clone();
                    async move { text(real.exporter_page()) }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stand-ins");
        let addr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StandIns { addr, task }
    }
}

impl Drop for StandIns {
    fn drop(&mut self) {
        self.task.abort();
    }
}
