//! `/api/v1/domain/{domain}/project/{project}/databases`: create (quota + placement + reservation +
//! queued operation in one transaction), read, status, credentials, endpoint refresh, delete.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use domain::access::Action;
use domain::engine::{Engine, Size};
use domain::ids::{is_id, new_id, IdKind};
use domain::model::{CurrentState, Database, Operation};
use domain::placement::{self, PlacementRequest};
use domain::quota::Usage;
use domain::status::{DatabaseStatus, OperationStatus, OperationType};
use domain::validate;
use domain::versions::CatalogVersion;
use domain::DomainError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::DatabaseFilter;
use utoipa::{IntoParams, ToSchema};

use super::tenants::project_scope;
use super::{PageMeta, PageQuery};
use crate::auth::Caller;
use crate::clusters::{api_error, cluster_for, endpoint_patch};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::ops::{self, create::CreateDesired};
use crate::routes::day2::DryRun;
use crate::state::{AppState, Audit};
use crate::workflows::day2::PlanResponse;
use provider::translate::Owner;

pub(crate) const BACKUP_SCHEDULES: [&str; 3] = ["hourly", "daily", "weekly"];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseCreate {
    /// DNS label, 3–40 characters, unique in the project.
    pub name: String,
    pub engine: Engine,
    /// A version (or catalog name) offered by the chosen provider; see `GET /api/v1/versions`.
    pub version: String,
    #[serde(default)]
    pub size: Size,
    #[serde(default = "default_storage")]
    pub storage_gb: i64,
    #[serde(default = "one")]
    pub replicas: i64,
    #[serde(default)]
    pub high_availability: bool,
    #[serde(default = "yes")]
    pub backup_enabled: bool,
    #[serde(default = "daily")]
    pub backup_schedule: String,
    #[serde(default = "seven")]
    pub backup_retention_days: i64,
    #[serde(default = "yes")]
    pub monitoring_enabled: bool,
    pub username: Option<String>,
    /// At least 12 characters; when absent KubeDB generates one.
    pub password: Option<String>,
    /// Manual placement (platform admins only).
    pub provider_id: Option<String>,
    #[serde(default)]
    pub deletion_protection: bool,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
}

