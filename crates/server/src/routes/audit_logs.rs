//! `GET /api/v1/audit-logs`, scoped to what the caller may see.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use domain::access::Role;
use domain::audit::{AuditEntry, AuditFilter, AuditOutcome, AuditScope};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{PageMeta, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub domain: Option<String>,
    pub project: Option<String>,
    pub user_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub status: Option<AuditOutcome>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    pub audit_logs: Vec<AuditEntry>,
    #[serde(flatten)]
    pub meta: PageMeta,
}

#[utoipa::path(get, path = "/api/v1/audit-logs", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditList), (status = 403)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditList>> {
    let page = PageQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .request()?;
    let scopes = if caller.principal.is_platform_admin() {
        None
    } else {
        let s: Vec<AuditScope> = caller
            .principal
            .bindings
            .iter()
            .filter_map(|b| match b.role {
                Role::DomainAdmin => Some(AuditScope {
                    domain: b.domain.clone()?,
                    project: None,
                }),
                Role::ProjectAdmin => Some(AuditScope {
                    domain: b.domain.clone()?,
                    project: b.project.clone(),
                }),
                _ => None,
            })
            .collect();
        if s.is_empty() {
            return Err(ApiError::forbidden(
                "Your roles do not include reading audit logs",
            ));
        }
        Some(s)
    };
    if let (Some(s), Some(u)) = (q.since, q.until) {
        if s > u {
            return Err(ApiError::validation("since", "must not be after until"));
        }
    }
    let filter = AuditFilter {
        action: q.action,
        resource_type: q.resource_type,
        resource_id: q.resource_id,
        domain: q.domain,
        project: q.project,
        user_id: q.user_id,
        since: q.since,
        until: q.until,
        status: q.status,
        scopes,
    };
    let p = state.store.list_audit(&filter, page).await?;
    let meta = PageMeta::of(&p);
    Ok(Json(AuditList {
        audit_logs: p.items,
        meta,
    }))
}
