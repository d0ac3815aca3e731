//! OpsRequest kinds of `ops.kubedb.com/v1alpha1` (kubedb-api §5).
//!
//! The type-specific blocks are modelled once as the union of every engine's keys; each
//! engine's CRD only knows its own subset, so set only the keys that apply to the engine.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, Extra, LocalObjectRef, OpenObject};

/// The OpsRequest types the simulator and the platform use.
pub mod types {
    pub const UPDATE_VERSION: &str = "UpdateVersion";
    pub const HORIZONTAL_SCALING: &str = "HorizontalScaling";
    pub const VERTICAL_SCALING: &str = "VerticalScaling";
    pub const VOLUME_EXPANSION: &str = "VolumeExpansion";
    pub const RESTART: &str = "Restart";
    pub const RECONFIGURE: &str = "Reconfigure";
    pub const RECONFIGURE_TLS: &str = "ReconfigureTLS";
    pub const ROTATE_AUTH: &str = "RotateAuth";
    pub const STORAGE_MIGRATION: &str = "StorageMigration";
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum OpsPhase {
    Pending,
    Progressing,
    Successful,
    WaitingForApproval,
    Failed,
    Approved,
    Denied,
    Skipped,
}

impl OpsPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Progressing => "Progressing",
            Self::Successful => "Successful",
            Self::WaitingForApproval => "WaitingForApproval",
            Self::Failed => "Failed",
            Self::Approved => "Approved",
            Self::Denied => "Denied",
            Self::Skipped => "Skipped",
        }
    }

    /// No further change will happen.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Successful | Self::Failed | Self::Skipped | Self::Denied
        )
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpsRequestStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<OpsPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateVersionSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_criteria: Option<OpenObject>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ReplicasOnly {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ShardScale {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Elasticsearch node counts per role.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EsTopologyScale {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_content: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_hot: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_warm: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_cold: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_frozen: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ml: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinating: Option<i32>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.horizontalScaling`, union of the engines' keys.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HorizontalScalingSpec {
    /// MongoDB replica set, Postgres, Redis sentinel mode, RedisSentinel
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// MongoDB sharded
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardScale>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_server: Option<ReplicasOnly>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mongos: Option<ReplicasOnly>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<ReplicasOnly>,
    /// Postgres
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_replicas: Option<Vec<OpenObject>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming_mode: Option<String>,
    /// MySQL, MariaDB
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<i32>,
    /// MariaDB
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxscale: Option<bool>,
    /// Redis cluster
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announce: Option<OpenObject>,
    /// Elasticsearch combined
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<i32>,
    /// Elasticsearch topology
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<EsTopologyScale>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One component's new resources.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentResources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selection_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<OpenObject>,
    #[serde(flatten)]
    pub extra: Extra,
}

macro_rules! component_union {
    ($(#[$meta:meta])* pub struct $name:ident<$t:ty> { $($(#[$fmeta:meta])* $field:ident),* $(,)? } extra { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$t>,
            )*
            $($body)*
            #[serde(flatten)]
            pub extra: Extra,
        }

        impl $name {
            /// `(camelCase key, value)` of every component key that is set.
            pub fn components(&self) -> Vec<(String, &$t)> {
                let mut out = Vec::new();
                $(
                    if let Some(v) = &self.$field {
                        out.push((camel(stringify!($field)), v));
                    }
                )*
                out
            }
        }
    };
}

fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut up = false;
    for c in snake.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

component_union! {
    /// `spec.verticalScaling`, union of the engines' component keys.
    pub struct VerticalScalingSpec<ComponentResources> {
        standalone, replica_set, shard, config_server, mongos, arbiter, hidden,
        postgres, mysql, mariadb, maxscale, redis, redissentinel,
        node, master, ingest, data, data_content, data_hot, data_warm, data_cold, data_frozen,
        ml, transform, coordinating, exporter, coordinator,
    } extra {
        /// `Restart` (default) | `InPlace`
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub mode: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub read_replicas: Option<Vec<OpenObject>>,
    }
}

component_union! {
    /// `spec.volumeExpansion`: new size per component; `mode` is required (`Online` | `Offline`).
    pub struct VolumeExpansionSpec<Quantity> {
        standalone, replica_set, shard, config_server, hidden, postgres, arbiter, mysql, mariadb,
        maxscale, redis, node, master, ingest, data, data_content, data_hot, data_warm, data_cold,
        data_frozen, ml, transform, coordinating,
    } extra {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub mode: Option<String>,
    }
}

/// The base Reconfigure block.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconfigureBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_secret: Option<LocalObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_config: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_custom_config: Option<bool>,
    /// `auto` | `true` | `false`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

component_union! {
    /// `spec.configuration` of a Reconfigure request: a base block at the top level (all but
    /// MongoDB) or per MongoDB component.
    pub struct ReconfigureSpec<ReconfigureBlock> {
        standalone, replica_set, shard, config_server, mongos, arbiter, hidden,
    } extra {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub config_secret: Option<LocalObjectRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub apply_config: Option<BTreeMap<String, String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub remove_custom_config: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub restart: Option<String>,
        /// Postgres
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tuning: Option<OpenObject>,
        /// Redis
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub auth: Option<OpenObject>,
        /// Elasticsearch
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub secure_config_secret: Option<LocalObjectRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub remove_secure_custom_config: Option<bool>,
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationSpec {
    /// omit to let the operator generate a new password
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{apiGroup, kind, name}` reference to a Secret; `kind` is required by the schema.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    #[serde(default)]
    pub name: String,
    #[serde(default = "secret_kind")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
}

fn secret_kind() -> String {
    "Secret".to_string()
}

impl SecretRef {
    pub fn secret(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: secret_kind(),
            api_group: None,
        }
    }
}

macro_rules! ops_kind {
    ($spec:ident, $kind:literal, $plural:literal, $singular:literal, $short:literal) => {
        #[doc = concat!("`", $kind, "` (`ops.kubedb.com/v1alpha1`).")]
        #[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
        #[kube(group = "ops.kubedb.com", version = "v1alpha1", kind = $kind, plural = $plural,
            singular = $singular, namespaced, status = "OpsRequestStatus", shortname = $short,
            category = "ops", category = "kubedb", category = "all",
            printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
            printcolumn(name = "Status", type_ = "string", json_path = ".status.phase"),
            printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"))]
        #[serde(rename_all = "camelCase")]
        pub struct $spec {
            pub database_ref: LocalObjectRef,
            #[serde(rename = "type")]
            pub type_: String,
            /// per step, Go duration
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub timeout: Option<String>,
            /// `IfReady` (default) | `Always`
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub apply: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub max_retries: Option<i32>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub update_version: Option<UpdateVersionSpec>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub horizontal_scaling: Option<HorizontalScalingSpec>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub vertical_scaling: Option<VerticalScalingSpec>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub volume_expansion: Option<VolumeExpansionSpec>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub restart: Option<OpenObject>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub configuration: Option<ReconfigureSpec>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub tls: Option<OpenObject>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub authentication: Option<AuthenticationSpec>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub migration: Option<OpenObject>,
            #[serde(flatten)]
            pub extra: Extra,
        }
    };
}

ops_kind!(
    MongoDBOpsRequestSpec,
    "MongoDBOpsRequest",
    "mongodbopsrequests",
    "mongodbopsrequest",
    "mgops"
);
ops_kind!(
    PostgresOpsRequestSpec,
    "PostgresOpsRequest",
    "postgresopsrequests",
    "postgresopsrequest",
    "pgops"
);
ops_kind!(
    MySQLOpsRequestSpec,
    "MySQLOpsRequest",
    "mysqlopsrequests",
    "mysqlopsrequest",
    "myops"
);
ops_kind!(
    MariaDBOpsRequestSpec,
    "MariaDBOpsRequest",
    "mariadbopsrequests",
    "mariadbopsrequest",
    "mariaops"
);
ops_kind!(
    RedisOpsRequestSpec,
    "RedisOpsRequest",
    "redisopsrequests",
    "redisopsrequest",
    "rdops"
);
ops_kind!(
    RedisSentinelOpsRequestSpec,
    "RedisSentinelOpsRequest",
    "redissentinelopsrequests",
    "redissentinelopsrequest",
    "rdsops"
);
ops_kind!(
    ElasticsearchOpsRequestSpec,
    "ElasticsearchOpsRequest",
    "elasticsearchopsrequests",
    "elasticsearchopsrequest",
    "esops"
);
