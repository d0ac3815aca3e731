//! Health probes and the platform's own Prometheus metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::signals::LeaderView;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub timestamp: DateTime<Utc>,
    /// This replica's name (its workers' lease owner, its candidacy for leader).
    pub replica: String,
    /// Who leads the cluster-facing loops and in which term (absent until the first look).
    pub leader: Option<LeaderView>,
}

#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "healthy".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        timestamp: Utc::now(),
        replica: state.ops.replica_id.clone(),
        leader: state.ops.leader(),
    })
}

#[utoipa::path(get, operation_id = "health_live", path = "/health/live", tag = "health", responses((status = 200)))]
pub async fn live() -> Json<Value> {
    Json(json!({"status": "alive", "timestamp": Utc::now()}))
}

#[utoipa::path(get, operation_id = "health_startup", path = "/health/startup", tag = "health", responses((status = 200)))]
pub async fn startup(State(state): State<AppState>) -> Json<Value> {
    Json(
        json!({"status": "started", "uptime_seconds": state.started_at.elapsed().as_secs_f64(), "timestamp": Utc::now()}),
    )
}

/// Ready when the store answers: 503 names what failed. Redis is shared state this replica can
/// serve without (rate limits count in process meanwhile), so a Redis that does not answer
/// makes the replica `degraded`, still ready.
#[utoipa::path(get, operation_id = "health_ready", path = "/health/ready", tag = "health", responses((status = 200), (status = 503)))]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let mut checks = serde_json::Map::new();
    let mut ok = true;
    let mut degraded = false;
    match state.store.ping().await {
        Ok(()) => {
            checks.insert(
                "store".into(),
                json!({"status": "ok", "backend": state.store.backend()}),
            );
        }
        Err(e) => {
            ok = false;
            checks.insert("store".into(), json!({"status": "error", "backend": state.store.backend(), "error": e.to_string()}));
        }
    }
    if let Some(conn) = &state.redis {
        let mut conn = conn.clone();
        let pong = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await;
        match pong {
            Ok(Ok(_)) => {
                checks.insert("redis".into(), json!({"status": "ok"}));
            }
            Ok(Err(e)) => {
                degraded = true;
                checks.insert(
                    "redis".into(),
                    json!({"status": "error", "error": e.to_string()}),
                );
            }
            Err(_) => {
                degraded = true;
                checks.insert(
                    "redis".into(),
                    json!({"status": "error", "error": "timed out"}),
                );
            }
        }
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let said = match (ok, degraded) {
        (false, _) => "not_ready",
        (true, true) => "degraded",
        (true, false) => "ready",
    };
    let body = json!({"status": said, "checks": checks, "timestamp": Utc::now()});
    (status, Json(body))
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render() + &state.passwords.render(),
    )
}
