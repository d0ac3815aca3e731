//! Idempotent operations on one cluster. Every step can be retried: a create finds its own
//! object, a delete of something already gone succeeds.

use base64::Engine as _;
use domain::engine::Engine;
use std::collections::{BTreeMap, HashSet};

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
    Preconditions,
};
use kube::core::GroupVersionKind;
use serde_json::{json, Value};

use crate::connect::Cluster;
use crate::error::ProviderError;
use crate::kubedb::common::DeletionPolicy;
use crate::kubedb::names::{DB_GROUP, DB_VERSION, OPS_GROUP, OPS_VERSION};
use crate::kubedb::names::{LABEL_INSTANCE, MANAGED_BY as KUBEDB_MANAGED_BY};
use crate::observe::{
    observe_database, observe_event, observe_ops_request, ObservedDatabase, ObservedEvent,
    ObservedOpsRequest,
};
use crate::translate::{
    meta, monitoring_patch, Owner, LABEL_DATABASE_ID, LABEL_MANAGED_BY, LABEL_OPERATION_ID,
};

/// Where a database is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// In-cluster DNS name, or the load balancer's IP/hostname once assigned.
    pub host: String,
    pub port: u16,
    pub service_type: String,
    pub loadbalancer_ip: Option<String>,
}

/// The KubeDB database kind of an engine.
pub fn database_resource(engine: Engine) -> ApiResource {
    let m = meta(engine);
    ApiResource {
        group: DB_GROUP.into(),
        version: DB_VERSION.into(),
        api_version: format!("{DB_GROUP}/{DB_VERSION}"),
        kind: m.kind.into(),
        plural: m.plural.into(),
    }
}

/// The KubeDB OpsRequest kind of an engine (`ops.kubedb.com/v1alpha1`).
pub fn ops_request_resource(engine: Engine) -> ApiResource {
    let m = meta(engine);
    ApiResource {
        group: OPS_GROUP.into(),
        version: OPS_VERSION.into(),
        api_version: format!("{OPS_GROUP}/{OPS_VERSION}"),
        kind: m.ops_kind.into(),
        plural: m.ops_plural.into(),
    }
}

