//! The database kinds of `kubedb.com/v1` with their per-engine topology fields (kubedb-api §3).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PersistentVolumeClaimSpec;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    database_spec, DatabaseStatus, Extra, LocalObjectRef, OpenObject, PodTemplate,
};

database_spec! {
    /// `MongoDB`: standalone, replica set (`replicaSet`) or sharded (`shardTopology`).
    #[derive(CustomResource)]
    #[kube(group = "kubedb.com", version = "v1", kind = "MongoDB", plural = "mongodbs", singular = "mongodb",
        namespaced, status = "DatabaseStatus", shortname = "mg",
        category = "datastore", category = "kubedb", category = "all",
        printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
        printcolumn(name = "Status", type_ = "string", json_path = ".status.phase"),
        printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"))]
    pub struct MongoDBSpec {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub replica_set: Option<MongoReplicaSet>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub shard_topology: Option<MongoShardTopology>,
        /// `wiredTiger` | `inMemory`
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub storage_engine: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cluster_auth_mode: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ssl_mode: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ephemeral_storage: Option<OpenObject>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub arbiter: Option<OpenObject>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub hidden: Option<MongoHidden>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub key_file_secret: Option<LocalObjectRef>,
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct MongoReplicaSet {
    pub name: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MongoShardTopology {
    pub shard: MongoShardNode,
    pub config_server: MongoConfigNode,
    pub mongos: MongoMongosNode,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MongoShardNode {
    pub shards: i32,
    pub replicas: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<PersistentVolumeClaimSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<PodTemplate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MongoConfigNode {
    pub replicas: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<PersistentVolumeClaimSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<PodTemplate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MongoMongosNode {
    pub replicas: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<PodTemplate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MongoHidden {
    pub replicas: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<PersistentVolumeClaimSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<PodTemplate>,
    #[serde(flatten)]
    pub extra: Extra,
}

database_spec! {
    /// `Postgres`: `replicas` 1 = standalone, > 1 = primary + standbys.
    #[derive(CustomResource)]
    #[kube(group = "kubedb.com", version = "v1", kind = "Postgres", plural = "postgreses", singular = "postgres",
        namespaced, status = "DatabaseStatus", shortname = "pg",
        category = "datastore", category = "kubedb", category = "all",
        printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
        printcolumn(name = "Status", type_ = "string", json_path = ".status.phase"),
        printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"))]
    pub struct PostgresSpec {
        /// `Hot` | `Warm`
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub standby_mode: Option<String>,
        /// `Asynchronous` | `Synchronous`
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub streaming_mode: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub synchronous_replication_config: Option<OpenObject>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub client_auth_mode: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ssl_mode: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub leader_election: Option<OpenObject>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub replication: Option<OpenObject>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub arbiter: Option<OpenObject>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub read_replicas: Option<Vec<OpenObject>>,
        /// `Standalone` | `Cluster` | `RemoteReplica`
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub mode: Option<String>,
    }
}

database_spec! {
    /// `MySQL`: standalone, or a `topology` (GroupReplication, InnoDBCluster, SemiSync, RemoteReplica).
    #[derive(CustomResource)]
    #[kube(group = "kubedb.com", version = "v1", kind = "MySQL", plural = "mysqls", singular = "mysql",
        namespaced, status = "DatabaseStatus", shortname = "my",
        category = "datastore", category = "kubedb", category = "all",
        printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
        printcolumn(name = "Status", type_ = "string", json_path = ".status.phase"),
        printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"))]
    pub struct MySQLSpec {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub topology: Option<MySqlTopology>,
        #[serde(default, rename = "requireSSL", skip_serializing_if = "Option::is_none")]
        pub require_ssl: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub use_address_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub allowed_read_replicas: Option<OpenObject>,
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MySqlTopology {
    /// `GroupReplication` | `InnoDBCluster` | `SemiSync` | `RemoteReplica`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<MySqlGroup>,
    #[serde(
        default,
        rename = "innoDBCluster",
        skip_serializing_if = "Option::is_none"
    )]
    pub inno_db_cluster: Option<OpenObject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semi_sync: Option<OpenObject>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct MySqlGroup {
    /// `Single-Primary` | `Multi-Primary`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

database_spec! {
    /// `MariaDB`: standalone, or a `topology` (GaleraCluster, MariaDBReplication).
    #[derive(CustomResource)]
    #[kube(group = "kubedb.com", version = "v1", kind = "MariaDB", plural = "mariadbs", singular = "mariadb",
        namespaced, status = "DatabaseStatus", shortname = "md",
        category = "datastore", category = "kubedb", category = "all",
        printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
        printcolumn(name = "Status", type_ = "string", json_path = ".status.phase"),
        printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"))]
    pub struct MariaDBSpec {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub topology: Option<MariaDbTopology>,
        #[serde(default, rename = "wsrepSSTMethod", skip_serializing_if = "Option::is_none")]
        pub wsrep_sst_method: Option<String>,
        #[serde(default, rename = "requireSSL", skip_serializing_if = "Option::is_none")]
        pub require_ssl: Option<bool>,
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct MariaDbTopology {
    /// `GaleraCluster` | `MariaDBReplication`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxscale: Option<OpenObject>,
    #[serde(flatten)]
    pub extra: Extra,
}

database_spec! {
    /// `Redis`: `Standalone`, `Cluster` (`cluster{shards,replicas}`) or `Sentinel` (`sentinelRef`).
    #[derive(CustomResource)]
    #[kube(group = "kubedb.com", version = "v1", kind = "Redis", plural = "redises", singular = "redis",
        namespaced, status = "DatabaseStatus", shortname = "rd",
        category = "datastore", category = "kubedb", category = "all",
        printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
        printcolumn(name = "Status", type_ = "string", json_path = ".status.phase"),
        printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"))]
    pub struct RedisSpec {
        /// `Standalone` | `Cluster` | `Sentinel`
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub mode: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cluster: Option<RedisClusterSpec>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub sentinel_ref: Option<RedisSentinelRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub disable_auth: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub acl: Option<OpenObject>,
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct RedisClusterSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<i32>,
    /// pods per shard, including the master
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announce: Option<OpenObject>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct RedisSentinelRef {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(flatten)]
    pub extra: Extra,
}

database_spec! {
    /// `RedisSentinel`: the sentinel quorum a `Redis` in Sentinel mode points at.
    #[derive(CustomResource)]
    #[kube(group = "kubedb.com", version = "v1", kind = "RedisSentinel", plural = "redissentinels",
        singular = "redissentinel", namespaced, status = "DatabaseStatus", shortname = "rds",
        category = "datastore", category = "kubedb", category = "all",
        printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
        printcolumn(name = "Status", type_ = "string", json_path = ".status.phase"),
        printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"))]
    pub struct RedisSentinelSpec {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub disable_auth: Option<bool>,
    }
}

database_spec! {
    /// `Elasticsearch` (also OpenSearch): combined (`replicas`) or dedicated-node `topology`.
    #[derive(CustomResource)]
    #[kube(group = "kubedb.com", version = "v1", kind = "Elasticsearch", plural = "elasticsearches",
        singular = "elasticsearch", namespaced, status = "DatabaseStatus", shortname = "es",
        category = "datastore", category = "kubedb", category = "all",
        printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
        printcolumn(name = "Status", type_ = "string", json_path = ".status.phase"),
        printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"))]
    pub struct ElasticsearchSpec {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub topology: Option<EsTopology>,
        #[serde(default, rename = "enableSSL", skip_serializing_if = "Option::is_none")]
        pub enable_ssl: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub disable_security: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub internal_users: Option<BTreeMap<String, OpenObject>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub heap_size_percentage: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub kernel_settings: Option<OpenObject>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub secure_config_secret: Option<OpenObject>,
    }
}

/// Dedicated node roles; `master` and `ingest` are required when a topology is used.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EsTopology {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<EsNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest: Option<EsNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<EsNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_content: Option<EsNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_hot: Option<EsNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_warm: Option<EsNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_cold: Option<EsNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_frozen: Option<EsNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ml: Option<EsNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<EsNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinating: Option<EsNode>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl EsTopology {
    /// `(role key, default suffix, node)` for every role that is set.
    pub fn nodes(&self) -> Vec<(&'static str, &'static str, &EsNode)> {
        let all: [(&'static str, &'static str, &Option<EsNode>); 11] = [
            ("master", "master", &self.master),
            ("ingest", "ingest", &self.ingest),
            ("data", "data", &self.data),
            ("dataContent", "data-content", &self.data_content),
            ("dataHot", "data-hot", &self.data_hot),
            ("dataWarm", "data-warm", &self.data_warm),
            ("dataCold", "data-cold", &self.data_cold),
            ("dataFrozen", "data-frozen", &self.data_frozen),
            ("ml", "ml", &self.ml),
            ("transform", "transform", &self.transform),
            ("coordinating", "coordinating", &self.coordinating),
        ];
        all.into_iter()
            .filter_map(|(k, s, n)| n.as_ref().map(|n| (k, s, n)))
            .collect()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EsNode {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_size_percentage: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<PersistentVolumeClaimSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<PodTemplate>,
    #[serde(flatten)]
    pub extra: Extra,
}
