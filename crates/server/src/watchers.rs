//! Status from watches: one watcher per provider follows the KubeDB resources the platform manages
//! (and KubeDB's services) and writes what it sees into the database records, through the domain's
//! state machine. A watcher never overrides a state an operation owns; a resource that vanishes
//! behind the platform's back marks its database `failed` with the reason, never deletes the record.
//! Steady-state Kubernetes traffic is a handful of long-lived watches per provider, whatever the
//! number of databases. Every event also goes into the watch cache the drift reconciler reads.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use domain::model::{CurrentState, Database};
use domain::status::{observe_phase, DatabaseStatus};
use futures::StreamExt;
use provider::observe::ObservedDatabase;
use provider::watch::{watch_cluster, ClusterEvent};
use store::{DatabasePatch, Fence};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clusters::{cluster_for, endpoint_patch};
use crate::state::AppState;

/// Keeps one watcher running per active provider, starting and stopping them as providers come,
/// change and go. Every write carries the leader's `fence`.
pub fn spawn_supervisor(
    state: &AppState,
    fence: Fence,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let mut running: HashMap<String, (String, JoinHandle<()>)> = HashMap::new();
        let mut providers_changed = state.ops.providers_changed();
        loop {
            match state.store.list_providers(&Default::default()).await {
                Ok(providers) => {
                    let wanted: HashMap<String, String> = providers
                        .iter()
                        .filter(|p| p.is_active)
                        .map(|p| (p.id.clone(), p.updated_at.to_rfc3339()))
                        .collect();
                    running.retain(|id, (fingerprint, task)| {
                        let keep = wanted.get(id) == Some(fingerprint) && !task.is_finished();
                        if !keep {
                            task.abort();
                        }
                        keep
                    });
                    for p in providers.into_iter().filter(|p| p.is_active) {
                        if let std::collections::hash_map::Entry::Vacant(slot) =
                            running.entry(p.id.clone())
                        {
                            let task =
                                tokio::spawn(watch_provider(state.clone(), p.id, fence.clone()));
                            slot.insert((p.updated_at.to_rfc3339(), task));
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "listing providers for the watchers failed"),
            }
            tokio::select! {
                _ = providers_changed.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                _ = stop.changed() => break,
            }
        }
        for (_, (_, task)) in running {
            task.abort();
        }
    })
}