fn default_storage() -> i64 {
    20
}
fn one() -> i64 {
    1
}
fn yes() -> bool {
    true
}
fn daily() -> String {
    "daily".into()
}
fn seven() -> i64 {
    7
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseResponse {
    pub id: String,
    pub name: String,
    pub domain: String,
    pub project: String,
    pub engine: Engine,
    pub version: String,
    pub size: Size,
    pub storage_gb: i64,
    pub replicas: i64,
    pub ready_replicas: i64,
    pub status: DatabaseStatus,
    pub health_status: Option<String>,
    pub backup_enabled: bool,
    pub backup_schedule: String,
    pub backup_retention_days: i64,
    pub high_availability: bool,
    pub monitoring_enabled: bool,
    pub deletion_protection: bool,
    pub endpoint: Option<String>,
    pub port: Option<i64>,
    pub service_type: Option<String>,
    pub loadbalancer_ip: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub provider_id: Option<String>,
    pub namespace: Option<String>,
    pub kubedb_resource_name: Option<String>,
    #[schema(value_type = Object)]
    pub current: CurrentState,
    #[schema(value_type = Option<Object>)]
    pub upgrade_policy: Option<Value>,
    pub operation_id: Option<String>,
    pub poll_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl DatabaseResponse {
    pub fn of(d: Database, operation_id: Option<String>) -> Self {
        let poll_url = operation_id
            .as_ref()
            .map(|id| format!("/api/v1/operations/{id}"));
        DatabaseResponse {
            id: d.id,
            name: d.name,
            domain: d.domain,
            project: d.project,
            engine: d.engine,
            version: d.version,
            size: d.size,
            storage_gb: d.storage_gb,
            replicas: d.replicas,
            ready_replicas: d.ready_replicas,
            status: d.status,
            health_status: d.health_status,
            backup_enabled: d.backup_enabled,
            backup_schedule: d.backup_schedule,
            backup_retention_days: d.backup_retention_days,
            high_availability: d.high_availability,
            monitoring_enabled: d.monitoring_enabled,
            deletion_protection: d.deletion_protection,
            endpoint: d.endpoint,
            port: d.port,
            service_type: d.service_type,
            loadbalancer_ip: d.loadbalancer_ip,
            labels: d.labels,
            annotations: d.annotations,
            provider_id: d.provider_id,
            namespace: d.namespace,
            kubedb_resource_name: d.kubedb_resource_name,
            current: d.current,
            upgrade_policy: d.upgrade_policy,
            operation_id,
            poll_url,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseList {
    pub databases: Vec<DatabaseResponse>,
    #[serde(flatten)]
    pub meta: PageMeta,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DatabaseQuery {
    pub page: Option<i64>,
    pub page_size: Option<i64>,
    pub engine: Option<Engine>,
    pub status: Option<DatabaseStatus>,
    pub name: Option<String>,
}

/// Kubernetes label/annotation key: `[prefix/]name`, name ≤ 63 alphanumerics and `-_.`.
fn k8s_key(field: &str, key: &str) -> ApiResult<()> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|l| {
                validate::dns_label(field, l, 1, 63).is_ok()
                    || l.bytes().all(|b| b.is_ascii_digit())
            })
    });
    if !name_ok || !prefix_ok {
        return Err(ApiError::validation(
            field,
            format!("'{key}' is not a valid Kubernetes key ([prefix/]name, name ≤ 63 characters of [A-Za-z0-9-_.])"),
        ));
    }
    if prefix.is_some_and(|p| {
        p == "dbaas.io" || p.ends_with(".dbaas.io") || p == "kubedb.com" || p == "app.kubernetes.io"
    }) {
        return Err(ApiError::validation(
            field,
            format!("'{key}' uses a prefix the platform reserves"),
        ));
    }
    Ok(())
}

/// Labels and annotations a user gives a database: Kubernetes key and value rules, none of the
/// platform's own prefixes, bounded sizes.
pub(crate) fn check_maps(
    labels: Option<&BTreeMap<String, String>>,
    annotations: Option<&BTreeMap<String, String>>,
) -> ApiResult<()> {
    if let Some(labels) = labels {
        if labels.len() > 64 {
            return Err(ApiError::validation("labels", "at most 64 labels"));
        }
        for (k, v) in labels {
            k8s_key("labels", k)?;
            let ok = v.len() <= 63
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && (v.is_empty()
                    || (v.as_bytes()[0].is_ascii_alphanumeric()
                        && v.as_bytes()[v.len() - 1].is_ascii_alphanumeric()));
            if !ok {
                return Err(ApiError::validation(
                    "labels",
                    format!("value of '{k}' must be ≤ 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric"),
                ));
            }
        }
    }
    if let Some(annotations) = annotations {
        let mut size = 0;
        for (k, v) in annotations {
            k8s_key("annotations", k)?;
            size += k.len() + v.len();
        }
        if size > 64 * 1024 {
            return Err(ApiError::validation(
                "annotations",
                "must total at most 64 KiB",
            ));
        }
    }
    Ok(())
}

fn check_create(req: &DatabaseCreate) -> ApiResult<()> {
    validate::dns_label("name", &req.name, 3, 40)?;
    validate::text("version", &req.version, 1, 100)?;
    if !(10..=10_000).contains(&req.storage_gb) {
        return Err(ApiError::validation(
            "storage_gb",
            "must be between 10 and 10000",
        ));
    }
    if !(1..=9).contains(&req.replicas) {
        return Err(ApiError::validation("replicas", "must be between 1 and 9"));
    }
    if !BACKUP_SCHEDULES.contains(&req.backup_schedule.as_str()) {
        return Err(ApiError::validation(
            "backup_schedule",
            "must be one of hourly, daily, weekly",
        ));
    }
    if !(1..=365).contains(&req.backup_retention_days) {
        return Err(ApiError::validation(
            "backup_retention_days",
            "must be between 1 and 365",
        ));
    }
    if let Some(u) = &req.username {
        let ok = (1..=63).contains(&u.len())
            && u.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            && u.as_bytes()[0].is_ascii_alphabetic();
        if !ok {
            return Err(ApiError::validation(
                "username",
                "must be 1-63 letters, digits, '_' or '-', starting with a letter",
            ));
        }
    }
    if let Some(p) = &req.password {
        validate::password("password", p)?;
    }
    check_maps(req.labels.as_ref(), req.annotations.as_ref())?;
    req.engine
        .check_replicas(req.replicas as u32, req.high_availability)?;
    Ok(())
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

#[utoipa::path(post, path = "/api/v1/domain/{domain}/project/{project}/databases", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), DryRun,
        ("X-Region" = Option<String>, Header), ("X-Availability-Zone" = Option<String>, Header)),
    request_body = DatabaseCreate,
    responses((status = 202, body = DatabaseResponse),
        (status = 200, body = crate::workflows::day2::PlanResponse, description = "dry run: placement, objects, quota delta; nothing written"),
        (status = 400), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project)): Path<(String, String)>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<DryRun>,
    ApiJson(req): ApiJson<DatabaseCreate>,
) -> ApiResult<Response> {
    project_scope(&caller, Action::WriteDatabases, &domain, &project)?;
    check_create(&req)?;
    if state.store.get_project(&domain, &project).await?.is_none() {
        return Err(ApiError::not_found("Project", &project));
    }
    if req.provider_id.is_some() && !caller.principal.is_platform_admin() {
        return Err(ApiError::forbidden(
            "Only platform admins choose the provider of a database",
        ));
    }
    let policy = state.version_policy();
    let region = header(&headers, "x-region");
    let zone = header(&headers, "x-availability-zone");
    let pods = req.engine.pods(req.replicas, req.high_availability);
    let need = Usage::of_database(req.size, req.storage_gb, pods);
    let now = Utc::now();
    let db_id = new_id(IdKind::Database);
    let op_id = new_id(IdKind::Operation);

    // The version may differ per provider's catalog: the chooser keeps only providers offering it,
    // then applies placement; it runs inside the reserving transaction.
    let resolved: std::sync::Mutex<Option<CatalogVersion>> = Default::default();
    let engine = req.engine;
    let requested_version = req.version.clone();
    let placement = PlacementRequest {
        domain: domain.clone(),
        need,
        region: region.clone(),
        availability_zone: zone.clone(),
    };
    let manual = req.provider_id.clone();
    let choose = |candidates: &[domain::model::Provider]| -> Result<String, DomainError> {
        let mut offering = Vec::new();
        let mut first_refusal = None;
        for p in candidates {
            if manual.as_deref().is_some_and(|m| m != p.id) {
                continue;
            }
            let catalog = crate::catalog::provider_catalog(p);
            match policy.resolve(engine, &requested_version, &catalog) {
                Ok(v) => offering.push((p.clone(), v.clone())),
                Err(e) => {
                    first_refusal.get_or_insert(e);
                }
            }
        }
        if offering.is_empty() {
            return Err(first_refusal.unwrap_or_else(|| {
                DomainError::NoCapacity(match &manual {
                    Some(m) => format!("provider '{m}' cannot take new databases"),
                    None => "no active provider can take new databases".into(),
                })
            }));
        }
        let providers: Vec<_> = offering.iter().map(|(p, _)| p.clone()).collect();
        let mut req = placement.clone();
        if manual.is_some() {
            req.region = None;
            req.availability_zone = None;
        }
        let chosen = placement::choose(&providers, &req)?;
        let v = offering
            .into_iter()
            .find(|(p, _)| p.id == chosen)
            .map(|(_, v)| v);
        *resolved.lock().expect("not poisoned") = v;
        Ok(chosen)
    };

    let db = Database {
        id: db_id.clone(),
        name: req.name.clone(),
        domain: domain.clone(),
        project: project.clone(),
        engine: req.engine,
        version: req.version.clone(),
        size: req.size,
        storage_gb: req.storage_gb,
        replicas: req.replicas,
        ready_replicas: 0,
        status: DatabaseStatus::Pending,
        health_status: None,
        kubedb_phase: None,
        backup_enabled: req.backup_enabled,
        backup_schedule: req.backup_schedule.clone(),
        backup_retention_days: req.backup_retention_days,
        high_availability: req.high_availability,
        monitoring_enabled: req.monitoring_enabled,
        deletion_protection: req.deletion_protection,
        endpoint: None,
        port: None,
        service_type: None,
        loadbalancer_ip: None,
        labels: req.labels.clone().unwrap_or_default(),
        annotations: req.annotations.clone().unwrap_or_default(),
        provider_id: None,
        namespace: None,
        kubedb_resource_name: None,
        current: CurrentState::default(),
        upgrade_policy: None,
        conditions: json!([]),
        reserved: need,
        created_at: now,
        updated_at: now,
    };
    // The desired state is finished after placement (it names the catalog entry); the operation row
    // is written in the same transaction, so build it with a placeholder and fill it below.
    let credentials = match (&req.username, &req.password) {
        (_, Some(p)) => {
            let user = req
                .username
                .clone()
                .unwrap_or_else(|| default_user(req.engine).to_string());
            Some(
                state
                    .secrets
                    .encrypt(&serde_json::to_string(&(user, p)).expect("strings serialise")),
            )
        }
        (Some(_), None) => {
            return Err(ApiError::validation(
                "password",
                "is required when a username is given",
            ))
        }
        (None, None) => None,
    };
    let mut op = new_operation(&op_id, &db, OperationType::Create, &caller.user_id, &state);
    op.desired_state = json!({ "version": req.version, "size": req.size, "storage_gb": req.storage_gb,
        "replicas": req.replicas, "high_availability": req.high_availability });
    // The store calls the chooser inside its transaction; the op row it inserts must carry the
    // resolved catalog name, so resolve first against the same candidate set outside, then re-check
    // inside (the chooser refuses if the version is no longer offered).
    let mut stored = {
        let pre = state
            .store
            .list_providers(&Default::default())
            .await?
            .into_iter()
            .filter(|p| p.is_active && !p.is_maintenance)
            .filter(|p| p.domain.as_deref().is_none_or(|d| d == domain))
            .collect::<Vec<_>>();
        let version_name = {
            choose(&pre)?;
            resolved
                .lock()
                .expect("not poisoned")
                .clone()
                .map(|v| v.name)
                .unwrap_or_else(|| req.version.clone())
        };
        if q.dry_run {
            let chosen = choose(&pre)?;
            let provider = pre.iter().find(|p| p.id == chosen);
            return Ok(create_plan(&db, &op, &version_name, provider, need).into_response());
        }
        let desired = CreateDesired {
            version_name: version_name.clone(),
            credentials,
        };
        let mut ds = serde_json::to_value(&desired).expect("serialisable");
        if let (Value::Object(m), Value::Object(extra)) = (&mut ds, op.desired_state.clone()) {
            m.extend(extra);
        }
        op.desired_state = ds;
        let mut db = db;
        db.version = version_name;
        state.store.create_database(&db, &op, Some(&choose)).await?
    };
    if let Some(v) = resolved.lock().expect("not poisoned").clone() {
        stored.version = v.name;
    }
    ops::announce_queued(&state).await;
    state.invalidate_quota(&domain, Some(&project)).await;
    state
        .audit(
            &caller.ctx,
            Audit::new("database.create", "database")
                .id(&stored.id)
                .scope(Some(&domain), Some(&project))
                .by(&caller.user_id, &caller.email)
                .status(202)
                .details(json!({"name": stored.name, "engine": stored.engine, "version": stored.version,
                    "size": stored.size, "replicas": stored.replicas, "provider_id": stored.provider_id,
                    "operation_id": op_id})),
        )
        .await;
    Ok((
        StatusCode::ACCEPTED,
        Json(DatabaseResponse::of(stored, Some(op_id))),
    )
        .into_response())
}

