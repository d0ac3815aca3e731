//! Day-2 routes of a database: `PATCH`, scale, pause, resume, restart, upgrades and the upgrade
//! policy, reconfigure, rotate credentials. Each extracts, authorizes, builds the request and hands
//! it to `workflows::day2`; `?dry_run=true` answers 200 with the plan and writes nothing.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use domain::access::Action;
use domain::day2::{self, plan_resize, AvailableUpgrade, Resize, Shape, UpgradePolicy};
use domain::engine::Size;
use domain::model::Database;
use domain::status::OperationType;
use domain::DomainError;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{DatabaseSettings, Reservation};
use utoipa::{IntoParams, ToSchema};

use super::databases::load;
use super::tenants::project_scope;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::ops::day2::Day2Desired;
use crate::state::AppState;
use crate::workflows::databases::{owned_read, provider_cluster};
use crate::workflows::day2::{submit, Day2Response, Outcome, PlanResponse, Request};
use crate::workflows::Actor;
use domain::requests;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DryRun {
    /// Answer 200 with the plan (operations, Kubernetes objects, quota delta); write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

type Ids = Path<(String, String, String)>;

/// Loads the database the caller may change.
async fn writable(state: &AppState, caller: &Caller, ids: &Ids) -> ApiResult<Database> {
    let (domain, project, id) = &ids.0;
    project_scope(caller, Action::WriteDatabases, domain, project)?;
    load(state, domain, project, id).await
}

async fn answer(
    state: &AppState,
    caller: &Caller,
    db: Database,
    req: Request<'_>,
    dry_run: bool,
) -> ApiResult<Response> {
    Ok(
        match submit(&state.workflows(), caller.into(), db, req, dry_run).await? {
            Outcome::Planned(plan) => (StatusCode::OK, Json(*plan)).into_response(),
            Outcome::Queued(done) if done.operations.is_empty() => {
                (StatusCode::OK, Json(*done)).into_response()
            }
            Outcome::Queued(done) => (StatusCode::ACCEPTED, Json(*done)).into_response(),
        },
    )
}

/// The resize part of a request: one operation per dimension that changes, the new desired shape
/// as settings, and the reservation that covers it.
fn resize(db: &Database, r: &Resize, req: &mut Request<'_>) -> ApiResult<()> {
    if r.replicas.is_none() && r.size.is_none() && r.storage_gb.is_none() {
        return Ok(());
    }
    let steps = plan_resize(db, r)?;
    let mut before = Shape::desired(db);
    for step in &steps {
        req.operations.push((
            step.op,
            Day2Desired {
                before: Some(before),
                after: Some(step.after),
                ..Default::default()
            },
        ));
        before = step.after;
    }
    let to = before;
    let from = Shape::desired(db);
    if to.replicas != from.replicas {
        req.settings.replicas = Some(to.replicas);
        req.changed.push("replicas".into());
    }
    if to.size != from.size {
        req.settings.size = Some(to.size);
        req.changed.push("size".into());
    }
    if to.storage_gb != from.storage_gb {
        req.settings.storage_gb = Some(to.storage_gb);
        req.changed.push("storage_gb".into());
    }
    req.reserve = Some(Reservation::Cover {
        storage_only: false,
    });
    Ok(())
}

fn request(action: &str) -> Request<'_> {
    Request {
        action,
        operations: Vec::new(),
        settings: DatabaseSettings::default(),
        changed: Vec::new(),
        reserve: None,
        details: Value::Null,
    }
}

#[utoipa::path(post, operation_id = "scale_database", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/scale", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), DryRun),
    request_body = Resize,
    responses((status = 202, body = Day2Response), (status = 200, body = PlanResponse, description = "dry run"),
        (status = 400, description = "invalid_state, validation_error (storage never shrinks), no_capacity"),
        (status = 403, description = "quota_exceeded"), (status = 404), (status = 409, description = "the database kept changing state"), (status = 422, description = "validation_error")), security(("bearer" = [])))]
