//! HTTP front end: authentication, request counting, fault injection, routing, and the list,
//! watch and table encodings.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use http::{header, HeaderMap, Method, StatusCode};
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::discovery;
use super::error::ApiError;
use super::metrics::client_name;
use super::patch::{self, PatchType};
use super::protobuf;
use super::registry::ResourceInfo;
use super::selectors::{FieldSelector, LabelSelector};
use super::server::{present, ApiServer, DeleteOpts, WriteOpts};
use super::store::{Event, StoreError};
use super::table;
use crate::faults::{FaultKind, FaultSettings};

/// Marker on a response: close the connection without answering (the `Drop` fault).
#[derive(Clone, Copy, Debug)]
pub struct DropConnection;

/// Bodies up to this size are accepted (the largest upstream CRD is ~1 MB as JSON).
const MAX_BODY: usize = 64 * 1024 * 1024;

pub fn router(srv: Arc<ApiServer>, server_address: String) -> Router {
    Router::new().fallback(handle).with_state(AppState {
        srv,
        server_address: Arc::new(server_address),
    })
}

#[derive(Clone)]
struct AppState {
    srv: Arc<ApiServer>,
    server_address: Arc<String>,
}

type Query = HashMap<String, String>;

fn json_response(code: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (code, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn json_value(code: StatusCode, v: &Value) -> Response {
    json_response(code, serde_json::to_vec(v).unwrap_or_default())
}

/// A parsed resource path.
#[derive(Debug, Default, Clone)]
struct Target {
    group: String,
    version: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    sub: Option<String>,
    rest: String,
}

enum Route {
    Health,
    Version,
    Api,
    Apis,
    Group(String),
    GroupVersion(String, String),
    OpenApiV2,
    OpenApiV3(String),
    Metrics,
    Faults,
    Resource(Target),
    Unknown,
}

fn parse_route(srv: &ApiServer, path: &str) -> Route {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segs.as_slice() {
        ["healthz" | "livez" | "readyz", ..] => return Route::Health,
        ["version"] => return Route::Version,
        ["metrics"] => return Route::Metrics,
        ["sim", "faults"] => return Route::Faults,
        ["openapi", "v2"] => return Route::OpenApiV2,
        ["openapi", "v3", rest @ ..] => return Route::OpenApiV3(rest.join("/")),
        ["api"] => return Route::Api,
        ["apis"] => return Route::Apis,
        ["apis", g] => return Route::Group(g.to_string()),
        ["api", v] => return Route::GroupVersion(String::new(), v.to_string()),
        ["apis", g, v] => return Route::GroupVersion(g.to_string(), v.to_string()),
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return Route::Unknown,
    };
    let mut t = Target {
        group,
        version,
        ..Default::default()
    };
    let mut rest = rest;
    if rest.len() >= 3 && rest[0] == "namespaces" {
        let namespace_sub =
            t.group.is_empty() && rest.len() == 3 && matches!(rest[2], "status" | "finalize");
        let is_resource = srv.registry.get(&t.group, rest[2]).is_some();
        if !namespace_sub && (is_resource || rest.len() > 3) {
            t.namespace = Some(rest[1].to_string());
            rest = &rest[2..];
        }
    }
    t.plural = rest[0].to_string();
    t.name = rest.get(1).map(|s| s.to_string());
    t.sub = rest.get(2).map(|s| s.to_string());
    if rest.len() > 3 {
        t.rest = rest[3..].join("/");
    }
    Route::Resource(t)
}

fn verb_of(method: &Method, t: &Target, q: &Query) -> &'static str {
    if t.sub.as_deref() == Some("proxy") {
        return "proxy";
    }
    let watch = q.get("watch").is_some_and(|w| w == "1" || w == "true");
    match *method {
        Method::GET if t.name.is_none() && watch => "watch",
        Method::GET if t.name.is_none() => "list",
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if t.name.is_none() => "deletecollection",
        Method::DELETE => "delete",
        _ => "unknown",
    }
}

fn bool_param(q: &Query, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

/// `Some(token name)` when the request carries a known bearer token (or none is required).
fn authorized(srv: &ApiServer, headers: &HeaderMap) -> Option<String> {
    if srv.tokens.is_empty() {
        return Some(String::new());
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    srv.tokens.get(bearer.trim()).cloned()
}

/// The first matching API fault rule decides; latency from every matching rule adds up.
async fn apply_faults(settings: &FaultSettings, verb: &str, resource: &str) -> Option<Response> {
    let mut latency = 0u64;
    let mut failure = None;
    for rule in &settings.api {
        let verb_ok = rule.verb.as_deref().is_none_or(|v| v == verb || v == "*");
        let res_ok = rule
            .resource
            .as_deref()
            .is_none_or(|r| r == "*" || r == resource || resource.split('.').next() == Some(r));
        if !(verb_ok && res_ok) {
            continue;
        }
        latency += rule.latency_ms;
        if failure.is_none()
            && rule.error_rate > 0.0
            && rand::thread_rng().gen_bool(rule.error_rate.clamp(0.0, 1.0))
        {
            failure = Some(rule.error.unwrap_or(FaultKind::ServerError));
        }
    }
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match failure? {
        FaultKind::ServerError => {
            Some(ApiError::internal("injected fault: internal error").into_response())
        }
        FaultKind::TooManyRequests => {
            let mut e = ApiError::new(
                429,
                "TooManyRequests",
                "injected fault: too many requests, please try again later",
            );
            e.details.retry_after = Some(1);
            Some(e.into_response())
        }
        FaultKind::Timeout => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            Some(
                ApiError::new(504, "Timeout", "injected fault: the request timed out")
                    .into_response(),
            )
        }
        FaultKind::Drop => {
            let mut r = StatusCode::SERVICE_UNAVAILABLE.into_response();
            r.extensions_mut().insert(DropConnection);
            Some(r)
        }
    }
}

async fn handle(State(app): State<AppState>, req: Request) -> Response {
    let srv = app.srv.clone();
    let (parts, body) = req.into_parts();
    let q: Query = parts
        .uri
        .query()
        .map(|qs| url_pairs(qs).collect())
        .unwrap_or_default();
    let route = parse_route(&srv, parts.uri.path());
    if matches!(route, Route::Health) {
        return (StatusCode::OK, "ok").into_response();
    }
    let Some(token_name) = authorized(&srv, &parts.headers) else {
        return ApiError::unauthorized().into_response();
    };
    // Named tokens (e.g. the simulated operator's) identify the client; otherwise the User-Agent.
    let client = if token_name.is_empty() || token_name == "admin" {
        client_name(
            parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        )
    } else {
        token_name
    };
    let (verb, resource) = match &route {
        Route::Resource(t) => {
            let mut r = if t.group.is_empty() {
                t.plural.clone()
            } else {
                format!("{}.{}", t.plural, t.group)
            };
            if let Some(s) = &t.sub {
                r = format!("{r}/{s}");
            }
            (verb_of(&parts.method, t, &q), r)
        }
        _ => (
            if parts.method == Method::GET {
                "get"
            } else {
                "other"
            },
            String::new(),
        ),
    };
    srv.metrics.record(verb, &resource, &client);
    if verb == "watch" {
        let agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown");
        srv.metrics.record_watch(agent);
    }
    if !matches!(route, Route::Faults | Route::Metrics) {
        let settings = srv.faults.get();
        if !settings.api.is_empty() {
            if let Some(resp) = apply_faults(&settings, verb, &resource).await {
                return resp;
            }
        }
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::bad_request(format!("reading request body: {e}")).into_response()
        }
    };
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let result = match route {
        Route::Health => Ok((StatusCode::OK, "ok").into_response()),
        Route::Version => Ok(json_value(StatusCode::OK, &discovery::version())),
        Route::Api => Ok(json_value(
            StatusCode::OK,
            &discovery::api_versions(&app.server_address),
        )),
        Route::Apis => Ok(json_value(
            StatusCode::OK,
            &discovery::api_group_list(&srv.registry),
        )),
        Route::Group(g) => discovery::api_group(&srv.registry, &g)
            .map(|v| json_value(StatusCode::OK, &v))
            .ok_or_else(ApiError::path_not_found),
        Route::GroupVersion(g, v) => discovery::resource_list(&srv.registry, &g, &v)
            .map(|v| json_value(StatusCode::OK, &v))
            .ok_or_else(ApiError::path_not_found),
        Route::OpenApiV2 => Ok(json_value(StatusCode::OK, &discovery::openapi_v2())),
        Route::OpenApiV3(gv) if gv.is_empty() => Ok(json_value(
            StatusCode::OK,
            &discovery::openapi_v3_root(&srv.registry),
        )),
        Route::OpenApiV3(gv) => discovery::openapi_v3_gv(&srv.registry, &gv)
            .map(|v| json_value(StatusCode::OK, &v))
            .ok_or_else(ApiError::path_not_found),
        Route::Metrics => {
            let mut objects: Vec<(String, usize)> = srv
                .store
                .all()
                .iter()
                .map(|r| {
                    (
                        if r.group.is_empty() {
                            r.plural.clone()
                        } else {
                            format!("{}.{}", r.plural, r.group)
                        },
                        r.len(),
                    )
                })
                .collect();
            objects.sort();
            let mut r = srv.metrics.prometheus(&objects).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            Ok(r)
        }
        Route::Faults => match parts.method {
            Method::GET => Ok(json_value(
                StatusCode::OK,
                &serde_json::to_value(srv.faults.get()).unwrap_or(Value::Null),
            )),
            Method::PUT | Method::POST => match serde_json::from_slice::<FaultSettings>(&body) {
                Ok(s) => {
                    srv.faults.set(s);
                    Ok(json_value(
                        StatusCode::OK,
                        &serde_json::to_value(srv.faults.get()).unwrap_or(Value::Null),
                    ))
                }
                Err(e) => Err(ApiError::bad_request(format!(
                    "invalid fault settings: {e}"
                ))),
            },
            _ => Err(ApiError::method_not_allowed("use GET or PUT")),
        },
        Route::Unknown => Err(ApiError::path_not_found()),
        Route::Resource(t) => {
            serve_resource(
                &srv,
                &parts.method,
                t,
                verb,
                &q,
                &accept,
                &content_type,
                body,
            )
            .await
        }
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Decodes `a=b&c=d` (percent and `+` decoding).
fn url_pairs(qs: &str) -> impl Iterator<Item = (String, String)> + '_ {
    qs.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (pct_decode(k), pct_decode(v))
    })
}

