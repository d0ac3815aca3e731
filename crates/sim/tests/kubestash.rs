//! The simulated KubeStash end to end against the upstream KubeStash CRDs and the embedded S3
//! server: BackupStorage readiness (and why not), BackupConfiguration → Repository, scheduled
//! and on-demand backups whose data lands in the bucket, retention, the backup faults, and
//! restores into a new database and in place.

mod kubedb_common;

use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject};
use kubedb_common::*;
use serde_json::{json, Value};
use sim::{KubeStashConfig, S3ServerConfig, SimConfig, SimHandle};

const BUCKET: &str = "dbaas-backups";
const PREFIX: &str = "cluster-1";

fn ks_ar(group: &str, kind: &str, plural: &str) -> ApiResource {
    ar(&format!("{group}/v1alpha1"), kind, plural)
}
fn storages() -> ApiResource {
    ks_ar("storage.kubestash.com", "BackupStorage", "backupstorages")
}
fn retention() -> ApiResource {
    ks_ar(
        "storage.kubestash.com",
        "RetentionPolicy",
        "retentionpolicies",
    )
}
fn repositories() -> ApiResource {
    ks_ar("storage.kubestash.com", "Repository", "repositories")
}
fn snapshots() -> ApiResource {
    ks_ar("storage.kubestash.com", "Snapshot", "snapshots")
}
fn configs() -> ApiResource {
    ks_ar(
        "core.kubestash.com",
        "BackupConfiguration",
        "backupconfigurations",
    )
}
fn sessions() -> ApiResource {
    ks_ar("core.kubestash.com", "BackupSession", "backupsessions")
}
fn restores() -> ApiResource {
    ks_ar("core.kubestash.com", "RestoreSession", "restoresessions")
}

/// A cluster with the upstream CRDs, the embedded S3 server on a temp dir and KubeStash with
/// the given step delay.
async fn start(step: Duration) -> (SimHandle, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = SimConfig {
        crds_dir: crds_dir(),
        operator: sim::OperatorConfig {
            provisioning_delay: Duration::ZERO,
            step_delay: Duration::ZERO,
        },
        s3: Some(S3ServerConfig::new(dir.path())),
        kubestash: KubeStashConfig {
            backup_step_delay: step,
            storage_recheck: Duration::from_secs(2),
            ..KubeStashConfig::default()
        },
        ..Default::default()
    };
    let sim = sim::start(config).await.expect("simulated cluster starts");
    let served = sim::kubestash::crds_served(&sim.client()).await;
    assert!(served, "the upstream KubeStash CRDs are served");
    (sim, dir)
}

fn s3(sim: &SimHandle) -> &sim::S3Server {
    sim.s3.as_ref().expect("embedded S3 runs")
}

async fn secret(sim: &SimHandle, ns: &str, name: &str, data: Value) {
    create(
        sim,
        &ar("v1", "Secret", "secrets"),
        json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": name, "namespace": ns }, "stringData": data }),
    )
    .await
    .expect("secret");
}

/// A storage secret and BackupStorage on the embedded server.
async fn backup_storage(sim: &SimHandle, ns: &str, name: &str, bucket: &str, secret_key: &str) {
    let srv = s3(sim);
    let secret_name = format!("{name}-creds");
    secret(
        sim,
        ns,
        &secret_name,
        json!({ "AWS_ACCESS_KEY_ID": srv.access_key, "AWS_SECRET_ACCESS_KEY": secret_key }),
    )
    .await;
    create(
        sim,
        &storages(),
        json!({ "apiVersion": "storage.kubestash.com/v1alpha1", "kind": "BackupStorage",
                "metadata": { "name": name, "namespace": ns },
                "spec": { "storage": { "provider": "s3", "s3": { "endpoint": srv.url, "bucket": bucket, "region": srv.region, "prefix": PREFIX, "secretName": secret_name } },
                          "usagePolicy": { "allowedNamespaces": { "from": "All" } }, "default": false, "deletionPolicy": "Delete" } }),
    )
    .await
    .expect("backup storage");
}