pub async fn scale(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    ApiQuery(q): ApiQuery<DryRun>,
    ApiJson(body): ApiJson<Resize>,
) -> ApiResult<Response> {
    let db = writable(&state, &caller, &ids).await?;
    let mut req = request("database.scale");
    if body == Resize::default() {
        return Err(ApiError::bad_request(
            "give at least one of replicas, size, storage_gb",
        ));
    }
    resize(&db, &body, &mut req)?;
    answer(&state, &caller, db, req, q.dry_run).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseUpdate {
    pub size: Option<Size>,
    /// At most 10000; never less than the database has (400).
    #[schema(maximum = 10000)]
    pub storage_gb: Option<i64>,
    /// 1–9; the engine and topology further constrain it (400 with the rule).
    #[schema(minimum = 1, maximum = 9)]
    pub replicas: Option<i64>,
    pub backup_enabled: Option<bool>,
    /// `hourly`, `daily`, `weekly` or a five-field cron line such as `30 2 * * *`.
    #[schema(
        max_length = 100,
        pattern = r"^(hourly|daily|weekly|(\*(/([1-9]|[1-5][0-9]))?|[0-9]|[1-5][0-9])(,(\*(/([1-9]|[1-5][0-9]))?|[0-9]|[1-5][0-9]))* (\*(/([1-9]|1[0-9]|2[0-3]))?|[0-9]|1[0-9]|2[0-3])(,(\*(/([1-9]|1[0-9]|2[0-3]))?|[0-9]|1[0-9]|2[0-3]))* (\*(/([1-9]|[12][0-9]|3[01]))?|[1-9]|[12][0-9]|3[01])(,(\*(/([1-9]|[12][0-9]|3[01]))?|[1-9]|[12][0-9]|3[01]))* (\*(/([1-9]|1[0-2]))?|[1-9]|1[0-2])(,(\*(/([1-9]|1[0-2]))?|[1-9]|1[0-2]))* (\*(/([1-7]))?|[0-7])(,(\*(/([1-7]))?|[0-7]))*)$"
    )]
    pub backup_schedule: Option<String>,
    #[schema(minimum = 1, maximum = 365)]
    pub backup_retention_days: Option<i64>,
    pub monitoring_enabled: Option<bool>,
    /// On: KubeDB's `deletionPolicy: DoNotTerminate`, and DELETE is refused.
    pub deletion_protection: Option<bool>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub upgrade_policy: Option<UpgradePolicy>,
}

