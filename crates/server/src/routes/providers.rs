//! `/api/v1/providers`: onboarding Kubernetes clusters running KubeDB (platform admins), the
//! engines and versions they offer, and the placement preview (any authenticated user).
//!
//! The kubeconfig is checked in memory before anything is stored (connect, `probe()`), stored
//! encrypted by the store, and never returned.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use domain::engine::Engine;
use domain::ids::{new_id, IdKind};
use domain::model::{Provider, ProviderCapacity};
use domain::placement::{self, PlacementRequest};
use domain::quota::Usage;
use domain::validate;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};
use store::ProviderFilter;
use utoipa::{IntoParams, ToSchema};

use super::tenants::object;
use super::{PageMeta, PageQuery};
use crate::auth::Caller;
use crate::catalog::kubedb_facts;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::health_check::{connection_value, ConnectionStatus};
use crate::state::{AppState, Audit};

/// Onboarding answers within the request timeout (30 s) even when the cluster hangs.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
const MAX_CAPACITY: f64 = 1e7;

fn default_percent() -> f64 {
    80.0
}
fn yes() -> bool {
    true
}
fn default_priority() -> i32 {
    100
}

/// `Some(None)` when the field is present and null (clear it), `None` when absent (keep it).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderCreate {
    /// 1–100 characters, unique.
    pub name: String,
    /// 1–50 characters.
    pub region: String,
    pub availability_zone: Option<String>,
    pub cloud_provider: Option<String>,
    /// Dedicates the provider to one tenant; absent or null = shared.
    pub domain: Option<String>,
    pub cpu_total_cores: f64,
    pub memory_total_gb: f64,
    pub storage_total_gb: f64,
    /// Share of the total that databases may use (0–100, default 80).
    #[serde(default = "default_percent")]
    pub cpu_reservation_percent: f64,
    #[serde(default = "default_percent")]
    pub memory_reservation_percent: f64,
    #[serde(default = "default_percent")]
    pub storage_reservation_percent: f64,
    /// The kubeconfig, as YAML or base64 of YAML. Stored encrypted, never returned.
    pub kubeconfig_content: String,
    #[serde(default = "yes")]
    pub verify_ssl: bool,
    #[serde(default)]
    pub enable_loadbalancer: bool,
    #[serde(default = "yes")]
    pub is_active: bool,
    /// 0–1000, default 100; breaks placement ties.
    #[serde(default = "default_priority")]
    pub priority: i32,
    #[serde(default)]
    pub tags: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// Every field optional; `null` clears `availability_zone`, `cloud_provider` and `domain`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderUpdate {
    pub name: Option<String>,
    pub region: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub availability_zone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub cloud_provider: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub domain: Option<Option<String>>,
    pub cpu_total_cores: Option<f64>,
    pub memory_total_gb: Option<f64>,
    pub storage_total_gb: Option<f64>,
    pub cpu_reservation_percent: Option<f64>,
    pub memory_reservation_percent: Option<f64>,
    pub storage_reservation_percent: Option<f64>,
    /// A new kubeconfig: probed like on create before it replaces the stored one.
    pub kubeconfig_content: Option<String>,
    pub verify_ssl: Option<bool>,
    pub enable_loadbalancer: Option<bool>,
    pub is_active: Option<bool>,
    /// Stops new placements; databases already there keep running.
    pub is_maintenance: Option<bool>,
    pub priority: Option<i32>,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CpuResources {
    pub total_cores: f64,
    pub allocated_cores: f64,
    /// `total × reservation_percent / 100 − allocated`
    pub available_cores: f64,
    pub reservation_percent: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GbResources {
    pub total_gb: f64,
    pub allocated_gb: f64,
    /// `total × reservation_percent / 100 − allocated`
    pub available_gb: f64,
    pub reservation_percent: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderResources {
    pub cpu: CpuResources,
    pub memory: GbResources,
    pub storage: GbResources,
}

/// What the last probe found about KubeDB (the catalog itself is served by the version routes).
#[derive(Debug, Serialize, ToSchema)]
pub struct KubedbInfo {
    pub installed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub engines: Vec<Engine>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionInfo {
    /// `connected`, `unreachable`, `error`, or `unknown` before the first check.
    pub status: String,
    pub last_checked_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderResponse {
    pub id: String,
    pub name: String,
    pub region: String,
    pub availability_zone: Option<String>,
    pub cloud_provider: Option<String>,
    pub domain: Option<String>,
    pub resources: ProviderResources,
    pub is_active: bool,
    pub is_maintenance: bool,
    pub priority: i32,
    pub enable_loadbalancer: bool,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub kubedb: KubedbInfo,
    pub connection: ConnectionInfo,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Rounds away float noise (`0.8 × 3 = 2.4000000000000004`).
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl From<&Provider> for ProviderResponse {
    fn from(p: &Provider) -> Self {
        let c = &p.capacity;
        let a = &p.allocated;
        let free = placement::available(c, a);
        let gb = |total: f64, allocated: f64, available: f64, pct: f64| GbResources {
            total_gb: round3(total),
            allocated_gb: round3(allocated),
            available_gb: round3(available),
            reservation_percent: pct,
        };
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        ProviderResponse {
            id: p.id.clone(),
            name: p.name.clone(),
            region: p.region.clone(),
            availability_zone: p.availability_zone.clone(),
            cloud_provider: p.cloud_provider.clone(),
            domain: p.domain.clone(),
            resources: ProviderResources {
                cpu: CpuResources {
                    total_cores: round3(c.cpu_total_cores),
                    allocated_cores: round3(a.cpu_cores),
                    available_cores: round3(free.cpu_cores),
                    reservation_percent: c.cpu_reservation_percent,
                },
                memory: gb(
                    c.memory_total_gb,
                    a.memory_gb,
                    free.memory_gb,
                    c.memory_reservation_percent,
                ),
                storage: gb(
                    c.storage_total_gb,
                    a.storage_gb,
                    free.storage_gb,
                    c.storage_reservation_percent,
                ),
            },
            is_active: p.is_active,
            is_maintenance: p.is_maintenance,
            priority: p.priority,
            enable_loadbalancer: p.enable_loadbalancer,
            tags: p.tags.clone(),
            metadata: p.metadata.clone(),
            kubedb: KubedbInfo {
                installed: p
                    .kubedb
                    .get("installed")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                version: text(&p.kubedb, "version"),
                engines: p
                    .kubedb
                    .get("engines")
                    .and_then(|e| serde_json::from_value(e.clone()).ok())
                    .unwrap_or_default(),
            },
            connection: ConnectionInfo {
                status: text(&p.connection, "status").unwrap_or_else(|| "unknown".into()),
                last_checked_at: p
                    .connection
                    .get("last_checked_at")
                    .and_then(|t| serde_json::from_value(t.clone()).ok()),
                error: text(&p.connection, "error"),
            },
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderList {
    pub providers: Vec<ProviderResponse>,
    #[serde(flatten)]
    pub meta: PageMeta,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ProviderListQuery {
    pub region: Option<String>,
    pub availability_zone: Option<String>,
    pub is_active: Option<bool>,
    pub domain: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

// ---- validation

fn text_field(field: &str, v: &str, min: usize, max: usize) -> ApiResult<()> {
    validate::text(field, v, min, max)?;
    if v.trim() != v {
        return Err(ApiError::validation(
            field,
            "must not start or end with spaces",
        ));
    }
    Ok(())
}

fn optional_text(field: &str, v: &Option<String>, max: usize) -> ApiResult<()> {
    match v {
        Some(s) => text_field(field, s, 1, max),
        None => Ok(()),
    }
}

fn capacity(field: &str, v: f64) -> ApiResult<()> {
    if !(v.is_finite() && v > 0.0 && v <= MAX_CAPACITY) {
        return Err(ApiError::validation(
            field,
            format!("must be greater than 0 and at most {MAX_CAPACITY}"),
        ));
    }
    Ok(())
}

fn percent(field: &str, v: f64) -> ApiResult<()> {
    if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
        return Err(ApiError::validation(field, "must be between 0 and 100"));
    }
    Ok(())
}

fn priority(v: i32) -> ApiResult<()> {
    if !(0..=1000).contains(&v) {
        return Err(ApiError::validation(
            "priority",
            "must be between 0 and 1000",
        ));
    }
    Ok(())
}

fn tags(v: &[String]) -> ApiResult<()> {
    if v.len() > 50 {
        return Err(ApiError::validation("tags", "at most 50 tags"));
    }
    for t in v {
        text_field("tags", t, 1, 64)?;
    }
    Ok(())
}

fn kubeconfig(v: &str) -> ApiResult<()> {
    if v.trim().is_empty() {
        return Err(ApiError::validation(
            "kubeconfig_content",
            "must not be empty",
        ));
    }
    Ok(())
}

/// A dedicated provider's tenant must exist: a provider dedicated to a name nobody holds yet
/// would go to whoever registers that name first. (A tenant with dedicated providers cannot be
/// deleted, so the dedication stays valid.)
async fn tenant_field(state: &AppState, domain: &Option<String>) -> ApiResult<()> {
    let Some(d) = domain else { return Ok(()) };
    validate::dns_label("domain", d, 3, 63)?;
    if state.store.get_tenant(d).await?.is_none() {
        return Err(ApiError::validation(
            "domain",
            format!("tenant '{d}' does not exist: create it before dedicating a provider to it"),
        ));
    }
    Ok(())
}

/// Connects in memory and probes; any failure is a 400 carrying the probe's reason.
async fn probe(content: &str, verify_ssl: bool) -> ApiResult<Value> {
    let checked = async {
        let cluster = provider::Cluster::connect(content, verify_ssl).await?;
        cluster.probe().await
    };
    match tokio::time::timeout(PROBE_TIMEOUT, checked).await {
        Ok(Ok(report)) => Ok(json!({
            "kubedb": kubedb_facts(&report),
            "connection": connection_value(ConnectionStatus::Connected, Utc::now(), Some(&report.server_version), None),
        })),
        Ok(Err(e)) => Err(ApiError::bad_request(format!(
            "The cluster cannot be used: {e}"
        ))),
        Err(_) => Err(ApiError::bad_request(format!(
            "The cluster cannot be used: no answer within {} s",
            PROBE_TIMEOUT.as_secs()
        ))),
    }
}

async fn load(state: &AppState, id: &str) -> ApiResult<Provider> {
    state
        .store
        .get_provider(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Provider", id))
}

async fn name_taken(state: &AppState, name: &str, except: Option<&str>) -> ApiResult<()> {
    let all = state
        .store
        .list_providers(&ProviderFilter::default())
        .await?;
    if all
        .iter()
        .any(|p| p.name == name && Some(p.id.as_str()) != except)
    {
        return Err(ApiError::conflict(format!(
            "provider '{name}' already exists"
        )));
    }
    Ok(())
}

// ---- handlers

#[utoipa::path(post, path = "/api/v1/providers", tag = "providers", request_body = ProviderCreate,
    responses((status = 201, body = ProviderResponse), (status = 400, description = "the cluster cannot be reached or lacks KubeDB"),
        (status = 409), (status = 422)), security(("bearer" = [])))]
pub async fn create_provider(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ProviderCreate>,
) -> ApiResult<impl IntoResponse> {
    caller.require_platform_admin()?;
    text_field("name", &req.name, 1, 100)?;
    text_field("region", &req.region, 1, 50)?;
    optional_text("availability_zone", &req.availability_zone, 50)?;
    optional_text("cloud_provider", &req.cloud_provider, 50)?;
    capacity("cpu_total_cores", req.cpu_total_cores)?;
    capacity("memory_total_gb", req.memory_total_gb)?;
    capacity("storage_total_gb", req.storage_total_gb)?;
    percent("cpu_reservation_percent", req.cpu_reservation_percent)?;
    percent("memory_reservation_percent", req.memory_reservation_percent)?;
    percent(
        "storage_reservation_percent",
        req.storage_reservation_percent,
    )?;
    priority(req.priority)?;
    tags(&req.tags)?;
    kubeconfig(&req.kubeconfig_content)?;
    let metadata = object("metadata", req.metadata)?;
    tenant_field(&state, &req.domain).await?;
    // Before the probe: a duplicate need not wait for a cluster round trip.
    name_taken(&state, &req.name, None).await?;

    let facts = probe(&req.kubeconfig_content, req.verify_ssl).await?;
    let now = Utc::now();
    let p = Provider {
        id: new_id(IdKind::Provider),
        name: req.name,
        region: req.region,
        availability_zone: req.availability_zone,
        cloud_provider: req.cloud_provider,
        domain: req.domain,
        capacity: ProviderCapacity {
            cpu_total_cores: req.cpu_total_cores,
            memory_total_gb: req.memory_total_gb,
            storage_total_gb: req.storage_total_gb,
            cpu_reservation_percent: req.cpu_reservation_percent,
            memory_reservation_percent: req.memory_reservation_percent,
            storage_reservation_percent: req.storage_reservation_percent,
        },
        allocated: Usage::default(),
        verify_ssl: req.verify_ssl,
        enable_loadbalancer: req.enable_loadbalancer,
        is_active: req.is_active,
        is_maintenance: false,
        priority: req.priority,
        tags: req.tags,
        metadata,
        kubedb: facts["kubedb"].clone(),
        connection: facts["connection"].clone(),
        created_at: now,
        updated_at: now,
    };
    state
        .store
        .create_provider(&p, &req.kubeconfig_content)
        .await?;
    state.provider_written(&p.id).await;
    state
        .audit(
            &caller.ctx,
            Audit::new("provider.create", "provider")
                .id(&p.id)
                .scope(p.domain.as_deref(), None)
                .by(&caller.user_id, &caller.email)
                .status(201)
                .details(json!({"name": p.name, "region": p.region})),
        )
        .await;
    Ok((StatusCode::CREATED, Json(ProviderResponse::from(&p))))
}

#[utoipa::path(get, path = "/api/v1/providers", tag = "providers", params(ProviderListQuery),
    responses((status = 200, body = ProviderList)), security(("bearer" = [])))]
pub async fn list_providers(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ProviderListQuery>,
) -> ApiResult<Json<ProviderList>> {
    caller.require_platform_admin()?;
    let page = PageQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .request()?;
    let all = state
        .store
        .list_providers(&ProviderFilter {
            region: q.region,
            availability_zone: q.availability_zone,
            is_active: q.is_active,
            domain: q.domain,
        })
        .await?;
    // A platform has tens of providers, not thousands: paging in memory is fine.
    let start = ((page.page - 1) * page.page_size) as usize;
    let providers = all
        .iter()
        .skip(start)
        .take(page.page_size as usize)
        .map(ProviderResponse::from)
        .collect();
    Ok(Json(ProviderList {
        providers,
        meta: PageMeta {
            total: all.len() as i64,
            page: page.page,
            page_size: page.page_size,
        },
    }))
}

#[utoipa::path(get, path = "/api/v1/providers/{id}", tag = "providers", params(("id" = String, Path)),
    responses((status = 200, body = ProviderResponse), (status = 404)), security(("bearer" = [])))]
pub async fn get_provider(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ProviderResponse>> {
    caller.require_platform_admin()?;
    Ok(Json(ProviderResponse::from(&load(&state, &id).await?)))
}

#[utoipa::path(patch, path = "/api/v1/providers/{id}", tag = "providers", params(("id" = String, Path)),
    request_body = ProviderUpdate,
    responses((status = 200, body = ProviderResponse), (status = 400, description = "a new kubeconfig fails its probe"),
        (status = 404), (status = 409), (status = 422)), security(("bearer" = [])))]
pub async fn update_provider(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ProviderUpdate>,
) -> ApiResult<Json<ProviderResponse>> {
    caller.require_platform_admin()?;
    let mut p = load(&state, &id).await?;
    let mut changed: Vec<&str> = Vec::new();
    if let Some(v) = req.name {
        text_field("name", &v, 1, 100)?;
        if v != p.name {
            name_taken(&state, &v, Some(&p.id)).await?;
        }
        p.name = v;
        changed.push("name");
    }
    if let Some(v) = req.region {
        text_field("region", &v, 1, 50)?;
        p.region = v;
        changed.push("region");
    }
    if let Some(v) = req.availability_zone {
        optional_text("availability_zone", &v, 50)?;
        p.availability_zone = v;
        changed.push("availability_zone");
    }
    if let Some(v) = req.cloud_provider {
        optional_text("cloud_provider", &v, 50)?;
        p.cloud_provider = v;
        changed.push("cloud_provider");
    }
    if let Some(v) = req.domain {
        tenant_field(&state, &v).await?;
        p.domain = v;
        changed.push("domain");
    }
    let c = &mut p.capacity;
    for (field, new, slot) in [
        (
            "cpu_total_cores",
            req.cpu_total_cores,
            &mut c.cpu_total_cores,
        ),
        (
            "memory_total_gb",
            req.memory_total_gb,
            &mut c.memory_total_gb,
        ),
        (
            "storage_total_gb",
            req.storage_total_gb,
            &mut c.storage_total_gb,
        ),
    ] {
        if let Some(v) = new {
            capacity(field, v)?;
            *slot = v;
            changed.push(field);
        }
    }
    for (field, new, slot) in [
        (
            "cpu_reservation_percent",
            req.cpu_reservation_percent,
            &mut c.cpu_reservation_percent,
        ),
        (
            "memory_reservation_percent",
            req.memory_reservation_percent,
            &mut c.memory_reservation_percent,
        ),
        (
            "storage_reservation_percent",
            req.storage_reservation_percent,
            &mut c.storage_reservation_percent,
        ),
    ] {
        if let Some(v) = new {
            percent(field, v)?;
            *slot = v;
            changed.push(field);
        }
    }
    for (field, new, slot) in [
        (
            "enable_loadbalancer",
            req.enable_loadbalancer,
            &mut p.enable_loadbalancer,
        ),
        ("is_active", req.is_active, &mut p.is_active),
        ("is_maintenance", req.is_maintenance, &mut p.is_maintenance),
    ] {
        if let Some(v) = new {
            *slot = v;
            changed.push(field);
        }
    }
    if let Some(v) = req.priority {
        priority(v)?;
        p.priority = v;
        changed.push("priority");
    }
    if let Some(v) = req.tags {
        tags(&v)?;
        p.tags = v;
        changed.push("tags");
    }
    if req.metadata.is_some() {
        p.metadata = object("metadata", req.metadata)?;
        changed.push("metadata");
    }
    if let Some(k) = &req.kubeconfig_content {
        kubeconfig(k)?;
        changed.push("kubeconfig_content");
    }
    let ssl_changed = req.verify_ssl.is_some_and(|v| v != p.verify_ssl);
    if let Some(v) = req.verify_ssl {
        p.verify_ssl = v;
        changed.push("verify_ssl");
    }
    // A new kubeconfig or TLS setting must work before it replaces what works now.
    if req.kubeconfig_content.is_some() || ssl_changed {
        let content = match &req.kubeconfig_content {
            Some(k) => k.clone(),
            None => state
                .store
                .provider_kubeconfig(&p.id)
                .await?
                .ok_or_else(|| ApiError::not_found("Provider", &id))?,
        };
        let facts = probe(&content, p.verify_ssl).await?;
        p.kubedb = facts["kubedb"].clone();
        p.connection = facts["connection"].clone();
    }
    p.updated_at = Utc::now();
    state
        .store
        .update_provider(&p, req.kubeconfig_content.as_deref())
        .await?;
    state.provider_written(&p.id).await;
    state
        .audit(
            &caller.ctx,
            Audit::new("provider.update", "provider")
                .id(&p.id)
                .scope(p.domain.as_deref(), None)
                .by(&caller.user_id, &caller.email)
                .details(json!({"fields": changed})),
        )
        .await;
    Ok(Json(ProviderResponse::from(&p)))
}

#[utoipa::path(delete, path = "/api/v1/providers/{id}", tag = "providers", params(("id" = String, Path)),
    responses((status = 204), (status = 404), (status = 409, description = "databases still live on it")),
    security(("bearer" = [])))]
pub async fn delete_provider(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_platform_admin()?;
    let p = load(&state, &id).await?;
    if !state.store.delete_provider(&id).await? {
        return Err(ApiError::not_found("Provider", &id));
    }
    state.provider_written(&id).await;
    state
        .audit(
            &caller.ctx,
            Audit::new("provider.delete", "provider")
                .id(&id)
                .scope(p.domain.as_deref(), None)
                .by(&caller.user_id, &caller.email)
                .status(204)
                .details(json!({"name": p.name})),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

// ---- engines and versions offered

#[derive(Debug, Deserialize, IntoParams)]
pub struct WhereQuery {
    pub region: Option<String>,
    pub availability_zone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnginesResponse {
    pub region: Option<String>,
    pub availability_zone: Option<String>,
    /// Engine → offered catalog names, newest first. Engines with nothing offered are left out.
    #[schema(value_type = Object)]
    pub engines: std::collections::BTreeMap<Engine, Vec<String>>,
}

/// One offered version (`deprecated` is always false: deprecated ones are never offered).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionItem {
    pub version: String,
    /// The catalog object name to ask for (e.g. `17.9-bookworm`).
    pub name: String,
    pub deprecated: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EngineVersions {
    pub engine: Engine,
    pub versions: Vec<VersionItem>,
}

/// Active providers the caller could place on (shared ones and those dedicated to a domain they
/// belong to), in the requested region/zone.
pub(crate) async fn offering_providers(
    state: &AppState,
    caller: &Caller,
    region: Option<&str>,
    zone: Option<&str>,
) -> ApiResult<Vec<Provider>> {
    let all = state.catalog_providers().await?;
    let visible =
        (!caller.principal.is_platform_admin()).then(|| caller.principal.visible_domains());
    Ok(all
        .iter()
        .filter(|p| p.is_active)
        .filter(|p| match (&p.domain, &visible) {
            (None, _) | (_, None) => true,
            (Some(d), Some(v)) => v.contains(d),
        })
        .filter(|p| region.is_none_or(|r| r == p.region))
        .filter(|p| zone.is_none_or(|z| Some(z) == p.availability_zone.as_deref()))
        .cloned()
        .collect())
}

/// The offered versions of one engine over several providers, deduplicated, newest first.
pub(crate) fn offered(
    state: &AppState,
    engine: Engine,
    providers: &[Provider],
) -> Vec<VersionItem> {
    let catalog: Vec<_> = providers
        .iter()
        .flat_map(|p| state.offered_catalog(p))
        .collect();
    state
        .version_policy()
        .offered(engine, &catalog)
        .into_iter()
        .map(|v| VersionItem {
            version: v.version,
            name: v.name,
            deprecated: v.deprecated,
        })
        .collect()
}

fn engine_segment(s: &str) -> ApiResult<Engine> {
    Engine::parse(s).ok_or_else(|| ApiError::not_found("Engine", s))
}

#[utoipa::path(get, path = "/api/v1/providers/engines", tag = "providers", params(WhereQuery),
    responses((status = 200, body = EnginesResponse)), security(("bearer" = [])))]
pub async fn engines(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<WhereQuery>,
) -> ApiResult<Json<EnginesResponse>> {
    let providers = offering_providers(
        &state,
        &caller,
        q.region.as_deref(),
        q.availability_zone.as_deref(),
    )
    .await?;
    let engines = Engine::ALL
        .into_iter()
        .filter_map(|e| {
            let names: Vec<String> = offered(&state, e, &providers)
                .into_iter()
                .map(|v| v.name)
                .collect();
            (!names.is_empty()).then_some((e, names))
        })
        .collect();
    Ok(Json(EnginesResponse {
        region: q.region,
        availability_zone: q.availability_zone,
        engines,
    }))
}

#[utoipa::path(get, path = "/api/v1/providers/versions/{engine}", tag = "providers",
    params(("engine" = String, Path), WhereQuery),
    responses((status = 200, body = EngineVersions), (status = 404, description = "unknown engine")),
    security(("bearer" = [])))]