async fn mongodb(sim: &SimHandle, ns: &str, name: &str, content: Option<&str>, wait_restore: bool) {
    let mut obj = json!({ "apiVersion": "kubedb.com/v1", "kind": "MongoDB", "metadata": { "name": name, "namespace": ns },
        "spec": { "version": "8.0.17", "replicas": 3, "replicaSet": { "name": "rs0" },
                  "storage": { "resources": { "requests": { "storage": "1Gi" } } }, "deletionPolicy": "WipeOut" } });
    if let Some(c) = content {
        obj["metadata"]["annotations"] = json!({ sim::kubestash::CONTENT_ANNOTATION: c });
    }
    if wait_restore {
        obj["spec"]["init"] = json!({ "waitForInitialRestore": true });
    }
    create(sim, &db_ar("MongoDB"), obj).await.expect("mongodb");
}

/// Storage + retention policy + database + BackupConfiguration (session `daily`, repository
/// `<db>-repo` at `/<ns>/<db>`), waited until Ready.
async fn backed_up_db(sim: &SimHandle, ns: &str, db: &str, retention_spec: Value) -> DynamicObject {
    ensure_namespace(sim, ns).await;
    backup_storage(sim, ns, "s3-storage", BUCKET, &s3(sim).secret_key).await;
    create(
        sim,
        &retention(),
        json!({ "apiVersion": "storage.kubestash.com/v1alpha1", "kind": "RetentionPolicy",
                "metadata": { "name": "keep", "namespace": ns }, "spec": retention_spec }),
    )
    .await
    .expect("retention policy");
    secret(
        sim,
        ns,
        &format!("{db}-encryption"),
        json!({ "RESTIC_PASSWORD": "pw" }),
    )
    .await;
    mongodb(sim, ns, db, Some("v1"), false).await;
    create(
        sim,
        &configs(),
        json!({ "apiVersion": "core.kubestash.com/v1alpha1", "kind": "BackupConfiguration",
                "metadata": { "name": format!("{db}-backup"), "namespace": ns },
                "spec": {
                    "target": { "apiGroup": "kubedb.com", "kind": "MongoDB", "namespace": ns, "name": db },
                    "backends": [{ "name": "s3", "storageRef": { "namespace": ns, "name": "s3-storage" }, "retentionPolicy": { "namespace": ns, "name": "keep" } }],
                    "sessions": [{
                        "name": "daily",
                        "scheduler": { "schedule": "0 2 * * *", "jobTemplate": { "backoffLimit": 1 } },
                        "repositories": [{ "name": format!("{db}-repo"), "backend": "s3", "directory": format!("/{ns}/{db}"),
                                           "encryptionSecret": { "namespace": ns, "name": format!("{db}-encryption") } }],
                        "addon": { "name": "mongodb-addon", "tasks": [{ "name": "logical-backup" }] },
                    }],
                } }),
    )
    .await
    .expect("backup configuration");
    wait_phase(
        &api(sim, ns, &configs()),
        &format!("{db}-backup"),
        "Ready",
        60,
    )
    .await
}

async fn backup_now(sim: &SimHandle, ns: &str, db: &str, name: &str) -> DynamicObject {
    create(
        sim,
        &sessions(),
        json!({ "apiVersion": "core.kubestash.com/v1alpha1", "kind": "BackupSession",
                "metadata": { "name": name, "namespace": ns },
                "spec": { "invoker": { "apiGroup": "core.kubestash.com", "kind": "BackupConfiguration", "name": format!("{db}-backup") }, "session": "daily" } }),
    )
    .await
    .expect("backup session");
    finished(&api(sim, ns, &sessions()), name).await
}

async fn finished(api: &Api<DynamicObject>, name: &str) -> DynamicObject {
    wait_for(60, &format!("{name} to finish"), || async {
        let o = api.get_opt(name).await.ok().flatten()?;
        matches!(
            o.data["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed" | "Skipped" | "Invalid")
        )
        .then_some(o)
    })
    .await
}

fn condition<'a>(o: &'a DynamicObject, t: &str) -> &'a Value {
    o.data["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == t))
        .unwrap_or(&Value::Null)
}