#[utoipa::path(patch, operation_id = "update_database", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), DryRun),
    request_body = DatabaseUpdate,
    responses((status = 202, body = Day2Response, description = "operations queued"),
        (status = 200, body = Day2Response, description = "applied directly (nothing queued), or a dry run's PlanResponse"),
        (status = 400), (status = 403), (status = 404), (status = 409, description = "the database kept changing state"), (status = 422, description = "validation_error"), (status = 409)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    ApiQuery(q): ApiQuery<DryRun>,
    ApiJson(body): ApiJson<DatabaseUpdate>,
) -> ApiResult<Response> {
    let db = writable(&state, &caller, &ids).await?;
    let mut req = request("database.update");
    // Fields equal to what the database has are not a change.
    resize(
        &db,
        &Resize {
            replicas: body.replicas.filter(|r| *r != db.replicas),
            size: body.size.filter(|s| *s != db.size),
            storage_gb: body.storage_gb.filter(|g| *g != db.storage_gb),
        },
        &mut req,
    )?;
    let s = &mut req.settings;
    let changed = &mut req.changed;
    if let Some(v) = body.backup_enabled.filter(|v| *v != db.backup_enabled) {
        s.backup_enabled = Some(v);
        changed.push("backup_enabled".into());
    }
    if let Some(v) = body.backup_schedule.filter(|v| *v != db.backup_schedule) {
        requests::backup_schedule(&v)?;
        s.backup_schedule = Some(v);
        changed.push("backup_schedule".into());
    }
    if let Some(v) = body
        .backup_retention_days
        .filter(|v| *v != db.backup_retention_days)
    {
        requests::backup_retention_days(v)?;
        s.backup_retention_days = Some(v);
        changed.push("backup_retention_days".into());
    }
    if let Some(v) = body
        .monitoring_enabled
        .filter(|v| *v != db.monitoring_enabled)
    {
        s.monitoring_enabled = Some(v);
        changed.push("monitoring_enabled".into());
    }
    requests::object_metadata(body.labels.as_ref(), body.annotations.as_ref())?;
    if let Some(v) = body.labels.filter(|v| *v != db.labels) {
        s.labels = Some(v);
        changed.push("labels".into());
    }
    if let Some(v) = body.annotations.filter(|v| *v != db.annotations) {
        s.annotations = Some(v);
        changed.push("annotations".into());
    }
    if let Some(p) = body.upgrade_policy {
        p.validate()?;
        s.upgrade_policy = Some(Some(serde_json::to_value(&p).expect("serialisable")));
        changed.push("upgrade_policy".into());
    }
    let protection = body
        .deletion_protection
        .filter(|v| *v != db.deletion_protection);
    if let Some(v) = protection {
        s.deletion_protection = Some(v);
        changed.push("deletion_protection".into());
    }
    if req.changed.is_empty() {
        return Err(ApiError::bad_request(
            "nothing to change: every field given equals what the database has",
        ));
    }
    if !q.dry_run {
        let asked = &req.settings;
        let metadata = (asked.labels.is_some() || asked.annotations.is_some()).then(|| {
            (
                asked.labels.clone().unwrap_or_else(|| db.labels.clone()),
                asked
                    .annotations
                    .clone()
                    .unwrap_or_else(|| db.annotations.clone()),
            )
        });
        let monitoring = req.settings.monitoring_enabled;
        push_to_cluster(&state, &caller, &db, protection, metadata, monitoring).await?;
        let backups_changed = req.changed.iter().any(|c| c.starts_with("backup_"));
        if backups_changed {
            push_backup_schedule(&state, &db, &req.settings).await?;
        }
    }
    answer(&state, &caller, db, req, q.dry_run).await
}

/// What a PATCH changes on the KubeDB object itself, before the record says so: deletion
/// protection (`DoNotTerminate`; a paused database keeps `Halt` until it resumes, which restores
/// the policy the record then names), the user's labels and annotations, and monitoring on or off
/// (`spec.monitor` with the platform's agent, and the stats Service). A database without an
/// object yet gets them at create.
async fn push_to_cluster(
    state: &AppState,
    caller: &Caller,
    db: &Database,
    protection: Option<bool>,
    metadata: Option<(BTreeMap<String, String>, BTreeMap<String, String>)>,
    monitoring: Option<bool>,
) -> ApiResult<()> {
    use domain::status::DatabaseStatus::*;
    let (Some(ns), Some(name), Some(pid)) = (
        db.namespace.as_deref(),
        db.kubedb_resource_name.as_deref(),
        db.provider_id.as_deref(),
    ) else {
        return Ok(());
    };
    let protection = protection
        .filter(|_| matches!(db.status, Running | Updating | Scaling | Failed | Resuming));
    let exists = !matches!(db.status, Pending | Deleting | Deleted);
    let metadata = metadata.filter(|_| exists);
    let monitoring = monitoring.filter(|_| exists);
    if protection.is_none() && metadata.is_none() && monitoring.is_none() {
        return Ok(());
    }
    let (ctx, actor) = (state.workflows(), Actor::from(caller));
    let cluster = provider_cluster(&ctx, pid).await?;
    let owner = provider::translate::Owner::of(db);
    if let Some(on) = protection {
        let policy = if on { "DoNotTerminate" } else { "Delete" };
        let done = cluster
            .set_deletion_policy(db.engine, ns, name, &owner, policy)
            .await;
        owned_read(&ctx, &actor, db, done).await?;
    }
    if let Some((labels, annotations)) = &metadata {
        let done = cluster
            .set_user_metadata(
                db.engine,
                ns,
                name,
                &owner,
                (&db.labels, &db.annotations),
                (labels, annotations),
            )
            .await;
        owned_read(&ctx, &actor, db, done).await?;
    }
    if let Some(on) = monitoring {
        let agent = on.then_some(&state.monitor_agent);
        let done = cluster.set_monitoring(db, ns, name, agent).await;
        owned_read(&ctx, &actor, db, done).await?;
    }
    Ok(())
}

