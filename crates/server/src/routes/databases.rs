//! `/api/v1/domain/{domain}/project/{project}/databases`: create (quota + placement + reservation +
//! queued operation in one transaction), read, status, credentials, endpoint refresh, delete.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use domain::access::Action;
use domain::engine::{Engine, Size};
use domain::ids::{is_id, IdKind};
use domain::model::{CurrentState, Database};
use domain::status::DatabaseStatus;
use domain::DomainError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::DatabaseFilter;
use utoipa::{IntoParams, ToSchema};

use super::tenants::project_scope;
use super::{PageMeta, PageQuery};
use crate::auth::Caller;
use crate::clusters::{api_error, endpoint_patch};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::day2::DryRun;
use crate::state::{AppState, Audit};
use crate::workflows::databases::{self, owned_object, owned_read, Outcome, Preference};
use crate::workflows::Actor;
use provider::translate::Owner;

pub use domain::requests::DatabaseCreate;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DatabaseResponse {
    pub id: String,
    pub name: String,
    pub domain: String,
    pub project: String,
    pub engine: Engine,
    pub version: String,
    pub size: Size,
    pub storage_gb: i64,
    pub replicas: i64,
    pub ready_replicas: i64,
    pub status: DatabaseStatus,
    pub health_status: Option<String>,
    pub backup_enabled: bool,
    pub backup_schedule: String,
    pub backup_retention_days: i64,
    pub high_availability: bool,
    pub monitoring_enabled: bool,
    pub deletion_protection: bool,
    pub endpoint: Option<String>,
    pub port: Option<i64>,
    pub service_type: Option<String>,
    pub loadbalancer_ip: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub provider_id: Option<String>,
    pub namespace: Option<String>,
    pub kubedb_resource_name: Option<String>,
    #[schema(value_type = Object)]
    pub current: CurrentState,
    /// Set with `PUT …/upgrade-policy`; absent until then (upgrades by hand).
    #[schema(value_type = Option<domain::day2::UpgradePolicy>)]
    pub upgrade_policy: Option<Value>,
    pub operation_id: Option<String>,
    pub poll_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl DatabaseResponse {
    pub fn of(d: Database, operation_id: Option<String>) -> Self {
        let poll_url = operation_id
            .as_ref()
            .map(|id| format!("/api/v1/operations/{id}"));
        DatabaseResponse {
            id: d.id,
            name: d.name,
            domain: d.domain,
            project: d.project,
            engine: d.engine,
            version: d.version,
            size: d.size,
            storage_gb: d.storage_gb,
            replicas: d.replicas,
            ready_replicas: d.ready_replicas,
            status: d.status,
            health_status: d.health_status,
            backup_enabled: d.backup_enabled,
            backup_schedule: d.backup_schedule,
            backup_retention_days: d.backup_retention_days,
            high_availability: d.high_availability,
            monitoring_enabled: d.monitoring_enabled,
            deletion_protection: d.deletion_protection,
            endpoint: d.endpoint,
            port: d.port,
            service_type: d.service_type,
            loadbalancer_ip: d.loadbalancer_ip,
            labels: d.labels,
            annotations: d.annotations,
            provider_id: d.provider_id,
            namespace: d.namespace,
            kubedb_resource_name: d.kubedb_resource_name,
            current: d.current,
            upgrade_policy: d.upgrade_policy,
            operation_id,
            poll_url,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DatabaseList {
    pub databases: Vec<DatabaseResponse>,
    #[serde(flatten)]
    pub meta: PageMeta,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DatabaseQuery {
    /// 1-based page number.
    #[param(minimum = 1, maximum = 1000000, default = 1)]
    pub page: Option<i64>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 10)]
    pub page_size: Option<i64>,
    pub engine: Option<Engine>,
    pub status: Option<DatabaseStatus>,
    pub name: Option<String>,
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

#[utoipa::path(post, operation_id = "create_database", path = "/api/v1/domain/{domain}/project/{project}/databases", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), DryRun,
        ("X-Region" = Option<String>, Header), ("X-Availability-Zone" = Option<String>, Header)),
    request_body = DatabaseCreate,
    responses((status = 202, body = DatabaseResponse),
        (status = 200, body = crate::workflows::day2::PlanResponse, description = "dry run: placement, objects, quota delta; nothing written"),
        (status = 400), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project)): Path<(String, String)>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<DryRun>,
    ApiJson(req): ApiJson<DatabaseCreate>,
) -> ApiResult<Response> {
    project_scope(&caller, Action::WriteDatabases, &domain, &project)?;
    if req.provider_id.is_some() && !caller.principal.is_platform_admin() {
        return Err(ApiError::forbidden(
            "Only platform admins choose the provider of a database",
        ));
    }
    let preference = Preference {
        region: header(&headers, "x-region"),
        availability_zone: header(&headers, "x-availability-zone"),
    };
    let outcome = databases::create(
        &state.workflows(),
        &Actor::from(&caller),
        &domain,
        &project,
        req,
        preference,
        q.dry_run,
    )
    .await?;
    Ok(respond(outcome))
}

/// A create's or delete's answer: 202 with the database and its operation, or the dry run's plan.
fn respond(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Queued {
            database,
            operation_id,
        } => (
            StatusCode::ACCEPTED,
            Json(DatabaseResponse::of(*database, Some(operation_id))),
        )
            .into_response(),
        Outcome::Planned(plan) => (StatusCode::OK, Json(*plan)).into_response(),
    }
}

