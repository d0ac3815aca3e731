//! Domain records → Kubernetes objects (pure, no I/O). Every name derives from ids or names the
//! platform already owns, so a retried step produces the same object.

use std::collections::BTreeMap;

use domain::engine::{Engine, Size};
use domain::model::Database;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::kubedb::names::{self, EngineMeta};

pub const LABEL_MANAGED_BY: &str = names::LABEL_MANAGED_BY;
/// `app.kubernetes.io/managed-by` value on every object the platform creates.
pub const LABEL_MANAGED_BY_VALUE: &str = "kubedb-dbaas";
pub const LABEL_DOMAIN: &str = "dbaas.io/domain";
pub const LABEL_PROJECT: &str = "dbaas.io/project";
pub const LABEL_DATABASE_ID: &str = "dbaas.io/database-id";
/// On objects made for one operation (OpsRequests and their Secrets): the operation's id.
pub const LABEL_OPERATION_ID: &str = "dbaas.io/operation-id";
/// Namespaces labelled with this (value `true`) may reach every database: the platform itself,
/// and whatever else the operator trusts (Prometheus, the KubeDB operator if not in `kubedb`).
pub const LABEL_PLATFORM: &str = "dbaas.io/platform";
/// Where the KubeDB operator runs by default; its health checks must reach the pods.
pub const KUBEDB_NAMESPACE: &str = "kubedb";
/// Redis HA runs in Cluster mode with this many shards (KubeDB's minimum).
pub use domain::engine::REDIS_CLUSTER_SHARDS;

const MAX_LABEL: usize = 63;
const HASH_LEN: usize = 8;

/// KubeDB metadata of an engine.
pub fn meta(engine: Engine) -> &'static EngineMeta {
    match engine {
        Engine::Postgres => &names::POSTGRES,
        Engine::Mysql => &names::MYSQL,
        Engine::Mariadb => &names::MARIADB,
        Engine::Mongodb => &names::MONGODB,
        Engine::Redis => &names::REDIS,
        Engine::Elasticsearch => &names::ELASTICSEARCH,
    }
}

/// The engine of a KubeDB database kind (`Postgres`, …); `None` for RedisSentinel and others.
pub fn engine_of_kind(kind: &str) -> Option<Engine> {
    Engine::ALL.into_iter().find(|e| meta(*e).kind == kind)
}

fn short_hash(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    hex::encode(digest)[..HASH_LEN].to_string()
}

/// Lowercase, `[a-z0-9-]` only, no runs of `-`, no `-` at either end.
fn sanitise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// Hex characters of the hash that makes a namespace name unique (64 bits).
const NAMESPACE_HASH_LEN: usize = 16;

/// The namespace of one project: `dbaas-<readable>-<hash>`, a DNS-1123 label of at most 63 chars.
///
/// Injective by construction: the suffix is always a hash of the exact, unambiguous pair
/// (`domain NUL project`; neither may contain NUL), so `acme`/`corp-default` and `acme-corp`/`default`,
/// which read alike, get different names. The readable head (sanitised, cut to fit) is only for
/// people. The namespace also carries the pair as labels, and the platform refuses a namespace whose
/// labels name another pair, so even a hash collision could never merge two tenants.
pub fn namespace_name(domain: &str, project: &str) -> String {
    let hash = hex::encode(Sha256::digest(format!("{domain}\u{0}{project}").as_bytes()));
    let keep = MAX_LABEL - "dbaas-".len() - 1 - NAMESPACE_HASH_LEN;
    let readable = sanitise(&format!("{domain}-{project}"));
    let mut head: String = readable.chars().take(keep).collect();
    while head.ends_with('-') {
        head.pop();
    }
    let hash = &hash[..NAMESPACE_HASH_LEN];
    if head.is_empty() {
        format!("dbaas-{hash}")
    } else {
        format!("dbaas-{head}-{hash}")
    }
}

/// A label value: ≤ 63 chars of `[A-Za-z0-9-_.]`, alphanumeric at both ends (hash-suffixed when cut).
pub(crate) fn label_value(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.len() <= MAX_LABEL && trimmed == s {
        return trimmed.to_string();
    }
    let keep = MAX_LABEL - 1 - HASH_LEN;
    let head: String = trimmed.chars().take(keep).collect();
    let head = head.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    if head.is_empty() {
        short_hash(s)
    } else {
        format!("{head}-{}", short_hash(s))
    }
}

/// Our labels for objects of one project.
fn project_labels(domain: &str, project: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(LABEL_MANAGED_BY.into(), json!(LABEL_MANAGED_BY_VALUE));
    m.insert(LABEL_DOMAIN.into(), json!(label_value(domain)));
    m.insert(LABEL_PROJECT.into(), json!(label_value(project)));
    m
}

