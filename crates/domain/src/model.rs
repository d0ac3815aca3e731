//! The records the platform keeps. Adapters store and serve them; rules live beside them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::access::{Binding, KeyScope};
use crate::engine::{Engine, Size};
use crate::quota::{QuotaLimits, Usage};
use crate::status::{DatabaseStatus, OperationStatus, OperationType};

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub full_name: String,
    /// argon2id PHC string; never leaves the server.
    pub password_hash: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserWithBindings {
    pub user: User,
    pub bindings: Vec<Binding>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub description: Option<String>,
    /// The first characters of the key, shown in lists and used to find the row.
    pub prefix: String,
    /// SHA-256 of the whole key, hex.
    pub key_hash: String,
    pub scopes: Vec<KeyScope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A refresh token; `family_id` ties rotations together so reuse can revoke the lot.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshToken {
    pub id: String,
    pub user_id: String,
    pub family_id: String,
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Set when this token was exchanged for its successor.
    pub replaced_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    #[default]
    Free,
    Starter,
    Professional,
    Enterprise,
}

impl Plan {
    pub const fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Starter => "starter",
            Plan::Professional => "professional",
            Plan::Enterprise => "enterprise",
        }
    }
    pub fn parse(s: &str) -> Option<Plan> {
        [
            Plan::Free,
            Plan::Starter,
            Plan::Professional,
            Plan::Enterprise,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// A tenant; its id is its slug, the `{domain}` of every path.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub name: String,
    pub display_name: String,
    pub plan: Plan,
    pub contact_email: Option<String>,
    pub quota: QuotaLimits,
    pub metadata: serde_json::Value,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub domain: String,
    pub name: String,
    pub display_name: String,
    pub description: Option<String>,
    pub quota: QuotaLimits,
    pub metadata: serde_json::Value,
    /// False while suspended: its members may not change anything in it.
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProviderCapacity {
    pub cpu_total_cores: f64,
    pub memory_total_gb: f64,
    pub storage_total_gb: f64,
    pub cpu_reservation_percent: f64,
    pub memory_reservation_percent: f64,
    pub storage_reservation_percent: f64,
}

/// A Kubernetes cluster databases are placed on. The kubeconfig is held encrypted by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub region: String,
    pub availability_zone: Option<String>,
    pub cloud_provider: Option<String>,
    /// Dedicated to one tenant; `None` = shared.
    pub domain: Option<String>,
    pub capacity: ProviderCapacity,
    pub allocated: Usage,
    pub verify_ssl: bool,
    pub enable_loadbalancer: bool,
    pub is_active: bool,
    pub is_maintenance: bool,
    pub priority: i32,
    pub tags: Vec<String>,
    pub metadata: serde_json::Value,
    /// Health and KubeDB facts found by the last check (free-form JSON the provider layer fills).
    pub kubedb: serde_json::Value,
    pub connection: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Observed state of a database, as the watchers last saw it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CurrentState {
    pub size: Option<Size>,
    pub storage_gb: Option<i64>,
    pub replicas: Option<i64>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    pub id: String,
    pub name: String,
    pub domain: String,
    pub project: String,
    pub engine: Engine,
    pub version: String,
    pub size: Size,
    pub storage_gb: i64,
    pub replicas: i64,
    pub ready_replicas: i64,
    pub status: DatabaseStatus,
    pub health_status: Option<String>,
    pub kubedb_phase: Option<String>,
    pub backup_enabled: bool,
    pub backup_schedule: String,
    pub backup_retention_days: i64,
    pub high_availability: bool,
    pub monitoring_enabled: bool,
    pub deletion_protection: bool,
    pub endpoint: Option<String>,
    pub port: Option<i64>,
    pub service_type: Option<String>,
    pub loadbalancer_ip: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub provider_id: Option<String>,
    pub namespace: Option<String>,
    pub kubedb_resource_name: Option<String>,
    pub current: CurrentState,
    pub upgrade_policy: Option<serde_json::Value>,
    pub conditions: serde_json::Value,
    /// What the database holds against quotas and its provider (released on delete).
    pub reserved: Usage,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub id: String,
    pub database_id: String,
    pub op_type: OperationType,
    pub status: OperationStatus,
    pub progress: i32,
    pub message: Option<String>,
    pub desired_state: serde_json::Value,
    pub ops_request_name: Option<String>,
    pub ops_request_phase: Option<String>,
    pub error_message: Option<String>,
    pub retry_count: i32,
    pub max_retries: i32,
    pub created_by: Option<String>,
    pub domain: String,
    pub project: String,
    /// Worker lease: the claim is theirs until then; after it a crashed worker's op is reclaimable.
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Not before: a retried operation waits out its backoff.
    pub run_after: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub estimated_completion_at: Option<DateTime<Utc>>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
}

/// Pagination as the contract defines it: page ≥ 1, page_size 1–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: i64,
    pub page_size: i64,
}

impl PageRequest {
    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.page_size
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            page: 1,
            page_size: 10,
        }
    }
}
