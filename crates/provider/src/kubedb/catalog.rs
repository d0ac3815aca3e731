//! Catalog (version) kinds of `catalog.kubedb.com/v1alpha1`: cluster-scoped, no status.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::Extra;

/// `{image}` of a catalog component.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageRef {
    pub image: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityPolicies {
    #[serde(default)]
    pub database_policy_name: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Masterminds semver constraint lists.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct UpdateConstraints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowlist: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denylist: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// MySQL keeps one list per topology.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct MySqlUpdateConstraints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowlist: Option<MySqlConstraintLists>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denylist: Option<MySqlConstraintLists>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MySqlConstraintLists {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_replication: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standalone: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

macro_rules! version_kind {
    ($spec:ident, $kind:literal, $plural:literal, $singular:literal, $short:literal, $constraints:ty) => {
        #[doc = concat!("`", $kind, "` (`catalog.kubedb.com/v1alpha1`, cluster-scoped).")]
        #[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
        #[kube(group = "catalog.kubedb.com", version = "v1alpha1", kind = $kind, plural = $plural,
            singular = $singular, shortname = $short, category = "catalog", category = "kubedb", category = "appscode",
            printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
            printcolumn(name = "DB_IMAGE", type_ = "string", json_path = ".spec.db.image"),
            printcolumn(name = "Deprecated", type_ = "boolean", json_path = ".spec.deprecated"),
            printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"))]
        #[serde(rename_all = "camelCase")]
        pub struct $spec {
            pub version: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub distribution: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub deprecated: Option<bool>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub end_of_life: Option<bool>,
            /// Elasticsearch only: `X-Pack` | `OpenSearch` | `OpenDistro` | `SearchGuard`
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub auth_plugin: Option<String>,
            pub db: ImageRef,
            pub exporter: ImageRef,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub init_container: Option<ImageRef>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub coordinator: Option<ImageRef>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub replication_mode_detector: Option<ImageRef>,
            pub pod_security_policies: PodSecurityPolicies,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub update_constraints: Option<$constraints>,
            #[serde(flatten)]
            pub extra: Extra,
        }
    };
}

version_kind!(
    MongoDBVersionSpec,
    "MongoDBVersion",
    "mongodbversions",
    "mongodbversion",
    "mgversion",
    UpdateConstraints
);
version_kind!(
    PostgresVersionSpec,
    "PostgresVersion",
    "postgresversions",
    "postgresversion",
    "pgversion",
    UpdateConstraints
);
version_kind!(
    MySQLVersionSpec,
    "MySQLVersion",
    "mysqlversions",
    "mysqlversion",
    "myversion",
    MySqlUpdateConstraints
);
version_kind!(
    MariaDBVersionSpec,
    "MariaDBVersion",
    "mariadbversions",
    "mariadbversion",
    "mdversion",
    UpdateConstraints
);
version_kind!(
    RedisVersionSpec,
    "RedisVersion",
    "redisversions",
    "redisversion",
    "rdversion",
    UpdateConstraints
);
version_kind!(
    ElasticsearchVersionSpec,
    "ElasticsearchVersion",
    "elasticsearchversions",
    "elasticsearchversion",
    "esversion",
    UpdateConstraints
);
