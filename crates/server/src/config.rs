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
    /// A parked operation (waiting on the cluster) is re-checked at least this often even when no
    /// watch event wakes it (a replica without a watcher, a missed event).
    #[arg(long, env = "DBAAS_PARK_RECHECK_SECS", default_value_t = 30)]
    pub park_recheck_secs: u64,
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