fn core(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// Plurals of the kinds the platform creates, so no discovery round trip is needed.
fn known_plural(api_version: &str, kind: &str) -> Option<&'static str> {
    Some(match (api_version, kind) {
        ("v1", "Secret") => "secrets",
        ("v1", "Namespace") => "namespaces",
        ("v1", "Service") => "services",
        ("v1", "ConfigMap") => "configmaps",
        ("networking.k8s.io/v1", "NetworkPolicy") => "networkpolicies",
        (crate::backup::STORAGE_API, "BackupStorage") => "backupstorages",
        (crate::backup::STORAGE_API, "RetentionPolicy") => "retentionpolicies",
        (crate::backup::STORAGE_API, "Snapshot") => "snapshots",
        (crate::backup::CORE_API, "BackupConfiguration") => "backupconfigurations",
        (crate::backup::CORE_API, "BackupSession") => "backupsessions",
        (crate::backup::CORE_API, "RestoreSession") => "restoresessions",
        _ => return None,
    })
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn labels_of(obj: &DynamicObject) -> BTreeMap<String, String> {
    obj.metadata.labels.clone().unwrap_or_default()
}

/// The labels an object we are about to create carries.
fn wanted_labels(obj: &Value) -> BTreeMap<String, String> {
    obj["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// Every label we would put on the object is on the existing one, with the same value.
fn carries(existing: &DynamicObject, want: &BTreeMap<String, String>) -> bool {
    let have = labels_of(existing);
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// Whether `have` holds every field of `want` with the same value (the API server adds defaults
/// and bookkeeping of its own: extra fields do not count).
pub fn holds(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => w
            .iter()
            .all(|(k, v)| h.get(k).is_some_and(|hv| holds(hv, v))),
        (Value::Array(h), Value::Array(w)) => {
            h.len() == w.len() && h.iter().zip(w).all(|(a, b)| holds(a, b))
        }
        _ => have == want,
    }
}

/// The refusal to touch an object that is not this database's.
fn not_owned(kind: &str, ns: &str, name: &str, existing: &DynamicObject) -> ProviderError {
    let whose = Owner::describe(&labels_of(existing));
    let at = if ns.is_empty() {
        name.to_string()
    } else {
        format!("{ns}/{name}")
    };
    ProviderError::Conflict(format!(
        "{kind} {at} belongs to {whose}, not to this database; the platform does not read, change or delete it"
    ))
}

/// The refusal to take an OpsRequest of another operation (or another owner) for this one's.
fn not_this_operation(
    kind: &str,
    ns: &str,
    name: &str,
    existing: &DynamicObject,
    owner: &Owner<'_>,
) -> ProviderError {
    let labels = labels_of(existing);
    if owner.owns_object(&labels) {
        let theirs = labels
            .get(LABEL_OPERATION_ID)
            .map(|id| format!("operation {id}"))
            .unwrap_or_else(|| "no operation".into());
        return ProviderError::Conflict(format!(
            "{kind} {ns}/{name} belongs to {theirs} of this database, not to this operation; the platform does not change or reuse it"
        ));
    }
    not_owned(kind, ns, name, existing)
}

/// Every key of `want` has that value in `have` (objects compared key by key, one level).
fn spec_has(have: &Value, want: &Value) -> bool {
    // A field wanted null reads so when it is absent.
    want.as_object().is_some_and(|w| {
        w.iter()
            .all(|(k, v)| have.get(k).unwrap_or(&Value::Null) == v)
    })
}

/// Deletes only the object with this uid: if it was replaced meanwhile, the API answers 409.
fn delete_exactly(uid: Option<String>) -> DeleteParams {
    DeleteParams {
        preconditions: Some(Preconditions {
            uid,
            resource_version: None,
        }),
        ..DeleteParams::default()
    }
}

fn parse_policy(policy: &str) -> Result<&'static str, ProviderError> {
    DeletionPolicy::parse(policy)
        .map(DeletionPolicy::as_str)
        .ok_or_else(|| {
            ProviderError::Permanent(format!(
                "{policy:?} is not a deletion policy (Halt, Delete, WipeOut or DoNotTerminate)"
            ))
        })
}

fn to_dynamic(obj: &Value) -> Result<DynamicObject, ProviderError> {
    serde_json::from_value(obj.clone())
        .map_err(|e| ProviderError::Permanent(format!("malformed object: {e}")))
}

impl Cluster {
    fn api(&self, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) if !ns.is_empty() => Api::namespaced_with(self.client().clone(), ns, ar),
            _ => Api::all_with(self.client().clone(), ar),
        }
    }

    async fn resource_for(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<ApiResource, ProviderError> {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        if let Some(plural) = known_plural(api_version, kind) {
            return Ok(ApiResource {
                group: group.into(),
                version: version.into(),
                api_version: api_version.into(),
                kind: kind.into(),
                plural: plural.into(),
            });
        }
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, _caps) = kube::discovery::pinned_kind(self.client(), &gvk)
            .await
            .map_err(|e| {
                ProviderError::from(e).context(&format!("looking up {api_version}/{kind}"))
            })?;
        Ok(ar)
    }

    /// Creates the namespace. One that exists is accepted only when it carries exactly our labels
    /// for this project (a retry); anything else is a Conflict: nothing is adopted.
    pub async fn ensure_namespace(&self, obj: &Value) -> Result<(), ProviderError> {
        let name = str_at(obj, "/metadata/name")
            .unwrap_or_default()
            .to_string();
        let api = self.api(&core("Namespace", "namespaces"), None);
        match api.create(&PostParams::default(), &to_dynamic(obj)?).await {
            Ok(_) => Ok(()),
            Err(e) => match ProviderError::from(e) {
                ProviderError::Conflict(_) => {
                    let existing = api.get(&name).await?;
                    if carries(&existing, &wanted_labels(obj)) {
                        Ok(())
                    } else {
                        Err(not_owned("namespace", "", &name, &existing))
                    }
                }
                other => Err(other.context(&format!("creating namespace {name}"))),
            },
        }
    }

    /// Ok when the namespace is this project's or does not exist (then it holds nothing to read);
    /// a Conflict when it exists with another owner's labels.
    pub async fn check_namespace(&self, ns: &str, owner: &Owner<'_>) -> Result<(), ProviderError> {
        let api = self.api(&core("Namespace", "namespaces"), None);
        match api.get_opt(ns).await? {
            Some(existing) if !owner.owns_namespace(&labels_of(&existing)) => {
                Err(not_owned("namespace", "", ns, &existing))
            }
            _ => Ok(()),
        }
    }

    /// Create-if-absent for a namespaced object (Secret, NetworkPolicy, …) by apiVersion/kind.
    /// Never patches what exists; an existing object without exactly our labels (another database,
    /// another tenant, or made outside the platform) is a Conflict.
    pub async fn ensure_object(&self, obj: &Value) -> Result<(), ProviderError> {
        let api_version = str_at(obj, "/apiVersion").unwrap_or_default();
        let kind = str_at(obj, "/kind").unwrap_or_default();
        let name = str_at(obj, "/metadata/name").unwrap_or_default();
        let ns = str_at(obj, "/metadata/namespace");
        let ar = self.resource_for(api_version, kind).await?;
        let api = self.api(&ar, ns);
        match api.create(&PostParams::default(), &to_dynamic(obj)?).await {
            Ok(_) => Ok(()),
            Err(e) => match ProviderError::from(e) {
                ProviderError::Conflict(_) => {
                    let existing = api.get(name).await?;
                    if carries(&existing, &wanted_labels(obj)) {
                        Ok(())
                    } else {
                        Err(not_owned(kind, ns.unwrap_or_default(), name, &existing))
                    }
                }
                other => Err(other.context(&format!("creating {kind} {name}"))),
            },
        }
    }

    /// Creates the KubeDB object if absent. One that exists with this database's labels: Ok (a
    /// retry). Anything else: Conflict.
    pub async fn create_database(&self, engine: Engine, obj: &Value) -> Result<(), ProviderError> {
        let name = str_at(obj, "/metadata/name").unwrap_or_default();
        let ns = str_at(obj, "/metadata/namespace").unwrap_or_default();
        let api = self.api(&database_resource(engine), Some(ns));
        let kind = meta(engine).kind;
        match api.create(&PostParams::default(), &to_dynamic(obj)?).await {
            Ok(_) => Ok(()),
            Err(e) => match ProviderError::from(e) {
                ProviderError::Conflict(_) => {
                    let existing = api.get(name).await?;
                    let want = wanted_labels(obj);
                    if want.contains_key(LABEL_DATABASE_ID) && carries(&existing, &want) {
                        Ok(())
                    } else {
                        Err(not_owned(kind, ns, name, &existing))
                    }
                }
                other => Err(other.context(&format!("creating {kind} {ns}/{name}"))),
            },
        }
    }

    pub async fn get_database(
        &self,
        engine: Engine,
        ns: &str,
        name: &str,
    ) -> Result<Option<ObservedDatabase>, ProviderError> {
        let api = self.api(&database_resource(engine), Some(ns));
        Ok(api
            .get_opt(name)
            .await?
            .map(|o| observe_database(engine, &o)))
    }

    /// The KubeDB object if it exists and is this database's; a Conflict when another owner's
    /// object has the name.
    pub async fn get_owned_database(
        &self,
        engine: Engine,
        ns: &str,
        name: &str,
        owner: &Owner<'_>,
    ) -> Result<Option<ObservedDatabase>, ProviderError> {
        let api = self.api(&database_resource(engine), Some(ns));
        match api.get_opt(name).await? {
            None => Ok(None),
            Some(o) if owner.owns_object(&labels_of(&o)) => Ok(Some(observe_database(engine, &o))),
            Some(o) => Err(not_owned(meta(engine).kind, ns, name, &o)),
        }
    }

    /// The Kubernetes Events about this database: those whose involvedObject is its KubeDB object
    /// (by uid) or one of its OpsRequests the platform made (our labels, `databaseRef` this
    /// database; matched by uid, or by name when an Event carries none), newest first, at most
    /// `limit`. Another owner's object under the name is a Conflict, exactly as
    /// [`Cluster::get_owned_database`] answers, and nothing is read. A database object that is
    /// not there leaves its OpsRequests' Events; a missing namespace, events resource or
    /// OpsRequest kind reads as no Events. One GET and at most three lists, no per-Event reads.
    pub async fn database_events(
        &self,
        engine: Engine,
        namespace: &str,
        name: &str,
        owner: &Owner<'_>,
        limit: usize,
    ) -> Result<Vec<ObservedEvent>, ProviderError> {
        let kind = meta(engine).kind;
        let ops_kind = meta(engine).ops_kind;
        let db_api = self.api(&database_resource(engine), Some(namespace));
        let db = match db_api.get_opt(name).await? {
            Some(o) if !owner.owns_object(&labels_of(&o)) => {
                return Err(not_owned(kind, namespace, name, &o))
            }
            found => found,
        };
        let ops_api = self.api(&ops_request_resource(engine), Some(namespace));
        let owned = ListParams::default().labels(&owner.label_selector());
        let ops = match ops_api.list(&owned).await.map_err(ProviderError::from) {
            Ok(list) => list.items,
            Err(ProviderError::NotFound(_)) => Vec::new(),
            Err(e) => {
                return Err(e.context(&format!("listing the {ops_kind}s of {namespace}/{name}")))
            }
        };
        let ops: Vec<DynamicObject> = ops
            .into_iter()
            .filter(|o| {
                owner.owns_object(&labels_of(o)) && o.data["spec"]["databaseRef"]["name"] == name
            })
            .collect();
        let op_uids: HashSet<&str> = ops
            .iter()
            .filter_map(|o| o.metadata.uid.as_deref())
            .collect();
        let op_names: HashSet<&str> = ops
            .iter()
            .filter_map(|o| o.metadata.name.as_deref())
            .collect();

        let events = self.api(&core("Event", "events"), Some(namespace));
        let list = |selector: String| {
            let events = events.clone();
            async move {
                match events
                    .list(&ListParams::default().fields(&selector))
                    .await
                    .map_err(ProviderError::from)
                {
                    Ok(l) => Ok(l.items),
                    Err(ProviderError::NotFound(_)) => Ok(Vec::new()),
                    Err(e) => Err(e.context(&format!("listing the events of {namespace}/{name}"))),
                }
            }
        };
        let mut found: Vec<DynamicObject> = Vec::new();
        if let Some(uid) = db.as_ref().and_then(|d| d.metadata.uid.as_deref()) {
            found.extend(
                list(format!("involvedObject.uid={uid}"))
                    .await?
                    .into_iter()
                    .filter(|e| e.data["involvedObject"]["uid"] == uid),
            );
        }
        if !ops.is_empty() {
            found.extend(
                list(format!("involvedObject.kind={ops_kind}"))
                    .await?
                    .into_iter()
                    .filter(|e| {
                        let io = &e.data["involvedObject"];
                        if io["kind"] != ops_kind {
                            return false;
                        }
                        match io["uid"].as_str().filter(|u| !u.is_empty()) {
                            Some(uid) => op_uids.contains(uid),
                            None => io["name"].as_str().is_some_and(|n| op_names.contains(n)),
                        }
                    }),
            );
        }
        // newest first; Events of one second in the order they were written (resourceVersion)
        let mut seen = HashSet::new();
        let mut out: Vec<(ObservedEvent, u64, String)> = found
            .into_iter()
            .filter(|e| seen.insert(e.metadata.uid.clone().or_else(|| e.metadata.name.clone())))
            .map(|e| {
                let rv = e
                    .metadata
                    .resource_version
                    .as_deref()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let name = e.metadata.name.clone().unwrap_or_default();
                (observe_event(&e), rv, name)
            })
            .collect();
        out.sort_by(|a, b| (b.0.at, b.1, &b.2).cmp(&(a.0.at, a.1, &a.2)));
        out.truncate(limit);
        Ok(out.into_iter().map(|(e, _, _)| e).collect())
    }

    /// Sets `deletionPolicy` (`WipeOut` when `wipe_out`, which also removes the secrets KubeDB
    /// made; `Delete` otherwise, which removes the volumes), then deletes – only when the object is
    /// this database's (Conflict otherwise, nothing changed). The patch carries the
    /// resourceVersion that was checked and the delete the uid, so an object swapped in between is
    /// never touched. Already gone = Ok.
    pub async fn delete_database(
        &self,
        engine: Engine,
        ns: &str,
        name: &str,
        owner: &Owner<'_>,
        wipe_out: bool,
    ) -> Result<(), ProviderError> {
        let api = self.api(&database_resource(engine), Some(ns));
        let kind = meta(engine).kind;
        let policy = if wipe_out { "WipeOut" } else { "Delete" };
        // A 409 here means the object changed between the check and the write: look again.
        for _ in 0..5 {
            let Some(existing) = api.get_opt(name).await? else {
                return Ok(());
            };
            if !owner.owns_object(&labels_of(&existing)) {
                return Err(not_owned(kind, ns, name, &existing));
            }
            let patch = json!({
                "metadata": { "resourceVersion": existing.metadata.resource_version },
                "spec": { "deletionPolicy": policy },
            });
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(ProviderError::from)
            {
                Ok(_) => {}
                Err(ProviderError::NotFound(_)) => return Ok(()),
                Err(ProviderError::Conflict(_)) => continue,
                Err(other) => {
                    return Err(other.context(&format!("setting deletionPolicy of {ns}/{name}")))
                }
            }
            match api
                .delete(name, &delete_exactly(existing.metadata.uid.clone()))
                .await
                .map_err(ProviderError::from)
            {
                Ok(_) | Err(ProviderError::NotFound(_)) => return Ok(()),
                Err(ProviderError::Conflict(_)) => continue,
                Err(other) => return Err(other.context(&format!("deleting {ns}/{name}"))),
            }
        }
        Err(ProviderError::Transient(format!(
            "{kind} {ns}/{name} kept changing while it was being deleted"
        )))
    }

    /// Creates the operation's OpsRequest (from [`crate::day2::ops_request`]). One that exists
    /// under the name with this operation's labels is success (a retried step); one with any other
    /// labels (another operation, database or tenant, or made outside the platform) is a
    /// Conflict naming whose it is, and is left as it is. Admission refusals (e.g. a scaling
    /// KubeDB does not allow) are Permanent with KubeDB's message.
    pub async fn submit_ops_request(
        &self,
        engine: Engine,
        obj: &Value,
        owner: &Owner<'_>,
    ) -> Result<(), ProviderError> {
        let name = str_at(obj, "/metadata/name").unwrap_or_default();
        let ns = str_at(obj, "/metadata/namespace").unwrap_or_default();
        let kind = meta(engine).ops_kind;
        let want = wanted_labels(obj);
        if !owner.owns_object(&want) || !want.contains_key(LABEL_OPERATION_ID) {
            return Err(ProviderError::Permanent(format!(
                "{kind} {ns}/{name} does not carry this database's and operation's labels; not submitted"
            )));
        }
        let api = self.api(&ops_request_resource(engine), Some(ns));
        let judge = |existing: &DynamicObject| {
            if carries(existing, &want) {
                Ok(())
            } else {
                Err(not_this_operation(kind, ns, name, existing, owner))
            }
        };
        let read =
            |e: kube::Error| ProviderError::from(e).context(&format!("reading {kind} {ns}/{name}"));
        // Look first: KubeDB's admission runs before the name check, so re-creating a request
        // that already ran can be refused on its merits (a volume that has meanwhile grown is
        // "not larger than the current size") instead of answering AlreadyExists.
        if let Some(existing) = api.get_opt(name).await.map_err(read)? {
            return judge(&existing);
        }
        match api.create(&PostParams::default(), &to_dynamic(obj)?).await {
            Ok(_) => Ok(()),
            Err(e) => match ProviderError::from(e) {
                ProviderError::Conflict(_) => judge(&api.get(name).await.map_err(read)?),
                // made meanwhile by an earlier attempt whose answer was lost
                ProviderError::Permanent(m) => match api.get_opt(name).await.map_err(read)? {
                    Some(existing) => judge(&existing),
                    None => Err(ProviderError::Permanent(format!(
                        "creating {kind} {ns}/{name}: {m}"
                    ))),
                },
                other => Err(other.context(&format!("creating {kind} {ns}/{name}"))),
            },
        }
    }

    /// The OpsRequest's phase and outcome; None when it does not exist (or the cluster has no
    /// such kind); a Conflict when the name holds another owner's object, which is not read.
    pub async fn get_ops_request(
        &self,
        engine: Engine,
        namespace: &str,
        name: &str,
        owner: &Owner<'_>,
    ) -> Result<Option<ObservedOpsRequest>, ProviderError> {
        let api = self.api(&ops_request_resource(engine), Some(namespace));
        let kind = meta(engine).ops_kind;
        let found = api.get_opt(name).await.map_err(|e| {
            ProviderError::from(e).context(&format!("reading {kind} {namespace}/{name}"))
        })?;
        match found {
            None => Ok(None),
            Some(o) if owner.owns_object(&labels_of(&o)) => Ok(Some(observe_ops_request(&o))),
            Some(o) => Err(not_owned(kind, namespace, name, &o)),
        }
    }

    /// Pause (`halted: true`, with `deletion_policy` `Halt`) or resume (`halted: false`, with the
    /// policy to return to): one merge patch of `spec.halted` and `spec.deletionPolicy` of this
    /// database's KubeDB object (kubedb-api §2.5). Conflict when the object is another owner's;
    /// NotFound when it is not there. The patch carries the resourceVersion that was checked, so
    /// an object swapped in meanwhile is never changed. Nothing is written when the object
    /// already says so.
    pub async fn set_halted(
        &self,
        engine: Engine,
        namespace: &str,
        name: &str,
        owner: &Owner<'_>,
        halted: bool,
        deletion_policy: &str,
    ) -> Result<(), ProviderError> {
        let policy = parse_policy(deletion_policy)?;
        self.patch_owned_spec(
            engine,
            namespace,
            name,
            owner,
            json!({ "halted": halted, "deletionPolicy": policy }),
        )
        .await
    }

    /// Sets `spec.deletionPolicy` of this database's KubeDB object (deletion protection on:
    /// `DoNotTerminate`; off: `Delete`/`WipeOut`/`Halt`), owner-checked and
    /// resourceVersion-preconditioned like [`Cluster::set_halted`].
    pub async fn set_deletion_policy(
        &self,
        engine: Engine,
        namespace: &str,
        name: &str,
        owner: &Owner<'_>,
        deletion_policy: &str,
    ) -> Result<(), ProviderError> {
        let policy = parse_policy(deletion_policy)?;
        self.patch_owned_spec(
            engine,
            namespace,
            name,
            owner,
            json!({ "deletionPolicy": policy }),
        )
        .await
    }

    /// Puts the user's labels and annotations of a database on its KubeDB object: what `before`
    /// had and `after` lacks is removed, the rest set. Only user keys change (they can never use
    /// the platform's prefixes, so the ownership labels stay); another owner's object is a
    /// Conflict, untouched.
    pub async fn set_user_metadata(
        &self,
        engine: Engine,
        namespace: &str,
        name: &str,
        owner: &Owner<'_>,
        before: (&BTreeMap<String, String>, &BTreeMap<String, String>),
        after: (&BTreeMap<String, String>, &BTreeMap<String, String>),
    ) -> Result<(), ProviderError> {
        let merge = |old: &BTreeMap<String, String>, new: &BTreeMap<String, String>| {
            let mut m = serde_json::Map::new();
            for k in old.keys().filter(|k| !new.contains_key(*k)) {
                m.insert(k.clone(), Value::Null);
            }
            for (k, v) in new {
                m.insert(k.clone(), json!(v));
            }
            Value::Object(m)
        };
        let metadata = json!({
            "labels": merge(before.0, after.0),
            "annotations": merge(before.1, after.1),
        });
        let reads = |now: &Option<BTreeMap<String, String>>,
                     want: &BTreeMap<String, String>,
                     gone: &BTreeMap<String, String>| {
            let empty = BTreeMap::new();
            let now = now.as_ref().unwrap_or(&empty);
            want.iter().all(|(k, v)| now.get(k) == Some(v))
                && gone
                    .keys()
                    .all(|k| want.contains_key(k) || !now.contains_key(k))
        };
        let done = |o: &DynamicObject| {
            reads(&o.metadata.labels, after.0, before.0)
                && reads(&o.metadata.annotations, after.1, before.1)
        };
        self.patch_owned(
            engine,
            namespace,
            name,
            owner,
            |_: &DynamicObject| json!({ "metadata": metadata.clone() }),
            done,
        )
        .await
    }

    /// Merge-patches `spec` of the owned database object with the checked resourceVersion; a
    /// 409 (changed in between) looks again.
    async fn patch_owned_spec(
        &self,
        engine: Engine,
        ns: &str,
        name: &str,
        owner: &Owner<'_>,
        spec: Value,
    ) -> Result<(), ProviderError> {
        let done = |o: &DynamicObject| spec_has(&o.data["spec"], &spec);
        let body = |_: &DynamicObject| json!({ "spec": spec.clone() });
        self.patch_owned(engine, ns, name, owner, body, done).await
    }

    /// Turns KubeDB monitoring on (with `agent`) or off on an owned database object: its
    /// `spec.monitor` and the stats Service template (KubeDB then makes or removes the stats
    /// Service and, for the operator agent, the ServiceMonitor).
    pub async fn set_monitoring(
        &self,
        db: &domain::model::Database,
        ns: &str,
        name: &str,
        agent: Option<&crate::translate::MonitorAgent>,
    ) -> Result<(), ProviderError> {
        let owner = Owner::of(db);
        let patch = |o: &DynamicObject| monitoring_patch(&o.data["spec"], db, agent);
        let done = |o: &DynamicObject| spec_has(&o.data["spec"], &patch(o));
        let body = |o: &DynamicObject| json!({ "spec": patch(o) });
        self.patch_owned(db.engine, ns, name, &owner, body, done)
            .await
    }

    /// Merge-patches the owned database object (unless `done` says it already reads so) with the
    /// checked resourceVersion; a 409 (changed in between) looks again.
    async fn patch_owned(
        &self,
        engine: Engine,
        ns: &str,
        name: &str,
        owner: &Owner<'_>,
        body: impl Fn(&DynamicObject) -> Value,
        done: impl Fn(&DynamicObject) -> bool,
    ) -> Result<(), ProviderError> {
        let api = self.api(&database_resource(engine), Some(ns));
        let kind = meta(engine).kind;
        for _ in 0..5 {
            let Some(existing) = api.get_opt(name).await? else {
                return Err(ProviderError::NotFound(format!(
                    "{kind} {ns}/{name} not found"
                )));
            };
            if !owner.owns_object(&labels_of(&existing)) {
                return Err(not_owned(kind, ns, name, &existing));
            }
            if done(&existing) {
                return Ok(());
            }
            let mut patch = body(&existing);
            patch["metadata"]["resourceVersion"] = json!(existing.metadata.resource_version);
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(ProviderError::from)
            {
                Ok(_) => return Ok(()),
                Err(ProviderError::Conflict(_)) => continue,
                Err(ProviderError::NotFound(_)) => {
                    return Err(ProviderError::NotFound(format!(
                        "{kind} {ns}/{name} not found"
                    )))
                }
                Err(other) => return Err(other.context(&format!("updating {kind} {ns}/{name}"))),
            }
        }
        Err(ProviderError::Transient(format!(
            "{kind} {ns}/{name} kept changing while it was being updated"
        )))
    }

    /// Deletes a namespaced object of this database (uid-exact); NotFound = Ok; another owner's
    /// object = Conflict, untouched.
    pub async fn delete_object(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
        owner: &Owner<'_>,
    ) -> Result<(), ProviderError> {
        let ar = self.resource_for(api_version, kind).await?;
        let api = self.api(&ar, Some(ns));
        let Some(existing) = api.get_opt(name).await? else {
            return Ok(());
        };
        if !owner.owns_object(&labels_of(&existing)) {
            return Err(not_owned(kind, ns, name, &existing));
        }
        match api
            .delete(name, &delete_exactly(existing.metadata.uid.clone()))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match ProviderError::from(e) {
                ProviderError::NotFound(_) => Ok(()),
                ProviderError::Conflict(_) => Err(ProviderError::Transient(format!(
                    "{kind} {ns}/{name} was replaced while being deleted"
                ))),
                other => Err(other.context(&format!("deleting {kind} {ns}/{name}"))),
            },
        }
    }

    /// The exporter port of the database's `<name>-stats` Service, if it has one. The platform
    /// reads nothing that is not its record's: the KubeDB object must carry the database's
    /// ownership labels, and the Service must be that object's offshoot (its controller owner
    /// reference names the object's uid, as KubeDB sets it). `None`: no such Service (monitoring
    /// off, or not made yet).
    pub async fn stats_port(
        &self,
        engine: Engine,
        ns: &str,
        name: &str,
        owner: &Owner<'_>,
    ) -> Result<Option<u16>, ProviderError> {
        let db = self.api(&database_resource(engine), Some(ns));
        let Some(object) = db.get_opt(name).await? else {
            return Ok(None);
        };
        if !owner.owns_object(&labels_of(&object)) {
            return Err(not_owned(meta(engine).kind, ns, name, &object));
        }
        let service = crate::kubedb::names::stats_service(name);
        let api = self.api(&core("Service", "services"), Some(ns));
        let Some(svc) = api.get_opt(&service).await? else {
            return Ok(None);
        };
        let offshoot = object.metadata.uid.is_some()
            && svc.metadata.owner_references.iter().flatten().any(|r| {
                r.controller == Some(true) && Some(&r.uid) == object.metadata.uid.as_ref()
            });
        if !offshoot {
            return Err(ProviderError::Conflict(format!(
                "Service {ns}/{service} is not an offshoot of this database's KubeDB object; the platform does not read it"
            )));
        }
        let ports = svc.data["spec"]["ports"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let port = ports
            .iter()
            .find(|p| p["name"] == crate::kubedb::names::EXPORTER_PORT_NAME)
            .or(ports.first())
            .and_then(|p| p["port"].as_u64())
            .and_then(|p| u16::try_from(p).ok());
        Ok(port)
    }

    /// The exporter's page (Prometheus text format) of the database's stats Service, through the
    /// API server's service proxy: the platform needs no network path into the cluster.
    pub async fn scrape_exporter(
        &self,
        ns: &str,
        name: &str,
        port: u16,
    ) -> Result<String, ProviderError> {
        let path = format!(
            "/api/v1/namespaces/{ns}/services/{}:{port}/proxy/metrics",
            crate::kubedb::names::stats_service(name)
        );
        let req = http::Request::get(path)
            .header(http::header::ACCEPT, "text/plain")
            .body(Vec::new())
            .map_err(|e| ProviderError::Permanent(format!("building the scrape request: {e}")))?;
        Ok(self.client().request_text(req).await?)
    }

    /// The primary Service `<name>` (same name for every engine). ClusterIP → host
    /// `<svc>.<ns>.svc.cluster.local`; LoadBalancer → the ingress IP/hostname once assigned, the
    /// in-cluster name until then (`loadbalancer_ip: None`). None when the Service is not there yet.
    pub async fn read_endpoint(
        &self,
        engine: Engine,
        ns: &str,
        name: &str,
    ) -> Result<Option<Endpoint>, ProviderError> {
        let api = self.api(&core("Service", "services"), Some(ns));
        let Some(svc) = api.get_opt(name).await? else {
            return Ok(None);
        };
        let m = meta(engine);
        let spec = &svc.data["spec"];
        let ports = spec["ports"].as_array().cloned().unwrap_or_default();
        let port = ports
            .iter()
            .find(|p| p["name"] == m.port_name)
            .or_else(|| {
                ports
                    .iter()
                    .find(|p| p["port"].as_i64() == Some(i64::from(m.port)))
            })
            .or(ports.first())
            .and_then(|p| p["port"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| engine.default_port());
        let service_type = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
        let internal = format!("{name}.{ns}.svc.cluster.local");
        if service_type == "LoadBalancer" {
            let ingress = &svc.data["status"]["loadBalancer"]["ingress"][0];
            let lb = ingress["ip"]
                .as_str()
                .or_else(|| ingress["hostname"].as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            return Ok(Some(Endpoint {
                host: lb.clone().unwrap_or(internal),
                port,
                service_type,
                loadbalancer_ip: lb,
            }));
        }
        Ok(Some(Endpoint {
            host: internal,
            port,
            service_type,
            loadbalancer_ip: None,
        }))
    }

    /// `username`/`password` of the database's auth Secret (the one its KubeDB object names),
    /// decoded; None while the object or the Secret is not there yet. The object must be this
    /// database's, and the Secret one the platform made for it (our labels) or the one KubeDB
    /// generated for that object (KubeDB's labels naming it, none of ours); anything else is a
    /// Conflict and is not read.
    pub async fn read_credentials(
        &self,
        engine: Engine,
        ns: &str,
        name: &str,
        owner: &Owner<'_>,
    ) -> Result<Option<(String, String)>, ProviderError> {
        let Some(object) = self.get_owned_database(engine, ns, name, owner).await? else {
            return Ok(None);
        };
        let Some(secret) = object.auth_secret else {
            return Ok(None);
        };
        let secret = secret.as_str();
        let api = self.api(&core("Secret", "secrets"), Some(ns));
        let Some(s) = api.get_opt(secret).await? else {
            return Ok(None);
        };
        let labels = labels_of(&s);
        let platform_made = labels.contains_key(LABEL_DATABASE_ID)
            || labels.contains_key(crate::translate::LABEL_DOMAIN)
            || labels.get(LABEL_MANAGED_BY).map(String::as_str)
                == Some(crate::translate::LABEL_MANAGED_BY_VALUE);
        let kubedb_made = !platform_made
            && labels.get(LABEL_MANAGED_BY).map(String::as_str) == Some(KUBEDB_MANAGED_BY)
            && labels.get(LABEL_INSTANCE).map(String::as_str) == Some(name);
        if !(kubedb_made || owner.owns_object(&labels)) {
            return Err(not_owned("Secret", ns, secret, &s));
        }
        let field = |key: &str| -> Result<String, ProviderError> {
            let missing = || {
                ProviderError::Permanent(format!("secret {ns}/{secret} has no usable {key:?} key"))
            };
            if let Some(b64) = s.data["data"][key].as_str() {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| missing())?;
                return String::from_utf8(bytes).map_err(|_| missing());
            }
            s.data["stringData"][key]
                .as_str()
                .map(str::to_string)
                .ok_or_else(missing)
        };
        Ok(Some((field("username")?, field("password")?)))
    }

    /// Creates the object, or brings one that exists and carries every label we would put on it
    /// to the wanted content (a merge patch of everything but its metadata, with the read
    /// resourceVersion). One with other labels is a Conflict, untouched.
    pub async fn apply_object(&self, obj: &Value) -> Result<(), ProviderError> {
        let api_version = str_at(obj, "/apiVersion").unwrap_or_default();
        let kind = str_at(obj, "/kind").unwrap_or_default();
        let name = str_at(obj, "/metadata/name").unwrap_or_default();
        let ns = str_at(obj, "/metadata/namespace");
        let ar = self.resource_for(api_version, kind).await?;
        let api = self.api(&ar, ns);
        let at = format!("{kind} {}/{name}", ns.unwrap_or_default());
        for _ in 0..5 {
            let Some(existing) = api.get_opt(name).await? else {
                match api.create(&PostParams::default(), &to_dynamic(obj)?).await {
                    Ok(_) => return Ok(()),
                    Err(e) => match ProviderError::from(e) {
                        ProviderError::Conflict(_) => continue,
                        other => return Err(other.context(&format!("creating {at}"))),
                    },
                }
            };
            if !carries(&existing, &wanted_labels(obj)) {
                return Err(not_owned(kind, ns.unwrap_or_default(), name, &existing));
            }
            let mut body = obj.clone();
            if let Some(m) = body.as_object_mut() {
                m.remove("apiVersion");
                m.remove("kind");
                m.remove("metadata");
            }
            // Already so: no write (objects many databases share would otherwise conflict).
            if holds(&existing.data, &body) {
                return Ok(());
            }
            body["metadata"] = json!({"resourceVersion": existing.metadata.resource_version});
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(&body))
                .await
                .map_err(ProviderError::from)
            {
                Ok(_) => return Ok(()),
                Err(ProviderError::Conflict(_)) => continue,
                Err(other) => return Err(other.context(&format!("updating {at}"))),
            }
        }
        Err(ProviderError::Transient(format!(
            "{at} kept changing while it was being updated"
        )))
    }

    /// Reads an object the platform made for this database; another owner's is a Conflict.
    pub async fn get_owned_object(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
        owner: &Owner<'_>,
    ) -> Result<Option<DynamicObject>, ProviderError> {
        let ar = self.resource_for(api_version, kind).await?;
        match self.api(&ar, Some(ns)).get_opt(name).await? {
            Some(o) if !owner.owns_object(&labels_of(&o)) => Err(not_owned(kind, ns, name, &o)),
            other => Ok(other),
        }
    }

    /// Reads an object KubeStash made (it carries no labels of ours) in a namespace of this
    /// database's project, which the caller has checked is ours.
    pub async fn get_object_in(
        &self,
        ar: &ApiResource,
        ns: &str,
        name: &str,
    ) -> Result<Option<DynamicObject>, ProviderError> {
        Ok(self.api(ar, Some(ns)).get_opt(name).await?)
    }

    /// Lists the objects KubeStash made in such a namespace (see [`Self::get_object_in`]).
    pub async fn list_objects_in(
        &self,
        ar: &ApiResource,
        ns: &str,
    ) -> Result<Vec<DynamicObject>, ProviderError> {
        Ok(self
            .api(ar, Some(ns))
            .list(&Default::default())
            .await?
            .items)
    }
}

#[cfg(test)]
mod tests {
    use super::holds;
    use serde_json::json;

    #[test]
    fn holds_ignores_what_the_server_added_but_not_changes() {
        let want = json!({"paused": false, "sessions": [{"name": "s", "scheduler": {"schedule": "1 2 * * *"}}]});
        let have = json!({"paused": false, "status": {}, "sessions": [{"name": "s", "sessionHistoryLimit": 1,
            "scheduler": {"schedule": "1 2 * * *", "jobTemplate": {}}}]});
        assert!(holds(&have, &want));
        assert!(!holds(
            &json!({"paused": true, "sessions": have["sessions"].clone()}),
            &want
        ));
        let rescheduled = json!({"paused": false, "sessions": [{"name": "s", "scheduler": {"schedule": "5 2 * * *"}}]});
        assert!(!holds(&rescheduled, &want));
        assert!(!holds(&json!({"paused": false, "sessions": []}), &want));
    }
}
