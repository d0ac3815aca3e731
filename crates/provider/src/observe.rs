//! KubeDB database objects → what the platform records about them; Kubernetes Events about them
//! → timeline entries.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::engine::{Engine, Size};
use kube::api::DynamicObject;
use serde_json::Value;

use crate::kubedb::quantity::parse_quantity;
use crate::translate::{
    meta, LABEL_DATABASE_ID, LABEL_DOMAIN, LABEL_MANAGED_BY, LABEL_OPERATION_ID, LABEL_PROJECT,
};

/// The labels that say whose an object is.
pub const OWNER_LABELS: [&str; 4] = [
    LABEL_MANAGED_BY,
    LABEL_DOMAIN,
    LABEL_PROJECT,
    LABEL_DATABASE_ID,
];

const GIB: f64 = 1073741824.0;

/// What a watcher (or a GET) saw of one KubeDB database object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedDatabase {
    pub engine: Engine,
    pub namespace: String,
    pub name: String,
    /// Our `dbaas.io/database-id` label.
    pub database_id: Option<String>,
    /// status.phase: Provisioning|DataRestoring|Ready|Critical|NotReady|Halted|Unknown
    pub phase: Option<String>,
    /// status.conditions as-is (`[]` when absent).
    pub conditions: Value,
    /// Members: `spec.replicas`, or for Redis Cluster the pods per shard (`spec.cluster.replicas`).
    pub replicas: Option<i64>,
    /// spec.version (the catalog object name).
    pub version: Option<String>,
    pub storage_gb: Option<i64>,
    /// Back-translated from the database container's requests when they match a size.
    pub size: Option<Size>,
    /// spec.authSecret.name
    pub auth_secret: Option<String>,
    /// spec.authSecret.externallyManaged: the Secret was handed in (by the platform), not made by
    /// KubeDB, which would make it again if it went missing.
    pub auth_secret_external: bool,
    /// The platform's ownership labels on the object (`managed-by`, domain, project, database
    /// id), as found; what orphan reports and ownership checks read.
    pub owner_labels: BTreeMap<String, String>,
    pub deletion_policy: Option<String>,
    pub halted: bool,
    /// metadata.deletionTimestamp set.
    pub being_deleted: bool,
    pub resource_version: Option<String>,
}

impl ObservedDatabase {
    /// Ready members as far as KubeDB tells (it does not count them): all of them when the phase
    /// is `Ready`, none when `Provisioning`/`NotReady`/`Halted`/`DataRestoring`, and for
    /// `Critical` (reachable but degraded) one fewer than desired. `None` when unknown.
    pub fn ready_replicas(&self) -> Option<i64> {
        let desired = self.replicas?;
        match self.phase.as_deref()? {
            "Ready" => Some(desired),
            "Critical" => Some((desired - 1).max(0)),
            "Provisioning" | "NotReady" | "Halted" | "DataRestoring" => Some(0),
            _ => None,
        }
    }

    /// The condition of that type, if any (`status` as "True"/"False"/"Unknown").
    pub fn condition(&self, type_: &str) -> Option<&Value> {
        self.conditions
            .as_array()?
            .iter()
            .find(|c| c["type"] == type_)
    }
}

fn size_of(resources: &Value) -> Option<Size> {
    let req = &resources["requests"];
    let cpu = parse_quantity(req["cpu"].as_str()?)?;
    let mem = parse_quantity(req["memory"].as_str()?)? / GIB;
    Size::ALL
        .into_iter()
        .find(|s| (s.cpu_cores() - cpu).abs() < 1e-6 && (s.memory_gb() - mem).abs() < 1e-6)
}