/// Our labels for objects of one database.
pub(crate) fn database_labels(db: &Database) -> Map<String, Value> {
    let mut m = project_labels(&db.domain, &db.project);
    m.insert(LABEL_DATABASE_ID.into(), json!(label_value(&db.id)));
    m
}

/// The label value a database id becomes (ids are UUIDs, which pass unchanged).
pub fn database_id_label(id: &str) -> String {
    label_value(id)
}

/// Whose an object must be for the platform to act on it: the labels the platform puts on what it
/// creates. The platform never reads, patches or deletes an object whose labels name another owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner<'a> {
    pub domain: &'a str,
    pub project: &'a str,
    pub database_id: &'a str,
}

impl<'a> Owner<'a> {
    pub fn of(db: &'a Database) -> Owner<'a> {
        Owner {
            domain: &db.domain,
            project: &db.project,
            database_id: &db.id,
        }
    }

    /// The namespace's labels name this project (and the platform made it).
    pub fn owns_namespace(&self, labels: &BTreeMap<String, String>) -> bool {
        same_labels(labels, &project_labels(self.domain, self.project))
    }

    /// The object's labels name this database (and the platform made it).
    pub fn owns_object(&self, labels: &BTreeMap<String, String>) -> bool {
        let mut want = project_labels(self.domain, self.project);
        want.insert(
            LABEL_DATABASE_ID.into(),
            json!(label_value(self.database_id)),
        );
        same_labels(labels, &want)
    }

    /// A label selector for the objects the platform made for this database (what
    /// [`Owner::owns_object`] checks).
    pub fn label_selector(&self) -> String {
        let mut want = project_labels(self.domain, self.project);
        want.insert(
            LABEL_DATABASE_ID.into(),
            json!(label_value(self.database_id)),
        );
        want.iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// For messages: whom the labels name instead.
    pub fn describe(labels: &BTreeMap<String, String>) -> String {
        let get = |k: &str| labels.get(k).map(String::as_str);
        match (get(LABEL_MANAGED_BY), get(LABEL_DOMAIN), get(LABEL_PROJECT)) {
            (Some(LABEL_MANAGED_BY_VALUE), Some(d), Some(p)) => match get(LABEL_DATABASE_ID) {
                Some(id) => format!("database {id} of {d}/{p}"),
                None => format!("project {d}/{p}"),
            },
            _ => "something the platform did not create".into(),
        }
    }
}

/// Every wanted label is there with the wanted value.
fn same_labels(have: &BTreeMap<String, String>, want: &Map<String, Value>) -> bool {
    want.iter()
        .all(|(k, v)| have.get(k).map(String::as_str) == v.as_str())
}

/// What the server hands in besides the Database record.
#[derive(Debug, Clone, Copy)]
pub struct CreatePlan<'a> {
    pub db: &'a Database,
    pub namespace: &'a str,
    /// The catalog object name to put in spec.version.
    pub version_name: &'a str,
    /// Some(name) when the user supplied credentials.
    pub auth_secret: Option<&'a str>,
    pub storage_class: Option<&'a str>,
    /// `ClusterIP` or `LoadBalancer`.
    pub service_type: &'a str,
    /// How a Prometheus is to find the database's exporter (with monitoring on).
    pub monitor: &'a MonitorAgent,
}

/// The stats Service labels a ServiceMonitor turns into series labels: the names the
/// dashboards, alert rules and the history route select by (the scrape config of the builtin
/// agent makes the same ones from the `dbaas.io/` labels).
const OPERATOR_TARGET_LABELS: [&str; 3] = ["database_id", "domain", "project"];

/// How a Prometheus finds the databases' exporters (`spec.monitor.agent`).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum MonitorAgent {
    /// `prometheus.io/builtin`: the stats Service carries `prometheus.io/scrape` annotations for a
    /// Prometheus that discovers Services (the scrape config in deploy/monitoring).
    #[default]
    Builtin,
    /// `prometheus.io/operator`: KubeDB makes a ServiceMonitor with these labels (they must match
    /// the Prometheus Operator's `serviceMonitorSelector`), scraped every `interval`.
    Operator {
        labels: BTreeMap<String, String>,
        interval: String,
    },
}

