//! HTTP routes, one module per part of the contract.

pub mod account;
pub mod admin;
pub mod audit_logs;
pub mod auth;
pub mod backups;
pub mod console;
pub mod console_session;
pub mod databases;
pub mod day2;
pub mod db_metrics;
pub mod docs;
pub mod events;
pub mod health;
pub mod operations;
pub mod providers;
pub mod tenants;
pub mod users;
pub mod versions;

use domain::model::{Page, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// `page` (≥ 1, default 1) and `page_size` (1–100, default 10).
#[derive(Debug, Clone, Copy, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page number.
    #[param(minimum = 1, maximum = 1000000, default = 1)]
    pub page: Option<i64>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 10)]
    pub page_size: Option<i64>,
}

impl PageQuery {
    pub fn request(self) -> Result<PageRequest, ApiError> {
        let page = self.page.unwrap_or(1);
        let page_size = self.page_size.unwrap_or(10);
        if !(1..=1_000_000).contains(&page) {
            return Err(ApiError::validation("page", "must be at least 1"));
        }
        if !(1..=100).contains(&page_size) {
            return Err(ApiError::validation(
                "page_size",
                "must be between 1 and 100",
            ));
        }
        Ok(PageRequest { page, page_size })
    }
}

/// The pagination fields every listing carries beside its items.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PageMeta {
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
}

impl PageMeta {
    pub fn of<T>(p: &Page<T>) -> Self {
        PageMeta {
            total: p.total,
            page: p.page,
            page_size: p.page_size,
        }
    }
}

/// A `{domain}` or `{project}` path segment: anything that is not a valid slug cannot exist (404).
pub fn slug_segment(what: &str, s: &str) -> Result<(), ApiError> {
    domain::validate::dns_label(what, s, 1, 63).map_err(|_| ApiError::not_found(what, s))
}
