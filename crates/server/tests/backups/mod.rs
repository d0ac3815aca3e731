//! Backups end to end, on both stores, against the simulated cluster (upstream CRDs) with its
//! simulated KubeStash writing to a real S3 endpoint (the embedded one): storage checked on save,
//! a BackupConfiguration with the database, on-demand and scheduled backups whose objects are in
//! the bucket, the listing, restore in place and into a new database (verified through the
//! restored content marker), a failing backup with its reason, `max_backups`, tenant isolation.

use std::time::{Duration, Instant};

use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::common::cluster::*;
use super::common::{Backend, TestServer};

const WITHIN: Duration = Duration::from_secs(90);
const MARKER: &str = sim::kubestash::CONTENT_ANNOTATION;

fn ar(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap();
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn postgres() -> ApiResource {
    ar("kubedb.com/v1", "Postgres", "postgreses")
}

async fn get_obj(sim: &sim::SimHandle, r: &ApiResource, ns: &str, name: &str) -> Option<Value> {
    let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(sim.client(), ns, r);
    api.get_opt(name)
        .await
        .unwrap()
        .map(|o| serde_json::to_value(o).unwrap())
}

/// "Writes data" into the simulated database: its content marker.
async fn write_marker(sim: &sim::SimHandle, ns: &str, name: &str, content: &str) {
    let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(sim.client(), ns, &postgres());
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {MARKER: content}}})),
    )
    .await
    .unwrap();
}

