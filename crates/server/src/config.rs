//! Configuration: flags and `DBAAS_*` environment variables, with zero-configuration defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "DBAAS_LISTEN", default_value = "0.0.0.0:8000")]
    pub listen: SocketAddr,
    /// Directory for the embedded SQLite store and the generated secret key.
    #[arg(long, env = "DBAAS_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; default: SQLite under the data directory.
    #[arg(long, env = "DBAAS_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// `redis://…` to share rate limits (and later cache, locks) across replicas.
    #[arg(long, env = "DBAAS_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Master secret (≥ 32 characters) from which signing and encryption keys are derived.
    #[arg(long, env = "DBAAS_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// File holding the master secret (used when DBAAS_SECRET_KEY is not set).
    #[arg(long, env = "DBAAS_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// E-mail of the bootstrap platform admin created on first start.
    #[arg(long, env = "DBAAS_ADMIN_EMAIL", default_value = "admin@dbaas.local")]
    pub admin_email: String,
    /// Password of the bootstrap admin; generated and printed once when unset.
    #[arg(long, env = "DBAAS_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Whether anyone may sign up through POST /auth/register.
    #[arg(long, env = "DBAAS_REGISTRATION_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub registration_enabled: bool,
    /// Access-token lifetime in seconds.
    #[arg(long, env = "DBAAS_ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,
    /// Refresh-token lifetime in days.
    #[arg(long, env = "DBAAS_REFRESH_TOKEN_TTL_DAYS", default_value_t = 7)]
    pub refresh_token_ttl_days: u64,
    /// Requests per minute allowed to one caller (user or API key).
    #[arg(long, env = "DBAAS_RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u64,
    /// Login attempts per 15 minutes allowed for one account, and separately for one client IP.
    #[arg(long, env = "DBAAS_LOGIN_ATTEMPTS_PER_ACCOUNT", default_value_t = 10)]
    pub login_attempts_per_account: u64,
    #[arg(long, env = "DBAAS_LOGIN_ATTEMPTS_PER_IP", default_value_t = 50)]
    pub login_attempts_per_ip: u64,
    /// Comma-separated origins allowed by CORS (none by default; `*` allows any, without credentials).
    #[arg(long, env = "DBAAS_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Trust `X-Forwarded-For` for the client IP (only behind a proxy you control).
    #[arg(long, env = "DBAAS_TRUST_PROXY", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_proxy: bool,
    /// With DBAAS_TRUST_PROXY: how many proxies stand in front of the server (the peer is the
    /// first). Default: 1 when DBAAS_TRUSTED_PROXIES is empty, else 0 (only those addresses).
    #[arg(long, env = "DBAAS_TRUSTED_PROXY_HOPS")]
    pub trusted_proxy_hops: Option<usize>,
    /// With DBAAS_TRUST_PROXY: comma-separated proxy addresses or CIDRs (`10.0.0.0/8,192.0.2.7`).
    #[arg(long, env = "DBAAS_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Requests per minute from one client IP to routes that answer without a credential
    /// (sign-up, login, refresh, logout, the OpenAPI document) and failed authentications.
    #[arg(
        long,
        env = "DBAAS_UNAUTHENTICATED_PER_MINUTE_PER_IP",
        default_value_t = 60
    )]
    pub unauthenticated_per_minute_per_ip: u64,
    /// Self-service sign-ups per hour from one client IP.
    #[arg(long, env = "DBAAS_REGISTRATIONS_PER_HOUR_PER_IP", default_value_t = 5)]
    pub registrations_per_hour_per_ip: u64,
    /// Password hashes and verifications run at once (each holds ~19 MiB); 0 = one per CPU core,
    /// at most 4.
    #[arg(long, env = "DBAAS_PASSWORD_HASH_CONCURRENCY", default_value_t = 0)]
    pub password_hash_concurrency: usize,
    /// How long a password check waits for its turn before answering 503.
    #[arg(long, env = "DBAAS_PASSWORD_HASH_WAIT_MS", default_value_t = 2000)]
    pub password_hash_wait_ms: u64,
    /// Quota of a self-registered tenant (its domain and its `default` project); tenants created
    /// by a platform admin get the DBAAS_DEFAULT_PROJECT_* defaults instead.
    #[arg(long, env = "DBAAS_SELF_SERVICE_CPU_CORES", default_value_t = 2.0)]
    pub self_service_cpu_cores: f64,
    #[arg(long, env = "DBAAS_SELF_SERVICE_MEMORY_GB", default_value_t = 4.0)]
    pub self_service_memory_gb: f64,
    #[arg(long, env = "DBAAS_SELF_SERVICE_STORAGE_GB", default_value_t = 20.0)]
    pub self_service_storage_gb: f64,
    #[arg(long, env = "DBAAS_SELF_SERVICE_DATABASES", default_value_t = 2)]
    pub self_service_databases: i64,
    #[arg(long, env = "DBAAS_SELF_SERVICE_BACKUPS", default_value_t = 5)]
    pub self_service_backups: i64,
    /// Audit entries older than this many days are deleted by the retention job.
    #[arg(long, env = "DBAAS_AUDIT_RETENTION_DAYS", default_value_t = 365)]
    pub audit_retention_days: u64,
    /// Default project quota.
    #[arg(long, env = "DBAAS_DEFAULT_PROJECT_CPU_CORES", default_value_t = 10.0)]
    pub default_project_cpu_cores: f64,
    #[arg(long, env = "DBAAS_DEFAULT_PROJECT_MEMORY_GB", default_value_t = 20.0)]
    pub default_project_memory_gb: f64,
    #[arg(
        long,
        env = "DBAAS_DEFAULT_PROJECT_STORAGE_GB",
        default_value_t = 100.0
    )]
    pub default_project_storage_gb: f64,
    #[arg(long, env = "DBAAS_DEFAULT_PROJECT_DATABASES", default_value_t = 10)]
    pub default_project_databases: i64,
    #[arg(long, env = "DBAAS_DEFAULT_PROJECT_BACKUPS", default_value_t = 50)]
    pub default_project_backups: i64,
    /// Operation workers on this replica.
    #[arg(long, env = "DBAAS_WORKERS", default_value_t = 3)]
    pub workers: usize,
    /// A worker's claim on an operation lasts this long unless renewed; a crashed worker's
    /// operation is picked up again after it.
    #[arg(long, env = "DBAAS_OPERATION_LEASE_SECS", default_value_t = 30)]
    pub operation_lease_secs: u64,
    /// An operation that has not finished this long after it first started (parked time
    /// included) ends as `timeout`.
    #[arg(long, env = "DBAAS_OPERATION_TIMEOUT_SECS", default_value_t = 1800)]
    pub operation_timeout_secs: u64,
    /// Per-type deadlines overriding it, e.g. `expand_storage=7200,restart=900` (types as the
    /// operations API names them).
    #[arg(long, env = "DBAAS_OPERATION_TIMEOUTS", default_value = "", value_parser = parse_timeouts)]
    pub operation_timeouts: OperationTimeouts,
    /// A parked operation (waiting on the cluster) is re-checked at least this often even when no
    /// watch event wakes it (a replica without a watcher, a missed event).
    #[arg(long, env = "DBAAS_PARK_RECHECK_SECS", default_value_t = 30)]
    pub park_recheck_secs: u64,
    /// The leader's lease: replicas on one store elect one leader for the cluster-facing loops
    /// (watchers, provider health checks, the maintenance scheduler, audit retention); it renews
    /// every third of this, and another replica takes over this long after the leader stopped.
    #[arg(long, env = "DBAAS_LEADER_LEASE_SECS", default_value_t = 10)]
    pub leader_lease_secs: u64,
    /// How often the maintenance scheduler looks for automatic upgrades due in a window.
    #[arg(long, env = "DBAAS_MAINTENANCE_TICK_SECS", default_value_t = 60)]
    pub maintenance_tick_secs: u64,
    /// How often the drift reconciler compares every database with what the cluster runs (it
    /// also looks at once when a watch shows a change); drift is acted on once it has lasted
    /// half of this.
    #[arg(long, env = "DBAAS_RECONCILE_SECS", default_value_t = 60)]
    pub reconcile_secs: u64,
    /// What the drift reconciler does about drift: `heal` (put it back) or `report` (audit it
    /// and show it in the database's events, change nothing).
    #[arg(long, env = "DBAAS_DRIFT_POLICY", default_value = "heal", value_parser = parse_drift_policy)]
    pub drift_policy: domain::drift::Policy,
    /// Live database metrics: how long a reading is served from this process (L1), from Redis
    /// (L2, shared by the replicas), and as a stale copy when the exporter cannot be read.
    #[arg(long, env = "DBAAS_METRICS_L1_SECS", default_value_t = 5)]
    pub metrics_l1_secs: u64,
    #[arg(long, env = "DBAAS_METRICS_L2_SECS", default_value_t = 15)]
    pub metrics_l2_secs: u64,
    #[arg(long, env = "DBAAS_METRICS_STALE_SECS", default_value_t = 300)]
    pub metrics_stale_secs: u64,
    /// Metrics requests per minute allowed to one user, and to one database (all users).
    #[arg(long, env = "DBAAS_METRICS_PER_USER_PER_MINUTE", default_value_t = 100)]
    pub metrics_per_user_per_minute: u64,
    #[arg(
        long,
        env = "DBAAS_METRICS_PER_DATABASE_PER_MINUTE",
        default_value_t = 1000
    )]
    pub metrics_per_database_per_minute: u64,
    /// Consecutive failed exporter reads that open a circuit breaker (per database and per
    /// provider), and how long it stays open before one trial read is let through.
    #[arg(long, env = "DBAAS_METRICS_BREAKER_FAILURES", default_value_t = 5)]
    pub metrics_breaker_failures: u32,
    #[arg(
        long,
        env = "DBAAS_METRICS_BREAKER_COOLDOWN_SECS",
        default_value_t = 30
    )]
    pub metrics_breaker_cooldown_secs: u64,
    /// How long one exporter read may take.
    #[arg(long, env = "DBAAS_METRICS_FETCH_TIMEOUT_MS", default_value_t = 5000)]
    pub metrics_fetch_timeout_ms: u64,
    /// How a Prometheus finds the databases' exporters: `builtin` (annotated stats Services, for
    /// a Prometheus that discovers Services) or `operator` (KubeDB makes a ServiceMonitor for the
    /// Prometheus Operator).
    #[arg(long, env = "DBAAS_MONITORING_AGENT", default_value = "builtin", value_parser = ["builtin", "operator"])]
    pub monitoring_agent: String,
    /// With the `operator` agent: the ServiceMonitors' labels (`key=value,…`; they must match the
    /// Prometheus' serviceMonitorSelector) and scrape interval.
    #[arg(
        long,
        env = "DBAAS_SERVICE_MONITOR_LABELS",
        value_delimiter = ',',
        default_value = "release=prometheus"
    )]
    pub service_monitor_labels: Vec<String>,
    #[arg(long, env = "DBAAS_SERVICE_MONITOR_INTERVAL", default_value = "30s")]
    pub service_monitor_interval: String,
    /// A Prometheus that scrapes the databases' exporters (see deploy/monitoring): answers
    /// `GET /{id}/metrics/history`. Unset: that route answers 503.
    #[arg(long, env = "DBAAS_PROMETHEUS_URL")]
    pub prometheus_url: Option<String>,
    /// Retries of transient failures before an operation fails.
    #[arg(long, env = "DBAAS_OPERATION_MAX_RETRIES", default_value_t = 3)]
    pub operation_max_retries: i32,
    /// First retry delay (doubles each attempt, with jitter) and its cap.
    #[arg(long, env = "DBAAS_RETRY_BASE_MS", default_value_t = 2000)]
    pub retry_base_ms: u64,
    #[arg(long, env = "DBAAS_RETRY_CAP_SECS", default_value_t = 60)]
    pub retry_cap_secs: u64,
    /// Kubernetes requests per second allowed to one provider (burst: twice as many).
    #[arg(long, env = "DBAAS_PROVIDER_RATE_LIMIT", default_value_t = 50)]
    pub provider_rate_limit: u32,
    /// Memory for encoded database reads kept while the store is unchanged (SQLite only; 0 = off).
    #[arg(long, env = "DBAAS_READ_CACHE_MB", default_value_t = 32)]
    pub read_cache_mb: u64,
    /// Allowed-versions policy (YAML or JSON): per engine `enabled`, `distributions`, `allow`,
    /// `deny`. Absent = every non-deprecated catalog version is offered.
    #[arg(long, env = "DBAAS_VERSIONS_POLICY_FILE")]
    pub versions_policy_file: Option<PathBuf>,
    /// How often every provider's cluster is probed (reachability, KubeDB, catalog).
    #[arg(
        long,
        env = "DBAAS_PROVIDER_HEALTH_INTERVAL_SECS",
        default_value_t = 60
    )]
    pub provider_health_interval_secs: u64,
    /// A provider whose probe takes longer than this is marked unreachable.
    #[arg(long, env = "DBAAS_PROVIDER_HEALTH_TIMEOUT_SECS", default_value_t = 20)]
    pub provider_health_timeout_secs: u64,
    /// Start a simulated KubeDB cluster in-process and onboard it as a provider (demo mode).
    #[arg(long, env = "DBAAS_DEMO", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub demo: bool,
    /// Seconds the demo cluster's simulated KubeDB takes to provision a database.
    #[arg(long, env = "DBAAS_DEMO_PROVISIONING_SECS", default_value_t = 3)]
    pub demo_provisioning_secs: u64,
    /// A client must send a whole request head within this many seconds of connecting (or of
    /// the first byte of its next request); slower connections are closed.
    #[arg(long, env = "DBAAS_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,
    /// A keep-alive connection with no request in flight is closed after this many seconds.
    #[arg(long, env = "DBAAS_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// At most this many HTTP connections are open at once; more wait in the listen backlog.
    #[arg(long, env = "DBAAS_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Log format: `pretty` or `json`.
    #[arg(long, env = "DBAAS_LOG_FORMAT", default_value = "pretty")]
    pub log_format: String,
}

