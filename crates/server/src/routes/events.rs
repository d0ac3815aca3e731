//! What happened to a database, as one timeline (status moves and operations, newest first), and a
//! server-sent-events stream of status and operation changes the caller may see, for consoles
//! that would otherwise poll.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use chrono::{DateTime, Utc};
use domain::access::Action;
use domain::audit::AuditFilter;
use domain::model::{Database, Operation, PageRequest};
use domain::status::DatabaseStatus;
use futures::Stream;
use provider::translate::Owner;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::OperationFilter;
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;

use super::databases::load;
use super::tenants::project_scope;
use super::{PageMeta, PageQuery};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::state::AppState;
use crate::workflows::databases::{owned_read, provider_cluster};
use crate::workflows::Actor;

/// At most this many status moves and operations are merged into one timeline.
const HISTORY: i64 = 1000;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TimelineEvent {
    pub at: DateTime<Utc>,
    /// `status` (the database moved), `operation` (queued, started, ended), `drift` (the
    /// reconciler found the cluster differing from what the platform set, and what it did) or
    /// `kubernetes` (an Event the cluster recorded on the database's KubeDB object or its
    /// OpsRequests).
    #[schema(value_type = String)]
    pub kind: std::borrow::Cow<'static, str>,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: Value,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Timeline {
    pub events: Vec<TimelineEvent>,
    /// Why the cluster's events are missing from this page (the cluster could not be reached);
    /// absent when they are merged in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_events_unavailable: Option<String>,
    #[serde(flatten)]
    pub meta: PageMeta,
}

fn operation_events(o: &Operation, out: &mut Vec<TimelineEvent>) {
    let details = |extra: Value| {
        let mut d = json!({"operation_id": o.id, "type": o.op_type});
        if let (Value::Object(d), Value::Object(e)) = (&mut d, extra) {
            d.extend(e);
        }
        d
    };
    out.push(TimelineEvent {
        at: o.created_at,
        kind: "operation".into(),
        message: format!("{} queued", o.op_type),
        details: details(json!({"status": "queued"})),
    });
    if let Some(at) = o.started_at {
        out.push(TimelineEvent {
            at,
            kind: "operation".into(),
            message: format!("{} started", o.op_type),
            details: details(json!({"status": "in_progress"})),
        });
    }
    if let Some(at) = o.completed_at {
        let why = o
            .error_message
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        out.push(TimelineEvent {
            at,
            kind: "operation".into(),
            message: format!("{} {}{why}", o.op_type, o.status),
            details: details(json!({"status": o.status, "error_message": o.error_message,
                "ops_request_name": o.ops_request_name})),
        });
    }
}

#[utoipa::path(get, operation_id = "list_database_events", path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/events", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), PageQuery),
    responses((status = 200, body = Timeline), (status = 404)), security(("bearer" = [])))]
pub async fn timeline(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, id)): Path<(String, String, String)>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Timeline>> {
    project_scope(&caller, Action::ReadProject, &domain, &project)?;
    let db = load(&state, &domain, &project, &id).await?;
    let page = q.request()?;
    let mut events: Vec<TimelineEvent> = state
        .store
        .status_events(&db.id, HISTORY)
        .await?
        .into_iter()
        .map(|e| TimelineEvent {
            at: e.at,
            kind: "status".into(),
            message: match e.from {
                Some(f) => format!("{f} → {}", e.to),
                None => format!("created as {}", e.to),
            },
            details: json!({"from": e.from, "to": e.to}),
        })
        .collect();
    let ops = state
        .store
        .list_operations(
            &OperationFilter {
                database_id: Some(db.id.clone()),
                ..Default::default()
            },
            PageRequest {
                page: 1,
                page_size: HISTORY,
            },
        )
        .await?;
    for o in &ops.items {
        operation_events(o, &mut events);
    }
    let drift = state
        .store
        .list_audit(
            &AuditFilter {
                action: Some(crate::reconciler::DRIFT_DETECTED.into()),
                resource_type: Some("database".into()),
                resource_id: Some(db.id.clone()),
                ..Default::default()
            },
            PageRequest {
                page: 1,
                page_size: 100,
            },
        )
        .await?;
    events.extend(drift.items.into_iter().map(|a| TimelineEvent {
        at: a.timestamp,
        kind: "drift".into(),
        message: format!(
            "drift: {}",
            a.details["summary"].as_str().unwrap_or("the cluster differed")
        ),
        details: a.details,
    }));
    // The cluster's own record. Another owner's object is refused (409, audited) as on every
    // read; an unreachable cluster leaves the platform's part of the timeline, saying why.
    let mut kubernetes_events_unavailable = None;
    match cluster_events(&state, &caller, &db).await {
        Ok(list) => events.extend(list.into_iter().map(|e| TimelineEvent {
            at: e.at,
            kind: "kubernetes".into(),
            message: format!(
                "{}/{} {}: {}",
                e.object_kind, e.object_name, e.reason, e.message
            ),
            details: json!({"type": e.type_, "reason": e.reason, "object_kind": e.object_kind,
                "object_name": e.object_name, "count": e.count}),
        })),
        Err(e) if e.status == StatusCode::CONFLICT => return Err(e),
        Err(e) => kubernetes_events_unavailable = Some(e.message),
    }
    // Newest first; a stable order among events of the same instant.
    events.sort_by_key(|e| std::cmp::Reverse(e.at));
    let total = events.len() as i64;
    let events = events
        .into_iter()
        .skip(page.offset().max(0) as usize)
        .take(page.page_size as usize)
        .collect();
    Ok(Json(Timeline {
        events,
        kubernetes_events_unavailable,
        meta: PageMeta {
            total,
            page: page.page,
            page_size: page.page_size,
        },
    }))
}

