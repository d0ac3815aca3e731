//! `create`: namespace, network policy, optional auth secret, then the KubeDB resource; done when
//! KubeDB reports the database `Ready`. Every step is idempotent, so a retried, re-claimed or
//! resumed operation finds what an earlier attempt made instead of duplicating it. Waiting for
//! `Ready` holds no worker: the operation parks and the watcher's event (or the re-check) resumes
//! it. A create that fails removes what it made, and gives its reservation back only once the
//! KubeDB resource is gone: nothing ever runs unaccounted.

use std::collections::BTreeMap;

use chrono::Utc;
use domain::model::{CurrentState, Database, Operation};
use domain::status::{DatabaseStatus, OperationType};
use provider::translate::{self, CreatePlan, Owner};
use provider::Cluster;
use serde::{Deserialize, Serialize};
use store::DatabasePatch;

use super::{in_place, OpCtx, Step, StepError};
use crate::clusters::{cluster_for, endpoint_patch};
use crate::state::AppState;

/// What the create request decided, carried by the operation.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct CreateDesired {
    /// User-supplied credentials, encrypted with the platform key; never returned by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// A clone: the backup the new database starts from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<super::backup::RestoreFrom>,
}

/// The name of the key of `desired_state` that holds sealed credentials (hidden from responses).
pub const SEALED_CREDENTIALS: &str = "credentials";

pub(super) async fn run(ctx: &mut OpCtx) -> Result<Step, StepError> {
    let state = ctx.state.clone();
    let db = load(&state, &ctx.op.database_id).await?;
    match db.status {
        DatabaseStatus::Deleting | DatabaseStatus::Deleted => {
            return Ok(Step::Done(
                "nothing to do: the database is being deleted".into(),
            ))
        }
        DatabaseStatus::Running => return Ok(Step::Done("the database is running".into())),
        _ => {}
    }
    if db.reserved.databases == 0 {
        return Err(StepError::Permanent(
            "the database holds no quota reservation (its create failed or was cancelled); delete it and create it again"
                .into(),
        ));
    }
    if super::unfinished_operation(state.store.as_ref(), &db.id, OperationType::Delete)
        .await?
        .is_some()
    {
        // The delete queued behind this create removes whatever it made.
        return Ok(Step::Done("stopped: the database is being deleted".into()));
    }
    let desired: CreateDesired =
        serde_json::from_value(ctx.op.desired_state.clone()).map_err(|e| {
            StepError::Permanent(format!("the operation's desired state is unreadable: {e}"))
        })?;
    let (cluster, enable_lb) = cluster_of(&state, &db).await?;
    // Resumed after a park (or retried after submitting): everything was made; only readiness is
    // left to see, unless the resource vanished meanwhile, which makes it again below.
    if db.status == DatabaseStatus::Provisioning && ctx.op.progress >= SUBMITTED {
        if let Some(namespace) = db.namespace.clone() {
            if let Some(from) = &desired.restore {
                follow_restore(ctx, &cluster, &db, &namespace, from).await?;
            }
            match readiness(ctx, &cluster, &db, &namespace).await? {
                Readiness::Ready => return finish(ctx, &cluster, &db, &namespace).await,
                Readiness::Waiting(note) => return Ok(Step::Park { waiting_for: note }),
                Readiness::Missing => {}
            }
        }
    }
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
        return Ok(Step::Done(
            "nothing to do: the database changed state meanwhile".into(),
        ));
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

    ctx.progress(CREATING, "creating the KubeDB resource")
        .await?;
    let service_type = if enable_lb {
        "LoadBalancer"
    } else {
        "ClusterIP"
    };
    let mut object = translate::database_object(&CreatePlan {
        db: &db,
        namespace: &namespace,
        version_name: &db.version,
        auth_secret: auth_secret.as_deref(),
        storage_class: None,
        service_type,
        monitor: &state.monitor_agent,
    });
    if desired.restore.is_some() {
        provider::backup::wait_for_initial_restore(&mut object);
    }
    owned(
        ctx,
        in_place(|| cluster.create_database(db.engine, &object)).await,
    )
    .await?;
    configure_backups(ctx, &cluster, &db, &namespace).await?;
    if let Some(from) = &desired.restore {
        follow_restore(ctx, &cluster, &db, &namespace, from).await?;
    }

    ctx.progress(SUBMITTED, "waiting for KubeDB to report the database Ready")
        .await?;
    match readiness(ctx, &cluster, &db, &namespace).await? {
        Readiness::Ready => finish(ctx, &cluster, &db, &namespace).await,
        Readiness::Waiting(note) => Ok(Step::Park { waiting_for: note }),
        Readiness::Missing => Err(StepError::Transient(format!(
            "the KubeDB resource {namespace}/{} disappeared while provisioning",
            db.name
        ))),
    }
}

