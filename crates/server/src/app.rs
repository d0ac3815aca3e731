//! The router and its middleware stack.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::normalize_path::NormalizePath;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth;
use crate::error::ApiError;
use crate::metrics;
use crate::routes::{
    account, admin, audit_logs, auth as auth_routes, backups, console, console_session, databases,
    day2, db_metrics, docs, events, health, operations, providers, tenants, users, versions,
};
use crate::state::AppState;

pub const BODY_LIMIT: usize = 1024 * 1024;
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP application. Trailing slashes are trimmed before routing, so every collection
/// route answers with and without one, with no redirect.
pub fn app(state: AppState) -> NormalizePath<Router> {
    let open = Router::new()
        .route("/auth/register", post(auth_routes::register))
        .route("/auth/login", post(auth_routes::login))
        .route("/auth/refresh", post(auth_routes::refresh))
        .route("/auth/logout", post(auth_routes::logout))
        .route("/auth/console/login", post(console_session::login))
        .route("/auth/console/refresh", post(console_session::refresh))
        .route("/auth/console/logout", post(console_session::logout))
        // Answered without a credential: limited per client IP before any work.
        .route_layer(from_fn_with_state(
            state.clone(),
            crate::auth::limit_unauthenticated,
        ));

    let protected = Router::new()
        .route("/auth/me", get(auth_routes::me))
        .route("/auth/password", post(account::change_password))
        .route("/auth/invitations", get(account::list_my_invitations))
        .route(
            "/auth/invitations/{id}/accept",
            post(account::accept_invitation),
        )
        .route(
            "/auth/invitations/{id}/decline",
            post(account::decline_invitation),
        )
        .route(
            "/auth/api-keys",
            post(auth_routes::create_api_key).get(auth_routes::list_api_keys),
        )
        .route(
            "/auth/api-keys/{id}",
            axum::routing::delete(auth_routes::revoke_api_key),
        )
        .route(
            "/tenants",
            post(tenants::create_tenant).get(tenants::list_tenants),
        )
        .route(
            "/tenants/{domain}",
            get(tenants::get_tenant)
                .patch(tenants::update_tenant)
                .delete(tenants::delete_tenant),
        )
        .route(
            "/tenants/{domain}/invitations",
            get(tenants::list_domain_invitations),
        )
        .route(
            "/tenants/{domain}/invitations/{id}",
            axum::routing::delete(tenants::revoke_invitation),
        )
        .route(
            "/tenants/{domain}/projects/{project}/invitations",
            get(tenants::list_project_invitations),
        )
        .route("/tenants/{domain}/quota", get(tenants::tenant_quota))
        .route(
            "/tenants/{domain}/members",
            get(tenants::list_domain_members).post(tenants::add_domain_member),
        )
        .route(
            "/tenants/{domain}/members/{user_id}",
            axum::routing::delete(tenants::remove_domain_member),
        )
        .route(
            "/tenants/{domain}/projects",
            post(tenants::create_project).get(tenants::list_projects),
        )
        .route(
            "/tenants/{domain}/projects/{project}",
            get(tenants::get_project)
                .patch(tenants::update_project)
                .delete(tenants::delete_project),
        )
        .route(
            "/tenants/{domain}/projects/{project}/quota",
            get(tenants::project_quota),
        )
        .route(
            "/tenants/{domain}/projects/{project}/members",
            get(tenants::list_project_members).post(tenants::add_project_member),
        )
        .route(
            "/tenants/{domain}/projects/{project}/members/{user_id}",
            axum::routing::delete(tenants::remove_project_member),
        )
        .route("/users", post(users::create_user).get(users::list_users))
        .route(
            "/users/{id}",
            get(users::get_user)
                .patch(users::update_user)
                .delete(users::delete_user),
        )
        .route("/audit-logs", get(audit_logs::list))
        .route(
            "/providers",
            post(providers::create_provider).get(providers::list_providers),
        )
        .route("/providers/engines", get(providers::engines))
        .route(
            "/providers/versions/{engine}",
            get(providers::engine_versions),
        )
        .route("/providers/select", post(providers::select))
        .route("/providers/available/list", get(providers::available_list))
        .route(
            "/providers/{id}",
            get(providers::get_provider)
                .patch(providers::update_provider)
                .delete(providers::delete_provider),
        )
        .route(
            "/providers/{id}/backup-storage",
            get(backups::get_provider_storage).put(backups::put_provider_storage),
        )
        .route(
            "/tenants/{domain}/backup-storage",
            get(backups::get_tenant_storage).put(backups::put_tenant_storage),
        )
        .route("/versions", get(versions::list_versions))
        .route(
            "/domain/{domain}/project/{project}/databases",
            post(databases::create).get(databases::list),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}",
            get(databases::get)
                .patch(day2::update)
                .delete(databases::delete),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/events",
            get(events::timeline),
        )
        .route("/events/stream", get(events::stream))
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/scale",
            post(day2::scale),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/pause",
            post(day2::pause),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/resume",
            post(day2::resume),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/restart",
            post(day2::restart),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/available-upgrades",
            get(day2::available_upgrades),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/upgrade",
            post(day2::upgrade),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/upgrade-policy",
            put(day2::upgrade_policy),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/reconfigure",
            post(day2::reconfigure),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/rotate-credentials",
            post(day2::rotate_credentials),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/backup",
            post(backups::trigger_backup),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/backups",
            get(backups::list_backups),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/backups/{backup_id}",
            get(backups::get_backup),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/restore",
            post(backups::restore),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/status",
            get(databases::status),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/metrics",
            get(db_metrics::get),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/metrics/history",
            get(db_metrics::history),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/credentials",
            get(databases::credentials),
        )
        .route(
            "/domain/{domain}/project/{project}/databases/{id}/refresh-endpoint",
            post(databases::refresh_endpoint),
        )
        .route("/operations", get(operations::list))
        .route("/operations/queue/stats", get(operations::queue_stats))
        .route("/operations/{id}", get(operations::get))
        .route("/operations/{id}/cancel", post(operations::cancel))
        .route("/admin/orphans", get(admin::orphans))
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate));

    let router = Router::new()
        .nest("/api/v1", open.merge(protected))
        .route("/health", get(health::health))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/health/startup", get(health::startup))
        .route("/metrics", get(health::metrics))
        .route(
            "/openapi.json",
            get(docs::openapi_json).route_layer(from_fn_with_state(
                state.clone(),
                crate::auth::limit_unauthenticated,
            )),
        )
        .route("/docs", get(docs::docs_page))
        .fallback(console_or_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::internal().into_response()
                }))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http())
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(cors(&state.config.cors_origins))
                .layer(from_fn(envelope_errors))
                .layer(from_fn_with_state(state.clone(), auth::request_context))
                .layer(from_fn_with_state(state.clone(), track_request))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(30),
                )),
        )
        .with_state(state);
    NormalizePath::trim_trailing_slash(router)
}