/// Queues one operation of `kind` on the database (the backup routes' way in).
pub(crate) async fn answer_single(
    state: &AppState,
    caller: &Caller,
    db: Database,
    action: &str,
    kind: OperationType,
    desired: Day2Desired,
    dry_run: bool,
) -> ApiResult<Response> {
    answer(state, caller, db, single(action, kind, desired), dry_run).await
}

/// A PATCH of `backup_*` reaches the database's BackupConfiguration before the record says so
/// (schedule, retention, on/off). A database without an object yet gets it at create; one
/// without backup storage has nothing to change.
async fn push_backup_schedule(
    state: &AppState,
    db: &Database,
    settings: &DatabaseSettings,
) -> ApiResult<()> {
    use crate::workflows::backups::{configure, ConfigureError};
    use domain::status::DatabaseStatus::*;
    let (Some(ns), Some(name), Some(pid)) = (
        db.namespace.as_deref(),
        db.kubedb_resource_name.as_deref(),
        db.provider_id.as_deref(),
    ) else {
        return Ok(());
    };
    if matches!(db.status, Pending | Deleting | Deleted) {
        return Ok(());
    }
    let mut after = db.clone();
    crate::workflows::day2::apply_settings(&mut after, settings);
    let ctx = state.workflows();
    let cluster = provider_cluster(&ctx, pid).await?;
    match configure(&ctx, &cluster, &after, ns, name, None).await {
        Ok(_) => Ok(()),
        Err(ConfigureError::Store(e)) => Err(e.into()),
        Err(ConfigureError::Cluster(e)) => Err(crate::clusters::api_error(e)),
    }
}

fn single(action: &str, kind: OperationType, desired: Day2Desired) -> Request<'_> {
    let mut r = request(action);
    r.operations.push((kind, desired));
    r
}

#[utoipa::path(post, operation_id = "pause_database", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/pause", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), DryRun),
    responses((status = 202, body = Day2Response), (status = 200, body = PlanResponse, description = "dry run"),
        (status = 400, description = "invalid_state"), (status = 404), (status = 409, description = "the database kept changing state"), (status = 422, description = "validation_error")), security(("bearer" = [])))]
pub async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    ApiQuery(q): ApiQuery<DryRun>,
) -> ApiResult<Response> {
    let db = writable(&state, &caller, &ids).await?;
    let req = single(
        "database.pause",
        OperationType::Pause,
        Day2Desired::default(),
    );
    answer(&state, &caller, db, req, q.dry_run).await
}

#[utoipa::path(post, operation_id = "resume_database", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/resume", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), DryRun),
    responses((status = 202, body = Day2Response), (status = 200, body = PlanResponse, description = "dry run"),
        (status = 400, description = "invalid_state, no_capacity"), (status = 403, description = "quota_exceeded"),
        (status = 404), (status = 409, description = "the database kept changing state"), (status = 422, description = "validation_error")), security(("bearer" = [])))]
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    ApiQuery(q): ApiQuery<DryRun>,
) -> ApiResult<Response> {
    let db = writable(&state, &caller, &ids).await?;
    let mut req = single(
        "database.resume",
        OperationType::Resume,
        Day2Desired::default(),
    );
    // A paused database holds only its storage; running again needs its CPU and memory back.
    req.reserve = Some(Reservation::Cover {
        storage_only: false,
    });
    answer(&state, &caller, db, req, q.dry_run).await
}

#[utoipa::path(post, operation_id = "restart_database", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/restart", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), DryRun),
    responses((status = 202, body = Day2Response), (status = 200, body = PlanResponse, description = "dry run"),
        (status = 400, description = "invalid_state"), (status = 404), (status = 409, description = "the database kept changing state"), (status = 422, description = "validation_error")), security(("bearer" = [])))]