impl MonitorAgent {
    /// `spec.monitor` for a database.
    pub fn spec(&self) -> Value {
        let exporter = json!({ "port": names::EXPORTER_PORT });
        match self {
            MonitorAgent::Builtin => json!({
                "agent": "prometheus.io/builtin",
                "prometheus": { "exporter": exporter },
            }),
            MonitorAgent::Operator { labels, interval } => json!({
                "agent": "prometheus.io/operator",
                "prometheus": {
                    "exporter": exporter,
                    "serviceMonitor": {
                        "labels": labels,
                        "interval": interval,
                        // The Prometheus Operator copies these labels of the stats Service onto
                        // every series (see `stats_template`).
                        "targetLabels": OPERATOR_TARGET_LABELS,
                    },
                },
            }),
        }
    }
}

/// `500m`, `1`, `2`… cores as a Kubernetes quantity.
fn cpu_quantity(cores: f64) -> String {
    if (cores.fract()).abs() < f64::EPSILON {
        format!("{}", cores as i64)
    } else {
        format!("{}m", (cores * 1000.0).round() as i64)
    }
}

/// `1Gi`, `512Mi`… from GiB.
fn memory_quantity(gb: f64) -> String {
    if (gb.fract()).abs() < f64::EPSILON {
        format!("{}Gi", gb as i64)
    } else {
        format!("{}Mi", (gb * 1024.0).round() as i64)
    }
}

/// requests = limits for the size.
pub fn size_resources(size: Size) -> Value {
    let r = json!({ "cpu": cpu_quantity(size.cpu_cores()), "memory": memory_quantity(size.memory_gb()) });
    json!({ "requests": r, "limits": r })
}

/// The storage request string for `storage_gb`.
pub fn storage_quantity(storage_gb: i64) -> String {
    format!("{storage_gb}Gi")
}

/// The KubeDB `kubedb.com/v1` object for the engine, ready to POST.
///
/// HA topologies: MongoDB replica set `rs0`; Postgres hot standbys with asynchronous streaming;
/// MySQL Group Replication (Single-Primary); MariaDB Galera; Elasticsearch combined mode with
/// `replicas` nodes that all hold every role (3 master-eligible nodes form a quorum, and size and
/// storage keep meaning "per node"); Redis Cluster mode with 3 shards of `replicas` pods each.
/// Redis Cluster rather than Sentinel because it is one self-contained object: Sentinel needs a
/// separate RedisSentinel object created first (admission rejects the Redis otherwise), with its
/// own lifecycle, version and deletion, which a single idempotent create cannot cover.
pub fn database_object(plan: &CreatePlan) -> Value {
    let db = plan.db;
    let m = meta(db.engine);
    let ha = db.high_availability;
    let replicas = if ha { db.replicas.max(1) } else { 1 };

    let mut labels = Map::new();
    for (k, v) in &db.labels {
        labels.insert(k.clone(), json!(v));
    }
    labels.extend(database_labels(db));
    let annotations: Map<String, Value> = db
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();

    let mut storage = json!({
        "accessModes": ["ReadWriteOnce"],
        "resources": { "requests": { "storage": storage_quantity(db.storage_gb) } },
    });
    if let Some(sc) = plan.storage_class {
        storage["storageClassName"] = json!(sc);
    }
    let mut spec = json!({
        "version": plan.version_name,
        "storageType": "Durable",
        "storage": storage,
        "podTemplate": { "spec": { "containers": [
            { "name": m.container, "resources": size_resources(db.size) }
        ] } },
        "deletionPolicy": if db.deletion_protection { "DoNotTerminate" } else { "Delete" },
        "serviceTemplates": [ { "alias": "primary", "spec": { "type": plan.service_type } } ],
    });
    if db.monitoring_enabled {
        spec["monitor"] = plan.monitor.spec();
        spec["serviceTemplates"]
            .as_array_mut()
            .expect("a list")
            .push(stats_template(db, plan.monitor));
    }
    if let Some(secret) = plan.auth_secret {
        spec["authSecret"] = json!({ "kind": "Secret", "name": secret, "externallyManaged": true });
    }
    match db.engine {
        Engine::Mongodb => {
            spec["replicas"] = json!(replicas);
            if ha {
                spec["replicaSet"] = json!({ "name": "rs0" });
            }
        }
        Engine::Postgres => {
            spec["replicas"] = json!(replicas);
            if ha {
                spec["standbyMode"] = json!("Hot");
                spec["streamingMode"] = json!("Asynchronous");
            }
        }
        Engine::Mysql => {
            spec["replicas"] = json!(replicas);
            if ha {
                spec["topology"] = json!({
                    "mode": "GroupReplication",
                    "group": { "mode": "Single-Primary" },
                });
            }
        }
        Engine::Mariadb => {
            spec["replicas"] = json!(replicas);
            if ha {
                spec["topology"] = json!({ "mode": "GaleraCluster" });
            }
        }
        Engine::Redis => {
            if ha {
                spec["mode"] = json!("Cluster");
                spec["cluster"] = json!({ "shards": REDIS_CLUSTER_SHARDS, "replicas": replicas });
            } else {
                spec["mode"] = json!("Standalone");
                spec["replicas"] = json!(1);
            }
        }
        Engine::Elasticsearch => {
            spec["replicas"] = json!(replicas);
            // HTTPS with KubeDB's own self-signed certificates; security stays on.
            spec["enableSSL"] = json!(true);
        }
    }
    let mut metadata = json!({
        "name": db.name,
        "namespace": plan.namespace,
        "labels": labels,
    });
    if !annotations.is_empty() {
        metadata["annotations"] = Value::Object(annotations);
    }
    json!({
        "apiVersion": names::DB_API_VERSION,
        "kind": m.kind,
        "metadata": metadata,
        "spec": spec,
    })
}

