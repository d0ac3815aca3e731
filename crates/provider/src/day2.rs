//! Day-2 operations as KubeDB objects (pure, no I/O): one `ops.kubedb.com/v1alpha1`
//! `<Engine>OpsRequest` per platform operation, plus the Secrets a Reconfigure or a RotateAuth
//! hands to KubeDB (kubedb-api §5).
//!
//! Every name derives from the operation id alone, so a retried step finds the object it made
//! before; every object carries the database's labels plus `dbaas.io/operation-id`, so the
//! cluster steps ([`crate::Cluster::submit_ops_request`], [`crate::Cluster::ensure_object`])
//! accept only their own object under that name.

use std::collections::BTreeMap;

use base64::Engine as _;
use domain::engine::{Engine, Size, REDIS_CLUSTER_SHARDS};
use domain::ids::{is_id, IdKind};
use domain::model::Database;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::kubedb::names::OPS_API_VERSION;
use crate::translate::{
    database_labels, label_value, meta, size_resources, storage_quantity, LABEL_OPERATION_ID,
};

pub use crate::observe::ObservedOpsRequest;

/// What one day-2 operation changes. Values have record semantics: the new number of members, the
/// new size, the new storage, …, not a delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpsChange<'a> {
    /// HA databases only. Members: `spec.replicas`; for Redis Cluster the pods per shard (the
    /// number of shards stays [`REDIS_CLUSTER_SHARDS`]).
    HorizontalScaling {
        replicas: i64,
    },
    VerticalScaling {
        size: Size,
    },
    /// Must be larger than the current storage (KubeDB only grows volumes).
    VolumeExpansion {
        storage_gb: i64,
    },
    /// The catalog object name to move to (what goes into `spec.version`).
    UpdateVersion {
        version_name: &'a str,
    },
    Restart,
    /// Name of the Secret made by [`config_secret`].
    Reconfigure {
        config_secret: &'a str,
    },
    /// Name of the Secret made by [`rotated_auth_secret`].
    RotateAuth {
        secret_name: &'a str,
    },
}

impl OpsChange<'_> {
    /// The OpsRequest `spec.type`.
    pub fn ops_type(&self) -> &'static str {
        use crate::kubedb::ops::types;
        match self {
            OpsChange::HorizontalScaling { .. } => types::HORIZONTAL_SCALING,
            OpsChange::VerticalScaling { .. } => types::VERTICAL_SCALING,
            OpsChange::VolumeExpansion { .. } => types::VOLUME_EXPANSION,
            OpsChange::UpdateVersion { .. } => types::UPDATE_VERSION,
            OpsChange::Restart => types::RESTART,
            OpsChange::Reconfigure { .. } => types::RECONFIGURE,
            OpsChange::RotateAuth { .. } => types::ROTATE_AUTH,
        }
    }

    /// `spec.apply`: `IfReady` (run only on a Ready database) for everything that reshapes the
    /// database; `Always` for Restart, which is what one asks for when a database is degraded
    /// (kubedb-api §5.1, §5.5).
    pub fn apply(&self) -> &'static str {
        match self {
            OpsChange::Restart => "Always",
            _ => "IfReady",
        }
    }

    /// `spec.timeout` (a Go duration; KubeDB applies it per step, not to the whole request).
    pub fn timeout(&self) -> &'static str {
        match self {
            OpsChange::VolumeExpansion { .. } | OpsChange::UpdateVersion { .. } => "30m",
            OpsChange::VerticalScaling { .. } => "15m",
            _ => "10m",
        }
    }
}

/// Hex characters of the hash that names objects of a malformed operation id (160 bits).
const OP_HASH_LEN: usize = 40;

/// The part every object of one operation is named by: a well-formed operation id (`op-` and 32
/// lowercase hex digits, already a DNS-1123 label) stands for itself; anything else becomes
/// `opx-<hash>`, which no well-formed id can equal. Injective (up to SHA-256 collisions for
/// malformed ids, which the platform never makes).
fn op_token(op_id: &str) -> String {
    if is_id(IdKind::Operation, op_id) {
        op_id.to_string()
    } else {
        let hash = hex::encode(Sha256::digest(op_id.as_bytes()));
        format!("opx-{}", &hash[..OP_HASH_LEN])
    }
}