/// A create's dry run: where it would go, what it would send to the cluster, what it would hold.
fn create_plan(
    db: &Database,
    op: &Operation,
    version_name: &str,
    provider: Option<&domain::model::Provider>,
    need: Usage,
) -> (StatusCode, Json<PlanResponse>) {
    let namespace = provider::translate::namespace_name(&db.domain, &db.project);
    let mut planned = db.clone();
    planned.provider_id = provider.map(|p| p.id.clone());
    planned.namespace = Some(namespace.clone());
    planned.kubedb_resource_name = Some(db.name.clone());
    planned.version = version_name.to_string();
    let service_type = if provider.is_some_and(|p| p.enable_loadbalancer) {
        "LoadBalancer"
    } else {
        "ClusterIP"
    };
    let objects = vec![
        provider::translate::namespace_object(&namespace, &db.domain, &db.project),
        provider::translate::network_policy(&planned, &namespace, &BTreeMap::new()),
        provider::translate::database_object(&provider::CreatePlan {
            db: &planned,
            namespace: &namespace,
            version_name,
            auth_secret: None,
            storage_class: None,
            service_type,
        }),
    ];
    let mut desired = op.desired_state.clone();
    if let Some(m) = desired.as_object_mut() {
        m.remove(crate::ops::create::SEALED_CREDENTIALS);
    }
    (
        StatusCode::OK,
        Json(PlanResponse {
            dry_run: true,
            database_id: db.id.clone(),
            changed: Vec::new(),
            operations: vec![
                json!({"type": OperationType::Create, "desired_state": desired,
                "provider_id": planned.provider_id, "version": version_name}),
            ],
            kubernetes_objects: objects,
            quota_delta: need,
        }),
    )
}

