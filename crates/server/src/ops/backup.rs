//! `backup` (on demand) and `restore` (in place, or the restore half of a clone's create), through
//! KubeStash. Each submits its session once (named after the operation, so a retry finds its own),
//! then parks until KubeStash reports the outcome: the backup watcher's event wakes it.

use chrono::Utc;
use domain::backup::BackupStatus;
use domain::lifecycle::Transition;
use domain::model::Database;
use provider::backup::{self as kubestash, ObservedSession, RestoreSource};
use provider::translate::Owner;
use provider::Cluster;
use serde::{Deserialize, Serialize};

use super::create::owned;
use super::{in_place, OpCtx, Step, StepError};
use crate::workflows::backups::{configure, ConfigureError, Configured};

/// Progress once the session has been sent (its name is noted with it: a later run only follows it).
const SUBMITTED: i32 = 50;

/// What a restore reads from (carried in the operation's `desired_state`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RestoreFrom {
    /// The database whose backup it is.
    pub source_database_id: String,
    /// Its namespace and KubeDB object name (where its repository and key are).
    pub source_namespace: String,
    pub source_name: String,
    /// The Snapshot's name, or `latest`.
    pub snapshot: String,
    /// The backup id the caller named (for messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
}

pub(super) fn configure_error(e: ConfigureError) -> StepError {
    match e {
        ConfigureError::Store(e) => e.into(),
        ConfigureError::Cluster(e) => e.into(),
    }
}

/// The message of a backup that cannot run for want of storage.
pub const NO_STORAGE: &str = "no backup storage is configured for this database: a platform admin sets one with PUT /api/v1/providers/{id}/backup-storage (or the tenant's with PUT /api/v1/tenants/{domain}/backup-storage)";

/// Where a database runs, as a backup or restore needs it.
pub(super) struct At<'a> {
    pub cluster: &'a Cluster,
    pub db: &'a Database,
    pub ns: &'a str,
    pub name: &'a str,
}

