//! `create`: namespace, network policy, optional auth secret, then the KubeDB resource; done when
//! KubeDB reports the database `Ready`. Every step is idempotent, so a retried or re-claimed
//! operation finds what an earlier attempt made instead of duplicating it.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use domain::model::{CurrentState, Database};
use domain::status::DatabaseStatus;
use provider::translate::{self, CreatePlan, Owner};
use provider::Cluster;
use serde::{Deserialize, Serialize};
use store::DatabasePatch;

use super::signals::wait_for_change;
use super::{in_place, OpCtx, StepError};
use crate::clusters::{cluster_for, endpoint_patch};
use crate::state::AppState;

/// What the create request decided, carried by the operation.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct CreateDesired {
    /// The catalog object to run (`spec.version`).
    pub version_name: String,
    /// User-supplied credentials, encrypted with the platform key; never returned by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
}

/// The name of the key of `desired_state` that holds sealed credentials (hidden from responses).
pub const SEALED_CREDENTIALS: &str = "credentials";

pub(super) async fn run(ctx: &mut OpCtx) -> Result<String, StepError> {
    let state = ctx.state.clone();
    let db = load(&state, &ctx.op.database_id).await?;
    match db.status {
        DatabaseStatus::Deleting | DatabaseStatus::Deleted => {
            return Ok("nothing to do: the database is being deleted".into())
        }
        DatabaseStatus::Running => return Ok("the database is running".into()),
        _ => {}
    }
    let desired: CreateDesired =
        serde_json::from_value(ctx.op.desired_state.clone()).map_err(|e| {
            StepError::Permanent(format!("the operation's desired state is unreadable: {e}"))
        })?;
    let (cluster, enable_lb) = cluster_of(&state, &db).await?;
    let namespace = translate::namespace_name(&db.domain, &db.project);
    let moved = state
        .store
        .patch_database(
            &db.id,
            &DatabasePatch {
                status: Some(DatabaseStatus::Provisioning),
                expect_status: vec![
                    DatabaseStatus::Pending,
                    DatabaseStatus::Provisioning,
                    DatabaseStatus::Failed,
                ],
                namespace: Some(Some(namespace.clone())),
                kubedb_resource_name: Some(Some(db.name.clone())),
                health_status: Some(Some("provisioning".into())),
                ..Default::default()
            },
            Utc::now(),
        )
        .await?;
    if !moved {
        return Ok("nothing to do: the database changed state meanwhile".into());
    }

    ctx.progress(10, "preparing the project namespace").await?;
    let ns_object = translate::namespace_object(&namespace, &db.domain, &db.project);
    owned(ctx, in_place(|| cluster.ensure_namespace(&ns_object)).await).await?;
    let allowed = allowed_namespace_labels(&state, &db.domain).await?;
    let policy = translate::network_policy(&db, &namespace, &allowed);
    owned(ctx, in_place(|| cluster.ensure_object(&policy)).await).await?;
    let auth_secret = match &desired.credentials {
        Some(sealed) => {
            let plain = state
                .secrets
                .decrypt(sealed)
                .map_err(|e| StepError::Permanent(format!("sealed credentials: {e}")))?;
            let (user, password): (String, String) = serde_json::from_str(&plain)
                .map_err(|e| StepError::Permanent(format!("sealed credentials: {e}")))?;
            let secret = translate::auth_secret(&db, &namespace, &user, &password);
            owned(ctx, in_place(|| cluster.ensure_object(&secret)).await).await?;
            secret["metadata"]["name"].as_str().map(str::to_string)
        }
        None => None,
    };

    ctx.progress(30, "creating the KubeDB resource").await?;
    let service_type = if enable_lb {
        "LoadBalancer"
    } else {
        "ClusterIP"
    };
    let object = translate::database_object(&CreatePlan {
        db: &db,
        namespace: &namespace,
        version_name: &desired.version_name,
        auth_secret: auth_secret.as_deref(),
        storage_class: None,
        service_type,
    });
    owned(
        ctx,
        in_place(|| cluster.create_database(db.engine, &object)).await,
    )
    .await?;

    ctx.progress(50, "waiting for KubeDB to report the database Ready")
        .await?;
    if !wait_ready(ctx, &cluster, &db, &namespace).await? {
        return Ok("nothing to do: the database is being deleted".into());
    }

    ctx.progress(90, "reading the endpoint").await?;
    let endpoint = in_place(|| cluster.read_endpoint(db.engine, &namespace, &db.name)).await?;
    let patch = DatabasePatch {
        status: Some(DatabaseStatus::Running),
        expect_status: vec![DatabaseStatus::Provisioning],
        ready_replicas: Some(db.replicas),
        kubedb_phase: Some(Some("Ready".into())),
        health_status: Some(Some("healthy".into())),
        current: Some(CurrentState {
            size: Some(db.size),
            storage_gb: Some(db.storage_gb),
            replicas: Some(db.replicas),
            version: Some(db.version.clone()),
        }),
        ..endpoint_patch(endpoint)
    };
    state
        .store
        .patch_database(&db.id, &patch, Utc::now())
        .await?;
    state.ops.database_changed(&db.id);
    Ok("the database is running".into())
}

