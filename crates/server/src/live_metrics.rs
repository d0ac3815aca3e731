//! Live database metrics, read from each database's KubeDB exporter through its cluster's API
//! server, in layers:
//! - L1, in this process (moka), a few seconds: what a hit costs is a map lookup. A hit on an
//!   entry in the last fifth of its life refreshes it in the background, so a database that is
//!   being watched never has its requests wait for a refill (they would queue behind it);
//! - L2, in Redis, shared by the replicas, a little longer; beside it a stale copy kept for
//!   minutes, served (marked `stale`) when the exporter cannot be read;
//! - concurrent misses for one database wait for one read: in this process moka runs one fill per
//!   key, across replicas a short Redis lock lets one replica read while the others watch L2;
//! - a circuit breaker per provider and per database stops reading an exporter that keeps
//!   failing, and lets one trial read through after a cool-down.
//!
//! Without Redis, L2 is skipped and the stale copies stay in this process. A Redis that stops
//! answering is left alone for a while (the reads fall through to the exporter), never waited on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use domain::engine::Engine;
use domain::metrics::{summarize, Known, MetricsDoc, Totals};
use domain::model::Database;
use domain::status::DatabaseStatus;
use moka::future::Cache;
use provider::translate::Owner;
use provider::ProviderError;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::AppState;

/// One reading of a database's exporter, as the layers keep it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reading {
    pub database_id: String,
    /// Whose it is: an L1 hit is served only when the path names this tenant and project.
    pub domain: String,
    pub project: String,
    pub engine: Engine,
    pub collected_at: DateTime<Utc>,
    pub doc: MetricsDoc,
    /// The counters' totals, for the next reading's rates.
    pub totals: Totals,
}

/// Where an answer came from, as the API says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Live,
    Cache,
    Stale,
}

/// How an L1 entry came to be: read now, found in L2, or the stale copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Live,
    L2,
    Stale,
}

#[derive(Debug, Clone)]
struct Entry {
    reading: Arc<Reading>,
    origin: Origin,
    /// When this replica took it into L1: its age decides when a hit refreshes it ahead.
    taken_at: Instant,
    /// The answer to an L1 hit, encoded by the first one: the hits that follow send these bytes.
    hit_answer: Arc<OnceLock<Bytes>>,
}

impl Entry {
    fn new(reading: Reading, origin: Origin) -> Self {
        Entry {
            reading: Arc::new(reading),
            origin,
            taken_at: Instant::now(),
            hit_answer: Arc::default(),
        }
    }
}

/// A breaker's state: consecutive failures, and while open, until when.
#[derive(Debug, Clone, Copy, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    /// Half-open: the one trial read let through is out.
    trial: bool,
}

/// Circuit breakers by key (`provider:<id>`, `database:<id>`).
struct Breakers {
    threshold: u32,
    cooldown: Duration,
    states: DashMap<String, Breaker>,
}

impl Breakers {
    /// Whether a read may go out now; an open breaker past its cool-down lets one trial through.
    fn allow(&self, key: &str) -> bool {
        let Some(mut b) = self.states.get_mut(key) else {
            return true;
        };
        match b.open_until {
            None => true,
            Some(until) if Instant::now() < until => false,
            Some(_) if b.trial => false,
            Some(_) => {
                b.trial = true;
                true
            }
        }
    }

    fn success(&self, key: &str) {
        self.states.remove(key);
    }

    fn failure(&self, key: &str) {
        let mut b = self.states.entry(key.to_string()).or_default();
        b.failures += 1;
        if b.trial || b.failures >= self.threshold {
            b.open_until = Some(Instant::now() + self.cooldown);
            b.trial = false;
        }
    }

    fn open_count(&self, prefix: &str) -> i64 {
        self.states
            .iter()
            .filter(|e| e.key().starts_with(prefix) && e.open_until.is_some())
            .count() as i64
    }
}

/// The statuses in which a database's exporter runs.
pub fn exporting(status: DatabaseStatus) -> bool {
    matches!(
        status,
        DatabaseStatus::Running | DatabaseStatus::Updating | DatabaseStatus::Scaling
    )
}