/// Loads a database of this project; anything else (other project, malformed id) is a 404.
pub(crate) async fn load(
    state: &AppState,
    domain: &str,
    project: &str,
    id: &str,
) -> ApiResult<Database> {
    if !is_id(IdKind::Database, id) {
        return Err(ApiError::not_found("Database", id));
    }
    match state.store.get_database(id).await? {
        Some(d) if d.domain == domain && d.project == project => Ok(d),
        _ => Err(ApiError::not_found("Database", id)),
    }
}

#[utoipa::path(get, operation_id = "list_databases", path = "/api/v1/domain/{domain}/project/{project}/databases", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), DatabaseQuery),
    responses((status = 200, body = DatabaseList), (status = 404)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<DatabaseQuery>,
) -> ApiResult<Response> {
    project_scope(&caller, Action::ReadProject, &domain, &project)?;
    let page = PageQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .request()?;
    let filter = DatabaseFilter {
        engine: q.engine,
        status: q.status,
        name: q.name,
        include_deleted: false,
    };
    // Debug forms quote every name and value, so no two requests share a key by accident.
    let key = format!("databases {:?} {page:?} {filter:?}", (&domain, &project));
    let read = async {
        let p = state
            .store
            .list_databases(&domain, &project, &filter, page)
            .await?;
        let meta = PageMeta::of(&p);
        Ok(DatabaseList {
            databases: p
                .items
                .into_iter()
                .map(|d| DatabaseResponse::of(d, None))
                .collect(),
            meta,
        })
    };
    state.reads.json(state.store.as_ref(), key, read).await
}

#[utoipa::path(get, operation_id = "get_database", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = DatabaseResponse), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    project_scope(&caller, Action::ReadProject, &domain, &project)?;
    let key = format!("database {:?}", (&domain, &project, &id));
    let read = async {
        let d = load(&state, &domain, &project, &id).await?;
        Ok(DatabaseResponse::of(d, None))
    };
    state.reads.json(state.store.as_ref(), key, read).await
}

#[utoipa::path(delete, operation_id = "delete_database", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), DryRun),
    responses((status = 202, body = DatabaseResponse),
        (status = 200, body = crate::workflows::day2::PlanResponse, description = "dry run; nothing written"),
        (status = 400), (status = 404), (status = 409)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, id)): Path<(String, String, String)>,
    ApiQuery(q): ApiQuery<DryRun>,
) -> ApiResult<Response> {
    project_scope(&caller, Action::WriteDatabases, &domain, &project)?;
    let d = load(&state, &domain, &project, &id).await?;
    let outcome =
        databases::delete(&state.workflows(), &Actor::from(&caller), d, q.dry_run).await?;
    Ok(respond(outcome))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReplicaStatus {
    pub desired: i64,
    pub ready: i64,
    pub status: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DatabaseStatusResponse {
    pub database_id: String,
    pub name: String,
    pub status: DatabaseStatus,
    pub health_status: Option<String>,
    pub kubedb_phase: Option<String>,
    pub endpoint: Option<String>,
    pub port: Option<i64>,
    pub replicas: ReplicaStatus,
    /// KubeDB's conditions as its operator last reported them, or the platform's own when it
    /// gave up on the database (`ProvisioningFailed`, `ResourceMissing`).
    #[schema(value_type = Vec<StatusCondition>)]
    pub conditions: Value,
    pub updated_at: DateTime<Utc>,
}

/// One condition, in Kubernetes' shape (`status.conditions[]`). Describes `conditions` only: the
/// platform passes them on as KubeDB wrote them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusCondition {
    /// E.g. `Ready`, `Provisioned`, `ReplicaReady`, `AcceptingConnection`.
    pub r#type: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub last_transition_time: Option<String>,
    pub observed_generation: Option<i64>,
}

#[utoipa::path(get, operation_id = "get_database_status", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/status", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = DatabaseStatusResponse), (status = 404)), security(("bearer" = [])))]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, id)): Path<(String, String, String)>,
) -> ApiResult<Json<DatabaseStatusResponse>> {
    project_scope(&caller, Action::ReadProject, &domain, &project)?;
    let d = load(&state, &domain, &project, &id).await?;
    Ok(Json(DatabaseStatusResponse {
        database_id: d.id,
        name: d.name,
        status: d.status,
        health_status: d.health_status,
        kubedb_phase: d.kubedb_phase,
        endpoint: d.endpoint,
        port: d.port,
        replicas: ReplicaStatus {
            desired: d.replicas,
            ready: d.ready_replicas,
            status: format!("{}/{}", d.ready_replicas, d.replicas),
        },
        conditions: d.conditions,
        updated_at: d.updated_at,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub connection_string: String,
}

#[utoipa::path(get, operation_id = "get_database_credentials", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/credentials", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Credentials), (status = 400), (status = 403), (status = 404), (status = 409), (status = 503)),
    security(("bearer" = [])))]
pub async fn credentials(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, id)): Path<(String, String, String)>,
) -> ApiResult<Json<Credentials>> {
    project_scope(&caller, Action::ReadCredentials, &domain, &project)?;
    let d = load(&state, &domain, &project, &id).await?;
    let result = read_credentials(&state, &caller, &d).await;
    let code = match &result {
        Ok(_) => 200,
        Err(e) => e.status.as_u16(),
    };
    // Every read is audited, successful or not; the secret itself never is.
    state
        .audit(
            &caller.ctx,
            Audit::new("database.get_credentials", "database")
                .id(&d.id)
                .scope(Some(&domain), Some(&project))
                .by(&caller.user_id, &caller.email)
                .status(code),
        )
        .await;
    result.map(Json)
}