/// The database's backups, set up beside it. Backups are not what the create is for: a cluster
/// that cannot take them (no KubeStash, no storage) leaves a note, not a failed database.
async fn configure_backups(
    ctx: &mut OpCtx,
    cluster: &Cluster,
    db: &Database,
    namespace: &str,
) -> Result<(), StepError> {
    use crate::workflows::backups::{configure, ConfigureError, Configured};
    let outcome = configure(
        &ctx.state.workflows(),
        cluster,
        db,
        namespace,
        &db.name,
        None,
    )
    .await;
    let note = match outcome {
        Ok(Configured::Applied) => return Ok(()),
        Ok(Configured::NoStorage) if !db.backup_enabled => return Ok(()),
        Ok(Configured::NoStorage) => super::backup::NO_STORAGE.to_string(),
        Err(ConfigureError::Cluster(e @ provider::ProviderError::Conflict(_))) => {
            return owned(ctx, Err(e)).await
        }
        Err(ConfigureError::Store(e)) => return Err(e.into()),
        Err(ConfigureError::Cluster(e)) => format!("backups could not be set up: {e}"),
    };
    tracing::warn!(database = %db.id, "{note}");
    ctx.progress(ctx.op.progress, &note).await
}

/// A clone's restore: submitted once, then followed; its failure fails the create (the new
/// database would otherwise wait for data that never comes).
async fn follow_restore(
    ctx: &mut OpCtx,
    cluster: &Cluster,
    db: &Database,
    namespace: &str,
    from: &super::backup::RestoreFrom,
) -> Result<(), StepError> {
    let at = super::backup::At {
        cluster,
        db,
        ns: namespace,
        name: &db.name,
    };
    super::backup::restore(ctx, &at, from).await.map(|_| ())
}

/// Progress recorded just before the KubeDB resource is sent: below it, none can exist.
const CREATING: i32 = 30;
/// Progress at which the KubeDB resource has been submitted: a later run only waits for it.
const SUBMITTED: i32 = 50;

enum Readiness {
    Ready,
    /// Not Ready yet: what the operation waits for.
    Waiting(String),
    /// The resource is not there (any more).
    Missing,
}

