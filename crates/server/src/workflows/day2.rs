//! Queueing day-2 changes of a database: the domain checks the request and the transition, the
//! change (desired settings, reservation, queued operations and the audit entry) commits in one
//! store transaction, and only then are workers woken and caches invalidated. A dry run returns
//! the same plan and writes nothing.

use chrono::Utc;
use domain::day2::{covering, Shape};
use domain::ids::{new_id, IdKind};
use domain::lifecycle;
use domain::model::{Database, Operation, PageRequest};
use domain::quota::Usage;
use domain::status::{OperationStatus, OperationType};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{DatabaseChange, DatabasePatch, DatabaseSettings, OperationFilter, Reservation};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::ops::day2::{ops_change, Day2Desired, SecretNames};
use crate::routes::databases::DatabaseResponse;
use crate::state::Audit;
use crate::workflows::{Actor, Committed, Ctx};

/// One change a request asks for.
pub struct Request<'a> {
    /// The audit action (`database.scale`, …).
    pub action: &'a str,
    /// Operations to queue, in order, each with its desired state.
    pub operations: Vec<(OperationType, Day2Desired)>,
    /// Desired settings written at once (and put back if an operation fails).
    pub settings: DatabaseSettings,
    /// The names of the settings that change, for the answer.
    pub changed: Vec<String>,
    /// What the database must hold while the operations run.
    pub reserve: Option<Reservation>,
    /// Audit details beyond the operation ids.
    pub details: Value,
}

/// An operation as a day-2 answer lists it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueuedOperation {
    pub id: String,
    #[serde(rename = "type")]
    pub op_type: OperationType,
    pub status: OperationStatus,
    pub poll_url: String,
}

/// The answer to a day-2 request: the database, what changed and what was queued.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Day2Response {
    #[serde(flatten)]
    pub database: DatabaseResponse,
    pub changed: Vec<String>,
    pub operations: Vec<QueuedOperation>,
}

/// What a dry run would do.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanResponse {
    pub dry_run: bool,
    pub database_id: String,
    pub changed: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub operations: Vec<Value>,
    /// The Kubernetes objects the operations would create or patch.
    #[schema(value_type = Vec<Object>)]
    pub kubernetes_objects: Vec<Value>,
    /// What the database would hold in addition (negative: give back) against its quotas.
    pub quota_delta: Usage,
}

pub enum Outcome {
    Queued(Box<Day2Response>),
    Planned(Box<PlanResponse>),
}

/// The types of the database's unfinished operations, in the order they run.
pub async fn unfinished(ctx: &Ctx<'_>, database_id: &str) -> ApiResult<Vec<OperationType>> {
    let mut ops: Vec<Operation> = Vec::new();
    for status in [OperationStatus::InProgress, OperationStatus::Queued] {
        let page = ctx
            .store
            .list_operations(
                &OperationFilter {
                    database_id: Some(database_id.to_string()),
                    status: Some(status),
                    ..Default::default()
                },
                PageRequest {
                    page: 1,
                    page_size: 100,
                },
            )
            .await?;
        ops.extend(page.items);
    }
    // Ids are time-ordered: creation order is queue order.
    ops.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(ops.into_iter().map(|o| o.op_type).collect())
}

/// Checks, then queues (or plans, on a dry run) the request's change of `db`.
pub async fn submit(
    ctx: &Ctx<'_>,
    caller: Actor<'_>,
    db: Database,
    req: Request<'_>,
    dry_run: bool,
) -> ApiResult<Outcome> {
    let mut db = db;
    // The status is compared and set in the store; a worker moving it meanwhile (an earlier
    // operation starting or ending) only means checking again against what it is now.
    for _ in 0..5 {
        if let Some(done) = try_submit(ctx, &caller, &db, &req, dry_run).await? {
            return Ok(done);
        }
        db = ctx
            .store
            .get_database(&db.id)
            .await?
            .ok_or_else(|| ApiError::not_found("Database", &db.id))?;
    }
    Err(ApiError::conflict(format!(
        "database '{}' keeps changing state; look at it again and retry",
        db.name
    )))
}