impl Config {
    /// A configuration with every default, rooted at `data_dir` (tests and benchmarks).
    pub fn for_data_dir(data_dir: PathBuf) -> Config {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        let mut c = Wrapper::parse_from(["dbaas"]).config;
        c.data_dir = data_dir;
        c
    }

    /// The HTTP listener's timeouts and connection cap.
    pub fn listener_limits(&self) -> crate::listener::Limits {
        crate::listener::Limits {
            header_timeout: std::time::Duration::from_secs(self.header_read_timeout_secs.max(1)),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_secs.max(1)),
            max_connections: self.max_connections.max(1),
        }
    }

    pub fn store_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("dbaas.db").display()
            ),
        }
    }

    pub fn default_project_quota(&self) -> domain::quota::QuotaLimits {
        domain::quota::QuotaLimits {
            max_cpu_cores: self.default_project_cpu_cores,
            max_memory_gb: self.default_project_memory_gb,
            max_storage_gb: self.default_project_storage_gb,
            max_databases: self.default_project_databases,
            max_backups: self.default_project_backups,
        }
    }

    /// The quota of a self-registered tenant: small, so that an anonymous sign-up cannot claim
    /// much of the platform.
    pub fn self_service_quota(&self) -> domain::quota::QuotaLimits {
        domain::quota::QuotaLimits {
            max_cpu_cores: self.self_service_cpu_cores,
            max_memory_gb: self.self_service_memory_gb,
            max_storage_gb: self.self_service_storage_gb,
            max_databases: self.self_service_databases,
            max_backups: self.self_service_backups,
        }
    }

    /// Concurrent password hashes: the configured number, or one per core (at most 4).
    pub fn password_hash_permits(&self) -> usize {
        match self.password_hash_concurrency {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .clamp(1, 4),
            n => n,
        }
    }

    /// A domain's default quota: room for ten default projects.
    pub fn default_domain_quota(&self) -> domain::quota::QuotaLimits {
        let p = self.default_project_quota();
        domain::quota::QuotaLimits {
            max_cpu_cores: p.max_cpu_cores * 10.0,
            max_memory_gb: p.max_memory_gb * 10.0,
            max_storage_gb: p.max_storage_gb * 10.0,
            max_databases: p.max_databases * 10,
            max_backups: p.max_backups * 10,
        }
    }
}

