//! provider: everything Kubernetes for kubedb-dbaas.
//!
//! - [`connect`]: kubeconfig → client (in memory), the per-provider client cache and rate limit;
//! - [`probe`]: what a cluster runs (version, KubeDB CRDs, catalog, node capacity);
//! - [`translate`]: domain records → Kubernetes objects (pure);
//! - [`cluster`]: idempotent create/read/delete steps for the operation workers;
//! - [`day2`]: OpsRequests and their Secrets for day-2 operations (pure);
//! - [`exporter`]: a database exporter's page → samples;
//! - [`observe`] and [`watch`]: KubeDB status → what the store records, from watches.

pub mod backup;
pub mod cluster;
pub mod connect;
pub mod day2;
pub mod error;
pub mod exporter;
pub mod kubedb;
pub mod observe;
pub mod probe;
pub mod s3;
pub mod translate;
pub mod watch;

pub use cluster::Endpoint;
pub use connect::{client_from_kubeconfig, parse_kubeconfig, ClientCache, Cluster};
pub use day2::OpsChange;
pub use error::ProviderError;
pub use observe::{
    observe_database, observe_event, observe_ops_request, ObservedDatabase, ObservedEvent,
    ObservedOpsRequest,
};
pub use probe::{CatalogEntry, NodeCapacity, ProbeReport};
pub use translate::CreatePlan;
pub use watch::{watch_cluster, ChildKind, ClusterEvent};
