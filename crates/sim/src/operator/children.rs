//! The objects KubeDB creates for a database (kubedb-api §4): pods per PetSet with role labels,
//! PVCs, services, the auth secret and the AppBinding, plus small API helpers.

use std::collections::BTreeMap;

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use provider::kubedb::names::{self, EngineMeta, APPBINDING_API_VERSION, DB_GROUP};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};

use super::OperatorError;

pub fn ar(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = match api_version.rsplit_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    };
    ApiResource {
        group,
        version,
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

pub fn pods_ar() -> ApiResource {
    ar("v1", "Pod", "pods")
}
pub fn pvcs_ar() -> ApiResource {
    ar("v1", "PersistentVolumeClaim", "persistentvolumeclaims")
}
pub fn services_ar() -> ApiResource {
    ar("v1", "Service", "services")
}
pub fn secrets_ar() -> ApiResource {
    ar("v1", "Secret", "secrets")
}
pub fn events_ar() -> ApiResource {
    ar("v1", "Event", "events")
}
pub fn appbindings_ar() -> ApiResource {
    ar(
        APPBINDING_API_VERSION,
        "AppBinding",
        names::APPBINDING_PLURAL,
    )
}

pub fn api(client: &kube::Client, ns: &str, ar: &ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, ar)
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

pub async fn get_opt(
    api: &Api<DynamicObject>,
    name: &str,
) -> Result<Option<DynamicObject>, OperatorError> {
    Ok(api.get_opt(name).await?)
}

/// Creates the object unless it exists; `true` when created.
pub async fn create_if_absent(api: &Api<DynamicObject>, obj: Value) -> Result<bool, OperatorError> {
    let obj: DynamicObject = serde_json::from_value(obj)?;
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => Ok(true),
        Err(e) if is_status(&e, 409) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub async fn delete_ignore(api: &Api<DynamicObject>, name: &str) -> Result<(), OperatorError> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub async fn merge_patch(
    api: &Api<DynamicObject>,
    name: &str,
    patch: Value,
) -> Result<(), OperatorError> {
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Merge-patches the status; the object as written, None when it is gone.
pub async fn patch_status(
    api: &Api<DynamicObject>,
    name: &str,
    status: Value,
) -> Result<Option<DynamicObject>, OperatorError> {
    let patch = json!({ "status": status });
    match api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(o) => Ok(Some(o)),
        Err(e) if is_status(&e, 404) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The objects of one database kind we labelled, in a namespace.
pub async fn list_owned(
    api: &Api<DynamicObject>,
    meta: &EngineMeta,
    db: &str,
) -> Result<Vec<DynamicObject>, OperatorError> {
    let selector = format!(
        "{}={},{}={},{}={}",
        names::LABEL_NAME,
        meta.resource_label(),
        names::LABEL_INSTANCE,
        db,
        names::LABEL_MANAGED_BY,
        names::MANAGED_BY
    );
    Ok(api
        .list(&ListParams::default().labels(&selector))
        .await?
        .items)
}

pub fn base_labels(meta: &EngineMeta, db: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (names::LABEL_NAME.to_string(), meta.resource_label()),
        (names::LABEL_INSTANCE.to_string(), db.to_string()),
        (
            names::LABEL_MANAGED_BY.to_string(),
            names::MANAGED_BY.to_string(),
        ),
    ])
}

pub fn owner_ref(db: &DynamicObject, meta: &EngineMeta) -> Value {
    json!({
        "apiVersion": format!("{DB_GROUP}/v1"),
        "kind": meta.kind,
        "name": db.metadata.name.clone().unwrap_or_default(),
        "uid": db.metadata.uid.clone().unwrap_or_default(),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

pub fn random_password() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(16)
        .map(char::from)
        .collect()
}

/// How pods of a PetSet are labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roles {
    None,
    /// pod 0 primary, the rest standby
    PrimaryStandby,
}

/// One PetSet's worth of pods.
#[derive(Debug, Clone)]
pub struct PodGroup {
    pub petset: String,
    pub replicas: i64,
    /// PVC spec; `None` = no volume (ephemeral storage, mongos)
    pub storage: Option<Value>,
    pub pod_template: Option<Value>,
    pub roles: Roles,
}

fn group(
    petset: String,
    replicas: Option<i64>,
    storage: Option<&Value>,
    pt: Option<&Value>,
    roles: Roles,
) -> PodGroup {
    PodGroup {
        petset,
        replicas: replicas.unwrap_or(1).max(0),
        storage: storage.filter(|s| s.is_object()).cloned(),
        pod_template: pt.filter(|p| p.is_object()).cloned(),
        roles,
    }
}

/// The PetSets KubeDB would run for this spec (kubedb-api §3 names).
pub fn pod_groups(meta: &EngineMeta, name: &str, spec: &Value) -> Vec<PodGroup> {
    let ephemeral = spec["storageType"] == "Ephemeral";
    let st = |v: &Value| {
        if ephemeral {
            None
        } else {
            v.get("storage").cloned()
        }
    };
    let top_storage = st(spec);
    let top_pt = spec.get("podTemplate");
    let replicas = spec["replicas"].as_i64();
    let mut out = Vec::new();
    match meta.engine {
        "mongodb" => {
            if let Some(t) = spec.get("shardTopology").filter(|t| t.is_object()) {
                let shards = t["shard"]["shards"].as_i64().unwrap_or(1);
                for s in 0..shards {
                    let shard = &t["shard"];
                    out.push(group(
                        format!("{name}-shard{s}"),
                        shard["replicas"].as_i64(),
                        st(shard).as_ref(),
                        shard.get("podTemplate"),
                        Roles::PrimaryStandby,
                    ));
                }
                let cs = &t["configServer"];
                out.push(group(
                    format!("{name}-configsvr"),
                    cs["replicas"].as_i64(),
                    st(cs).as_ref(),
                    cs.get("podTemplate"),
                    Roles::PrimaryStandby,
                ));
                let ms = &t["mongos"];
                out.push(group(
                    format!("{name}-mongos"),
                    ms["replicas"].as_i64(),
                    None,
                    ms.get("podTemplate"),
                    Roles::None,
                ));
            } else {
                let rs = spec.get("replicaSet").is_some_and(Value::is_object);
                let roles = if rs {
                    Roles::PrimaryStandby
                } else {
                    Roles::None
                };
                out.push(group(
                    name.to_string(),
                    replicas,
                    top_storage.as_ref(),
                    top_pt,
                    roles,
                ));
                if let Some(h) = spec.get("hidden").filter(|h| h.is_object()) {
                    out.push(group(
                        format!("{name}-hidden"),
                        h["replicas"].as_i64(),
                        st(h).as_ref(),
                        h.get("podTemplate"),
                        Roles::None,
                    ));
                }
            }
        }
        "redis" if spec["mode"] == "Cluster" => {
            let shards = spec["cluster"]["shards"].as_i64().unwrap_or(3);
            let per = spec["cluster"]["replicas"].as_i64();
            for s in 0..shards {
                out.push(group(
                    format!("{name}-shard{s}"),
                    per.or(Some(2)),
                    top_storage.as_ref(),
                    top_pt,
                    Roles::PrimaryStandby,
                ));
            }
        }
        "elasticsearch" if spec.get("topology").is_some_and(Value::is_object) => {
            let topo = &spec["topology"];
            let roles: [(&str, &str); 11] = [
                ("master", "master"),
                ("ingest", "ingest"),
                ("data", "data"),
                ("dataContent", "data-content"),
                ("dataHot", "data-hot"),
                ("dataWarm", "data-warm"),
                ("dataCold", "data-cold"),
                ("dataFrozen", "data-frozen"),
                ("ml", "ml"),
                ("transform", "transform"),
                ("coordinating", "coordinating"),
            ];
            for (role, default_suffix) in roles {
                if let Some(node) = topo.get(role).filter(|n| n.is_object()) {
                    let suffix = node["suffix"].as_str().unwrap_or(default_suffix);
                    out.push(group(
                        format!("{name}-{suffix}"),
                        node["replicas"].as_i64(),
                        st(node).as_ref(),
                        node.get("podTemplate"),
                        Roles::None,
                    ));
                }
            }
        }
        engine => {
            let roles = match engine {
                "postgres" => Roles::PrimaryStandby,
                "mysql" | "mariadb" if spec.get("topology").is_some_and(Value::is_object) => {
                    Roles::PrimaryStandby
                }
                "redis" if spec["mode"] == "Sentinel" => Roles::PrimaryStandby,
                _ => Roles::None,
            };
            out.push(group(
                name.to_string(),
                replicas,
                top_storage.as_ref(),
                top_pt,
                roles,
            ));
        }
    }
    out
}

/// `<prefix>-<pod>` PVC spec with defaults and status Bound.
pub fn pvc_object(
    meta: &EngineMeta,
    db: &DynamicObject,
    pod: &str,
    storage: &Value,
    owned: bool,
) -> Value {
    let ns = db.metadata.namespace.clone().unwrap_or_default();
    let db_name = db.metadata.name.clone().unwrap_or_default();
    let mut spec = storage.clone();
    if spec.get("accessModes").is_none() {
        spec["accessModes"] = json!(["ReadWriteOnce"]);
    }
    if spec.get("storageClassName").is_none() {
        spec["storageClassName"] = json!("standard");
    }
    let size = storage["resources"]["requests"]["storage"].clone();
    let mut obj = json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": { "name": format!("{}-{pod}", meta.pvc_prefix), "namespace": ns, "labels": base_labels(meta, &db_name) },
        "spec": spec,
        "status": { "phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": { "storage": size } },
    });
    if owned {
        obj["metadata"]["ownerReferences"] = json!([owner_ref(db, meta)]);
    }
    obj
}

/// Hash of what a pod is built from; pods are recreated when it changes (rolling update).
pub fn pod_revision(version: &str, pt: Option<&Value>, config: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let text = format!(
        "{version}|{}|{}",
        pt.map(Value::to_string).unwrap_or_default(),
        config
    );
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

pub const REVISION_ANNOTATION: &str = "kubedb.com/pod-revision";
pub const PETSET_LABEL: &str = "apps.kubedb.com/petset";

pub struct PodSpecInput<'a> {
    pub meta: &'a EngineMeta,
    pub db: &'a DynamicObject,
    pub group: &'a PodGroup,
    pub index: i64,
    pub version: &'a str,
    pub revision: &'a str,
    pub auth_secret: Option<&'a str>,
    pub monitored: bool,
}

pub fn pod_object(p: PodSpecInput<'_>) -> Value {
    let ns = p.db.metadata.namespace.clone().unwrap_or_default();
    let db_name = p.db.metadata.name.clone().unwrap_or_default();
    let pod_name = format!("{}-{}", p.group.petset, p.index);
    let mut labels = base_labels(p.meta, &db_name);
    labels.insert(names::LABEL_COMPONENT.into(), "database".into());
    labels.insert(PETSET_LABEL.into(), p.group.petset.clone());
    labels.insert(
        "statefulset.kubernetes.io/pod-name".into(),
        pod_name.clone(),
    );
    if p.group.roles == Roles::PrimaryStandby {
        labels.insert(
            names::LABEL_ROLE.into(),
            if p.index == 0 { "primary" } else { "standby" }.into(),
        );
    }
    let resources = p
        .group
        .pod_template
        .as_ref()
        .and_then(|pt| pt["spec"]["containers"].as_array())
        .and_then(|cs| cs.iter().find(|c| c["name"] == p.meta.container))
        .and_then(|c| c.get("resources").cloned())
        .unwrap_or_else(|| json!({}));
    let mut env = vec![];
    if let Some(secret) = p.auth_secret {
        env.push(json!({ "name": "DB_USER", "valueFrom": { "secretKeyRef": { "name": secret, "key": "username" } } }));
        env.push(json!({ "name": "DB_PASSWORD", "valueFrom": { "secretKeyRef": { "name": secret, "key": "password" } } }));
    }
    let mut containers = vec![json!({
        "name": p.meta.container,
        "image": format!("ghcr.io/kubedb-sim/{}:{}", p.meta.engine, p.version),
        "ports": [{ "name": "db", "containerPort": p.meta.port, "protocol": "TCP" }],
        "resources": resources,
        "env": env,
    })];
    if let Some(c) = p.meta.coordinator_container {
        containers.push(json!({ "name": c, "image": format!("ghcr.io/kubedb-sim/{c}:v0.1.0"), "resources": {} }));
    }
    if p.monitored {
        containers.push(json!({
            "name": names::EXPORTER_CONTAINER,
            "image": format!("ghcr.io/kubedb-sim/{}-exporter:v0.1.0", p.meta.engine),
            "ports": [{ "name": names::EXPORTER_PORT_NAME, "containerPort": names::EXPORTER_PORT, "protocol": "TCP" }],
            "resources": {},
        }));
    }
    let node = format!("sim-node-{}", (fnv(&pod_name) % 3) + 1);
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": pod_name, "namespace": ns, "labels": labels,
            "annotations": { REVISION_ANNOTATION: p.revision },
            "ownerReferences": [owner_ref(p.db, p.meta)],
        },
        "spec": {
            "containers": containers,
            "nodeName": node,
            "hostname": pod_name,
            "subdomain": format!("{db_name}-pods"),
            "volumes": if p.group.storage.is_some() {
                json!([{ "name": "data", "persistentVolumeClaim": { "claimName": format!("{}-{pod_name}", p.meta.pvc_prefix) } }])
            } else {
                json!([{ "name": "data", "emptyDir": {} }])
            },
        },
    })
}

