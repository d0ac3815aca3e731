//! `GET /{id}/metrics`: a database's live metrics from its exporter, through the layers of
//! [`crate::live_metrics`], limited per user and per database.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use domain::access::Action;
use domain::engine::Engine;
use domain::metrics::{history_metric, history_metrics, parse_prom_duration, MetricsDoc};
use domain::DomainError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::databases::load;
use super::tenants::project_scope;
use crate::auth::{rate_limited, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::live_metrics::{exporting, Reading, Source};
use crate::ratelimit::MINUTE;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct MetricsResponse {
    pub database_id: String,
    pub engine: Engine,
    /// When the exporter was read.
    pub collected_at: DateTime<Utc>,
    /// `live`: read for this request; `cache`: a recent reading; `stale`: the last good reading,
    /// served because the exporter cannot be read now.
    #[schema(value_type = String, example = "live")]
    pub source: Source,
    pub metrics: MetricsDoc,
}

impl MetricsResponse {
    fn of(r: &Reading, source: Source) -> Self {
        MetricsResponse {
            database_id: r.database_id.clone(),
            engine: r.engine,
            collected_at: r.collected_at,
            source,
            metrics: r.doc.clone(),
        }
    }
}

/// A database with monitoring off has no exporter to read.
fn monitored(db: &domain::model::Database) -> ApiResult<()> {
    if db.monitoring_enabled {
        return Ok(());
    }
    Err(DomainError::InvalidState(format!(
        "monitoring is off for database '{}'; turn it on with PATCH monitoring_enabled=true",
        db.name
    ))
    .into())
}

#[utoipa::path(get, operation_id = "get_database_metrics", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/metrics", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = MetricsResponse),
        (status = 400, description = "invalid_state: monitoring is off, or the database is not running"),
        (status = 404), (status = 429, description = "rate_limited: per user or per database"),
        (status = 503, description = "unavailable: the exporter cannot be read and no recent reading is kept")),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    project_scope(&caller, Action::ReadProject, &domain, &project)?;
    let config = &state.config;
    let user_key = format!("metrics:user:{}", caller.user_id);
    let database_key = format!("metrics:database:{id}");
    // The user's limit first: a user over theirs does not use up the database's.
    let d = state
        .limiter
        .hit_in_turn(
            &[
                (&user_key, config.metrics_per_user_per_minute),
                (&database_key, config.metrics_per_database_per_minute),
            ],
            MINUTE,
        )
        .await;
    if !d.allowed {
        state
            .metrics
            .db_metrics_requests
            .with_label_values(&["rate_limited"])
            .inc();
        return Err(rate_limited(&d));
    }
    let answer = |r: &Reading, source: Source| Json(MetricsResponse::of(r, source)).into_response();
    let encode = |r: &Reading, source: Source| {
        // Strings, numbers and string-keyed maps: encoding cannot fail.
        Bytes::from(serde_json::to_vec(&MetricsResponse::of(r, source)).expect("JSON"))
    };
    if let Some(body) = state
        .live_metrics
        .cached(&state, &id, &domain, &project, encode)
        .await
    {
        state
            .metrics
            .db_metrics_requests
            .with_label_values(&["l1"])
            .inc();
        return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    let db = load(&state, &domain, &project, &id).await?;
    monitored(&db)?;
    if !exporting(db.status) {
        return Err(DomainError::InvalidState(format!(
            "database '{}' is {}; metrics are read while it runs",
            db.name, db.status
        ))
        .into());
    }
    match state.live_metrics.read(&state, &db).await {
        Ok((r, source)) => Ok(answer(&r, source)),
        Err(e) => {
            state
                .metrics
                .db_metrics_requests
                .with_label_values(&["unavailable"])
                .inc();
            Err(e.into())
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// One of the engine's history series (`cpu_cores`, `memory_bytes`, `qps`, `connections`, …;
    /// a wrong name answers 422 listing them).
    pub metric: String,
    /// How far back, as Prometheus writes durations: `5m` to `30d` (default `1h`).
    #[param(pattern = r"^[0-9]+[smhdw]$", example = "1h")]
    pub range: Option<String>,
    /// Seconds between points, as a duration (`15s`, `1m`, …); default: the range / 120, at least
    /// 15 s. At most 11,000 points.
    #[param(pattern = r"^[0-9]+[smhdw]$", example = "1m")]
    pub step: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryResponse {
    pub database_id: String,
    pub engine: Engine,
    pub metric: String,
    pub unit: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub step_seconds: u64,
    pub series: Vec<crate::metrics_history::Series>,
}

const MIN_RANGE: u64 = 300;
const MAX_RANGE: u64 = 30 * 86_400;
const MAX_POINTS: u64 = 11_000;

#[utoipa::path(get, operation_id = "get_database_metrics_history", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/metrics/history", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), HistoryQuery),
    responses((status = 200, body = HistoryResponse),
        (status = 400, description = "invalid_state: monitoring is off"),
        (status = 404), (status = 422, description = "validation_error: metric, range or step"),
        (status = 429, description = "rate_limited"),
        (status = 503, description = "unavailable: no Prometheus is configured, or it cannot be reached")),
    security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, id)): Path<(String, String, String)>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<HistoryResponse>> {
    project_scope(&caller, Action::ReadProject, &domain, &project)?;
    let key = format!("metrics:user:{}", caller.user_id);
    let d = state
        .limiter
        .hit(&key, state.config.metrics_per_user_per_minute, MINUTE)
        .await;
    if !d.allowed {
        return Err(rate_limited(&d));
    }
    let db = load(&state, &domain, &project, &id).await?;
    let Some(metric) = history_metric(db.engine, &q.metric) else {
        let offered: Vec<&str> = history_metrics(db.engine).map(|m| m.name).collect();
        return Err(ApiError::validation(
            "metric",
            format!("{} offers {}", db.engine.as_str(), offered.join(", ")),
        ));
    };
    let range = match q.range.as_deref() {
        None => 3600,
        Some(r) => parse_prom_duration(r)
            .filter(|r| (MIN_RANGE..=MAX_RANGE).contains(r))
            .ok_or_else(|| {
                ApiError::validation("range", "a duration from 5m to 30d, such as 1h or 7d")
            })?,
    };
    let step = match q.step.as_deref() {
        None => (range / 120).max(15),
        Some(s) => parse_prom_duration(s)
            .filter(|s| range / s <= MAX_POINTS && *s <= range)
            .ok_or_else(|| {
                ApiError::validation(
                    "step",
                    format!("a duration such as 15s or 1m, at most the range, with at most {MAX_POINTS} points"),
                )
            })?,
    };
    monitored(&db)?;
    let Some(prometheus) = state.prometheus.as_ref() else {
        return Err(ApiError::unavailable(
            "no Prometheus is configured (DBAAS_PROMETHEUS_URL); metric history needs one",
        ));
    };
    let end = Utc::now();
    let start = end - chrono::Duration::seconds(range as i64);
    let series = prometheus
        .range(&metric.query_for(&db.id), start, end, step)
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(HistoryResponse {
        database_id: db.id,
        engine: db.engine,
        metric: q.metric,
        unit: metric.unit.to_string(),
        start,
        end,
        step_seconds: step,
        series,
    }))
}