fn default_user(engine: Engine) -> &'static str {
    provider::kubedb::names::engine(engine.as_str())
        .map(|m| m.default_user)
        .unwrap_or("admin")
}

pub fn new_operation(
    id: &str,
    db: &Database,
    kind: OperationType,
    created_by: &str,
    state: &AppState,
) -> Operation {
    let now = Utc::now();
    Operation {
        id: id.to_string(),
        database_id: db.id.clone(),
        op_type: kind,
        status: OperationStatus::Queued,
        progress: 0,
        message: Some("queued".into()),
        desired_state: json!({}),
        ops_request_name: None,
        ops_request_phase: None,
        error_message: None,
        retry_count: 0,
        max_retries: state.config.operation_max_retries,
        created_by: Some(created_by.to_string()),
        domain: db.domain.clone(),
        project: db.project.clone(),
        lease_owner: None,
        lease_expires_at: None,
        run_after: now,
        created_at: now,
        started_at: None,
        completed_at: None,
        estimated_completion_at: None,
    }
}

/// Loads a database of this project; anything else (other project, malformed id) is a 404.
pub(crate) async fn load(
    state: &AppState,
    domain: &str,
    project: &str,
    id: &str,
) -> ApiResult<Database> {
    if !is_id(IdKind::Database, id) {
        return Err(ApiError::not_found("Database", id));
    }
    match state.store.get_database(id).await? {
        Some(d) if d.domain == domain && d.project == project => Ok(d),
        _ => Err(ApiError::not_found("Database", id)),
    }
}