fn pct_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn write_opts(q: &Query) -> WriteOpts {
    WriteOpts {
        dry_run: q.get("dryRun").is_some_and(|v| v == "All"),
        strict: q.get("fieldValidation").is_some_and(|v| v == "Strict"),
        field_manager: q.get("fieldManager").cloned(),
        force: bool_param(q, "force"),
    }
}

fn parse_json_body(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if protobuf::is_protobuf(content_type) {
        return protobuf::decode(body).map_err(proto_error);
    }
    if content_type.contains("yaml") {
        return serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid YAML body: {e}")));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

#[allow(clippy::too_many_arguments)]
async fn serve_resource(
    srv: &Arc<ApiServer>,
    method: &Method,
    t: Target,
    verb: &str,
    q: &Query,
    accept: &str,
    content_type: &str,
    body: Bytes,
) -> Result<Response, ApiError> {
    let info = srv
        .registry
        .lookup(&t.group, &t.version, &t.plural)
        .ok_or_else(ApiError::path_not_found)?;
    if info.namespaced && t.namespace.is_none() && t.name.is_some() {
        return Err(ApiError::path_not_found());
    }
    if !info.namespaced && t.namespace.is_some() {
        return Err(ApiError::path_not_found());
    }
    let ns_key = t.namespace.clone().unwrap_or_default();
    let version = t.version.as_str();
    let as_table = table::wants_table(accept);
    match (verb, t.sub.as_deref()) {
        ("proxy", _) => proxy(srv, &info, &t, q),
        ("watch", _) => watch(srv, info, t, q, as_table),
        ("list", None) => list(srv, &info, version, t.namespace.as_deref(), q, as_table),
        ("get", None | Some("status")) => {
            let name = t.name.as_deref().unwrap_or_default();
            let obj = present(&srv.get(&info, &ns_key, name)?, &info, version);
            if as_table {
                let tbl = table::table(
                    &info,
                    version,
                    &[obj],
                    &rv_of_str(&srv.store.current_rv()),
                    include_object(q),
                );
                return Ok(json_value(StatusCode::OK, &tbl));
            }
            Ok(json_response(
                StatusCode::OK,
                serde_json::to_vec(&*obj).unwrap_or_default(),
            ))
        }
        ("create", None) => {
            let obj = parse_json_body(&body, content_type)?;
            let created =
                srv.create(&info, version, t.namespace.as_deref(), obj, &write_opts(q))?;
            Ok(json_response(
                StatusCode::CREATED,
                serde_json::to_vec(&*created).unwrap_or_default(),
            ))
        }
        ("update", None | Some("status")) => {
            let name = t.name.as_deref().unwrap_or_default();
            let obj = parse_json_body(&body, content_type)?;
            let status_only = t.sub.as_deref() == Some("status");
            if status_only && !info.has_status(version) {
                return Err(ApiError::path_not_found());
            }
            let updated = srv.update(
                &info,
                version,
                &ns_key,
                name,
                obj,
                status_only,
                &write_opts(q),
            )?;
            Ok(json_response(
                StatusCode::OK,
                serde_json::to_vec(&*updated).unwrap_or_default(),
            ))
        }
        ("patch", None | Some("status")) => {
            let name = t.name.as_deref().unwrap_or_default();
            let ty = PatchType::from_content_type(content_type)
                .ok_or_else(|| ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type})")))?;
            let status_only = t.sub.as_deref() == Some("status");
            if status_only && !info.has_status(version) {
                return Err(ApiError::path_not_found());
            }
            let patch_body =
                patch::parse_body(ty, &body).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let (obj, created) = srv.patch(
                &info,
                version,
                &ns_key,
                name,
                ty,
                &patch_body,
                status_only,
                &write_opts(q),
            )?;
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json_response(
                code,
                serde_json::to_vec(&*obj).unwrap_or_default(),
            ))
        }
        ("delete", None) => {
            let name = t.name.as_deref().unwrap_or_default();
            let opts = delete_opts(&body, content_type, q)?;
            let gone = srv.delete(&info, &ns_key, name, &opts)?;
            Ok(json_response(
                StatusCode::OK,
                serde_json::to_vec(&*present(&gone, &info, version)).unwrap_or_default(),
            ))
        }
        ("deletecollection", None) => {
            let opts = delete_opts(&body, content_type, q)?;
            let (label, field) = selectors(q)?;
            let (items, rv) = srv
                .store
                .resource(&info.group, &info.plural)
                .map(|r| r.list_from(t.namespace.as_deref(), None, &label.index_terms()))
                .unwrap_or_default();
            let mut deleted = Vec::new();
            for obj in items
                .iter()
                .map(|e| &e.obj)
                .filter(|o| label.matches(o) && field.matches(o))
            {
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let ns = obj
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if let Ok(gone) = srv.delete(&info, ns, name, &opts) {
                    deleted.push((*present(&gone, &info, version)).clone());
                }
            }
            let list = json!({"apiVersion": info.api_version(version), "kind": format!("{}List", info.kind),
                "metadata": {"resourceVersion": rv.to_string()}, "items": deleted});
            Ok(json_value(StatusCode::OK, &list))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "{method} is not supported on this path"
        ))),
    }
}