/// The objects under a repository's directory in the bucket.
async fn bucket_keys(sim: &SimHandle, dir: &str) -> Vec<String> {
    s3(sim)
        .location(BUCKET, PREFIX)
        .list(dir)
        .await
        .expect("list bucket")
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

async fn snapshot_names(sim: &SimHandle, ns: &str) -> Vec<String> {
    names(&api(sim, ns, &snapshots()), "").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_storage_reports_why_it_is_not_ready() {
    let (sim, _dir) = start(Duration::ZERO).await;
    let ns = "storage";
    ensure_namespace(&sim, ns).await;
    let bss = api(&sim, ns, &storages());

    backup_storage(&sim, ns, "good", BUCKET, &s3(&sim).secret_key).await;
    let good = wait_phase(&bss, "good", "Ready", 60).await;
    assert_eq!(condition(&good, "BackendSecretFound")["status"], "True");
    assert_eq!(condition(&good, "BackendInitialized")["status"], "True");

    backup_storage(&sim, ns, "wrong-key", BUCKET, "not-the-secret").await;
    let bad = wait_phase(&bss, "wrong-key", "NotReady", 60).await;
    let init = condition(&bad, "BackendInitialized");
    assert_eq!(init["status"], "False");
    assert_eq!(
        init["message"], "access denied: the access key or secret is wrong",
        "{init}"
    );

    backup_storage(
        &sim,
        ns,
        "no-bucket",
        "missing-bucket",
        &s3(&sim).secret_key,
    )
    .await;
    let bad = wait_phase(&bss, "no-bucket", "NotReady", 60).await;
    assert_eq!(
        condition(&bad, "BackendInitialized")["message"],
        "bucket 'missing-bucket' does not exist"
    );

    // a storage whose secret does not exist (yet)
    create(
        &sim,
        &storages(),
        json!({ "apiVersion": "storage.kubestash.com/v1alpha1", "kind": "BackupStorage", "metadata": { "name": "no-secret", "namespace": ns },
                "spec": { "storage": { "provider": "s3", "s3": { "endpoint": s3(&sim).url, "bucket": BUCKET, "secretName": "absent" } } } }),
    )
    .await
    .expect("storage");
    let bad = wait_phase(&bss, "no-secret", "NotReady", 60).await;
    let found = condition(&bad, "BackendSecretFound");
    assert_eq!(found["status"], "False");
    assert!(
        found["message"]
            .as_str()
            .unwrap_or_default()
            .contains("secret storage/absent not found"),
        "{found}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_run_on_schedule_and_on_demand_and_retention_prunes() {
    let (sim, _dir) = start(Duration::ZERO).await;
    let ns = "bk";
    let bc = backed_up_db(
        &sim,
        ns,
        "orders",
        json!({ "maxRetentionPeriod": "30d", "successfulSnapshots": { "last": 2 }, "failedSnapshots": { "last": 1 } }),
    )
    .await;
    assert_eq!(bc.data["status"]["targetFound"], true);
    assert_eq!(condition(&bc, "ValidationPassed")["status"], "True");

    // the Repository, owned by the BackupConfiguration
    let repos = api(&sim, ns, &repositories());
    let repo = wait_phase(&repos, "orders-repo", "Ready", 60).await;
    assert_eq!(repo.data["spec"]["path"], "/bk/orders");
    assert_eq!(repo.data["spec"]["storageRef"]["name"], "s3-storage");
    assert_eq!(repo.data["spec"]["appRef"]["name"], "orders");
    let owner = &repo.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("BackupConfiguration", "orders-backup")
    );

    // a scheduled run: the clock passes the next 02:00
    let cfgs = api(&sim, ns, &configs());
    wait_for(60, "nextSchedule", || async {
        let o = cfgs.get("orders-backup").await.ok()?;
        o.data["status"]["sessions"][0]["nextSchedule"]
            .as_str()
            .map(str::to_string)
    })
    .await;
    let bss = api(&sim, ns, &sessions());
    sim.clock.advance(Duration::from_secs(25 * 3600));
    let scheduled = wait_for(60, "a scheduled BackupSession", || async {
        let list = bss.list(&Default::default()).await.ok()?;
        list.items.into_iter().find_map(|o| {
            o.metadata
                .name
                .filter(|n| n.starts_with("orders-backup-daily-"))
        })
    })
    .await;
    let done = finished(&bss, &scheduled).await;
    assert_eq!(
        done.data["status"]["phase"], "Succeeded",
        "{:?}",
        done.data["status"]
    );
    assert_eq!(done.data["spec"]["invoker"]["kind"], "BackupConfiguration");
    let first_snap = format!("orders-repo-{scheduled}");
    let snaps = api(&sim, ns, &snapshots());
    let snap = wait_phase(&snaps, &first_snap, "Succeeded", 60).await;
    assert_eq!(snap.data["spec"]["type"], "FullBackup");
    assert_eq!(
        snap.data["spec"]["snapshotID"].as_str().map(str::len),
        Some(26),
        "a ULID"
    );
    assert_eq!(
        snap.data["status"]["components"]["dump"]["driver"],
        "Restic"
    );
    assert!(snap.data["status"]["size"]
        .as_str()
        .is_some_and(|s| s.ends_with(" B") || s.ends_with("KiB")));
    assert_eq!(
        bucket_keys(&sim, "bk/orders").await,
        vec![sim::kubestash::dump_key("bk/orders", &first_snap)]
    );
    let dump: Value = serde_json::from_slice(
        &s3(&sim)
            .location(BUCKET, PREFIX)
            .get(&sim::kubestash::dump_key("bk/orders", &first_snap))
            .await
            .expect("get"),
    )
    .expect("json");
    assert_eq!(dump["content"], "v1");
    assert_eq!(dump["target"]["name"], "orders");

    // two on-demand runs; retention keeps the last two
    for (i, content) in ["v2", "v3"].into_iter().enumerate() {
        merge(&api(&sim, ns, &db_ar("MongoDB")), "orders", json!({ "metadata": { "annotations": { sim::kubestash::CONTENT_ANNOTATION: content } } }))
            .await
            .expect("write data");
        let name = format!("orders-manual-{i}");
        let s = backup_now(&sim, ns, "orders", &name).await;
        assert_eq!(
            s.data["status"]["phase"], "Succeeded",
            "{:?}",
            s.data["status"]
        );
        assert_eq!(s.data["status"]["totalSnapshots"], 1);
        assert_eq!(
            s.data["status"]["snapshots"][0]["name"],
            format!("orders-repo-{name}")
        );
        assert_eq!(s.data["status"]["retentionPolicy"][0]["phase"], "Applied");
    }
    wait_gone(&snaps, &first_snap, 60).await;
    assert_eq!(
        snapshot_names(&sim, ns).await,
        vec!["orders-repo-orders-manual-0", "orders-repo-orders-manual-1"]
    );
    assert_eq!(bucket_keys(&sim, "bk/orders").await, {
        let mut keys: Vec<String> = ["orders-repo-orders-manual-0", "orders-repo-orders-manual-1"]
            .iter()
            .map(|s| sim::kubestash::dump_key("bk/orders", s))
            .collect();
        keys.sort();
        keys
    });
    let repo = wait_for(60, "repository status", || async {
        let r = repos.get("orders-repo").await.ok()?;
        (r.data["status"]["snapshotCount"] == 2).then_some(r)
    })
    .await;
    assert!(repo.data["status"]["lastBackupTime"].is_string());

    // a month later: the missed daily slots fire once, and maxRetentionPeriod drops the rest
    let before: Vec<String> = names(&bss, "").await;
    sim.clock.advance(Duration::from_secs(31 * 86_400));
    let late = wait_for(60, "the next scheduled BackupSession", || async {
        let list = bss.list(&Default::default()).await.ok()?;
        list.items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .find(|n| n.starts_with("orders-backup-daily-") && !before.contains(n))
    })
    .await;
    assert_eq!(
        finished(&bss, &late).await.data["status"]["phase"],
        "Succeeded"
    );
    let late_snap = format!("orders-repo-{late}");
    wait_for(60, "old snapshots to expire", || async {
        (snapshot_names(&sim, ns).await == vec![late_snap.clone()]).then_some(())
    })
    .await;
    assert_eq!(
        bucket_keys(&sim, "bk/orders").await,
        vec![sim::kubestash::dump_key("bk/orders", &late_snap)]
    );
    let scheduled_runs = names(&bss, "")
        .await
        .into_iter()
        .filter(|n| n.starts_with("orders-backup-daily-"))
        .count();
    assert_eq!(
        scheduled_runs, 1,
        "one run for the jump, and history keeps one"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_faults_fail_backups_with_the_reason() {
    // a step delay long enough to flip the S3 fault while a backup runs
    let (sim, _dir) = start(Duration::from_secs(2)).await;
    let ns = "faults";
    backed_up_db(
        &sim,
        ns,
        "pay",
        json!({ "successfulSnapshots": { "last": 5 } }),
    )
    .await;

    sim.faults.update(|f| {
        f.fail_backups.insert(
            "faults/pay-backup".into(),
            "disk full on the backup pod".into(),
        );
    });
    let s = backup_now(&sim, ns, "pay", "pay-failing").await;
    assert_eq!(s.data["status"]["phase"], "Failed");
    let failed = condition(&s, "BackupFailed");
    assert!(
        failed["message"]
            .as_str()
            .unwrap_or_default()
            .contains("disk full on the backup pod"),
        "{failed}"
    );
    let snap = api(&sim, ns, &snapshots())
        .get("pay-repo-pay-failing")
        .await
        .expect("snapshot");
    assert_eq!(snap.data["status"]["phase"], "Failed");
    assert_eq!(
        snap.data["status"]["components"]["dump"]["error"],
        "disk full on the backup pod"
    );
    assert!(bucket_keys(&sim, "faults/pay").await.is_empty());
    sim.faults.update(|f| f.fail_backups.clear());

    // the bucket goes away while a backup runs
    let bss = api(&sim, ns, &sessions());
    create(
        &sim,
        &sessions(),
        json!({ "apiVersion": "core.kubestash.com/v1alpha1", "kind": "BackupSession", "metadata": { "name": "pay-s3-down", "namespace": ns },
                "spec": { "invoker": { "apiGroup": "core.kubestash.com", "kind": "BackupConfiguration", "name": "pay-backup" }, "session": "daily" } }),
    )
    .await
    .expect("backup session");
    wait_phase(&bss, "pay-s3-down", "Running", 60).await;
    sim.faults.update(|f| f.s3_unavailable = true);
    let s = finished(&bss, "pay-s3-down").await;
    assert_eq!(
        s.data["status"]["phase"], "Failed",
        "{:?}",
        s.data["status"]
    );
    let msg = condition(&s, "BackupFailed")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("unavailable"), "{msg}");
    let bs = wait_phase(&api(&sim, ns, &storages()), "s3-storage", "NotReady", 60).await;
    let init = condition(&bs, "BackendInitialized");
    assert!(
        init["message"].as_str().unwrap_or_default().contains("503"),
        "{init}"
    );
    // with the storage down, the configuration is not Ready and a new run is skipped
    wait_phase(&api(&sim, ns, &configs()), "pay-backup", "NotReady", 60).await;
    let s = backup_now(&sim, ns, "pay", "pay-skipped").await;
    assert_eq!(s.data["status"]["phase"], "Skipped");
    assert_eq!(
        condition(&s, "BackupSkipped")["reason"],
        "BackupConfigurationNotReady"
    );

    sim.faults.update(|f| f.s3_unavailable = false);
    wait_phase(&api(&sim, ns, &storages()), "s3-storage", "Ready", 60).await;
    wait_phase(&api(&sim, ns, &configs()), "pay-backup", "Ready", 60).await;
    sim.shutdown().await;
}

async fn restore_session(
    sim: &SimHandle,
    ns: &str,
    name: &str,
    target: &str,
    snapshot: &str,
) -> DynamicObject {
    create(
        sim,
        &restores(),
        json!({ "apiVersion": "core.kubestash.com/v1alpha1", "kind": "RestoreSession", "metadata": { "name": name, "namespace": ns },
                "spec": {
                    "target": { "apiGroup": "kubedb.com", "kind": "MongoDB", "namespace": ns, "name": target },
                    "dataSource": { "namespace": ns, "repository": "src-repo", "snapshot": snapshot,
                                    "encryptionSecret": { "namespace": ns, "name": "src-encryption" } },
                    "addon": { "name": "mongodb-addon", "tasks": [{ "name": "logical-backup-restore" }] },
                } }),
    )
    .await
    .expect("restore session");
    finished(&api(sim, ns, &restores()), name).await
}

fn content(o: &DynamicObject) -> Option<&str> {
    o.metadata
        .annotations
        .as_ref()?
        .get(sim::kubestash::CONTENT_ANNOTATION)
        .map(String::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_into_a_new_database_and_in_place() {
    let (sim, _dir) = start(Duration::ZERO).await;
    let ns = "rs";
    backed_up_db(
        &sim,
        ns,
        "src",
        json!({ "successfulSnapshots": { "last": 5 } }),
    )
    .await;
    let dbs = api(&sim, ns, &db_ar("MongoDB"));
    merge(
        &dbs,
        "src",
        json!({ "metadata": { "annotations": { sim::kubestash::CONTENT_ANNOTATION: "alpha" } } }),
    )
    .await
    .expect("write data");
    let s = backup_now(&sim, ns, "src", "src-b1").await;
    assert_eq!(s.data["status"]["phase"], "Succeeded");

    // latest into a new database that waits for it
    mongodb(&sim, ns, "copy", None, true).await;
    wait_phase(&dbs, "copy", "DataRestoring", 60).await;
    let r = restore_session(&sim, ns, "to-copy", "copy", "latest").await;
    assert_eq!(
        r.data["status"]["phase"], "Succeeded",
        "{:?}",
        r.data["status"]
    );
    assert_eq!(r.data["status"]["targetFound"], true);
    assert_eq!(r.data["status"]["totalComponents"], 1);
    assert_eq!(r.data["status"]["components"]["dump"]["phase"], "Succeeded");
    let copy = wait_phase(&dbs, "copy", "Ready", 60).await;
    assert_eq!(content(&copy), Some("alpha"));
    assert_eq!(condition(&copy, "DataRestored")["status"], "True");

    // in place, by snapshot name, after the data changed; the backups pause meanwhile
    merge(
        &dbs,
        "src",
        json!({ "metadata": { "annotations": { sim::kubestash::CONTENT_ANNOTATION: "beta" } } }),
    )
    .await
    .expect("change data");
    let r = restore_session(&sim, ns, "in-place", "src", "src-repo-src-b1").await;
    assert_eq!(
        r.data["status"]["phase"], "Succeeded",
        "{:?}",
        r.data["status"]
    );
    assert_eq!(r.data["status"]["pausedBackups"][0]["name"], "src-backup");
    assert_eq!(content(&dbs.get("src").await.expect("src")), Some("alpha"));
    let bc = api(&sim, ns, &configs())
        .get("src-backup")
        .await
        .expect("bc");
    assert_eq!(bc.data["spec"]["paused"], false, "backups resumed");

    // a restore that cannot succeed leaves a waiting database NotReady
    mongodb(&sim, ns, "broken", None, true).await;
    wait_phase(&dbs, "broken", "DataRestoring", 60).await;
    let r = restore_session(&sim, ns, "to-broken", "broken", "no-such-snapshot").await;
    assert_eq!(r.data["status"]["phase"], "Failed");
    assert!(condition(&r, "RestoreFailed")["message"]
        .as_str()
        .unwrap_or_default()
        .contains("snapshot no-such-snapshot not found"));
    let broken = wait_phase(&dbs, "broken", "NotReady", 60).await;
    assert_eq!(condition(&broken, "DataRestored")["status"], "False");

    // a corrupted object fails its checksum
    let key = &sim::kubestash::dump_key("rs/src", "src-repo-src-b1");
    let loc = s3(&sim).location(BUCKET, PREFIX);
    let mut doc: Value = serde_json::from_slice(&loc.get(key).await.expect("get")).expect("json");
    doc["content"] = json!("tampered");
    loc.put(key, serde_json::to_vec(&doc).expect("json").into())
        .await
        .expect("put");
    let r = restore_session(&sim, ns, "corrupt", "src", "src-repo-src-b1").await;
    assert_eq!(r.data["status"]["phase"], "Failed");
    assert!(condition(&r, "RestoreFailed")["message"]
        .as_str()
        .unwrap_or_default()
        .contains("checksum mismatch"));
    assert_eq!(
        content(&dbs.get("src").await.expect("src")),
        Some("alpha"),
        "left untouched"
    );
    sim.shutdown().await;
}