/// An on-demand backup: one BackupSession of the database's BackupConfiguration.
pub(super) async fn backup(ctx: &mut OpCtx, at: &At<'_>) -> Result<BackupProgress, StepError> {
    let db = at.db;
    let owner = Owner::of(db);
    let session_name = kubestash::manual_session_name(at.name, &ctx.op.id);
    // Submitted once: the session's name is noted with it (progress alone also moves while the
    // operation waits for the configuration).
    if ctx.op.ops_request_name.as_deref() != Some(session_name.as_str()) {
        ctx.progress(20, "making sure the backup configuration is in place")
            .await?;
        // The configuration as the cluster has it; written again (with its storage objects)
        // only when it is missing or says something else than the record.
        let bc_name = kubestash::configuration_name(at.name);
        let read_configuration = || async {
            owned(
                ctx,
                in_place(|| {
                    at.cluster.get_owned_object(
                        kubestash::CORE_API,
                        "BackupConfiguration",
                        at.ns,
                        &bc_name,
                        &owner,
                    )
                })
                .await,
            )
            .await
        };
        let mut bc = read_configuration().await?;
        let current = match &bc {
            Some(o) => {
                crate::workflows::backups::configuration_current(
                    &ctx.state.workflows(),
                    db,
                    at.ns,
                    at.name,
                    &o.data,
                )
                .await?
            }
            None => false,
        };
        if !current {
            let configured =
                match configure(&ctx.state.workflows(), at.cluster, db, at.ns, at.name, None).await
                {
                    Err(ConfigureError::Cluster(e)) => owned(ctx, Err(e)).await?,
                    other => other.map_err(configure_error)?,
                };
            if configured == Configured::NoStorage {
                return Err(StepError::Permanent(NO_STORAGE.into()));
            }
            bc = read_configuration().await?;
        }
        // KubeStash skips a session of a configuration that is not Ready yet (just made or
        // changed): wait for it; its watch event wakes the operation.
        let phase = bc
            .as_ref()
            .and_then(|o| o.data.pointer("/status/phase"))
            .and_then(|p| p.as_str())
            .unwrap_or("Pending")
            .to_string();
        match phase.as_str() {
            "Ready" => {}
            "Invalid" => {
                let why = bc
                    .as_ref()
                    .map(kubestash::observe_session)
                    .and_then(|s| s.reason)
                    .unwrap_or_else(|| "no reason given".into());
                return Err(StepError::Permanent(format!(
                    "KubeStash finds the BackupConfiguration {}/{bc_name} invalid: {why}",
                    at.ns
                )));
            }
            _ => {
                ctx.progress(
                    30,
                    &format!("KubeStash: BackupConfiguration {phase}; waiting for Ready"),
                )
                .await?;
                return Ok(BackupProgress::Park(format!(
                    "BackupConfiguration {}/{bc_name} to become Ready (phase {phase})",
                    at.ns
                )));
            }
        }
        let session = kubestash::backup_session(db, at.ns, at.name, &ctx.op.id);
        owned(ctx, in_place(|| at.cluster.ensure_object(&session)).await).await?;
        ctx.op.ops_request_name = Some(session_name.clone());
        ctx.progress(SUBMITTED, "BackupSession submitted; waiting for KubeStash")
            .await?;
    }
    let seen = match observe(
        ctx,
        at,
        kubestash::CORE_API,
        "BackupSession",
        &session_name,
        &owner,
    )
    .await?
    {
        Some(seen) => seen,
        // KubeStash keeps few finished sessions (sessionHistoryLimit): one that ended and was
        // cleaned up before this look is known by the Snapshots it left.
        None => left_behind(at, &session_name)
            .await?
            .ok_or_else(|| disappeared("BackupSession", at.ns, &session_name))?,
    };
    match seen.phase.as_str() {
        "Succeeded" => {
            let mut ids = Vec::new();
            let snapshots = kubestash::snapshot_resource();
            for snap in &seen.snapshots {
                let obj = in_place(|| at.cluster.get_object_in(&snapshots, at.ns, snap)).await?;
                if let Some(obj) = obj {
                    let observed = kubestash::observe_snapshot(&obj);
                    if let Some(b) = crate::backup_watch::record_of(db, &observed, Utc::now()) {
                        ctx.state.store.upsert_backup(&b, None).await?;
                        ids.push(b.id);
                    }
                }
            }
            Ok(BackupProgress::Done(format!(
                "backup {} completed",
                ids.join(", ")
            )))
        }
        "Failed" | "Skipped" | "Invalid" => Err(StepError::Permanent(format!(
            "KubeStash's BackupSession {session_name} ended {}: {}",
            seen.phase,
            seen.reason.unwrap_or_else(|| "no reason given".into())
        ))),
        phase => {
            note_phase(ctx, phase).await?;
            Ok(BackupProgress::Park(format!(
                "BackupSession {}/{session_name} to finish (phase {phase})",
                at.ns
            )))
        }
    }
}

/// How far a backup or restore got.
pub(super) enum BackupProgress {
    Done(String),
    /// Waiting on KubeStash: what for.
    Park(String),
}

async fn note_phase(ctx: &mut OpCtx, phase: &str) -> Result<(), StepError> {
    if ctx.op.ops_request_phase.as_deref() != Some(phase) {
        ctx.op.ops_request_phase = Some(phase.to_string());
        ctx.progress(60, &format!("KubeStash: {phase}")).await?;
    }
    Ok(())
}

/// The failure of a session that is gone without an outcome to go by.
fn disappeared(kind: &str, ns: &str, name: &str) -> StepError {
    StepError::Permanent(format!(
        "the {kind} {ns}/{name} disappeared before it finished"
    ))
}

async fn observe(
    ctx: &OpCtx,
    at: &At<'_>,
    api_version: &str,
    kind: &str,
    name: &str,
    owner: &Owner<'_>,
) -> Result<Option<ObservedSession>, StepError> {
    let obj = owned(
        ctx,
        in_place(|| {
            at.cluster
                .get_owned_object(api_version, kind, at.ns, name, owner)
        })
        .await,
    )
    .await?;
    Ok(obj.as_ref().map(kubestash::observe_session))
}