#[utoipa::path(get, path = "/api/v1/domain/{domain}/project/{project}/databases", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), DatabaseQuery),
    responses((status = 200, body = DatabaseList), (status = 404)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<DatabaseQuery>,
) -> ApiResult<Response> {
    project_scope(&caller, Action::ReadProject, &domain, &project)?;
    let page = PageQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .request()?;
    let filter = DatabaseFilter {
        engine: q.engine,
        status: q.status,
        name: q.name,
        include_deleted: false,
    };
    // Debug forms quote every name and value, so no two requests share a key by accident.
    let key = format!("databases {:?} {page:?} {filter:?}", (&domain, &project));
    let read = async {
        let p = state
            .store
            .list_databases(&domain, &project, &filter, page)
            .await?;
        let meta = PageMeta::of(&p);
        Ok(DatabaseList {
            databases: p
                .items
                .into_iter()
                .map(|d| DatabaseResponse::of(d, None))
                .collect(),
            meta,
        })
    };
    state.reads.json(state.store.as_ref(), key, read).await
}

#[utoipa::path(get, path = "/api/v1/domain/{domain}/project/{project}/databases/{id}", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = DatabaseResponse), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    project_scope(&caller, Action::ReadProject, &domain, &project)?;
    let key = format!("database {:?}", (&domain, &project, &id));
    let read = async {
        let d = load(&state, &domain, &project, &id).await?;
        Ok(DatabaseResponse::of(d, None))
    };
    state.reads.json(state.store.as_ref(), key, read).await
}

