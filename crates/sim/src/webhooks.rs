//! KubeDB's mutating and validating webhooks for database and OpsRequest kinds
//! (kubedb-api §2.2, §3, §5): defaulting first, then the admission rules. Denials name the
//! field and the rule in the message.

use provider::kubedb::names::{
    self, EngineMeta, CATALOG_API_VERSION, DB_API_VERSION, DB_GROUP, OPS_GROUP,
};
use provider::kubedb::quantity::parse_quantity;
use serde_json::{json, Map, Value};

use crate::admission::{Admission, AdmissionError, AdmissionOp, AdmissionRequest};
use crate::catalog::{upgradable_names, SemVer};
use crate::ClusterState;

/// Env vars that would set the root password behind KubeDB's back.
const FORBIDDEN_ENV: [&str; 7] = [
    "MYSQL_ROOT_PASSWORD",
    "MYSQL_PWD",
    "MARIADB_ROOT_PASSWORD",
    "MONGO_INITDB_ROOT_USERNAME",
    "MONGO_INITDB_ROOT_PASSWORD",
    "POSTGRES_PASSWORD",
    "ELASTIC_PASSWORD",
];

const COMMON_OPS_TYPES: [&str; 9] = [
    "UpdateVersion",
    "HorizontalScaling",
    "VerticalScaling",
    "VolumeExpansion",
    "Restart",
    "Reconfigure",
    "ReconfigureTLS",
    "RotateAuth",
    "StorageMigration",
];

type Result<T = ()> = std::result::Result<T, AdmissionError>;

/// The API server prefixes the field, as in `... is invalid: spec.replicas: must be >= 1`.
fn invalid(field: &str, msg: impl std::fmt::Display) -> AdmissionError {
    AdmissionError::invalid(field, msg.to_string())
}

/// KubeDB's webhook server, reading the catalog and referenced objects from the cluster state.
pub struct KubeDbAdmission {
    state: ClusterState,
}

impl KubeDbAdmission {
    pub fn new(state: ClusterState) -> Self {
        Self { state }
    }

    fn catalog(&self, meta: &EngineMeta, name: &str) -> Option<Value> {
        self.state
            .get(CATALOG_API_VERSION, meta.version_plural, None, name)
    }

    fn secret(&self, ns: &str, name: &str) -> Option<Value> {
        self.state.get("v1", "secrets", Some(ns), name)
    }
}

impl Admission for KubeDbAdmission {
    fn admit(&self, req: &AdmissionRequest<'_>, object: &mut Value) -> Result {
        if req.subresource.is_some() {
            return Ok(());
        }
        if req.group == DB_GROUP {
            if let Some(meta) = names::by_plural(req.plural) {
                return self.admit_database(req, meta, object);
            }
        } else if req.group == OPS_GROUP {
            if let Some(meta) = names::by_ops(req.plural) {
                return self.admit_ops(req, meta, object);
            }
        }
        Ok(())
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path)?.as_str()
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    (!cur.is_null()).then_some(cur)
}

fn i64_at(v: &Value, path: &[&str]) -> Option<i64> {
    at(v, path)?.as_i64()
}

fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = json!({});
    }
    match v.get_mut(key) {
        Some(Value::Object(m)) => m,
        _ => unreachable!("just inserted an object"),
    }
}

fn set_default(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), value);
    }
}

/// Default DB-container resources (kubedb-api §2.2).
fn default_resources(meta: &EngineMeta, version: &str) -> Value {
    let (cpu, mem) = match meta.engine {
        "elasticsearch" => ("500m", "1.5Gi"),
        "mongodb" => {
            let major = SemVer::parse(version.rsplit('-').next().unwrap_or(version))
                .map(|v| v.major)
                .unwrap_or(0);
            match major {
                m if m >= 8 => ("800m", "1.5Gi"),
                m if m >= 6 => ("800m", "1Gi"),
                _ => ("500m", "1Gi"),
            }
        }
        _ => ("500m", "1Gi"),
    };
    json!({ "requests": { "cpu": cpu, "memory": mem }, "limits": { "memory": mem } })
}

/// Adds the DB container with default resources to a pod template when it has none.
fn default_pod_template(pt: &mut Value, container: &str, resources: &Value) {
    if !pt.is_object() {
        *pt = json!({});
    }
    let spec = obj_mut(pt, "spec");
    let containers = spec.entry("containers").or_insert_with(|| json!([]));
    if !containers.is_array() {
        *containers = json!([]);
    }
    let Some(list) = containers.as_array_mut() else {
        return;
    };
    match list.iter_mut().find(|c| c["name"] == container) {
        Some(c) => {
            if c.get("resources")
                .is_none_or(|r| r.as_object().is_none_or(Map::is_empty))
            {
                c["resources"] = resources.clone();
            }
        }
        None => list.push(json!({ "name": container, "resources": resources })),
    }
}

