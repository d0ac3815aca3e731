//! `/api/v1/tenants`: tenants (domains), their projects, members and quotas.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use domain::access::{Action, Binding, Role, Scope};
use domain::ids::{is_id, new_id, IdKind};
use domain::invitation::{Invitation, InvitationStatus, INVITATION_TTL};
use domain::model::{Plan, Project, Tenant};
use domain::quota::{QuotaLimits, QuotaView};
use domain::validate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{slug_segment, PageMeta, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::{AppState, Audit};

/// Quota fields to set; those left out keep their default (on create) or current value (on update).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct QuotaInput {
    #[schema(minimum = 0, maximum = 1000000)]
    pub max_cpu_cores: Option<f64>,
    #[schema(minimum = 0, maximum = 1000000)]
    pub max_memory_gb: Option<f64>,
    #[schema(minimum = 0, maximum = 1000000)]
    pub max_storage_gb: Option<f64>,
    #[schema(minimum = 0, maximum = 1000000)]
    pub max_databases: Option<i64>,
    #[schema(minimum = 0, maximum = 1000000)]
    pub max_backups: Option<i64>,
}

impl QuotaInput {
    fn over(self, base: QuotaLimits) -> Result<QuotaLimits, ApiError> {
        let q = QuotaLimits {
            max_cpu_cores: self.max_cpu_cores.unwrap_or(base.max_cpu_cores),
            max_memory_gb: self.max_memory_gb.unwrap_or(base.max_memory_gb),
            max_storage_gb: self.max_storage_gb.unwrap_or(base.max_storage_gb),
            max_databases: self.max_databases.unwrap_or(base.max_databases),
            max_backups: self.max_backups.unwrap_or(base.max_backups),
        };
        q.validate()?;
        Ok(q)
    }
}

/// A tenant's metadata: an object, and its `allowed_namespace_labels` (namespaces whose pods may
/// reach the tenant's databases) a map of Kubernetes label keys to label values.
fn tenant_metadata(v: Option<Value>) -> Result<Value, ApiError> {
    let m = object("metadata", v)?;
    if let Some(labels) = m.get("allowed_namespace_labels") {
        let field = "metadata.allowed_namespace_labels";
        let Value::Object(labels) = labels else {
            return Err(ApiError::validation(
                field,
                "must be an object of label keys to label values",
            ));
        };
        for (k, v) in labels {
            let key_field = format!("{field}.{k}");
            validate::label_key(&key_field, k)?;
            let Value::String(v) = v else {
                return Err(ApiError::validation(&key_field, "must be a string"));
            };
            validate::label_value(&key_field, v)?;
        }
    }
    Ok(m)
}

/// A project's quota over its domain's: a rule against the stored domain quota (400).
fn over_domain(e: domain::DomainError) -> ApiError {
    match e {
        domain::DomainError::Validation { field, message } => {
            ApiError::bad_request(format!("{field}: {message}"))
                .with_details(serde_json::json!([{ "field": field, "message": message }]))
        }
        other => other.into(),
    }
}

