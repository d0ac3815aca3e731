//! Typed KubeDB resources: databases (`kubedb.com/v1`), OpsRequests (`ops.kubedb.com/v1alpha1`)
//! and the version catalog (`catalog.kubedb.com/v1alpha1`), plus the CRDs generated from them.

pub mod catalog;
pub mod common;
pub mod databases;
pub mod names;
pub mod ops;
pub mod quantity;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use catalog::*;
pub use common::*;
pub use databases::*;
pub use ops::*;

/// CRDs for every kind modelled here, generated from the Rust types.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        MongoDB::crd(),
        Postgres::crd(),
        MySQL::crd(),
        MariaDB::crd(),
        Redis::crd(),
        RedisSentinel::crd(),
        Elasticsearch::crd(),
        MongoDBOpsRequest::crd(),
        PostgresOpsRequest::crd(),
        MySQLOpsRequest::crd(),
        MariaDBOpsRequest::crd(),
        RedisOpsRequest::crd(),
        RedisSentinelOpsRequest::crd(),
        ElasticsearchOpsRequest::crd(),
        MongoDBVersion::crd(),
        PostgresVersion::crd(),
        MySQLVersion::crd(),
        MariaDBVersion::crd(),
        RedisVersion::crd(),
        ElasticsearchVersion::crd(),
    ]
    .into_iter()
    .chain(crate::backup::kubestash_crds())
    .collect()
}

#[cfg(test)]
mod tests;
