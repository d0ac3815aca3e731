//! Backups through KubeStash (pure, no I/O): the objects the platform creates and how it reads the
//! ones KubeStash creates.
//!
//! Per provider, in the platform namespace: one `BackupStorage` per storage scope (the provider's,
//! or a tenant's own) with its credentials Secret, and one `RetentionPolicy` per retention in use.
//! Per database, in its namespace: an encryption Secret, a `BackupConfiguration` with one session
//! (the schedule) and one repository whose directory is unique to the database, on-demand
//! `BackupSession`s and `RestoreSession`s named after their operation. KubeStash makes the
//! `Repository` and one `Snapshot` per run, which the platform records as the database's backups.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use domain::backup::{BackupKind, BackupScope, BackupStatus, BackupStorage};
use domain::engine::Engine;
use domain::model::Database;
use kube::api::{ApiResource, DynamicObject};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::translate::{
    database_labels, label_value, meta, LABEL_DOMAIN, LABEL_MANAGED_BY, LABEL_MANAGED_BY_VALUE,
    LABEL_OPERATION_ID,
};

/// Where the platform keeps what it shares across a cluster's tenants (backup storages).
pub const PLATFORM_NAMESPACE: &str = "dbaas-system";
pub const STORAGE_API: &str = "storage.kubestash.com/v1alpha1";
pub const CORE_API: &str = "core.kubestash.com/v1alpha1";
/// The one session of every BackupConfiguration the platform makes.
pub const SESSION: &str = "scheduled";
/// On the platform's backup storages: which scope they serve (a hash, labels are short).
pub const LABEL_BACKUP_SCOPE: &str = "dbaas.io/backup-scope";

fn resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

pub fn snapshot_resource() -> ApiResource {
    resource(STORAGE_API, "Snapshot", "snapshots")
}
pub fn backup_session_resource() -> ApiResource {
    resource(CORE_API, "BackupSession", "backupsessions")
}
pub fn restore_session_resource() -> ApiResource {
    resource(CORE_API, "RestoreSession", "restoresessions")
}
pub fn backup_configuration_resource() -> ApiResource {
    resource(CORE_API, "BackupConfiguration", "backupconfigurations")
}
pub fn backup_storage_resource() -> ApiResource {
    resource(STORAGE_API, "BackupStorage", "backupstorages")
}

/// The KubeStash addon for an engine's kind.
pub fn addon(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "postgres-addon",
        Engine::Mysql => "mysql-addon",
        Engine::Mariadb => "mariadb-addon",
        Engine::Mongodb => "mongodb-addon",
        Engine::Redis => "redis-addon",
        Engine::Elasticsearch => "elasticsearch-addon",
    }
}

fn hash16(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..8])
}

/// The BackupStorage of a scope: `dbaas-provider` for the provider's own, `dbaas-tenant-<hash>`
/// for a tenant's (a hash of the exact domain: injective however domains read).
pub fn storage_name(scope: &BackupScope) -> String {
    match scope {
        BackupScope::Provider(_) => "dbaas-provider".into(),
        BackupScope::Tenant(domain) => format!("dbaas-tenant-{}", hash16(domain)),
    }
}

fn storage_secret_name(scope: &BackupScope) -> String {
    format!("{}-s3", storage_name(scope))
}

fn platform_labels(scope: &BackupScope) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(LABEL_MANAGED_BY.into(), json!(LABEL_MANAGED_BY_VALUE));
    m.insert(LABEL_BACKUP_SCOPE.into(), json!(hash16(&scope.key())));
    m
}

/// The platform namespace on a provider.
pub fn platform_namespace() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": PLATFORM_NAMESPACE, "labels": {LABEL_MANAGED_BY: LABEL_MANAGED_BY_VALUE}},
    })
}

/// The storage's credentials, where KubeStash looks for them.
pub fn storage_secret(scope: &BackupScope, access_key_id: &str, secret_access_key: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": storage_secret_name(scope), "namespace": PLATFORM_NAMESPACE,
                     "labels": platform_labels(scope)},
        "type": "Opaque",
        // `data`, not `stringData`: what the API server keeps, so an unchanged Secret is seen
        // as unchanged and not written again
        "data": {"AWS_ACCESS_KEY_ID": BASE64.encode(access_key_id),
                 "AWS_SECRET_ACCESS_KEY": BASE64.encode(secret_access_key)},
    })
}