async fn read_credentials(
    state: &AppState,
    caller: &Caller,
    d: &Database,
) -> ApiResult<Credentials> {
    let (Some(ns), Some(name), Some(_)) = (&d.namespace, &d.kubedb_resource_name, &d.provider_id)
    else {
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "database '{}' has no credentials yet (status {})",
            d.name, d.status
        ))));
    };
    if matches!(d.status, DatabaseStatus::Deleted | DatabaseStatus::Deleting) {
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "database '{}' is {}",
            d.name, d.status
        ))));
    }
    let (ctx, actor) = (state.workflows(), Actor::from(caller));
    let Some((cluster, obs)) = owned_object(&ctx, &actor, d).await? else {
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "database '{}' has no KubeDB resource yet",
            d.name
        ))));
    };
    if obs.auth_secret.is_none() {
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "KubeDB has not created the credentials of '{}' yet",
            d.name
        ))));
    }
    let (username, password) = owned_read(
        &ctx,
        &actor,
        d,
        cluster
            .read_credentials(d.engine, ns, name, &Owner::of(d))
            .await,
    )
    .await?
    .ok_or_else(|| {
        ApiError::from(DomainError::InvalidState(format!(
            "the credentials secret of '{}' does not exist yet",
            d.name
        )))
    })?;
    let host = match &d.endpoint {
        Some(h) => h.clone(),
        None => cluster
            .read_endpoint(d.engine, ns, name)
            .await
            .map_err(api_error)?
            .map(|e| e.host)
            .ok_or_else(|| {
                ApiError::from(DomainError::InvalidState(format!(
                    "database '{}' has no endpoint yet",
                    d.name
                )))
            })?,
    };
    let port = d
        .port
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(d.engine.default_port());
    let (database, connection_string) =
        provider::translate::connection_string(d.engine, &username, &password, &host, port);
    Ok(Credentials {
        username,
        password,
        host,
        port,
        database,
        connection_string,
    })
}

#[utoipa::path(post, operation_id = "refresh_database_endpoint", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/refresh-endpoint", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = DatabaseResponse), (status = 400), (status = 404), (status = 409), (status = 503)),
    security(("bearer" = [])))]
pub async fn refresh_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, id)): Path<(String, String, String)>,
) -> ApiResult<Json<DatabaseResponse>> {
    project_scope(&caller, Action::WriteDatabases, &domain, &project)?;
    let d = load(&state, &domain, &project, &id).await?;
    let (Some(ns), Some(name)) = (&d.namespace, &d.kubedb_resource_name) else {
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "database '{}' has no endpoint yet (status {})",
            d.name, d.status
        ))));
    };
    let Some((cluster, _)) = owned_object(&state.workflows(), &Actor::from(&caller), &d).await?
    else {
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "database '{}' has no KubeDB resource",
            d.name
        ))));
    };
    let endpoint = cluster
        .read_endpoint(d.engine, ns, name)
        .await
        .map_err(api_error)?;
    state
        .store
        .patch_database(&d.id, &endpoint_patch(endpoint), Utc::now())
        .await?;
    state
        .audit(
            &caller.ctx,
            Audit::new("database.refresh_endpoint", "database")
                .id(&d.id)
                .scope(Some(&domain), Some(&project))
                .by(&caller.user_id, &caller.email),
        )
        .await;
    let d = load(&state, &domain, &project, &id).await?;
    Ok(Json(DatabaseResponse::of(d, None)))
}
