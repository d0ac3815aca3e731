//! Day-2 changes of a live database: scale (horizontal, vertical, storage), upgrade, restart,
//! reconfigure, rotate credentials (each through the engine's KubeDB OpsRequest, named after the
//! operation), and pause/resume (`spec.halted` with `deletionPolicy: Halt`). Each run moves the
//! database into the status the domain's transition table names, submits its change once, then
//! parks until KubeDB reports the outcome (watch event or re-check): no worker waits on Kubernetes.
//! Success records what KubeDB now runs; failure puts the record back as it was, with KubeDB's
//! reason, and gives back what was reserved for the change.

use std::collections::BTreeMap;

use chrono::Utc;
use domain::day2::{holds_storage_only, Shape};
use domain::lifecycle::{self, Transition};
use domain::model::{CurrentState, Database, Operation};
use domain::status::{DatabaseStatus, OperationType};
use provider::day2::OpsChange;
use provider::translate::Owner;
use provider::Cluster;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::{DatabaseChange, DatabasePatch, DatabaseSettings, Reservation};

use super::create::{cluster_of, load, owned};
use super::{in_place, OpCtx, Step, StepError};
use crate::context::Committed;
use crate::state::AppState;

/// What a day-2 operation carries in `desired_state`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Day2Desired {
    /// Resizes: the desired shape before and after this step (a failure restores `before`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Shape>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Shape>,
    /// Upgrades: catalog names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version: Option<String>,
    /// Reconfigure: engine configuration keys and values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
    /// Rotate credentials: the new (username, password), sealed with the platform key; hidden
    /// from responses like a create's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// Restore in place: which backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<super::backup::RestoreFrom>,
}

impl Day2Desired {
    pub fn of(op: &Operation) -> Result<Day2Desired, StepError> {
        serde_json::from_value(op.desired_state.clone()).map_err(|e| {
            StepError::Permanent(format!("the operation's desired state is unreadable: {e}"))
        })
    }
}

/// The deletion policy a running database has: what a resume restores.
pub fn running_policy(db: &Database) -> &'static str {
    if db.deletion_protection {
        "DoNotTerminate"
    } else {
        "Delete"
    }
}

/// Progress at which the change has been sent to the cluster: a later run only follows it.
const SUBMITTED: i32 = 50;

pub(super) async fn run(ctx: &mut OpCtx) -> Result<Step, StepError> {
    let state = ctx.state.clone();
    let db = load(&state, &ctx.op.database_id).await?;
    let kind = ctx.op.op_type;
    if matches!(
        db.status,
        DatabaseStatus::Deleting | DatabaseStatus::Deleted
    ) {
        return Ok(Step::Done(
            "nothing to do: the database is being deleted".into(),
        ));
    }
    let t =
        lifecycle::check_start(kind, db.status).map_err(|e| StepError::Permanent(e.to_string()))?;
    let desired = Day2Desired::of(&ctx.op)?;
    let (Some(ns), Some(name)) = (db.namespace.clone(), db.kubedb_resource_name.clone()) else {
        return Err(StepError::Permanent(
            "the database was never placed in a cluster".into(),
        ));
    };
    if db.status != t.during {
        let moved = state
            .store
            .patch_database(
                &db.id,
                &DatabasePatch {
                    status: Some(t.during),
                    expect_status: t.from.to_vec(),
                    ..Default::default()
                },
                Utc::now(),
            )
            .await?;
        if !moved {
            return Err(StepError::Transient(
                "the database changed state as the operation started".into(),
            ));
        }
        state.ops.database_changed(&db.id);
    }
    let (cluster, _) = cluster_of(&state, &db).await?;
    let at = Place {
        cluster: &cluster,
        db: &db,
        ns: &ns,
        name: &name,
    };
    match kind {
        OperationType::Pause | OperationType::Resume => {
            let step = halt(ctx, &at, t).await?;
            if matches!(step, Step::Done(_)) {
                // Scheduled backups hold while the database is paused, and go on after.
                let mut now = db.clone();
                now.status = t.after;
                let configured = crate::workflows::backups::configure(
                    &state.workflows(),
                    &cluster,
                    &now,
                    &ns,
                    &name,
                    None,
                )
                .await;
                if let Err(e) = configured {
                    tracing::warn!(database = %db.id, error = %e, "the backup schedule could not follow the pause or resume");
                }
            }
            Ok(step)
        }
        OperationType::Backup | OperationType::Restore => {
            let at = super::backup::At {
                cluster: &cluster,
                db: &db,
                ns: &ns,
                name: &name,
            };
            let from =
                match kind {
                    OperationType::Restore => Some(desired.restore.as_ref().ok_or_else(|| {
                        StepError::Permanent("the restore names no backup".into())
                    })?),
                    _ => None,
                };
            super::backup::run(ctx, &at, t, from).await
        }
        _ => through_ops_request(ctx, &at, t, &desired).await,
    }
}