/// The BackupStorage of a scope. A tenant's may be used only from that tenant's namespaces; the
/// provider's from any namespace the platform made.
pub fn backup_storage(storage: &BackupStorage) -> Value {
    let mut selector = Map::new();
    selector.insert(LABEL_MANAGED_BY.into(), json!(LABEL_MANAGED_BY_VALUE));
    if let BackupScope::Tenant(domain) = &storage.scope {
        selector.insert(LABEL_DOMAIN.into(), json!(label_value(domain)));
    }
    json!({
        "apiVersion": STORAGE_API, "kind": "BackupStorage",
        "metadata": {"name": storage_name(&storage.scope), "namespace": PLATFORM_NAMESPACE,
                     "labels": platform_labels(&storage.scope)},
        "spec": {
            "storage": {"provider": "s3", "s3": {
                "endpoint": storage.endpoint, "bucket": storage.bucket, "prefix": storage.prefix,
                "region": storage.region, "secretName": storage_secret_name(&storage.scope),
                "insecureTLS": storage.insecure_tls,
            }},
            "usagePolicy": {"allowedNamespaces": {"from": "Selector", "selector": {"matchLabels": selector}}},
            "default": false,
            "deletionPolicy": "Delete",
        },
    })
}

pub fn retention_policy_name(days: i64) -> String {
    format!("dbaas-keep-{days}d")
}

/// Keeps every successful snapshot for `days` days and the last two failed ones.
pub fn retention_policy(days: i64) -> Value {
    json!({
        "apiVersion": STORAGE_API, "kind": "RetentionPolicy",
        "metadata": {"name": retention_policy_name(days), "namespace": PLATFORM_NAMESPACE,
                     "labels": {LABEL_MANAGED_BY: LABEL_MANAGED_BY_VALUE}},
        "spec": {
            "maxRetentionPeriod": format!("{days}d"),
            "failedSnapshots": {"last": 2},
            "usagePolicy": {"allowedNamespaces": {"from": "Selector",
                "selector": {"matchLabels": {LABEL_MANAGED_BY: LABEL_MANAGED_BY_VALUE}}}},
        },
    })
}

/// Names of one database's backup objects (its KubeDB object name is unique in its namespace).
pub fn configuration_name(db_name: &str) -> String {
    format!("{db_name}-backup")
}
pub fn repository_name(db_name: &str) -> String {
    format!("{db_name}-repo")
}
pub fn encryption_secret_name(db_name: &str) -> String {
    format!("{db_name}-backup-encryption")
}

/// The repository's directory in the bucket: the tenant's folder (a hash of the exact domain),
/// then the database's id, so no two databases (nor a recreated one) ever share it. Short on
/// purpose: object keys stay well inside what every S3-compatible server accepts.
pub fn repository_directory(db: &Database) -> String {
    format!("/{}/{}", hash16(&db.domain), db.id)
}

/// The key the backups are encrypted with; without it they are unreadable.
pub fn encryption_secret(db: &Database, namespace: &str, name: &str, password: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": encryption_secret_name(name), "namespace": namespace,
                     "labels": database_labels(db)},
        "type": "Opaque",
        "stringData": {"RESTIC_PASSWORD": password},
    })
}

/// The database's BackupConfiguration: its schedule (a cron line), its retention, one repository.
pub fn backup_configuration(
    db: &Database,
    namespace: &str,
    name: &str,
    storage: &BackupScope,
    cron: &str,
    paused: bool,
) -> Value {
    let m = meta(db.engine);
    json!({
        "apiVersion": CORE_API, "kind": "BackupConfiguration",
        "metadata": {"name": configuration_name(name), "namespace": namespace, "labels": database_labels(db)},
        "spec": {
            "target": {"apiGroup": "kubedb.com", "kind": m.kind, "namespace": namespace, "name": name},
            "backends": [{
                "name": "s3",
                "storageRef": {"namespace": PLATFORM_NAMESPACE, "name": storage_name(storage)},
                "retentionPolicy": {"namespace": PLATFORM_NAMESPACE,
                                    "name": retention_policy_name(db.backup_retention_days)},
            }],
            "sessions": [{
                "name": SESSION,
                "scheduler": {"schedule": cron, "jobTemplate": {"backoffLimit": 1}},
                "repositories": [{
                    "name": repository_name(name),
                    "backend": "s3",
                    "directory": repository_directory(db),
                    "encryptionSecret": {"namespace": namespace, "name": encryption_secret_name(name)},
                    "deletionPolicy": "WipeOut",
                }],
                "addon": {"name": addon(db.engine), "tasks": [{"name": "logical-backup"}]},
            }],
            "paused": paused,
        },
    })
}

/// An on-demand run is named after its operation (a retry finds its own); scheduled runs are
/// `<configuration>-<session>-<unix seconds>`, so the two never meet.
pub fn manual_session_name(db_name: &str, op_id: &str) -> String {
    format!("{}-manual-{}", configuration_name(db_name), hash16(op_id))
}

