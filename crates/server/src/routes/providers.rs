//! `/api/v1/providers`: onboarding Kubernetes clusters running KubeDB (platform admins), the
//! engines and versions they offer, and the placement preview (any authenticated user).
//!
//! The kubeconfig is checked in memory before anything is stored (connect, `probe()`), stored
//! encrypted by the store, and never returned.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use domain::engine::Engine;
use domain::model::Provider;
use domain::placement::{self, PlacementRequest};
use domain::quota::Usage;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::ProviderFilter;
use utoipa::{IntoParams, ToSchema};

use super::{PageMeta, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::workflows::{providers, Actor};

pub use domain::requests::{ProviderCreate, ProviderUpdate};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CpuResources {
    pub total_cores: f64,
    pub allocated_cores: f64,
    /// `total × reservation_percent / 100 − allocated`
    pub available_cores: f64,
    pub reservation_percent: f64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GbResources {
    pub total_gb: f64,
    pub allocated_gb: f64,
    /// `total × reservation_percent / 100 − allocated`
    pub available_gb: f64,
    pub reservation_percent: f64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderResources {
    pub cpu: CpuResources,
    pub memory: GbResources,
    pub storage: GbResources,
}

/// What the last probe found about KubeDB (the catalog itself is served by the version routes).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KubedbInfo {
    pub installed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub engines: Vec<Engine>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectionInfo {
    /// `connected`, `unreachable`, `error`, or `unknown` before the first check.
    pub status: String,
    pub last_checked_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderList {
    pub providers: Vec<ProviderResponse>,
    #[serde(flatten)]
    pub meta: PageMeta,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProviderListQuery {
    pub region: Option<String>,
    pub availability_zone: Option<String>,
    pub is_active: Option<bool>,
    pub domain: Option<String>,
    /// 1-based page number.
    #[param(minimum = 1, maximum = 1000000, default = 1)]
    pub page: Option<i64>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 10)]
    pub page_size: Option<i64>,
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
    let p = providers::create(&state.workflows(), &Actor::from(&caller), req).await?;
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
    Ok(Json(ProviderResponse::from(
        &providers::load(&state.workflows(), &id).await?,
    )))
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
    let p = providers::update(&state.workflows(), &Actor::from(&caller), &id, req).await?;
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
    providers::delete(&state.workflows(), &Actor::from(&caller), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- engines and versions offered

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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

#[utoipa::path(get, operation_id = "list_engines", path = "/api/v1/providers/engines", tag = "providers", params(WhereQuery),
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

#[utoipa::path(get, operation_id = "list_engine_versions", path = "/api/v1/providers/versions/{engine}", tag = "providers",
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
    #[schema(exclusive_minimum = 0, maximum = 10000000)]
    pub cpu_cores: f64,
    #[schema(exclusive_minimum = 0, maximum = 10000000)]
    pub memory_gb: f64,
    #[schema(exclusive_minimum = 0, maximum = 10000000)]
    pub storage_gb: f64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SelectQuery {
    /// The tenant to place for. Required for callers belonging to several domains; platform
    /// admins may name any (absent = shared providers only).
    pub domain: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvailableQuery {
    #[param(exclusive_minimum = 0, maximum = 10000000)]
    pub cpu_cores: f64,
    #[param(exclusive_minimum = 0, maximum = 10000000)]
    pub memory_gb: f64,
    #[param(exclusive_minimum = 0, maximum = 10000000)]
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
            domain::requests::capacity(field, v)?;
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

#[utoipa::path(post, operation_id = "select_provider", path = "/api/v1/providers/select", tag = "providers", request_body = PlacementNeed,
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

#[utoipa::path(get, operation_id = "list_available_providers", path = "/api/v1/providers/available/list", tag = "providers", params(AvailableQuery),
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
    use domain::model::ProviderCapacity;
    use serde_json::json;

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
}