/// Names of the Secrets an operation makes (derived from its id, so a retry finds its own).
pub struct SecretNames {
    pub config: String,
    pub auth: String,
}

impl SecretNames {
    pub fn of(op_id: &str) -> SecretNames {
        SecretNames {
            config: provider::day2::config_secret_name(op_id),
            auth: provider::day2::rotated_auth_secret_name(op_id),
        }
    }
}

/// The OpsRequest change an operation of `kind` asks KubeDB for.
pub fn ops_change<'a>(
    kind: OperationType,
    desired: &'a Day2Desired,
    names: &'a SecretNames,
) -> Result<OpsChange<'a>, String> {
    let shape = |what: &str| {
        desired
            .after
            .ok_or_else(|| format!("the operation names no new {what}"))
    };
    Ok(match kind {
        OperationType::ScaleHorizontal => OpsChange::HorizontalScaling {
            replicas: shape("replica count")?.replicas,
        },
        OperationType::ScaleVertical => OpsChange::VerticalScaling {
            size: shape("size")?.size,
        },
        OperationType::ExpandStorage => OpsChange::VolumeExpansion {
            storage_gb: shape("storage")?.storage_gb,
        },
        OperationType::UpgradeVersion => OpsChange::UpdateVersion {
            version_name: desired
                .target_version
                .as_deref()
                .ok_or("the operation names no target version")?,
        },
        OperationType::Restart => OpsChange::Restart,
        OperationType::Reconfigure => OpsChange::Reconfigure {
            config_secret: &names.config,
        },
        OperationType::RotateAuth => OpsChange::RotateAuth {
            secret_name: &names.auth,
        },
        other => return Err(format!("'{other}' is not carried out by an OpsRequest")),
    })
}

/// Where the database runs.
struct Place<'a> {
    cluster: &'a Cluster,
    db: &'a Database,
    ns: &'a str,
    name: &'a str,
}

/// Pause: `spec.halted: true` with `deletionPolicy: Halt` (KubeDB removes the pods, keeps the
/// volumes), done at phase `Halted`. Resume: `halted: false` with the record's policy, done at `Ready`.
async fn halt(ctx: &mut OpCtx, at: &Place<'_>, t: Transition) -> Result<Step, StepError> {
    let pause = ctx.op.op_type == OperationType::Pause;
    let db = at.db;
    let owner = Owner::of(db);
    if ctx.op.progress < SUBMITTED {
        // A resume restores the policy the record names now (deletion protection may have
        // changed while the database was paused).
        let policy = if pause { "Halt" } else { running_policy(db) };
        ctx.progress(
            30,
            if pause {
                "halting the database"
            } else {
                "starting the database again"
            },
        )
        .await?;
        owned(
            ctx,
            in_place(|| {
                at.cluster
                    .set_halted(db.engine, at.ns, at.name, &owner, pause, policy)
            })
            .await,
        )
        .await?;
        ctx.progress(SUBMITTED, "waiting for KubeDB").await?;
    }
    let observed = owned(
        ctx,
        in_place(|| {
            at.cluster
                .get_owned_database(db.engine, at.ns, at.name, &owner)
        })
        .await,
    )
    .await?
    .ok_or_else(|| {
        StepError::Permanent(format!("the KubeDB resource {}/{} is gone", at.ns, at.name))
    })?;
    let want = if pause { "Halted" } else { "Ready" };
    let phase = observed.phase.clone().unwrap_or_default();
    if phase == want && observed.halted == pause {
        return finish(ctx, db, t, None).await;
    }
    if ctx.op.ops_request_phase.as_deref() != Some(phase.as_str()) {
        ctx.op.ops_request_phase = Some(phase.clone());
        ctx.progress(60, &format!("KubeDB phase: {phase}; waiting for {want}"))
            .await?;
    }
    Ok(Step::Park {
        waiting_for: format!(
            "KubeDB resource {}/{} to report {want} (phase {phase})",
            at.ns, at.name
        ),
    })
}