async fn marker(sim: &sim::SimHandle, ns: &str, name: &str) -> Option<String> {
    get_obj(sim, &postgres(), ns, name).await.and_then(|o| {
        o["metadata"]["annotations"][MARKER]
            .as_str()
            .map(str::to_string)
    })
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < WITHIN, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn storage_body(s3: &sim::S3Server, bucket: &str, secret: &str) -> Value {
    json!({"endpoint": s3.url, "bucket": bucket, "prefix": "platform", "region": s3.region,
           "access_key_id": s3.access_key, "secret_access_key": secret})
}

async fn backups(srv: &TestServer, token: &str, path: &str) -> Vec<Value> {
    let (s, v) = srv
        .get(&format!("{path}/backups?page_size=100"), token)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["backups"].as_array().unwrap().clone()
}

/// Creates a PostgreSQL database (`fields` added to the request) and waits until it runs: its
/// path and record.
async fn running_postgres(
    srv: &TestServer,
    token: &str,
    (domain, project): (&str, &str),
    name: &str,
    fields: Value,
) -> (String, Value) {
    let version = newest_version(srv, token, "postgres").await;
    let mut body = json!({"name": name, "engine": "postgres", "version": version});
    body.as_object_mut()
        .unwrap()
        .extend(fields.as_object().cloned().unwrap_or_default());
    let (st, d) = srv.post(&dbs_path(domain, project), token, body).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{d}");
    let path = format!(
        "{}/{}",
        dbs_path(domain, project),
        d["id"].as_str().unwrap()
    );
    let d = wait_status(srv, token, &path, "running", WITHIN).await;
    (path, d)
}

async fn operation_of(srv: &TestServer, token: &str, answer: &Value) -> Value {
    let id = answer["operations"][0]["id"]
        .as_str()
        .or(answer["operation_id"].as_str())
        .unwrap_or_else(|| panic!("no operation in {answer}"));
    wait_operation(srv, token, id, WITHIN).await
}

async fn backup_lifecycle(backend: Backend) {
    let s3_dir = tempfile::tempdir().unwrap();
    let sim = start_sim_with(|c| {
        let mut s3 = sim::S3ServerConfig::new(s3_dir.path());
        s3.buckets.push("other-backups".into());
        c.s3 = Some(s3);
    })
    .await;
    let s3 = sim.s3.as_ref().expect("embedded S3");
    let srv = TestServer::start(backend).await;
    let admin = srv.admin_token().await;
    let pid = onboard(&srv, &admin, &sim, "sim-1", json!({})).await;
    tenant(&srv, &admin, "acme", "web", 10).await;
    tenant(&srv, &admin, "other", "app", 10).await;
    let storage_path = format!("/api/v1/providers/{pid}/backup-storage");

    // storage: checked for real on save, the secret never shown
    let (st, e) = srv
        .call(
            reqwest::Method::PUT,
            &storage_path,
            Some(&admin),
            Some(storage_body(s3, "dbaas-backups", "wrong-secret")),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bucket check failed"),
        "{e}"
    );
    let (st, e) = srv
        .call(
            reqwest::Method::PUT,
            &storage_path,
            Some(&admin),
            Some(storage_body(s3, "no-such-bucket", &s3.secret_key)),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-bucket"),
        "{e}"
    );
    let (st, saved) = srv
        .call(
            reqwest::Method::PUT,
            &storage_path,
            Some(&admin),
            Some(storage_body(s3, "dbaas-backups", &s3.secret_key)),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{saved}");
    let (st, shown) = srv.get(&storage_path, &admin).await;
    assert_eq!(st, StatusCode::OK);
    assert!(!shown.to_string().contains(&s3.secret_key), "{shown}");
    assert_eq!(shown["bucket"], "dbaas-backups");

    // a database with backups gets its BackupConfiguration (validated by the upstream schema)
    let (path, d) = running_postgres(
        &srv,
        &admin,
        ("acme", "web"),
        "orders",
        json!({"backup_schedule": "daily", "backup_retention_days": 7}),
    )
    .await;
    let ns = d["namespace"].as_str().unwrap().to_string();
    let bc_ar = ar(
        "core.kubestash.com/v1alpha1",
        "BackupConfiguration",
        "backupconfigurations",
    );
    let bc = get_obj(&sim, &bc_ar, &ns, "orders-backup")
        .await
        .expect("BackupConfiguration");
    let session = &bc["spec"]["sessions"][0];
    assert!(
        session["scheduler"]["schedule"]
            .as_str()
            .unwrap()
            .ends_with("* * *"),
        "{bc}"
    );
    assert_eq!(session["addon"]["name"], "postgres-addon");
    assert_eq!(session["addon"]["tasks"][0]["name"], "logical-backup");
    assert_eq!(
        bc["spec"]["backends"][0]["retentionPolicy"]["name"],
        "dbaas-keep-7d"
    );
    assert_eq!(bc["spec"]["paused"], false);

    // an on-demand backup captures the data, and its object is in the bucket
    write_marker(&sim, &ns, "orders", "v1").await;
    let (st, answer) = srv.post(&format!("{path}/backup"), &admin, json!({})).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{answer}");
    let op = operation_of(&srv, &admin, &answer).await;
    assert_eq!(op["status"], "completed", "{op}");
    assert_eq!(op["type"], "backup");
    let listed = backups(&srv, &admin, &path).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let manual = listed[0].clone();
    assert_eq!(manual["kind"], "manual", "{manual}");
    assert_eq!(manual["status"], "succeeded", "{manual}");
    assert!(manual["size_bytes"].as_i64().unwrap() > 0, "{manual}");
    assert_eq!(manual["integrity"], true);
    assert!(manual["expires_at"].is_string(), "{manual}");
    let objects = s3
        .location("dbaas-backups", "")
        .list("platform/")
        .await
        .unwrap();
    assert!(!objects.is_empty(), "nothing in the bucket");
    let (st, one) = srv
        .get(
            &format!("{path}/backups/{}", manual["id"].as_str().unwrap()),
            &admin,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{one}");
    assert_eq!(one["id"], manual["id"]);

    // a scheduled run, by the simulated clock
    sim.clock.advance(Duration::from_secs(26 * 3600));
    wait_until("a scheduled backup", || async {
        backups(&srv, &admin, &path)
            .await
            .iter()
            .any(|b| b["kind"] == "scheduled" && b["status"] == "succeeded")
    })
    .await;

    // restore in place: the data is back as it was at the manual backup
    write_marker(&sim, &ns, "orders", "v2-overwritten").await;
    let (st, answer) = srv
        .post(
            &format!("{path}/restore"),
            &admin,
            json!({"backup_id": manual["id"], "target": "in_place"}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{answer}");
    let op = operation_of(&srv, &admin, &answer).await;
    assert_eq!(op["status"], "completed", "{op}");
    assert_eq!(marker(&sim, &ns, "orders").await.as_deref(), Some("v1"));
    wait_status(&srv, &admin, &path, "running", WITHIN).await;

    // restore into a new database: a clone with the data
    let (st, answer) = srv
        .post(
            &format!("{path}/restore"),
            &admin,
            json!({"backup_id": manual["id"], "target": {"new_database": {"name": "orders-copy"}}}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{answer}");
    let copy_id = answer["database_id"]
        .as_str()
        .expect("a new database")
        .to_string();
    let copy_path = format!("{}/{copy_id}", dbs_path("acme", "web"));
    wait_status(&srv, &admin, &copy_path, "running", WITHIN).await;
    assert_eq!(
        marker(&sim, &ns, "orders-copy").await.as_deref(),
        Some("v1")
    );
    let op = wait_operation(
        &srv,
        &admin,
        answer["operation_id"].as_str().unwrap(),
        WITHIN,
    )
    .await;
    assert_eq!(op["status"], "completed", "{op}");

    // another tenant sees none of it
    let (other, _) = srv
        .user_bound(
            &admin,
            "owner@other.io",
            json!([{"role": "domain_admin", "domain": "other"}]),
        )
        .await;
    for p in [
        format!("{path}/backups"),
        format!("{path}/backups/{}", manual["id"].as_str().unwrap()),
    ] {
        let (st, _) = srv.get(&p, &other).await;
        assert!(
            st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND,
            "{p}: {st}"
        );
    }
    let (st, _) = srv
        .post(
            &format!("{path}/restore"),
            &other,
            json!({"backup_id": "latest", "target": "in_place"}),
        )
        .await;
    assert!(
        st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND,
        "{st}"
    );
    let (st, _) = srv.post(&format!("{path}/backup"), &other, json!({})).await;
    assert!(
        st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND,
        "{st}"
    );

    // nor can a restore reach into another tenant: the new database's project is the source's tenant's
    let (st, e) = srv
        .post(
            &format!("{path}/restore"),
            &admin,
            json!({"backup_id": "latest", "target": {"new_database": {"name": "stolen", "project": "app"}}}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{e}");
    let (_, listed) = srv.get(&dbs_path("other", "app"), &admin).await;
    assert!(!listed.to_string().contains("stolen"), "{listed}");

    // a failing backup says why
    let mut f = sim.faults.get();
    f.fail_backups
        .insert("*".into(), "disk full on the backup pod".into());
    sim.faults.set(f);
    let (st, answer) = srv.post(&format!("{path}/backup"), &admin, json!({})).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{answer}");
    let op = operation_of(&srv, &admin, &answer).await;
    assert_eq!(op["status"], "failed", "{op}");
    assert!(
        op["error_message"].as_str().unwrap().contains("disk full"),
        "{op}"
    );
    let mut f = sim.faults.get();
    f.fail_backups.clear();
    sim.faults.set(f);
    wait_status(&srv, &admin, &path, "running", WITHIN).await;

    // a tenant with storage of its own backs up there, not in the provider's bucket
    let mut own = storage_body(s3, "other-backups", &s3.secret_key);
    own["prefix"] = json!("other");
    let (st, b) = srv
        .call(
            reqwest::Method::PUT,
            "/api/v1/tenants/other/backup-storage",
            Some(&admin),
            Some(own),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (ledger, d) = running_postgres(&srv, &admin, ("other", "app"), "ledger", json!({})).await;
    let ledger_id = d["id"].as_str().unwrap().to_string();
    let bc = get_obj(
        &sim,
        &bc_ar,
        d["namespace"].as_str().unwrap(),
        "ledger-backup",
    )
    .await
    .expect("BackupConfiguration");
    assert!(
        bc["spec"]["backends"][0]["storageRef"]["name"]
            .as_str()
            .unwrap()
            .starts_with("dbaas-tenant-"),
        "{bc}"
    );
    let (st, answer) = srv
        .post(&format!("{ledger}/backup"), &other, json!({}))
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        operation_of(&srv, &other, &answer).await["status"],
        "completed"
    );
    let in_bucket = |bucket: &'static str, prefix: &'static str| {
        let loc = s3.location(bucket, "");
        let id = ledger_id.clone();
        async move {
            loc.list(prefix)
                .await
                .unwrap()
                .iter()
                .filter(|(key, _)| key.contains(&id))
                .count()
        }
    };
    assert!(in_bucket("other-backups", "other/").await > 0);
    assert_eq!(in_bucket("dbaas-backups", "").await, 0);

    // retention: a week on, the scheduled run drops every snapshot older than the 7 days kept,
    // and its object in the bucket with it
    let db_id = path.rsplit('/').next().unwrap().to_string();
    let bucket = s3.location("dbaas-backups", "");
    let objects_of_db = || async {
        bucket
            .list("platform/")
            .await
            .unwrap()
            .into_iter()
            .filter(|(key, _)| key.contains(&db_id))
            .count()
    };
    assert!(objects_of_db().await >= 2, "the manual and scheduled dumps");
    sim.clock.advance(Duration::from_secs(8 * 24 * 3600));
    let manual_id = manual["id"].as_str().unwrap().to_string();
    wait_until("retention to drop the week-old snapshots", || async {
        let listed = backups(&srv, &admin, &path).await;
        !listed.iter().any(|b| b["id"] == manual_id.as_str())
            && listed
                .iter()
                .any(|b| b["kind"] == "scheduled" && b["status"] == "succeeded")
    })
    .await;
    let kept = backups(&srv, &admin, &path).await;
    assert!(
        kept.iter().all(|b| b["status"] != "failed"),
        "the failed one is older than the period too: {kept:?}"
    );
    let (st, _) = srv
        .get(&format!("{path}/backups/{manual_id}"), &admin)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    wait_until(
        "the dropped snapshots' objects to leave the bucket",
        || async { objects_of_db().await == kept.len() },
    )
    .await;

    // max_backups: a project that keeps as many as it may takes no more
    let held = backups(&srv, &admin, &path)
        .await
        .iter()
        .filter(|b| b["status"] == "succeeded")
        .count()
        + backups(&srv, &admin, &copy_path)
            .await
            .iter()
            .filter(|b| b["status"] == "succeeded")
            .count();
    let (st, b) = srv
        .patch(
            "/api/v1/tenants/acme/projects/web",
            &admin,
            json!({"quota": {"max_backups": held}}),
        )
        .await;
    assert!(st.is_success(), "{b}");
    let (st, e) = srv.post(&format!("{path}/backup"), &admin, json!({})).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["error"]["code"], "quota_exceeded", "{e}");

    // audit
    let (st, log) = srv
        .get("/api/v1/audit-logs?action=database.trigger_backup", &admin)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(log["total"].as_i64().unwrap() >= 2, "{log}");
    let (_, log) = srv
        .get("/api/v1/audit-logs?action=database.restore", &admin)
        .await;
    assert!(log["total"].as_i64().unwrap() >= 2, "{log}");

    srv.running.shutdown().await;
    sim.shutdown().await;
}

/// A database made before any storage existed has no BackupConfiguration: its first backup
/// makes one and waits for it.
async fn first_backup_configures(backend: Backend) {
    let s3_dir = tempfile::tempdir().unwrap();
    let sim = start_sim_with(|c| c.s3 = Some(sim::S3ServerConfig::new(s3_dir.path()))).await;
    let s3 = sim.s3.as_ref().expect("embedded S3");
    let srv = TestServer::start(backend).await;
    let admin = srv.admin_token().await;
    let pid = onboard(&srv, &admin, &sim, "sim-1", json!({})).await;
    tenant(&srv, &admin, "acme", "web", 10).await;
    let (path, _) = running_postgres(&srv, &admin, ("acme", "web"), "early", json!({})).await;
    let (st, saved) = srv
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/providers/{pid}/backup-storage"),
            Some(&admin),
            Some(storage_body(s3, "dbaas-backups", &s3.secret_key)),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{saved}");
    for _ in 0..3 {
        let (st, answer) = srv.post(&format!("{path}/backup"), &admin, json!({})).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{answer}");
        let op = operation_of(&srv, &admin, &answer).await;
        assert_eq!(op["status"], "completed", "{op}");
    }
    assert_eq!(backups(&srv, &admin, &path).await.len(), 3);
    srv.running.shutdown().await;
    sim.shutdown().await;
}

mod backups_end_to_end {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        backup_lifecycle(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        backup_lifecycle(Backend::Postgres).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn first_backup_configures_sqlite() {
        first_backup_configures(Backend::Sqlite).await
    }
}