/// One attempt; None when the database's status moved between the check and the write.
async fn try_submit(
    ctx: &Ctx<'_>,
    caller: &Actor<'_>,
    db: &Database,
    req: &Request<'_>,
    dry_run: bool,
) -> ApiResult<Option<Outcome>> {
    let mut queue = unfinished(ctx, &db.id).await?;
    for (kind, _) in &req.operations {
        lifecycle::check_queue(*kind, db.status, &queue)?;
        queue.push(*kind);
    }
    let mut operations = Vec::new();
    for (kind, desired) in &req.operations {
        let mut op = ctx.new_operation(&new_id(IdKind::Operation), db, *kind, caller.user_id);
        op.desired_state = serde_json::to_value(desired).expect("serialisable");
        operations.push(op);
    }
    if dry_run {
        return Ok(Some(Outcome::Planned(Box::new(plan(db, req, &operations)))));
    }
    let ids: Vec<&str> = operations.iter().map(|o| o.id.as_str()).collect();
    let mut details = json!({"operation_ids": ids, "changed": req.changed});
    if let (Value::Object(d), Value::Object(extra)) = (&mut details, req.details.clone()) {
        d.extend(extra);
    }
    let audit = Audit::new(req.action, "database")
        .id(&db.id)
        .scope(Some(&db.domain), Some(&db.project))
        .by(caller.user_id, caller.email)
        .status(if operations.is_empty() { 200 } else { 202 })
        .details(details)
        .entry(caller.ctx);
    let change = DatabaseChange {
        patch: DatabasePatch {
            expect_status: vec![db.status],
            fence: caller.fence.cloned(),
            ..Default::default()
        },
        settings: req.settings.clone(),
        reserve: req.reserve,
        enqueue: operations.clone(),
        audit: vec![audit],
    };
    if !ctx.store.apply_change(&db.id, &change, Utc::now()).await? {
        return Ok(None);
    }
    ctx.committed(Committed {
        queued: !operations.is_empty(),
        database: Some(&db.id),
        quota_of: req
            .reserve
            .is_some()
            .then_some((db.domain.as_str(), Some(db.project.as_str()))),
        ..Default::default()
    })
    .await;
    let stored = ctx
        .store
        .get_database(&db.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Database", &db.id))?;
    let first = operations.first().map(|o| o.id.clone());
    Ok(Some(Outcome::Queued(Box::new(Day2Response {
        database: DatabaseResponse::of(stored, first),
        changed: req.changed.clone(),
        operations: operations
            .into_iter()
            .map(|o| QueuedOperation {
                poll_url: format!("/api/v1/operations/{}", o.id),
                id: o.id,
                op_type: o.op_type,
                status: o.status,
            })
            .collect(),
    }))))
}

/// The dry run's answer: the operations, the objects they would send, the quota delta.
fn plan(db: &Database, req: &Request<'_>, operations: &[Operation]) -> PlanResponse {
    let mut after = db.clone();
    apply_settings(&mut after, &req.settings);
    let ns = db.namespace.clone().unwrap_or_default();
    let mut objects = Vec::new();
    let mut listed = Vec::new();
    for (op, (_, desired)) in operations.iter().zip(&req.operations) {
        let mut shown = json!({"type": op.op_type, "desired_state": op.desired_state});
        if let Some(m) = shown["desired_state"].as_object_mut() {
            m.remove(crate::ops::create::SEALED_CREDENTIALS);
        }
        let names = SecretNames::of(&op.id);
        match op.op_type {
            OperationType::Pause | OperationType::Resume => {
                let pause = op.op_type == OperationType::Pause;
                let policy = if pause {
                    "Halt"
                } else {
                    crate::ops::day2::running_policy(&after)
                };
                objects.push(json!({
                    "patch": {"kind": provider::translate::meta(db.engine).kind,
                        "namespace": ns, "name": db.kubedb_resource_name},
                    "spec": {"halted": pause, "deletionPolicy": policy},
                }));
            }
            kind => {
                if let Ok(change) = ops_change(kind, desired, &names) {
                    objects.push(provider::day2::ops_request(&after, &ns, &op.id, &change));
                }
            }
        }
        listed.push(shown);
    }
    let held = db.reserved;
    let quota_delta = match req.reserve {
        Some(Reservation::Cover { storage_only }) => {
            let need = Shape::desired(&after).usage(db.engine, db.high_availability, storage_only);
            let next = Usage {
                databases: held.databases,
                backups: held.backups,
                ..covering(held, need)
            };
            next.minus(held)
        }
        _ => Usage::default(),
    };
    PlanResponse {
        dry_run: true,
        database_id: db.id.clone(),
        changed: req.changed.clone(),
        operations: listed,
        kubernetes_objects: objects,
        quota_delta,
    }
}

/// The record as it reads once `s` is applied.
pub fn apply_settings(db: &mut Database, s: &DatabaseSettings) {
    if let Some(v) = &s.version {
        db.version = v.clone();
    }
    if let Some(v) = s.size {
        db.size = v;
    }
    if let Some(v) = s.storage_gb {
        db.storage_gb = v;
    }
    if let Some(v) = s.replicas {
        db.replicas = v;
    }
    if let Some(v) = s.backup_enabled {
        db.backup_enabled = v;
    }
    if let Some(v) = &s.backup_schedule {
        db.backup_schedule = v.clone();
    }
    if let Some(v) = s.backup_retention_days {
        db.backup_retention_days = v;
    }
    if let Some(v) = s.monitoring_enabled {
        db.monitoring_enabled = v;
    }
    if let Some(v) = s.deletion_protection {
        db.deletion_protection = v;
    }
    if let Some(v) = &s.labels {
        db.labels = v.clone();
    }
    if let Some(v) = &s.annotations {
        db.annotations = v.clone();
    }
    if let Some(v) = &s.upgrade_policy {
        db.upgrade_policy = v.clone();
    }
}