pub fn observe_database(engine: Engine, obj: &DynamicObject) -> ObservedDatabase {
    let spec = &obj.data["spec"];
    let status = &obj.data["status"];
    let m = meta(engine);
    let replicas = if engine == Engine::Redis && spec["mode"] == "Cluster" {
        spec["cluster"]["replicas"].as_i64()
    } else {
        spec["replicas"].as_i64()
    };
    let storage_gb = spec["storage"]["resources"]["requests"]["storage"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            spec["storage"]["resources"]["requests"]["storage"]
                .as_i64()
                .map(|n| n.to_string())
        })
        .and_then(|q| parse_quantity(&q))
        .map(|bytes| (bytes / GIB).round() as i64);
    let size = spec["podTemplate"]["spec"]["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == m.container))
        .and_then(|c| size_of(&c["resources"]));
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    ObservedDatabase {
        engine,
        namespace: obj.metadata.namespace.clone().unwrap_or_default(),
        name: obj.metadata.name.clone().unwrap_or_default(),
        database_id: obj
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_DATABASE_ID))
            .cloned(),
        phase: text(&status["phase"]),
        conditions: status
            .get("conditions")
            .filter(|c| c.is_array())
            .cloned()
            .unwrap_or_else(|| Value::Array(vec![])),
        replicas,
        version: text(&spec["version"]),
        storage_gb,
        size,
        auth_secret: text(&spec["authSecret"]["name"]),
        auth_secret_external: spec["authSecret"]["externallyManaged"] == true,
        owner_labels: obj
            .metadata
            .labels
            .iter()
            .flatten()
            .filter(|(k, _)| OWNER_LABELS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        deletion_policy: text(&spec["deletionPolicy"]),
        halted: spec["halted"] == true,
        being_deleted: obj.metadata.deletion_timestamp.is_some(),
        resource_version: obj.metadata.resource_version.clone(),
    }
}

/// What the platform reads of one of its OpsRequests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedOpsRequest {
    pub name: String,
    /// status.phase: Pending|Progressing|Successful|WaitingForApproval|Failed|Approved|Denied|Skipped
    pub phase: Option<String>,
    /// Why a request ended without success (phase Failed, Skipped or Denied), in KubeDB's words:
    /// the message (else the reason) of the condition named like the phase, else of the latest
    /// condition that is `False`.
    pub reason: Option<String>,
    /// Our `dbaas.io/operation-id` label.
    pub operation_id: Option<String>,
}

/// The human-readable part of a condition: its message, else its reason.
fn condition_text(c: &Value) -> Option<String> {
    ["message", "reason"]
        .iter()
        .filter_map(|k| c[*k].as_str())
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_string)
}

pub fn observe_ops_request(obj: &DynamicObject) -> ObservedOpsRequest {
    let status = &obj.data["status"];
    let phase = status["phase"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let conditions: &[Value] = status["conditions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let reason = match phase.as_deref() {
        Some(p @ ("Failed" | "Skipped" | "Denied")) => conditions
            .iter()
            .rev()
            .find(|c| c["type"] == p && c["status"] != "False")
            .and_then(condition_text)
            .or_else(|| {
                conditions
                    .iter()
                    .rev()
                    .filter(|c| c["status"] == "False")
                    .find_map(condition_text)
            })
            .or_else(|| Some(format!("the OpsRequest ended {p}"))),
        _ => None,
    };
    ObservedOpsRequest {
        name: obj.metadata.name.clone().unwrap_or_default(),
        phase,
        reason,
        operation_id: obj
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_OPERATION_ID))
            .cloned(),
    }
}

