//! Security regressions: the tenancy boundary in the cluster (finding 1). Two tenants must never
//! share a namespace, and the platform never reads, changes or deletes an object whose ownership
//! labels do not match its record.

use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::cluster::{dbs_path, newest_version, onboard, start_sim, wait_status};
use crate::common::*;

const READY_WITHIN: Duration = Duration::from_secs(120);

fn postgreses() -> ApiResource {
    ApiResource {
        group: "kubedb.com".into(),
        version: "v1".into(),
        api_version: "kubedb.com/v1".into(),
        kind: "Postgres".into(),
        plural: "postgreses".into(),
    }
}

fn namespaces() -> ApiResource {
    ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "Namespace".into(),
        plural: "namespaces".into(),
    }
}

/// Registers a user whose organisation becomes a tenant; returns (access token, tenant name).
async fn register(srv: &TestServer, email: &str, organization: &str) -> (String, String) {
    let (s, body) = srv
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": email, "password": "attacker-password-123",
                "full_name": "Someone", "organization": organization})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "register {email}: {body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    let (s, me) = srv.get("/api/v1/auth/me", &token).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    // The tenant is the one the new user administers.
    let tenant = me["bindings"]
        .as_array()
        .and_then(|roles| roles.iter().find_map(|r| r["domain"].as_str()))
        .unwrap_or_else(|| panic!("no tenant in {me}"))
        .to_string();
    (token, tenant)
}

async fn create_db(srv: &TestServer, token: &str, domain: &str, project: &str) -> (String, Value) {
    let version = newest_version(srv, token, "postgres").await;
    let path = dbs_path(domain, project);
    let (s, d) = srv
        .post(
            &path,
            token,
            json!({"name": "orders", "engine": "postgres", "version": version,
                "size": "db.t3.micro", "storage_gb": 10}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{d}");
    let db_path = format!("{path}/{}", d["id"].as_str().unwrap());
    let d = wait_status(srv, token, &db_path, "running", READY_WITHIN).await;
    (db_path, d)
}

/// The reviewed attack: tenant `acme` makes project `corp-default-7a75ea56`, whose namespace used to
/// be `acme-corp`/`default`'s. Now each gets its own namespace; the attacker's credentials are its
/// own, and its delete leaves the victim's database running.
async fn namespace_collision_attack(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let admin = srv.admin_token().await;
    let sim = start_sim(Duration::ZERO).await;
    onboard(&srv, &admin, &sim, "shared-cluster", json!({})).await;

    let (victim, victim_domain) = register(&srv, "ops@acme-corp.io", "Acme Corp").await;
    assert_eq!(victim_domain, "acme-corp");
    let (victim_path, victim_db) = create_db(&srv, &victim, "acme-corp", "default").await;

    let (attacker, attacker_domain) = register(&srv, "eve@acme.io", "Acme").await;
    assert_eq!(attacker_domain, "acme");
    let (s, b) = srv
        .post(
            "/api/v1/tenants/acme/projects",
            &attacker,
            json!({"name": "corp-default-7a75ea56"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (attacker_path, attacker_db) =
        create_db(&srv, &attacker, "acme", "corp-default-7a75ea56").await;

    assert_ne!(
        victim_db["namespace"], attacker_db["namespace"],
        "two tenants share a namespace"
    );
    let (s, theirs) = srv
        .get(&format!("{victim_path}/credentials"), &victim)
        .await;
    assert_eq!(s, StatusCode::OK, "{theirs}");
    let (s, mine) = srv
        .get(&format!("{attacker_path}/credentials"), &attacker)
        .await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    assert_ne!(mine["password"], theirs["password"]);
    assert_ne!(mine["host"], theirs["host"]);

    let (s, b) = srv.delete(&attacker_path, &attacker).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    wait_status(&srv, &attacker, &attacker_path, "deleted", READY_WITHIN).await;
    let (s, still) = srv.get(&victim_path, &victim).await;
    assert_eq!(
        (s, still["status"].as_str()),
        (StatusCode::OK, Some("running"))
    );
    let api: Api<DynamicObject> = Api::namespaced_with(
        sim.client(),
        victim_db["namespace"].as_str().unwrap(),
        &postgreses(),
    );
    let object = api
        .get("orders")
        .await
        .expect("the victim's object is there");
    assert_ne!(object.data["spec"]["deletionPolicy"], "WipeOut");
    sim.shutdown().await;
    srv.running.shutdown().await;
}
crate::both_stores!(
    two_tenants_never_share_a_namespace,
    namespace_collision_attack
);

async fn audited_conflicts(srv: &TestServer, admin: &str, db_id: &str) -> usize {
    let (s, page) = srv
        .get(
            &format!("/api/v1/audit-logs?action=database.ownership_conflict&resource_id={db_id}"),
            admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["total"].as_u64().unwrap_or_default() as usize
}

fn assert_conflict(s: StatusCode, body: &Value, what: &str) {
    assert_eq!(s, StatusCode::CONFLICT, "{what}: {body}");
    assert_eq!(body["error"]["code"], "conflict", "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("belongs to")),
        "{what} names the conflict: {body}"
    );
}

/// An object in the cluster with the platform's name but another owner: credentials, the endpoint
/// refresh and delete all refuse with 409, audit it, and leave the object as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_objects_are_refused_and_left_untouched() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let admin = srv.admin_token().await;
    let sim = start_sim(Duration::ZERO).await;
    onboard(&srv, &admin, &sim, "c1", json!({})).await;
    crate::common::cluster::tenant(&srv, &admin, "acme", "web", 10).await;
    let (path, db) = create_db(&srv, &admin, "acme", "web").await;
    let id = db["id"].as_str().unwrap().to_string();
    let ns = db["namespace"].as_str().unwrap().to_string();
    let objects: Api<DynamicObject> = Api::namespaced_with(sim.client(), &ns, &postgreses());

    // Someone relabels the object as another database's (or another record points here).
    let stranger = "0190a8e4-0000-7000-8000-00000000dead";
    objects
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"dbaas.io/database-id": stranger}}})),
        )
        .await
        .expect("relabel");
    let before = objects.get("orders").await.expect("object");

    let (s, b) = srv.get(&format!("{path}/credentials"), &admin).await;
    assert_conflict(s, &b, "credentials");
    assert!(b.get("password").is_none());
    let (s, b) = srv
        .post(&format!("{path}/refresh-endpoint"), &admin, json!({}))
        .await;
    assert_conflict(s, &b, "refresh-endpoint");
    let (s, b) = srv.delete(&path, &admin).await;
    assert_conflict(s, &b, "delete");
    assert_eq!(audited_conflicts(&srv, &admin, &id).await, 3);

    let after = objects.get("orders").await.expect("still there");
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    assert_eq!(
        after.data["spec"]["deletionPolicy"],
        before.data["spec"]["deletionPolicy"]
    );
    let (s, ops) = srv
        .get(
            &format!("/api/v1/operations?database_id={id}&type=delete"),
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{ops}");
    assert_eq!(
        ops["operations"].as_array().map(Vec::len),
        Some(0),
        "no delete queued: {ops}"
    );

    // The namespace relabelled to another project: reads refuse the same way.
    objects
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"dbaas.io/database-id": id}}})),
        )
        .await
        .expect("label back");
    let (s, b) = srv.get(&format!("{path}/credentials"), &admin).await;
    assert_eq!(s, StatusCode::OK, "its own object again: {b}");
    let nss: Api<DynamicObject> = Api::all_with(sim.client(), &namespaces());
    nss.patch(
        &ns,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"dbaas.io/project": "other"}}})),
    )
    .await
    .expect("relabel namespace");
    let (s, b) = srv.get(&format!("{path}/credentials"), &admin).await;
    assert_conflict(s, &b, "credentials in another project's namespace");
    assert_eq!(audited_conflicts(&srv, &admin, &id).await, 4);
    sim.shutdown().await;
    srv.running.shutdown().await;
}