fn rv_of_str(rv: &u64) -> String {
    rv.to_string()
}

fn include_object(q: &Query) -> table::Include {
    match q.get("includeObject").map(String::as_str) {
        Some("None") => table::Include::None,
        Some("Metadata") => table::Include::Metadata,
        _ => table::Include::Object,
    }
}

fn proto_error(e: protobuf::ProtoError) -> ApiError {
    match e {
        protobuf::ProtoError::Invalid(_) => ApiError::bad_request(e.to_string()),
        protobuf::ProtoError::Unsupported(m) => ApiError::new(415, "UnsupportedMediaType", m),
    }
}

fn delete_opts(body: &[u8], content_type: &str, q: &Query) -> Result<DeleteOpts, ApiError> {
    let mut opts = DeleteOpts {
        dry_run: q.get("dryRun").is_some_and(|v| v == "All"),
        ..Default::default()
    };
    let mut policy = q.get("propagationPolicy").cloned();
    if !body.is_empty() {
        let v: Value = if protobuf::is_protobuf(content_type) {
            protobuf::decode(body).map_err(proto_error)?
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
        };
        if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
            policy = Some(p.to_string());
        }
        if v.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
            policy = Some("Orphan".into());
        }
        opts.precondition_rv = v
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok());
        opts.precondition_uid = v
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(String::from);
        if v.get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == "All"))
        {
            opts.dry_run = true;
        }
    }
    opts.orphan = policy.as_deref() == Some("Orphan");
    Ok(opts)
}

