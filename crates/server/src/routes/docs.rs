//! The OpenAPI document, generated from the handlers' annotations, and an offline docs page.

use axum::response::{Html, IntoResponse};
use axum::Json;
use serde_json::{json, Map, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    account, admin, audit_logs, auth, backups, console_session, databases, day2, db_metrics,
    events, health, operations, providers, tenants, users, versions,
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
        console_session::login, console_session::refresh, console_session::logout,
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
    Json(DOCUMENT.clone())
}

static DOCUMENT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(document);

/// The served document: what the annotations generate ([`ApiDoc`]), completed by
/// [`make_faithful`] with what every route answers besides what its handler declares, the shared
/// error envelope, the credentials each protected route takes, the rules the validation code
/// enforces inside maps and lists, examples, and the links from each create to what it created.
/// (JSON Schema keywords utoipa's types do not model, such as `propertyNames`, are why this is
/// JSON rather than a `Modify`.) The route rules follow the middleware and extractors, so they
/// hold for any route added later:
/// - every protected route: 401 (no or a bad credential), 403 (role, suspension, key scope),
///   429 (the caller's rate limit); the open `/api/v1/auth/*` routes: 429 (per client IP);
/// - every `/api/v1` route: 503 (the store is unavailable);
/// - a path parameter: 404; a JSON body: 413, 415 and 422; a query parameter: 422;
/// - every error response carries the envelope `ErrorEnvelope`.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    make_faithful(&mut doc);
    doc
}

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

fn reason(status: &str) -> &'static str {
    match status {
        "400" => "A rule of the domain is broken (`bad_request`, `invalid_state`, `no_capacity`, `version_unavailable`)",
        "401" => "No credential, or an invalid or expired one (`unauthenticated`)",
        "403" => "The caller's roles, key scope or a suspension do not allow it (`forbidden`, `quota_exceeded`)",
        "404" => "Not found, or not visible to the caller (`not_found`)",
        "409" => "Conflicts with the current state (`conflict`)",
        "413" => "The body is over 1 MiB (`payload_too_large`)",
        "415" => "The body is not `application/json` (`unsupported_media_type`)",
        "422" => "Invalid input; `details` lists `{field, message}` (`validation_error`)",
        "429" => "Rate limited; retry after `Retry-After` seconds (`rate_limited`)",
        "502" => "The cluster answered with an error (`upstream`)",
        "503" => "A dependency (store, cluster) is unavailable; retry later (`unavailable`)",
        "504" => "The cluster did not answer in time (`timeout`)",
        _ => "Error",
    }
}

fn error_response(status: &str, description: Option<&str>) -> Value {
    let description = description
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| reason(status));
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    })
}

fn error_envelope_schema() -> Value {
    json!({
        "type": "object",
        "description": "The body of every 4xx and 5xx answer.",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message", "details", "status_code"],
            "properties": {
                "code": {"type": "string", "description": "Stable machine-readable code (`validation_error`, `not_found`, `conflict`, …)", "example": "validation_error"},
                "message": {"type": "string", "description": "Human-readable explanation"},
                "details": {"description": "For 422, a list of `{field, message}`; otherwise an object or null"},
                "status_code": {"type": "integer", "minimum": 400, "maximum": 599},
                "request_id": {"type": "string", "description": "On 5xx: the request's `X-Request-Id`"}
            }
        }}
    })
}

/// A link's parameters: (parameter, runtime expression).
type LinkParams = Vec<(&'static str, &'static str)>;

/// Links from a create to the routes that read, change or delete what it created:
/// (create operationId, [(target operationId, [(parameter, runtime expression)])]).
fn links() -> Vec<(&'static str, Vec<(&'static str, LinkParams)>)> {
    let tenant = vec![("domain", "$response.body#/name")];
    let project = vec![
        ("domain", "$request.path.domain"),
        ("project", "$response.body#/name"),
    ];
    let database = vec![
        ("domain", "$request.path.domain"),
        ("project", "$request.path.project"),
        ("id", "$response.body#/id"),
    ];
    let by_id = vec![("id", "$response.body#/id")];
    let db_targets = [
        "get_database",
        "update_database",
        "delete_database",
        "get_database_status",
        "get_database_credentials",
        "scale_database",
        "pause_database",
        "resume_database",
        "restart_database",
        "list_available_upgrades",
        "list_database_events",
        "trigger_backup",
        "list_backups",
    ];
    vec![
        (
            "create_tenant",
            [
                "get_tenant",
                "update_tenant",
                "delete_tenant",
                "get_tenant_quota",
                "list_projects",
                "list_domain_members",
            ]
            .iter()
            .map(|t| (*t, tenant.clone()))
            .collect(),
        ),
        (
            "create_project",
            [
                "get_project",
                "update_project",
                "delete_project",
                "get_project_quota",
                "list_project_members",
            ]
            .iter()
            .map(|t| (*t, project.clone()))
            .collect(),
        ),
        (
            "create_user",
            ["get_user", "update_user", "delete_user"]
                .iter()
                .map(|t| (*t, by_id.clone()))
                .collect(),
        ),
        (
            "create_provider",
            [
                "get_provider",
                "update_provider",
                "delete_provider",
                "get_provider_storage",
                "put_provider_storage",
            ]
            .iter()
            .map(|t| (*t, by_id.clone()))
            .collect(),
        ),
        ("create_api_key", vec![("revoke_api_key", by_id.clone())]),
        ("create_database", {
            let mut v: Vec<_> = db_targets.iter().map(|t| (*t, database.clone())).collect();
            v.push((
                "get_operation",
                vec![("id", "$response.body#/operation_id")],
            ));
            v
        }),
        (
            "trigger_backup",
            vec![(
                "get_operation",
                vec![("id", "$response.body#/operations/0/id")],
            )],
        ),
    ]
}