#[utoipa::path(delete, path = "/api/v1/domain/{domain}/project/{project}/databases/{id}", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path), DryRun),
    responses((status = 202, body = DatabaseResponse),
        (status = 200, body = crate::workflows::day2::PlanResponse, description = "dry run; nothing written"),
        (status = 400), (status = 404), (status = 409)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, id)): Path<(String, String, String)>,
    ApiQuery(q): ApiQuery<DryRun>,
) -> ApiResult<Response> {
    project_scope(&caller, Action::WriteDatabases, &domain, &project)?;
    let d = load(&state, &domain, &project, &id).await?;
    let audit = |code: u16, details: Value| {
        Audit::new("database.delete", "database")
            .id(&id)
            .scope(Some(&domain), Some(&project))
            .by(&caller.user_id, &caller.email)
            .status(code)
            .details(details)
    };
    if d.deletion_protection {
        state
            .audit(
                &caller.ctx,
                audit(400, json!({"reason": "deletion_protection"})),
            )
            .await;
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "database '{}' has deletion protection on; turn it off first",
            d.name
        ))));
    }
    if d.status == DatabaseStatus::Deleted {
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "database '{}' is already deleted",
            d.name
        ))));
    }
    // Refuse at once when the cluster holds another owner's object under this record's name; the
    // worker checks again before it changes anything. An unreachable cluster is the worker's to retry.
    match owned_object(&state, &caller, &d).await {
        Err(e) if e.status == StatusCode::CONFLICT => {
            state
                .audit(&caller.ctx, audit(409, json!({"reason": e.message})))
                .await;
            return Err(e);
        }
        _ => {}
    }
    if q.dry_run {
        let target = json!({"kind": provider::translate::meta(d.engine).kind,
            "namespace": d.namespace, "name": d.kubedb_resource_name});
        let plan = PlanResponse {
            dry_run: true,
            database_id: d.id.clone(),
            changed: Vec::new(),
            operations: vec![json!({"type": OperationType::Delete})],
            kubernetes_objects: vec![
                json!({"patch": target, "spec": {"deletionPolicy": "WipeOut"}}),
                json!({"delete": target}),
            ],
            quota_delta: Usage::default().minus(d.reserved),
        };
        return Ok((StatusCode::OK, Json(plan)).into_response());
    }
    // Asking twice returns the delete already on its way.
    let op_id = match ops::unfinished_operation(&state, &d.id, OperationType::Delete).await? {
        Some(op) => op.id,
        None => {
            let op = new_operation(
                &new_id(IdKind::Operation),
                &d,
                OperationType::Delete,
                &caller.user_id,
                &state,
            );
            state.store.enqueue_operation(&op).await?;
            ops::announce_queued(&state).await;
            op.id
        }
    };
    state
        .audit(&caller.ctx, audit(202, json!({"operation_id": op_id})))
        .await;
    Ok((
        StatusCode::ACCEPTED,
        Json(DatabaseResponse::of(d, Some(op_id))),
    )
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplicaStatus {
    pub desired: i64,
    pub ready: i64,
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseStatusResponse {
    pub database_id: String,
    pub name: String,
    pub status: DatabaseStatus,
    pub health_status: Option<String>,
    pub kubedb_phase: Option<String>,
    pub endpoint: Option<String>,
    pub port: Option<i64>,
    pub replicas: ReplicaStatus,
    #[schema(value_type = Object)]
    pub conditions: Value,
    pub updated_at: DateTime<Utc>,
}

#[utoipa::path(get, path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/status", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = DatabaseStatusResponse), (status = 404)), security(("bearer" = [])))]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, id)): Path<(String, String, String)>,
) -> ApiResult<Json<DatabaseStatusResponse>> {
    project_scope(&caller, Action::ReadProject, &domain, &project)?;
    let d = load(&state, &domain, &project, &id).await?;
    Ok(Json(DatabaseStatusResponse {
        database_id: d.id,
        name: d.name,
        status: d.status,
        health_status: d.health_status,
        kubedb_phase: d.kubedb_phase,
        endpoint: d.endpoint,
        port: d.port,
        replicas: ReplicaStatus {
            desired: d.replicas,
            ready: d.ready_replicas,
            status: format!("{}/{}", d.ready_replicas, d.replicas),
        },
        conditions: d.conditions,
        updated_at: d.updated_at,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub connection_string: String,
}

#[utoipa::path(get, path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/credentials", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Credentials), (status = 400), (status = 403), (status = 404), (status = 409), (status = 503)),
    security(("bearer" = [])))]
pub async fn credentials(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, id)): Path<(String, String, String)>,
) -> ApiResult<Json<Credentials>> {
    project_scope(&caller, Action::ReadCredentials, &domain, &project)?;
    let d = load(&state, &domain, &project, &id).await?;
    let result = read_credentials(&state, &caller, &d).await;
    let code = match &result {
        Ok(_) => 200,
        Err(e) => e.status.as_u16(),
    };
    // Every read is audited, successful or not; the secret itself never is.
    state
        .audit(
            &caller.ctx,
            Audit::new("database.get_credentials", "database")
                .id(&d.id)
                .scope(Some(&domain), Some(&project))
                .by(&caller.user_id, &caller.email)
                .status(code),
        )
        .await;
    result.map(Json)
}

