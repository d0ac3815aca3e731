//! Platform-admin views of the platform itself: the orphans the drift reconciler found.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

/// A KubeDB object carrying the platform's labels that no record accounts for. Reported, never
/// deleted: look at it in the cluster and decide.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrphanResponse {
    pub provider_id: String,
    pub provider_name: String,
    /// The KubeDB kind (`Postgres`, `MongoDB`, …).
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// What the object's labels say.
    pub database_id: Option<String>,
    pub domain: Option<String>,
    pub project: Option<String>,
    /// `no_database_id` (no `dbaas.io/database-id` label), `no_record` (no such database),
    /// `record_deleted`, `record_elsewhere` (the database lives at another place) or
    /// `owner_mismatch` (the labels name another domain or project than the record).
    pub reason: String,
    pub first_seen_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrphansResponse {
    pub orphans: Vec<OrphanResponse>,
    /// Every active provider was checked at or after this (the reconciler's full pass); null
    /// while one has not been checked yet.
    pub checked_at: Option<DateTime<Utc>>,
}

#[utoipa::path(get, operation_id = "list_orphans", path = "/api/v1/admin/orphans", tag = "admin",
    responses((status = 200, body = OrphansResponse), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn orphans(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<OrphansResponse>> {
    caller.require_platform_admin()?;
    let providers = state.store.list_providers(&Default::default()).await?;
    let names: HashMap<&str, &str> = providers
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    let (found, checks) = state.store.list_orphans().await?;
    let checks: HashMap<String, DateTime<Utc>> = checks.into_iter().collect();
    let checked_at = providers
        .iter()
        .filter(|p| p.is_active)
        .map(|p| checks.get(&p.id).copied())
        .try_fold(None, |min: Option<DateTime<Utc>>, at| {
            at.map(|at| Some(min.map_or(at, |m| m.min(at))))
        })
        .flatten();
    let orphans = found
        .into_iter()
        .filter_map(|o| {
            let provider_name = names.get(o.provider_id.as_str())?.to_string();
            Some(OrphanResponse {
                provider_id: o.provider_id,
                provider_name,
                kind: o.kind,
                namespace: o.namespace,
                name: o.name,
                database_id: o.database_id,
                domain: o.domain,
                project: o.project,
                reason: o.reason,
                first_seen_at: o.first_seen_at,
            })
        })
        .collect();
    Ok(Json(OrphansResponse {
        orphans,
        checked_at,
    }))
}