pub fn pod_running_status(pod: &str, now: &str) -> Value {
    let h = fnv(pod);
    json!({
        "phase": "Running",
        "podIP": format!("10.244.{}.{}", (h >> 8) % 250, (h % 250) + 2),
        "startTime": now,
        "conditions": [
            { "type": "Initialized", "status": "True", "lastTransitionTime": now },
            { "type": "ContainersReady", "status": "True", "lastTransitionTime": now },
            { "type": "Ready", "status": "True", "lastTransitionTime": now },
            { "type": "PodScheduled", "status": "True", "lastTransitionTime": now },
        ],
    })
}

pub fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Services KubeDB creates for this spec, each `(alias for serviceTemplates, object)`.
pub fn services(meta: &EngineMeta, db: &DynamicObject, spec: &Value) -> Vec<(&'static str, Value)> {
    let ns = db.metadata.namespace.clone().unwrap_or_default();
    let name = db.metadata.name.clone().unwrap_or_default();
    let labels = base_labels(meta, &name);
    let owner = json!([owner_ref(db, meta)]);
    let port = |pname: &str, port: i32, target: Value| json!({ "name": pname, "port": port, "targetPort": target, "protocol": "TCP" });
    let svc = |sname: String,
               ports: Vec<Value>,
               selector: BTreeMap<String, String>,
               headless: bool| {
        let ip = if headless {
            json!("None")
        } else {
            let h = fnv(&format!("{ns}/{sname}"));
            json!(format!("10.96.{}.{}", (h >> 8) % 250 + 1, h % 250 + 2))
        };
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": { "name": sname, "namespace": ns, "labels": labels, "ownerReferences": owner },
            "spec": { "type": "ClusterIP", "clusterIP": ip, "ports": ports, "selector": selector, "publishNotReadyAddresses": headless },
        })
    };
    let with = |extra: &[(&str, &str)]| {
        let mut s = labels.clone();
        for (k, v) in extra {
            s.insert((*k).to_string(), (*v).to_string());
        }
        s
    };
    let mut primary_ports = vec![port(meta.port_name, meta.port, json!("db"))];
    let mut out = Vec::new();
    let mut primary_selector = labels.clone();
    let has_roles = pod_groups(meta, &name, spec)
        .first()
        .is_some_and(|g| g.roles == Roles::PrimaryStandby);
    let sharded_mongo =
        meta.engine == "mongodb" && spec.get("shardTopology").is_some_and(Value::is_object);
    if sharded_mongo {
        primary_selector = with(&[(PETSET_LABEL, &format!("{name}-mongos"))]);
    } else if has_roles && meta.engine != "redis"
        || (meta.engine == "redis" && spec["mode"] == "Sentinel")
    {
        primary_selector = with(&[(names::LABEL_ROLE, "primary")]);
    }
    if meta.engine == "postgres" {
        primary_ports.push(port("coordinatclient", 2379, json!(2379)));
    }
    out.push((
        "primary",
        svc(name.clone(), primary_ports, primary_selector, false),
    ));
    let mut pods_ports = vec![port("db", meta.port, json!("db"))];
    if meta.engine == "postgres" {
        pods_ports.push(port("coordinator", 2380, json!(2380)));
        pods_ports.push(port("coordinatclient", 2379, json!(2379)));
    }
    if !sharded_mongo {
        out.push((
            "",
            svc(format!("{name}-pods"), pods_ports, labels.clone(), true),
        ));
    }
    let replicas = spec["replicas"].as_i64().unwrap_or(1);
    let standby = match meta.engine {
        "postgres" => replicas > 1,
        "mysql" => spec.get("topology").is_some_and(Value::is_object),
        "mariadb" => spec["topology"]["mode"] == "MariaDBReplication",
        "redis" => spec["mode"] == "Sentinel",
        _ => false,
    };
    if standby {
        out.push((
            "standby",
            svc(
                format!("{name}-standby"),
                vec![port("standby", meta.port, json!("db"))],
                with(&[(names::LABEL_ROLE, "standby")]),
                false,
            ),
        ));
    }
    if sharded_mongo {
        let shards = spec["shardTopology"]["shard"]["shards"]
            .as_i64()
            .unwrap_or(1);
        let mut sets: Vec<String> = (0..shards).map(|s| format!("{name}-shard{s}")).collect();
        sets.push(format!("{name}-configsvr"));
        sets.push(format!("{name}-mongos"));
        for set in sets {
            out.push((
                "",
                svc(
                    format!("{set}-pods"),
                    vec![port("db", meta.port, json!("db"))],
                    with(&[(PETSET_LABEL, &set)]),
                    true,
                ),
            ));
        }
    }
    if meta.engine == "elasticsearch" {
        out.push((
            "",
            svc(
                format!("{name}-master"),
                vec![port("transport", 9300, json!(9300))],
                labels.clone(),
                true,
            ),
        ));
    }
    if let Some(mon) = spec.get("monitor").filter(|m| m.is_object()) {
        let exporter_port = mon["prometheus"]["exporter"]["port"]
            .as_i64()
            .unwrap_or(names::EXPORTER_PORT as i64) as i32;
        let mut stats = svc(
            format!("{name}-stats"),
            vec![port(
                names::EXPORTER_PORT_NAME,
                exporter_port,
                json!(exporter_port),
            )],
            labels.clone(),
            false,
        );
        stats["metadata"]["labels"]["kubedb.com/role"] = json!("stats");
        if mon["agent"] == "prometheus.io/builtin" {
            stats["metadata"]["annotations"] = json!({
                "prometheus.io/scrape": "true",
                "prometheus.io/path": "/metrics",
                "prometheus.io/port": exporter_port.to_string(),
            });
        }
        out.push(("stats", stats));
    }
    // spec.serviceTemplates customise the services by alias
    for tpl in spec["serviceTemplates"].as_array().into_iter().flatten() {
        let alias = tpl["alias"].as_str().unwrap_or_default();
        for (a, s) in out.iter_mut() {
            if *a != alias || alias.is_empty() {
                continue;
            }
            for key in ["labels", "annotations"] {
                if let Some(m) = tpl["metadata"][key].as_object() {
                    for (k, v) in m {
                        s["metadata"][key][k] = v.clone();
                    }
                }
            }
            if let Some(ts) = tpl["spec"].as_object() {
                for (k, v) in ts {
                    if k == "ports" {
                        for tp in v.as_array().into_iter().flatten() {
                            if let Some(sp) = s["spec"]["ports"].as_array_mut().and_then(|ps| {
                                ps.iter_mut()
                                    .find(|p| tp.get("name").is_none_or(|n| p["name"] == *n))
                            }) {
                                for (pk, pv) in tp.as_object().into_iter().flatten() {
                                    sp[pk] = pv.clone();
                                }
                            }
                        }
                    } else {
                        s["spec"][k] = v.clone();
                    }
                }
            }
        }
    }
    out
}