/// Name of the operation's OpsRequest: a DNS-1123 label derived from the operation id only
/// (`op-<32 hex>` itself for the ids the platform makes).
pub fn ops_request_name(op_id: &str) -> String {
    op_token(op_id)
}

/// Name of the Secret a Reconfigure hands to KubeDB: `dbaas-<op id>-config`. Database names are
/// at most 40 characters, so this can never be a `<database>-config` KubeDB makes.
pub fn config_secret_name(op_id: &str) -> String {
    format!("dbaas-{}-config", op_token(op_id))
}

/// Name of the new auth Secret of a RotateAuth: `dbaas-<op id>-auth` (never a database's
/// `<name>-auth`, database names being at most 40 characters).
pub fn rotated_auth_secret_name(op_id: &str) -> String {
    format!("dbaas-{}-auth", op_token(op_id))
}

/// Whether a Secret name is one [`rotated_auth_secret_name`] makes: never a `<database>-auth`
/// (database names are at most 40 characters, these bases at least 41).
pub fn is_rotated_auth_secret_name(name: &str) -> bool {
    name.strip_suffix("-auth")
        .and_then(|base| base.strip_prefix("dbaas-"))
        .is_some_and(|token| {
            (token.starts_with("op-") || token.starts_with("opx-")) && token.len() + 6 > 40
        })
}

/// The database's labels plus the operation's id.
fn operation_labels(db: &Database, op_id: &str) -> Map<String, Value> {
    let mut labels = database_labels(db);
    labels.insert(LABEL_OPERATION_ID.into(), json!(label_value(op_id)));
    labels
}

/// The label value an operation id becomes (ids the platform makes pass unchanged).
pub fn operation_id_label(op_id: &str) -> String {
    label_value(op_id)
}

/// The component key of the database's only component in VerticalScaling/VolumeExpansion:
/// MongoDB `standalone` or `replicaSet`, Elasticsearch (combined nodes) `node`, every other
/// engine its own name.
pub fn component_key(db: &Database) -> &'static str {
    match db.engine {
        Engine::Mongodb if db.high_availability => "replicaSet",
        Engine::Mongodb => "standalone",
        Engine::Postgres => "postgres",
        Engine::Mysql => "mysql",
        Engine::Mariadb => "mariadb",
        Engine::Redis => "redis",
        Engine::Elasticsearch => "node",
    }
}

/// `spec.horizontalScaling` for the platform's topologies (see [`crate::translate::database_object`]).
fn horizontal_scaling(db: &Database, replicas: i64) -> Value {
    match db.engine {
        Engine::Mongodb | Engine::Postgres => json!({ "replicas": replicas }),
        Engine::Mysql | Engine::Mariadb => json!({ "member": replicas }),
        Engine::Redis if db.high_availability => {
            json!({ "shards": REDIS_CLUSTER_SHARDS, "replicas": replicas })
        }
        Engine::Redis => json!({ "replicas": replicas }),
        Engine::Elasticsearch => json!({ "node": replicas }),
    }
}

/// `spec.configuration` pointing at the Secret: per component for MongoDB, at the top elsewhere.
fn configuration(db: &Database, secret: &str) -> Value {
    let block = json!({ "configSecret": { "name": secret } });
    match db.engine {
        Engine::Mongodb => {
            let mut m = Map::new();
            m.insert(component_key(db).into(), block);
            Value::Object(m)
        }
        _ => block,
    }
}

