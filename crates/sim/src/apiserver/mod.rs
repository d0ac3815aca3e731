//! The simulated Kubernetes API server.

pub mod discovery;
pub mod error;
pub mod http;
pub mod listener;
pub mod metrics;
pub mod patch;
pub mod persist;
pub mod protobuf;
pub mod registry;
pub mod schema;
pub mod selectors;
pub mod server;
pub mod state;
pub mod store;
pub mod table;
pub mod tls;