fn selectors(q: &Query) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let label = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let field = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((label, field))
}

fn obj_key(obj: &Value) -> (String, String) {
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}

fn encode_continue(key: &(String, String)) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&json!([key.0, key.1])).unwrap_or_default())
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::bad_request("invalid continue token");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let v: (String, String) = serde_json::from_slice(&raw).map_err(|_| bad())?;
    Ok(v)
}

fn list(
    srv: &ApiServer,
    info: &ResourceInfo,
    version: &str,
    ns: Option<&str>,
    q: &Query,
    as_table: bool,
) -> Result<Response, ApiError> {
    let (label, field) = selectors(q)?;
    let after = q
        .get("continue")
        .filter(|c| !c.is_empty())
        .map(|c| decode_continue(c))
        .transpose()?;
    // Starts after the continue key and, for equality and set-based label requirements, goes
    // through the label index; the selectors below still decide.
    let (items, rv) = srv
        .store
        .resource(&info.group, &info.plural)
        .map(|r| r.list_from(ns, after.as_ref(), &label.index_terms()))
        .unwrap_or_else(|| (Vec::new(), srv.store.current_rv()));
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let filtering = !label.is_empty() || !field.is_empty();
    let mut selected = Vec::new();
    let mut remaining = 0usize;
    for entry in &items {
        let obj = &entry.obj;
        if let Some(a) = &after {
            if obj_key(obj) <= *a {
                continue;
            }
        }
        if filtering && !(label.matches(obj) && field.matches(obj)) {
            continue;
        }
        if limit.is_some_and(|l| selected.len() >= l) {
            remaining += 1;
            continue;
        }
        selected.push(entry);
    }
    let cont = if remaining > 0 {
        selected.last().map(|e| encode_continue(&obj_key(&e.obj)))
    } else {
        None
    };
    if as_table {
        let objs: Vec<Arc<Value>> = selected
            .iter()
            .map(|e| present(&e.obj, info, version))
            .collect();
        let mut tbl = table::table(info, version, &objs, &rv.to_string(), include_object(q));
        if let Some(c) = &cont {
            tbl["metadata"]["continue"] = json!(c);
        }
        return Ok(json_value(StatusCode::OK, &tbl));
    }
    let api_version = info.api_version(version);
    let same_version = info.api_version(info.storage_version()) == api_version;
    // Objects in the storage version reuse their cached encoding: a list is mostly a memcpy.
    let size: usize = if same_version {
        selected.iter().map(|e| e.json().len() + 1).sum()
    } else {
        selected.len() * 1024
    };
    let mut buf = Vec::with_capacity(256 + size);
    buf.extend_from_slice(b"{\"apiVersion\":");
    let _ = serde_json::to_writer(&mut buf, &api_version);
    buf.extend_from_slice(b",\"kind\":");
    let _ = serde_json::to_writer(&mut buf, &format!("{}List", info.kind));
    buf.extend_from_slice(b",\"metadata\":{\"resourceVersion\":\"");
    buf.extend_from_slice(rv.to_string().as_bytes());
    buf.push(b'"');
    if let Some(c) = &cont {
        buf.extend_from_slice(b",\"continue\":");
        let _ = serde_json::to_writer(&mut buf, c);
        buf.extend_from_slice(format!(",\"remainingItemCount\":{remaining}").as_bytes());
    }
    buf.extend_from_slice(b"},\"items\":[");
    for (i, entry) in selected.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        if same_version {
            buf.extend_from_slice(entry.json());
        } else {
            let _ = serde_json::to_writer(&mut buf, &*present(&entry.obj, info, version));
        }
    }
    buf.extend_from_slice(b"]}");
    Ok(json_response(StatusCode::OK, buf))
}