/// Why no reading could be served.
#[derive(Debug, Clone)]
pub struct Unavailable(pub String);

pub struct LiveMetrics {
    l1: Cache<String, Entry>,
    /// An L1 entry this old is refreshed ahead of its expiry by the next hit.
    refresh_after: Duration,
    /// The databases whose L1 entry is being refreshed ahead (one refresh each at a time), each
    /// with a gate the refresh holds until its reading is in L1: a miss that comes meanwhile
    /// (the entry expired before the refill landed) waits for that reading instead of reading
    /// the exporter a second time.
    refreshing: DashMap<String, Arc<tokio::sync::Mutex<()>>>,
    /// This replica's stale copies: all there is without Redis, the fallback while it is down.
    local_stale: Cache<String, Arc<Reading>>,
    /// The exporter port of a database whose stats Service was checked to be its own.
    ports: Cache<String, u16>,
    breakers: Breakers,
    redis: Option<redis::aio::ConnectionManager>,
    /// Redis is left alone until then (ms since start) after it failed to answer.
    redis_down_until: AtomicU64,
    epoch: Instant,
    l2_ttl: Duration,
    stale_ttl: Duration,
    fetch_timeout: Duration,
    replica: String,
}

/// How long Redis is left alone after it failed, and how long one call to it may take.
const REDIS_RETRY: Duration = Duration::from_secs(2);
const REDIS_CALL: Duration = Duration::from_millis(250);
/// How long a replica that lost the race for the cross-replica lock watches L2 for the winner's
/// reading before reading the exporter itself.
const LOCK_WAIT: Duration = Duration::from_secs(3);

fn l2_key(id: &str) -> String {
    format!("dbaas:metrics:v1:{id}")
}
fn stale_key(id: &str) -> String {
    format!("dbaas:metrics:stale:v1:{id}")
}
fn lock_key(id: &str) -> String {
    format!("dbaas:metrics:lock:v1:{id}")
}

impl LiveMetrics {
    pub fn new(
        config: &crate::config::Config,
        redis: Option<redis::aio::ConnectionManager>,
    ) -> Self {
        let secs = |s: u64| Duration::from_secs(s.max(1));
        let l1_ttl = secs(config.metrics_l1_secs);
        LiveMetrics {
            l1: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(l1_ttl)
                .build(),
            refresh_after: l1_ttl * 4 / 5,
            refreshing: DashMap::new(),
            local_stale: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(secs(config.metrics_stale_secs))
                .build(),
            ports: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
            breakers: Breakers {
                threshold: config.metrics_breaker_failures.max(1),
                cooldown: secs(config.metrics_breaker_cooldown_secs),
                states: DashMap::new(),
            },
            redis,
            redis_down_until: AtomicU64::new(0),
            epoch: Instant::now(),
            l2_ttl: secs(config.metrics_l2_secs),
            stale_ttl: secs(config.metrics_stale_secs),
            fetch_timeout: Duration::from_millis(config.metrics_fetch_timeout_ms.max(100)),
            replica: String::new(),
        }
    }

    pub fn for_replica(mut self, replica: &str) -> Self {
        self.replica = replica.to_string();
        self
    }

    /// An L1 hit for this database within this tenant and project: its answer, which `encode`
    /// makes once per entry. An entry near its expiry is refreshed in the background while this
    /// hit is answered from it.
    pub async fn cached(
        &self,
        state: &AppState,
        id: &str,
        domain: &str,
        project: &str,
        encode: impl FnOnce(&Reading, Source) -> Bytes,
    ) -> Option<Bytes> {
        let e = self.l1.get(id).await?;
        if e.reading.domain != domain || e.reading.project != project {
            return None;
        }
        if e.taken_at.elapsed() >= self.refresh_after {
            self.refresh_ahead(state, id);
        }
        let source = if e.origin == Origin::Stale {
            Source::Stale
        } else {
            Source::Cache
        };
        Some(
            e.hit_answer
                .get_or_init(|| encode(&e.reading, source))
                .clone(),
        )
    }