/// Waits for `Ready`, fed by the watcher's writes (woken at once) and, as a fallback when no
/// watcher runs on this replica or it is reconnecting, by reading the object every few seconds.
/// False when the database went to deletion meanwhile.
async fn wait_ready(
    ctx: &mut OpCtx,
    cluster: &Cluster,
    db: &Database,
    namespace: &str,
) -> Result<bool, StepError> {
    let state = ctx.state.clone();
    let mut rounds = 0u32;
    loop {
        let mut changes = state.ops.changes();
        let fresh = load(&state, &db.id).await?;
        if matches!(
            fresh.status,
            DatabaseStatus::Deleting | DatabaseStatus::Deleted
        ) {
            return Ok(false);
        }
        if fresh.kubedb_phase.as_deref() == Some("Ready") {
            return Ok(true);
        }
        if rounds > 0 && rounds.is_multiple_of(3) {
            // A failed read only means "look again later" while waiting.
            let read = cluster
                .get_owned_database(db.engine, namespace, &db.name, &Owner::of(db))
                .await;
            match read {
                Err(e @ provider::ProviderError::Conflict(_)) => return owned(ctx, Err(e)).await,
                Err(e) if e.is_transient() => {
                    tracing::debug!(error = %e, "reading the KubeDB resource failed; waiting on");
                }
                Err(e) => return Err(e.into()),
                Ok(Some(o)) if o.phase.as_deref() == Some("Ready") => return Ok(true),
                Ok(Some(o)) => {
                    let phase = o.phase.unwrap_or_else(|| "none yet".into());
                    if ctx.op.ops_request_phase.as_deref() != Some(phase.as_str()) {
                        ctx.op.ops_request_phase = Some(phase.clone());
                        ctx.progress(60, &format!("KubeDB phase: {phase}")).await?;
                    }
                }
                Ok(None) => {
                    return Err(StepError::Transient(format!(
                        "the KubeDB resource {namespace}/{} disappeared while provisioning",
                        db.name
                    )))
                }
            }
        }
        rounds += 1;
        wait_for_change(&mut changes, &db.id, Duration::from_millis(700)).await;
    }
}

/// A failed create gives back what it reserved and marks the database failed.
pub(super) async fn on_failure(ctx: &OpCtx, error: &str) -> Result<(), StepError> {
    let state = &ctx.state;
    state
        .store
        .patch_database(
            &ctx.op.database_id,
            &DatabasePatch {
                status: Some(DatabaseStatus::Failed),
                expect_status: vec![DatabaseStatus::Pending, DatabaseStatus::Provisioning],
                health_status: Some(Some("failed".into())),
                conditions: Some(serde_json::json!([{
                    "type": "ProvisioningFailed", "status": "True",
                    "reason": "OperationFailed", "message": error,
                    "lastTransitionTime": Utc::now().to_rfc3339(),
                }])),
                ..Default::default()
            },
            Utc::now(),
        )
        .await?;
    state.store.release_reservation(&ctx.op.database_id).await?;
    state
        .invalidate_quota(&ctx.op.domain, Some(&ctx.op.project))
        .await;
    state.ops.database_changed(&ctx.op.database_id);
    Ok(())
}

pub(super) async fn load(state: &AppState, id: &str) -> Result<Database, StepError> {
    state
        .store
        .get_database(id)
        .await?
        .ok_or_else(|| StepError::Permanent(format!("database '{id}' no longer exists")))
}

/// The cluster a database lives on, and whether that provider hands out load balancers.
pub(super) async fn cluster_of(
    state: &AppState,
    db: &Database,
) -> Result<(Cluster, bool), StepError> {
    let pid = db
        .provider_id
        .as_deref()
        .ok_or_else(|| StepError::Permanent("the database has no provider".into()))?;
    let p = state
        .store
        .get_provider(pid)
        .await?
        .ok_or_else(|| StepError::Permanent(format!("provider '{pid}' no longer exists")))?;
    Ok((cluster_for(state, &p).await?, p.enable_loadbalancer))
}

/// A cluster step's result; an object with this database's name but another owner (a Conflict)
/// is recorded in the audit log as `database.ownership_conflict` and fails the operation for good:
/// the platform never adopts, changes or deletes what is not this database's.
pub(super) async fn owned<T>(
    ctx: &OpCtx,
    result: Result<T, provider::ProviderError>,
) -> Result<T, StepError> {
    match result {
        Err(provider::ProviderError::Conflict(message)) => {
            tracing::warn!(op = %ctx.op.id, database = %ctx.op.database_id, "{message}");
            ctx.state
                .audit(
                    &crate::state::RequestCtx::default(),
                    crate::state::Audit::new("database.ownership_conflict", "database")
                        .id(&ctx.op.database_id)
                        .scope(Some(&ctx.op.domain), Some(&ctx.op.project))
                        .status(409)
                        .details(serde_json::json!({
                            "operation_id": ctx.op.id, "reason": message,
                        })),
                )
                .await;
            Err(StepError::Permanent(message))
        }
        other => other.map_err(StepError::from),
    }
}

/// Namespaces (by label) a tenant lets reach its databases, from the tenant's metadata
/// `allowed_namespace_labels: {key: value}`.
async fn allowed_namespace_labels(
    state: &AppState,
    domain: &str,
) -> Result<BTreeMap<String, String>, StepError> {
    let tenant = state.store.get_tenant(domain).await?;
    Ok(tenant
        .and_then(|t| {
            serde_json::from_value(t.metadata.get("allowed_namespace_labels")?.clone()).ok()
        })
        .unwrap_or_default())
}