/// The cluster of the provider a database is placed on.
async fn provider_cluster(state: &AppState, provider_id: &str) -> ApiResult<provider::Cluster> {
    let p = state
        .store
        .get_provider(provider_id)
        .await?
        .ok_or_else(|| ApiError::unavailable("the database's provider is gone"))?;
    cluster_for(state, &p).await.map_err(api_error)
}

/// The record's KubeDB object, after checking that the cluster's objects are this record's: the
/// namespace carries the record's project labels and the object the record's id. Ok(None) when the
/// record has no object yet or it is gone. A mismatch is a 409 naming the conflict, recorded in the
/// audit log as `database.ownership_conflict`, and nothing is read or written.
async fn owned_object(
    state: &AppState,
    caller: &Caller,
    d: &Database,
) -> ApiResult<Option<(provider::Cluster, provider::ObservedDatabase)>> {
    let (Some(ns), Some(name), Some(pid)) = (&d.namespace, &d.kubedb_resource_name, &d.provider_id)
    else {
        return Ok(None);
    };
    let cluster = provider_cluster(state, pid).await?;
    let owner = Owner::of(d);
    let checked = async {
        cluster.check_namespace(ns, &owner).await?;
        cluster.get_owned_database(d.engine, ns, name, &owner).await
    };
    let found = owned_read(state, caller, d, checked.await).await?;
    Ok(found.map(|o| (cluster, o)))
}