pub(crate) fn object(field: &str, v: Option<Value>) -> Result<Value, ApiError> {
    Ok(validate::json_object(field, v)?)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCreate {
    /// The tenant's slug and id: a DNS label of 3–63 characters.
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = r"^[a-z]([a-z0-9-]*[a-z0-9])?$"
    )]
    pub name: String,
    /// 1–100 characters (surrounding spaces are trimmed).
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]{0,98}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub display_name: Option<String>,
    #[serde(default)]
    pub plan: Plan,
    #[schema(
        max_length = 254,
        pattern = r"^[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]+@[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.][^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*\.[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.]$"
    )]
    pub contact_email: Option<String>,
    pub quota: Option<QuotaInput>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantUpdate {
    /// 1–100 characters (surrounding spaces are trimmed).
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]{0,98}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub display_name: Option<String>,
    #[schema(
        max_length = 254,
        pattern = r"^[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]+@[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.][^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*\.[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.]$"
    )]
    pub contact_email: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Platform admins only.
    pub plan: Option<Plan>,
    /// Platform admins only.
    pub quota: Option<QuotaInput>,
    /// Platform admins only.
    pub is_active: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantResponse {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub plan: Plan,
    pub contact_email: Option<String>,
    pub quota: QuotaLimits,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Tenant> for TenantResponse {
    fn from(t: Tenant) -> Self {
        TenantResponse {
            id: t.name.clone(),
            name: t.name,
            display_name: t.display_name,
            plan: t.plan,
            contact_email: t.contact_email,
            quota: t.quota,
            metadata: t.metadata,
            is_active: t.is_active,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantList {
    pub tenants: Vec<TenantResponse>,
    #[serde(flatten)]
    pub meta: PageMeta,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectCreate {
    /// A DNS label of 3–63 characters, unique in the domain.
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = r"^[a-z]([a-z0-9-]*[a-z0-9])?$"
    )]
    pub name: String,
    /// 1–100 characters (surrounding spaces are trimmed).
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]{0,98}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub display_name: Option<String>,
    /// At most 1000 characters (surrounding spaces are trimmed).
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]{0,998}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?)?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub description: Option<String>,
    pub quota: Option<QuotaInput>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectUpdate {
    /// 1–100 characters (surrounding spaces are trimmed).
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]{0,98}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub display_name: Option<String>,
    /// At most 1000 characters (surrounding spaces are trimmed).
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]{0,998}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?)?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub description: Option<String>,
    pub quota: Option<QuotaInput>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Suspends (false) or reactivates (true) the project: platform and domain admins.
    pub is_active: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectResponse {
    pub name: String,
    pub domain: String,
    pub display_name: String,
    pub description: Option<String>,
    pub quota: QuotaLimits,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Project> for ProjectResponse {
    fn from(p: Project) -> Self {
        ProjectResponse {
            name: p.name,
            domain: p.domain,
            display_name: p.display_name,
            description: p.description,
            quota: p.quota,
            metadata: p.metadata,
            is_active: p.is_active,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<ProjectResponse>,
    #[serde(flatten)]
    pub meta: PageMeta,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberAdd {
    #[schema(
        max_length = 254,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]+@[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.][^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*\.[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.][\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub email: String,
    pub role: Role,
}

/// `MemberAdd` as a domain's members route takes it: the role is `domain_admin`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainMemberAdd {
    #[schema(
        max_length = 254,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]+@[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.][^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*\.[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.][\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub email: String,
    pub role: DomainMemberRole,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainMemberRole {
    DomainAdmin,
}

/// `MemberAdd` as a project's members route takes it: `project_admin` or `developer`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectMemberAdd {
    #[schema(
        max_length = 254,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]+@[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.][^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*\.[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.][\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub email: String,
    pub role: ProjectMemberRole,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectMemberRole {
    ProjectAdmin,
    Developer,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberResponse {
    pub user_id: String,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub domain: String,
    pub project: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberResponse>,
    pub total: i64,
}

async fn load_tenant(state: &AppState, domain: &str) -> ApiResult<Tenant> {
    state
        .store
        .get_tenant(domain)
        .await?
        .ok_or_else(|| ApiError::not_found("Tenant", domain))
}

async fn load_project(state: &AppState, domain: &str, project: &str) -> ApiResult<Project> {
    state
        .store
        .get_project(domain, project)
        .await?
        .ok_or_else(|| ApiError::not_found("Project", project))
}

/// Every project of a domain (to check a new domain quota against each).
async fn all_projects(state: &AppState, domain: &str) -> ApiResult<Vec<Project>> {
    let mut out = Vec::new();
    for page in 1.. {
        let p = state
            .store
            .list_projects(
                domain,
                None,
                domain::model::PageRequest {
                    page,
                    page_size: 1000,
                },
            )
            .await?;
        let empty = p.items.is_empty();
        out.extend(p.items);
        if empty || out.len() as i64 >= p.total {
            break;
        }
    }
    Ok(out)
}

/// Authorizes on a domain: malformed or invisible → 404, visible but not permitted → 403.
fn domain_scope(caller: &Caller, action: Action, domain: &str) -> ApiResult<()> {
    slug_segment("Tenant", domain)?;
    caller.require(action, Scope::Domain(domain), "Tenant", domain)
}

pub(crate) fn project_scope(
    caller: &Caller,
    action: Action,
    domain: &str,
    project: &str,
) -> ApiResult<()> {
    slug_segment("Tenant", domain)?;
    slug_segment("Project", project)?;
    // Invisible domain → the tenant is what "does not exist".
    if caller
        .principal
        .decide(Action::ReadTenant, Scope::Domain(domain))
        == domain::access::Decision::Hidden
    {
        return Err(ApiError::not_found("Tenant", domain));
    }
    caller.require(action, Scope::Project(domain, project), "Project", project)
}

#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = TenantCreate,
    responses((status = 201, body = TenantResponse), (status = 409)), security(("bearer" = [])))]
pub async fn create_tenant(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TenantCreate>,
) -> ApiResult<impl IntoResponse> {
    caller.require_platform_admin()?;
    validate::dns_label("name", &req.name, 3, 63)?;
    if let Some(d) = &req.display_name {
        validate::text("display_name", d, 1, 100)?;
    }
    if let Some(e) = &req.contact_email {
        validate::email("contact_email", e)?;
    }
    let now = Utc::now();
    let tenant = Tenant {
        name: req.name.clone(),
        display_name: req.display_name.unwrap_or_else(|| req.name.clone()),
        plan: req.plan,
        contact_email: req.contact_email,
        quota: req
            .quota
            .unwrap_or_default()
            .over(state.config.default_domain_quota())?,
        metadata: tenant_metadata(req.metadata)?,
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    state.store.create_tenant(&tenant).await?;
    state
        .audit(
            &caller.ctx,
            Audit::new("tenant.create", "tenant")
                .id(&tenant.name)
                .scope(Some(&tenant.name), None)
                .by(&caller.user_id, &caller.email)
                .status(201),
        )
        .await;
    Ok((StatusCode::CREATED, Json(TenantResponse::from(tenant))))
}

#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", params(PageQuery),
    responses((status = 200, body = TenantList)), security(("bearer" = [])))]
pub async fn list_tenants(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<TenantList>> {
    let page = q.request()?;
    let only = (!caller.principal.is_platform_admin()).then(|| caller.principal.visible_domains());
    let p = state.store.list_tenants(only.as_deref(), page).await?;
    let meta = PageMeta::of(&p);
    Ok(Json(TenantList {
        tenants: p.items.into_iter().map(Into::into).collect(),
        meta,
    }))
}

#[utoipa::path(get, path = "/api/v1/tenants/{domain}", tag = "tenants", params(("domain" = String, Path)),
    responses((status = 200, body = TenantResponse), (status = 404)), security(("bearer" = [])))]
pub async fn get_tenant(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
) -> ApiResult<Json<TenantResponse>> {
    domain_scope(&caller, Action::ReadTenant, &domain)?;
    Ok(Json(load_tenant(&state, &domain).await?.into()))
}

#[utoipa::path(patch, path = "/api/v1/tenants/{domain}", tag = "tenants", params(("domain" = String, Path)), request_body = TenantUpdate,
    responses((status = 400, description = "bad_request: a quota over the domain's (or, for a domain, under one of its projects')"), (status = 200, body = TenantResponse), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn update_tenant(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    ApiJson(req): ApiJson<TenantUpdate>,
) -> ApiResult<Json<TenantResponse>> {
    domain_scope(&caller, Action::ManageTenant, &domain)?;
    if (req.plan.is_some() || req.quota.is_some() || req.is_active.is_some())
        && !caller.principal.is_platform_admin()
    {
        return Err(ApiError::forbidden(
            "Only platform admins may change a tenant's plan, quota or activation",
        ));
    }
    let mut t = load_tenant(&state, &domain).await?;
    if let Some(d) = req.display_name {
        validate::text("display_name", &d, 1, 100)?;
        t.display_name = d;
    }
    if let Some(e) = req.contact_email {
        validate::email("contact_email", &e)?;
        t.contact_email = Some(e);
    }
    if req.metadata.is_some() {
        t.metadata = tenant_metadata(req.metadata)?;
    }
    if let Some(p) = req.plan {
        t.plan = p;
    }
    if let Some(q) = req.quota {
        t.quota = q.over(t.quota)?;
        // The domain's quota never drops below one of its projects'.
        for p in all_projects(&state, &domain).await? {
            if let Err(domain::DomainError::Validation { field, message }) =
                p.quota.within(&t.quota)
            {
                // Rules against stored quotas, not the request's shape: 400.
                let message = format!("project '{}' is allowed more: {message}", p.name);
                return Err(ApiError::bad_request(format!("{field}: {message}"))
                    .with_details(serde_json::json!([{ "field": field, "message": message }])));
            }
        }
    }
    let suspension_changed = req.is_active.is_some_and(|a| a != t.is_active);
    if let Some(a) = req.is_active {
        t.is_active = a;
    }
    t.updated_at = Utc::now();
    state.store.update_tenant(&t).await?;
    state.invalidate_quota(&domain, None).await;
    if suspension_changed {
        // What every member may do changed: no cached identity may answer for it.
        state.invalidate_identities();
    }
    state
        .audit(
            &caller.ctx,
            Audit::new("tenant.update", "tenant")
                .id(&domain)
                .scope(Some(&domain), None)
                .by(&caller.user_id, &caller.email),
        )
        .await;
    Ok(Json(t.into()))
}

#[utoipa::path(get, operation_id = "get_tenant_quota", path = "/api/v1/tenants/{domain}/quota", tag = "tenants", params(("domain" = String, Path)),
    responses((status = 200, body = QuotaView), (status = 404)), security(("bearer" = [])))]
pub async fn tenant_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
) -> ApiResult<Json<QuotaView>> {
    domain_scope(&caller, Action::ReadTenant, &domain)?;
    let key = (domain.clone(), String::new());
    if let Some(v) = state.quota_views.get(&key).await {
        return Ok(Json(v));
    }
    let t = load_tenant(&state, &domain).await?;
    let used = state.store.domain_usage(&domain).await?;
    let view = QuotaView::new(t.quota, used);
    state.quota_views.insert(key, view.clone()).await;
    Ok(Json(view))
}

#[utoipa::path(post, path = "/api/v1/tenants/{domain}/projects", tag = "projects", params(("domain" = String, Path)), request_body = ProjectCreate,
    responses((status = 400, description = "bad_request: a quota over the domain's (or, for a domain, under one of its projects')"), (status = 201, body = ProjectResponse), (status = 409)), security(("bearer" = [])))]