fn proxy(
    srv: &ApiServer,
    info: &ResourceInfo,
    t: &Target,
    q: &Query,
) -> Result<Response, ApiError> {
    if !(info.group.is_empty() && info.plural == "services") {
        return Err(ApiError::path_not_found());
    }
    let ns = t.namespace.clone().unwrap_or_default();
    let raw = t.name.clone().unwrap_or_default();
    let (svc, port) = raw
        .split_once(':')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap_or((raw.clone(), String::new()));
    srv.get(info, &ns, &svc)?;
    let path = format!("/{}", t.rest);
    let query: Option<String> = if q.is_empty() {
        None
    } else {
        Some(
            q.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&"),
        )
    };
    let backend = srv.proxy_backend();
    match backend.and_then(|b| b.proxy(&ns, &svc, &port, &path, query.as_deref())) {
        Some(r) => {
            let mut resp = (
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK),
                r.body,
            )
                .into_response();
            if let Ok(v) = header::HeaderValue::from_str(&r.content_type) {
                resp.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            Ok(resp)
        }
        None => Err(ApiError::new(
            503,
            "ServiceUnavailable",
            format!("no endpoints available for service \"{svc}\""),
        )),
    }
}

fn event_line(kind: &str, obj: &Value) -> Bytes {
    let mut buf = BytesMut::with_capacity(256).writer();
    let _ = serde_json::to_writer(&mut buf, &json!({"type": kind, "object": obj}));
    let mut b = buf.into_inner();
    b.put_u8(b'\n');
    b.freeze()
}

