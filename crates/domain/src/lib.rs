//! The pure core of kubedb-dbaas. Knows nothing of HTTP, SQL or Kubernetes.
//!
//! Records (what is stored), rules (validation, quotas, placement, state machines) and the
//! authorization model all live here so that every adapter applies them the same way.

pub mod access;
pub mod audit;
pub mod backup;
pub mod constraints;
pub mod day2;
pub mod drift;
pub mod engine;
pub mod error;
pub mod ids;
pub mod invitation;
pub mod lifecycle;
pub mod metrics;
pub mod model;
pub mod placement;
pub mod quota;
pub mod requests;
pub mod status;
pub mod validate;
pub mod versions;

pub use error::DomainError;