/// A create whose namespace already exists with another owner fails for good with the reason, and
/// the namespace is not adopted (its labels stay as they were).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_namespace_is_never_adopted() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let admin = srv.admin_token().await;
    let sim = start_sim(Duration::ZERO).await;
    onboard(&srv, &admin, &sim, "c1", json!({})).await;
    crate::common::cluster::tenant(&srv, &admin, "acme", "web", 10).await;
    let ns = provider::translate::namespace_name("acme", "web");
    let nss: Api<DynamicObject> = Api::all_with(sim.client(), &namespaces());
    let squatted: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns, "labels": {"team": "someone-else"}},
    }))
    .unwrap();
    nss.create(&Default::default(), &squatted)
        .await
        .expect("made outside the platform");

    let version = newest_version(&srv, &admin, "postgres").await;
    let path = dbs_path("acme", "web");
    let (s, d) = srv
        .post(
            &path,
            &admin,
            json!({"name": "orders", "engine": "postgres", "version": version, "size": "db.t3.micro"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{d}");
    let db_path = format!("{path}/{}", d["id"].as_str().unwrap());
    let failed = wait_status(&srv, &admin, &db_path, "failed", READY_WITHIN).await;
    let (s, op) = srv
        .get(
            &format!("/api/v1/operations/{}", d["operation_id"].as_str().unwrap()),
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    assert_eq!(op["status"], "failed", "{op}");
    assert_eq!(op["retry_count"], 0, "refused at once, not retried: {op}");
    let reason = op["error_message"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&ns) && reason.contains("belongs to"),
        "{op}"
    );
    assert_eq!(failed["status"], "failed");
    let (s, status) = srv.get(&format!("{db_path}/status"), &admin).await;
    assert_eq!(s, StatusCode::OK, "{status}");
    assert!(
        status["conditions"].to_string().contains("belongs to"),
        "{status}"
    );
    let labels = nss
        .get(&ns)
        .await
        .expect("namespace")
        .metadata
        .labels
        .unwrap_or_default();
    assert!(
        !labels.contains_key("dbaas.io/domain"),
        "adopted: {labels:?}"
    );
    assert_eq!(
        audited_conflicts(&srv, &admin, d["id"].as_str().unwrap()).await,
        1
    );
    sim.shutdown().await;
    srv.running.shutdown().await;
}