pub async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    ApiJson(req): ApiJson<ProjectCreate>,
) -> ApiResult<impl IntoResponse> {
    domain_scope(&caller, Action::ManageTenant, &domain)?;
    validate::dns_label("name", &req.name, 3, 63)?;
    if let Some(d) = &req.display_name {
        validate::text("display_name", d, 1, 100)?;
    }
    if let Some(d) = &req.description {
        validate::text("description", d, 0, 1000)?;
    }
    let tenant = load_tenant(&state, &domain).await?;
    // Defaults are clipped to the domain's quota; what the caller asks for must fit in it.
    let quota = req.quota.unwrap_or_default().over(
        state
            .config
            .default_project_quota()
            .capped_by(&tenant.quota),
    )?;
    quota.within(&tenant.quota).map_err(over_domain)?;
    let now = Utc::now();
    let project = Project {
        domain: domain.clone(),
        name: req.name.clone(),
        display_name: req.display_name.unwrap_or_else(|| req.name.clone()),
        description: req.description,
        quota,
        metadata: object("metadata", req.metadata)?,
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    state.store.create_project(&project).await?;
    state
        .audit(
            &caller.ctx,
            Audit::new("project.create", "project")
                .id(&project.name)
                .scope(Some(&domain), Some(&project.name))
                .by(&caller.user_id, &caller.email)
                .status(201),
        )
        .await;
    Ok((StatusCode::CREATED, Json(ProjectResponse::from(project))))
}

#[utoipa::path(get, path = "/api/v1/tenants/{domain}/projects", tag = "projects", params(("domain" = String, Path), PageQuery),
    responses((status = 200, body = ProjectList)), security(("bearer" = [])))]