/// The stats Service's template: it carries whose database it is, so a Prometheus can label
/// the series (`database_id`, `domain`, `project`; see deploy/monitoring). KubeDB's own
/// `managed-by` stays: it finds its Services by it.
fn stats_template(db: &Database, agent: &MonitorAgent) -> Value {
    let mut labels = database_labels(db);
    labels.remove(LABEL_MANAGED_BY);
    if matches!(agent, MonitorAgent::Operator { .. }) {
        // A ServiceMonitor cannot relabel, so the Service carries the series' label names too.
        let same = [LABEL_DATABASE_ID, LABEL_DOMAIN, LABEL_PROJECT];
        for (plain, ours) in OPERATOR_TARGET_LABELS.into_iter().zip(same) {
            let value = labels[ours].clone();
            labels.insert(plain.into(), value);
        }
    }
    json!({ "alias": "stats", "metadata": { "labels": labels } })
}

/// The merge patch that turns monitoring on (`agent`) or off (`None`) on an existing database
/// object whose spec is `spec`: `spec.monitor` and the stats Service template, the other
/// Service templates kept as they are.
pub fn monitoring_patch(spec: &Value, db: &Database, agent: Option<&MonitorAgent>) -> Value {
    let mut templates: Vec<Value> = spec["serviceTemplates"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter(|t| t["alias"] != "stats")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if let Some(agent) = agent {
        templates.push(stats_template(db, agent));
    }
    json!({
        "monitor": agent.map_or(Value::Null, MonitorAgent::spec),
        "serviceTemplates": templates,
    })
}

pub fn namespace_object(name: &str, domain: &str, project: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": name, "labels": project_labels(domain, project) },
    })
}

/// Name of the database's NetworkPolicy.
pub fn network_policy_name(db_name: &str) -> String {
    format!("{db_name}-dbaas-ingress")
}

/// Labels KubeDB puts on a database's pods (kubedb-api §4).
fn pod_selector(db: &Database) -> Value {
    json!({
        names::LABEL_NAME: meta(db.engine).resource_label(),
        names::LABEL_INSTANCE: db.name,
    })
}

/// Admits ingress to the database's pods only from namespaces labelled `dbaas.io/platform=true`,
/// from the KubeDB operator's namespace (`kubedb`; its health checks must get through), from
/// namespaces matching `allowed_namespace_labels` (skipped when empty), and from the database's
/// own pods (replication between peers).
pub fn network_policy(
    db: &Database,
    namespace: &str,
    allowed_namespace_labels: &BTreeMap<String, String>,
) -> Value {
    let mut from = vec![
        json!({ "namespaceSelector": { "matchLabels": { LABEL_PLATFORM: "true" } } }),
        json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": KUBEDB_NAMESPACE } } }),
        json!({ "podSelector": { "matchLabels": pod_selector(db) } }),
    ];
    if !allowed_namespace_labels.is_empty() {
        from.push(json!({ "namespaceSelector": { "matchLabels": allowed_namespace_labels } }));
    }
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": network_policy_name(&db.name),
            "namespace": namespace,
            "labels": database_labels(db),
        },
        "spec": {
            "podSelector": { "matchLabels": pod_selector(db) },
            "policyTypes": ["Ingress"],
            "ingress": [ { "from": from } ],
        },
    })
}

/// kubernetes.io/basic-auth Secret with `username`/`password`, name `<db-name>-auth`.
pub fn auth_secret(db: &Database, namespace: &str, username: &str, password: &str) -> Value {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/basic-auth",
        "metadata": {
            "name": names::auth_secret_name(&db.name),
            "namespace": namespace,
            "labels": database_labels(db),
        },
        "data": { "username": b64(username), "password": b64(password) },
    })
}

