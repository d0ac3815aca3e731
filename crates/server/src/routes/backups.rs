//! Backups: storage (platform admins, per provider or per tenant), on-demand backups, the listing
//! of a database's backups, and restores (in place, or into a new database: a clone).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::access::Action;
use domain::backup::{
    Backup, BackupScope, BackupStatus, BackupStorageRequest, BackupStorageView, RestoreRequest,
    RestoreTarget, LATEST,
};
use domain::engine::Size;
use domain::ids::{is_id, IdKind};
use domain::model::Database;
use domain::requests::DatabaseCreate;
use domain::status::OperationType;
use domain::DomainError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::databases::load;
use super::day2::{answer_single, DryRun};
use super::tenants::project_scope;
use super::{PageMeta, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::ops::backup::{RestoreFrom, NO_STORAGE};
use crate::ops::day2::Day2Desired;
use crate::state::{AppState, Audit};
use crate::workflows::backups::{
    publish_provider_storage, save_storage, storage_for, StorageError,
};
use crate::workflows::databases::{self, Outcome, Preference};
use crate::workflows::day2::PlanResponse;
use crate::workflows::Actor;

type Ids = Path<(String, String, String)>;

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Invalid(e) => e.into(),
            StorageError::Check(m) => {
                ApiError::bad_request(format!("the bucket check failed: {m}"))
            }
            StorageError::Store(e) => e.into(),
        }
    }
}

async fn put_storage(
    state: &AppState,
    caller: &Caller,
    scope: BackupScope,
    req: BackupStorageRequest,
    action: &str,
    resource: (&str, &str),
) -> ApiResult<Json<BackupStorageView>> {
    if req.endpoint.trim().parse::<axum::http::Uri>().is_err() {
        return Err(ApiError::validation("endpoint", "must be a valid URL"));
    }
    let saved = save_storage(&state.workflows(), scope, &req, &caller.user_id).await;
    let audit = |status: u16| {
        Audit::new(action, resource.0)
            .id(resource.1)
            .by(&caller.user_id, &caller.email)
            .status(status)
            .details(json!({"endpoint": req.endpoint, "bucket": req.bucket, "prefix": req.prefix}))
    };
    match saved {
        Ok(s) => {
            state.audit(&caller.ctx, audit(200)).await;
            if let BackupScope::Provider(id) = &s.scope {
                // Best effort: every database's next backup configuration push does it too.
                if let Err(e) = publish_provider_storage(&state.workflows(), id).await {
                    tracing::warn!(provider = %id, error = %e, "the new backup storage could not be put into the cluster yet");
                }
            }
            Ok(Json(BackupStorageView::from(&s)))
        }
        Err(e) => {
            let e = ApiError::from(e);
            state.audit(&caller.ctx, audit(e.status.as_u16())).await;
            Err(e)
        }
    }
}

async fn get_storage(state: &AppState, scope: BackupScope) -> ApiResult<Json<BackupStorageView>> {
    match state.store.get_backup_storage(&scope).await? {
        Some(s) => Ok(Json(BackupStorageView::from(&s))),
        None => Err(ApiError::not_found("Backup storage", &scope.key())),
    }
}