/// The Events of the database's KubeDB object and OpsRequests, after the ownership check.
async fn cluster_events(
    state: &AppState,
    caller: &Caller,
    db: &Database,
) -> ApiResult<Vec<provider::ObservedEvent>> {
    let (Some(ns), Some(name), Some(pid)) =
        (&db.namespace, &db.kubedb_resource_name, &db.provider_id)
    else {
        return Ok(Vec::new());
    };
    if db.status == DatabaseStatus::Deleted {
        return Ok(Vec::new());
    }
    let (ctx, actor) = (state.workflows(), Actor::from(caller));
    let cluster = provider_cluster(&ctx, pid).await?;
    let found = cluster
        .database_events(db.engine, ns, name, &Owner::of(db), HISTORY as usize)
        .await;
    owned_read(&ctx, &actor, db, found).await
}

/// One change, as the stream sends it (`event: database`).
async fn change_event(state: &AppState, caller: &Caller, id: &str) -> Option<Event> {
    let db = state.store.get_database(id).await.ok()??;
    project_scope(caller, Action::ReadProject, &db.domain, &db.project).ok()?;
    let latest = state
        .store
        .list_operations(
            &OperationFilter {
                database_id: Some(db.id.clone()),
                ..Default::default()
            },
            PageRequest {
                page: 1,
                page_size: 1,
            },
        )
        .await
        .ok()
        .and_then(|p| p.items.into_iter().next());
    let data = json!({
        "database_id": db.id, "name": db.name, "domain": db.domain, "project": db.project,
        "status": db.status, "health_status": db.health_status, "kubedb_phase": db.kubedb_phase,
        "ready_replicas": db.ready_replicas, "updated_at": db.updated_at,
        "operation": latest.map(|o| json!({"id": o.id, "type": o.op_type, "status": o.status,
            "progress": o.progress, "message": o.message})),
    });
    Event::default().event("database").json_data(data).ok()
}

#[utoipa::path(get, operation_id = "stream_events", path = "/api/v1/events/stream", tag = "databases",
    responses((status = 200, description = "text/event-stream: `event: database` with {database_id, name, domain, project, status, health_status, kubedb_phase, ready_replicas, updated_at, operation}, for the databases the caller can see; `event: lagged` when changes were skipped (re-read the list)")),
    security(("bearer" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = state.ops.changes();
    let ending = state.ops.shutting_down();
    let events = futures::stream::unfold(
        (state, caller, changes, ending),
        |(state, caller, mut changes, mut ending)| async move {
            loop {
                let next = tokio::select! {
                    n = changes.recv() => n,
                    _ = ending.wait_for(|s| *s) => return None,
                };
                match next {
                    Ok(id) => {
                        if let Some(e) = change_event(&state, &caller, &id).await {
                            return Some((Ok(e), (state, caller, changes, ending)));
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        let e = Event::default()
                            .event("lagged")
                            .data(format!("{n} changes skipped; re-read the databases"));
                        return Some((Ok(e), (state, caller, changes, ending)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
