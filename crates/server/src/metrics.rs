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
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
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
        }
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
