//! `/api/v1/tenants`: tenants (domains), their projects, members and quotas.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use domain::access::{Action, Binding, Role, Scope};
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
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct QuotaInput {
    pub max_cpu_cores: Option<f64>,
    pub max_memory_gb: Option<f64>,
    pub max_storage_gb: Option<f64>,
    pub max_databases: Option<i64>,
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

pub(crate) fn object(field: &str, v: Option<Value>) -> Result<Value, ApiError> {
    match v {
        None => Ok(json!({})),
        Some(v @ Value::Object(_)) if v.to_string().len() <= 16 * 1024 => Ok(v),
        Some(Value::Object(_)) => Err(ApiError::validation(field, "must be at most 16 KiB")),
        Some(_) => Err(ApiError::validation(field, "must be a JSON object")),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCreate {
    /// The tenant's slug and id: a DNS label of 3–63 characters.
    pub name: String,
    pub display_name: Option<String>,
    #[serde(default)]
    pub plan: Plan,
    pub contact_email: Option<String>,
    pub quota: Option<QuotaInput>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantUpdate {
    pub display_name: Option<String>,
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

#[derive(Debug, Serialize, ToSchema)]
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

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    pub tenants: Vec<TenantResponse>,
    #[serde(flatten)]
    pub meta: PageMeta,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectCreate {
    /// A DNS label of 3–63 characters, unique in the domain.
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub quota: Option<QuotaInput>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectUpdate {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub quota: Option<QuotaInput>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectResponse {
    pub name: String,
    pub domain: String,
    pub display_name: String,
    pub description: Option<String>,
    pub quota: QuotaLimits,
    #[schema(value_type = Object)]
    pub metadata: Value,
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
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<ProjectResponse>,
    #[serde(flatten)]
    pub meta: PageMeta,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberAdd {
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberResponse {
    pub user_id: String,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub domain: String,
    pub project: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
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
        metadata: object("metadata", req.metadata)?,
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
    responses((status = 200, body = TenantResponse), (status = 403), (status = 404)), security(("bearer" = [])))]
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
        t.metadata = object("metadata", req.metadata)?;
    }
    if let Some(p) = req.plan {
        t.plan = p;
    }
    if let Some(q) = req.quota {
        t.quota = q.over(t.quota)?;
    }
    if let Some(a) = req.is_active {
        t.is_active = a;
    }
    t.updated_at = Utc::now();
    state.store.update_tenant(&t).await?;
    state.invalidate_quota(&domain, None).await;
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

#[utoipa::path(get, path = "/api/v1/tenants/{domain}/quota", tag = "tenants", params(("domain" = String, Path)),
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
    responses((status = 201, body = ProjectResponse), (status = 409)), security(("bearer" = [])))]
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
    let quota = req
        .quota
        .unwrap_or_default()
        .over(state.config.default_project_quota())?;
    if quota.max_databases > tenant.quota.max_databases
        || quota.max_cpu_cores > tenant.quota.max_cpu_cores
    {
        return Err(ApiError::bad_request(
            "A project's quota cannot exceed its domain's quota",
        ));
    }
    let now = Utc::now();
    let project = Project {
        domain: domain.clone(),
        name: req.name.clone(),
        display_name: req.display_name.unwrap_or_else(|| req.name.clone()),
        description: req.description,
        quota,
        metadata: object("metadata", req.metadata)?,
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
    responses((status = 200, body = ProjectResponse), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn update_project(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, project)): Path<(String, String)>,
    ApiJson(req): ApiJson<ProjectUpdate>,
) -> ApiResult<Json<ProjectResponse>> {
    project_scope(&caller, Action::ManageTenant, &domain, &project)?;
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
    }
    p.updated_at = Utc::now();
    state.store.update_project(&p).await?;
    state.invalidate_quota(&domain, Some(&project)).await;
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

#[utoipa::path(get, path = "/api/v1/tenants/{domain}/projects/{project}/quota", tag = "projects",
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

async fn add_member(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    project: Option<&str>,
    req: MemberAdd,
) -> ApiResult<(StatusCode, Json<MemberResponse>)> {
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
    let user = state
        .store
        .get_user_by_email(&email)
        .await?
        .ok_or_else(|| ApiError::not_found("User", &email))?;
    let binding = match project {
        None => Binding::domain(req.role, domain),
        Some(p) => Binding::project(req.role, domain, p),
    };
    state.store.add_binding(&user.user.id, &binding).await?;
    state.invalidate_user(&user.user.id).await;
    state
        .audit(
            &caller.ctx,
            Audit::new("member.add", "member")
                .id(&user.user.id)
                .scope(Some(domain), project)
                .by(&caller.user_id, &caller.email)
                .status(201)
                .details(json!({"role": req.role, "email": email})),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(MemberResponse {
            user_id: user.user.id,
            email: user.user.email,
            full_name: user.user.full_name,
            role: req.role,
            domain: domain.to_string(),
            project: project.map(str::to_string),
        }),
    ))
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

#[utoipa::path(post, path = "/api/v1/tenants/{domain}/members", tag = "members", params(("domain" = String, Path)), request_body = MemberAdd,
    responses((status = 201, body = MemberResponse), (status = 409)), security(("bearer" = [])))]
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
    params(("domain" = String, Path), ("project" = String, Path)), request_body = MemberAdd,
    responses((status = 201, body = MemberResponse), (status = 409)), security(("bearer" = [])))]
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