/// Every other change: one OpsRequest named after the operation; a retried or resumed run finds it.
async fn through_ops_request(
    ctx: &mut OpCtx,
    at: &Place<'_>,
    t: Transition,
    desired: &Day2Desired,
) -> Result<Step, StepError> {
    let db = at.db;
    let owner = Owner::of(db);
    let ops_name = provider::day2::ops_request_name(&ctx.op.id);
    if ctx.op.progress < SUBMITTED {
        ctx.progress(20, "preparing the OpsRequest").await?;
        let names = SecretNames::of(&ctx.op.id);
        match ctx.op.op_type {
            OperationType::Reconfigure => {
                let config = desired.config.clone().unwrap_or_default();
                let secret = provider::day2::config_secret(db, at.ns, &ctx.op.id, &config);
                owned(ctx, in_place(|| at.cluster.ensure_object(&secret)).await).await?;
            }
            OperationType::RotateAuth => {
                let sealed = desired.credentials.as_deref().ok_or_else(|| {
                    StepError::Permanent("the operation carries no new credentials".into())
                })?;
                let plain = ctx
                    .state
                    .secrets
                    .decrypt(sealed)
                    .map_err(|e| StepError::Permanent(format!("sealed credentials: {e}")))?;
                let (user, password): (Option<String>, String) = serde_json::from_str(&plain)
                    .map_err(|e| StepError::Permanent(format!("sealed credentials: {e}")))?;
                // The user stays; only the password changes.
                let user = match user {
                    Some(u) => u,
                    None => owned(
                        ctx,
                        in_place(|| {
                            at.cluster
                                .read_credentials(db.engine, at.ns, at.name, &owner)
                        })
                        .await,
                    )
                    .await?
                    .map(|(u, _)| u)
                    .unwrap_or_else(|| {
                        provider::translate::default_username(db.engine, &db.version).to_string()
                    }),
                };
                let secret =
                    provider::day2::rotated_auth_secret(db, at.ns, &ctx.op.id, &user, &password);
                owned(ctx, in_place(|| at.cluster.ensure_object(&secret)).await).await?;
            }
            _ => {}
        }
        let change = ops_change(ctx.op.op_type, desired, &names).map_err(StepError::Permanent)?;
        let object = provider::day2::ops_request(db, at.ns, &ctx.op.id, &change);
        ctx.progress(30, &format!("submitting {} {ops_name}", change.ops_type()))
            .await?;
        owned(
            ctx,
            in_place(|| at.cluster.submit_ops_request(db.engine, &object, &owner)).await,
        )
        .await?;
        ctx.op.ops_request_name = Some(ops_name.clone());
        ctx.progress(SUBMITTED, "OpsRequest submitted; waiting for KubeDB")
            .await?;
    }
    let seen = owned(
        ctx,
        in_place(|| {
            at.cluster
                .get_ops_request(db.engine, at.ns, &ops_name, &owner)
        })
        .await,
    )
    .await?
    .ok_or_else(|| {
        StepError::Permanent(format!(
            "the OpsRequest {}/{ops_name} disappeared before it finished",
            at.ns
        ))
    })?;
    let phase = seen.phase.clone().unwrap_or_else(|| "Pending".into());
    match phase.as_str() {
        "Successful" => {
            if recorded(db, ctx.op.op_type, desired) {
                // The record keeps the phase the OpsRequest ended in, not the last one seen.
                if ctx.op.ops_request_phase.as_deref() != Some("Successful") {
                    ctx.op.ops_request_phase = Some(phase);
                    ctx.progress(90, "KubeDB reports the OpsRequest Successful")
                        .await?;
                }
                // The watcher has recorded what KubeDB now runs: finishing after it means none of
                // its older events (still on their way) can write an older shape over ours.
                return finish(ctx, db, t, None).await;
            }
            // No watcher confirmed it within a re-check interval: none runs here; the read decides.
            let now = Utc::now();
            match ctx.op.estimated_completion_at {
                Some(by) if now >= by => return finish(ctx, db, t, Some((at, desired))).await,
                Some(_) => {}
                None => {
                    let recheck = ctx.state.config.park_recheck_secs.max(1) as i64;
                    ctx.op.estimated_completion_at = Some(now + chrono::Duration::seconds(recheck));
                    ctx.op.ops_request_phase = Some(phase);
                    ctx.progress(90, "KubeDB reports the OpsRequest Successful")
                        .await?;
                }
            }
            Ok(Step::Park {
                waiting_for: format!(
                    "the status watcher to see the result of OpsRequest {}/{ops_name}",
                    at.ns
                ),
            })
        }
        "Failed" | "Denied" | "Skipped" => Err(StepError::Permanent(format!(
            "KubeDB's OpsRequest {ops_name} ended {phase}: {}",
            seen.reason
                .clone()
                .unwrap_or_else(|| "no reason given".into())
        ))),
        _ => {
            if ctx.op.ops_request_phase.as_deref() != Some(phase.as_str()) {
                ctx.op.ops_request_phase = Some(phase.clone());
                ctx.progress(60, &format!("OpsRequest {phase}")).await?;
            }
            Ok(Step::Park {
                waiting_for: format!("OpsRequest {}/{ops_name} to finish (phase {phase})", at.ns),
            })
        }
    }
}