    /// Refills a database's L1 entry as a miss would (L2, else the exporter under its lock and
    /// breakers, else the stale copy), off the request path. The database is looked up again: one
    /// that is gone, paused or no longer monitored loses its entry, so the next request answers
    /// as a miss does.
    fn refresh_ahead(&self, state: &AppState, id: &str) {
        // Every hit until the refill lands comes here: only the first one allocates and spawns.
        if self.refreshing.contains_key(id) {
            return;
        }
        let dashmap::mapref::entry::Entry::Vacant(slot) = self.refreshing.entry(id.to_string())
        else {
            return;
        };
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        let held = Arc::clone(&gate)
            .try_lock_owned()
            .expect("a new gate is free");
        slot.insert(gate);
        let (state, id) = (state.clone(), id.to_string());
        tokio::spawn(async move {
            let metrics = &state.live_metrics;
            match state.store.get_database(&id).await {
                Ok(Some(db)) if db.monitoring_enabled && exporting(db.status) => {
                    // Unavailable (no reading at all): the entry expires, and a miss says why.
                    if let Ok(entry) = metrics.fill(&state, &db).await {
                        metrics.l1.insert(id.clone(), entry).await;
                    }
                }
                Ok(_) => metrics.l1.invalidate(&id).await,
                // The store did not answer: the entry expires as it would have.
                Err(e) => {
                    tracing::warn!(database = %id, error = %e, "refreshing live metrics ahead failed")
                }
            }
            metrics.refreshing.remove(&id);
            drop(held);
        });
    }

    /// The L1 entry a refresh ahead of `id` leaves, once it has finished; `None` when none was
    /// under way or it left none.
    async fn after_refresh(&self, id: &str) -> Option<Entry> {
        let gate = self.refreshing.get(id).map(|g| Arc::clone(g.value()))?;
        let _finished = gate.lock().await;
        self.l1.get(id).await
    }

    /// A reading of `db`: from L2, the exporter, or the stale copy; one fill per database at a time.
    pub async fn read(
        &self,
        state: &AppState,
        db: &Database,
    ) -> Result<(Arc<Reading>, Source), Unavailable> {
        let entry = self
            .l1
            .entry(db.id.clone())
            .or_try_insert_with(async {
                match self.after_refresh(&db.id).await {
                    Some(e) => Ok(e),
                    None => self.fill(state, db).await,
                }
            })
            .await
            .map_err(|e| (*e).clone())?;
        let fresh = entry.is_fresh();
        let e = entry.into_value();
        let source = match (e.origin, fresh) {
            (Origin::Stale, _) => Source::Stale,
            (Origin::Live, true) => Source::Live,
            _ => Source::Cache,
        };
        if fresh {
            let label = match e.origin {
                Origin::Live => "live",
                Origin::L2 => "l2",
                Origin::Stale => "stale",
            };
            state
                .metrics
                .db_metrics_requests
                .with_label_values(&[label])
                .inc();
        } else {
            state
                .metrics
                .db_metrics_requests
                .with_label_values(&["l1"])
                .inc();
        }
        Ok((e.reading, source))
    }