pub async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<ProjectList>> {
    domain_scope(&caller, Action::ReadTenant, &domain)?;
    let page = q.request()?;
    load_tenant(&state, &domain).await?;
    let only = caller.principal.visible_projects(&domain);
    let p = state
        .store
        .list_projects(&domain, only.as_deref(), page)
        .await?;
    let meta = PageMeta::of(&p);
    Ok(Json(ProjectList {
        projects: p.items.into_iter().map(Into::into).collect(),
        meta,
    }))
}

#[utoipa::path(get, path = "/api/v1/tenants/{domain}/projects/{project}", tag = "projects",
    params(("domain" = String, Path), ("project" = String, Path)), responses((status = 200, body = ProjectResponse), (status = 404)), security(("bearer" = [])))]
pub async fn get_project(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project)): Path<(String, String)>,
) -> ApiResult<Json<ProjectResponse>> {
    project_scope(&caller, Action::ReadProject, &domain, &project)?;
    Ok(Json(load_project(&state, &domain, &project).await?.into()))
}

#[utoipa::path(patch, path = "/api/v1/tenants/{domain}/projects/{project}", tag = "projects",
    params(("domain" = String, Path), ("project" = String, Path)), request_body = ProjectUpdate,
    responses((status = 400, description = "bad_request: a quota over the domain's (or, for a domain, under one of its projects')"), (status = 200, body = ProjectResponse), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn update_project(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project)): Path<(String, String)>,
    ApiJson(req): ApiJson<ProjectUpdate>,
) -> ApiResult<Json<ProjectResponse>> {
    let only_activation = req.display_name.is_none()
        && req.description.is_none()
        && req.quota.is_none()
        && req.metadata.is_none();
    if only_activation && req.is_active.is_some() {
        // Suspending or reactivating is the domain's decision: a suspended project can still be
        // reactivated (inside an active domain).
        slug_segment("Project", &project)?;
        domain_scope(&caller, Action::ManageTenant, &domain)?;
    } else {
        project_scope(&caller, Action::ManageTenant, &domain, &project)?;
    }
    let mut p = load_project(&state, &domain, &project).await?;
    if let Some(d) = req.display_name {
        validate::text("display_name", &d, 1, 100)?;
        p.display_name = d;
    }
    if let Some(d) = req.description {
        validate::text("description", &d, 0, 1000)?;
        p.description = Some(d);
    }
    if req.metadata.is_some() {
        p.metadata = object("metadata", req.metadata)?;
    }
    if let Some(q) = req.quota {
        p.quota = q.over(p.quota)?;
        p.quota
            .within(&load_tenant(&state, &domain).await?.quota)
            .map_err(over_domain)?;
    }
    let suspension_changed = req.is_active.is_some_and(|a| a != p.is_active);
    if let Some(a) = req.is_active {
        p.is_active = a;
    }
    p.updated_at = Utc::now();
    state.store.update_project(&p).await?;
    state.invalidate_quota(&domain, Some(&project)).await;
    if suspension_changed {
        state.invalidate_identities();
    }
    state
        .audit(
            &caller.ctx,
            Audit::new("project.update", "project")
                .id(&project)
                .scope(Some(&domain), Some(&project))
                .by(&caller.user_id, &caller.email),
        )
        .await;
    Ok(Json(p.into()))
}

