//! Prometheus metrics for the platform itself.

use axum::http::Method;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub audit_purged: IntGauge,
    pub operations_claimed: prometheus::IntCounter,
    pub operation_outcomes: IntCounterVec,
    pub operation_duration: HistogramVec,
    pub watch_updates: prometheus::IntCounter,
    pub read_cache_lookups: IntCounterVec,
    pub http_open_connections: IntGauge,
    pub http_connections_closed: IntCounterVec,
    /// 1 while this replica leads (runs the cluster-facing loops), else 0.
    pub leader: IntGauge,
    /// The leader lease's term as this replica last saw it.
    pub leader_term: IntGauge,
    /// Database metrics requests by where the answer came from.
    pub db_metrics_requests: IntCounterVec,
    pub exporter_fetches: IntCounterVec,
    pub exporter_fetch_duration: prometheus::Histogram,
    pub breakers_open: prometheus::IntGaugeVec,
    pub kubernetes: KubernetesRequests,
    /// 1 while a provider's health check passes (set by the leader's checks).
    pub provider_up: prometheus::IntGaugeVec,
    /// Operations by state (queued, running, parked), and the age of the oldest queued one.
    pub operations: prometheus::IntGaugeVec,
    pub oldest_queued: prometheus::Gauge,
    /// Per database, as the leader's watchers see them (series go with the database).
    pub database_ready: prometheus::IntGaugeVec,
    pub database_storage: prometheus::GaugeVec,
    pub backup_last_success: prometheus::GaugeVec,
    pub backup_last_failed: prometheus::IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("dbaas".into()), None).expect("static prefix is valid");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("static metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method and route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["method", "route"],
        )
        .expect("static metric");
        let audit_purged = IntGauge::new(
            "audit_entries_purged_last_run",
            "Audit entries removed by the last retention run",
        )
        .expect("static metric");
        let operations_claimed = prometheus::IntCounter::new(
            "operations_claimed_total",
            "Operations claimed by this replica's workers",
        )
        .expect("static metric");
        let operation_outcomes = IntCounterVec::new(
            Opts::new(
                "operation_outcomes_total",
                "Operation attempts by type and outcome (completed, retried, failed, timeout)",
            ),
            &["type", "outcome"],
        )
        .expect("static metric");
        let operation_duration = HistogramVec::new(
            HistogramOpts::new(
                "operation_attempt_duration_seconds",
                "How long one attempt of an operation ran, by type",
            )
            .buckets(vec![
                0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0,
            ]),
            &["type"],
        )
        .expect("static metric");
        let watch_updates = prometheus::IntCounter::new(
            "watch_database_updates_total",
            "Database records changed by status watchers",
        )
        .expect("static metric");
        let read_cache_lookups = IntCounterVec::new(
            Opts::new(
                "read_cache_lookups_total",
                "Cached-read lookups by result (hit, miss, bypass when the store has other writers)",
            ),
            &["result"],
        )
        .expect("static metric");
        let http_open_connections = IntGauge::new(
            "http_open_connections",
            "HTTP connections open now (capped by DBAAS_MAX_CONNECTIONS)",
        )
        .expect("static metric");
        let http_connections_closed = IntCounterVec::new(
            Opts::new(
                "http_connections_closed_total",
                "HTTP connections the server closed, by reason (header_timeout, idle_timeout)",
            ),
            &["reason"],
        )
        .expect("static metric");
        let leader = IntGauge::new(
            "leader",
            "1 while this replica leads (watchers, provider health checks, scheduler), else 0",
        )
        .expect("static metric");
        let leader_term = IntGauge::new(
            "leader_term",
            "The leader lease's term (fencing token) as this replica last saw it",
        )
        .expect("static metric");
        let db_metrics_requests = IntCounterVec::new(
            Opts::new(
                "metrics_requests_total",
                "Database metrics requests by source (l1, l2, live, stale, unavailable, rate_limited)",
            ),
            &["source"],
        )
        .expect("static metric");
        let exporter_fetches = IntCounterVec::new(
            Opts::new(
                "metrics_exporter_fetches_total",
                "Reads of database exporters by outcome (ok, error, breaker_open)",
            ),
            &["outcome"],
        )
        .expect("static metric");
        let exporter_fetch_duration = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "metrics_exporter_fetch_duration_seconds",
                "How long one read of a database exporter took",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        )
        .expect("static metric");
        let breakers_open = prometheus::IntGaugeVec::new(
            Opts::new(
                "circuit_breakers_open",
                "Circuit breakers open now in front of exporters, by scope (provider, database)",
            ),
            &["scope"],
        )
        .expect("static metric");
        let kubernetes = KubernetesRequests {
            requests: IntCounterVec::new(
                Opts::new(
                    "kubernetes_requests_total",
                    "Requests to providers' Kubernetes API servers by provider and outcome (ok, error: 5xx, 429 or no answer)",
                ),
                &["provider", "outcome"],
            )
            .expect("static metric"),
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "kubernetes_request_duration_seconds",
                    "Time to the answer's head of requests to providers' API servers (watches: until the stream opens)",
                )
                .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
                &["provider"],
            )
            .expect("static metric"),
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            prometheus::IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric")
        };
        let float_vec = |name: &str, help: &str, labels: &[&str]| {
            prometheus::GaugeVec::new(Opts::new(name, help), labels).expect("static metric")
        };
        let provider_up = gauge_vec(
            "provider_up",
            "1 while the provider's last health check passed, else 0",
            &["provider"],
        );
        let operations = gauge_vec(
            "operations",
            "Operations by state (queued, running, parked)",
            &["state"],
        );
        let oldest_queued = prometheus::Gauge::new(
            "operations_oldest_queued_seconds",
            "Age of the oldest operation waiting for a worker (0 when none waits)",
        )
        .expect("static metric");
        let database_ready = gauge_vec(
            "database_ready",
            "1 while the database's KubeDB phase is Ready, else 0",
            &["database_id", "engine"],
        );
        let database_storage = float_vec(
            "database_storage_bytes",
            "Storage provisioned for the database",
            &["database_id"],
        );
        let backup_last_success = float_vec(
            "database_backup_last_success_timestamp_seconds",
            "When the database's newest succeeded backup was taken",
            &["database_id"],
        );
        let backup_last_failed = gauge_vec(
            "database_backup_last_failed",
            "1 when the database's newest finished backup failed",
            &["database_id"],
        );
        for c in [
            Box::new(kubernetes.requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(kubernetes.duration.clone()),
            Box::new(provider_up.clone()),
            Box::new(operations.clone()),
            Box::new(oldest_queued.clone()),
            Box::new(database_ready.clone()),
            Box::new(database_storage.clone()),
            Box::new(backup_last_success.clone()),
            Box::new(backup_last_failed.clone()),
            Box::new(db_metrics_requests.clone()),
            Box::new(exporter_fetches.clone()),
            Box::new(exporter_fetch_duration.clone()),
            Box::new(breakers_open.clone()),
            Box::new(http_requests.clone()),
            Box::new(leader.clone()),
            Box::new(leader_term.clone()),
            Box::new(http_duration.clone()),
            Box::new(audit_purged.clone()),
            Box::new(operations_claimed.clone()),
            Box::new(operation_outcomes.clone()),
            Box::new(operation_duration.clone()),
            Box::new(watch_updates.clone()),
            Box::new(read_cache_lookups.clone()),
            Box::new(http_open_connections.clone()),
            Box::new(http_connections_closed.clone()),
        ] {
            registry.register(c).expect("metrics are registered once");
        }
        Metrics {
            registry,
            http_requests,
            http_duration,
            audit_purged,
            operations_claimed,
            operation_outcomes,
            operation_duration,
            watch_updates,
            read_cache_lookups,
            http_open_connections,
            http_connections_closed,
            leader,
            leader_term,
            db_metrics_requests,
            exporter_fetches,
            exporter_fetch_duration,
            breakers_open,
            kubernetes,
            provider_up,
            operations,
            oldest_queued,
            database_ready,
            database_storage,
            backup_last_success,
            backup_last_failed,
        }
    }

    /// Drops the per-database series of a database that is gone.
    pub fn forget_database(&self, database_id: &str) {
        for engine in domain::engine::Engine::ALL {
            let _ = self
                .database_ready
                .remove_label_values(&[database_id, engine.as_str()]);
        }
        let _ = self.database_storage.remove_label_values(&[database_id]);
        let _ = self.backup_last_success.remove_label_values(&[database_id]);
        let _ = self.backup_last_failed.remove_label_values(&[database_id]);
    }

    pub fn record_operation_claimed(&self) {
        self.operations_claimed.inc();
    }

    /// Labels are `'static`: operation types and outcomes are fixed enums, never request text.
    pub fn record_operation_outcome(
        &self,
        kind: &'static str,
        outcome: &'static str,
        took: std::time::Duration,
    ) {
        self.operation_outcomes
            .with_label_values(&[kind, outcome])
            .inc();
        self.operation_duration
            .with_label_values(&[kind])
            .observe(took.as_secs_f64());
    }

    pub fn record_watch_update(&self) {
        self.watch_updates.inc();
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let families = self.registry.gather();
        TextEncoder::new()
            .encode(&families, &mut buf)
            .expect("text encoding of gathered metrics");
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Requests to the providers' API servers, fed by their clients (see `provider::connect`).
#[derive(Clone)]
pub struct KubernetesRequests {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl provider::connect::RequestObserver for KubernetesRequests {
    fn observed(&self, provider_id: &str, ok: bool, took: std::time::Duration) {
        let outcome = if ok { "ok" } else { "error" };
        self.requests
            .with_label_values(&[provider_id, outcome])
            .inc();
        self.duration
            .with_label_values(&[provider_id])
            .observe(took.as_secs_f64());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The label of a request method: a standard method, else `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_set_are_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        assert_eq!(method_label(&Method::TRACE), "other");
        assert_eq!(method_label(&Method::CONNECT), "other");
        let made_up = Method::from_bytes(b"FOOBAR").unwrap();
        assert_eq!(method_label(&made_up), "other");
    }
}