async fn watch_provider(state: AppState, provider_id: String, fence: Fence) {
    loop {
        let cluster = match state.store.get_provider(&provider_id).await {
            Ok(Some(p)) => match cluster_for(&state, &p).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(provider = %provider_id, error = %e, "watcher cannot reach its cluster");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            },
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(provider = %provider_id, error = %e, "watcher cannot read its provider");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        tracing::info!(provider = %provider_id, "watching the cluster");
        let mut names: HashMap<(String, String), String> = HashMap::new();
        // A new stream lists everything again: what the cache held of the old one is forgotten.
        state.watch_cache.reset(&provider_id);
        let mut events = Box::pin(watch_cluster(&cluster));
        let status = async {
            while let Some(event) = events.next().await {
                state.watch_cache.apply(&provider_id, &event);
                if let Err(e) = apply(&state, &cluster, &fence, &mut names, event).await {
                    tracing::warn!(provider = %provider_id, error = %e, "applying a watch event failed");
                }
            }
        };
        // Backups are followed beside the status, on the same client, for as long as it lasts.
        let backups = crate::backup_watch::follow_provider(
            state.clone(),
            provider_id.clone(),
            cluster.clone(),
            fence.clone(),
        );
        tokio::select! {
            _ = status => {}
            _ = backups => {}
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn apply(
    state: &AppState,
    cluster: &provider::Cluster,
    fence: &Fence,
    names: &mut HashMap<(String, String), String>,
    event: ClusterEvent,
) -> Result<(), store::StoreError> {
    match event {
        ClusterEvent::Database(obs) => {
            let Some(id) = obs.database_id.clone() else {
                return Ok(());
            };
            names.insert((obs.namespace.clone(), obs.name.clone()), id.clone());
            let Some(db) = state.store.get_database(&id).await? else {
                return Ok(());
            };
            // The label alone is not proof: only the object at the record's own place speaks for it.
            if !at_its_place(&db, &obs.namespace, &obs.name) {
                tracing::warn!(database = %id, "{}/{} carries the database's id but is not its object; ignored", obs.namespace, obs.name);
                return Ok(());
            }
            state
                .metrics
                .database_ready
                .with_label_values(&[id.as_str(), db.engine.as_str()])
                .set(i64::from(obs.phase.as_deref() == Some("Ready")));
            state
                .metrics
                .database_storage
                .with_label_values(&[id.as_str()])
                .set(db.storage_gb as f64 * 1024.0 * 1024.0 * 1024.0);
            let patch = DatabasePatch {
                fence: Some(fence.clone()),
                ..observed_patch(&db, &obs)
            };
            if !patch.is_empty() && state.store.patch_database(&id, &patch, Utc::now()).await? {
                state.metrics.record_watch_update();
            }
            if db.status.is_operation_owned() {
                // An operation may be parked waiting for exactly this.
                crate::ops::database_observed(state, &id).await;
            } else {
                state.ops.database_changed(&id);
            }
        }
        ClusterEvent::DatabaseGone {
            namespace,
            name,
            database_id,
            ..
        } => {
            let id = database_id.or_else(|| names.get(&(namespace.clone(), name.clone())).cloned());
            names.remove(&(namespace.clone(), name.clone()));
            let Some(id) = id else { return Ok(()) };
            state.metrics.forget_database(&id);
            let Some(db) = state.store.get_database(&id).await? else {
                return Ok(());
            };
            if !at_its_place(&db, &namespace, &name) {
                return Ok(());
            }
            // Deleting: the delete operation expects this. Other operation-owned states: the
            // operation sees it and decides. Failed: a failed create's resource finished going
            // (below). Otherwise nobody asked for it: say so.
            if !db.status.is_operation_owned()
                && !matches!(db.status, DatabaseStatus::Deleted | DatabaseStatus::Failed)
            {
                let reason = format!(
                    "the KubeDB resource {namespace}/{name} was deleted outside the platform"
                );
                tracing::warn!(database = %id, "{reason}");
                state
                    .store
                    .patch_database(
                        &id,
                        &DatabasePatch {
                            status: Some(DatabaseStatus::Failed),
                            expect_status: vec![db.status],
                            health_status: Some(Some("missing".into())),
                            ready_replicas: Some(0),
                            kubedb_phase: Some(None),
                            conditions: Some(serde_json::json!([{
                                "type": "ResourceMissing", "status": "True",
                                "reason": "DeletedOutsidePlatform", "message": reason,
                                "lastTransitionTime": Utc::now().to_rfc3339(),
                            }])),
                            fence: Some(fence.clone()),
                            ..Default::default()
                        },
                        Utc::now(),
                    )
                    .await?;
            }
            // A failed database whose resource is gone holds nothing in the cluster any more:
            // its reservation goes back (a failed create kept it while the resource went away).
            if let Some(now) = state.store.get_database(&id).await? {
                if now.status == DatabaseStatus::Failed
                    && now.reserved != domain::quota::Usage::default()
                {
                    state.store.release_reservation(&id, Some(fence)).await?;
                    state
                        .invalidate_quota(&now.domain, Some(&now.project))
                        .await;
                }
            }
            if db.status.is_operation_owned() {
                crate::ops::database_observed(state, &id).await;
            } else {
                state.ops.database_changed(&id);
            }
        }
        ClusterEvent::Service {
            namespace,
            instance: Some(instance),
            ..
        } => {
            let Some(id) = names.get(&(namespace.clone(), instance.clone())).cloned() else {
                return Ok(());
            };
            let Some(db) = state.store.get_database(&id).await? else {
                return Ok(());
            };
            if db.status != DatabaseStatus::Running {
                return Ok(());
            }
            if let Ok(Some(e)) = cluster
                .read_endpoint(db.engine, &namespace, &instance)
                .await
            {
                let port = Some(e.port as i64);
                if db.endpoint.as_deref() != Some(e.host.as_str())
                    || db.port != port
                    || db.loadbalancer_ip != e.loadbalancer_ip
                {
                    state
                        .store
                        .patch_database(
                            &id,
                            &DatabasePatch {
                                fence: Some(fence.clone()),
                                ..endpoint_patch(Some(e))
                            },
                            Utc::now(),
                        )
                        .await?;
                }
            }
        }
        ClusterEvent::OpsRequest {
            database_id: Some(id),
            ..
        } => {
            // An operation parked on its OpsRequest resumes when the phase moves.
            crate::ops::database_observed(state, &id).await;
        }
        ClusterEvent::OpsRequest { .. }
        | ClusterEvent::Service { .. }
        | ClusterEvent::Resynced { .. }
        | ClusterEvent::Child { .. }
        | ClusterEvent::ChildrenResynced { .. } => {}
    }
    Ok(())
}

/// Whether `namespace/name` is where the record says its KubeDB object lives (a record that has not
/// recorded a place yet accepts none).
fn at_its_place(db: &Database, namespace: &str, name: &str) -> bool {
    db.namespace.as_deref() == Some(namespace) && db.kubedb_resource_name.as_deref() == Some(name)
}

/// What the record must change to reflect an observation; empty when it already does (a watcher
/// that sees nothing new writes nothing).
pub fn observed_patch(db: &Database, obs: &ObservedDatabase) -> DatabasePatch {
    let mut p = DatabasePatch::default();
    if db.status == DatabaseStatus::Deleted {
        return p;
    }
    let phase = obs.phase.clone();
    if db.kubedb_phase != phase {
        p.kubedb_phase = Some(phase.clone());
    }
    if obs.conditions != db.conditions && !obs.conditions.is_null() {
        p.conditions = Some(obs.conditions.clone());
    }
    if let Some(ph) = phase.as_deref() {
        let holds_reservation = db.reserved != domain::quota::Usage::default();
        let seen = observe_phase(db.status, ph, holds_reservation);
        // A resource on its way out (a failed create's, being removed) is never taken for a
        // database that runs again.
        if let Some(to) = seen.status.filter(|_| !obs.being_deleted) {
            p.status = Some(to);
            p.expect_status = vec![db.status];
        }
        if db.health_status.as_deref() != Some(seen.health) && !db.status.is_operation_owned() {
            p.health_status = Some(Some(seen.health.to_string()));
        }
        if let Some(ready) = obs.ready_replicas().filter(|r| *r != db.ready_replicas) {
            p.ready_replicas = Some(ready);
        }
    }
    let current = CurrentState {
        size: obs.size.or(db.current.size),
        storage_gb: obs.storage_gb.or(db.current.storage_gb),
        replicas: obs.replicas.or(db.current.replicas),
        version: obs.version.clone().or_else(|| db.current.version.clone()),
    };
    if current != db.current {
        p.current = Some(current);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::engine::{Engine, Size};
    use domain::quota::Usage;
    use serde_json::json;

    fn db(status: DatabaseStatus, phase: Option<&str>) -> Database {
        let now = Utc::now();
        Database {
            id: "db-1".into(),
            name: "orders".into(),
            domain: "acme".into(),
            project: "web".into(),
            engine: Engine::Postgres,
            version: "16.10".into(),
            size: Size::Micro,
            storage_gb: 10,
            replicas: 3,
            ready_replicas: 3,
            status,
            health_status: Some("healthy".into()),
            kubedb_phase: phase.map(str::to_string),
            backup_enabled: true,
            backup_schedule: "daily".into(),
            backup_retention_days: 7,
            high_availability: true,
            monitoring_enabled: true,
            deletion_protection: false,
            endpoint: None,
            port: None,
            service_type: None,
            loadbalancer_ip: None,
            labels: Default::default(),
            annotations: Default::default(),
            provider_id: Some("provider-1".into()),
            namespace: Some("dbaas-acme-web".into()),
            kubedb_resource_name: Some("orders".into()),
            current: CurrentState {
                size: Some(Size::Micro),
                storage_gb: Some(10),
                replicas: Some(3),
                version: Some("16.10".into()),
            },
            upgrade_policy: None,
            conditions: json!([]),
            reserved: Usage::of_database(Size::Micro, 10, 3),
            created_at: now,
            updated_at: now,
        }
    }

    fn seen(phase: &str) -> ObservedDatabase {
        ObservedDatabase {
            engine: Engine::Postgres,
            namespace: "dbaas-acme-web".into(),
            name: "orders".into(),
            database_id: Some("db-1".into()),
            phase: Some(phase.into()),
            conditions: json!([]),
            replicas: Some(3),
            version: Some("16.10".into()),
            storage_gb: Some(10),
            size: Some(Size::Micro),
            auth_secret: Some("orders-auth".into()),
            auth_secret_external: false,
            owner_labels: Default::default(),
            deletion_policy: Some("Delete".into()),
            halted: false,
            being_deleted: false,
            resource_version: Some("7".into()),
        }
    }

    #[test]
    fn nothing_new_writes_nothing() {
        assert!(
            observed_patch(&db(DatabaseStatus::Running, Some("Ready")), &seen("Ready")).is_empty()
        );
    }

    #[test]
    fn a_degraded_cluster_is_reported_and_a_recovered_one_runs_again() {
        let p = observed_patch(
            &db(DatabaseStatus::Running, Some("Ready")),
            &seen("Critical"),
        );
        assert_eq!(p.status, None);
        assert_eq!(p.health_status, Some(Some("degraded".into())));
        assert_eq!(p.ready_replicas, Some(2));
        let p = observed_patch(
            &db(DatabaseStatus::Running, Some("Ready")),
            &seen("NotReady"),
        );
        assert_eq!(p.status, Some(DatabaseStatus::Failed));
        assert_eq!(p.expect_status, vec![DatabaseStatus::Running]);
        let p = observed_patch(
            &db(DatabaseStatus::Failed, Some("NotReady")),
            &seen("Ready"),
        );
        assert_eq!(p.status, Some(DatabaseStatus::Running));
    }

    #[test]
    fn a_failed_create_never_runs_again_without_its_reservation() {
        let mut failed = db(DatabaseStatus::Failed, Some("Provisioning"));
        failed.reserved = Usage::default();
        let p = observed_patch(&failed, &seen("Ready"));
        assert_eq!(p.status, None, "no reservation, no running");
        assert_eq!(p.kubedb_phase, Some(Some("Ready".into())));
        let held = db(DatabaseStatus::Failed, Some("Provisioning"));
        let mut going = seen("Ready");
        going.being_deleted = true;
        assert_eq!(observed_patch(&held, &going).status, None, "being deleted");
        assert_eq!(
            observed_patch(&held, &seen("Ready")).status,
            Some(DatabaseStatus::Running)
        );
    }

    #[test]
    fn operation_owned_and_deleted_states_are_left_alone() {
        let p = observed_patch(&db(DatabaseStatus::Provisioning, None), &seen("Ready"));
        assert_eq!(p.status, None);
        assert_eq!(
            p.kubedb_phase,
            Some(Some("Ready".into())),
            "the phase is still recorded"
        );
        assert!(observed_patch(&db(DatabaseStatus::Deleted, None), &seen("Ready")).is_empty());
    }
}
