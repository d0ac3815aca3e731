//! Workflows: what a request or a worker does to the platform's records, in one place per family,
//! between the thin HTTP handlers and the store and clusters.

pub mod day2;
pub mod maintenance;
