//! Regression tests of the outside security review (tenant isolation and abuse resistance): each
//! reproduces an attack the way an outsider would make it, through the HTTP API where it can.
//! One test binary, one module per area, to keep CI's link steps few.

#[path = "../common/mod.rs"]
mod common;

mod abuse;
mod accounts;
mod hardening;
mod operations;
mod tenancy;