/// A cluster read's result as an answer: a Conflict (another owner's object) is audited as
/// `database.ownership_conflict` and answered 409; other failures map as usual.
async fn owned_read<T>(
    state: &AppState,
    caller: &Caller,
    d: &Database,
    result: Result<T, provider::ProviderError>,
) -> ApiResult<T> {
    match result {
        Ok(v) => Ok(v),
        Err(e @ provider::ProviderError::Conflict(_)) => {
            let message = e.to_string();
            tracing::warn!(database = %d.id, "{message}");
            state
                .audit(
                    &caller.ctx,
                    Audit::new("database.ownership_conflict", "database")
                        .id(&d.id)
                        .scope(Some(&d.domain), Some(&d.project))
                        .by(&caller.user_id, &caller.email)
                        .status(409)
                        .details(json!({
                            "namespace": d.namespace, "name": d.kubedb_resource_name,
                            "reason": message,
                        })),
                )
                .await;
            Err(api_error(e))
        }
        Err(e) => Err(api_error(e)),
    }
}

async fn read_credentials(
    state: &AppState,
    caller: &Caller,
    d: &Database,
) -> ApiResult<Credentials> {
    let (Some(ns), Some(name), Some(_)) = (&d.namespace, &d.kubedb_resource_name, &d.provider_id)
    else {
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "database '{}' has no credentials yet (status {})",
            d.name, d.status
        ))));
    };
    if matches!(d.status, DatabaseStatus::Deleted | DatabaseStatus::Deleting) {
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "database '{}' is {}",
            d.name, d.status
        ))));
    }
    let Some((cluster, obs)) = owned_object(state, caller, d).await? else {
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "database '{}' has no KubeDB resource yet",
            d.name
        ))));
    };
    if obs.auth_secret.is_none() {
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "KubeDB has not created the credentials of '{}' yet",
            d.name
        ))));
    }
    let (username, password) = owned_read(
        state,
        caller,
        d,
        cluster
            .read_credentials(d.engine, ns, name, &Owner::of(d))
            .await,
    )
    .await?
    .ok_or_else(|| {
        ApiError::from(DomainError::InvalidState(format!(
            "the credentials secret of '{}' does not exist yet",
            d.name
        )))
    })?;
    let host = match &d.endpoint {
        Some(h) => h.clone(),
        None => cluster
            .read_endpoint(d.engine, ns, name)
            .await
            .map_err(api_error)?
            .map(|e| e.host)
            .ok_or_else(|| {
                ApiError::from(DomainError::InvalidState(format!(
                    "database '{}' has no endpoint yet",
                    d.name
                )))
            })?,
    };
    let port = d
        .port
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(d.engine.default_port());
    let (database, connection_string) =
        provider::translate::connection_string(d.engine, &username, &password, &host, port);
    Ok(Credentials {
        username,
        password,
        host,
        port,
        database,
        connection_string,
    })
}

#[utoipa::path(post, path = "/api/v1/domain/{domain}/project/{project}/databases/{id}/refresh-endpoint", tag = "databases",
    params(("domain" = String, Path), ("project" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = DatabaseResponse), (status = 400), (status = 404), (status = 409), (status = 503)),
    security(("bearer" = [])))]
pub async fn refresh_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, id)): Path<(String, String, String)>,
) -> ApiResult<Json<DatabaseResponse>> {
    project_scope(&caller, Action::WriteDatabases, &domain, &project)?;
    let d = load(&state, &domain, &project, &id).await?;
    let (Some(ns), Some(name)) = (&d.namespace, &d.kubedb_resource_name) else {
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "database '{}' has no endpoint yet (status {})",
            d.name, d.status
        ))));
    };
    let Some((cluster, _)) = owned_object(&state, &caller, &d).await? else {
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "database '{}' has no KubeDB resource",
            d.name
        ))));
    };
    let endpoint = cluster
        .read_endpoint(d.engine, ns, name)
        .await
        .map_err(api_error)?;
    state
        .store
        .patch_database(&d.id, &endpoint_patch(endpoint), Utc::now())
        .await?;
    state
        .audit(
            &caller.ctx,
            Audit::new("database.refresh_endpoint", "database")
                .id(&d.id)
                .scope(Some(&domain), Some(&project))
                .by(&caller.user_id, &caller.email),
        )
        .await;
    let d = load(&state, &domain, &project, &id).await?;
    Ok(Json(DatabaseResponse::of(d, None)))
}