#[utoipa::path(put, path = "/api/v1/providers/{id}/backup-storage", tag = "providers",
    params(("id" = String, Path)), request_body = BackupStorageRequest,
    responses((status = 200, body = BackupStorageView, description = "checked and saved; the secret is never returned"),
        (status = 400, description = "the bucket check failed, with S3's reason"), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn put_provider_storage(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<BackupStorageRequest>,
) -> ApiResult<Json<BackupStorageView>> {
    caller.require_platform_admin()?;
    if state.store.get_provider(&id).await?.is_none() {
        return Err(ApiError::not_found("Provider", &id));
    }
    put_storage(
        &state,
        &caller,
        BackupScope::Provider(id.clone()),
        req,
        "provider.backup_storage",
        ("provider", &id),
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/providers/{id}/backup-storage", tag = "providers",
    params(("id" = String, Path)),
    responses((status = 200, body = BackupStorageView), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn get_provider_storage(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<BackupStorageView>> {
    caller.require_platform_admin()?;
    get_storage(&state, BackupScope::Provider(id)).await
}

#[utoipa::path(put, path = "/api/v1/tenants/{domain}/backup-storage", tag = "tenants",
    params(("domain" = String, Path)), request_body = BackupStorageRequest,
    responses((status = 200, body = BackupStorageView, description = "checked and saved; the secret is never returned"),
        (status = 400, description = "the bucket check failed, with S3's reason"), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn put_tenant_storage(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    ApiJson(req): ApiJson<BackupStorageRequest>,
) -> ApiResult<Json<BackupStorageView>> {
    caller.require_platform_admin()?;
    if state.store.get_tenant(&domain).await?.is_none() {
        return Err(ApiError::not_found("Tenant", &domain));
    }
    put_storage(
        &state,
        &caller,
        BackupScope::Tenant(domain.clone()),
        req,
        "tenant.backup_storage",
        ("tenant", &domain),
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/tenants/{domain}/backup-storage", tag = "tenants",
    params(("domain" = String, Path)),
    responses((status = 200, body = BackupStorageView), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn get_tenant_storage(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
) -> ApiResult<Json<BackupStorageView>> {
    caller.require_platform_admin()?;
    get_storage(&state, BackupScope::Tenant(domain)).await
}

/// Refuses a backup or restore that cannot run: no storage, or backups switched off.
async fn backups_possible(state: &AppState, db: &Database) -> ApiResult<()> {
    if storage_for(&state.workflows(), db).await?.is_none() {
        return Err(ApiError::bad_request(NO_STORAGE));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/backup", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), DryRun),
    responses((status = 202, body = crate::workflows::day2::Day2Response, description = "the backup operation is queued: follow `operations[0].id`"),
        (status = 200, body = PlanResponse, description = "dry run: what would be queued; nothing is written"),
        (status = 400, description = "invalid_state (not running, backups off) or no backup storage"),
        (status = 403, description = "quota_exceeded: the project keeps max_backups backups"), (status = 404)),
    security(("bearer" = [])))]
pub async fn trigger_backup(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    ApiQuery(q): ApiQuery<DryRun>,
) -> ApiResult<Response> {
    let (domain, project, id) = &ids.0;
    project_scope(&caller, Action::WriteDatabases, domain, project)?;
    let db = load(&state, domain, project, id).await?;
    if !db.backup_enabled {
        return Err(DomainError::InvalidState(
            "backups are off for this database; turn them on with PATCH {\"backup_enabled\": true}"
                .into(),
        )
        .into());
    }
    backups_possible(&state, &db).await?;
    let held = state.store.count_backups(domain, project).await?;
    let limit = state
        .store
        .get_project(domain, project)
        .await?
        .map(|p| p.quota.max_backups)
        .unwrap_or(0);
    if held >= limit {
        return Err(DomainError::QuotaExceeded {
            message: format!(
                "the project keeps {held} backups and may keep {limit}; wait for retention to drop old ones, shorten backup_retention_days, or raise max_backups"
            ),
            resource: "backups".into(),
        }
        .into());
    }
    answer_single(
        &state,
        &caller,
        db,
        "database.trigger_backup",
        OperationType::Backup,
        Day2Desired::default(),
        q.dry_run,
    )
    .await
}

/// A page of a database's backups.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BackupList {
    pub backups: Vec<Backup>,
    #[serde(flatten)]
    pub page: PageMeta,
}

#[utoipa::path(get, path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/backups", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), PageQuery),
    responses((status = 200, body = BackupList), (status = 404)), security(("bearer" = [])))]
pub async fn list_backups(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<BackupList>> {
    let (domain, project, id) = &ids.0;
    project_scope(&caller, Action::ReadProject, domain, project)?;
    let page = q.request()?;
    let db = load(&state, domain, project, id).await?;
    let p = state.store.list_backups(&db.id, page).await?;
    Ok(Json(BackupList {
        page: PageMeta::of(&p),
        backups: p.items,
    }))
}

#[utoipa::path(get, path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/backups/{backup_id}", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), ("backup_id" = String, Path)),
    responses((status = 200, body = Backup), (status = 404)), security(("bearer" = [])))]
pub async fn get_backup(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, id, backup_id)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Backup>> {
    project_scope(&caller, Action::ReadProject, &domain, &project)?;
    let db = load(&state, &domain, &project, &id).await?;
    if !is_id(IdKind::Backup, &backup_id) {
        return Err(ApiError::not_found("Backup", &backup_id));
    }
    match state.store.get_backup(&db.id, &backup_id).await? {
        Some(b) => Ok(Json(b)),
        None => Err(ApiError::not_found("Backup", &backup_id)),
    }
}

/// `POST /restore`'s answer when it makes a new database.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RestoreResponse {
    pub operation_id: String,
    /// The new database (a restore into a new database).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_id: Option<String>,
    pub backup_id: String,
}

/// `POST /restore`'s answer: the day-2 answer for a restore in place, [`RestoreResponse`] for one
/// into a new database.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)] // Describes the two answers in the API document.
pub enum RestoreAnswer {
    InPlace(crate::workflows::day2::Day2Response),
    NewDatabase(RestoreResponse),
}

#[utoipa::path(post, operation_id = "restore_database", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/restore", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), DryRun),
    request_body = RestoreRequest,
    responses((status = 202, body = RestoreAnswer, description = "queued: in place, the day-2 answer with its operation; into a new database, the new database and its operation"),
        (status = 200, body = PlanResponse, description = "dry run: what would be queued; nothing is written"),
        (status = 400, description = "invalid_state, no such succeeded backup, no backup storage"),
        (status = 403, description = "quota_exceeded (a new database)"), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    ApiQuery(q): ApiQuery<DryRun>,
    ApiJson(req): ApiJson<RestoreRequest>,
) -> ApiResult<Response> {
    let (domain, project, id) = &ids.0;
    project_scope(&caller, Action::WriteDatabases, domain, project)?;
    let db = load(&state, domain, project, id).await?;
    backups_possible(&state, &db).await?;
    let backup = if req.backup_id == LATEST {
        state.store.latest_backup(&db.id).await?.ok_or_else(|| {
            ApiError::bad_request("the database has no succeeded backup to restore from")
        })?
    } else {
        if !is_id(IdKind::Backup, &req.backup_id) {
            return Err(ApiError::not_found("Backup", &req.backup_id));
        }
        let b = state
            .store
            .get_backup(&db.id, &req.backup_id)
            .await?
            .ok_or_else(|| ApiError::not_found("Backup", &req.backup_id))?;
        if b.status != BackupStatus::Succeeded {
            return Err(ApiError::bad_request(format!(
                "backup {} is {}; only a succeeded backup can be restored",
                b.id, b.status
            )));
        }
        b
    };
    let (Some(ns), Some(name)) = (db.namespace.clone(), db.kubedb_resource_name.clone()) else {
        return Err(
            DomainError::InvalidState("the database was never placed in a cluster".into()).into(),
        );
    };
    let from = RestoreFrom {
        source_database_id: db.id.clone(),
        source_namespace: ns,
        source_name: name,
        snapshot: backup.snapshot_name.clone(),
        backup_id: Some(backup.id.clone()),
    };
    match req.target {
        RestoreTarget::InPlace => {
            answer_single(
                &state,
                &caller,
                db,
                "database.restore",
                OperationType::Restore,
                Day2Desired {
                    restore: Some(from),
                    ..Default::default()
                },
                q.dry_run,
            )
            .await
        }
        RestoreTarget::NewDatabase(target) => {
            let project_to = target.project.clone().unwrap_or_else(|| project.clone());
            project_scope(&caller, Action::WriteDatabases, domain, &project_to)?;
            // The clone runs where the backup is: its repository lives in that cluster.
            let create = DatabaseCreate {
                name: target.name.clone(),
                engine: db.engine,
                version: db.version.clone(),
                size: match target.size.as_deref() {
                    Some(s) => Size::parse(s).ok_or_else(|| {
                        ApiError::validation("target.new_database.size", "is not a known size")
                    })?,
                    None => db.size,
                },
                storage_gb: target.storage_gb.unwrap_or(db.storage_gb),
                replicas: db.replicas,
                high_availability: db.high_availability,
                backup_enabled: db.backup_enabled,
                backup_schedule: db.backup_schedule.clone(),
                backup_retention_days: db.backup_retention_days,
                monitoring_enabled: db.monitoring_enabled,
                username: None,
                password: None,
                provider_id: db.provider_id.clone(),
                deletion_protection: false,
                labels: Some(db.labels.clone()),
                annotations: Some(db.annotations.clone()),
            };
            if target.storage_gb.is_some_and(|g| g < db.storage_gb) {
                // Like a resize that shrinks: a rule against the stored database (400).
                return Err(ApiError::bad_request(format!(
                    "target.new_database.storage_gb: storage never shrinks: must be at least the \
                     source's {} GB",
                    db.storage_gb
                )));
            }
            let actor = Actor::from(&caller);
            let outcome = databases::create_restored(
                &state.workflows(),
                &actor,
                domain,
                &project_to,
                create,
                Preference::default(),
                q.dry_run,
                Some(from),
            )
            .await?;
            match outcome {
                Outcome::Queued {
                    database,
                    operation_id,
                } => {
                    state
                        .audit(
                            &caller.ctx,
                            Audit::new("database.restore", "database")
                                .id(&db.id)
                                .scope(Some(domain), Some(project))
                                .by(&caller.user_id, &caller.email)
                                .status(202)
                                .details(json!({"backup_id": backup.id, "target": "new_database",
                                    "database_id": database.id, "operation_id": operation_id})),
                        )
                        .await;
                    Ok((
                        StatusCode::ACCEPTED,
                        Json(RestoreResponse {
                            operation_id,
                            database_id: Some(database.id.clone()),
                            backup_id: backup.id,
                        }),
                    )
                        .into_response())
                }
                Outcome::Planned(plan) => Ok((StatusCode::OK, Json(*plan)).into_response()),
            }
        }
    }
}
