//! Provider health checks: every provider's cluster is probed periodically (bounded concurrency,
//! each probe under a timeout) and what was found is written with `set_provider_health`:
//! `connection = {status: connected|unreachable|error, last_checked_at, server_version?, error?}`
//! and, when the cluster answered, the refreshed KubeDB facts and catalog in `kubedb`
//! (`catalog::kubedb_facts`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::model::Provider;
use futures::StreamExt;
use provider::ProviderError;
use serde_json::{json, Value};
use store::Fence;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::catalog::kubedb_facts;
use crate::state::AppState;

/// Probes in flight at once: enough to keep a round short, few enough not to flood the runtime.
const MAX_CONCURRENT_PROBES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    Connected,
    /// No answer: network error, timeout, 5xx.
    Unreachable,
    /// The cluster answered but cannot serve us: credentials refused, TLS, KubeDB missing.
    Error,
}

impl ConnectionStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Connected => "connected",
            ConnectionStatus::Unreachable => "unreachable",
            ConnectionStatus::Error => "error",
        }
    }
}

/// The stored `connection` value.
pub fn connection_value(
    status: ConnectionStatus,
    checked_at: DateTime<Utc>,
    server_version: Option<&str>,
    error: Option<&str>,
) -> Value {
    let mut v = json!({"status": status.as_str(), "last_checked_at": checked_at});
    if let Some(sv) = server_version {
        v["server_version"] = json!(sv);
    }
    if let Some(e) = error {
        v["error"] = json!(e);
    }
    v
}

/// What one check found: the values to store.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthResult {
    pub status: ConnectionStatus,
    /// `None` keeps the provider's previous facts (the cluster did not answer).
    pub kubedb: Option<Value>,
    pub connection: Value,
}

fn classify(e: &ProviderError) -> ConnectionStatus {
    if e.is_transient() {
        ConnectionStatus::Unreachable
    } else {
        ConnectionStatus::Error
    }
}

/// Probes one provider through its cached client. Never fails: failures are the result.
pub async fn check_provider(state: &AppState, p: &Provider, timeout: Duration) -> HealthResult {
    let probe = async {
        let cluster = crate::clusters::cluster_for(state, p).await?;
        cluster.inspect().await
    };
    let now = Utc::now();
    match tokio::time::timeout(timeout, probe).await {
        Ok(Ok(report)) => {
            let kubedb = Some(kubedb_facts(&report));
            let version = Some(report.server_version.as_str());
            let (status, error) = match report.require_kubedb() {
                Ok(()) => (ConnectionStatus::Connected, None),
                Err(e) => (ConnectionStatus::Error, Some(e.to_string())),
            };
            HealthResult {
                status,
                kubedb,
                connection: connection_value(status, now, version, error.as_deref()),
            }
        }
        Ok(Err(e)) => {
            let status = classify(&e);
            HealthResult {
                status,
                kubedb: None,
                connection: connection_value(status, now, None, Some(&e.to_string())),
            }
        }
        Err(_) => HealthResult {
            status: ConnectionStatus::Unreachable,
            kubedb: None,
            connection: connection_value(
                ConnectionStatus::Unreachable,
                now,
                None,
                Some(&format!("no answer within {} s", timeout.as_secs_f64())),
            ),
        },
    }
}

/// One round over every provider; returns how many were checked and written. `fence`: the
/// leader's term, outside which nothing is written.
pub async fn check_all(state: &AppState, fence: Option<&Fence>) -> usize {
    let providers = match state.store.list_providers(&Default::default()).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "health check: listing providers failed");
            return 0;
        }
    };
    let timeout = Duration::from_secs(state.config.provider_health_timeout_secs.max(1));
    let written = futures::stream::iter(providers)
        .map(|p| async move {
            let result = check_provider(state, &p, timeout).await;
            write(state, &p, result, fence).await
        })
        .buffer_unordered(MAX_CONCURRENT_PROBES)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    // Version listings read the catalogs from the cached provider list.
    state.provider_list.invalidate(&()).await;
    written
}

