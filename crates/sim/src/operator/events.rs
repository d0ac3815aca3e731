//! core/v1 Events the way KubeDB's controllers record them (client-go's legacy recorder): one
//! Event per transition on the object it is about, named `<object>.<unix-nanos in hex>`, with
//! `count: 1`, first/last timestamps and the reporting component. Recording is best effort: a
//! failed write is logged and never fails the reconcile.

use std::collections::{HashMap, HashSet};

use chrono::{SecondsFormat, Utc};
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use parking_lot::Mutex;
use serde_json::json;

use super::OperatorError;

/// `source.component` of the provisioner's events (what `kubectl describe` shows under "From").
pub const PROVISIONER: &str = "KubeDB Operator";
/// `source.component` of the ops-manager's events.
pub const OPS_MANAGER: &str = "KubeDB Ops-manager Operator";

pub const NORMAL: &str = "Normal";
pub const WARNING: &str = "Warning";

/// Above this many remembered transitions the memory is cleared (it only guards against
/// duplicates from overlapping reconciles and stale cache reads, so forgetting is harmless).
const MEMORY_CAP: usize = 50_000;

/// What has been recorded, so a transition yields one Event even when two reconciles overlap or
/// a reconcile works from a cached object that does not show the last status write yet.
#[derive(Default)]
pub struct Recorder {
    /// object uid → the phase last announced
    phases: Mutex<HashMap<String, String>>,
    /// (object uid, transition) already announced
    once: Mutex<HashSet<(String, String)>>,
}

fn uid_of(obj: &DynamicObject) -> String {
    obj.metadata.uid.clone().unwrap_or_default()
}

impl Recorder {
    /// Remembers `phase` as the object's announced phase; true when that is news.
    pub fn phase_changed(&self, obj: &DynamicObject, phase: &str) -> bool {
        let mut phases = self.phases.lock();
        if phases.len() > MEMORY_CAP {
            phases.clear();
        }
        phases.insert(uid_of(obj), phase.to_string()).as_deref() != Some(phase)
    }

    /// Remembers the object's phase without announcing anything (it did not change).
    pub fn phase_seen(&self, obj: &DynamicObject, phase: &str) {
        self.phase_changed(obj, phase);
    }

    /// True the first time this transition of this object is seen.
    pub fn first_time(&self, obj: &DynamicObject, transition: &str) -> bool {
        let mut once = self.once.lock();
        if once.len() > MEMORY_CAP {
            once.clear();
        }
        once.insert((uid_of(obj), transition.to_string()))
    }

    /// Forgets a deleted object.
    pub fn forget(&self, obj: &DynamicObject) {
        let uid = uid_of(obj);
        self.phases.lock().remove(&uid);
        self.once.lock().retain(|(u, _)| *u != uid);
    }
}

/// What one Event says.
pub struct Note<'a> {
    pub component: &'a str,
    pub type_: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
}

/// Writes one Event about `obj` (of kind `ar`) in the object's namespace; failures are logged.
pub async fn record(client: &kube::Client, ar: &ApiResource, obj: &DynamicObject, note: Note<'_>) {
    if let Err(e) = try_record(client, ar, obj, &note).await {
        tracing::warn!(
            error = %e,
            kind = %ar.kind,
            name = obj.metadata.name.as_deref().unwrap_or_default(),
            reason = note.reason,
            "could not record an event"
        );
    }
}

async fn try_record(
    client: &kube::Client,
    ar: &ApiResource,
    obj: &DynamicObject,
    note: &Note<'_>,
) -> Result<(), OperatorError> {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let ns = obj
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let events: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &super::children::events_ar());
    let now = Utc::now();
    let stamp = now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut nanos = now.timestamp_nanos_opt().unwrap_or_default() as u64;
    // the name is the recorder's `<object>.<nanos>`; a clash (same nanosecond) takes the next one
    for _ in 0..3 {
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": { "name": format!("{name}.{nanos:016x}"), "namespace": ns },
            "involvedObject": {
                "apiVersion": ar.api_version,
                "kind": ar.kind,
                "name": name,
                "namespace": ns,
                "uid": obj.metadata.uid,
                "resourceVersion": obj.metadata.resource_version,
            },
            "reason": note.reason,
            "message": note.message,
            "type": note.type_,
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": { "component": note.component },
            "reportingComponent": note.component,
            "reportingInstance": "",
        });
        let event: DynamicObject = serde_json::from_value(event)?;
        match events.create(&PostParams::default(), &event).await {
            Err(kube::Error::Api(s)) if s.code == 409 => nanos += 1,
            other => return Ok(other.map(|_| ())?),
        }
    }
    Ok(())
}
