//! `/api/v1/operations`: the durable operations, scoped to what the caller can see.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use domain::access::{Action, Decision, Scope};
use domain::ids::{is_id, IdKind};
use domain::model::Operation;
use domain::status::{OperationStatus, OperationType};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{OperationFilter, Visibility};
use utoipa::{IntoParams, ToSchema};

use super::{PageMeta, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::ops::create::SEALED_CREDENTIALS;
use crate::state::{AppState, Audit};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OperationResponse {
    pub id: String,
    pub database_id: String,
    #[serde(rename = "type")]
    pub op_type: OperationType,
    pub status: OperationStatus,
    pub progress: i32,
    pub message: Option<String>,
    #[schema(value_type = Object)]
    pub desired_state: Value,
    pub ops_request_name: Option<String>,
    pub ops_request_phase: Option<String>,
    pub error_message: Option<String>,
    pub retry_count: i32,
    pub max_retries: i32,
    pub created_by: Option<String>,
    pub domain: String,
    pub project: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub estimated_completion_at: Option<DateTime<Utc>>,
    /// In progress but holding no worker: submitted, waiting on the cluster (see `message`).
    pub parked: bool,
}

impl From<Operation> for OperationResponse {
    fn from(o: Operation) -> Self {
        let mut desired_state = o.desired_state;
        // Sealed credentials stay inside the platform.
        if let Value::Object(m) = &mut desired_state {
            m.remove(SEALED_CREDENTIALS);
        }
        OperationResponse {
            id: o.id,
            database_id: o.database_id,
            op_type: o.op_type,
            status: o.status,
            progress: o.progress,
            message: o.message,
            desired_state,
            ops_request_name: o.ops_request_name,
            ops_request_phase: o.ops_request_phase,
            error_message: o.error_message,
            retry_count: o.retry_count,
            max_retries: o.max_retries,
            created_by: o.created_by,
            domain: o.domain,
            project: o.project,
            created_at: o.created_at,
            started_at: o.started_at,
            completed_at: o.completed_at,
            estimated_completion_at: o.estimated_completion_at,
            parked: o.status == OperationStatus::InProgress && o.lease_owner.is_none(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OperationList {
    pub operations: Vec<OperationResponse>,
    #[serde(flatten)]
    pub meta: PageMeta,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OperationQuery {
    pub database_id: Option<String>,
    pub status: Option<OperationStatus>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub op_type: Option<OperationType>,
    /// 1-based page number.
    #[param(minimum = 1, maximum = 1000000, default = 1)]
    pub page: Option<i64>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 10)]
    pub page_size: Option<i64>,
}

/// The scopes whose operations a caller sees; `None` = everything (platform admin).
fn visibility(caller: &Caller) -> Visibility {
    if caller.principal.is_platform_admin() {
        return Visibility { scopes: None };
    }
    let mut scopes = Vec::new();
    for d in caller.principal.visible_domains() {
        match caller.principal.visible_projects(&d) {
            None => scopes.push((d, None)),
            Some(ps) => scopes.extend(ps.into_iter().map(|p| (d.clone(), Some(p)))),
        }
    }
    Visibility {
        scopes: Some(scopes),
    }
}

#[utoipa::path(get, operation_id = "list_operations", path = "/api/v1/operations", tag = "operations", params(OperationQuery),
    responses((status = 200, body = OperationList)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<OperationQuery>,
) -> ApiResult<Json<OperationList>> {
    let page = PageQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .request()?;
    let filter = OperationFilter {
        database_id: q.database_id,
        status: q.status,
        op_type: q.op_type,
        visibility: visibility(&caller),
    };
    let p = state.store.list_operations(&filter, page).await?;
    let meta = PageMeta::of(&p);
    Ok(Json(OperationList {
        operations: p.items.into_iter().map(Into::into).collect(),
        meta,
    }))
}

async fn load(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Operation> {
    if !is_id(IdKind::Operation, id) {
        return Err(ApiError::not_found("Operation", id));
    }
    let op = state
        .store
        .get_operation(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Operation", id))?;
    if caller.decide(Action::ReadProject, Scope::Project(&op.domain, &op.project))
        != Decision::Allow
    {
        return Err(ApiError::not_found("Operation", id));
    }
    Ok(op)
}

#[utoipa::path(get, operation_id = "get_operation", path = "/api/v1/operations/{id}", tag = "operations", params(("id" = String, Path)),
    responses((status = 200, body = OperationResponse), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<OperationResponse>> {
    Ok(Json(load(&state, &caller, &id).await?.into()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CancelResponse {
    pub success: bool,
    pub message: String,
}

#[utoipa::path(post, operation_id = "cancel_operation", path = "/api/v1/operations/{id}/cancel", tag = "operations", params(("id" = String, Path)),
    responses((status = 200, body = CancelResponse), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<CancelResponse>> {
    let op = load(&state, &caller, &id).await?;
    caller.require(
        Action::WriteDatabases,
        Scope::Project(&op.domain, &op.project),
        "Operation",
        &id,
    )?;
    let cancelled = state.store.cancel_operation(&id, Utc::now()).await?;
    if cancelled && op.op_type == OperationType::Create {
        // The database ends failed; whatever an earlier attempt made in the cluster is removed,
        // and the reservation is given back once nothing of it runs any more.
        if let Err(e) = crate::ops::create::after_cancel(&state, &op).await {
            tracing::warn!(database = %op.database_id, error = %e,
                "cleaning up after a cancelled create; the reservation stays until the database is deleted");
        }
    } else if cancelled && domain::lifecycle::transition(op.op_type).is_some() {
        // What the change asked for (settings, reservation) is put back.
        if let Err(e) = crate::ops::day2::after_cancel(&state, &op).await {
            tracing::warn!(database = %op.database_id, error = %e, "rolling back a cancelled change");
        }
    }
    let message = if cancelled {
        "operation cancelled".to_string()
    } else {
        let now = state.store.get_operation(&id).await?.map(|o| o.status);
        format!(
            "only queued operations can be cancelled; this one is {}",
            now.map(|s| s.as_str()).unwrap_or("gone")
        )
    };
    state
        .audit(
            &caller.ctx,
            Audit::new("operation.cancel", "operation")
                .id(&id)
                .scope(Some(&op.domain), Some(&op.project))
                .by(&caller.user_id, &caller.email)
                .status(if cancelled { 200 } else { 400 })
                .details(json!({"database_id": op.database_id, "cancelled": cancelled})),
        )
        .await;
    Ok(Json(CancelResponse {
        success: cancelled,
        message,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueStatsResponse {
    pub queued: i64,
    pub processing: i64,
    #[schema(value_type = Object)]
    pub by_type: Value,
    pub oldest_queued_age_seconds: Option<f64>,
}

#[utoipa::path(get, operation_id = "get_queue_stats", path = "/api/v1/operations/queue/stats", tag = "operations",
    responses((status = 200, body = QueueStatsResponse), (status = 403)), security(("bearer" = [])))]
pub async fn queue_stats(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<QueueStatsResponse>> {
    caller.require_platform_admin()?;
    let s = state.store.queue_stats(Utc::now()).await?;
    let by_type: serde_json::Map<String, Value> = s
        .by_type
        .into_iter()
        .map(|(t, n)| (t.as_str().to_string(), json!(n)))
        .collect();
    Ok(Json(QueueStatsResponse {
        queued: s.queued,
        processing: s.processing,
        by_type: Value::Object(by_type),
        oldest_queued_age_seconds: s.oldest_queued_age_seconds,
    }))
}