async fn write(state: &AppState, p: &Provider, r: HealthResult, fence: Option<&Fence>) -> bool {
    // A PATCH during the probe (new kubeconfig, say) wrote fresher facts: keep those.
    match state.store.get_provider(&p.id).await {
        Ok(Some(now)) if now.updated_at == p.updated_at => {}
        Ok(_) => return false,
        Err(e) => {
            tracing::warn!(provider = %p.id, error = %e, "health check: reading the provider failed");
            return false;
        }
    }
    state
        .metrics
        .provider_up
        .with_label_values(&[p.id.as_str()])
        .set(i64::from(r.status == ConnectionStatus::Connected));
    let previous = p.connection.get("status").and_then(Value::as_str);
    if previous != Some(r.status.as_str()) {
        let error = r.connection.get("error").and_then(Value::as_str);
        match r.status {
            ConnectionStatus::Connected => {
                tracing::info!(provider = %p.id, name = %p.name, "provider is connected")
            }
            _ => tracing::warn!(provider = %p.id, name = %p.name, status = r.status.as_str(),
                error = error.unwrap_or(""), "provider health changed"),
        }
    }
    let kubedb = r.kubedb.as_ref().unwrap_or(&p.kubedb);
    match state
        .store
        .set_provider_health(&p.id, kubedb, &r.connection, fence)
        .await
    {
        Ok(written) => written,
        Err(e) => {
            tracing::warn!(provider = %p.id, error = %e, "health check: writing the result failed");
            false
        }
    }
}

/// Runs a round every `provider_health_interval_secs` until `stop`; rounds never overlap (a slow
/// round delays the next one).
pub fn spawn(state: &AppState, fence: Fence, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let state = state.clone();
    let every = Duration::from_secs(state.config.provider_health_interval_secs.max(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Onboarding just probed; the first round can wait one interval.
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => { check_all(&state, Some(&fence)).await; }
                _ = stop.changed() => break,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::engine::Engine;
    use provider::{CatalogEntry, NodeCapacity, ProbeReport};

    #[test]
    fn facts_and_connection_have_the_stored_shape() {
        let report = ProbeReport {
            server_version: "v1.31.0".into(),
            kubedb_installed: true,
            kubedb_version: Some("v2026.7.10".into()),
            engines: vec![Engine::Postgres],
            missing_crds: vec![],
            catalog: vec![CatalogEntry {
                engine: Engine::Postgres,
                name: "16.10".into(),
                version: "16.10".into(),
                distribution: None,
                deprecated: false,
                update_allowlist: vec![],
                update_denylist: vec![],
                update_allowlist_ha: None,
                update_denylist_ha: None,
            }],
            nodes: NodeCapacity::default(),
        };
        let facts = kubedb_facts(&report);
        assert_eq!(facts["installed"], json!(true));
        assert_eq!(facts["engines"], json!(["postgres"]));
        assert_eq!(
            facts["catalog"],
            json!([{"engine": "postgres", "name": "16.10", "version": "16.10", "deprecated": false}])
        );
        let at = Utc::now();
        let c = connection_value(ConnectionStatus::Unreachable, at, None, Some("refused"));
        assert_eq!(c["status"], "unreachable");
        assert_eq!(c["error"], "refused");
        assert!(c.get("server_version").is_none());
        let c = connection_value(ConnectionStatus::Connected, at, Some("v1.31.0"), None);
        assert_eq!(c["server_version"], "v1.31.0");
        assert!(c.get("error").is_none());
    }

    #[test]
    fn transient_failures_are_unreachable_others_errors() {
        assert_eq!(
            classify(&ProviderError::Transient("connection refused".into())),
            ConnectionStatus::Unreachable
        );
        assert_eq!(
            classify(&ProviderError::Permanent("unauthorized".into())),
            ConnectionStatus::Error
        );
        assert_eq!(
            classify(&ProviderError::InvalidKubeconfig("x".into())),
            ConnectionStatus::Error
        );
    }
}