/// The web console's files and pages; anything else no route took is a JSON 404.
async fn console_or_not_found(req: Request) -> Response {
    match console::serve(&req) {
        Some(page) => page,
        None => not_found(req).await.into_response(),
    }
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("No route for {} {}", req.method(), req.uri().path()),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "Method {} is not allowed on {}",
            req.method(),
            req.uri().path()
        ),
    )
}

fn cors(origins: &[String]) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static(console_session::CSRF_HEADER),
            REQUEST_ID,
        ])
        .expose_headers([
            REQUEST_ID,
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        // Any origin, but never with credentials: the browser then sends no cookies, and we use none.
        return base.allow_origin(AllowOrigin::any());
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter(|o| !o.is_empty())
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    base.allow_origin(AllowOrigin::list(list))
}

/// Errors raised outside handlers (framework rejections, timeouts, panics) get the same envelope
/// as ours; every 500 carries its request id.
async fn envelope_errors(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut resp = next.run(req).await;
    let status = resp.status();
    if !status.is_client_error() && !status.is_server_error() {
        return resp;
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the body was never read: the connection cannot be reused.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json && status != StatusCode::INTERNAL_SERVER_ERROR {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .unwrap_or_default();
    let mut envelope: serde_json::Value = if is_json {
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
    } else {
        serde_json::Value::Null
    };
    if envelope.get("error").is_none() {
        let text = String::from_utf8_lossy(&bytes).trim().to_string();
        let message = if text.is_empty() || status.is_server_error() {
            status.canonical_reason().unwrap_or("Error").to_string()
        } else {
            text
        };
        envelope = ApiError::envelope(
            status,
            ApiError::code_for(status),
            &message,
            &serde_json::Value::Null,
        );
    }
    if status.is_server_error() {
        if let (Some(id), Some(err)) = (&request_id, envelope.get_mut("error")) {
            err["request_id"] = serde_json::Value::String(id.clone());
        }
    }
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(envelope.to_string()))
}

/// Counts and times every request. Every label comes from a fixed set, never from request text
/// (`/metrics` is unauthenticated, and each new label value is a new series kept forever): the
/// method is one of the standard ones or `other`, the route is the matched route template or
/// `unmatched`, the status is the numeric code the server chose.
async fn track_request(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = metrics::method_label(req.method());
    let start = Instant::now();
    let resp = next.run(req).await;
    let m = &state.metrics;
    m.http_duration
        .with_label_values(&[method, route.as_str()])
        .observe(start.elapsed().as_secs_f64());
    m.http_requests
        .with_label_values(&[method, route.as_str(), resp.status().as_str()])
        .inc();
    resp
}