/// The engine's `ops.kubedb.com/v1alpha1` `<Engine>OpsRequest` for one operation, named by
/// [`ops_request_name`], in the database's namespace, labelled like the database plus
/// `dbaas.io/operation-id`. `databaseRef` is the database's KubeDB object (`db.name`).
pub fn ops_request(db: &Database, namespace: &str, op_id: &str, change: &OpsChange) -> Value {
    let m = meta(db.engine);
    let mut spec = Map::new();
    spec.insert("type".into(), json!(change.ops_type()));
    spec.insert("databaseRef".into(), json!({ "name": db.name }));
    match change {
        OpsChange::HorizontalScaling { replicas } => {
            spec.insert(
                "horizontalScaling".into(),
                horizontal_scaling(db, *replicas),
            );
        }
        OpsChange::VerticalScaling { size } => {
            let mut vs = Map::new();
            vs.insert(
                component_key(db).into(),
                json!({ "resources": size_resources(*size) }),
            );
            spec.insert("verticalScaling".into(), Value::Object(vs));
        }
        OpsChange::VolumeExpansion { storage_gb } => {
            let mut ve = Map::new();
            // Online: the volume grows under the running pods (the StorageClass must allow
            // expansion, which a database that is to grow needs either way).
            ve.insert("mode".into(), json!("Online"));
            ve.insert(
                component_key(db).into(),
                json!(storage_quantity(*storage_gb)),
            );
            spec.insert("volumeExpansion".into(), Value::Object(ve));
        }
        OpsChange::UpdateVersion { version_name } => {
            spec.insert(
                "updateVersion".into(),
                json!({ "targetVersion": version_name }),
            );
        }
        OpsChange::Restart => {
            spec.insert("restart".into(), json!({}));
        }
        OpsChange::Reconfigure { config_secret } => {
            spec.insert("configuration".into(), configuration(db, config_secret));
        }
        OpsChange::RotateAuth { secret_name } => {
            spec.insert(
                "authentication".into(),
                json!({ "secretRef": { "kind": "Secret", "name": secret_name } }),
            );
        }
    }
    spec.insert("apply".into(), json!(change.apply()));
    spec.insert("timeout".into(), json!(change.timeout()));
    json!({
        "apiVersion": OPS_API_VERSION,
        "kind": m.ops_kind,
        "metadata": {
            "name": ops_request_name(op_id),
            "namespace": namespace,
            "labels": operation_labels(db, op_id),
        },
        "spec": spec,
    })
}

/// The file KubeDB reads custom configuration from: Postgres `user.conf`, MySQL/MariaDB
/// `my-custom.cnf`, MongoDB `mongod.conf`, Redis `redis.conf`, Elasticsearch `elasticsearch.yml`.
pub fn config_file_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "user.conf",
        Engine::Mysql | Engine::Mariadb => "my-custom.cnf",
        Engine::Mongodb => "mongod.conf",
        Engine::Redis => "redis.conf",
        Engine::Elasticsearch => "elasticsearch.yml",
    }
}

/// Keys and values never span lines: a line break would start another setting (or section).
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// Postgres string literal: single quotes, `'` and `\` doubled.
fn pg_quoted(s: &str) -> String {
    format!(
        "'{}'",
        one_line(s).replace('\\', "\\\\").replace('\'', "''")
    )
}

/// A YAML scalar: `true`/`false` and plain numbers as they are, anything else double-quoted.
fn yaml_scalar(s: &str) -> String {
    let plain_number = {
        let t = s.strip_prefix('-').unwrap_or(s);
        !t.is_empty()
            && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && t.bytes().filter(|b| *b == b'.').count() <= 1
            && !t.starts_with('.')
            && !t.ends_with('.')
    };
    if s == "true" || s == "false" || plain_number {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
    }
}

/// A YAML mapping key: plain when it is `[A-Za-z0-9_.-]` (not starting with `-`), else quoted.
fn yaml_key(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
    }
}

enum Node {
    Leaf(String),
    Map(BTreeMap<String, Node>),
}

/// Inserts `path = value` into the tree; false when a setting already sits where a section must
/// go (or the other way round).
fn insert_path(tree: &mut BTreeMap<String, Node>, path: &[&str], value: &str) -> bool {
    let (head, rest) = match path.split_first() {
        Some(x) => x,
        None => return false,
    };
    if rest.is_empty() {
        if tree.contains_key(*head) {
            return false;
        }
        tree.insert((*head).to_string(), Node::Leaf(value.to_string()));
        return true;
    }
    match tree
        .entry((*head).to_string())
        .or_insert_with(|| Node::Map(BTreeMap::new()))
    {
        Node::Map(sub) => insert_path(sub, rest, value),
        Node::Leaf(_) => false,
    }
}