pub async fn restart(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    ApiQuery(q): ApiQuery<DryRun>,
) -> ApiResult<Response> {
    let db = writable(&state, &caller, &ids).await?;
    let req = single(
        "database.restart",
        OperationType::Restart,
        Day2Desired::default(),
    );
    answer(&state, &caller, db, req, q.dry_run).await
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UpgradesResponse {
    pub database_id: String,
    pub current_version: String,
    pub available_upgrades: Vec<AvailableUpgrade>,
}

/// What the database may be upgraded to on its provider's catalog, under the platform's policy.
async fn offered(state: &AppState, db: &Database) -> ApiResult<Vec<AvailableUpgrade>> {
    let Some(pid) = db.provider_id.as_deref() else {
        return Ok(Vec::new());
    };
    let Some(p) = state.store.get_provider(pid).await? else {
        return Ok(Vec::new());
    };
    let catalog = crate::catalog::provider_catalog(&p);
    Ok(day2::available_upgrades(
        db.engine,
        &db.version,
        db.high_availability,
        &catalog,
        state.version_policy(),
    ))
}

#[utoipa::path(get, operation_id = "list_available_upgrades", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/available-upgrades", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = UpgradesResponse), (status = 404)), security(("bearer" = [])))]
pub async fn available_upgrades(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, id)): Path<(String, String, String)>,
) -> ApiResult<Json<UpgradesResponse>> {
    project_scope(&caller, Action::ReadProject, &domain, &project)?;
    let db = load(&state, &domain, &project, &id).await?;
    Ok(Json(UpgradesResponse {
        available_upgrades: offered(&state, &db).await?,
        database_id: db.id,
        current_version: db.version,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    /// A catalog name (or engine version) from `available-upgrades`.
    pub target_version: String,
}

#[utoipa::path(post, operation_id = "upgrade_database", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/upgrade", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), DryRun),
    request_body = UpgradeRequest,
    responses((status = 202, body = Day2Response), (status = 200, body = PlanResponse, description = "dry run"),
        (status = 400, description = "version_unavailable, invalid_state"), (status = 404), (status = 409, description = "the database kept changing state"), (status = 422, description = "validation_error")), security(("bearer" = [])))]
pub async fn upgrade(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    ApiQuery(q): ApiQuery<DryRun>,
    ApiJson(body): ApiJson<UpgradeRequest>,
) -> ApiResult<Response> {
    let db = writable(&state, &caller, &ids).await?;
    let upgrades = offered(&state, &db).await?;
    let Some(target) = upgrades
        .iter()
        .find(|u| u.version == body.target_version || u.engine_version == body.target_version)
    else {
        let list: Vec<&str> = upgrades.iter().map(|u| u.version.as_str()).collect();
        return Err(DomainError::VersionUnavailable(format!(
            "'{}' is not an upgrade offered for this database; offered: {}",
            body.target_version,
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        ))
        .into());
    };
    let mut req = single(
        "database.upgrade_version",
        OperationType::UpgradeVersion,
        Day2Desired {
            from_version: Some(db.version.clone()),
            target_version: Some(target.version.clone()),
            ..Default::default()
        },
    );
    req.settings.version = Some(target.version.clone());
    req.changed.push("version".into());
    req.details =
        json!({"from_version": db.version, "target_version": target.version, "kind": target.kind});
    answer(&state, &caller, db, req, q.dry_run).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PendingMaintenance {
    pub version: String,
    pub kind: day2::UpgradeKind,
    pub planned_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpgradePolicyResponse {
    pub database_id: String,
    pub upgrade_policy: UpgradePolicy,
    pub pending_maintenance: Option<PendingMaintenance>,
}

#[utoipa::path(put, operation_id = "set_upgrade_policy", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/upgrade-policy", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path)),
    request_body = UpgradePolicy,
    responses((status = 200, body = UpgradePolicyResponse), (status = 400), (status = 404), (status = 409, description = "the database kept changing state"), (status = 422, description = "validation_error")), security(("bearer" = [])))]
pub async fn upgrade_policy(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    ApiJson(policy): ApiJson<UpgradePolicy>,
) -> ApiResult<Json<UpgradePolicyResponse>> {
    let db = writable(&state, &caller, &ids).await?;
    policy.validate()?;
    let upgrades = offered(&state, &db).await?;
    let pending = policy
        .pending(Utc::now(), &upgrades)
        .map(|(u, at)| PendingMaintenance {
            version: u.version,
            kind: u.kind,
            planned_at: at,
        });
    let mut req = request("database.update");
    req.settings.upgrade_policy = Some(Some(serde_json::to_value(&policy).expect("serialisable")));
    req.changed.push("upgrade_policy".into());
    let id = db.id.clone();
    submit(&state.workflows(), (&caller).into(), db, req, false).await?;
    Ok(Json(UpgradePolicyResponse {
        database_id: id,
        upgrade_policy: policy,
        pending_maintenance: pending,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconfigureRequest {
    /// Engine configuration parameters, e.g. `{"max_connections": "200"}`: 1–100 of them.
    pub config: BTreeMap<String, String>,
}

/// Keys are parameter names; values are single-line text, so nothing can break out of the
/// engine's configuration file.
fn check_config(config: &BTreeMap<String, String>) -> ApiResult<()> {
    if config.is_empty() || config.len() > 100 {
        return Err(ApiError::validation("config", "give 1 to 100 parameters"));
    }
    for (k, v) in config {
        let key_ok = (1..=100).contains(&k.len())
            && k.as_bytes()[0].is_ascii_alphabetic()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !key_ok {
            return Err(ApiError::validation(
                "config",
                format!("'{k}' is not a parameter name (letters, digits, '_', '.', '-')"),
            ));
        }
        if v.len() > 1024 || v.chars().any(|c| c.is_control()) || v.contains(['"', '\\']) {
            return Err(ApiError::validation(
                "config",
                format!("the value of '{k}' must be one line of at most 1024 characters without quotes or backslashes"),
            ));
        }
    }
    Ok(())
}

#[utoipa::path(post, operation_id = "reconfigure_database", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/reconfigure", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), DryRun),
    request_body = ReconfigureRequest,
    responses((status = 202, body = Day2Response), (status = 200, body = PlanResponse, description = "dry run"),
        (status = 400), (status = 404), (status = 409, description = "the database kept changing state"), (status = 422, description = "validation_error")), security(("bearer" = [])))]
pub async fn reconfigure(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    ApiQuery(q): ApiQuery<DryRun>,
    ApiJson(body): ApiJson<ReconfigureRequest>,
) -> ApiResult<Response> {
    let db = writable(&state, &caller, &ids).await?;
    check_config(&body.config)?;
    let mut req = single(
        "database.reconfigure",
        OperationType::Reconfigure,
        Day2Desired {
            config: Some(body.config.clone()),
            ..Default::default()
        },
    );
    req.details = json!({"parameters": body.config.keys().collect::<Vec<_>>()});
    answer(&state, &caller, db, req, q.dry_run).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// The new password (12–256 characters); generated when absent.
    #[schema(min_length = 12, max_length = 256)]
    pub password: Option<String>,
}

#[utoipa::path(post, operation_id = "rotate_database_credentials", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/rotate-credentials", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), DryRun),
    request_body(content = RotateRequest, description = "optional"),
    responses((status = 202, body = Day2Response), (status = 200, body = PlanResponse, description = "dry run"),
        (status = 400), (status = 404), (status = 409, description = "the database kept changing state"), (status = 422, description = "validation_error")), security(("bearer" = [])))]
pub async fn rotate_credentials(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    ApiQuery(q): ApiQuery<DryRun>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let db = writable(&state, &caller, &ids).await?;
    // The body is optional: none means "generate a password".
    let body: RotateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateRequest::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    let password = match body.password {
        Some(p) => {
            domain::validate::password("password", &p)?;
            p
        }
        None => rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(32)
            .map(char::from)
            .collect(),
    };
    // The user name stays as it is (the worker reads it from the current secret).
    let sealed = state
        .secrets
        .encrypt(&serde_json::to_string(&(None::<String>, password)).expect("strings serialise"));
    let req = single(
        "database.rotate_auth",
        OperationType::RotateAuth,
        Day2Desired {
            credentials: Some(sealed),
            ..Default::default()
        },
    );
    answer(&state, &caller, db, req, q.dry_run).await
}
