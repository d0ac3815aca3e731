//! The OpenAPI document, generated from the handlers' annotations, and an offline docs page.

use axum::response::{Html, IntoResponse};
use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    account, admin, audit_logs, auth, backups, databases, day2, db_metrics, events, health,
    operations, providers, tenants, users, versions,
};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or dbaas_ API key")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "kubedb-dbaas", description = "Database-as-a-service control plane on Kubernetes and KubeDB. Errors use the envelope {\"error\": {code, message, details, status_code}}."),
    modifiers(&Security),
    paths(
        health::health, health::live, health::ready, health::startup,
        auth::register, auth::login, auth::refresh, auth::logout, auth::me,
        auth::create_api_key, auth::list_api_keys, auth::revoke_api_key,
        tenants::create_tenant, tenants::list_tenants, tenants::get_tenant, tenants::update_tenant, tenants::tenant_quota,
        tenants::create_project, tenants::list_projects, tenants::get_project, tenants::update_project, tenants::delete_project,
        tenants::project_quota,
        tenants::list_domain_members, tenants::add_domain_member, tenants::remove_domain_member,
        tenants::list_project_members, tenants::add_project_member, tenants::remove_project_member,
        tenants::delete_tenant, tenants::list_domain_invitations, tenants::list_project_invitations,
        tenants::revoke_invitation,
        account::list_my_invitations, account::accept_invitation, account::decline_invitation,
        account::change_password,
        users::create_user, users::list_users, users::get_user, users::update_user, users::delete_user,
        audit_logs::list,
        providers::create_provider, providers::list_providers, providers::get_provider,
        providers::update_provider, providers::delete_provider, providers::engines,
        providers::engine_versions, providers::select, providers::available_list,
        versions::list_versions,
        databases::create, databases::list, databases::get, databases::delete, databases::status, db_metrics::get, db_metrics::history,
        databases::credentials, databases::refresh_endpoint,
        day2::update, day2::scale, day2::pause, day2::resume, day2::restart,
        day2::available_upgrades, day2::upgrade, day2::upgrade_policy, day2::reconfigure,
        day2::rotate_credentials, events::timeline, events::stream,
        operations::list, operations::get, operations::cancel, operations::queue_stats,
        admin::orphans,
        backups::put_provider_storage, backups::get_provider_storage,
        backups::put_tenant_storage, backups::get_tenant_storage,
        backups::trigger_backup, backups::list_backups, backups::get_backup, backups::restore,
    ),
    tags(
        (name = "health"), (name = "auth"), (name = "tenants"), (name = "projects"), (name = "members"),
        (name = "users"), (name = "audit"), (name = "providers"), (name = "versions"), (name = "databases"),
        (name = "operations"), (name = "admin"),
    )
)]
pub struct ApiDoc;

pub async fn openapi_json() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

/// A self-contained page (no CDN) that renders `/openapi.json`.
pub async fn docs_page() -> Html<&'static str> {
    Html(include_str!("../../assets/docs.html"))
}