pub fn backup_session(db: &Database, namespace: &str, name: &str, op_id: &str) -> Value {
    let mut labels = database_labels(db);
    labels.insert(LABEL_OPERATION_ID.into(), json!(label_value(op_id)));
    json!({
        "apiVersion": CORE_API, "kind": "BackupSession",
        "metadata": {"name": manual_session_name(name, op_id), "namespace": namespace, "labels": labels},
        "spec": {
            "invoker": {"apiGroup": "core.kubestash.com", "kind": "BackupConfiguration",
                        "name": configuration_name(name)},
            "session": SESSION,
        },
    })
}

pub fn restore_session_name(db_name: &str, op_id: &str) -> String {
    format!("{db_name}-restore-{}", hash16(op_id))
}

/// Where a restore reads from: the source database's repository and key.
#[derive(Debug, Clone, Copy)]
pub struct RestoreSource<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    /// A Snapshot name, or `latest`.
    pub snapshot: &'a str,
}

/// A RestoreSession into `target` (the database itself, or a new one made for it).
pub fn restore_session(
    target: &Database,
    namespace: &str,
    name: &str,
    source: RestoreSource<'_>,
    op_id: &str,
) -> Value {
    let mut labels = database_labels(target);
    labels.insert(LABEL_OPERATION_ID.into(), json!(label_value(op_id)));
    json!({
        "apiVersion": CORE_API, "kind": "RestoreSession",
        "metadata": {"name": restore_session_name(name, op_id), "namespace": namespace, "labels": labels},
        "spec": {
            "target": {"apiGroup": "kubedb.com", "kind": meta(target.engine).kind,
                       "namespace": namespace, "name": name},
            "dataSource": {
                "namespace": source.namespace,
                "repository": repository_name(source.name),
                "snapshot": source.snapshot,
                "encryptionSecret": {"namespace": source.namespace,
                                     "name": encryption_secret_name(source.name)},
            },
            "addon": {"name": addon(target.engine), "tasks": [{"name": "logical-backup-restore"}]},
        },
    })
}

/// A new database made to receive a restore waits for it before KubeDB calls it Ready.
pub fn wait_for_initial_restore(database_object: &mut Value) {
    database_object["spec"]["init"]["waitForInitialRestore"] = json!(true);
}

/// Open-schema definitions of the KubeStash kinds, for a cluster that serves no upstream CRDs
/// (the simulated demo cluster). Objects are validated against the upstream schemas in tests.
pub fn kubestash_crds(
) -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    [
        (STORAGE_API, "BackupStorage", "backupstorages", true),
        (STORAGE_API, "RetentionPolicy", "retentionpolicies", false),
        (STORAGE_API, "Repository", "repositories", true),
        (STORAGE_API, "Snapshot", "snapshots", true),
        (CORE_API, "BackupConfiguration", "backupconfigurations", true),
        (CORE_API, "BackupSession", "backupsessions", true),
        (CORE_API, "RestoreSession", "restoresessions", true),
    ]
    .into_iter()
    .map(|(api, kind, plural, status)| {
        let (group, version) = api.split_once('/').unwrap_or_default();
        let mut v = json!({
            "name": version, "served": true, "storage": true,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
        });
        if status {
            v["subresources"] = json!({"status": {}});
        }
        serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{group}")},
            "spec": {
                "group": group, "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(),
                          "listKind": format!("{kind}List")},
                "versions": [v],
            },
        }))
        .expect("a CRD built from constants")
    })
    .collect()
}

/// A Snapshot as the platform records it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedSnapshot {
    pub namespace: String,
    pub name: String,
    pub repository: String,
    pub backup_session: String,
    pub kind: BackupKind,
    pub status: BackupStatus,
    pub snapshot_time: Option<DateTime<Utc>>,
    pub size_bytes: Option<i64>,
    pub duration_seconds: Option<f64>,
    pub integrity: Option<bool>,
    pub error: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// Reads a Snapshot. Which database it belongs to is the caller's business (by namespace and