/// The encoded line for an event in the storage version, cached on the event so that many
/// watchers share one serialisation.
fn stored_event_line(ev: &Event) -> Bytes {
    ev.line
        .get_or_init(|| {
            let mut buf = Vec::with_capacity(512);
            buf.extend_from_slice(b"{\"type\":\"");
            buf.extend_from_slice(ev.kind.as_str().as_bytes());
            buf.extend_from_slice(b"\",\"object\":");
            let _ = serde_json::to_writer(&mut buf, &*ev.object);
            buf.extend_from_slice(b"}\n");
            Bytes::from(buf)
        })
        .clone()
}

struct WatchFilter {
    ns: Option<String>,
    label: LabelSelector,
    field: FieldSelector,
}

impl WatchFilter {
    fn matches(&self, ev: &Event) -> bool {
        if let Some(ns) = &self.ns {
            if &ev.namespace != ns {
                return false;
            }
        }
        (self.label.is_empty() || self.label.matches(&ev.object))
            && (self.field.is_empty() || self.field.matches(&ev.object))
    }
}

fn watch(
    srv: &Arc<ApiServer>,
    info: Arc<ResourceInfo>,
    t: Target,
    q: &Query,
    as_table: bool,
) -> Result<Response, ApiError> {
    let (label, field) = selectors(q)?;
    let filter = WatchFilter {
        ns: t.namespace.clone(),
        label,
        field,
    };
    let send_initial = bool_param(q, "sendInitialEvents");
    let from = match q.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(_) if send_initial => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion: {s}")))?,
        ),
    };
    let bookmarks = bool_param(q, "allowWatchBookmarks");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs);
    let cut = srv.faults.watch_cut();
    let deadline = [timeout, cut].into_iter().flatten().min();
    let res = srv.store.ensure(&info.group, &info.plural);
    let version = t.version.clone();
    let api_version = info.api_version(&version);
    let storage_version = info.api_version(info.storage_version());
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    let encode = {
        let info = info.clone();
        let version = version.clone();
        move |ev: &Event| -> Bytes {
            if as_table {
                let obj = present(&ev.object, &info, &version);
                let tbl = table::table(
                    &info,
                    &version,
                    &[obj],
                    &ev.rv.to_string(),
                    table::Include::Object,
                );
                return event_line(ev.kind.as_str(), &tbl);
            }
            if api_version == storage_version {
                stored_event_line(ev)
            } else {
                event_line(ev.kind.as_str(), &present(&ev.object, &info, &version))
            }
        }
    };
    match res.watch(from) {
        Err(StoreError::Expired { requested, oldest }) => {
            let e = ApiError::gone(format!("too old resource version: {requested} ({oldest})"));
            let line = event_line("ERROR", &e.to_status());
            let _ = tx.try_send(Ok(line));
        }
        Err(e) => return Err(ApiError::internal(e.to_string())),
        Ok((backlog, mut live, start_rv)) => {
            let kind = info.kind.clone();
            let bookmark_every = srv.bookmark_interval;
            let res = res.clone();
            let bm_api_version = info.api_version(&version);
            tokio::spawn(async move {
                let bookmark = |rv: u64, initial_end: bool| {
                    let mut meta = json!({"resourceVersion": rv.to_string()});
                    if initial_end {
                        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
                    }
                    event_line(
                        "BOOKMARK",
                        &json!({"kind": kind, "apiVersion": bm_api_version, "metadata": meta}),
                    )
                };
                let mut last_rv = from.unwrap_or(start_rv);
                for ev in &backlog {
                    last_rv = last_rv.max(ev.rv);
                    if filter.matches(ev) && tx.send(Ok(encode(ev))).await.is_err() {
                        return;
                    }
                }
                if from.is_none() {
                    last_rv = last_rv.max(start_rv);
                }
                if send_initial && bookmarks && tx.send(Ok(bookmark(last_rv, true))).await.is_err()
                {
                    return;
                }
                let sleep_until = deadline.map(|d| tokio::time::Instant::now() + d);
                let mut ticker = tokio::time::interval(bookmark_every);
                ticker.tick().await;
                loop {
                    tokio::select! {
                        ev = live.recv() => match ev {
                            Ok(ev) => {
                                if ev.rv <= last_rv {
                                    continue;
                                }
                                last_rv = ev.rv;
                                if filter.matches(&ev) && tx.send(Ok(encode(&ev))).await.is_err() {
                                    return;
                                }
                            }
                            // A watcher that fell behind is cut; it resumes from its last version.
                            Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                        },
                        _ = ticker.tick(), if bookmarks => {
                            // Only when nothing is queued, so the bookmark never overtakes an event.
                            let rv = res.rv_snapshot().max(last_rv);
                            if live.is_empty() {
                                last_rv = rv;
                                if tx.send(Ok(bookmark(rv, false))).await.is_err() {
                                    return;
                                }
                            }
                        }
                        _ = async { match sleep_until { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => return,
                        _ = tx.closed() => return,
                    }
                }
            });
        }
    }
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query() {
        let q: Query = url_pairs("labelSelector=app%3Ddb%2Ctier+in+(a)&watch=1&x").collect();
        assert_eq!(q["labelSelector"], "app=db,tier in (a)");
        assert_eq!(q["watch"], "1");
        assert_eq!(q["x"], "");
        assert_eq!(pct_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn continue_tokens_round_trip() {
        let k = ("ns".to_string(), "name".to_string());
        assert_eq!(decode_continue(&encode_continue(&k)).unwrap(), k);
        assert!(decode_continue("!!").is_err());
    }
}