fn render_tree(tree: &BTreeMap<String, Node>, indent: usize, out: &mut String) {
    for (k, node) in tree {
        let pad = "  ".repeat(indent);
        match node {
            Node::Leaf(v) => out.push_str(&format!("{pad}{}: {}\n", yaml_key(k), yaml_scalar(v))),
            Node::Map(sub) => {
                out.push_str(&format!("{pad}{}:\n", yaml_key(k)));
                render_tree(sub, indent + 1, out);
            }
        }
    }
}

/// The configuration file content for `config` (setting → value) in the engine's syntax:
/// Postgres `key = 'value'`; MySQL/MariaDB an `[mysqld]` section of `key = value`; Redis
/// `key value`; Elasticsearch YAML with flat dotted keys; MongoDB YAML nested along the dots
/// (`net.maxIncomingConnections` → `net:` / `  maxIncomingConnections:`). Line breaks inside keys
/// or values are turned into spaces, so one setting can never inject another; which settings are
/// allowed is the caller's business.
pub fn render_config(engine: Engine, config: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    match engine {
        Engine::Postgres => {
            for (k, v) in config {
                out.push_str(&format!("{} = {}\n", one_line(k), pg_quoted(v)));
            }
        }
        Engine::Mysql | Engine::Mariadb => {
            out.push_str("[mysqld]\n");
            for (k, v) in config {
                out.push_str(&format!("{} = {}\n", one_line(k), one_line(v)));
            }
        }
        Engine::Redis => {
            for (k, v) in config {
                out.push_str(&format!("{} {}\n", one_line(k), one_line(v)));
            }
        }
        Engine::Elasticsearch => {
            for (k, v) in config {
                out.push_str(&format!(
                    "{}: {}\n",
                    yaml_key(&one_line(k)),
                    yaml_scalar(&one_line(v))
                ));
            }
        }
        Engine::Mongodb => {
            let mut tree = BTreeMap::new();
            let mut flat = Vec::new();
            for (k, v) in config {
                let (k, v) = (one_line(k), one_line(v));
                let path: Vec<&str> = k.split('.').collect();
                if path.iter().any(|p| p.is_empty()) || !insert_path(&mut tree, &path, &v) {
                    flat.push((k, v));
                }
            }
            render_tree(&tree, 0, &mut out);
            for (k, v) in flat {
                out.push_str(&format!("{}: {}\n", yaml_key(&k), yaml_scalar(&v)));
            }
        }
    }
    out
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// The Secret a Reconfigure points KubeDB at ([`config_secret_name`]): one key, the engine's
/// configuration file ([`config_file_name`]) rendered from `config` ([`render_config`]).
pub fn config_secret(
    db: &Database,
    namespace: &str,
    op_id: &str,
    config: &BTreeMap<String, String>,
) -> Value {
    let mut data = Map::new();
    data.insert(
        config_file_name(db.engine).into(),
        json!(b64(&render_config(db.engine, config))),
    );
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": config_secret_name(op_id),
            "namespace": namespace,
            "labels": operation_labels(db, op_id),
        },
        "data": data,
    })
}

