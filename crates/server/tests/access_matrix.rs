//! Every role × every scoped route × own/other scope answers exactly as the contract's
//! permission table says: 2xx when permitted, 403 when visible but not permitted, 404 when
//! the scope is invisible.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Need {
    /// any role bound in the scope may do it
    Read,
    /// domain admins (and platform admins) only
    Manage,
    /// platform admins only
    Platform,
    /// domain and project admins, not developers
    Audit,
}

struct Route {
    method: Method,
    /// `{d}` = domain, `{p}` = project, `{u}` = a member user id, `{n}` = a fresh name
    path: &'static str,
    body: Option<Value>,
    need: Need,
    /// Whether the route targets a project (so a project role of another project in the same
    /// domain cannot see it).
    project_scoped: bool,
}

fn routes() -> Vec<Route> {
    use Need::*;
    let r = |method: Method,
             path: &'static str,
             body: Option<Value>,
             need: Need,
             project_scoped: bool| Route {
        method,
        path,
        body,
        need,
        project_scoped,
    };
    vec![
        r(Method::GET, "/api/v1/tenants/{d}", None, Read, false),
        r(
            Method::PATCH,
            "/api/v1/tenants/{d}",
            Some(json!({"display_name": "Renamed"})),
            Manage,
            false,
        ),
        r(
            Method::PATCH,
            "/api/v1/tenants/{d}",
            Some(json!({"plan": "enterprise"})),
            Platform,
            false,
        ),
        r(Method::GET, "/api/v1/tenants/{d}/quota", None, Read, false),
        r(
            Method::GET,
            "/api/v1/tenants/{d}/projects",
            None,
            Read,
            false,
        ),
        r(
            Method::POST,
            "/api/v1/tenants/{d}/projects",
            Some(json!({"name": "{n}"})),
            Manage,
            false,
        ),
        r(
            Method::GET,
            "/api/v1/tenants/{d}/members",
            None,
            Read,
            false,
        ),
        r(
            Method::POST,
            "/api/v1/tenants/{d}/members",
            Some(json!({"email": "spare@{d}.io", "role": "domain_admin"})),
            Manage,
            false,
        ),
        r(
            Method::DELETE,
            "/api/v1/tenants/{d}/members/{u}",
            None,
            Manage,
            false,
        ),
        r(
            Method::GET,
            "/api/v1/tenants/{d}/projects/{p}",
            None,
            Read,
            true,
        ),
        r(
            Method::PATCH,
            "/api/v1/tenants/{d}/projects/{p}",
            Some(json!({"description": "x"})),
            Manage,
            true,
        ),
        r(
            Method::GET,
            "/api/v1/tenants/{d}/projects/{p}/quota",
            None,
            Read,
            true,
        ),
        r(
            Method::GET,
            "/api/v1/tenants/{d}/projects/{p}/members",
            None,
            Read,
            true,
        ),
        r(
            Method::POST,
            "/api/v1/tenants/{d}/projects/{p}/members",
            Some(json!({"email": "spare@{d}.io", "role": "developer"})),
            Manage,
            true,
        ),
        r(
            Method::DELETE,
            "/api/v1/tenants/{d}/projects/{p}/members/{u}",
            None,
            Manage,
            true,
        ),
        r(
            Method::DELETE,
            "/api/v1/tenants/{d}/projects/{n}",
            None,
            Manage,
            true,
        ),
        r(
            Method::GET,
            "/api/v1/audit-logs?domain={d}",
            None,
            Audit,
            false,
        ),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    PlatformAdmin,
    DomainAdmin,
    ProjectAdmin,
    Developer,
    /// a project admin of another project in the same domain
    NeighbourProjectAdmin,
}

/// What the contract's table says for `who` on a route of `need`, in own (`own`) or another domain.
fn expected(who: Who, route: &Route, own: bool) -> u16 {
    use Need::*;
    use Who::*;
    let ok = match route.method {
        Method::POST => 201,
        Method::DELETE => 204,
        _ => 200,
    };
    if who == PlatformAdmin {
        return ok;
    }
    if route.need == Audit {
        // audit is filtered rather than scoped by path: a developer holds no audit right at all
        return if matches!(who, Developer) { 403 } else { 200 };
    }
    if !own {
        return 404;
    }
    if who == NeighbourProjectAdmin && route.project_scoped {
        return 404;
    }
    // A project created for the case is visible to domain admins only.
    if route.path.contains("/projects/{n}") && who != DomainAdmin {
        return 404;
    }
    match (route.need, who) {
        (Platform, _) => 403,
        (Read, _) => ok,
        (Manage, DomainAdmin) => ok,
        (Manage, _) => 403,
        (Audit, _) => unreachable!(),
    }
}

both_stores!(role_by_route_by_scope, |backend| async move {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let mut tokens = vec![(Who::PlatformAdmin, admin.clone())];
    for d in ["acme", "globex"] {
        let (st, _) = s.post("/api/v1/tenants", &admin, json!({"name": d})).await;
        assert_eq!(st, StatusCode::CREATED);
        for p in ["web", "api"] {
            let (st, _) = s
                .post(
                    &format!("/api/v1/tenants/{d}/projects"),
                    &admin,
                    json!({"name": p}),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED);
        }
    }
    // Roles are granted directly by creating the users with them (adding a member only invites).
    for (who, email, binding) in [
        (
            Who::DomainAdmin,
            "da@acme.io",
            json!({"role": "domain_admin", "domain": "acme"}),
        ),
        (
            Who::ProjectAdmin,
            "pa@acme.io",
            json!({"role": "project_admin", "domain": "acme", "project": "web"}),
        ),
        (
            Who::Developer,
            "dev@acme.io",
            json!({"role": "developer", "domain": "acme", "project": "web"}),
        ),
        (
            Who::NeighbourProjectAdmin,
            "npa@acme.io",
            json!({"role": "project_admin", "domain": "acme", "project": "api"}),
        ),
    ] {
        let t = user_with(&s, &admin, email, vec![binding]).await;
        tokens.push((who, t));
    }
    let mut failures = vec![];
    let mut n = 0;
    for route in routes() {
        for (who, token) in &tokens {
            for (domain, own) in [("acme", true), ("globex", false)] {
                n += 1;
                // Fresh objects for the routes that consume them.
                let fresh = format!("p{n}");
                let spare_email = format!("spare{n}@{domain}.io");
                let needs_spare = route.path.contains("{u}")
                    || route
                        .body
                        .as_ref()
                        .is_some_and(|b| b.to_string().contains("spare@"));
                let mut spare = String::new();
                if needs_spare {
                    // A member of the domain and of its project `web`, for the removal routes.
                    let bindings = if route.path.contains("{u}") {
                        json!([
                            {"role": "domain_admin", "domain": domain},
                            {"role": "developer", "domain": domain, "project": "web"},
                        ])
                    } else {
                        json!([])
                    };
                    let (st, u) = s
                        .post("/api/v1/users", &admin, json!({"email": spare_email, "password": "user-password-123", "full_name": "Spare User", "bindings": bindings}))
                        .await;
                    assert_eq!(st, StatusCode::CREATED, "{u}");
                    spare = u["id"].as_str().unwrap().to_string();
                }
                if route.path.contains("{n}") {
                    let (st, _) = s
                        .post(
                            &format!("/api/v1/tenants/{domain}/projects"),
                            &admin,
                            json!({"name": fresh}),
                        )
                        .await;
                    assert_eq!(st, StatusCode::CREATED);
                }
                let path = route
                    .path
                    .replace("{d}", domain)
                    .replace("{p}", "web")
                    .replace("{u}", &spare)
                    .replace("{n}", &fresh);
                let body = route.body.as_ref().map(|b| {
                    serde_json::from_str::<Value>(
                        &b.to_string()
                            .replace("{d}", domain)
                            .replace("{n}", &format!("q{n}"))
                            .replace("spare@", &format!("spare{n}@")),
                    )
                    .unwrap()
                });
                let (st, resp) = s.call(route.method.clone(), &path, Some(token), body).await;
                let want = expected(*who, &route, own);
                if st.as_u16() != want {
                    failures.push(format!(
                        "{who:?} {} {path}: got {st}, want {want}: {resp}",
                        route.method
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    s.running.shutdown().await;
});

both_stores!(audit_is_scoped_and_filtered, |backend| async move {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    for d in ["acme", "globex"] {
        s.post("/api/v1/tenants", &admin, json!({"name": d})).await;
        s.post(
            &format!("/api/v1/tenants/{d}/projects"),
            &admin,
            json!({"name": "web"}),
        )
        .await;
    }
    let da = user_with(
        &s,
        &admin,
        "da@acme.io",
        vec![json!({"role": "domain_admin", "domain": "acme"})],
    )
    .await;
    // Adding a member (an invitation) is audited too.
    let (st, _) = s
        .post(
            "/api/v1/tenants/acme/members",
            &da,
            json!({"email": "helper@acme.io", "role": "domain_admin"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _) = s
        .patch("/api/v1/tenants/acme", &da, json!({"display_name": "ACME"}))
        .await;
    assert_eq!(st, StatusCode::OK);

    let (_, all) = s.get("/api/v1/audit-logs?page_size=100", &admin).await;
    let actions: Vec<&str> = all["audit_logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "tenant.create",
        "project.create",
        "member.add",
        "user.create",
        "auth.login",
        "tenant.update",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    let (_, mine) = s.get("/api/v1/audit-logs?page_size=100", &da).await;
    let entries = mine["audit_logs"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| e["domain"] == "acme"), "{mine}");
    let (_, other) = s.get("/api/v1/audit-logs?domain=globex", &da).await;
    assert_eq!(other["total"], 0);
    let (_, upd) = s
        .get(
            "/api/v1/audit-logs?action=tenant.update&resource_type=tenant",
            &admin,
        )
        .await;
    assert_eq!(upd["total"], 1);
    let e = &upd["audit_logs"][0];
    assert_eq!(e["user_email"], "da@acme.io");
    assert_eq!(e["status"], "success");
    assert_eq!(e["request_method"], "PATCH");
    assert!(e["ip_address"].as_str().unwrap().starts_with("127."));
    let (_, page) = s.get("/api/v1/audit-logs?page=1&page_size=2", &admin).await;
    assert_eq!(page["audit_logs"].as_array().unwrap().len(), 2);
    assert!(page["total"].as_i64().unwrap() > 2);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (_, none) = s
        .get(
            &format!("/api/v1/audit-logs?since={}", urlencode(&future)),
            &admin,
        )
        .await;
    assert_eq!(none["total"], 0);
    s.running.shutdown().await;
});

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

both_stores!(quota_routes_count_all_replicas, |backend| async move {
    use domain::engine::{Engine, Size};
    use domain::quota::Usage;
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    s.post("/api/v1/tenants", &admin, json!({"name": "acme"}))
        .await;
    s.post(
        "/api/v1/tenants/acme/projects",
        &admin,
        json!({"name": "web", "quota": {"max_databases": 3}}),
    )
    .await;
    let store = s.running.state.store.clone();
    let db = test_database(
        "acme",
        "web",
        "orders",
        Engine::Postgres,
        Size::Medium,
        20,
        3,
    );
    let op = test_operation(&db);
    store.create_database(&db, &op, None, &[]).await.unwrap();
    let (st, q) = s
        .get("/api/v1/tenants/acme/projects/web/quota", &admin)
        .await;
    assert_eq!(st, StatusCode::OK);
    let want = Usage::of_database(Size::Medium, 20, 3);
    assert_eq!(q["used_cpu_cores"], json!(want.cpu_cores));
    assert_eq!(q["used_memory_gb"], json!(want.memory_gb));
    assert_eq!(q["used_storage_gb"], json!(want.storage_gb));
    assert_eq!(q["used_databases"], 1);
    assert_eq!(q["databases_available"], 2);
    assert_eq!(q["max_databases"], 3);
    let (_, dq) = s.get("/api/v1/tenants/acme/quota", &admin).await;
    assert_eq!(dq["used_databases"], 1);
    // A project holding a database cannot be deleted.
    let (st, _) = s.delete("/api/v1/tenants/acme/projects/web", &admin).await;
    assert_eq!(st, StatusCode::CONFLICT);
    s.running.shutdown().await;
});

pub fn test_database(
    domain: &str,
    project: &str,
    name: &str,
    engine: domain::engine::Engine,
    size: domain::engine::Size,
    storage_gb: i64,
    replicas: i64,
) -> domain::model::Database {
    let now = chrono::Utc::now();
    domain::model::Database {
        id: domain::ids::new_id(domain::ids::IdKind::Database),
        name: name.into(),
        domain: domain.into(),
        project: project.into(),
        engine,
        version: "16.4".into(),
        size,
        storage_gb,
        replicas,
        ready_replicas: 0,
        status: domain::status::DatabaseStatus::Pending,
        health_status: None,
        kubedb_phase: None,
        backup_enabled: true,
        backup_schedule: "daily".into(),
        backup_retention_days: 7,
        high_availability: replicas > 1,
        monitoring_enabled: true,
        deletion_protection: false,
        endpoint: None,
        port: None,
        service_type: None,
        loadbalancer_ip: None,
        labels: Default::default(),
        annotations: Default::default(),
        provider_id: None,
        namespace: None,
        kubedb_resource_name: None,
        current: Default::default(),
        upgrade_policy: None,
        conditions: json!([]),
        reserved: domain::quota::Usage::of_database(size, storage_gb, replicas),
        created_at: now,
        updated_at: now,
    }
}

pub fn test_operation(db: &domain::model::Database) -> domain::model::Operation {
    let now = chrono::Utc::now();
    domain::model::Operation {
        id: domain::ids::new_id(domain::ids::IdKind::Operation),
        database_id: db.id.clone(),
        op_type: domain::status::OperationType::Create,
        status: domain::status::OperationStatus::Queued,
        progress: 0,
        message: None,
        desired_state: json!({}),
        ops_request_name: None,
        ops_request_phase: None,
        error_message: None,
        retry_count: 0,
        max_retries: 3,
        created_by: None,
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

// The database and operation routes by role and scope. No workers run, so every record stays as
// seeded; a permitted call that needs a cluster answers 400 (`no_capacity` / `invalid_state`),
// which proves it got past authorization.
both_stores!(database_routes_by_role, |backend| async move {
    use domain::engine::{Engine, Size};
    let s = TestServer::start_with(backend, |c| c.workers = 0).await;
    let admin = s.admin_token().await;
    let store = s.running.state.store.clone();
    let mut seeded = std::collections::HashMap::new();
    for d in ["acme", "globex"] {
        let (st, t) = s
            .post(
                "/api/v1/tenants",
                &admin,
                json!({"name": d, "quota": {"max_databases": 1000, "max_storage_gb": 100000, "max_cpu_cores": 1000, "max_memory_gb": 1000}}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{t}");
        for p in ["web", "api"] {
            s.post(
                &format!("/api/v1/tenants/{d}/projects"),
                &admin,
                json!({"name": p, "quota": {"max_databases": 500, "max_storage_gb": 10000, "max_cpu_cores": 500, "max_memory_gb": 500}}),
            )
            .await;
        }
        let db = test_database(d, "web", "shared", Engine::Postgres, Size::Micro, 10, 1);
        let op = test_operation(&db);
        store.create_database(&db, &op, None, &[]).await.unwrap();
        seeded.insert(d, (db.id.clone(), op.id.clone()));
    }
    let mut tokens = vec![(Who::PlatformAdmin, admin.clone())];
    for (who, email, binding) in [
        (
            Who::DomainAdmin,
            "da@acme.io",
            json!({"role": "domain_admin", "domain": "acme"}),
        ),
        (
            Who::ProjectAdmin,
            "pa@acme.io",
            json!({"role": "project_admin", "domain": "acme", "project": "web"}),
        ),
        (
            Who::Developer,
            "dev@acme.io",
            json!({"role": "developer", "domain": "acme", "project": "web"}),
        ),
        (
            Who::NeighbourProjectAdmin,
            "npa@acme.io",
            json!({"role": "project_admin", "domain": "acme", "project": "api"}),
        ),
    ] {
        let t = user_with(&s, &admin, email, vec![binding]).await;
        tokens.push((who, t));
    }
    // (method, path, body, write?, permitted answer)
    let cases: Vec<(Method, &str, Option<Value>, bool, u16)> = vec![
        (
            Method::GET,
            "/api/v1/domain/{d}/project/web/databases",
            None,
            false,
            200,
        ),
        (
            Method::GET,
            "/api/v1/domain/{d}/project/web/databases/{db}",
            None,
            false,
            200,
        ),
        (
            Method::GET,
            "/api/v1/domain/{d}/project/web/databases/{db}/status",
            None,
            false,
            200,
        ),
        (Method::GET, "/api/v1/operations/{op}", None, false, 200),
        (
            Method::POST,
            "/api/v1/domain/{d}/project/web/databases",
            Some(json!({"name": "fresh", "engine": "postgres", "version": "16.10"})),
            true,
            400,
        ),
        (
            Method::GET,
            "/api/v1/domain/{d}/project/web/databases/{db}/credentials",
            None,
            true,
            400,
        ),
        (
            Method::POST,
            "/api/v1/domain/{d}/project/web/databases/{db}/refresh-endpoint",
            Some(json!({})),
            true,
            400,
        ),
        (
            Method::DELETE,
            "/api/v1/domain/{d}/project/web/databases/{fresh}",
            None,
            true,
            202,
        ),
        (
            Method::POST,
            "/api/v1/operations/{op}/cancel",
            Some(json!({})),
            true,
            200,
        ),
        // Day-2 routes: answers that do not depend on what ran before.
        (
            Method::GET,
            "/api/v1/domain/{d}/project/web/databases/{db}/available-upgrades",
            None,
            false,
            200,
        ),
        (
            Method::GET,
            "/api/v1/domain/{d}/project/web/databases/{db}/events",
            None,
            false,
            200,
        ),
        (
            Method::POST,
            "/api/v1/domain/{d}/project/web/databases/{db}/scale",
            Some(json!({"storage_gb": 5})),
            true,
            400,
        ),
        (
            Method::PATCH,
            "/api/v1/domain/{d}/project/web/databases/{db}",
            Some(json!({"backup_schedule": "never"})),
            true,
            422,
        ),
        (
            Method::POST,
            "/api/v1/domain/{d}/project/web/databases/{db}/resume",
            Some(json!({})),
            true,
            400,
        ),
        (
            Method::POST,
            "/api/v1/domain/{d}/project/web/databases/{db}/restart?dry_run=true",
            Some(json!({})),
            true,
            200,
        ),
        (
            Method::POST,
            "/api/v1/domain/{d}/project/web/databases/{db}/upgrade",
            Some(json!({"target_version": "0.0.1"})),
            true,
            400,
        ),
        (
            Method::PUT,
            "/api/v1/domain/{d}/project/web/databases/{db}/upgrade-policy",
            Some(json!({"mode": "auto_minor"})),
            true,
            422,
        ),
        (
            Method::POST,
            "/api/v1/domain/{d}/project/web/databases/{db}/reconfigure",
            Some(json!({"config": {}})),
            true,
            422,
        ),
        (
            Method::POST,
            "/api/v1/domain/{d}/project/web/databases/{db}/rotate-credentials?dry_run=true",
            Some(json!({})),
            true,
            // The cancel above left the seeded database failed: only a restart starts from there.
            400,
        ),
    ];
    let mut failures = vec![];
    let mut n = 0;
    for (method, template, body, write, permitted) in &cases {
        for (who, token) in &tokens {
            for (domain, own) in [("acme", true), ("globex", false)] {
                n += 1;
                let (db_id, op_id) = &seeded[domain];
                let fresh = test_database(
                    domain,
                    "web",
                    &format!("f{n}"),
                    Engine::Postgres,
                    Size::Micro,
                    10,
                    1,
                );
                store
                    .create_database(&fresh, &test_operation(&fresh), None, &[])
                    .await
                    .unwrap();
                let path = template
                    .replace("{d}", domain)
                    .replace("{db}", db_id)
                    .replace("{op}", op_id)
                    .replace("{fresh}", &fresh.id);
                let (st, resp) = s
                    .call(method.clone(), &path, Some(token), body.clone())
                    .await;
                let want = match who {
                    Who::PlatformAdmin => *permitted,
                    _ if !own => 404,
                    Who::NeighbourProjectAdmin => 404,
                    Who::Developer if *write => 403,
                    _ => *permitted,
                };
                if st.as_u16() != want {
                    failures.push(format!(
                        "{who:?} {method} {path}: got {st}, want {want}: {resp}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Listing operations only shows what the caller can see.
    let dev = &tokens.iter().find(|(w, _)| *w == Who::Developer).unwrap().1;
    let (_, ops) = s.get("/api/v1/operations?page_size=100", dev).await;
    assert!(
        ops["operations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["domain"] == "acme" && o["project"] == "web"),
        "{ops}"
    );
    let (st, _) = s.get("/api/v1/operations/queue/stats", dev).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, stats) = s.get("/api/v1/operations/queue/stats", &admin).await;
    assert_eq!(st, StatusCode::OK);
    assert!(stats["queued"].as_i64().unwrap() > 0, "{stats}");
    s.running.shutdown().await;
});

/// Creates a user holding `bindings` (as the platform admin) and returns their access token.
async fn user_with(s: &TestServer, admin: &str, email: &str, bindings: Vec<Value>) -> String {
    s.user_bound(admin, email, Value::Array(bindings)).await.0
}