/// What a finished BackupSession that is gone left: its Snapshots in the database's repository,
/// read as the session would have read (none: it left nothing to go by).
async fn left_behind(at: &At<'_>, session: &str) -> Result<Option<ObservedSession>, StepError> {
    let repository = kubestash::repository_name(at.name);
    let resource = kubestash::snapshot_resource();
    let snapshots: Vec<_> = in_place(|| at.cluster.list_objects_in(&resource, at.ns))
        .await?
        .iter()
        .map(kubestash::observe_snapshot)
        .filter(|s| s.backup_session == session && s.repository == repository)
        .collect();
    if snapshots.is_empty()
        || snapshots
            .iter()
            .any(|s| !matches!(s.status, BackupStatus::Succeeded | BackupStatus::Failed))
    {
        return Ok(None);
    }
    let failed = snapshots.iter().find(|s| s.status == BackupStatus::Failed);
    Ok(Some(ObservedSession {
        phase: if failed.is_some() {
            "Failed"
        } else {
            "Succeeded"
        }
        .into(),
        snapshots: snapshots.iter().map(|s| s.name.clone()).collect(),
        reason: failed.and_then(|s| s.error.clone()),
    }))
}

/// A restore into `at` (the database itself in place, or a new database made for it): one
/// RestoreSession. KubeStash holds the target's scheduled backups while it runs.
pub(super) async fn restore(
    ctx: &mut OpCtx,
    at: &At<'_>,
    from: &RestoreFrom,
) -> Result<BackupProgress, StepError> {
    let db = at.db;
    let owner = Owner::of(db);
    let name = kubestash::restore_session_name(at.name, &ctx.op.id);
    if ctx.op.ops_request_name.as_deref() != Some(name.as_str()) {
        let object = kubestash::restore_session(
            db,
            at.ns,
            at.name,
            RestoreSource {
                namespace: &from.source_namespace,
                name: &from.source_name,
                snapshot: &from.snapshot,
            },
            &ctx.op.id,
        );
        owned(ctx, in_place(|| at.cluster.ensure_object(&object)).await).await?;
        ctx.op.ops_request_name = Some(name.clone());
        ctx.progress(
            ctx.op.progress.max(SUBMITTED),
            "RestoreSession submitted; waiting for KubeStash",
        )
        .await?;
    }
    let seen = observe(
        ctx,
        at,
        kubestash::CORE_API,
        "RestoreSession",
        &name,
        &owner,
    )
    .await?
    .ok_or_else(|| disappeared("RestoreSession", at.ns, &name))?;
    match seen.phase.as_str() {
        "Succeeded" => Ok(BackupProgress::Done(format!(
            "restored {} from {}",
            at.name,
            from.backup_id.as_deref().unwrap_or(&from.snapshot)
        ))),
        "Failed" | "Invalid" | "Unknown" => Err(StepError::Permanent(format!(
            "KubeStash's RestoreSession {name} ended {}: {}",
            seen.phase,
            seen.reason.unwrap_or_else(|| "no reason given".into())
        ))),
        phase => {
            note_phase(ctx, phase).await?;
            Ok(BackupProgress::Park(format!(
                "RestoreSession {}/{name} to finish (phase {phase})",
                at.ns
            )))
        }
    }
}

/// A day-2 run of a backup or an in-place restore, ended the way the day-2 table says.
pub(super) async fn run(
    ctx: &mut OpCtx,
    at: &At<'_>,
    t: Transition,
    restore_from: Option<&RestoreFrom>,
) -> Result<Step, StepError> {
    let progress = match restore_from {
        Some(from) => restore(ctx, at, from).await?,
        None => backup(ctx, at).await?,
    };
    match progress {
        BackupProgress::Done(message) => super::day2::finish_with(ctx, at.db, t, message).await,
        BackupProgress::Park(waiting_for) => Ok(Step::Park { waiting_for }),
    }
}
