//! The narrow context workflows and workers run over – the store, the sealing key, the
//! clusters, the queue's signals and the caches a change makes stale – and the one place where
//! what a committed change leaves to do (wake workers, forget cached views) happens. It knows
//! nothing of the application state that hands it out.

use std::sync::Arc;

use chrono::Utc;
use domain::audit::AuditEntry;
use domain::model::{Database, Operation, Provider};
use domain::quota::QuotaView;
use domain::status::{OperationStatus, OperationType};
use domain::versions::VersionPolicy;
use futures::FutureExt;
use moka::future::Cache;
use provider::{Cluster, ProviderError};
use serde_json::json;
use store::Store;

use crate::signals::Signals;

/// What workflows work over.
pub struct Ctx<'a> {
    pub store: &'a Arc<dyn Store>,
    /// Seals what the platform keeps for a while (credentials waiting for their operation).
    pub secrets: &'a store::Cipher,
    pub clusters: &'a provider::connect::ClientCache,
    pub signals: &'a Signals,
    pub quota_views: &'a Cache<(String, String), QuotaView>,
    pub version_policy: &'a VersionPolicy,
    /// Every provider, briefly cached for version listings.
    pub provider_list: &'a Cache<(), Arc<Vec<Provider>>>,
    pub operation_max_retries: i32,
    /// `spec.monitor` of new databases.
    pub monitor: &'a provider::translate::MonitorAgent,
}

/// What a committed change leaves to do outside its transaction.
#[derive(Debug, Default)]
pub struct Committed<'a> {
    /// Operations were queued: wake this replica's workers and tell the others.
    pub queued: bool,
    /// The database whose record changed (wakes event streams and parked waits on it).
    pub database: Option<&'a str>,
    /// A reservation moved: the cached quota views of this (domain, project) are stale.
    pub quota_of: Option<(&'a str, Option<&'a str>)>,
    /// A provider was written: its cached client and the provider list are stale, and its
    /// watcher must look again.
    pub provider: Option<&'a str>,
}

impl Ctx<'_> {
    /// The one place after-commit chores happen.
    pub async fn committed(&self, c: Committed<'_>) {
        if c.queued {
            self.signals.wake_local();
            if let Err(e) = self.store.notify_queue().await {
                tracing::warn!(error = %e, "could not notify other replicas of a queued operation");
            }
        }
        if let Some((domain, project)) = c.quota_of {
            self.quota_views
                .invalidate(&(domain.to_string(), String::new()))
                .await;
            if let Some(p) = project {
                self.quota_views
                    .invalidate(&(domain.to_string(), p.to_string()))
                    .await;
            }
        }
        if let Some(id) = c.database {
            self.signals.database_changed(id);
        }
        if let Some(id) = c.provider {
            self.provider_list.invalidate(&()).await;
            self.clusters.invalidate(id).await;
            self.signals.provider_changed();
        }
    }

    /// Records an audit entry on its own: a refusal, which changes nothing it could commit with.
    pub async fn audit_alone(&self, entry: AuditEntry) {
        if let Err(e) = self.store.insert_audit(&entry).await {
            tracing::error!(error = %e, action = %entry.action, "could not write audit entry");
        }
    }

    /// A queued operation of `db`, to be written with the change that asks for it.
    pub fn new_operation(
        &self,
        id: &str,
        db: &Database,
        kind: OperationType,
        created_by: &str,
    ) -> Operation {
        let now = Utc::now();
        Operation {
            id: id.to_string(),
            database_id: db.id.clone(),
            op_type: kind,
            status: OperationStatus::Queued,
            progress: 0,
            message: Some("queued".into()),
            desired_state: json!({}),
            ops_request_name: None,
            ops_request_phase: None,
            error_message: None,
            retry_count: 0,
            max_retries: self.operation_max_retries,
            created_by: Some(created_by.to_string()),
            domain: db.domain.clone(),
            project: db.project.clone(),
            lease_owner: None,
            lease_expires_at: None,
            run_after: now,
            created_at: now,
            started_at: None,
            completed_at: None,
            estimated_completion_at: None,
        }
    }

    /// The cached client of a provider's cluster (built from its decrypted kubeconfig).
    pub async fn cluster(&self, p: &Provider) -> Result<Cluster, ProviderError> {
        let store = self.store.clone();
        let id = p.id.clone();
        self.clusters
            .get(&p.id, &p.updated_at.to_rfc3339(), p.verify_ssl, move || {
                async move {
                    store
                        .provider_kubeconfig(&id)
                        .await
                        .map_err(|e| {
                            ProviderError::Transient(format!("reading the kubeconfig: {e}"))
                        })?
                        .ok_or_else(|| ProviderError::NotFound(format!("provider '{id}'")))
                }
                .boxed()
            })
            .await
    }
}
