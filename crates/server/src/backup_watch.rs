//! Backups from watches (on the leader, beside each provider's status watcher): KubeStash's
//! Snapshots become the databases' backup records (a relist replaces a provider's records, so
//! what retention deleted disappears), and a change of a BackupSession or RestoreSession the
//! platform made wakes the operation parked on it. Three long-lived watches per provider.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::backup::{backup_id, expires_at, Backup};
use domain::model::Database;
use futures::StreamExt;
use provider::backup::{self as kubestash, ObservedSnapshot};
use provider::watch::{watch_backup_sessions, watch_snapshots, SnapshotEvent};
use provider::Cluster;
use store::Fence;

use crate::state::AppState;

/// The backup record of a Snapshot of `db`'s repository; None when the Snapshot is not one of
/// this database's (another repository, or a target the record does not name).
pub fn record_of(db: &Database, snap: &ObservedSnapshot, now: DateTime<Utc>) -> Option<Backup> {
    let name = db.kubedb_resource_name.as_deref()?;
    if db.namespace.as_deref() != Some(snap.namespace.as_str())
        || snap.repository != kubestash::repository_name(name)
    {
        return None;
    }
    Some(Backup {
        id: backup_id(&db.id, &snap.name),
        database_id: db.id.clone(),
        domain: db.domain.clone(),
        project: db.project.clone(),
        provider_id: db.provider_id.clone().unwrap_or_default(),
        snapshot_name: snap.name.clone(),
        kind: snap.kind,
        status: snap.status,
        snapshot_time: snap.snapshot_time,
        size_bytes: snap.size_bytes,
        duration_seconds: snap.duration_seconds,
        integrity: snap.integrity,
        repository: snap.repository.clone(),
        expires_at: snap
            .snapshot_time
            .map(|t| expires_at(t, db.backup_retention_days)),
        error: snap.error.clone(),
        created_at: snap.created_at.unwrap_or(now),
        updated_at: now,
    })
}

/// Follows one provider's Snapshots and sessions until the task is dropped.
pub async fn follow_provider(state: AppState, provider_id: String, cluster: Cluster, fence: Fence) {
    tokio::join!(
        follow_snapshots(&state, &provider_id, &cluster, &fence),
        follow_sessions(&state, &cluster),
    );
}

/// Databases of the provider by (namespace, KubeDB object name), reloaded when a Snapshot names
/// one it does not know (a database created since), at most every two seconds.
struct Places {
    by_place: HashMap<(String, String), Database>,
    loaded_at: Option<std::time::Instant>,
}

impl Places {
    async fn find(
        &mut self,
        state: &AppState,
        provider_id: &str,
        snap: &ObservedSnapshot,
    ) -> Option<Database> {
        let name = snap.repository.strip_suffix("-repo")?.to_string();
        let key = (snap.namespace.clone(), name);
        if !self.by_place.contains_key(&key)
            && self
                .loaded_at
                .is_none_or(|at| at.elapsed() > Duration::from_secs(2))
        {
            match state.store.list_provider_databases(provider_id).await {
                Ok(dbs) => {
                    self.by_place = dbs
                        .into_iter()
                        .filter_map(|db| {
                            Some((
                                (db.namespace.clone()?, db.kubedb_resource_name.clone()?),
                                db,
                            ))
                        })
                        .collect();
                    self.loaded_at = Some(std::time::Instant::now());
                }
                Err(e) => {
                    tracing::warn!(provider = %provider_id, error = %e, "listing databases for backups failed")
                }
            }
        }
        self.by_place.get(&key).cloned()
    }
}

async fn follow_snapshots(state: &AppState, provider_id: &str, cluster: &Cluster, fence: &Fence) {
    let mut places = Places {
        by_place: HashMap::new(),
        loaded_at: None,
    };
    let mut listing: Option<Vec<Backup>> = None;
    let mut events = Box::pin(watch_snapshots(cluster));
    while let Some(event) = events.next().await {
        let now = Utc::now();
        let result = match event {
            SnapshotEvent::Relisting => {
                listing = Some(Vec::new());
                Ok(())
            }
            SnapshotEvent::Listed(snap) => {
                if let (Some(db), Some(found)) = (
                    places.find(state, provider_id, &snap).await,
                    listing.as_mut(),
                ) {
                    found.extend(record_of(&db, &snap, now));
                }
                Ok(())
            }
            SnapshotEvent::RelistDone => {
                let found = listing.take().unwrap_or_default();
                state
                    .store
                    .sync_backups(provider_id, &found, Some(fence))
                    .await
                    .map(|_| ())
            }
            SnapshotEvent::Changed(snap) => match places.find(state, provider_id, &snap).await {
                Some(db) => match record_of(&db, &snap, now) {
                    Some(b) => {
                        note_backup(&state.metrics, &b);
                        let r = state.store.upsert_backup(&b, Some(fence)).await;
                        crate::ops::database_observed(state, &db.id).await;
                        r.map(|_| ())
                    }
                    None => Ok(()),
                },
                None => Ok(()),
            },
            SnapshotEvent::Gone(snap) => match places.find(state, provider_id, &snap).await {
                Some(db) => state
                    .store
                    .remove_backup(&backup_id(&db.id, &snap.name), Some(fence))
                    .await
                    .map(|_| ()),
                None => Ok(()),
            },
        };
        if let Err(e) = result {
            tracing::warn!(provider = %provider_id, error = %e, "recording a Snapshot failed");
        }
    }
}

/// A change of a session the platform made wakes the operation parked on it.
async fn follow_sessions(state: &AppState, cluster: &Cluster) {
    let mut ids = Box::pin(watch_backup_sessions(cluster));
    while let Some(id) = ids.next().await {
        crate::ops::database_observed(state, &id).await;
    }
}

/// Keeps the per-database backup series (newest success, whether a newer one failed) in step
/// with what the Snapshots say, whatever order they arrive in.
fn note_backup(metrics: &crate::metrics::Metrics, b: &domain::backup::Backup) {
    use domain::backup::BackupStatus;
    let Some(at) = b.snapshot_time.map(|t| t.timestamp() as f64) else {
        return;
    };
    let id = b.database_id.as_str();
    let success = metrics.backup_last_success.with_label_values(&[id]);
    let failed = metrics.backup_last_failed.with_label_values(&[id]);
    match b.status {
        BackupStatus::Succeeded if at >= success.get() => {
            success.set(at);
            failed.set(0);
        }
        BackupStatus::Failed if at > success.get() => failed.set(1),
        _ => {}
    }
}
