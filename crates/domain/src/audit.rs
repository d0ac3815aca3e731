//! Audit entries: who did what, from where, with which outcome.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    Success,
    Failure,
}

impl AuditOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Failure => "failure",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub domain: Option<String>,
    pub project: Option<String>,
    pub user_id: Option<String>,
    pub user_email: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_method: Option<String>,
    pub request_path: Option<String>,
    pub status: AuditOutcome,
    pub status_code: Option<i32>,
    #[schema(value_type = Option<Object>)]
    pub details: serde_json::Value,
    pub timestamp: DateTime<Utc>,
}

/// Filters of `GET /audit-logs`. `scopes` restricts to what the caller may see
/// (`None` = everything, for platform admins).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub domain: Option<String>,
    pub project: Option<String>,
    pub user_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub status: Option<AuditOutcome>,
    pub scopes: Option<Vec<AuditScope>>,
}

/// One visible slice of the audit log: a whole domain, or one project of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditScope {
    pub domain: String,
    pub project: Option<String>,
}
