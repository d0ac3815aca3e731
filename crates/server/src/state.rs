//! Shared application state handed to every handler.

use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use domain::access::Principal;
use domain::audit::{AuditEntry, AuditOutcome};
use domain::ids::{new_id, IdKind};
use domain::model::{ApiKey, User};
use moka::future::Cache;
use store::Store;

use crate::auth::tokens::TokenService;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ratelimit::{LocalLimiter, RateLimiter};

/// A user as the authorization layer sees them, cached briefly between requests.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: User,
    pub principal: Principal,
}

/// Where a request came from, for audit entries.
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub method: String,
    pub path: String,
    /// The client reached us over TLS, as a trusted proxy's `X-Forwarded-Proto` says (the
    /// platform itself serves plain HTTP behind one).
    pub https: bool,
}

/// One audit record about to be written; `Audit::new(...)` then builder calls.
pub struct Audit<'a> {
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Option<String>,
    pub domain: Option<String>,
    pub project: Option<String>,
    pub user: Option<(&'a str, &'a str)>,
    pub outcome: AuditOutcome,
    pub status_code: u16,
    pub details: serde_json::Value,
}

impl<'a> Audit<'a> {
    pub fn new(action: &'a str, resource_type: &'a str) -> Self {
        Audit {
            action,
            resource_type,
            resource_id: None,
            domain: None,
            project: None,
            user: None,
            outcome: AuditOutcome::Success,
            status_code: 200,
            details: serde_json::Value::Null,
        }
    }
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.resource_id = Some(id.into());
        self
    }
    pub fn scope(mut self, domain: Option<&str>, project: Option<&str>) -> Self {
        self.domain = domain.map(str::to_string);
        self.project = project.map(str::to_string);
        self
    }
    pub fn by(mut self, user_id: &'a str, email: &'a str) -> Self {
        self.user = Some((user_id, email));
        self
    }
    pub fn status(mut self, code: u16) -> Self {
        self.status_code = code;
        if code >= 400 {
            self.outcome = AuditOutcome::Failure;
        }
        self
    }
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub tokens: TokenService,
    pub limiter: Arc<dyn RateLimiter>,
    pub local_limiter: Arc<LocalLimiter>,
    pub redis: Option<redis::aio::ConnectionManager>,
    pub metrics: Metrics,
    /// user id → identity; invalidated on every change to the user or their bindings.
    pub identities: Cache<String, Arc<Identity>>,
    /// Moves on every invalidation of `identities` or `api_keys`: what was read before it moved is
    /// not cached, so a suspension or revocation racing a cache fill still takes effect at once.
    pub identity_epoch: std::sync::atomic::AtomicU64,
    /// API key prefix → key row; invalidated on revoke.
    pub api_keys: Cache<String, Arc<ApiKey>>,
    /// Quota views by (domain, project or ""), for one second: reads are served from here while
    /// enforcement always recounts inside the reserving transaction. Local writes invalidate.
    pub quota_views: Cache<(String, String), domain::quota::QuotaView>,
    /// When each key's `last_used_at` was last written, so a busy key writes once a minute, not per call.
    pub key_touches: DashMap<String, Instant>,
    pub started_at: Instant,
    /// Wake-ups and change signals between handlers, workers and watchers.
    pub ops: Arc<crate::signals::Signals>,
    /// Seals secrets the platform must keep for a while (credentials waiting for their operation).
    pub secrets: store::Cipher,
    /// Per-provider Kubernetes clients.
    pub clusters: provider::connect::ClientCache,
    /// The allowed-versions policy, loaded once at start (see `catalog`).
    pub version_policy: domain::versions::VersionPolicy,
    /// Every provider, for a few seconds, for version listings; provider writes invalidate.
    pub provider_list: Cache<(), Arc<Vec<domain::model::Provider>>>,
    /// Encoded database pages and records, while the store is unchanged (see `read_cache`).
    pub reads: crate::read_cache::ReadCache,
    /// The bounded gate every password hash and verification goes through.
    pub passwords: crate::auth::password::Passwords,
    /// Which peers' `X-Forwarded-For` is believed, and how far.
    pub proxies: crate::auth::client_ip::ProxyTrust,
    /// What the leader's watchers last saw of every provider (the drift reconciler reads it).
    pub watch_cache: crate::observed::WatchCache,
    /// Live database metrics and their caches (see `live_metrics`).
    pub live_metrics: crate::live_metrics::LiveMetrics,
    /// The Prometheus metric history is read from, when one is configured.
    pub prometheus: Option<crate::metrics_history::Prometheus>,
    /// `spec.monitor` of new databases, from the configuration.
    pub monitor_agent: provider::translate::MonitorAgent,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    // The one wiring constructor: each argument is a distinct, already-built part of the state.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        tokens: TokenService,
        limiter: Arc<dyn RateLimiter>,
        local_limiter: Arc<LocalLimiter>,
        redis: Option<redis::aio::ConnectionManager>,
        secrets: store::Cipher,
        version_policy: domain::versions::VersionPolicy,
    ) -> Self {
        // Short TTLs bound how stale a cached identity can be on another replica.
        let identities = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(10))
            .build();
        let api_keys = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(10))
            .build();
        let quota_views = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(1))
            .build();
        let provider_list = Cache::builder()
            .max_capacity(1)
            .time_to_live(Duration::from_secs(5))
            .build();
        let config_rate = (config.provider_rate_limit, config.provider_rate_limit * 2);
        let passwords = crate::auth::password::Passwords::new(
            config.password_hash_permits(),
            Duration::from_millis(config.password_hash_wait_ms),
        );
        let proxies = crate::auth::client_ip::ProxyTrust::from_config(&config);
        let metrics = Metrics::new();
        let ops = Arc::new(crate::signals::Signals::new());
        let reads = crate::read_cache::ReadCache::new(
            config.read_cache_mb * 1024 * 1024,
            metrics.read_cache_lookups.clone(),
        );
        let metrics_kubernetes = metrics.kubernetes.clone();
        let live_metrics = crate::live_metrics::LiveMetrics::new(&config, redis.clone())
            .for_replica(&ops.replica_id);
        let prometheus = config
            .prometheus_url
            .as_deref()
            .map(crate::metrics_history::Prometheus::new);
        let monitor_agent = config.monitor_agent();
        AppState(Arc::new(Inner {
            monitor_agent,
            live_metrics,
            prometheus,
            config,
            store,
            tokens,
            limiter,
            local_limiter,
            redis,
            metrics,
            identities,
            identity_epoch: Default::default(),
            api_keys,
            quota_views,
            key_touches: DashMap::new(),
            started_at: Instant::now(),
            clusters: provider::connect::ClientCache::new(
                Duration::from_secs(600),
                config_rate.0,
                config_rate.1,
            )
            .for_replica(&ops.replica_id)
            .observed_by(Arc::new(metrics_kubernetes)),
            ops,
            secrets,
            version_policy,
            provider_list,
            reads,
            passwords,
            proxies,
            watch_cache: Default::default(),
        }))
    }

    /// The parts of the state a workflow may use.
    pub fn workflows(&self) -> crate::context::Ctx<'_> {
        crate::context::Ctx {
            store: &self.store,
            secrets: &self.secrets,
            clusters: &self.clusters,
            signals: &self.ops,
            quota_views: &self.quota_views,
            version_policy: &self.version_policy,
            provider_list: &self.provider_list,
            operation_max_retries: self.config.operation_max_retries,
            monitor: &self.monitor_agent,
        }
    }

    /// Forgets cached quota views of a project and its domain after a change to either.
    pub async fn invalidate_quota(&self, domain: &str, project: Option<&str>) {
        self.workflows()
            .committed(crate::context::Committed {
                quota_of: Some((domain, project)),
                ..Default::default()
            })
            .await;
    }

    pub async fn invalidate_user(&self, user_id: &str) {
        self.identity_epoch
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.identities.invalidate(user_id).await;
    }

    /// Forgets every cached identity: a tenant or project was suspended or reactivated, which
    /// changes what all its members may do.
    pub fn invalidate_identities(&self) {
        self.identity_epoch
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.identities.invalidate_all();
    }

    /// Forgets cached API keys (by prefix) after they were revoked.
    pub async fn evict_api_keys(&self, prefixes: &[String]) {
        self.identity_epoch
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        for p in prefixes {
            self.api_keys.invalidate(p).await;
        }
    }

    /// Writes an audit entry. A failed write is logged, never turned into a failed request.
    pub async fn audit(&self, ctx: &RequestCtx, a: Audit<'_>) {
        let entry = a.entry(ctx);
        if let Err(e) = self.store.insert_audit(&entry).await {
            tracing::error!(error = %e, action = %entry.action, "could not write audit entry");
        }
    }
}

impl Audit<'_> {
    /// The entry to store, for a write that commits it together with the change it records.
    pub fn entry(self, ctx: &RequestCtx) -> AuditEntry {
        AuditEntry {
            id: new_id(IdKind::Audit),
            action: self.action.to_string(),
            resource_type: self.resource_type.to_string(),
            resource_id: self.resource_id,
            domain: self.domain,
            project: self.project,
            user_id: self.user.map(|u| u.0.to_string()),
            user_email: self.user.map(|u| u.1.to_string()),
            ip_address: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            request_method: Some(ctx.method.clone()),
            request_path: Some(ctx.path.clone()),
            status: self.outcome,
            status_code: Some(self.status_code as i32),
            details: self.details,
            timestamp: chrono::Utc::now(),
        }
    }
}