/// A trusted proxy: a CIDR, or a single address (a /32 or /128).
fn parse_proxy(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{s}` is neither an IP address nor a CIDR"))
}

impl Config {
    /// `spec.monitor` as configured.
    pub fn monitor_agent(&self) -> provider::translate::MonitorAgent {
        match self.monitoring_agent.as_str() {
            "operator" => provider::translate::MonitorAgent::Operator {
                labels: self
                    .service_monitor_labels
                    .iter()
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect(),
                interval: self.service_monitor_interval.clone(),
            },
            _ => provider::translate::MonitorAgent::Builtin,
        }
    }
}

fn parse_drift_policy(s: &str) -> Result<domain::drift::Policy, String> {
    domain::drift::Policy::parse(s).ok_or_else(|| format!("'{s}' is neither heal nor report"))
}

/// Deadlines by operation type, in seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperationTimeouts(pub Vec<(domain::status::OperationType, u64)>);

fn parse_timeouts(s: &str) -> Result<OperationTimeouts, String> {
    let mut out = Vec::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (kind, secs) = pair
            .split_once('=')
            .ok_or_else(|| format!("'{pair}' is not type=seconds"))?;
        let kind = domain::status::OperationType::parse(kind.trim())
            .ok_or_else(|| format!("'{kind}' is not an operation type"))?;
        let secs: u64 = secs
            .trim()
            .parse()
            .map_err(|_| format!("'{secs}' is not a number of seconds"))?;
        out.push((kind, secs.max(1)));
    }
    Ok(OperationTimeouts(out))
}

impl Config {
    /// How long an operation of `kind` may take from its first start.
    pub fn operation_timeout(&self, kind: domain::status::OperationType) -> std::time::Duration {
        let secs = self
            .operation_timeouts
            .0
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, s)| *s)
            .unwrap_or(self.operation_timeout_secs);
        std::time::Duration::from_secs(secs.max(1))
    }
}
