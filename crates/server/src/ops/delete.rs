//! `delete`: `deletionPolicy: WipeOut`, delete the KubeDB resource, park until it is gone, remove
//! the objects the platform made beside it, give the reservation back. The record stays as
//! `deleted` for audit.

use chrono::Utc;
use domain::status::DatabaseStatus;
use store::DatabasePatch;

use super::create::{cluster_of, load, owned};
use super::{in_place, OpCtx, Step, StepError};
use crate::context::Committed;

pub(super) async fn run(ctx: &mut OpCtx) -> Result<Step, StepError> {
    let state = ctx.state.clone();
    let db = load(&state, &ctx.op.database_id).await?;
    if db.status == DatabaseStatus::Deleted {
        return Ok(Step::Done("the database was already deleted".into()));
    }
    let live: Vec<DatabaseStatus> = DatabaseStatus::ALL
        .iter()
        .copied()
        .filter(|s| *s != DatabaseStatus::Deleted)
        .collect();
    state
        .store
        .patch_database(
            &db.id,
            &DatabasePatch {
                status: Some(DatabaseStatus::Deleting),
                expect_status: live,
                health_status: Some(Some("deleting".into())),
                ..Default::default()
            },
            Utc::now(),
        )
        .await?;
    state.ops.database_changed(&db.id);

    if let (Some(ns), Some(name)) = (db.namespace.as_deref(), db.kubedb_resource_name.as_deref()) {
        let (cluster, _) = cluster_of(&state, &db).await?;
        ctx.progress(20, "deleting the KubeDB resource (WipeOut)")
            .await?;
        let owner = provider::translate::Owner::of(&db);
        owned(
            ctx,
            in_place(|| cluster.delete_database(db.engine, ns, name, &owner, true)).await,
        )
        .await?;
        // Waiting for KubeDB to finish holds no worker: park until the watcher sees the resource
        // go (or the re-check). A resumed delete runs from the top, which is idempotent.
        match cluster
            .get_owned_database(db.engine, ns, name, &owner)
            .await
        {
            Err(e @ provider::ProviderError::Conflict(_)) => return owned(ctx, Err(e)).await,
            Ok(None) => {}
            Ok(Some(_)) => {
                ctx.progress(50, "waiting for the KubeDB resource to go")
                    .await?;
                return Ok(Step::Park {
                    waiting_for: format!("KubeDB resource {ns}/{name} to be deleted"),
                });
            }
            // A failed read only means "look again later".
            Err(e) if e.is_transient() => {
                tracing::debug!(error = %e, "reading the KubeDB resource failed; waiting on");
                return Ok(Step::Park {
                    waiting_for: format!(
                        "KubeDB resource {ns}/{name} to be deleted (the cluster did not answer)"
                    ),
                });
            }
            Err(e) => return Err(e.into()),
        }
        ctx.progress(80, "removing the network policy and credentials")
            .await?;
        let policy = provider::translate::network_policy_name(&db.name);
        owned(
            ctx,
            in_place(|| {
                cluster.delete_object("networking.k8s.io/v1", "NetworkPolicy", ns, &policy, &owner)
            })
            .await,
        )
        .await?;
        let secret = provider::kubedb::names::auth_secret_name(name);
        owned(
            ctx,
            in_place(|| cluster.delete_object("v1", "Secret", ns, &secret, &owner)).await,
        )
        .await?;
    }

    state.store.release_reservation(&db.id, None).await?;
    state
        .store
        .patch_database(
            &db.id,
            &DatabasePatch {
                status: Some(DatabaseStatus::Deleted),
                expect_status: vec![DatabaseStatus::Deleting],
                ready_replicas: Some(0),
                health_status: Some(None),
                endpoint: Some(None),
                port: Some(None),
                loadbalancer_ip: Some(None),
                ..Default::default()
            },
            Utc::now(),
        )
        .await?;
    state
        .workflows()
        .committed(Committed {
            database: Some(&db.id),
            quota_of: Some((&db.domain, Some(&db.project))),
            ..Default::default()
        })
        .await;
    Ok(Step::Done("the database was deleted".into()))
}

/// A delete that cannot finish leaves the database `failed` (its reservation stays: the resource
/// may still exist); deleting again retries.
pub(super) async fn on_failure(ctx: &OpCtx, error: &str) -> Result<(), StepError> {
    ctx.state
        .store
        .patch_database(
            &ctx.op.database_id,
            &DatabasePatch {
                status: Some(DatabaseStatus::Failed),
                expect_status: vec![DatabaseStatus::Deleting],
                health_status: Some(Some("delete failed".into())),
                conditions: Some(serde_json::json!([{
                    "type": "DeletionFailed", "status": "True",
                    "reason": "OperationFailed", "message": error,
                    "lastTransitionTime": Utc::now().to_rfc3339(),
                }])),
                ..Default::default()
            },
            Utc::now(),
        )
        .await?;
    ctx.state.ops.database_changed(&ctx.op.database_id);
    Ok(())
}