/// One look at the KubeDB resource (the watcher's event resumes the operation; this read also
/// covers a replica that runs no watcher).
async fn readiness(
    ctx: &mut OpCtx,
    cluster: &Cluster,
    db: &Database,
    namespace: &str,
) -> Result<Readiness, StepError> {
    let read = cluster
        .get_owned_database(db.engine, namespace, &db.name, &Owner::of(db))
        .await;
    let observed = match read {
        Ok(o) => o,
        Err(e @ provider::ProviderError::Conflict(_)) => return owned(ctx, Err(e)).await,
        // A failed read only means "look again later".
        Err(e) if e.is_transient() => {
            tracing::debug!(error = %e, "reading the KubeDB resource failed; waiting on");
            return Ok(Readiness::Waiting(format!(
                "KubeDB resource {namespace}/{} to report Ready (the cluster did not answer)",
                db.name
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let Some(o) = observed else {
        return Ok(Readiness::Missing);
    };
    if o.phase.as_deref() == Some("Ready") && !o.being_deleted {
        // Finish once the watcher has recorded it too: finishing ahead of it would let its older
        // events (still on their way) write an older phase over the running database's.
        if db.kubedb_phase.as_deref() == Some("Ready") {
            return Ok(Readiness::Ready);
        }
        // No watcher confirmed it within a re-check interval: none runs here; the read decides.
        let now = Utc::now();
        match ctx.op.estimated_completion_at {
            Some(by) if now >= by => return Ok(Readiness::Ready),
            Some(_) => {}
            None => {
                let recheck = ctx.state.config.park_recheck_secs.max(1) as i64;
                ctx.op.estimated_completion_at = Some(now + chrono::Duration::seconds(recheck));
                ctx.op.ops_request_phase = Some("Ready".into());
                ctx.progress(80, "KubeDB reports the database Ready")
                    .await?;
            }
        }
        return Ok(Readiness::Waiting(format!(
            "the status watcher to see KubeDB resource {namespace}/{} Ready",
            db.name
        )));
    }
    let phase = o.phase.unwrap_or_else(|| "none yet".into());
    if ctx.op.ops_request_phase.as_deref() != Some(phase.as_str()) {
        ctx.op.ops_request_phase = Some(phase.clone());
        ctx.progress(60, &format!("KubeDB phase: {phase}; waiting for Ready"))
            .await?;
    }
    Ok(Readiness::Waiting(format!(
        "KubeDB resource {namespace}/{} to report Ready (phase {phase})",
        db.name
    )))
}

/// The database is Ready: record its endpoint and mark it running.
async fn finish(
    ctx: &mut OpCtx,
    cluster: &Cluster,
    db: &Database,
    namespace: &str,
) -> Result<Step, StepError> {
    let state = ctx.state.clone();
    let namespace = namespace.to_string();
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
    Ok(Step::Done("the database is running".into()))
}

/// A failed (or timed-out) create removes what it made and marks the database failed; it gives
/// the reservation back only once the KubeDB resource is gone. While the resource is still going
/// away (or the cluster cannot be reached) the reservation stays, and the watcher gives it back
/// when it sees the resource gone (deleting the database does too). A failed database never runs
/// again by itself: the domain forbids `failed → running` without a reservation, and a resource
/// being deleted is never taken for a running database.
pub(super) async fn on_failure(ctx: &OpCtx, error: &str) -> Result<(), StepError> {
    fail_create(&ctx.state, &ctx.op, "failed", "OperationFailed", error).await
}

/// A cancelled create (queued, or queued again for a retry after it had started) leaves the same
/// consistent record as a failed one: nothing of it left in the cluster unaccounted.
pub async fn after_cancel(state: &AppState, op: &Operation) -> Result<(), StepError> {
    fail_create(
        state,
        op,
        "cancelled",
        "Cancelled",
        "the create was cancelled",
    )
    .await
}

async fn fail_create(
    state: &AppState,
    op: &Operation,
    health: &str,
    reason: &str,
    message: &str,
) -> Result<(), StepError> {
    let db = load(state, &op.database_id).await?;
    if !matches!(
        db.status,
        DatabaseStatus::Pending | DatabaseStatus::Provisioning
    ) {
        // Running, failed or deleting already: not this create's to undo.
        return Ok(());
    }
    // Removed first, while the status still belongs to the operation, so that no watcher event
    // can revive a resource that is about to go.
    // Progress only grows: below this no attempt ever sent the KubeDB resource.
    let may_exist = op.progress >= CREATING;
    let removed = remove_what_it_made(state, &db, may_exist).await;
    let moved = state
        .store
        .patch_database(
            &db.id,
            &DatabasePatch {
                status: Some(DatabaseStatus::Failed),
                expect_status: vec![DatabaseStatus::Pending, DatabaseStatus::Provisioning],
                health_status: Some(Some(health.into())),
                conditions: Some(serde_json::json!([{
                    "type": "ProvisioningFailed", "status": "True",
                    "reason": reason, "message": message,
                    "lastTransitionTime": Utc::now().to_rfc3339(),
                }])),
                ..Default::default()
            },
            Utc::now(),
        )
        .await?;
    let gone = match removed {
        Ok(true) => true,
        // Still going: the watcher releases when it sees it gone from now on (the record is
        // failed); one more look covers a disappearance between the removal and that write.
        Ok(false) => still_gone(state, &db).await,
        Err(_) => false,
    };
    if moved && gone {
        release_failed(state, &db).await?;
    }
    state.ops.database_changed(&db.id);
    removed.map(|_| ())
}

async fn still_gone(state: &AppState, db: &Database) -> bool {
    let (Some(ns), Some(name)) = (db.namespace.as_deref(), db.kubedb_resource_name.as_deref())
    else {
        return true;
    };
    match cluster_of(state, db).await {
        // Another owner's object under this name is not this database's to wait for.
        Ok((cluster, _)) => matches!(
            cluster
                .get_owned_database(db.engine, ns, name, &Owner::of(db))
                .await,
            Ok(None) | Err(provider::ProviderError::Conflict(_))
        ),
        Err(_) => false,
    }
}

/// Deletes the KubeDB resource a create made (only one that carries this database's id), then its
/// network policy and auth secret. True when the resource is gone (or was never made).
async fn remove_what_it_made(
    state: &AppState,
    db: &Database,
    may_exist: bool,
) -> Result<bool, StepError> {
    let (Some(ns), Some(name)) = (db.namespace.as_deref(), db.kubedb_resource_name.as_deref())
    else {
        // Nothing was made in the cluster.
        return Ok(true);
    };
    let policy = translate::network_policy_name(name);
    let secret = provider::kubedb::names::auth_secret_name(name);
    let owner = Owner::of(db);
    if !may_exist {
        // No KubeDB resource, so nothing that holds quota: the policy and secret are removed if
        // the cluster answers, and otherwise go with the namespace or a later delete.
        if let Ok((cluster, _)) = cluster_of(state, db).await {
            let _ = cluster
                .delete_object("networking.k8s.io/v1", "NetworkPolicy", ns, &policy, &owner)
                .await;
            let _ = cluster
                .delete_object("v1", "Secret", ns, &secret, &owner)
                .await;
        }
        return Ok(true);
    }
    let (cluster, _) = cluster_of(state, db).await?;
    let gone = match in_place(|| cluster.get_owned_database(db.engine, ns, name, &owner)).await {
        Ok(None) => true,
        Ok(Some(_)) => {
            in_place(|| cluster.delete_database(db.engine, ns, name, &owner, true)).await?;
            in_place(|| cluster.get_owned_database(db.engine, ns, name, &owner))
                .await?
                .is_none()
        }
        // Another's resource under this name: never touched, and not ours to wait for.
        Err(provider::ProviderError::Conflict(_)) => true,
        Err(e) => return Err(e.into()),
    };
    foreign_is_not_ours(
        in_place(|| {
            cluster.delete_object("networking.k8s.io/v1", "NetworkPolicy", ns, &policy, &owner)
        })
        .await,
    )?;
    foreign_is_not_ours(
        in_place(|| cluster.delete_object("v1", "Secret", ns, &secret, &owner)).await,
    )?;
    Ok(gone)
}

/// Clean-up of what a create made: another owner's object under the name is left alone, and
/// is not a failure of the clean-up.
fn foreign_is_not_ours(result: Result<(), provider::ProviderError>) -> Result<(), StepError> {
    match result {
        Err(provider::ProviderError::Conflict(_)) => Ok(()),
        other => other.map_err(StepError::from),
    }
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

/// Gives a failed database's reservation back (idempotent).
pub async fn release_failed(state: &AppState, db: &Database) -> Result<(), StepError> {
    state.store.release_reservation(&db.id, None).await?;
    state.invalidate_quota(&db.domain, Some(&db.project)).await;
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

/// Namespaces (by label) a tenant lets reach its databases, from the tenant's metadata
/// `allowed_namespace_labels: {key: value}`.
pub(crate) async fn allowed_namespace_labels(
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