/// Everything but RFC 3986 unreserved characters is escaped in the userinfo.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Connection string per engine, with user and password percent-encoded. The database part:
/// Postgres `postgres`, MySQL/MariaDB `mysql` (the system schema every server has), MongoDB
/// `admin` (the root user's auth database), Redis `0`, Elasticsearch none (empty string).
pub fn connection_string(
    engine: Engine,
    user: &str,
    password: &str,
    host: &str,
    port: u16,
) -> (String, String) {
    let u = utf8_percent_encode(user, USERINFO);
    let p = utf8_percent_encode(password, USERINFO);
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let (scheme, database) = match engine {
        Engine::Postgres => ("postgresql", "postgres"),
        Engine::Mysql | Engine::Mariadb => ("mysql", "mysql"),
        Engine::Mongodb => ("mongodb", "admin"),
        Engine::Redis => ("redis", "0"),
        Engine::Elasticsearch => ("https", ""),
    };
    let url = if database.is_empty() {
        format!("{scheme}://{u}:{p}@{host}:{port}")
    } else {
        format!("{scheme}://{u}:{p}@{host}:{port}/{database}")
    };
    (database.to_string(), url)
}

/// The user KubeDB creates for an engine/version when we do not supply one.
pub fn default_username(engine: Engine, version_name: &str) -> &'static str {
    match engine {
        Engine::Elasticsearch => names::elasticsearch_user(version_name),
        other => meta(other).default_user,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_dns_label(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
    }

    #[test]
    fn namespaces_are_readable_and_hashed() {
        let n = namespace_name("acme", "web");
        assert!(n.starts_with("dbaas-acme-web-"), "{n}");
        assert_eq!(n.len(), "dbaas-acme-web-".len() + NAMESPACE_HASH_LEN);
        assert!(is_dns_label(&n));
        assert_eq!(n, namespace_name("acme", "web"), "stable");
    }

    #[test]
    fn the_reviewed_collision_is_gone() {
        // The outside review's pair: both read `dbaas-acme-corp-default-…`.
        let victim = namespace_name("acme-corp", "default");
        let attacker = namespace_name("acme", "corp-default-7a75ea56");
        assert_ne!(victim, attacker);
        assert_ne!(namespace_name("a-b", "c"), namespace_name("a", "b-c"));
    }

    #[test]
    fn long_names_are_cut_and_hashed_stably() {
        let d = "a".repeat(63);
        let p = "b".repeat(63);
        let n = namespace_name(&d, &p);
        assert_eq!(n.len(), 63);
        assert!(is_dns_label(&n), "{n}");
        let n2 = namespace_name(&d, &format!("{}c", "b".repeat(62)));
        assert_ne!(n, n2);
        assert_eq!(n[..46], n2[..46], "same readable head");
    }

    #[test]
    fn odd_input_is_sanitised() {
        for (d, p) in [
            ("Acme.Corp", "Web_Shop"),
            ("--x--", "__"),
            ("ünïcode", "ok"),
            ("", ""),
        ] {
            let n = namespace_name(d, p);
            assert!(is_dns_label(&n), "{d:?}/{p:?} → {n}");
        }
        assert_ne!(
            namespace_name("Acme", "web"),
            namespace_name("acme", "web"),
            "sanitising must not merge distinct inputs"
        );
    }

    #[test]
    fn many_long_names_never_collide() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..2000 {
            let n = namespace_name(&"d".repeat(40), &format!("{}{i}", "p".repeat(40)));
            assert!(is_dns_label(&n));
            assert!(seen.insert(n), "collision at {i}");
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(cpu_quantity(0.5), "500m");
        assert_eq!(cpu_quantity(2.0), "2");
        assert_eq!(memory_quantity(1.0), "1Gi");
        assert_eq!(memory_quantity(1.5), "1536Mi");
        assert_eq!(storage_quantity(20), "20Gi");
        let r = size_resources(Size::Micro);
        assert_eq!(r["requests"], json!({"cpu": "500m", "memory": "1Gi"}));
        assert_eq!(r["requests"], r["limits"]);
    }

    #[test]
    fn label_values_are_valid() {
        assert_eq!(
            label_value("0190a8e4-7f3b-7c1d-9a2b-1c2d3e4f5a6b"),
            "0190a8e4-7f3b-7c1d-9a2b-1c2d3e4f5a6b"
        );
        let long = label_value(&"x".repeat(100));
        assert!(long.len() <= 63);
        let odd = label_value("-a b-");
        assert!(odd.chars().next().unwrap().is_ascii_alphanumeric());
        assert_ne!(label_value("a b"), label_value("a-b"));
    }
}