/// repository, which only the platform names).
pub fn observe_snapshot(obj: &DynamicObject) -> ObservedSnapshot {
    let d = &obj.data;
    let s = |p: &str| d.pointer(p).and_then(Value::as_str).map(str::to_string);
    let repository = s("/spec/repository").unwrap_or_default();
    let backup_session = s("/spec/backupSession").unwrap_or_default();
    let manual = repository
        .strip_suffix("-repo")
        .map(|db| backup_session.starts_with(&format!("{}-manual-", configuration_name(db))))
        .unwrap_or(false);
    let components = d.pointer("/status/components").and_then(Value::as_object);
    let duration_seconds = components.map(|c| {
        c.values()
            .filter_map(|v| v["duration"].as_str())
            .filter_map(domain::backup::parse_go_duration)
            .sum::<f64>()
    });
    let error = components
        .and_then(|c| {
            c.values()
                .find_map(|v| v["error"].as_str().map(str::to_string))
        })
        .filter(|e| !e.is_empty())
        .or_else(|| {
            d.pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c["status"] == "False" && c["message"].is_string())
                        .and_then(|c| c["message"].as_str().map(str::to_string))
                })
        });
    let status = BackupStatus::from_phase(&s("/status/phase").unwrap_or_default());
    ObservedSnapshot {
        namespace: obj.metadata.namespace.clone().unwrap_or_default(),
        name: obj.metadata.name.clone().unwrap_or_default(),
        repository,
        backup_session,
        kind: if manual {
            BackupKind::Manual
        } else {
            BackupKind::Scheduled
        },
        status,
        snapshot_time: s("/status/snapshotTime").and_then(|t| t.parse().ok()),
        size_bytes: s("/status/size").and_then(|v| domain::backup::parse_size(&v)),
        duration_seconds,
        integrity: d.pointer("/status/integrity").and_then(Value::as_bool),
        error: if status == BackupStatus::Failed {
            error
        } else {
            None
        },
        created_at: obj.metadata.creation_timestamp.as_ref().and_then(|t| {
            let nanos = u32::try_from(t.0.subsec_nanosecond()).unwrap_or(0);
            DateTime::from_timestamp(t.0.as_second(), nanos)
        }),
    }
}

/// A BackupSession's or RestoreSession's outcome so far.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedSession {
    /// `Pending`, `Running`, `Succeeded`, `Failed`, `Skipped`, …
    pub phase: String,
    /// BackupSessions: the Snapshots the run made.
    pub snapshots: Vec<String>,
    /// Why it failed or was skipped, when it says.
    pub reason: Option<String>,
}

pub fn observe_session(obj: &DynamicObject) -> ObservedSession {
    let d = &obj.data;
    let phase = d
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending")
        .to_string();
    let snapshots = d
        .pointer("/status/snapshots")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    // KubeStash says why in a condition: `…Failed` or `BackupSkipped` set True, or a check False.
    let conditions: Vec<&Value> = d
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().collect())
        .unwrap_or_default();
    let message = |c: &&Value| {
        c["message"]
            .as_str()
            .filter(|m| !m.is_empty())
            .map(str::to_string)
    };
    let reason = conditions
        .iter()
        .filter(|c| {
            c["status"] == "True"
                && c["type"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("Failed") || t == "BackupSkipped")
        })
        .find_map(message)
        .or_else(|| {
            conditions
                .iter()
                .filter(|c| c["status"] == "False")
                .find_map(message)
        })
        .or_else(|| {
            d.pointer("/status/components")
                .and_then(Value::as_object)
                .and_then(|c| {
                    c.values()
                        .find_map(|v| v["error"].as_str().map(str::to_string))
                })
        });
    ObservedSession {
        phase,
        snapshots,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_storages_never_share_a_name() {
        let a = storage_name(&BackupScope::Tenant("acme".into()));
        let b = storage_name(&BackupScope::Tenant("acme-corp".into()));
        assert_ne!(a, b);
        assert!(a.len() <= 63);
        assert_ne!(storage_name(&BackupScope::Provider("p".into())), a);
    }

    #[test]
    fn manual_and_scheduled_runs_are_told_apart() {
        let session = manual_session_name("orders", "op-1");
        assert!(session.starts_with("orders-backup-manual-"));
        let snap = |bs: &str| {
            let obj: DynamicObject = serde_json::from_value(json!({
                "apiVersion": STORAGE_API, "kind": "Snapshot",
                "metadata": {"name": format!("orders-repo-{bs}"), "namespace": "ns"},
                "spec": {"repository": "orders-repo", "backupSession": bs},
                "status": {"phase": "Succeeded", "size": "1.5 KiB", "integrity": true,
                           "snapshotTime": "2026-12-02T10:00:00Z",
                           "components": {"dump": {"duration": "1.5s", "phase": "Succeeded"}}},
            }))
            .unwrap();
            observe_snapshot(&obj)
        };
        let manual = snap(&session);
        assert_eq!(manual.kind, BackupKind::Manual);
        assert_eq!(manual.status, BackupStatus::Succeeded);
        assert_eq!(manual.size_bytes, Some(1536));
        assert_eq!(manual.duration_seconds, Some(1.5));
        assert_eq!(
            snap("orders-backup-scheduled-1795000000").kind,
            BackupKind::Scheduled
        );
    }
}