#[utoipa::path(delete, path = "/api/v1/tenants/{domain}/projects/{project}", tag = "projects",
    params(("domain" = String, Path), ("project" = String, Path)),
    responses((status = 204), (status = 404), (status = 409, description = "the project still holds databases")), security(("bearer" = [])))]
pub async fn delete_project(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    project_scope(&caller, Action::ManageTenant, &domain, &project)?;
    let members = state.store.list_members(&domain, Some(&project)).await?;
    if !state.store.delete_project(&domain, &project).await? {
        return Err(ApiError::not_found("Project", &project));
    }
    state.invalidate_quota(&domain, Some(&project)).await;
    for (u, _) in members {
        state.invalidate_user(&u.id).await;
    }
    state
        .audit(
            &caller.ctx,
            Audit::new("project.delete", "project")
                .id(&project)
                .scope(Some(&domain), Some(&project))
                .by(&caller.user_id, &caller.email)
                .status(204),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, operation_id = "get_project_quota", path = "/api/v1/tenants/{domain}/projects/{project}/quota", tag = "projects",
    params(("domain" = String, Path), ("project" = String, Path)), responses((status = 200, body = QuotaView), (status = 404)), security(("bearer" = [])))]
pub async fn project_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project)): Path<(String, String)>,
) -> ApiResult<Json<QuotaView>> {
    project_scope(&caller, Action::ReadProject, &domain, &project)?;
    let key = (domain.clone(), project.clone());
    if let Some(v) = state.quota_views.get(&key).await {
        return Ok(Json(v));
    }
    let p = load_project(&state, &domain, &project).await?;
    let used = state.store.project_usage(&domain, &project).await?;
    let view = QuotaView::new(p.quota, used);
    state.quota_views.insert(key, view.clone()).await;
    Ok(Json(view))
}