/// Whether the record's `current` (what the watcher saw KubeDB run) shows the change already.
fn recorded(db: &Database, kind: OperationType, d: &Day2Desired) -> bool {
    let after = d.after;
    match kind {
        OperationType::ScaleHorizontal => db.current.replicas == after.map(|a| a.replicas),
        OperationType::ScaleVertical => db.current.size == after.map(|a| a.size),
        OperationType::ExpandStorage => db.current.storage_gb == after.map(|a| a.storage_gb),
        OperationType::UpgradeVersion => db.current.version == d.target_version,
        _ => true,
    }
}

/// The change is done: the record shows what now runs, the status the table names, and the
/// database holds what its shape needs (a shrink gives the difference back).
async fn finish(
    ctx: &mut OpCtx,
    db: &Database,
    t: Transition,
    changed: Option<(&Place<'_>, &Day2Desired)>,
) -> Result<Step, StepError> {
    let state = ctx.state.clone();
    let mut current = db.current.clone();
    let read_ourselves = changed.is_some();
    if let Some((at, desired)) = changed {
        // What KubeDB now runs; the changed field from the request KubeDB just completed, in case
        // its spec update is still on its way to the watch.
        if let Ok(Some(o)) = at
            .cluster
            .get_owned_database(db.engine, at.ns, at.name, &Owner::of(db))
            .await
        {
            current = CurrentState {
                size: o.size.or(current.size),
                storage_gb: o.storage_gb.or(current.storage_gb),
                replicas: o.replicas.or(current.replicas),
                version: o.version.or(current.version),
            };
        }
        match ctx.op.op_type {
            OperationType::ScaleHorizontal => {
                current.replicas = desired.after.map(|s| s.replicas).or(current.replicas)
            }
            OperationType::ScaleVertical => {
                current.size = desired.after.map(|s| s.size).or(current.size)
            }
            OperationType::ExpandStorage => {
                current.storage_gb = desired.after.map(|s| s.storage_gb).or(current.storage_gb)
            }
            OperationType::UpgradeVersion => {
                current.version = desired.target_version.clone().or(current.version)
            }
            _ => {}
        }
    }
    let change = DatabaseChange {
        patch: DatabasePatch {
            status: Some(t.after),
            expect_status: vec![t.during],
            // The watcher's record stands unless this run had to read the cluster itself.
            current: read_ourselves.then_some(current),
            health_status: Some(Some(
                if t.after == DatabaseStatus::Paused {
                    "halted"
                } else {
                    "healthy"
                }
                .into(),
            )),
            ..Default::default()
        },
        reserve: Some(Reservation::Settle {
            storage_only: holds_storage_only(t.after),
        }),
        ..Default::default()
    };
    let moved = state
        .store
        .apply_change(&db.id, &change, Utc::now())
        .await?;
    state
        .workflows()
        .committed(Committed {
            database: Some(&db.id),
            quota_of: Some((&db.domain, Some(&db.project))),
            ..Default::default()
        })
        .await;
    Ok(Step::Done(if moved {
        format!("the database is {}", t.after)
    } else {
        "done; the database changed state meanwhile".into()
    }))
}

/// [`finish`], telling how it ended in its own words.
pub(super) async fn finish_with(
    ctx: &mut OpCtx,
    db: &Database,
    t: Transition,
    message: String,
) -> Result<Step, StepError> {
    finish(ctx, db, t, None).await?;
    Ok(Step::Done(message))
}

/// A failed or timed-out change: the record goes back as it was, with KubeDB's reason.
pub(super) async fn on_failure(ctx: &OpCtx, error: &str) -> Result<(), StepError> {
    roll_back(&ctx.state, &ctx.op, "OperationFailed", error).await
}

/// A cancelled change (never started, or queued again for a retry) leaves the record as if it had
/// never been asked for.
pub async fn after_cancel(state: &AppState, op: &Operation) -> Result<(), StepError> {
    roll_back(state, op, "Cancelled", "the operation was cancelled").await
}

async fn roll_back(
    state: &AppState,
    op: &Operation,
    reason: &str,
    message: &str,
) -> Result<(), StepError> {
    let Some(t) = lifecycle::transition(op.op_type) else {
        return Ok(());
    };
    let db = load(state, &op.database_id).await?;
    if matches!(
        db.status,
        DatabaseStatus::Deleting | DatabaseStatus::Deleted
    ) {
        return Ok(());
    }
    let desired = Day2Desired::of(op)?;
    let settings = reverted_settings(&db, op.op_type, &desired);
    // Back where it started, unless KubeDB says the database is not healthy any more.
    let (status, expect_status) = if db.status == t.during {
        let unhealthy = db.kubedb_phase.as_deref() == Some("NotReady");
        let back = if unhealthy {
            DatabaseStatus::Failed
        } else {
            t.from[0]
        };
        (Some(back), vec![t.during])
    } else {
        (None, Vec::new())
    };
    let after = status.unwrap_or(db.status);
    let change = DatabaseChange {
        patch: DatabasePatch {
            status,
            expect_status,
            conditions: Some(json!([{
                "type": "OperationFailed", "status": "True", "reason": reason,
                "message": format!("{} {}: {message}", op.op_type, op.id),
                "lastTransitionTime": Utc::now().to_rfc3339(),
            }])),
            ..Default::default()
        },
        settings,
        reserve: Some(Reservation::Settle {
            storage_only: holds_storage_only(after),
        }),
        ..Default::default()
    };
    if !state
        .store
        .apply_change(&db.id, &change, Utc::now())
        .await?
    {
        tracing::warn!(database = %db.id, op = %op.id, "the database moved on before its failed change was rolled back");
    }
    state
        .workflows()
        .committed(Committed {
            database: Some(&db.id),
            quota_of: Some((&db.domain, Some(&db.project))),
            ..Default::default()
        })
        .await;
    Ok(())
}

/// The desired settings a failed change gave the record, put back, unless a later request has
/// changed them again since, or the cluster runs the target already (a duplicate of a change that
/// succeeded).
fn reverted_settings(db: &Database, kind: OperationType, d: &Day2Desired) -> DatabaseSettings {
    let mut s = DatabaseSettings::default();
    let now = &db.current;
    if let (Some(before), Some(after)) = (d.before, d.after) {
        match kind {
            OperationType::ScaleHorizontal
                if db.replicas == after.replicas && now.replicas != Some(after.replicas) =>
            {
                s.replicas = Some(before.replicas)
            }
            OperationType::ScaleVertical
                if db.size == after.size && now.size != Some(after.size) =>
            {
                s.size = Some(before.size)
            }
            OperationType::ExpandStorage
                if db.storage_gb == after.storage_gb
                    && now.storage_gb != Some(after.storage_gb) =>
            {
                s.storage_gb = Some(before.storage_gb)
            }
            _ => {}
        }
    }
    if kind == OperationType::UpgradeVersion
        && d.target_version.as_deref() == Some(&db.version)
        && now.version != d.target_version
    {
        s.version = d.from_version.clone();
    }
    s
}
