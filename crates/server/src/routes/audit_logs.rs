//! `GET /api/v1/audit-logs`, scoped to what the caller may see.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::access::Role;
use domain::audit::{AuditEntry, AuditFilter, AuditOutcome, AuditScope};
use serde::{Deserialize, Serialize};
use store::AuditPageJson;
use utoipa::{IntoParams, ToSchema};

use super::{PageMeta, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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
    /// 1-based page number.
    #[param(minimum = 1, maximum = 1000000, default = 1)]
    pub page: Option<i64>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 10)]
    pub page_size: Option<i64>,
}

/// The response's shape (documented in the OpenAPI schema); [`page_body`] writes exactly this.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    pub audit_logs: Vec<AuditEntry>,
    #[serde(flatten)]
    pub meta: PageMeta,
}

#[utoipa::path(get, operation_id = "list_audit_logs", path = "/api/v1/audit-logs", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditList), (status = 403)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
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
    // `since` after `until` is an empty window: an empty page, like any filter nothing matches.
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
    let p = state.store.list_audit_json(&filter, page).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        page_body(p),
    )
        .into_response())
}

/// `AuditList` as JSON, around the entries the store already encoded: a page of a hundred entries
/// is sent without decoding and re-encoding each one.
fn page_body(p: AuditPageJson) -> String {
    let mut body = String::with_capacity(p.entries.len() + 64);
    body.push_str("{\"audit_logs\":");
    body.push_str(&p.entries);
    // Writing to a String cannot fail.
    let _ = write!(
        body,
        ",\"total\":{},\"page\":{},\"page_size\":{}}}",
        p.total, p.page, p.page_size
    );
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_what_audit_list_serializes_to() {
        let entry = AuditEntry {
            id: "audit-1".into(),
            action: "tenant.update".into(),
            resource_type: "tenant".into(),
            resource_id: Some("acme".into()),
            domain: Some("acme".into()),
            project: None,
            user_id: Some("user-1".into()),
            user_email: Some("a@b.c".into()),
            ip_address: Some("127.0.0.1".into()),
            user_agent: None,
            request_method: Some("PATCH".into()),
            request_path: Some("/api/v1/tenants/acme".into()),
            status: AuditOutcome::Success,
            status_code: Some(200),
            details: serde_json::json!({"display_name": "ACME \"1\""}),
            timestamp: "2026-11-25T10:00:00.123456Z".parse().unwrap(),
        };
        let list = AuditList {
            audit_logs: vec![entry.clone(), entry],
            meta: PageMeta {
                total: 42,
                page: 3,
                page_size: 2,
            },
        };
        let body = page_body(AuditPageJson {
            entries: serde_json::to_string(&list.audit_logs).unwrap(),
            total: 42,
            page: 3,
            page_size: 2,
        });
        assert_eq!(body, serde_json::to_string(&list).unwrap());

        let empty = page_body(AuditPageJson {
            entries: "[]".into(),
            total: 0,
            page: 1,
            page_size: 10,
        });
        assert_eq!(
            empty,
            r#"{"audit_logs":[],"total":0,"page":1,"page_size":10}"#
        );
    }
}