    async fn fill(&self, state: &AppState, db: &Database) -> Result<Entry, Unavailable> {
        if let Some(r) = self.redis_get(&l2_key(&db.id)).await {
            return Ok(Entry::new(r, Origin::L2));
        }
        let provider_key = format!("provider:{}", db.provider_id.as_deref().unwrap_or("-"));
        let database_key = format!("database:{}", db.id);
        if !self.breakers.allow(&provider_key) || !self.breakers.allow(&database_key) {
            state
                .metrics
                .exporter_fetches
                .with_label_values(&["breaker_open"])
                .inc();
            return self
                .stale_or(
                    db,
                    "the database's exporter failed repeatedly; it is left alone for a while",
                )
                .await;
        }
        // Across replicas: one reads, the others wait for its reading in L2.
        let held = self.redis_lock(&db.id).await;
        if held {
            // The replica that read last may have stored its reading and let go of the lock
            // between this one's look at L2 and its taking the lock.
            if let Some(r) = self.redis_get(&l2_key(&db.id)).await {
                self.redis_unlock(&db.id).await;
                return Ok(Entry::new(r, Origin::L2));
            }
        } else {
            let until = Instant::now() + LOCK_WAIT;
            while Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if let Some(r) = self.redis_get(&l2_key(&db.id)).await {
                    return Ok(Entry::new(r, Origin::L2));
                }
            }
        }
        let previous = self.stale(&db.id).await;
        let started = Instant::now();
        let fetched = tokio::time::timeout(self.fetch_timeout, self.fetch(state, db)).await;
        state
            .metrics
            .exporter_fetch_duration
            .observe(started.elapsed().as_secs_f64());
        let result = match fetched {
            Ok(r) => r,
            Err(_) => Err(ProviderError::Transient(format!(
                "the exporter did not answer within {} ms",
                self.fetch_timeout.as_millis()
            ))),
        };
        let outcome = match result {
            Ok(page) => {
                let known = Known {
                    engine: db.engine,
                    storage_gb: db.storage_gb,
                    ready_replicas: db.ready_replicas,
                };
                let now = Utc::now();
                let r = summarize(known, &page, previous.as_ref().map(|p| &p.totals), now);
                let reading = Reading {
                    database_id: db.id.clone(),
                    domain: db.domain.clone(),
                    project: db.project.clone(),
                    engine: db.engine,
                    collected_at: now,
                    doc: r.doc,
                    totals: r.totals,
                };
                self.breakers.success(&provider_key);
                self.breakers.success(&database_key);
                self.store(&reading).await;
                state
                    .metrics
                    .exporter_fetches
                    .with_label_values(&["ok"])
                    .inc();
                Ok(Entry::new(reading, Origin::Live))
            }
            Err(e) => {
                tracing::warn!(database = %db.id, error = %e, "reading the database's exporter failed");
                // An unreachable cluster counts against the provider; any failure against the database.
                if e.is_transient() {
                    self.breakers.failure(&provider_key);
                }
                self.breakers.failure(&database_key);
                state
                    .metrics
                    .exporter_fetches
                    .with_label_values(&["error"])
                    .inc();
                self.stale_or(
                    db,
                    &format!("the database's exporter could not be read: {e}"),
                )
                .await
            }
        };
        if held {
            // Another replica's lock (taken while this one waited in vain) is left alone.
            self.redis_unlock(&db.id).await;
        }
        self.update_breaker_gauges(&state.metrics);
        outcome
    }

    /// The exporter's page of `db`, through its cluster's service proxy.
    async fn fetch(
        &self,
        state: &AppState,
        db: &Database,
    ) -> Result<Vec<domain::metrics::Sample>, ProviderError> {
        let (Some(pid), Some(ns), Some(name)) =
            (&db.provider_id, &db.namespace, &db.kubedb_resource_name)
        else {
            return Err(ProviderError::NotFound(
                "the database has no place in a cluster yet".into(),
            ));
        };
        let provider = state
            .store
            .get_provider(pid)
            .await
            .map_err(|e| ProviderError::Transient(e.to_string()))?
            .ok_or_else(|| ProviderError::NotFound(format!("provider '{pid}' is gone")))?;
        let cluster = crate::clusters::cluster_for(state, &provider).await?;
        let port = match self.ports.get(&db.id).await {
            Some(p) => p,
            None => {
                let p = cluster
                    .stats_port(db.engine, ns, name, &Owner::of(db))
                    .await?
                    .ok_or_else(|| {
                        ProviderError::NotFound(format!(
                            "{ns}/{} does not exist (yet)",
                            provider::kubedb::names::stats_service(name)
                        ))
                    })?;
                self.ports.insert(db.id.clone(), p).await;
                p
            }
        };
        let page = cluster.scrape_exporter(ns, name, port).await;
        if matches!(page, Err(ProviderError::NotFound(_))) {
            // The Service may have been replaced: check it again next time.
            self.ports.invalidate(&db.id).await;
        }
        provider::exporter::parse(&page?)
    }

    async fn stale_or(&self, db: &Database, why: &str) -> Result<Entry, Unavailable> {
        match self.stale(&db.id).await {
            Some(r) => Ok(Entry::new(r, Origin::Stale)),
            None => Err(Unavailable(why.to_string())),
        }
    }

    async fn stale(&self, id: &str) -> Option<Reading> {
        match self.redis_get(&stale_key(id)).await {
            Some(r) => Some(r),
            None => self.local_stale.get(id).await.map(|r| (*r).clone()),
        }
    }

    /// Keeps a fresh reading in L2 and as the stale copy.
    async fn store(&self, r: &Reading) {
        self.local_stale
            .insert(r.database_id.clone(), Arc::new(r.clone()))
            .await;
        let Ok(json) = serde_json::to_string(r) else {
            return;
        };
        let mut pipe = redis::pipe();
        pipe.set_ex(l2_key(&r.database_id), &json, self.l2_ttl.as_secs())
            .ignore()
            .set_ex(stale_key(&r.database_id), &json, self.stale_ttl.as_secs())
            .ignore();
        let _: Option<()> = self
            .redis_call(|mut c| async move { pipe.query_async(&mut c).await })
            .await;
    }

    async fn redis_get(&self, key: &str) -> Option<Reading> {
        let key = key.to_string();
        let json: Option<String> = self
            .redis_call(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
            .await
            .flatten();
        json.and_then(|j| serde_json::from_str(&j).ok())
    }

    /// Takes the cross-replica lock for reading `id`'s exporter; true when this replica may read
    /// (it holds the lock, or there is no Redis to share it through).
    async fn redis_lock(&self, id: &str) -> bool {
        let key = lock_key(id);
        let me = self.replica.clone();
        let ttl = (self.fetch_timeout + Duration::from_secs(1)).as_millis() as u64;
        let got: Option<Option<String>> = self
            .redis_call(|mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(me)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl)
                    .query_async(&mut c)
                    .await
            })
            .await;
        // No answer (no Redis, or it is down): read.
        !matches!(got, Some(None))
    }

    async fn redis_unlock(&self, id: &str) {
        let key = lock_key(id);
        let _: Option<()> = self
            .redis_call(|mut c| async move { redis::cmd("DEL").arg(key).query_async(&mut c).await })
            .await;
    }

    /// One call to Redis, bounded in time; `None` without Redis or when it fails (then it is left
    /// alone for a while).
    async fn redis_call<T, F, Fut>(&self, call: F) -> Option<T>
    where
        F: FnOnce(redis::aio::ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.redis.clone()?;
        let now = self.epoch.elapsed().as_millis() as u64;
        if now < self.redis_down_until.load(Ordering::Relaxed) {
            return None;
        }
        match tokio::time::timeout(REDIS_CALL, call(conn)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                self.redis_failed(&e.to_string());
                None
            }
            Err(_) => {
                self.redis_failed("no answer in time");
                None
            }
        }
    }

    fn redis_failed(&self, why: &str) {
        let until = self.epoch.elapsed().as_millis() as u64 + REDIS_RETRY.as_millis() as u64;
        if self.redis_down_until.swap(until, Ordering::Relaxed) == 0 {
            tracing::warn!(error = %why, "metrics cache: Redis does not answer; reading around it");
        }
    }

    fn update_breaker_gauges(&self, metrics: &Metrics) {
        for scope in ["provider", "database"] {
            metrics
                .breakers_open
                .with_label_values(&[scope])
                .set(self.breakers.open_count(&format!("{scope}:")));
        }
    }
}

impl From<Unavailable> for ApiError {
    fn from(u: Unavailable) -> Self {
        ApiError::unavailable(u.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_breaker_opens_after_the_threshold_and_lets_one_trial_through() {
        let b = Breakers {
            threshold: 3,
            cooldown: Duration::from_millis(50),
            states: DashMap::new(),
        };
        for _ in 0..2 {
            b.failure("database:x");
            assert!(b.allow("database:x"));
        }
        b.failure("database:x");
        assert!(!b.allow("database:x"), "open after 3 failures");
        assert_eq!(b.open_count("database:"), 1);
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow("database:x"), "half-open: one trial");
        assert!(!b.allow("database:x"), "only one");
        b.failure("database:x");
        assert!(!b.allow("database:x"), "a failed trial opens it again");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow("database:x"));
        b.success("database:x");
        assert!(b.allow("database:x") && b.allow("database:x"), "closed");
        assert_eq!(b.open_count("database:"), 0);
    }
}
