//! provider: everything Kubernetes for kubedb-dbaas.

pub mod kubedb;