async fn members(
    state: &AppState,
    domain: &str,
    project: Option<&str>,
) -> ApiResult<Json<MemberList>> {
    let rows = state.store.list_members(domain, project).await?;
    let members: Vec<_> = rows
        .into_iter()
        .map(|(u, b)| MemberResponse {
            user_id: u.id,
            email: u.email,
            full_name: u.full_name,
            role: b.role,
            domain: domain.to_string(),
            project: b.project,
        })
        .collect();
    Ok(Json(MemberList {
        total: members.len() as i64,
        members,
    }))
}

/// An invitation as the inviter and the invitee see it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvitationResponse {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub domain: String,
    pub project: Option<String>,
    /// `pending` until accepted, declined, revoked or expired.
    pub status: InvitationStatus,
    /// The e-mail of who invited.
    pub invited_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The code the invitee must present to accept: only in the answer that creates the
    /// invitation. Send it to the invited address; it proves the invitation reached its owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Where the invitee accepts (`POST`, body `{"code": …}`, signed in as the invited e-mail).
    pub accept_path: String,
}

impl InvitationResponse {
    pub fn of(i: Invitation, now: DateTime<Utc>, code: Option<String>) -> Self {
        InvitationResponse {
            status: i.status_at(now),
            accept_path: format!("/api/v1/auth/invitations/{}/accept", i.id),
            id: i.id,
            email: i.email,
            role: i.binding.role,
            domain: i.binding.domain.unwrap_or_default(),
            project: i.binding.project,
            invited_by: i.invited_by_email,
            created_at: i.created_at,
            expires_at: i.expires_at,
            decided_at: i.decided_at,
            code,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationList {
    pub invitations: Vec<InvitationResponse>,
    pub total: i64,
}

/// Adding a member grants nothing yet: it invites the e-mail. Whoever holds an account with that
/// e-mail must accept with the invitation's code, so an account registered in advance by someone
/// else (a squatter) never inherits the role. Whether an account exists is not revealed.
async fn add_member(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    project: Option<&str>,
    req: MemberAdd,
) -> ApiResult<(StatusCode, Json<InvitationResponse>)> {
    let allowed = match project {
        None => req.role == Role::DomainAdmin,
        Some(_) => req.role.is_project_role(),
    };
    if !allowed {
        let want = if project.is_some() {
            "project_admin or developer"
        } else {
            "domain_admin"
        };
        return Err(ApiError::validation("role", format!("must be {want} here")));
    }
    let email = req.email.trim().to_lowercase();
    validate::email("email", &email)?;
    // Members of this very scope are listed to the caller already: saying so reveals nothing.
    let members = state.store.list_members(domain, project).await?;
    if members
        .iter()
        .any(|(u, _)| u.email.eq_ignore_ascii_case(&email))
    {
        return Err(ApiError::conflict(format!(
            "{email} already holds a role here"
        )));
    }
    let binding = match project {
        None => Binding::domain(req.role, domain),
        Some(p) => Binding::project(req.role, domain, p),
    };
    let code = format!(
        "inv_{}",
        &crate::auth::tokens::new_refresh_token()["dbaas_rt_".len()..]
    );
    let now = Utc::now();
    let invitation = Invitation {
        id: new_id(IdKind::Invitation),
        email: email.clone(),
        binding,
        code_hash: crate::auth::tokens::sha256_hex(&code),
        invited_by: Some(caller.user_id.clone()),
        invited_by_email: Some(caller.email.clone()),
        status: InvitationStatus::Pending,
        created_at: now,
        expires_at: now + INVITATION_TTL,
        decided_at: None,
        accepted_by: None,
    };
    state.store.create_invitation(&invitation).await?;
    state
        .audit(
            &caller.ctx,
            Audit::new("member.add", "invitation")
                .id(&invitation.id)
                .scope(Some(domain), project)
                .by(&caller.user_id, &caller.email)
                .status(201)
                .details(
                    json!({"role": req.role, "email": email, "expires_at": invitation.expires_at}),
                ),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(InvitationResponse::of(invitation, now, Some(code))),
    ))
}

async fn invitations(
    state: &AppState,
    domain: &str,
    project: Option<&str>,
) -> ApiResult<Json<InvitationList>> {
    let now = Utc::now();
    let invitations: Vec<_> = state
        .store
        .list_invitations(domain, project)
        .await?
        .into_iter()
        .map(|i| InvitationResponse::of(i, now, None))
        .collect();
    Ok(Json(InvitationList {
        total: invitations.len() as i64,
        invitations,
    }))
}

#[utoipa::path(get, path = "/api/v1/tenants/{domain}/invitations", tag = "members", params(("domain" = String, Path)),
    responses((status = 200, body = InvitationList, description = "every invitation to the domain and its projects, newest first"), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn list_domain_invitations(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
) -> ApiResult<Json<InvitationList>> {
    domain_scope(&caller, Action::ManageTenant, &domain)?;
    load_tenant(&state, &domain).await?;
    invitations(&state, &domain, None).await
}

#[utoipa::path(get, path = "/api/v1/tenants/{domain}/projects/{project}/invitations", tag = "members",
    params(("domain" = String, Path), ("project" = String, Path)),
    responses((status = 200, body = InvitationList), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn list_project_invitations(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project)): Path<(String, String)>,
) -> ApiResult<Json<InvitationList>> {
    project_scope(&caller, Action::ManageTenant, &domain, &project)?;
    load_project(&state, &domain, &project).await?;
    invitations(&state, &domain, Some(&project)).await
}

#[utoipa::path(delete, path = "/api/v1/tenants/{domain}/invitations/{id}", tag = "members",
    params(("domain" = String, Path), ("id" = String, Path)),
    responses((status = 204, description = "revoked"), (status = 404), (status = 409, description = "no longer pending")),
    security(("bearer" = [])))]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    domain_scope(&caller, Action::ManageTenant, &domain)?;
    let not_found = || ApiError::not_found("Invitation", &id);
    if !is_id(IdKind::Invitation, &id) {
        return Err(not_found());
    }
    let inv = state
        .store
        .get_invitation(&id)
        .await?
        .filter(|i| i.binding.domain.as_deref() == Some(domain.as_str()))
        .ok_or_else(not_found)?;
    let now = Utc::now();
    if !state
        .store
        .close_invitation(&id, InvitationStatus::Revoked, now)
        .await?
    {
        let status = state
            .store
            .get_invitation(&id)
            .await?
            .map(|i| i.status_at(now))
            .unwrap_or(InvitationStatus::Revoked);
        return Err(ApiError::conflict(format!(
            "The invitation is {}, not pending",
            status.as_str()
        )));
    }
    state
        .audit(
            &caller.ctx,
            Audit::new("member.invite_revoke", "invitation")
                .id(&id)
                .scope(Some(&domain), inv.binding.project.as_deref())
                .by(&caller.user_id, &caller.email)
                .status(204)
                .details(json!({"email": inv.email, "role": inv.binding.role})),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/tenants/{domain}", tag = "tenants", params(("domain" = String, Path)),
    responses((status = 204), (status = 404),
        (status = 409, description = "providers are dedicated to the tenant, or it still holds databases")),
    security(("bearer" = [])))]
