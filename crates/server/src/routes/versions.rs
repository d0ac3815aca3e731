//! `GET /api/v1/versions`: the versions new databases may use, per engine, from the catalogs of
//! the active providers the caller could place on, filtered by the allowed-versions policy.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use domain::engine::Engine;
use serde::Deserialize;
use utoipa::IntoParams;

use super::providers::{offered, offering_providers, VersionItem};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionsQuery {
    /// Only this engine.
    pub engine: Option<Engine>,
}

/// `{<engine>: [{version, name, deprecated}]}`, newest first; every engine (or the one asked for)
/// is a key, with an empty list when nothing is offered.
#[utoipa::path(get, path = "/api/v1/versions", tag = "versions", params(VersionsQuery),
    responses((status = 200, body = BTreeMap<String, Vec<VersionItem>>, description = "engine → offered versions, newest first"),
        (status = 422, description = "unknown engine")),
    security(("bearer" = [])))]
pub async fn list_versions(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<VersionsQuery>,
) -> ApiResult<Json<BTreeMap<Engine, Vec<VersionItem>>>> {
    let providers = offering_providers(&state, &caller, None, None).await?;
    let engines: Vec<Engine> = match q.engine {
        Some(e) => vec![e],
        None => Engine::ALL.to_vec(),
    };
    Ok(Json(
        engines
            .into_iter()
            .map(|e| (e, offered(&state, e, &providers)))
            .collect(),
    ))
}