pub fn auth_secret_object(
    meta: &EngineMeta,
    db: &DynamicObject,
    secret: &str,
    user: &str,
) -> Value {
    let ns = db.metadata.namespace.clone().unwrap_or_default();
    let name = db.metadata.name.clone().unwrap_or_default();
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": secret, "namespace": ns, "labels": base_labels(meta, &name),
            "annotations": { names::ANNOTATION_AUTH_ACTIVE_FROM: super::conditions::now_str(chrono::Utc::now()) },
        },
        "type": "kubernetes.io/basic-auth",
        "data": { "username": b64(user), "password": b64(&random_password()) },
    })
}

pub fn appbinding_object(
    meta: &EngineMeta,
    db: &DynamicObject,
    spec: &Value,
    secret: Option<&str>,
) -> Value {
    let ns = db.metadata.namespace.clone().unwrap_or_default();
    let name = db.metadata.name.clone().unwrap_or_default();
    let scheme = match meta.engine {
        "postgres" => "postgresql",
        "mysql" | "mariadb" => "tcp",
        "mongodb" => "mongodb",
        "redis" | "redissentinel" => "redis",
        _ => {
            if spec["enableSSL"] == true {
                "https"
            } else {
                "http"
            }
        }
    };
    let mut ab = json!({
        "apiVersion": APPBINDING_API_VERSION, "kind": "AppBinding",
        "metadata": { "name": name, "namespace": ns, "labels": base_labels(meta, &name), "ownerReferences": [owner_ref(db, meta)] },
        "spec": {
            "type": format!("kubedb.com/{}", meta.engine),
            "version": spec["version"],
            "appRef": { "apiGroup": DB_GROUP, "kind": meta.kind, "name": name, "namespace": ns },
            "clientConfig": { "service": { "name": name, "port": meta.port, "scheme": scheme } },
        },
    });
    if let Some(s) = secret {
        ab["spec"]["secret"] = json!({ "name": s });
    }
    ab
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(kind: &str, spec: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "kubedb.com/v1", "kind": kind,
            "metadata": { "name": "d", "namespace": "n", "uid": "u1" }, "spec": spec
        }))
        .expect("dynamic object")
    }

    #[test]
    fn groups_follow_kubedb_names() {
        let spec = json!({ "shardTopology": { "shard": { "shards": 2, "replicas": 3, "storage": {} }, "configServer": { "replicas": 3, "storage": {} }, "mongos": { "replicas": 2 } } });
        let g = pod_groups(&names::MONGODB, "d", &spec);
        let sets: Vec<(&str, i64)> = g.iter().map(|g| (g.petset.as_str(), g.replicas)).collect();
        assert_eq!(
            sets,
            [
                ("d-shard0", 3),
                ("d-shard1", 3),
                ("d-configsvr", 3),
                ("d-mongos", 2)
            ]
        );
        assert!(g[3].storage.is_none());
        let g = pod_groups(
            &names::REDIS,
            "d",
            &json!({ "mode": "Cluster", "cluster": { "shards": 3, "replicas": 2 } }),
        );
        assert_eq!(g.len(), 3);
        let g = pod_groups(
            &names::ELASTICSEARCH,
            "d",
            &json!({ "topology": { "master": { "replicas": 3 }, "ingest": { "replicas": 2 }, "data": { "replicas": 3, "suffix": "hot" } } }),
        );
        let sets: Vec<&str> = g.iter().map(|g| g.petset.as_str()).collect();
        assert_eq!(sets, ["d-master", "d-ingest", "d-hot"]);
        let g = pod_groups(
            &names::POSTGRES,
            "d",
            &json!({ "replicas": 3, "storageType": "Ephemeral", "storage": {} }),
        );
        assert!(g[0].storage.is_none() && g[0].roles == Roles::PrimaryStandby);
    }

    #[test]
    fn services_per_engine() {
        let names_of = |kind: &str, meta: &EngineMeta, spec: Value| -> Vec<String> {
            services(meta, &db(kind, spec.clone()), &spec)
                .iter()
                .map(|(_, s)| {
                    s["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect()
        };
        assert_eq!(
            names_of("Postgres", &names::POSTGRES, json!({ "replicas": 3 })),
            ["d", "d-pods", "d-standby"]
        );
        assert_eq!(
            names_of("Postgres", &names::POSTGRES, json!({ "replicas": 1 })),
            ["d", "d-pods"]
        );
        assert_eq!(
            names_of(
                "MySQL",
                &names::MYSQL,
                json!({ "replicas": 3, "topology": { "mode": "GroupReplication" }, "monitor": { "agent": "prometheus.io/builtin" } })
            ),
            ["d", "d-pods", "d-standby", "d-stats"]
        );
        assert_eq!(
            names_of(
                "Elasticsearch",
                &names::ELASTICSEARCH,
                json!({ "replicas": 3 })
            ),
            ["d", "d-pods", "d-master"]
        );
        let spec = json!({ "monitor": { "agent": "prometheus.io/builtin" }, "serviceTemplates": [{ "alias": "primary", "spec": { "type": "LoadBalancer" } }] });
        let svcs = services(&names::REDIS, &db("Redis", spec.clone()), &spec);
        assert_eq!(svcs[0].1["spec"]["type"], "LoadBalancer");
        let stats = &svcs.iter().find(|(a, _)| *a == "stats").expect("stats").1;
        assert_eq!(
            stats["metadata"]["annotations"]["prometheus.io/port"],
            "56790"
        );
        assert_eq!(stats["spec"]["ports"][0]["name"], "metrics");
    }

    #[test]
    fn passwords_are_16_alphanumerics() {
        let p = random_password();
        assert_eq!(p.len(), 16);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