pub async fn delete_tenant(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_platform_admin()?;
    slug_segment("Tenant", &domain)?;
    let mut members = state.store.list_members(&domain, None).await?;
    let projects = all_projects(&state, &domain).await?;
    for p in &projects {
        members.extend(state.store.list_members(&domain, Some(&p.name)).await?);
    }
    if !state.store.delete_tenant(&domain).await? {
        return Err(ApiError::not_found("Tenant", &domain));
    }
    state.invalidate_quota(&domain, None).await;
    for (u, _) in members {
        state.invalidate_user(&u.id).await;
    }
    state
        .audit(
            &caller.ctx,
            Audit::new("tenant.delete", "tenant")
                .id(&domain)
                .scope(Some(&domain), None)
                .by(&caller.user_id, &caller.email)
                .status(204),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    project: Option<&str>,
    user_id: &str,
) -> ApiResult<StatusCode> {
    if !domain::ids::is_id(domain::ids::IdKind::User, user_id)
        || !state.store.remove_binding(user_id, domain, project).await?
    {
        return Err(ApiError::not_found("Member", user_id));
    }
    state.invalidate_user(user_id).await;
    state
        .audit(
            &caller.ctx,
            Audit::new("member.remove", "member")
                .id(user_id)
                .scope(Some(domain), project)
                .by(&caller.user_id, &caller.email)
                .status(204),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/tenants/{domain}/members", tag = "members", params(("domain" = String, Path)),
    responses((status = 200, body = MemberList)), security(("bearer" = [])))]
pub async fn list_domain_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
) -> ApiResult<Json<MemberList>> {
    domain_scope(&caller, Action::ReadTenant, &domain)?;
    load_tenant(&state, &domain).await?;
    members(&state, &domain, None).await
}