/// A Kubernetes label key (an optional DNS subdomain prefix and `/`, then a name), as
/// `domain::validate::label_key` checks it.
const LABEL_KEY: &str = r"^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$";
/// A Kubernetes label value (`domain::validate::label_value`).
const LABEL_VALUE: &str = r"^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$";

/// What the validation code enforces inside maps and lists, which field attributes cannot say:
/// (schema, property, keywords to merge into the property's schema).
fn refinements() -> Vec<(&'static str, &'static str, Value)> {
    let labels = json!({
        "maxProperties": 64,
        "propertyNames": {"pattern": LABEL_KEY},
        "additionalProperties": {"type": "string", "pattern": LABEL_VALUE}
    });
    let annotations = json!({"propertyNames": {"pattern": LABEL_KEY}});
    let tags = json!({"items": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$"}});
    vec![
        ("DatabaseCreate", "labels", labels.clone()),
        ("DatabaseUpdate", "labels", labels),
        ("DatabaseCreate", "annotations", annotations.clone()),
        ("DatabaseUpdate", "annotations", annotations),
        ("ProviderCreate", "tags", tags.clone()),
        ("ProviderUpdate", "tags", tags),
        (
            "ReconfigureRequest",
            "config",
            json!({
                "minProperties": 1,
                "maxProperties": 100,
                "propertyNames": {"pattern": r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$"},
                "additionalProperties": {"type": "string", "maxLength": 1024, "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f\"\\\\]*$"}
            }),
        ),
        (
            "MaintenanceWindow",
            "days",
            json!({"items": {"type": "string", "pattern": "^([Mm][Oo][Nn]|[Tt][Uu][Ee]|[Ww][Ee][Dd]|[Tt][Hh][Uu]|[Ff][Rr][Ii]|[Ss][Aa][Tt]|[Ss][Uu][Nn])$"}}),
        ),
    ]
}

fn merge_props(a: Value, b: Value) -> Value {
    let mut a = a;
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        a.extend(b.clone());
    }
    a
}

const TAGS: [(&str, &str); 12] = [
    ("health", "Liveness, readiness and startup probes"),
    (
        "auth",
        "Sign-up, sessions, API keys and the caller's account",
    ),
    (
        "tenants",
        "Tenants (domains): quotas, suspension, backup storage",
    ),
    ("projects", "Projects of a tenant"),
    (
        "members",
        "Roles in a tenant or project, granted by invitation",
    ),
    ("users", "User administration (platform admins)"),
    (
        "audit",
        "The audit log, scoped to what the caller administers",
    ),
    (
        "providers",
        "Kubernetes clusters that host databases, and placement",
    ),
    ("versions", "Engine versions offered"),
    (
        "databases",
        "Databases and their day-2 operations, backups, metrics and events",
    ),
    ("operations", "The durable queue of operations"),
    ("admin", "Platform maintenance"),
];

/// Request bodies a route also takes empty: the refresh token may come in `Authorization`, a
/// rotation without a password generates one.
const OPTIONAL_BODY: [&str; 3] = ["refresh_token", "logout", "rotate_database_credentials"];

fn summary(operation_id: &str) -> String {
    let text = operation_id.replace('_', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

fn merge(target: &mut Value, keywords: &Value) {
    // `Option<T>` is `oneOf: [null, T]` or `type: [T, "null"]`: refine the non-null branch.
    if let Some(branches) = target.get_mut("oneOf").and_then(Value::as_array_mut) {
        for b in branches {
            if b.get("type") != Some(&json!("null")) {
                merge(b, keywords);
            }
        }
        return;
    }
    if let (Some(t), Some(k)) = (target.as_object_mut(), keywords.as_object()) {
        for (key, v) in k {
            t.insert(key.clone(), v.clone());
        }
    }
}

/// An example request body per operation (each valid against its schema).
fn examples() -> Vec<(&'static str, Value)> {
    let storage = json!({
        "endpoint": "https://s3.example.com", "bucket": "dbaas-backups", "prefix": "prod",
        "region": "us-east-1", "access_key_id": "AKIAEXAMPLE", "secret_access_key": "example-secret-key"
    });
    vec![
        (
            "register",
            json!({"email": "jane@example.com", "password": "correct-horse-battery", "full_name": "Jane Doe", "organization": "Example Inc"}),
        ),
        (
            "login",
            json!({"email": "admin@dbaas.local", "password": "the-admin-password"}),
        ),
        (
            "console_login",
            json!({"email": "admin@dbaas.local", "password": "the-admin-password"}),
        ),
        (
            "refresh_token",
            json!({"refresh_token": "the-refresh-token"}),
        ),
        ("logout", json!({"refresh_token": "the-refresh-token"})),
        (
            "create_api_key",
            json!({"name": "ci deploys", "description": "used by the CI pipeline", "expires_in_days": 90, "scopes": ["read", "write"]}),
        ),
        ("accept_invitation", json!({"code": "inv_0123456789abcdef"})),
        (
            "change_password",
            json!({"current_password": "the-current-password", "new_password": "a-new-long-password"}),
        ),
        (
            "create_tenant",
            json!({"name": "acme", "display_name": "ACME Corp", "plan": "starter", "contact_email": "ops@acme.example"}),
        ),
        ("update_tenant", json!({"display_name": "ACME Corporation"})),
        (
            "create_project",
            json!({"name": "payments", "display_name": "Payments", "description": "Payment services"}),
        ),
        (
            "update_project",
            json!({"description": "Payment services and ledgers"}),
        ),
        (
            "add_domain_member",
            json!({"email": "ann@acme.example", "role": "domain_admin"}),
        ),
        (
            "add_project_member",
            json!({"email": "dev@acme.example", "role": "developer"}),
        ),
        (
            "create_user",
            json!({"email": "bob@example.com", "password": "a-long-password-1", "full_name": "Bob Smith", "platform_admin": false}),
        ),
        ("update_user", json!({"full_name": "Robert Smith"})),
        (
            "create_provider",
            json!({
                "name": "eu-cluster-1", "region": "eu-west-1", "availability_zone": "eu-west-1a",
                "cpu_total_cores": 64, "memory_total_gb": 256, "storage_total_gb": 2000,
                "kubeconfig_content": "apiVersion: v1\nkind: Config\nclusters: []\n"
            }),
        ),
        ("update_provider", json!({"priority": 200, "tags": ["ssd"]})),
        (
            "select_provider",
            json!({"cpu_cores": 1, "memory_gb": 2, "storage_gb": 20}),
        ),
        ("put_provider_storage", storage.clone()),
        ("put_tenant_storage", storage),
        (
            "create_database",
            json!({"name": "orders-db", "engine": "postgres", "version": "17.9", "size": "db.t3.small", "storage_gb": 20, "replicas": 1}),
        ),
        (
            "update_database",
            json!({"backup_retention_days": 14, "labels": {"team": "payments"}}),
        ),
        ("scale_database", json!({"size": "db.t3.medium"})),
        ("upgrade_database", json!({"target_version": "17.10"})),
        (
            "set_upgrade_policy",
            json!({"mode": "auto_patch", "maintenance_window": {"days": ["sat", "sun"], "start_utc": "02:00", "duration_minutes": 120}}),
        ),
        (
            "reconfigure_database",
            json!({"config": {"max_connections": "200"}}),
        ),
        (
            "rotate_database_credentials",
            json!({"password": "a-new-long-password"}),
        ),
        (
            "restore_database",
            json!({"backup_id": "latest", "target": "in_place"}),
        ),
    ]
}

fn make_faithful(doc: &mut Value) {
    doc["components"]["schemas"]["ErrorEnvelope"] = error_envelope_schema();
    for (schema, property, keywords) in refinements() {
        let target = &mut doc["components"]["schemas"][schema]["properties"][property];
        assert!(target.is_object(), "{schema}.{property} is documented");
        merge(target, &keywords);
    }
    // Automatic upgrades need a maintenance window (`UpgradePolicy::validate`).
    if let Some(policy) = doc["components"]["schemas"]
        .get_mut("UpgradePolicy")
        .and_then(Value::as_object_mut)
    {
        policy.insert(
            "if".into(),
            json!({"properties": {"mode": {"not": {"const": "manual"}}}}),
        );
        policy.insert(
            "then".into(),
            json!({"required": ["maintenance_window"], "properties": {"maintenance_window": {"type": "object"}}}),
        );
    }
    // `DatabaseCreate::validate`: a username needs a password.
    if let Some(create) = doc["components"]["schemas"]
        .get_mut("DatabaseCreate")
        .and_then(Value::as_object_mut)
    {
        create.insert(
            "if".into(),
            json!({"properties": {"username": {"type": "string"}}, "required": ["username"]}),
        );
        create.insert(
            "then".into(),
            json!({"required": ["password"], "properties": {"password": {"type": "string"}}}),
        );
    }
    // `RestoreTarget::NewDatabase` is an externally tagged variant: nothing beside its tag.
    if let Some(variants) = doc["components"]["schemas"]["RestoreTarget"]["oneOf"].as_array_mut() {
        for v in variants.iter_mut().filter(|v| v["type"] == "object") {
            v["additionalProperties"] = json!(false);
        }
    }
    // `Binding::check_shape`: which of domain and project each role takes.
    let role = |r: &[&str]| json!({"role": {"type": "string", "enum": r}});
    let absent = json!({"type": "null"});
    let given = json!({"type": "string"});
    let binding = &mut doc["components"]["schemas"]["Binding"];
    if binding.is_object() {
        binding["oneOf"] = json!([
            {"properties": merge_props(role(&["platform_admin"]), json!({"domain": absent, "project": absent}))},
            {"properties": merge_props(role(&["domain_admin"]), json!({"domain": given, "project": absent})), "required": ["domain"]},
            {"properties": merge_props(role(&["project_admin", "developer"]), json!({"domain": given, "project": given})), "required": ["domain", "project"]}
        ]);
    }
    doc["servers"] = json!([{"url": "/", "description": "this server"}]);
    for (name, description) in TAGS {
        if let Some(tags) = doc["tags"].as_array_mut() {
            for t in tags.iter_mut().filter(|t| t["name"] == *name) {
                t["description"] = json!(description);
            }
        }
    }
    let links = links();
    let examples = examples();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let api = path.starts_with("/api/v1/");
        for method in METHODS {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            let secured = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty());
            if secured {
                op.insert("security".into(), json!([{"bearer": []}, {"api_key": []}]));
            } else {
                // Answered without a credential.
                op.insert("security".into(), json!([]));
            }
            let params: Vec<String> = op
                .get("parameters")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .filter_map(|p| p.get("in").and_then(Value::as_str).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let body = op.contains_key("requestBody");
            let mut extra: Vec<&str> = Vec::new();
            if api {
                extra.extend(["429", "503"]);
                if secured {
                    extra.extend(["401", "403"]);
                }
            }
            if params.iter().any(|p| p == "path") {
                extra.push("404");
            }
            if params.iter().any(|p| p == "query") {
                extra.push("422");
            }
            if body {
                extra.extend(["413", "415", "422"]);
            }
            let id = op
                .get("operationId")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if !op.contains_key("summary") {
                op.insert("summary".into(), json!(summary(&id)));
            }
            if OPTIONAL_BODY.contains(&id.as_str()) {
                if let Some(body) = op.get_mut("requestBody").and_then(Value::as_object_mut) {
                    body.insert("required".into(), json!(false));
                }
            }
            if let Some((_, example)) = examples.iter().find(|(op_id, _)| *op_id == id) {
                if let Some(media) = op
                    .get_mut("requestBody")
                    .and_then(|b| b.get_mut("content"))
                    .and_then(|c| c.get_mut("application/json"))
                    .and_then(Value::as_object_mut)
                {
                    media.insert("example".into(), example.clone());
                }
            }
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("responses is an object");
            for status in extra {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| json!({}));
            }
            for (status, resp) in responses.iter_mut() {
                let is_error = status.parse::<u16>().is_ok_and(|s| s >= 400);
                if is_error && resp.get("content").is_none() && resp.get("$ref").is_none() {
                    let description = resp.get("description").and_then(Value::as_str);
                    *resp = error_response(status, description);
                }
            }
            if let Some((_, targets)) = links.iter().find(|(from, _)| *from == id) {
                let mut map = Map::new();
                for (target, parameters) in targets {
                    let parameters: Map<String, Value> = parameters
                        .iter()
                        .map(|(k, v)| (k.to_string(), json!(v)))
                        .collect();
                    map.insert(
                        target.to_string(),
                        json!({"operationId": target, "parameters": parameters}),
                    );
                }
                for (status, resp) in responses.iter_mut() {
                    if status.starts_with('2') && resp.get("content").is_some() {
                        resp["links"] = Value::Object(map.clone());
                    }
                }
            }
        }
    }
}

/// A self-contained page (no CDN) that renders `/openapi.json`.
pub async fn docs_page() -> Html<&'static str> {
    Html(include_str!("../../assets/docs.html"))
}