/// One Kubernetes Event about a database's KubeDB object or one of its OpsRequests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObservedEvent {
    /// `lastTimestamp`, else `eventTime`, else `firstTimestamp`, else the Event's
    /// `creationTimestamp`.
    pub at: DateTime<Utc>,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub message: String,
    /// `involvedObject.kind`, e.g. `Postgres` or `PostgresOpsRequest`.
    pub object_kind: String,
    pub object_name: String,
    /// How often it happened (`count`, else `series.count`, else 1).
    pub count: i64,
}

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// An Event (core/v1 or events.k8s.io/v1 shape) as a timeline entry.
pub fn observe_event(ev: &DynamicObject) -> ObservedEvent {
    let d = &ev.data;
    let created = ev.metadata.creation_timestamp.as_ref().and_then(|t| {
        let nanos = u32::try_from(t.0.subsec_nanosecond()).unwrap_or(0);
        DateTime::from_timestamp(t.0.as_second(), nanos)
    });
    let at = [
        "lastTimestamp",
        "eventTime",
        "firstTimestamp",
        "deprecatedLastTimestamp",
    ]
    .iter()
    .find_map(|k| parse_time(&d[*k]))
    .or(created)
    .unwrap_or(DateTime::UNIX_EPOCH);
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| d.pointer(k).and_then(Value::as_str))
            .unwrap_or_default()
            .to_string()
    };
    let type_ = Some(text(&["/type"]))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "Normal".into());
    ObservedEvent {
        at,
        type_,
        reason: text(&["/reason"]),
        message: text(&["/message", "/note"]),
        object_kind: text(&["/involvedObject/kind", "/regarding/kind"]),
        object_name: text(&["/involvedObject/name", "/regarding/name"]),
        count: d["count"]
            .as_i64()
            .or_else(|| d["series"]["count"].as_i64())
            .or_else(|| d["deprecatedCount"].as_i64())
            .filter(|c| *c > 0)
            .unwrap_or(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> DynamicObject {
        serde_json::from_value(v).expect("object")
    }

    #[test]
    fn reads_spec_status_and_labels() {
        let o = obj(json!({
            "apiVersion": "kubedb.com/v1", "kind": "Postgres",
            "metadata": { "name": "pg", "namespace": "ns", "resourceVersion": "7", "generation": 2,
                          "labels": { "dbaas.io/database-id": "id-1" },
                          "deletionTimestamp": "2026-07-20T10:00:00Z" },
            "spec": { "version": "17.9", "replicas": 3, "deletionPolicy": "Delete",
                      "storage": { "resources": { "requests": { "storage": "20Gi" } } },
                      "authSecret": { "kind": "Secret", "name": "pg-auth" },
                      "podTemplate": { "spec": { "containers": [
                          { "name": "pg-coordinator", "resources": { "requests": { "cpu": "8", "memory": "32Gi" } } },
                          { "name": "postgres", "resources": { "requests": { "cpu": "2", "memory": "8Gi" }, "limits": { "cpu": "2", "memory": "8Gi" } } } ] } } },
            "status": { "phase": "Critical", "observedGeneration": 2,
                        "conditions": [{ "type": "Ready", "status": "False" }] },
        }));
        let o = observe_database(Engine::Postgres, &o);
        assert_eq!(o.database_id.as_deref(), Some("id-1"));
        assert_eq!(o.phase.as_deref(), Some("Critical"));
        assert_eq!(o.replicas, Some(3));
        assert_eq!(o.ready_replicas(), Some(2));
        assert_eq!(o.storage_gb, Some(20));
        assert_eq!(o.size, Some(Size::Large));
        assert_eq!(o.auth_secret.as_deref(), Some("pg-auth"));
        assert!(!o.auth_secret_external);
        assert_eq!(
            o.owner_labels,
            BTreeMap::from([("dbaas.io/database-id".to_string(), "id-1".to_string())])
        );
        assert!(o.being_deleted);
        assert_eq!(o.condition("Ready").unwrap()["status"], "False");
        assert_eq!(o.resource_version.as_deref(), Some("7"));
    }

    #[test]
    fn empty_objects_read_as_unknown() {
        let o = obj(json!({ "apiVersion": "kubedb.com/v1", "kind": "Redis",
            "metadata": { "name": "r", "namespace": "ns" },
            "spec": { "version": "7.4.6", "mode": "Cluster", "cluster": { "shards": 3, "replicas": 3 },
                      "podTemplate": { "spec": { "containers": [ { "name": "redis", "resources": { "requests": { "cpu": "750m", "memory": "1Gi" } } } ] } } } }));
        let o = observe_database(Engine::Redis, &o);
        assert_eq!(o.phase, None);
        assert_eq!(o.conditions, json!([]));
        assert_eq!(o.replicas, Some(3), "per-shard members");
        assert_eq!(o.size, None, "no size is 0.75 CPU");
        assert_eq!(o.ready_replicas(), None);
        assert!(!o.being_deleted && !o.halted);
    }

    #[test]
    fn ops_requests_report_phase_reason_and_operation() {
        let o = obj(json!({
            "apiVersion": "ops.kubedb.com/v1alpha1", "kind": "PostgresOpsRequest",
            "metadata": { "name": "op-1", "namespace": "ns", "labels": { "dbaas.io/operation-id": "op-1" } },
            "spec": { "type": "Restart", "databaseRef": { "name": "pg" } },
            "status": { "phase": "Failed", "conditions": [
                { "type": "RestartPods", "status": "False", "reason": "StepFailed", "message": "pod pg-0 did not come back" },
                { "type": "Failed", "status": "True", "reason": "disk full", "message": "Restart failed: disk full" },
            ] },
        }));
        let o = observe_ops_request(&o);
        assert_eq!(o.name, "op-1");
        assert_eq!(o.phase.as_deref(), Some("Failed"));
        assert_eq!(o.reason.as_deref(), Some("Restart failed: disk full"));
        assert_eq!(o.operation_id.as_deref(), Some("op-1"));

        let o = obj(json!({
            "apiVersion": "ops.kubedb.com/v1alpha1", "kind": "PostgresOpsRequest",
            "metadata": { "name": "x", "namespace": "ns" },
            "status": { "phase": "Failed", "conditions": [
                { "type": "UpdatePetSets", "status": "False", "reason": "Timeout" } ] },
        }));
        assert_eq!(observe_ops_request(&o).reason.as_deref(), Some("Timeout"));
        let o = obj(json!({
            "apiVersion": "ops.kubedb.com/v1alpha1", "kind": "PostgresOpsRequest",
            "metadata": { "name": "x", "namespace": "ns" },
            "status": { "phase": "Progressing", "conditions": [
                { "type": "UpdatePetSets", "status": "False", "reason": "Waiting" } ] },
        }));
        let o = observe_ops_request(&o);
        assert_eq!((o.phase.as_deref(), o.reason), (Some("Progressing"), None));
        assert_eq!(o.operation_id, None);
    }

    #[test]
    fn events_read_their_time_kind_and_count() {
        let e = obj(json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": { "name": "pg.1", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z" },
            "involvedObject": { "apiVersion": "kubedb.com/v1", "kind": "Postgres", "name": "pg", "uid": "u" },
            "reason": "Ready", "message": "phase changed", "type": "Normal", "count": 3,
            "firstTimestamp": "2026-01-01T00:00:01Z", "lastTimestamp": "2026-01-01T00:00:09Z",
        }));
        let o = observe_event(&e);
        assert_eq!(o.at.to_rfc3339(), "2026-01-01T00:00:09+00:00");
        assert_eq!(
            (o.type_.as_str(), o.reason.as_str(), o.message.as_str()),
            ("Normal", "Ready", "phase changed")
        );
        assert_eq!(
            (o.object_kind.as_str(), o.object_name.as_str(), o.count),
            ("Postgres", "pg", 3)
        );
        let v = serde_json::to_value(&o).expect("json");
        assert_eq!(v["type"], "Normal");
        assert_eq!(v["object_kind"], "Postgres");

        // events.k8s.io style: eventTime and series, no legacy timestamps
        let e = obj(json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": { "name": "op.2", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z" },
            "involvedObject": { "kind": "PostgresOpsRequest", "name": "op" },
            "reason": "Failed", "message": "x", "type": "Warning",
            "eventTime": "2026-01-01T00:00:05.250000Z", "series": { "count": 4 },
        }));
        let o = observe_event(&e);
        assert_eq!(o.at.timestamp_millis() % 1000, 250);
        assert_eq!((o.type_.as_str(), o.count), ("Warning", 4));
        // nothing but the creation time
        let e = obj(json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": { "name": "op.3", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:07Z" },
            "involvedObject": { "kind": "PostgresOpsRequest", "name": "op" },
        }));
        let o = observe_event(&e);
        assert_eq!(o.at.to_rfc3339(), "2026-01-01T00:00:07+00:00");
        assert_eq!((o.type_.as_str(), o.count), ("Normal", 1));
    }
}