#[utoipa::path(post, path = "/api/v1/tenants/{domain}/members", tag = "members", params(("domain" = String, Path)), request_body = DomainMemberAdd,
    responses((status = 201, body = InvitationResponse, description = "a pending invitation: the role is granted when the invitee accepts"), (status = 409)), security(("bearer" = [])))]
pub async fn add_domain_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    ApiJson(req): ApiJson<MemberAdd>,
) -> ApiResult<impl IntoResponse> {
    domain_scope(&caller, Action::ManageTenant, &domain)?;
    load_tenant(&state, &domain).await?;
    add_member(&state, &caller, &domain, None, req).await
}

#[utoipa::path(delete, path = "/api/v1/tenants/{domain}/members/{user_id}", tag = "members",
    params(("domain" = String, Path), ("user_id" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn remove_domain_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    domain_scope(&caller, Action::ManageTenant, &domain)?;
    remove_member(&state, &caller, &domain, None, &user_id).await
}

#[utoipa::path(get, path = "/api/v1/tenants/{domain}/projects/{project}/members", tag = "members",
    params(("domain" = String, Path), ("project" = String, Path)), responses((status = 200, body = MemberList)), security(("bearer" = [])))]
pub async fn list_project_members(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project)): Path<(String, String)>,
) -> ApiResult<Json<MemberList>> {
    project_scope(&caller, Action::ReadProject, &domain, &project)?;
    load_project(&state, &domain, &project).await?;
    members(&state, &domain, Some(&project)).await
}

#[utoipa::path(post, path = "/api/v1/tenants/{domain}/projects/{project}/members", tag = "members",
    params(("domain" = String, Path), ("project" = String, Path)), request_body = ProjectMemberAdd,
    responses((status = 201, body = InvitationResponse, description = "a pending invitation: the role is granted when the invitee accepts"), (status = 409)), security(("bearer" = [])))]
pub async fn add_project_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project)): Path<(String, String)>,
    ApiJson(req): ApiJson<MemberAdd>,
) -> ApiResult<impl IntoResponse> {
    project_scope(&caller, Action::ManageTenant, &domain, &project)?;
    load_project(&state, &domain, &project).await?;
    add_member(&state, &caller, &domain, Some(&project), req).await
}

#[utoipa::path(delete, path = "/api/v1/tenants/{domain}/projects/{project}/members/{user_id}", tag = "members",
    params(("domain" = String, Path), ("project" = String, Path), ("user_id" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn remove_project_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project, user_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    project_scope(&caller, Action::ManageTenant, &domain, &project)?;
    remove_member(&state, &caller, &domain, Some(&project), &user_id).await
}