/// The new credentials of a RotateAuth ([`rotated_auth_secret_name`]): a
/// `kubernetes.io/basic-auth` Secret with `username` and `password`.
pub fn rotated_auth_secret(
    db: &Database,
    namespace: &str,
    op_id: &str,
    username: &str,
    password: &str,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/basic-auth",
        "metadata": {
            "name": rotated_auth_secret_name(op_id),
            "namespace": namespace,
            "labels": operation_labels(db, op_id),
        },
        "data": { "username": b64(username), "password": b64(password) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_dns_label(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
    }

    #[test]
    fn names_derive_from_the_operation_id_only() {
        let id = domain::ids::new_id(IdKind::Operation);
        assert_eq!(ops_request_name(&id), id);
        assert_eq!(config_secret_name(&id), format!("dbaas-{id}-config"));
        assert_eq!(rotated_auth_secret_name(&id), format!("dbaas-{id}-auth"));
        for odd in ["", "OP-X", "op-123", &"z".repeat(300), "op-ÄÖ", "opx-abc"] {
            for n in [
                ops_request_name(odd),
                config_secret_name(odd),
                rotated_auth_secret_name(odd),
            ] {
                assert!(is_dns_label(&n), "{odd:?} → {n}");
            }
            assert!(ops_request_name(odd).starts_with("opx-"));
        }
        for n in [
            ops_request_name(&id),
            config_secret_name(&id),
            rotated_auth_secret_name(&id),
        ] {
            assert!(is_dns_label(&n), "{n}");
        }
        // database names are 3..40 characters: `<db>-auth`/`<db>-config` never reach these
        assert!(rotated_auth_secret_name(&id).len() - "-auth".len() > 40);
        assert!(config_secret_name(&id).len() - "-config".len() > 40);
        assert!(is_rotated_auth_secret_name(&rotated_auth_secret_name(&id)));
        assert!(is_rotated_auth_secret_name(&rotated_auth_secret_name(
            "odd"
        )));
        for kubedb_made in [
            "orders-auth",
            "dbaas-op-auth",
            &format!("{}-auth", "d".repeat(40)),
        ] {
            assert!(!is_rotated_auth_secret_name(kubedb_made), "{kubedb_made}");
        }
    }

    #[test]
    fn distinct_ids_get_distinct_names() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..2000 {
            let id = if i % 2 == 0 {
                domain::ids::new_id(IdKind::Operation)
            } else {
                format!("op-{i}")
            };
            assert!(seen.insert(ops_request_name(&id)), "{id}");
        }
        assert_ne!(ops_request_name("a"), ops_request_name("A"));
    }

    #[test]
    fn configuration_files_per_engine() {
        let c = BTreeMap::from([
            ("max_connections".to_string(), "200".to_string()),
            ("search_path".to_string(), "it's\nevil = 1".to_string()),
        ]);
        assert_eq!(
            render_config(Engine::Postgres, &c),
            "max_connections = '200'\nsearch_path = 'it''s evil = 1'\n"
        );
        let c = BTreeMap::from([("max_connections".to_string(), "300".to_string())]);
        assert_eq!(
            render_config(Engine::Mysql, &c),
            "[mysqld]\nmax_connections = 300\n"
        );
        assert_eq!(
            render_config(
                Engine::Redis,
                &BTreeMap::from([("maxclients".into(), "3000".into())])
            ),
            "maxclients 3000\n"
        );
        let c = BTreeMap::from([
            ("net.maxIncomingConnections".to_string(), "1000".to_string()),
            ("operationProfiling.mode".to_string(), "slowOp".to_string()),
            (
                "net.compression.compressors".to_string(),
                "zstd".to_string(),
            ),
        ]);
        assert_eq!(
            render_config(Engine::Mongodb, &c),
            "net:\n  compression:\n    compressors: \"zstd\"\n  maxIncomingConnections: 1000\noperationProfiling:\n  mode: \"slowOp\"\n"
        );
        let clash = BTreeMap::from([
            ("net".to_string(), "x".to_string()),
            ("net.port".to_string(), "1".to_string()),
        ]);
        assert_eq!(
            render_config(Engine::Mongodb, &clash),
            "net: \"x\"\nnet.port: 1\n"
        );
        let c = BTreeMap::from([
            (
                "indices.query.bool.max_clause_count".to_string(),
                "2048".to_string(),
            ),
            (
                "action.destructive_requires_name".to_string(),
                "true".to_string(),
            ),
        ]);
        assert_eq!(
            render_config(Engine::Elasticsearch, &c),
            "action.destructive_requires_name: true\nindices.query.bool.max_clause_count: 2048\n"
        );
        assert_eq!(yaml_scalar("1.5"), "1.5");
        assert_eq!(yaml_scalar("1.2.3"), "\"1.2.3\"");
        assert_eq!(yaml_scalar("-3"), "-3");
        assert_eq!(yaml_scalar("yes"), "\"yes\"");
    }
}