pub async fn engine_versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(engine): Path<String>,
    ApiQuery(q): ApiQuery<WhereQuery>,
) -> ApiResult<Json<EngineVersions>> {
    let engine = engine_segment(&engine)?;
    let providers = offering_providers(
        &state,
        &caller,
        q.region.as_deref(),
        q.availability_zone.as_deref(),
    )
    .await?;
    Ok(Json(EngineVersions {
        engine,
        versions: offered(&state, engine, &providers),
    }))
}

// ---- placement preview

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementNeed {
    pub cpu_cores: f64,
    pub memory_gb: f64,
    pub storage_gb: f64,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SelectQuery {
    /// The tenant to place for. Required for callers belonging to several domains; platform
    /// admins may name any (absent = shared providers only).
    pub domain: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AvailableQuery {
    pub cpu_cores: f64,
    pub memory_gb: f64,
    pub storage_gb: f64,
    pub region: Option<String>,
    pub availability_zone: Option<String>,
    pub domain: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AvailableRoom {
    pub cpu_cores: f64,
    pub memory_gb: f64,
    pub storage_gb: f64,
}

/// A provider that could take the request, best first. `score` and `available` are shown to
/// platform admins only: other callers learn where they could land, not the size of clusters
/// they do not run.
#[derive(Debug, Serialize, ToSchema)]
pub struct Candidate {
    pub id: String,
    pub name: String,
    pub region: String,
    pub availability_zone: Option<String>,
    pub dedicated: bool,
    /// `min(available / requested)` over cpu, memory and storage (≥ 1 fits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<AvailableRoom>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlacementPreview {
    pub providers: Vec<Candidate>,
    /// The provider a database with this request would be placed on now.
    pub selected: Option<String>,
}

impl PlacementNeed {
    fn validate(&self) -> ApiResult<()> {
        for (field, v) in [
            ("cpu_cores", self.cpu_cores),
            ("memory_gb", self.memory_gb),
            ("storage_gb", self.storage_gb),
        ] {
            capacity(field, v)?;
        }
        Ok(())
    }
}

/// The domain placement is previewed for: see [`SelectQuery::domain`].
fn placement_domain(caller: &Caller, requested: Option<String>) -> ApiResult<String> {
    if caller.principal.is_platform_admin() {
        // "" matches no dedicated provider: shared ones only.
        return Ok(requested.unwrap_or_default());
    }
    let visible = caller.principal.visible_domains();
    match requested {
        Some(d) if visible.contains(&d) => Ok(d),
        Some(d) => Err(ApiError::not_found("Tenant", &d)),
        None => match visible.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::forbidden("Placement needs a role in a domain")),
            _ => Err(ApiError::validation(
                "domain",
                "required: you belong to several domains",
            )),
        },
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

async fn preview(
    state: &AppState,
    caller: &Caller,
    need: PlacementNeed,
    domain: Option<String>,
    region: Option<String>,
    availability_zone: Option<String>,
) -> ApiResult<Json<PlacementPreview>> {
    need.validate()?;
    let domain = placement_domain(caller, domain)?;
    // Fresh, not the cached list: the preview shows current allocations.
    let providers = state
        .store
        .list_providers(&ProviderFilter::default())
        .await?;
    let req = PlacementRequest {
        domain,
        need: Usage {
            cpu_cores: need.cpu_cores,
            memory_gb: need.memory_gb,
            storage_gb: need.storage_gb,
            databases: 1,
            backups: 0,
        },
        region,
        availability_zone,
    };
    let admin = caller.principal.is_platform_admin();
    let ranked = placement::rank(&providers, &req);
    let selected = ranked.first().map(|c| c.provider.id.clone());
    let providers = ranked
        .into_iter()
        .map(|c| {
            let p = c.provider;
            let free = placement::available(&p.capacity, &p.allocated);
            Candidate {
                id: p.id.clone(),
                name: p.name.clone(),
                region: p.region.clone(),
                availability_zone: p.availability_zone.clone(),
                dedicated: c.dedicated,
                score: admin.then(|| round3(c.headroom)),
                available: admin.then(|| AvailableRoom {
                    cpu_cores: round3(free.cpu_cores),
                    memory_gb: round3(free.memory_gb),
                    storage_gb: round3(free.storage_gb),
                }),
            }
        })
        .collect();
    Ok(Json(PlacementPreview {
        providers,
        selected,
    }))
}

#[utoipa::path(post, path = "/api/v1/providers/select", tag = "providers", request_body = PlacementNeed,
    params(SelectQuery, ("X-Region" = Option<String>, Header), ("X-Availability-Zone" = Option<String>, Header)),
    responses((status = 200, body = PlacementPreview)), security(("bearer" = [])))]
pub async fn select(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SelectQuery>,
    ApiJson(need): ApiJson<PlacementNeed>,
) -> ApiResult<Json<PlacementPreview>> {
    preview(
        &state,
        &caller,
        need,
        q.domain,
        header(&headers, "x-region"),
        header(&headers, "x-availability-zone"),
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/providers/available/list", tag = "providers", params(AvailableQuery),
    responses((status = 200, body = PlacementPreview)), security(("bearer" = [])))]
pub async fn available_list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AvailableQuery>,
) -> ApiResult<Json<PlacementPreview>> {
    let need = PlacementNeed {
        cpu_cores: q.cpu_cores,
        memory_gb: q.memory_gb,
        storage_gb: q.storage_gb,
    };
    let nonempty = |s: Option<String>| s.filter(|v| !v.trim().is_empty());
    preview(
        &state,
        &caller,
        need,
        q.domain,
        nonempty(q.region),
        nonempty(q.availability_zone),
    )
    .await
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn provider_fixture() -> Provider {
        Provider {
            id: "provider-1".into(),
            name: "one".into(),
            region: "eu".into(),
            availability_zone: None,
            cloud_provider: None,
            domain: None,
            capacity: ProviderCapacity {
                cpu_total_cores: 3.0,
                memory_total_gb: 10.0,
                storage_total_gb: 100.0,
                cpu_reservation_percent: 80.0,
                memory_reservation_percent: 50.0,
                storage_reservation_percent: 100.0,
            },
            allocated: Usage {
                cpu_cores: 1.0,
                memory_gb: 2.0,
                storage_gb: 10.0,
                databases: 1,
                backups: 0,
            },
            verify_ssl: true,
            enable_loadbalancer: false,
            is_active: true,
            is_maintenance: false,
            priority: 100,
            tags: vec![],
            metadata: json!({}),
            kubedb: Value::Null,
            connection: Value::Null,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn response_computes_available_and_hides_the_catalog() {
        let mut p = provider_fixture();
        p.kubedb = json!({"installed": true, "version": null, "engines": ["postgres", "redis"],
            "catalog": [{"engine": "postgres", "name": "16.10", "version": "16.10"}]});
        p.connection = json!({"status": "connected", "last_checked_at": "2026-01-02T03:04:05Z", "server_version": "v1.31.0"});
        let v = serde_json::to_value(ProviderResponse::from(&p)).unwrap();
        // 3 × 80 % − 1 = 1.4 (not 1.4000000000000004)
        assert_eq!(v["resources"]["cpu"]["available_cores"], json!(1.4));
        assert_eq!(v["resources"]["memory"]["available_gb"], json!(3.0));
        assert_eq!(v["resources"]["storage"]["available_gb"], json!(90.0));
        assert_eq!(
            v["kubedb"],
            json!({"installed": true, "engines": ["postgres", "redis"]})
        );
        assert_eq!(
            v["connection"],
            json!({"status": "connected", "last_checked_at": "2026-01-02T03:04:05Z"})
        );
        p.connection = Value::Null;
        let v = serde_json::to_value(ProviderResponse::from(&p)).unwrap();
        assert_eq!(v["connection"]["status"], "unknown");
    }

    #[test]
    fn update_tells_null_from_absent() {
        let u: ProviderUpdate =
            serde_json::from_value(json!({"domain": null, "cloud_provider": "aws"})).unwrap();
        assert_eq!(u.domain, Some(None));
        assert_eq!(u.cloud_provider, Some(Some("aws".into())));
        assert_eq!(u.availability_zone, None);
    }

    #[test]
    fn field_rules() {
        assert!(capacity("cpu_total_cores", 0.0).is_err());
        assert!(capacity("cpu_total_cores", f64::NAN).is_err());
        assert!(capacity("cpu_total_cores", 0.5).is_ok());
        assert!(percent("p", 100.0).is_ok() && percent("p", 100.1).is_err());
        assert!(priority(1000).is_ok() && priority(-1).is_err());
        assert!(text_field("name", " padded", 1, 100).is_err());
        let e = text_field("region", &"x".repeat(51), 1, 50).unwrap_err();
        assert_eq!(e.details[0]["field"], "region");
        assert!(tags(&["a".repeat(65)]).is_err());
    }
}
