//! The kubedb-dbaas control plane: REST API, authentication and authorization, audit, wiring.

pub mod app;
pub mod auth;
pub mod catalog;
pub mod clusters;
pub mod config;
pub mod demo;
pub mod error;
pub mod extract;
pub mod health_check;
pub mod keys;
pub mod listener;
pub mod metrics;
pub mod ops;
pub mod ratelimit;
pub mod read_cache;
pub mod routes;
pub mod serve;
pub mod state;
pub mod watchers;
pub mod workflows;

pub use config::Config;
pub use serve::{start, Running};