fn quantity_of(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::String(s) => parse_quantity(s),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

impl KubeDbAdmission {
    fn admit_database(
        &self,
        req: &AdmissionRequest<'_>,
        meta: &EngineMeta,
        obj: &mut Value,
    ) -> Result {
        let kind = meta.kind;
        if req.op == AdmissionOp::Delete {
            let stored = req.old.unwrap_or(obj);
            if str_at(stored, &["spec", "deletionPolicy"]) == Some("DoNotTerminate") {
                return Err(AdmissionError::denied(format!(
                    "{kind} {}/{} can't be deleted: spec.deletionPolicy is DoNotTerminate; change it first",
                    req.namespace.unwrap_or_default(),
                    req.name
                )));
            }
            return Ok(());
        }
        if !obj.get("spec").is_some_and(Value::is_object) {
            return Err(invalid("spec", "required"));
        }
        self.default_database(meta, obj)?;
        self.validate_database(req, meta, obj)
    }

    fn default_database(&self, meta: &EngineMeta, obj: &mut Value) -> Result {
        let version = str_at(obj, &["spec", "version"])
            .unwrap_or_default()
            .to_string();
        let resources = default_resources(meta, &version);
        let spec = obj_mut(obj, "spec");
        set_default(spec, "storageType", json!("Durable"));
        set_default(spec, "deletionPolicy", json!("Delete"));
        if spec.get("halted").and_then(Value::as_bool) == Some(true)
            && spec.get("deletionPolicy").and_then(Value::as_str) != Some("DoNotTerminate")
        {
            spec.insert("deletionPolicy".into(), json!("Halt"));
        }
        let auth_disabled = spec.get("disableAuth").and_then(Value::as_bool) == Some(true);
        if !auth_disabled {
            let auth = spec.entry("authSecret").or_insert_with(|| json!({}));
            if let Some(a) = auth.as_object_mut() {
                set_default(a, "kind", json!("Secret"));
                set_default(a, "name", json!(""));
            }
        }
        // legacy configSecret moves into configuration.secretName
        if let Some(cs) = spec.remove("configSecret") {
            if let Some(n) = cs.get("name").and_then(Value::as_str) {
                let conf = spec.entry("configuration").or_insert_with(|| json!({}));
                if let Some(c) = conf.as_object_mut() {
                    set_default(c, "secretName", json!(n));
                }
            }
        }
        let hc = spec.entry("healthChecker").or_insert_with(|| json!({}));
        if let Some(h) = hc.as_object_mut() {
            set_default(h, "periodSeconds", json!(10));
            set_default(h, "timeoutSeconds", json!(10));
            set_default(h, "failureThreshold", json!(1));
        }
        if let Some(mon) = spec.get_mut("monitor").filter(|m| m.is_object()) {
            let prom = obj_mut(mon, "prometheus");
            let exp = prom.entry("exporter").or_insert_with(|| json!({}));
            if let Some(e) = exp.as_object_mut() {
                set_default(e, "port", json!(names::EXPORTER_PORT));
            }
        }
        let has_tls = spec.get("tls").is_some_and(|t| !t.is_null());
        match meta.engine {
            "mongodb" => {
                set_default(spec, "storageEngine", json!("wiredTiger"));
                if !has_tls {
                    set_default(spec, "sslMode", json!("disabled"));
                }
                let clustered =
                    spec.contains_key("replicaSet") || spec.contains_key("shardTopology");
                if clustered && !has_tls {
                    set_default(spec, "clusterAuthMode", json!("keyFile"));
                }
                if let Some(st) = spec.get_mut("shardTopology").and_then(Value::as_object_mut) {
                    for comp in ["shard", "configServer", "mongos"] {
                        if let Some(c) = st.get_mut(comp).filter(|c| c.is_object()) {
                            let pt = c
                                .as_object_mut()
                                .map(|m| m.entry("podTemplate").or_insert_with(|| json!({})));
                            if let Some(pt) = pt {
                                default_pod_template(pt, meta.container, &resources);
                            }
                        }
                    }
                } else {
                    set_default(spec, "replicas", json!(1));
                    let pt = spec.entry("podTemplate").or_insert_with(|| json!({}));
                    default_pod_template(pt, meta.container, &resources);
                }
            }
            "elasticsearch" => {
                if let Some(topo) = spec.get_mut("topology").and_then(Value::as_object_mut) {
                    for node in topo.values_mut().filter(|n| n.is_object()) {
                        if let Some(n) = node.as_object_mut() {
                            set_default(n, "replicas", json!(1));
                            let pt = n.entry("podTemplate").or_insert_with(|| json!({}));
                            default_pod_template(pt, meta.container, &resources);
                        }
                    }
                } else {
                    set_default(spec, "replicas", json!(1));
                    let pt = spec.entry("podTemplate").or_insert_with(|| json!({}));
                    default_pod_template(pt, meta.container, &resources);
                }
                set_default(spec, "heapSizePercentage", json!(50));
            }
            engine => {
                match engine {
                    "postgres" => {
                        set_default(spec, "standbyMode", json!("Hot"));
                        set_default(spec, "streamingMode", json!("Asynchronous"));
                        set_default(spec, "replicas", json!(1));
                    }
                    "mysql" => {
                        let group = spec
                            .get("topology")
                            .and_then(|t| t.get("mode"))
                            .and_then(Value::as_str)
                            .is_some_and(|m| m == "GroupReplication" || m == "InnoDBCluster");
                        set_default(spec, "replicas", json!(if group { 3 } else { 1 }));
                        if let Some(t) = spec
                            .get_mut("topology")
                            .filter(|t| t["mode"] == "GroupReplication")
                        {
                            let g = obj_mut(t, "group");
                            set_default(g, "mode", json!("Single-Primary"));
                            set_default(g, "name", json!(uuid::Uuid::new_v4().to_string()));
                        }
                    }
                    "mariadb" => {
                        let clustered = spec.get("topology").is_some_and(|t| !t.is_null());
                        set_default(spec, "replicas", json!(if clustered { 3 } else { 1 }));
                    }
                    "redis" => {
                        set_default(spec, "mode", json!("Standalone"));
                        if spec.get("mode").and_then(Value::as_str) == Some("Cluster") {
                            let c = spec.entry("cluster").or_insert_with(|| json!({}));
                            if let Some(c) = c.as_object_mut() {
                                set_default(c, "shards", json!(3));
                                set_default(c, "replicas", json!(2));
                            }
                        } else {
                            set_default(spec, "replicas", json!(1));
                        }
                    }
                    "redissentinel" => set_default(spec, "replicas", json!(3)),
                    _ => set_default(spec, "replicas", json!(1)),
                }
                let pt = spec.entry("podTemplate").or_insert_with(|| json!({}));
                default_pod_template(pt, meta.container, &resources);
            }
        }
        Ok(())
    }

    fn validate_database(
        &self,
        req: &AdmissionRequest<'_>,
        meta: &EngineMeta,
        obj: &Value,
    ) -> Result {
        let spec = &obj["spec"];
        let ns = req.namespace.unwrap_or("default");
        let version = str_at(spec, &["version"]).unwrap_or_default();
        if version.is_empty() {
            return Err(invalid("spec.version", "required"));
        }
        let old_spec = req.old.map(|o| &o["spec"]);
        let version_changed = old_spec.is_none_or(|o| str_at(o, &["version"]) != Some(version));
        if version_changed {
            match self.catalog(meta, version) {
                None => {
                    return Err(invalid(
                        "spec.version",
                        format!(
                            "unknown {} {version:?}: no such catalog object",
                            meta.version_kind
                        ),
                    ))
                }
                Some(cat) if req.op == AdmissionOp::Create && cat["spec"]["deprecated"] == true => {
                    return Err(invalid(
                        "spec.version",
                        format!(
                            "{} {version:?} is deprecated and can't be used for new databases",
                            meta.version_kind
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        let policy = str_at(spec, &["deletionPolicy"]).unwrap_or("Delete");
        let storage_type = str_at(spec, &["storageType"]).unwrap_or("Durable");
        if !["Halt", "Delete", "WipeOut", "DoNotTerminate"].contains(&policy) {
            return Err(invalid(
                "spec.deletionPolicy",
                format!("unsupported value {policy:?}"),
            ));
        }
        if policy == "Halt" && storage_type == "Ephemeral" {
            return Err(invalid(
                "spec.deletionPolicy",
                "Halt is not supported with spec.storageType Ephemeral",
            ));
        }
        if spec["halted"] == true && policy == "DoNotTerminate" {
            return Err(invalid(
                "spec.halted",
                "can't halt a database whose spec.deletionPolicy is DoNotTerminate",
            ));
        }
        if let Some(old) = old_spec {
            if str_at(old, &["storageType"]).unwrap_or("Durable") != storage_type {
                return Err(invalid("spec.storageType", "field is immutable"));
            }
            if old.get("init").and_then(|i| i.get("initialized")) == Some(&Value::Bool(true))
                && old["init"] != spec["init"]
            {
                return Err(invalid(
                    "spec.init",
                    "field is immutable once the database is initialized",
                ));
            }
        }
        // auth secret
        if let Some(auth) = at(spec, &["authSecret"]) {
            let name = auth.get("name").and_then(Value::as_str).unwrap_or_default();
            if auth.get("externallyManaged") == Some(&Value::Bool(true)) && name.is_empty() {
                return Err(invalid(
                    "spec.authSecret.name",
                    "required when spec.authSecret.externallyManaged is true",
                ));
            }
            let must_exist = auth.get("externallyManaged") == Some(&Value::Bool(true));
            if !name.is_empty() {
                match self.secret(ns, name) {
                    Some(sec) => {
                        for key in ["username", "password"] {
                            if !secret_has_key(&sec, key) {
                                return Err(invalid(
                                    "spec.authSecret.name",
                                    format!("secret {name:?} must hold a non-empty {key:?} key"),
                                ));
                            }
                        }
                    }
                    None if must_exist => {
                        return Err(invalid(
                            "spec.authSecret.name",
                            format!("secret {name:?} not found"),
                        ));
                    }
                    None => {}
                }
            }
        }
        // forbidden env vars anywhere in the pod templates
        check_env(spec, "spec")?;

        let replicas = i64_at(spec, &["replicas"]);
        let durable = storage_type == "Durable";
        match meta.engine {
            "mongodb" => validate_mongodb(spec, replicas, durable, old_spec)?,
            "postgres" => {
                if replicas.is_some_and(|r| r < 1) {
                    return Err(invalid("spec.replicas", "must be >= 1"));
                }
                if let Some(inline) =
                    at(spec, &["configuration", "inline"]).and_then(Value::as_object)
                {
                    if let Some(k) = inline.keys().find(|k| k.as_str() != "user.conf") {
                        return Err(invalid(
                            "spec.configuration.inline",
                            format!("only the key \"user.conf\" is allowed, got {k:?}"),
                        ));
                    }
                }
                require_storage(spec, durable, "spec.storage")?;
            }
            "mysql" => {
                match at(spec, &["topology"]) {
                    None => {
                        if replicas.is_some_and(|r| r != 1) {
                            return Err(invalid(
                                "spec.replicas",
                                "a standalone MySQL (no spec.topology) must have replicas = 1",
                            ));
                        }
                    }
                    Some(t) => {
                        let mode = t.get("mode").and_then(Value::as_str).unwrap_or_default();
                        match mode {
                            "GroupReplication" | "InnoDBCluster" => {
                                let r = replicas.unwrap_or(3);
                                if !(3..=9).contains(&r) {
                                    return Err(invalid(
                                        "spec.replicas",
                                        format!(
                                            "{mode} requires replicas between 3 and 9, got {r}"
                                        ),
                                    ));
                                }
                                if str_at(t, &["group", "mode"]) == Some("Multi-Primary") {
                                    let ok = self
                                        .catalog(meta, version)
                                        .and_then(|c| {
                                            c["spec"]["version"].as_str().and_then(SemVer::parse)
                                        })
                                        .is_some_and(|v| {
                                            v >= SemVer {
                                                major: 8,
                                                minor: 4,
                                                patch: 2,
                                                pre: String::new(),
                                            }
                                        });
                                    if !ok {
                                        return Err(invalid(
                                            "spec.topology.group.mode",
                                            "Multi-Primary needs version >= 8.4.2",
                                        ));
                                    }
                                }
                            }
                            "SemiSync" | "RemoteReplica" => {
                                if mode == "SemiSync" && replicas.is_some_and(|r| r < 2) {
                                    return Err(invalid(
                                        "spec.replicas",
                                        "SemiSync requires replicas >= 2",
                                    ));
                                }
                            }
                            "" => {
                                return Err(invalid(
                                    "spec.topology.mode",
                                    "required when spec.topology is set",
                                ))
                            }
                            other => {
                                return Err(invalid(
                                    "spec.topology.mode",
                                    format!("unsupported mode {other:?}"),
                                ))
                            }
                        }
                    }
                }
                require_storage(spec, durable, "spec.storage")?;
            }
            "mariadb" => {
                match at(spec, &["topology"]) {
                    None => {
                        if replicas.is_some_and(|r| r != 1) {
                            return Err(invalid(
                                "spec.replicas",
                                "a standalone MariaDB (no spec.topology) must have replicas = 1",
                            ));
                        }
                    }
                    Some(t) => {
                        let mode = t.get("mode").and_then(Value::as_str).unwrap_or_default();
                        if !["GaleraCluster", "MariaDBReplication"].contains(&mode) {
                            return Err(invalid(
                                "spec.topology.mode",
                                format!(
                                    "must be GaleraCluster or MariaDBReplication, got {mode:?}"
                                ),
                            ));
                        }
                        if replicas.is_some_and(|r| r < 3) {
                            return Err(invalid(
                                "spec.replicas",
                                format!("{mode} requires replicas >= 3"),
                            ));
                        }
                    }
                }
                require_storage(spec, durable, "spec.storage")?;
            }
            "redis" => {
                let mode = str_at(spec, &["mode"]).unwrap_or("Standalone");
                match mode {
                    "Standalone" => {
                        if replicas.is_some_and(|r| r != 1) {
                            return Err(invalid(
                                "spec.replicas",
                                "Redis mode Standalone requires replicas = 1",
                            ));
                        }
                    }
                    "Cluster" => {
                        let shards = i64_at(spec, &["cluster", "shards"]).unwrap_or(3);
                        let per = i64_at(spec, &["cluster", "replicas"]).unwrap_or(2);
                        if shards < 3 {
                            return Err(invalid(
                                "spec.cluster.shards",
                                format!("must be >= 3, got {shards}"),
                            ));
                        }
                        if per < 2 {
                            return Err(invalid(
                                "spec.cluster.replicas",
                                format!("must be >= 2 (master + replica), got {per}"),
                            ));
                        }
                    }
                    "Sentinel" => {
                        let name = str_at(spec, &["sentinelRef", "name"]).unwrap_or_default();
                        let sns = str_at(spec, &["sentinelRef", "namespace"]).unwrap_or_default();
                        if name.is_empty() || sns.is_empty() {
                            return Err(invalid(
                                "spec.sentinelRef",
                                "name and namespace are required in Sentinel mode",
                            ));
                        }
                        if replicas.is_some_and(|r| r < 1) {
                            return Err(invalid("spec.replicas", "must be >= 1"));
                        }
                        let Some(sentinel) = self.state.get(
                            DB_API_VERSION,
                            names::REDIS_SENTINEL.plural,
                            Some(sns),
                            name,
                        ) else {
                            return Err(invalid(
                                "spec.sentinelRef",
                                format!("RedisSentinel {sns}/{name} not found"),
                            ));
                        };
                        let dist = |v: &str| {
                            self.catalog(meta, v).and_then(|c| {
                                c["spec"]["distribution"].as_str().map(str::to_string)
                            })
                        };
                        let sv = str_at(&sentinel, &["spec", "version"]).unwrap_or_default();
                        if dist(sv) != dist(version) {
                            return Err(invalid(
                                "spec.sentinelRef",
                                "Redis and RedisSentinel must use the same distribution",
                            ));
                        }
                    }
                    other => {
                        return Err(invalid("spec.mode", format!("unsupported mode {other:?}")))
                    }
                }
                require_storage(spec, durable, "spec.storage")?;
            }
            "redissentinel" => {
                if replicas.is_some_and(|r| r < 1) {
                    return Err(invalid("spec.replicas", "must be >= 1"));
                }
                require_storage(spec, durable, "spec.storage")?;
            }
            "elasticsearch" => validate_elasticsearch(spec, replicas, durable)?,
            _ => {}
        }
        Ok(())
    }
}

fn secret_has_key(sec: &Value, key: &str) -> bool {
    ["data", "stringData"].iter().any(|d| {
        sec.get(d)
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    })
}

fn require_storage(spec: &Value, durable: bool, field: &str) -> Result {
    if durable && at(spec, &["storage"]).is_none() {
        return Err(invalid(field, "required when spec.storageType is Durable"));
    }
    Ok(())
}

fn check_env(v: &Value, path: &str) -> Result {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(env)) = m.get("env") {
                for e in env {
                    if let Some(n) = e.get("name").and_then(Value::as_str) {
                        if FORBIDDEN_ENV.contains(&n) {
                            return Err(invalid(
                                &format!("{path}.env"),
                                format!(
                                    "environment variable {n} is forbidden; use spec.authSecret"
                                ),
                            ));
                        }
                    }
                }
            }
            for (k, child) in m {
                if child.is_object() || child.is_array() {
                    check_env(child, &format!("{path}.{k}"))?;
                }
            }
            Ok(())
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .try_for_each(|(i, c)| check_env(c, &format!("{path}[{i}]"))),
        _ => Ok(()),
    }
}

fn validate_mongodb(
    spec: &Value,
    replicas: Option<i64>,
    durable: bool,
    old: Option<&Value>,
) -> Result {
    let rs = at(spec, &["replicaSet"]);
    let st = at(spec, &["shardTopology"]);
    if rs.is_some() && st.is_some() {
        return Err(invalid(
            "spec.shardTopology",
            "can't be used together with spec.replicaSet",
        ));
    }
    if let Some(st) = st {
        for f in ["replicas", "storage", "podTemplate", "configSecret"] {
            if at(spec, &[f]).is_some() {
                return Err(invalid(
                    &format!("spec.{f}"),
                    "must not be set together with spec.shardTopology",
                ));
            }
        }
        for (comp, fields) in [
            ("shard", &["shards", "replicas"][..]),
            ("configServer", &["replicas"][..]),
            ("mongos", &["replicas"][..]),
        ] {
            if at(st, &[comp]).is_none() {
                return Err(invalid(&format!("spec.shardTopology.{comp}"), "required"));
            }
            for f in fields {
                if i64_at(st, &[comp, f]).unwrap_or(0) < 1 {
                    return Err(invalid(
                        &format!("spec.shardTopology.{comp}.{f}"),
                        "must be >= 1",
                    ));
                }
            }
            if comp != "mongos" && durable && at(st, &[comp, "storage"]).is_none() {
                return Err(invalid(
                    &format!("spec.shardTopology.{comp}.storage"),
                    "required when spec.storageType is Durable",
                ));
            }
        }
    } else {
        match rs {
            None => {
                if replicas.is_some_and(|r| r != 1) {
                    return Err(invalid(
                        "spec.replicas",
                        "a standalone MongoDB (no spec.replicaSet) must have replicas = 1",
                    ));
                }
            }
            Some(rs) => {
                if rs
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .is_empty()
                {
                    return Err(invalid("spec.replicaSet.name", "required"));
                }
                if replicas.is_some_and(|r| r < 1) {
                    return Err(invalid("spec.replicas", "must be >= 1"));
                }
            }
        }
        if str_at(spec, &["storageEngine"]) == Some("inMemory") && replicas.unwrap_or(1) < 3 {
            return Err(invalid(
                "spec.storageEngine",
                "inMemory needs replicas >= 3",
            ));
        }
        require_storage(spec, durable, "spec.storage")?;
    }
    if let Some(old) = old {
        if str_at(old, &["replicaSet", "name"]) != str_at(spec, &["replicaSet", "name"]) {
            return Err(invalid("spec.replicaSet.name", "field is immutable"));
        }
        for comp in ["shard", "configServer", "mongos"] {
            if str_at(old, &["shardTopology", comp, "prefix"])
                != str_at(spec, &["shardTopology", comp, "prefix"])
            {
                return Err(invalid(
                    &format!("spec.shardTopology.{comp}.prefix"),
                    "field is immutable",
                ));
            }
        }
    }
    Ok(())
}

fn validate_elasticsearch(spec: &Value, replicas: Option<i64>, durable: bool) -> Result {
    if let Some(topo) = at(spec, &["topology"]) {
        for f in ["replicas", "storage"] {
            if at(spec, &[f]).is_some() {
                return Err(invalid(
                    &format!("spec.{f}"),
                    "must not be set together with spec.topology",
                ));
            }
        }
        for req in ["master", "ingest"] {
            if at(topo, &[req]).is_none() {
                return Err(invalid(
                    &format!("spec.topology.{req}"),
                    "required in topology mode",
                ));
            }
        }
        if ["data", "dataHot", "dataContent"]
            .iter()
            .all(|d| at(topo, &[d]).is_none())
        {
            return Err(invalid(
                "spec.topology.data",
                "a data node role (data, or dataHot + dataContent) is required",
            ));
        }
        let mut suffixes = std::collections::BTreeSet::new();
        if let Some(nodes) = topo.as_object() {
            for (role, node) in nodes {
                let suffix = node
                    .get("suffix")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| role.clone());
                if !suffixes.insert(suffix.clone()) {
                    return Err(invalid(
                        &format!("spec.topology.{role}.suffix"),
                        format!("suffix {suffix:?} is not unique"),
                    ));
                }
                if i64_at(node, &["replicas"]).is_some_and(|r| r < 1) {
                    return Err(invalid(
                        &format!("spec.topology.{role}.replicas"),
                        "must be >= 1",
                    ));
                }
                if durable && at(node, &["storage"]).is_none() {
                    return Err(invalid(
                        &format!("spec.topology.{role}.storage"),
                        "required when spec.storageType is Durable",
                    ));
                }
                check_es_memory(
                    node.get("podTemplate"),
                    &format!("spec.topology.{role}.podTemplate"),
                )?;
            }
        }
    } else {
        if replicas.is_some_and(|r| r < 1) {
            return Err(invalid("spec.replicas", "must be >= 1"));
        }
        require_storage(spec, durable, "spec.storage")?;
        check_es_memory(spec.get("podTemplate"), "spec.podTemplate")?;
    }
    if spec["enableSSL"] == true && spec["disableSecurity"] == true {
        return Err(invalid(
            "spec.enableSSL",
            "requires spec.disableSecurity to be false",
        ));
    }
    Ok(())
}

fn check_es_memory(pt: Option<&Value>, field: &str) -> Result {
    let containers = pt
        .and_then(|p| p.get("spec"))
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    for c in containers.into_iter().flatten() {
        if c["name"] == "elasticsearch" {
            if let Some(mem) = quantity_of(
                c.get("resources")
                    .and_then(|r| r.get("requests"))
                    .and_then(|r| r.get("memory")),
            ) {
                if mem < 256.0 * 1048576.0 {
                    return Err(invalid(
                        &format!(
                            "{field}.spec.containers[elasticsearch].resources.requests.memory"
                        ),
                        "must be >= 256Mi (heap floor 128Mi x 2)",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Extra ops types per kind beyond the common nine (kubedb-api §5.2).
fn extra_ops_types(meta: &EngineMeta) -> &'static [&'static str] {
    match meta.engine {
        "mongodb" => &["Reprovision", "Horizons"],
        "postgres" => &["ReconnectStandby", "ForceFailOver", "SetRaftKeyPair"],
        "mysql" => &["ReplicationModeTransformation"],
        "redis" => &["ReplaceSentinel", "Announce"],
        _ => &[],
    }
}

fn supported_type(meta: &EngineMeta, t: &str) -> bool {
    if meta.engine == "redissentinel" {
        return [
            "UpdateVersion",
            "HorizontalScaling",
            "VerticalScaling",
            "Restart",
            "Reconfigure",
            "ReconfigureTLS",
            "RotateAuth",
        ]
        .contains(&t);
    }
    COMMON_OPS_TYPES.contains(&t) || extra_ops_types(meta).contains(&t)
}

/// The DB storage path a VolumeExpansion / VerticalScaling component refers to.
fn component_storage<'a>(meta: &EngineMeta, db: &'a Value, comp: &str) -> Option<&'a Value> {
    let spec = &db["spec"];
    let path: Vec<&str> = match (meta.engine, comp) {
        ("mongodb", "standalone" | "replicaSet") => vec!["storage"],
        ("mongodb", "shard") => vec!["shardTopology", "shard", "storage"],
        ("mongodb", "configServer") => vec!["shardTopology", "configServer", "storage"],
        ("mongodb", "hidden") => vec!["hidden", "storage"],
        ("elasticsearch", "node") => vec!["storage"],
        ("elasticsearch", role) => vec!["topology", role, "storage"],
        ("postgres", "postgres")
        | ("mysql", "mysql")
        | ("mariadb", "mariadb")
        | ("redis", "redis") => vec!["storage"],
        _ => return None,
    };
    at(spec, &path).and_then(|s| at(s, &["resources", "requests", "storage"]))
}

const VOLUME_KEYS: &[(&str, &[&str])] = &[
    (
        "mongodb",
        &[
            "standalone",
            "replicaSet",
            "shard",
            "configServer",
            "hidden",
        ],
    ),
    ("postgres", &["postgres", "arbiter"]),
    ("mysql", &["mysql"]),
    ("mariadb", &["mariadb", "maxscale"]),
    ("redis", &["redis"]),
    (
        "elasticsearch",
        &[
            "node",
            "master",
            "ingest",
            "data",
            "dataContent",
            "dataHot",
            "dataWarm",
            "dataCold",
            "dataFrozen",
            "ml",
            "transform",
            "coordinating",
        ],
    ),
];

const VERTICAL_KEYS: &[(&str, &[&str])] = &[
    (
        "mongodb",
        &[
            "standalone",
            "replicaSet",
            "shard",
            "configServer",
            "mongos",
            "arbiter",
            "hidden",
            "exporter",
            "coordinator",
        ],
    ),
    (
        "postgres",
        &[
            "postgres",
            "arbiter",
            "readReplicas",
            "exporter",
            "coordinator",
        ],
    ),
    ("mysql", &["mysql", "exporter", "coordinator"]),
    (
        "mariadb",
        &["mariadb", "maxscale", "exporter", "coordinator"],
    ),
    ("redis", &["redis", "exporter", "coordinator"]),
    ("redissentinel", &["redissentinel", "exporter"]),
    (
        "elasticsearch",
        &[
            "node",
            "master",
            "ingest",
            "data",
            "dataContent",
            "dataHot",
            "dataWarm",
            "dataCold",
            "dataFrozen",
            "ml",
            "transform",
            "coordinating",
            "exporter",
        ],
    ),
];

fn keys_for(
    table: &'static [(&'static str, &'static [&'static str])],
    engine: &str,
) -> &'static [&'static str] {
    table
        .iter()
        .find(|(e, _)| *e == engine)
        .map(|(_, k)| *k)
        .unwrap_or(&[])
}

impl KubeDbAdmission {
    fn admit_ops(&self, req: &AdmissionRequest<'_>, meta: &EngineMeta, obj: &mut Value) -> Result {
        match req.op {
            AdmissionOp::Delete => return Ok(()),
            AdmissionOp::Update => {
                if let Some(old) = req.old {
                    if old.get("spec") != obj.get("spec") {
                        return Err(invalid(
                            "spec",
                            format!(
                                "{} spec is immutable; create a new request instead",
                                meta.ops_kind
                            ),
                        ));
                    }
                }
                return Ok(());
            }
            AdmissionOp::Create => {}
        }
        let ns = req.namespace.unwrap_or("default");
        let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
        let t = str_at(&spec, &["type"]).unwrap_or_default();
        if t.is_empty() {
            return Err(invalid("spec.type", "required"));
        }
        if !supported_type(meta, t) {
            return Err(invalid(
                "spec.type",
                format!("{t:?} is not supported by {}", meta.ops_kind),
            ));
        }
        if let Some(a) = str_at(&spec, &["apply"]) {
            if a != "IfReady" && a != "Always" {
                return Err(invalid(
                    "spec.apply",
                    format!("must be IfReady or Always, got {a:?}"),
                ));
            }
        }
        if t == "StorageMigration" && at(&spec, &["timeout"]).is_none() {
            return Err(invalid("spec.timeout", "required for StorageMigration"));
        }
        let db_name = str_at(&spec, &["databaseRef", "name"]).unwrap_or_default();
        if db_name.is_empty() {
            return Err(invalid("spec.databaseRef.name", "required"));
        }
        let Some(db) = self
            .state
            .get(DB_API_VERSION, meta.plural, Some(ns), db_name)
        else {
            // MongoDB's webhook lets a missing database through; the others reject it.
            if meta.engine == "mongodb" {
                return Ok(());
            }
            return Err(invalid(
                "spec.databaseRef.name",
                format!("{} {ns}/{db_name} not found", meta.kind),
            ));
        };
        match t {
            "UpdateVersion" => self.check_update_version(meta, &spec, &db),
            "HorizontalScaling" => check_horizontal(meta, &spec, &db),
            "VerticalScaling" => {
                let vs = at(&spec, &["verticalScaling"]).and_then(Value::as_object);
                let allowed = keys_for(VERTICAL_KEYS, meta.engine);
                let Some(vs) = vs else {
                    return Err(invalid(
                        "spec.verticalScaling",
                        "required for VerticalScaling",
                    ));
                };
                let comps: Vec<&String> = vs.keys().filter(|k| k.as_str() != "mode").collect();
                if comps.is_empty() {
                    return Err(invalid(
                        "spec.verticalScaling",
                        "at least one component is required",
                    ));
                }
                if let Some(bad) = comps.iter().find(|k| !allowed.contains(&k.as_str())) {
                    return Err(invalid(
                        &format!("spec.verticalScaling.{bad}"),
                        format!("not a component of {}", meta.kind),
                    ));
                }
                Ok(())
            }
            "VolumeExpansion" => {
                let Some(ve) = at(&spec, &["volumeExpansion"]).and_then(Value::as_object) else {
                    return Err(invalid(
                        "spec.volumeExpansion",
                        "required for VolumeExpansion",
                    ));
                };
                match ve.get("mode").and_then(Value::as_str) {
                    Some("Online" | "Offline") => {}
                    _ => {
                        return Err(invalid(
                            "spec.volumeExpansion.mode",
                            "required: Online or Offline",
                        ))
                    }
                }
                let allowed = keys_for(VOLUME_KEYS, meta.engine);
                let mut any = false;
                for (comp, size) in ve.iter().filter(|(k, _)| k.as_str() != "mode") {
                    let field = format!("spec.volumeExpansion.{comp}");
                    if !allowed.contains(&comp.as_str()) {
                        return Err(invalid(&field, format!("not a component of {}", meta.kind)));
                    }
                    any = true;
                    let Some(new) = quantity_of(Some(size)) else {
                        return Err(invalid(&field, "not a valid quantity"));
                    };
                    if let Some(cur) = quantity_of(component_storage(meta, &db, comp)) {
                        if new <= cur {
                            return Err(invalid(
                                &field,
                                format!("volume can only grow: requested {} is not larger than the current size", size_str(size)),
                            ));
                        }
                    }
                }
                if !any {
                    return Err(invalid(
                        "spec.volumeExpansion",
                        "at least one component size is required",
                    ));
                }
                Ok(())
            }
            "Reconfigure" => check_reconfigure(meta, &spec),
            "RotateAuth" => {
                if let Some(name) = str_at(&spec, &["authentication", "secretRef", "name"]) {
                    match self.secret(ns, name) {
                        None => Err(invalid(
                            "spec.authentication.secretRef.name",
                            format!("secret {name:?} not found"),
                        )),
                        Some(sec)
                            if !(secret_has_key(&sec, "username")
                                && secret_has_key(&sec, "password")) =>
                        {
                            Err(invalid(
                                "spec.authentication.secretRef.name",
                                format!(
                                    "secret {name:?} must hold non-empty username and password"
                                ),
                            ))
                        }
                        Some(_) => Ok(()),
                    }
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    fn check_update_version(&self, meta: &EngineMeta, spec: &Value, db: &Value) -> Result {
        let field = "spec.updateVersion.targetVersion";
        let Some(target) = str_at(spec, &["updateVersion", "targetVersion"]) else {
            return Err(invalid(field, "required for UpdateVersion"));
        };
        let Some(target_obj) = self.catalog(meta, target) else {
            return Err(invalid(
                field,
                format!("unknown {} {target:?}", meta.version_kind),
            ));
        };
        let current = str_at(db, &["spec", "version"]).unwrap_or_default();
        let Some(current_obj) = self.catalog(meta, current) else {
            return Err(invalid(
                field,
                format!("current version {current:?} has no catalog object"),
            ));
        };
        let topology_key = if meta.engine == "mysql" {
            match str_at(db, &["spec", "topology", "mode"]) {
                Some("SemiSync" | "RemoteReplica") => return Err(invalid(
                    field,
                    "UpdateVersion is not supported for MySQL SemiSync/RemoteReplica topologies",
                )),
                _ => Some("groupReplication"),
            }
        } else {
            None
        };
        let all = self
            .state
            .list(CATALOG_API_VERSION, meta.version_plural, None);
        let allowed = upgradable_names(&current_obj, &all, topology_key);
        if !allowed.iter().any(|n| n == target) {
            return Err(invalid(
                field,
                format!("{current} can't be updated to {target}: not allowed by the updateConstraints of {} {current}", meta.version_kind),
            ));
        }
        let sp = |o: &Value, p: &[&str]| str_at(&o["spec"], p).map(str::to_string);
        match meta.engine {
            "postgres" => {
                if sp(&current_obj, &["distribution"]) != sp(&target_obj, &["distribution"]) {
                    return Err(invalid(
                        field,
                        "source and target must have the same distribution",
                    ));
                }
                let (a, b) = (
                    sp(&current_obj, &["db", "baseOS"]),
                    sp(&target_obj, &["db", "baseOS"]),
                );
                if a.is_some() && b.is_some() && a != b {
                    return Err(invalid(
                        field,
                        "source and target must have the same db.baseOS",
                    ));
                }
            }
            "redis" => {
                let (da, db_) = (
                    sp(&current_obj, &["distribution"]),
                    sp(&target_obj, &["distribution"]),
                );
                if da != db_ {
                    let major = |o: &Value| {
                        sp(o, &["version"])
                            .and_then(|v| SemVer::parse(&v))
                            .map(|v| v.major)
                    };
                    if major(&current_obj) != major(&target_obj) {
                        return Err(invalid(field, "switching between Official and Valkey is allowed only within the same major version"));
                    }
                }
                if str_at(db, &["spec", "mode"]) == Some("Sentinel") {
                    let sname = str_at(db, &["spec", "sentinelRef", "name"]).unwrap_or_default();
                    let sns = str_at(db, &["spec", "sentinelRef", "namespace"]).unwrap_or_default();
                    if let Some(s) = self.state.get(
                        DB_API_VERSION,
                        names::REDIS_SENTINEL.plural,
                        Some(sns),
                        sname,
                    ) {
                        let sv = str_at(&s, &["spec", "version"])
                            .and_then(|n| self.catalog(meta, n))
                            .and_then(|c| sp(&c, &["version"]));
                        if sv != sp(&target_obj, &["version"]) {
                            return Err(invalid(field, "in Sentinel mode the RedisSentinel must already run the target version"));
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn size_str(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

fn check_horizontal(meta: &EngineMeta, spec: &Value, db: &Value) -> Result {
    let Some(hs) = at(spec, &["horizontalScaling"]) else {
        return Err(invalid(
            "spec.horizontalScaling",
            "required for HorizontalScaling",
        ));
    };
    let f = |k: &str| format!("spec.horizontalScaling.{k}");
    let positive = |k: &str, v: Option<i64>| -> Result {
        match v {
            Some(n) if n <= 0 => Err(invalid(&f(k), "must be > 0")),
            _ => Ok(()),
        }
    };
    let dbs = &db["spec"];
    match meta.engine {
        "mongodb" => {
            let sharded = at(dbs, &["shardTopology"]).is_some();
            let replicas = i64_at(hs, &["replicas"]);
            if replicas.is_some() {
                if sharded || at(dbs, &["replicaSet"]).is_none() {
                    return Err(invalid(&f("replicas"), "only for replica sets"));
                }
                if ["shard", "configServer", "mongos"]
                    .iter()
                    .any(|k| at(hs, &[k]).is_some())
                {
                    return Err(invalid(&f("replicas"), "can't be mixed with shard fields"));
                }
                positive("replicas", replicas)?;
                if str_at(dbs, &["storageEngine"]) == Some("inMemory") && replicas.unwrap_or(0) < 3
                {
                    return Err(invalid(&f("replicas"), "inMemory needs >= 3 replicas"));
                }
            } else if sharded {
                positive("shard.shards", i64_at(hs, &["shard", "shards"]))?;
                positive("shard.replicas", i64_at(hs, &["shard", "replicas"]))?;
                positive(
                    "configServer.replicas",
                    i64_at(hs, &["configServer", "replicas"]),
                )?;
                positive("mongos.replicas", i64_at(hs, &["mongos", "replicas"]))?;
            } else if at(hs, &["hidden"]).is_none() {
                return Err(invalid(
                    &f("replicas"),
                    "a standalone MongoDB can't be scaled",
                ));
            }
        }
        "postgres" => {
            let r = i64_at(hs, &["replicas"]);
            if r.is_none() && at(hs, &["readReplicas"]).is_none() {
                return Err(invalid(
                    &f("replicas"),
                    "one of replicas or readReplicas is required",
                ));
            }
            positive("replicas", r)?;
        }
        "mysql" => {
            let mode = str_at(dbs, &["topology", "mode"]);
            if !matches!(mode, Some("GroupReplication" | "InnoDBCluster")) {
                return Err(invalid(
                    &f("member"),
                    "horizontal scaling is supported only for group replication topologies",
                ));
            }
            // Upstream's check rejects <= 2 and >= 9 while its message says 3..9.
            match i64_at(hs, &["member"]) {
                Some(m) if m > 2 && m < 9 => {}
                Some(m) => {
                    return Err(invalid(
                        &f("member"),
                        format!("group replication needs 3..9 members, got {m}"),
                    ))
                }
                None => return Err(invalid(&f("member"), "required")),
            }
        }
        "mariadb" => {
            if at(dbs, &["topology"]).is_none() {
                return Err(invalid(
                    &f("member"),
                    "horizontal scaling is supported only for clustered MariaDB",
                ));
            }
            match i64_at(hs, &["member"]) {
                Some(m) if (3..=9).contains(&m) => {}
                Some(m) => {
                    return Err(invalid(
                        &f("member"),
                        format!("must be between 3 and 9, got {m}"),
                    ))
                }
                None if hs.get("maxscale").is_some() => {}
                None => return Err(invalid(&f("member"), "required")),
            }
        }
        "redis" => match str_at(dbs, &["mode"]).unwrap_or("Standalone") {
            "Standalone" => {
                return Err(invalid(
                    "spec.horizontalScaling",
                    "not allowed for Redis mode Standalone",
                ))
            }
            "Cluster" => {
                if let Some(s) = i64_at(hs, &["shards"]) {
                    if s < 3 {
                        return Err(invalid(&f("shards"), format!("must be >= 3, got {s}")));
                    }
                }
                if let Some(r) = i64_at(hs, &["replicas"]) {
                    if r < 2 {
                        return Err(invalid(&f("replicas"), format!("must be >= 2, got {r}")));
                    }
                }
                if i64_at(hs, &["shards"]).is_none() && i64_at(hs, &["replicas"]).is_none() {
                    return Err(invalid(
                        "spec.horizontalScaling",
                        "shards or replicas is required",
                    ));
                }
            }
            _ => {
                let r = i64_at(hs, &["replicas"]);
                if r.is_none() {
                    return Err(invalid(&f("replicas"), "required"));
                }
                positive("replicas", r)?;
            }
        },
        "redissentinel" => positive("replicas", i64_at(hs, &["replicas"]))?,
        "elasticsearch" => {
            if at(dbs, &["topology"]).is_some() {
                if at(hs, &["node"]).is_some() {
                    return Err(invalid(
                        &f("node"),
                        "use horizontalScaling.topology for a topology cluster",
                    ));
                }
                let Some(t) = at(hs, &["topology"]).and_then(Value::as_object) else {
                    return Err(invalid(&f("topology"), "required for a topology cluster"));
                };
                for (role, n) in t {
                    if at(dbs, &["topology", role]).is_none() {
                        return Err(invalid(
                            &f(&format!("topology.{role}")),
                            "no such node role in the database",
                        ));
                    }
                    positive(&format!("topology.{role}"), n.as_i64())?;
                }
            } else {
                if at(hs, &["topology"]).is_some() {
                    return Err(invalid(
                        &f("topology"),
                        "use horizontalScaling.node for a combined cluster",
                    ));
                }
                let n = i64_at(hs, &["node"]);
                if n.is_none() {
                    return Err(invalid(&f("node"), "required"));
                }
                positive("node", n)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn check_reconfigure(meta: &EngineMeta, spec: &Value) -> Result {
    let Some(c) = at(spec, &["configuration"]) else {
        return Err(invalid("spec.configuration", "required for Reconfigure"));
    };
    let has_base = |b: &Value| {
        [
            "configSecret",
            "applyConfig",
            "removeCustomConfig",
            "tuning",
            "auth",
            "secureConfigSecret",
            "removeSecureCustomConfig",
        ]
        .iter()
        .any(|k| at(b, &[k]).is_some_and(|v| v != &Value::Bool(false)))
    };
    if meta.engine == "postgres" {
        if let Some(ac) = at(c, &["applyConfig"]).and_then(Value::as_object) {
            if !ac.is_empty() && !ac.contains_key("user.conf") {
                return Err(invalid(
                    "spec.configuration.applyConfig",
                    "must contain the key \"user.conf\"",
                ));
            }
        }
        if c["restart"] == "false" && c["removeCustomConfig"] == true {
            return Err(invalid(
                "spec.configuration.restart",
                "\"false\" can't be combined with removeCustomConfig: true",
            ));
        }
    }
    let ok = if meta.engine == "mongodb" {
        has_base(c)
            || [
                "standalone",
                "replicaSet",
                "shard",
                "configServer",
                "mongos",
                "arbiter",
                "hidden",
            ]
            .iter()
            .any(|k| at(c, &[k]).is_some_and(has_base))
    } else {
        has_base(c)
    };
    if !ok {
        return Err(invalid(
            "spec.configuration",
            "at least one of configSecret, applyConfig, removeCustomConfig (or tuning) is required",
        ));
    }
    Ok(())
}
