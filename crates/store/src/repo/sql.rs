//! The store over SQL. This file is compiled once per backend (see `repo/mod.rs`): the including
//! module provides `Db`, `BACKEND`, `begin_write`, `CLAIM_QUERIES` and the `for_update!` clauses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Pool, QueryBuilder, Row, Transaction};

use domain::access::Suspensions;
use domain::access::{Binding, Role};
use domain::audit::{AuditEntry, AuditFilter, AuditOutcome};
use domain::backup::{Backup, BackupKind, BackupScope, BackupStatus, BackupStorage};
use domain::day2::{covering, Shape};
use domain::engine::{Engine, Size};
use domain::invitation::{Invitation, InvitationStatus};
use domain::model::CurrentState;
use domain::model::{
    ApiKey, Database, Operation, Page, PageRequest, Plan, Project, Provider, ProviderCapacity,
    RefreshToken, Tenant, User, UserWithBindings,
};
use domain::quota::{self, QuotaLimits, Usage};
use domain::status::{DatabaseStatus, OperationStatus, OperationType};
use domain::DomainError;

use super::{
    begin_write, follow_notifications, Db, BACKEND, CLAIM_QUERIES, JSON_PAGES, SOLE_WRITER,
};
use crate::repo::{
    check_capacity, db_err, is_fk_violation, like_pattern, limits, non_negative, parse, unique_or,
};
use crate::{
    AuditPageJson, Cipher, DatabaseChange, DatabaseFilter, DatabasePatch, DatabaseSettings, Fence,
    Lease, Notice, OperationFilter, OperationOutcome, ProviderChooser, ProviderFilter, QueueStats,
    Reservation, Result, StatusEvent, Store, StoreError,
};

type DbRow = <Db as sqlx::Database>::Row;
type Conn = <Db as sqlx::Database>::Connection;
type Tx = Transaction<'static, Db>;
type Q<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>;

macro_rules! user_cols {
    () => {
        "u.id, u.email, u.full_name, u.password_hash, u.is_active, u.created_at, u.updated_at, u.last_login_at"
    };
}
macro_rules! tenant_cols {
    () => {
        "name, display_name, plan, contact_email, q_cpu, q_memory, q_storage, q_databases, q_backups, metadata, \
         is_active, created_at, updated_at"
    };
}
macro_rules! project_cols {
    () => {
        "domain, name, display_name, description, q_cpu, q_memory, q_storage, q_databases, q_backups, metadata, \
         created_at, updated_at, is_active"
    };
}
macro_rules! key_cols {
    () => {
        "id, user_id, name, description, prefix, key_hash, scopes, created_at, expires_at, last_used_at, revoked_at"
    };
}
macro_rules! refresh_cols {
    () => {
        "id, user_id, family_id, token_hash, created_at, expires_at, revoked_at, replaced_by"
    };
}
macro_rules! invitation_cols {
    () => {
        "id, email, role, domain, project, code_hash, invited_by, invited_by_email, status, created_at, \
         expires_at, decided_at, accepted_by"
    };
}
macro_rules! provider_cols {
    () => {
        "id, name, region, availability_zone, cloud_provider, domain, cpu_total, memory_total, storage_total, \
         cpu_pct, memory_pct, storage_pct, alloc_cpu, alloc_memory, alloc_storage, alloc_databases, alloc_backups, \
         verify_ssl, enable_loadbalancer, is_active, is_maintenance, priority, tags, metadata, kubedb, connection, \
         created_at, updated_at"
    };
}
macro_rules! database_cols {
    () => {
        "id, name, domain, project, engine, version, size, storage_gb, replicas, ready_replicas, status, \
         health_status, kubedb_phase, backup_enabled, backup_schedule, backup_retention_days, high_availability, \
         monitoring_enabled, deletion_protection, endpoint, port, service_type, loadbalancer_ip, labels, \
         annotations, provider_id, namespace, kubedb_resource_name, current_state, upgrade_policy, conditions, \
         res_cpu, res_memory, res_storage, res_databases, res_backups, created_at, updated_at"
    };
}
macro_rules! operation_cols {
    () => {
        "id, database_id, op_type, status, progress, message, desired_state, ops_request_name, ops_request_phase, \
         error_message, retry_count, max_retries, created_by, domain, project, lease_owner, lease_expires_at, \
         run_after, created_at, started_at, completed_at, estimated_completion_at"
    };
}
macro_rules! audit_cols {
    () => {
        "id, action, resource_type, resource_id, domain, project, user_id, user_email, ip_address, user_agent, \
         request_method, request_path, status, status_code, details, timestamp"
    };
}
macro_rules! usage_sums {
    () => {
        "SELECT COALESCE(SUM(res_cpu), 0.0) AS cpu, COALESCE(SUM(res_memory), 0.0) AS mem, \
         COALESCE(SUM(res_storage), 0.0) AS sto, CAST(COALESCE(SUM(res_databases), 0) AS BIGINT) AS dbs, \
         CAST(COALESCE(SUM(res_backups), 0) AS BIGINT) AS bks FROM databases "
    };
}

pub(crate) struct SqlStore {
    /// Reads. On SQLite a separate pool of readers; on PostgreSQL the same pool as `w`.
    r: Pool<Db>,
    /// Writes and every transaction: reached only through [`SqlStore::writing`] and
    /// [`SqlStore::begin`]/[`SqlStore::commit`], so that no write escapes `writes`.
    w: Pool<Db>,
    cipher: Cipher,
    /// Bumped after every write through this store, committed or not (a failed call may still
    /// have committed). Anything cached from a read taken under an older value is stale.
    writes: AtomicU64,
    /// Bumped with `writes` by every write that may change a database record: what cached
    /// database reads key on, so that the steady stream of audit, token and operation-progress
    /// writes does not retire them. On PostgreSQL also by every other replica's such write, as
    /// its notification arrives.
    database_writes: Arc<AtomicU64>,
    /// Whether `database_writes` counts every writer's writes: always on SQLite (this process is
    /// the only writer); on PostgreSQL while the notifications are heard.
    sees_every_write: Arc<AtomicBool>,
    /// The task listening to other replicas' writes, stopped with the store.
    follower: Option<tokio::task::JoinHandle<()>>,
    /// What that task hears besides database writes (queue, providers, leases).
    notices: tokio::sync::broadcast::Sender<Notice>,
    audit_counts: AuditCounts,
}

impl Drop for SqlStore {
    fn drop(&mut self) {
        if let Some(f) = &self.follower {
            f.abort();
        }
    }
}

/// Held across one write; bumps the store's write generation when dropped, i.e. after the write
/// finished (or was abandoned), never before it could be seen.
struct Writing<'a> {
    pool: &'a Pool<Db>,
    writes: &'a AtomicU64,
    /// `None` for a write that leaves the `databases` table alone.
    database_writes: Option<&'a Arc<AtomicU64>>,
}

impl std::ops::Deref for Writing<'_> {
    type Target = Pool<Db>;
    fn deref(&self) -> &Pool<Db> {
        self.pool
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if let Some(d) = self.database_writes {
            d.fetch_add(1, Ordering::SeqCst);
        }
        self.writes.fetch_add(1, Ordering::SeqCst);
    }
}

impl SqlStore {
    pub(crate) fn new(r: Pool<Db>, w: Pool<Db>, cipher: Cipher) -> Self {
        let database_writes = Arc::new(AtomicU64::new(0));
        let sees_every_write = Arc::new(AtomicBool::new(SOLE_WRITER));
        let (notices, _) = tokio::sync::broadcast::channel(256);
        let follower = follow_notifications(
            &w,
            database_writes.clone(),
            sees_every_write.clone(),
            notices.clone(),
        );
        SqlStore {
            r,
            w,
            cipher,
            writes: AtomicU64::new(0),
            database_writes,
            sees_every_write,
            follower,
            notices,
            audit_counts: AuditCounts::default(),
        }
    }

    /// The writer pool for one statement: `.execute(&*self.writing()).await` in one expression,
    /// so the guard outlives the write.
    fn writing(&self) -> Writing<'_> {
        Writing {
            pool: &self.w,
            writes: &self.writes,
            database_writes: Some(&self.database_writes),
        }
    }

    /// [`SqlStore::writing`] for a write that cannot change a database record.
    fn writing_outside_databases(&self) -> Writing<'_> {
        Writing {
            pool: &self.w,
            writes: &self.writes,
            database_writes: None,
        }
    }

    fn write_generation(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    async fn begin(&self) -> Result<Tx> {
        begin_write(&self.w).await.map_err(db_err)
    }

    /// Commits a transaction from [`SqlStore::begin`]; a rolled-back one wrote nothing.
    async fn commit(&self, tx: Tx) -> Result<()> {
        let _writing = self.writing();
        tx.commit().await.map_err(db_err)
    }

    /// [`SqlStore::commit`] for a transaction that cannot have changed a database record.
    async fn commit_outside_databases(&self, tx: Tx) -> Result<()> {
        let _writing = self.writing_outside_databases();
        tx.commit().await.map_err(db_err)
    }
}

// ---------------------------------------------------------------- row decoding

fn get<'r, T: sqlx::Decode<'r, Db> + sqlx::Type<Db>>(r: &'r DbRow, col: &str) -> Result<T> {
    r.try_get(col).map_err(db_err)
}

fn json<T: serde::de::DeserializeOwned>(r: &DbRow, col: &str) -> Result<T> {
    Ok(get::<Json<T>>(r, col)?.0)
}

macro_rules! backup_cols {
    () => {
        "id, database_id, domain, project, provider_id, snapshot_name, kind, status, snapshot_time, \
         size_bytes, duration_seconds, integrity, repository, expires_at, error, created_at, updated_at"
    };
}

fn backup_row(r: &DbRow) -> Result<Backup> {
    let kind: String = get(r, "kind")?;
    let status: String = get(r, "status")?;
    Ok(Backup {
        id: get(r, "id")?,
        database_id: get(r, "database_id")?,
        domain: get(r, "domain")?,
        project: get(r, "project")?,
        provider_id: get(r, "provider_id")?,
        snapshot_name: get(r, "snapshot_name")?,
        kind: parse(&kind, BackupKind::parse, "backup kind")?,
        status: parse(&status, BackupStatus::parse, "backup status")?,
        snapshot_time: get(r, "snapshot_time")?,
        size_bytes: get(r, "size_bytes")?,
        duration_seconds: get(r, "duration_seconds")?,
        integrity: get(r, "integrity")?,
        repository: get(r, "repository")?,
        expires_at: get(r, "expires_at")?,
        error: get(r, "error")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

fn backup_storage_row(scope: &BackupScope, r: &DbRow) -> Result<BackupStorage> {
    Ok(BackupStorage {
        scope: scope.clone(),
        endpoint: get(r, "endpoint")?,
        bucket: get(r, "bucket")?,
        prefix: get(r, "prefix")?,
        region: get(r, "region")?,
        access_key_id: get(r, "access_key_id")?,
        insecure_tls: get(r, "insecure_tls")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
        updated_by: get(r, "updated_by")?,
    })
}

async fn upsert_backup_in(tx: &mut Tx, b: &Backup) -> Result<()> {
    // A row keeps when it was first seen and how it came to be.
    sqlx::query(concat!(
        "INSERT INTO backups (",
        backup_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, snapshot_time = excluded.snapshot_time, \
         size_bytes = excluded.size_bytes, duration_seconds = excluded.duration_seconds, \
         integrity = excluded.integrity, expires_at = excluded.expires_at, error = excluded.error, \
         updated_at = excluded.updated_at"
    ))
    .bind(&b.id)
    .bind(&b.database_id)
    .bind(&b.domain)
    .bind(&b.project)
    .bind(&b.provider_id)
    .bind(&b.snapshot_name)
    .bind(b.kind.as_str())
    .bind(b.status.as_str())
    .bind(b.snapshot_time)
    .bind(b.size_bytes)
    .bind(b.duration_seconds)
    .bind(b.integrity)
    .bind(&b.repository)
    .bind(b.expires_at)
    .bind(&b.error)
    .bind(b.created_at)
    .bind(b.updated_at)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

fn user_row(r: &DbRow) -> Result<User> {
    Ok(User {
        id: get(r, "id")?,
        email: get(r, "email")?,
        full_name: get(r, "full_name")?,
        password_hash: get(r, "password_hash")?,
        is_active: get(r, "is_active")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
        last_login_at: get(r, "last_login_at")?,
    })
}

/// The binding columns of a `users LEFT JOIN bindings` row (None when the user has none).
fn binding_row(r: &DbRow) -> Result<Option<Binding>> {
    let role: Option<String> = get(r, "b_role")?;
    match role {
        None => Ok(None),
        Some(role) => Ok(Some(Binding {
            role: parse(&role, Role::parse, "role")?,
            domain: get(r, "b_domain")?,
            project: get(r, "b_project")?,
        })),
    }
}

/// Folds joined rows (ordered by user) into users with their bindings.
fn group_users(rows: &[DbRow]) -> Result<Vec<UserWithBindings>> {
    let mut out: Vec<UserWithBindings> = Vec::new();
    for r in rows {
        let id: String = get(r, "id")?;
        if out.last().is_none_or(|u| u.user.id != id) {
            out.push(UserWithBindings {
                user: user_row(r)?,
                bindings: Vec::new(),
            });
        }
        if let (Some(b), Some(last)) = (binding_row(r)?, out.last_mut()) {
            last.bindings.push(b);
        }
    }
    Ok(out)
}

fn quota_row(r: &DbRow) -> Result<QuotaLimits> {
    Ok(QuotaLimits {
        max_cpu_cores: get(r, "q_cpu")?,
        max_memory_gb: get(r, "q_memory")?,
        max_storage_gb: get(r, "q_storage")?,
        max_databases: get(r, "q_databases")?,
        max_backups: get(r, "q_backups")?,
    })
}

fn tenant_row(r: &DbRow) -> Result<Tenant> {
    let plan: String = get(r, "plan")?;
    Ok(Tenant {
        name: get(r, "name")?,
        display_name: get(r, "display_name")?,
        plan: parse(&plan, Plan::parse, "plan")?,
        contact_email: get(r, "contact_email")?,
        quota: quota_row(r)?,
        metadata: json(r, "metadata")?,
        is_active: get(r, "is_active")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

fn project_row(r: &DbRow) -> Result<Project> {
    Ok(Project {
        domain: get(r, "domain")?,
        name: get(r, "name")?,
        display_name: get(r, "display_name")?,
        description: get(r, "description")?,
        quota: quota_row(r)?,
        metadata: json(r, "metadata")?,
        is_active: get(r, "is_active")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

fn invitation_row(r: &DbRow) -> Result<Invitation> {
    let role: String = get(r, "role")?;
    let status: String = get(r, "status")?;
    Ok(Invitation {
        id: get(r, "id")?,
        email: get(r, "email")?,
        binding: Binding {
            role: parse(&role, Role::parse, "role")?,
            domain: Some(get(r, "domain")?),
            project: get(r, "project")?,
        },
        code_hash: get(r, "code_hash")?,
        invited_by: get(r, "invited_by")?,
        invited_by_email: get(r, "invited_by_email")?,
        status: parse(&status, InvitationStatus::parse, "invitation status")?,
        created_at: get(r, "created_at")?,
        expires_at: get(r, "expires_at")?,
        decided_at: get(r, "decided_at")?,
        accepted_by: get(r, "accepted_by")?,
    })
}

fn key_row(r: &DbRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: get(r, "id")?,
        user_id: get(r, "user_id")?,
        name: get(r, "name")?,
        description: get(r, "description")?,
        prefix: get(r, "prefix")?,
        key_hash: get(r, "key_hash")?,
        scopes: json(r, "scopes")?,
        created_at: get(r, "created_at")?,
        expires_at: get(r, "expires_at")?,
        last_used_at: get(r, "last_used_at")?,
        revoked_at: get(r, "revoked_at")?,
    })
}

fn refresh_row(r: &DbRow) -> Result<RefreshToken> {
    Ok(RefreshToken {
        id: get(r, "id")?,
        user_id: get(r, "user_id")?,
        family_id: get(r, "family_id")?,
        token_hash: get(r, "token_hash")?,
        created_at: get(r, "created_at")?,
        expires_at: get(r, "expires_at")?,
        revoked_at: get(r, "revoked_at")?,
        replaced_by: get(r, "replaced_by")?,
    })
}

fn provider_row(r: &DbRow) -> Result<Provider> {
    Ok(Provider {
        id: get(r, "id")?,
        name: get(r, "name")?,
        region: get(r, "region")?,
        availability_zone: get(r, "availability_zone")?,
        cloud_provider: get(r, "cloud_provider")?,
        domain: get(r, "domain")?,
        capacity: ProviderCapacity {
            cpu_total_cores: get(r, "cpu_total")?,
            memory_total_gb: get(r, "memory_total")?,
            storage_total_gb: get(r, "storage_total")?,
            cpu_reservation_percent: get(r, "cpu_pct")?,
            memory_reservation_percent: get(r, "memory_pct")?,
            storage_reservation_percent: get(r, "storage_pct")?,
        },
        allocated: Usage {
            cpu_cores: get(r, "alloc_cpu")?,
            memory_gb: get(r, "alloc_memory")?,
            storage_gb: get(r, "alloc_storage")?,
            databases: get(r, "alloc_databases")?,
            backups: get(r, "alloc_backups")?,
        },
        verify_ssl: get(r, "verify_ssl")?,
        enable_loadbalancer: get(r, "enable_loadbalancer")?,
        is_active: get(r, "is_active")?,
        is_maintenance: get(r, "is_maintenance")?,
        priority: get(r, "priority")?,
        tags: json(r, "tags")?,
        metadata: json(r, "metadata")?,
        kubedb: json(r, "kubedb")?,
        connection: json(r, "connection")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

fn reserved_row(r: &DbRow) -> Result<Usage> {
    Ok(Usage {
        cpu_cores: get(r, "res_cpu")?,
        memory_gb: get(r, "res_memory")?,
        storage_gb: get(r, "res_storage")?,
        databases: get(r, "res_databases")?,
        backups: get(r, "res_backups")?,
    })
}

fn database_row(r: &DbRow) -> Result<Database> {
    let engine: String = get(r, "engine")?;
    let size: String = get(r, "size")?;
    let status: String = get(r, "status")?;
    Ok(Database {
        id: get(r, "id")?,
        name: get(r, "name")?,
        domain: get(r, "domain")?,
        project: get(r, "project")?,
        engine: parse(&engine, Engine::parse, "engine")?,
        version: get(r, "version")?,
        size: parse(&size, Size::parse, "size")?,
        storage_gb: get(r, "storage_gb")?,
        replicas: get(r, "replicas")?,
        ready_replicas: get(r, "ready_replicas")?,
        status: parse(&status, DatabaseStatus::parse, "database status")?,
        health_status: get(r, "health_status")?,
        kubedb_phase: get(r, "kubedb_phase")?,
        backup_enabled: get(r, "backup_enabled")?,
        backup_schedule: get(r, "backup_schedule")?,
        backup_retention_days: get(r, "backup_retention_days")?,
        high_availability: get(r, "high_availability")?,
        monitoring_enabled: get(r, "monitoring_enabled")?,
        deletion_protection: get(r, "deletion_protection")?,
        endpoint: get(r, "endpoint")?,
        port: get(r, "port")?,
        service_type: get(r, "service_type")?,
        loadbalancer_ip: get(r, "loadbalancer_ip")?,
        labels: json(r, "labels")?,
        annotations: json(r, "annotations")?,
        provider_id: get(r, "provider_id")?,
        namespace: get(r, "namespace")?,
        kubedb_resource_name: get(r, "kubedb_resource_name")?,
        current: json(r, "current_state")?,
        upgrade_policy: get::<Option<Json<serde_json::Value>>>(r, "upgrade_policy")?.map(|j| j.0),
        conditions: json(r, "conditions")?,
        reserved: reserved_row(r)?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

/// A database as SQLite's `json_object` writes it (see [`sqlite_databases_json`]): the columns by
/// name, booleans as 0/1.
#[derive(serde::Deserialize)]
struct DatabaseJson {
    id: String,
    name: String,
    domain: String,
    project: String,
    engine: String,
    version: String,
    size: String,
    storage_gb: i64,
    replicas: i64,
    ready_replicas: i64,
    status: String,
    health_status: Option<String>,
    kubedb_phase: Option<String>,
    backup_enabled: i64,
    backup_schedule: String,
    backup_retention_days: i64,
    high_availability: i64,
    monitoring_enabled: i64,
    deletion_protection: i64,
    endpoint: Option<String>,
    port: Option<i64>,
    service_type: Option<String>,
    loadbalancer_ip: Option<String>,
    labels: std::collections::BTreeMap<String, String>,
    annotations: std::collections::BTreeMap<String, String>,
    provider_id: Option<String>,
    namespace: Option<String>,
    kubedb_resource_name: Option<String>,
    current_state: domain::model::CurrentState,
    upgrade_policy: Option<serde_json::Value>,
    conditions: serde_json::Value,
    res_cpu: f64,
    res_memory: f64,
    res_storage: f64,
    res_databases: i64,
    res_backups: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl DatabaseJson {
    fn into_database(self) -> Result<Database> {
        Ok(Database {
            engine: parse(&self.engine, Engine::parse, "engine")?,
            size: parse(&self.size, Size::parse, "size")?,
            status: parse(&self.status, DatabaseStatus::parse, "database status")?,
            id: self.id,
            name: self.name,
            domain: self.domain,
            project: self.project,
            version: self.version,
            storage_gb: self.storage_gb,
            replicas: self.replicas,
            ready_replicas: self.ready_replicas,
            health_status: self.health_status,
            kubedb_phase: self.kubedb_phase,
            backup_enabled: self.backup_enabled != 0,
            backup_schedule: self.backup_schedule,
            backup_retention_days: self.backup_retention_days,
            high_availability: self.high_availability != 0,
            monitoring_enabled: self.monitoring_enabled != 0,
            deletion_protection: self.deletion_protection != 0,
            endpoint: self.endpoint,
            port: self.port,
            service_type: self.service_type,
            loadbalancer_ip: self.loadbalancer_ip,
            labels: self.labels,
            annotations: self.annotations,
            provider_id: self.provider_id,
            namespace: self.namespace,
            kubedb_resource_name: self.kubedb_resource_name,
            current: self.current_state,
            upgrade_policy: self.upgrade_policy,
            conditions: self.conditions,
            reserved: Usage {
                cpu_cores: self.res_cpu,
                memory_gb: self.res_memory,
                storage_gb: self.res_storage,
                databases: self.res_databases,
                backups: self.res_backups,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// `SELECT` of the databases a query selects as one JSON array in `order`; the caller appends
/// the inner query's conditions, the same order, limits, and the closing parenthesis.
fn sqlite_databases_json(order: &str) -> String {
    format!(
        "SELECT json_group_array(json_object('id', id, 'name', name, 'domain', domain, \
         'project', project, 'engine', engine, 'version', version, 'size', size, \
         'storage_gb', storage_gb, 'replicas', replicas, 'ready_replicas', ready_replicas, \
         'status', status, 'health_status', health_status, 'kubedb_phase', kubedb_phase, \
         'backup_enabled', backup_enabled, 'backup_schedule', backup_schedule, \
         'backup_retention_days', backup_retention_days, 'high_availability', high_availability, \
         'monitoring_enabled', monitoring_enabled, 'deletion_protection', deletion_protection, \
         'endpoint', endpoint, 'port', port, 'service_type', service_type, \
         'loadbalancer_ip', loadbalancer_ip, 'labels', json(labels), \
         'annotations', json(annotations), 'provider_id', provider_id, 'namespace', namespace, \
         'kubedb_resource_name', kubedb_resource_name, 'current_state', json(current_state), \
         'upgrade_policy', json(upgrade_policy), 'conditions', json(conditions), \
         'res_cpu', res_cpu, 'res_memory', res_memory, 'res_storage', res_storage, \
         'res_databases', res_databases, 'res_backups', res_backups, \
         'created_at', created_at, 'updated_at', updated_at) ORDER BY {order}) \
         FROM (SELECT * FROM databases"
    )
}

fn databases_from_json(text: &str) -> Result<Vec<Database>> {
    serde_json::from_str::<Vec<DatabaseJson>>(text)
        .map_err(|e| StoreError::Corrupt(format!("databases page: {e}")))?
        .into_iter()
        .map(DatabaseJson::into_database)
        .collect()
}

fn operation_row(r: &DbRow) -> Result<Operation> {
    let op_type: String = get(r, "op_type")?;
    let status: String = get(r, "status")?;
    Ok(Operation {
        id: get(r, "id")?,
        database_id: get(r, "database_id")?,
        op_type: parse(&op_type, OperationType::parse, "operation type")?,
        status: parse(&status, OperationStatus::parse, "operation status")?,
        progress: get(r, "progress")?,
        message: get(r, "message")?,
        desired_state: json(r, "desired_state")?,
        ops_request_name: get(r, "ops_request_name")?,
        ops_request_phase: get(r, "ops_request_phase")?,
        error_message: get(r, "error_message")?,
        retry_count: get(r, "retry_count")?,
        max_retries: get(r, "max_retries")?,
        created_by: get(r, "created_by")?,
        domain: get(r, "domain")?,
        project: get(r, "project")?,
        lease_owner: get(r, "lease_owner")?,
        lease_expires_at: get(r, "lease_expires_at")?,
        run_after: get(r, "run_after")?,
        created_at: get(r, "created_at")?,
        started_at: get(r, "started_at")?,
        completed_at: get(r, "completed_at")?,
        estimated_completion_at: get(r, "estimated_completion_at")?,
    })
}

fn audit_row(r: &DbRow) -> Result<AuditEntry> {
    let status: String = get(r, "status")?;
    let status = match status.as_str() {
        "success" => AuditOutcome::Success,
        "failure" => AuditOutcome::Failure,
        other => {
            return Err(StoreError::Corrupt(format!(
                "unknown audit status '{other}'"
            )))
        }
    };
    Ok(AuditEntry {
        id: get(r, "id")?,
        action: get(r, "action")?,
        resource_type: get(r, "resource_type")?,
        resource_id: get(r, "resource_id")?,
        domain: get(r, "domain")?,
        project: get(r, "project")?,
        user_id: get(r, "user_id")?,
        user_email: get(r, "user_email")?,
        ip_address: get(r, "ip_address")?,
        user_agent: get(r, "user_agent")?,
        request_method: get(r, "request_method")?,
        request_path: get(r, "request_path")?,
        status,
        status_code: get(r, "status_code")?,
        details: json(r, "details")?,
        timestamp: get(r, "timestamp")?,
    })
}

fn usage_row(r: &DbRow) -> Result<Usage> {
    Ok(Usage {
        cpu_cores: get(r, "cpu")?,
        memory_gb: get(r, "mem")?,
        storage_gb: get(r, "sto")?,
        databases: get(r, "dbs")?,
        backups: get(r, "bks")?,
    })
}

fn rows<T>(rs: &[DbRow], f: fn(&DbRow) -> Result<T>) -> Result<Vec<T>> {
    rs.iter().map(f).collect()
}

fn page_of<T>(items: Vec<T>, total: i64, page: PageRequest) -> Page<T> {
    Page {
        items,
        total,
        page: page.page,
        page_size: page.page_size,
    }
}

fn scope_text(b: &Binding) -> String {
    match (&b.domain, &b.project) {
        (None, _) => "the platform".to_string(),
        (Some(d), None) => format!("domain '{d}'"),
        (Some(d), Some(p)) => format!("project '{p}' of domain '{d}'"),
    }
}

fn lease_end(now: DateTime<Utc>, lease: Duration) -> Result<DateTime<Utc>> {
    chrono::Duration::from_std(lease)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| StoreError::Domain(DomainError::BadRequest("lease is too long".into())))
}

// ---------------------------------------------------------------- statement helpers

fn bind_database<'q>(q: Q<'q>, d: &'q Database) -> Q<'q> {
    q.bind(&d.id)
        .bind(&d.name)
        .bind(&d.domain)
        .bind(&d.project)
        .bind(d.engine.as_str())
        .bind(&d.version)
        .bind(d.size.as_str())
        .bind(d.storage_gb)
        .bind(d.replicas)
        .bind(d.ready_replicas)
        .bind(d.status.as_str())
        .bind(&d.health_status)
        .bind(&d.kubedb_phase)
        .bind(d.backup_enabled)
        .bind(&d.backup_schedule)
        .bind(d.backup_retention_days)
        .bind(d.high_availability)
        .bind(d.monitoring_enabled)
        .bind(d.deletion_protection)
        .bind(&d.endpoint)
        .bind(d.port)
        .bind(&d.service_type)
        .bind(&d.loadbalancer_ip)
        .bind(Json(&d.labels))
        .bind(Json(&d.annotations))
        .bind(&d.provider_id)
        .bind(&d.namespace)
        .bind(&d.kubedb_resource_name)
        .bind(Json(&d.current))
        .bind(d.upgrade_policy.as_ref().map(Json))
        .bind(Json(&d.conditions))
        .bind(d.reserved.cpu_cores)
        .bind(d.reserved.memory_gb)
        .bind(d.reserved.storage_gb)
        .bind(d.reserved.databases)
        .bind(d.reserved.backups)
        .bind(d.created_at)
        .bind(d.updated_at)
}

fn bind_operation<'q>(q: Q<'q>, o: &'q Operation) -> Q<'q> {
    q.bind(&o.id)
        .bind(&o.database_id)
        .bind(o.op_type.as_str())
        .bind(o.status.as_str())
        .bind(o.progress)
        .bind(&o.message)
        .bind(Json(&o.desired_state))
        .bind(&o.ops_request_name)
        .bind(&o.ops_request_phase)
        .bind(&o.error_message)
        .bind(o.retry_count)
        .bind(o.max_retries)
        .bind(&o.created_by)
        .bind(&o.domain)
        .bind(&o.project)
        .bind(&o.lease_owner)
        .bind(o.lease_expires_at)
        .bind(o.run_after)
        .bind(o.created_at)
        .bind(o.started_at)
        .bind(o.completed_at)
        .bind(o.estimated_completion_at)
}

const INSERT_DATABASE: &str = concat!(
    "INSERT INTO databases (",
    database_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
     $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38)"
);
const INSERT_OPERATION: &str = concat!(
    "INSERT INTO operations (",
    operation_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
     $21, $22)"
);

async fn insert_user(c: &mut Conn, u: &User) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, email, full_name, password_hash, is_active, created_at, updated_at, last_login_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&u.id)
    .bind(&u.email)
    .bind(&u.full_name)
    .bind(&u.password_hash)
    .bind(u.is_active)
    .bind(u.created_at)
    .bind(u.updated_at)
    .bind(u.last_login_at)
    .execute(c)
    .await
    .map_err(|e| unique_or(e, || "email already registered".into()))?;
    Ok(())
}

async fn insert_binding(c: &mut Conn, user_id: &str, b: &Binding) -> Result<()> {
    sqlx::query("INSERT INTO bindings (user_id, role, domain, project) VALUES ($1, $2, $3, $4)")
        .bind(user_id)
        .bind(b.role.as_str())
        .bind(&b.domain)
        .bind(&b.project)
        .execute(c)
        .await
        .map_err(|e| {
            if is_fk_violation(&e) {
                StoreError::NotFound(format!("user '{user_id}' or {}", scope_text(b)))
            } else {
                unique_or(e, || {
                    format!("the user already holds a role on {}", scope_text(b))
                })
            }
        })?;
    Ok(())
}

async fn insert_tenant(c: &mut Conn, t: &Tenant) -> Result<()> {
    let retired: Option<String> =
        sqlx::query_scalar("SELECT name FROM retired_tenant_names WHERE name = $1")
            .bind(&t.name)
            .fetch_optional(&mut *c)
            .await
            .map_err(db_err)?;
    if retired.is_some() {
        return Err(StoreError::Conflict(format!(
            "domain '{}' already exists",
            t.name
        )));
    }
    sqlx::query(concat!(
        "INSERT INTO tenants (",
        tenant_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&t.name)
    .bind(&t.display_name)
    .bind(t.plan.as_str())
    .bind(&t.contact_email)
    .bind(t.quota.max_cpu_cores)
    .bind(t.quota.max_memory_gb)
    .bind(t.quota.max_storage_gb)
    .bind(t.quota.max_databases)
    .bind(t.quota.max_backups)
    .bind(Json(&t.metadata))
    .bind(t.is_active)
    .bind(t.created_at)
    .bind(t.updated_at)
    .execute(c)
    .await
    .map_err(|e| unique_or(e, || format!("domain '{}' already exists", t.name)))?;
    Ok(())
}

async fn insert_project(c: &mut Conn, p: &Project) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO projects (",
        project_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&p.domain)
    .bind(&p.name)
    .bind(&p.display_name)
    .bind(&p.description)
    .bind(p.quota.max_cpu_cores)
    .bind(p.quota.max_memory_gb)
    .bind(p.quota.max_storage_gb)
    .bind(p.quota.max_databases)
    .bind(p.quota.max_backups)
    .bind(Json(&p.metadata))
    .bind(p.created_at)
    .bind(p.updated_at)
    .bind(p.is_active)
    .execute(c)
    .await
    .map_err(|e| {
        if is_fk_violation(&e) {
            StoreError::NotFound(format!("domain '{}'", p.domain))
        } else {
            unique_or(e, || {
                format!(
                    "project '{}' already exists in domain '{}'",
                    p.name, p.domain
                )
            })
        }
    })?;
    Ok(())
}

async fn project_usage_in(c: &mut Conn, domain: &str, project: &str) -> Result<Usage> {
    let r = sqlx::query(concat!(
        usage_sums!(),
        "WHERE domain = $1 AND project = $2 AND status <> 'deleted'"
    ))
    .bind(domain)
    .bind(project)
    .fetch_one(c)
    .await
    .map_err(db_err)?;
    usage_row(&r)
}

async fn domain_usage_in(c: &mut Conn, domain: &str) -> Result<Usage> {
    let r = sqlx::query(concat!(
        usage_sums!(),
        "WHERE domain = $1 AND status <> 'deleted'"
    ))
    .bind(domain)
    .fetch_one(c)
    .await
    .map_err(db_err)?;
    usage_row(&r)
}

/// Locks the tenant and project rows (PostgreSQL) and returns their quotas, or NotFound.
async fn lock_quotas(
    c: &mut Conn,
    domain: &str,
    project: &str,
) -> Result<(QuotaLimits, QuotaLimits)> {
    let t = sqlx::query(concat!(
        "SELECT q_cpu, q_memory, q_storage, q_databases, q_backups FROM tenants WHERE name = $1",
        for_update!()
    ))
    .bind(domain)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_err)?
    .ok_or_else(|| StoreError::NotFound(format!("domain '{domain}'")))?;
    let p = sqlx::query(concat!(
        "SELECT q_cpu, q_memory, q_storage, q_databases, q_backups FROM projects WHERE domain = $1 AND name = $2",
        for_update!()
    ))
    .bind(domain)
    .bind(project)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_err)?
    .ok_or_else(|| StoreError::NotFound(format!("project '{project}' in domain '{domain}'")))?;
    Ok((quota_row(&t)?, quota_row(&p)?))
}

/// Checks `delta` (what the project is about to hold in addition) against project and domain quotas.
async fn check_quotas(c: &mut Conn, domain: &str, project: &str, delta: Usage) -> Result<()> {
    let (tenant_q, project_q) = lock_quotas(&mut *c, domain, project).await?;
    let used_p = project_usage_in(&mut *c, domain, project).await?;
    quota::check(&project_q, used_p, delta, "project")?;
    let used_d = domain_usage_in(&mut *c, domain).await?;
    quota::check(&tenant_q, used_d, delta, "domain")?;
    Ok(())
}

async fn lock_provider(c: &mut Conn, id: &str) -> Result<Option<Provider>> {
    let r = sqlx::query(concat!(
        "SELECT ",
        provider_cols!(),
        " FROM providers WHERE id = $1",
        for_update!()
    ))
    .bind(id)
    .fetch_optional(c)
    .await
    .map_err(db_err)?;
    r.as_ref().map(provider_row).transpose()
}

/// Adds `delta` to a (locked) provider's allocation; growth must fit its capacity.
async fn allocate(c: &mut Conn, p: &Provider, delta: Usage) -> Result<()> {
    check_capacity(&p.name, &p.capacity, p.allocated, delta)?;
    set_allocation(c, p, delta).await
}

const INSERT_AUDIT: &str = concat!(
    "INSERT INTO audit_logs (",
    audit_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
);

fn bind_audit<'q>(q: Q<'q>, e: &'q AuditEntry) -> Q<'q> {
    q.bind(&e.id)
        .bind(&e.action)
        .bind(&e.resource_type)
        .bind(&e.resource_id)
        .bind(&e.domain)
        .bind(&e.project)
        .bind(&e.user_id)
        .bind(&e.user_email)
        .bind(&e.ip_address)
        .bind(&e.user_agent)
        .bind(&e.request_method)
        .bind(&e.request_path)
        .bind(e.status.as_str())
        .bind(e.status_code)
        .bind(Json(&e.details))
        .bind(e.timestamp)
}

/// Writes audit entries inside the transaction of the change they record.
async fn insert_audits(c: &mut Conn, entries: &[AuditEntry]) -> Result<()> {
    for e in entries {
        bind_audit(sqlx::query(INSERT_AUDIT), e)
            .execute(&mut *c)
            .await
            .map_err(|err| unique_or(err, || format!("audit entry '{}' already exists", e.id)))?;
    }
    Ok(())
}

/// The UPDATE a [`DatabasePatch`] makes: only its `Some` fields, guarded by its expected statuses.
fn patch_statement(id: &str, p: &DatabasePatch, now: DateTime<Utc>) -> Qb {
    let mut qb = Qb::new("UPDATE databases SET updated_at = ");
    qb.push_bind(now);
    fn set<T>(qb: &mut Qb, col: &str, v: &Option<T>, bind: impl FnOnce(&mut Qb, &T)) {
        if let Some(v) = v {
            qb.push(", ").push(col).push(" = ");
            bind(qb, v);
        }
    }
    set(&mut qb, "status", &p.status, |q, v| {
        q.push_bind(v.as_str());
    });
    set(&mut qb, "ready_replicas", &p.ready_replicas, |q, v| {
        q.push_bind(*v);
    });
    for (col, v) in [
        ("health_status", &p.health_status),
        ("kubedb_phase", &p.kubedb_phase),
        ("endpoint", &p.endpoint),
        ("service_type", &p.service_type),
        ("loadbalancer_ip", &p.loadbalancer_ip),
        ("namespace", &p.namespace),
        ("kubedb_resource_name", &p.kubedb_resource_name),
    ] {
        set(&mut qb, col, v, |q, v| {
            q.push_bind(v.clone());
        });
    }
    set(&mut qb, "port", &p.port, |q, v| {
        q.push_bind(*v);
    });
    set(&mut qb, "current_state", &p.current, |q, v| {
        q.push_bind(Json(v.clone()));
    });
    set(&mut qb, "conditions", &p.conditions, |q, v| {
        q.push_bind(Json(v.clone()));
    });
    qb.push(" WHERE id = ").push_bind(id.to_string());
    if !p.expect_status.is_empty() {
        qb.push(" AND status IN (");
        let mut sep = qb.separated(", ");
        for s in &p.expect_status {
            sep.push_bind(s.as_str());
        }
        qb.push(")");
    }
    // A database runs only while it holds its reservation: checked in the same statement, so
    // a release racing a watcher's `failed → running` can never leave one running unaccounted.
    if p.status.is_some_and(DatabaseStatus::requires_reservation) {
        qb.push(" AND res_databases > 0");
    }
    if let Some(f) = &p.fence {
        qb.push(" AND ");
        push_fence(&mut qb, f, now);
    }
    qb
}

/// `EXISTS (…)`: true while `f`'s holder still holds its lease in its term at `now`. The lease row
/// is share-locked, so a takeover waits for the fenced write to commit or sees it refused.
fn push_fence(qb: &mut Qb, f: &Fence, now: DateTime<Utc>) {
    qb.push("EXISTS (SELECT 1 FROM leases WHERE name = ")
        .push_bind(f.lease.clone())
        .push(" AND holder = ")
        .push_bind(f.holder.clone())
        .push(" AND term = ")
        .push_bind(f.term)
        .push(" AND expires_at > ")
        .push_bind(now)
        .push(concat!(for_share!(), ")"));
}

/// Whether `f` still holds now, asked through `exec` (see [`push_fence`]).
async fn fence_holds_on<'c>(
    exec: impl sqlx::Executor<'c, Database = Db>,
    f: &Fence,
) -> Result<bool> {
    let mut qb = Qb::new("SELECT ");
    push_fence(&mut qb, f, Utc::now());
    qb.build_query_scalar()
        .fetch_one(exec)
        .await
        .map_err(db_err)
}

/// Whether `fence` (if any) still holds, checked inside `tx`.
async fn fence_holds(tx: &mut Tx, fence: Option<&Fence>) -> Result<bool> {
    match fence {
        Some(f) => fence_holds_on(&mut **tx, f).await,
        None => Ok(true),
    }
}

/// The UPDATE of a database's desired settings, or None when nothing changes.
fn settings_statement(id: &str, s: &DatabaseSettings) -> Option<Qb> {
    if s.is_empty() {
        return None;
    }
    let mut qb = Qb::new("UPDATE databases SET id = id");
    fn set<T>(qb: &mut Qb, col: &str, v: &Option<T>, bind: impl FnOnce(&mut Qb, &T)) {
        if let Some(v) = v {
            qb.push(", ").push(col).push(" = ");
            bind(qb, v);
        }
    }
    set(&mut qb, "version", &s.version, |q, v| {
        q.push_bind(v.clone());
    });
    set(&mut qb, "size", &s.size, |q, v| {
        q.push_bind(v.as_str());
    });
    for (col, v) in [
        ("storage_gb", &s.storage_gb),
        ("replicas", &s.replicas),
        ("backup_retention_days", &s.backup_retention_days),
    ] {
        set(&mut qb, col, v, |q, v| {
            q.push_bind(*v);
        });
    }
    set(&mut qb, "backup_schedule", &s.backup_schedule, |q, v| {
        q.push_bind(v.clone());
    });
    for (col, v) in [
        ("backup_enabled", &s.backup_enabled),
        ("monitoring_enabled", &s.monitoring_enabled),
        ("deletion_protection", &s.deletion_protection),
    ] {
        set(&mut qb, col, v, |q, v| {
            q.push_bind(*v);
        });
    }
    for (col, v) in [("labels", &s.labels), ("annotations", &s.annotations)] {
        set(&mut qb, col, v, |q, v| {
            q.push_bind(Json(v.clone()));
        });
    }
    set(&mut qb, "upgrade_policy", &s.upgrade_policy, |q, v| {
        q.push_bind(v.clone().map(Json));
    });
    qb.push(" WHERE id = ").push_bind(id.to_string());
    Some(qb)
}

/// The part of a change that asks for more: what quotas must still admit.
fn growth_of(delta: Usage) -> Usage {
    Usage {
        cpu_cores: delta.cpu_cores.max(0.0),
        memory_gb: delta.memory_gb.max(0.0),
        storage_gb: delta.storage_gb.max(0.0),
        databases: delta.databases.max(0),
        backups: delta.backups.max(0),
    }
}

/// Adds `delta` to a (locked) provider's allocation without a capacity check: for recording what
/// already runs there (a rollback to the shape the cluster still has).
async fn set_allocation(c: &mut Conn, p: &Provider, delta: Usage) -> Result<()> {
    let next = non_negative(p.allocated.plus(delta));
    sqlx::query(
        "UPDATE providers SET alloc_cpu = $2, alloc_memory = $3, alloc_storage = $4, alloc_databases = $5, \
         alloc_backups = $6 WHERE id = $1",
    )
    .bind(&p.id)
    .bind(next.cpu_cores)
    .bind(next.memory_gb)
    .bind(next.storage_gb)
    .bind(next.databases)
    .bind(next.backups)
    .execute(c)
    .await
    .map_err(db_err)?;
    Ok(())
}

// ---------------------------------------------------------------- dynamic filters

type Qb = QueryBuilder<'static, Db>;

/// Appends " WHERE " before the first condition and " AND " before the others.
struct Where(bool);

impl Where {
    fn new() -> Self {
        Where(false)
    }
    fn and<'a>(&mut self, qb: &'a mut Qb) -> &'a mut Qb {
        qb.push(if self.0 { " AND " } else { " WHERE " });
        self.0 = true;
        qb
    }
}

fn push_database_filter(qb: &mut Qb, domain: &str, project: &str, f: &DatabaseFilter) {
    let mut w = Where::new();
    w.and(qb).push("domain = ").push_bind(domain.to_string());
    w.and(qb).push("project = ").push_bind(project.to_string());
    if let Some(e) = f.engine {
        w.and(qb).push("engine = ").push_bind(e.as_str());
    }
    match f.status {
        Some(s) => {
            w.and(qb).push("status = ").push_bind(s.as_str());
        }
        None if !f.include_deleted => {
            w.and(qb).push("status <> 'deleted'");
        }
        None => {}
    }
    if let Some(n) = f.name.as_deref().filter(|n| !n.is_empty()) {
        w.and(qb)
            .push("lower(name) LIKE ")
            .push_bind(like_pattern(n))
            .push(" ESCAPE '\\'");
    }
}

/// `(domain = ? [AND project = ?]) OR …`; an empty list matches nothing.
fn push_scopes<'a>(
    qb: &mut Qb,
    w: &mut Where,
    scopes: impl ExactSizeIterator<Item = (&'a str, Option<&'a str>)>,
) {
    if scopes.len() == 0 {
        w.and(qb).push("1 = 0");
        return;
    }
    w.and(qb).push("(");
    for (i, (d, p)) in scopes.enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        qb.push("(domain = ").push_bind(d.to_string());
        if let Some(p) = p {
            qb.push(" AND project = ").push_bind(p.to_string());
        }
        qb.push(")");
    }
    qb.push(")");
}

fn push_operation_filter(qb: &mut Qb, f: &OperationFilter) {
    let mut w = Where::new();
    if let Some(d) = &f.database_id {
        w.and(qb).push("database_id = ").push_bind(d.clone());
    }
    if let Some(s) = f.status {
        w.and(qb).push("status = ").push_bind(s.as_str());
    }
    if let Some(t) = f.op_type {
        w.and(qb).push("op_type = ").push_bind(t.as_str());
    }
    if let Some(scopes) = &f.visibility.scopes {
        push_scopes(
            qb,
            &mut w,
            scopes.iter().map(|(d, p)| (d.as_str(), p.as_deref())),
        );
    }
}

fn push_audit_filter(qb: &mut Qb, f: &AuditFilter) {
    let mut w = Where::new();
    let eq = [
        ("action", &f.action),
        ("resource_type", &f.resource_type),
        ("resource_id", &f.resource_id),
        ("domain", &f.domain),
        ("project", &f.project),
        ("user_id", &f.user_id),
    ];
    for (col, v) in eq {
        if let Some(v) = v {
            w.and(qb).push(col).push(" = ").push_bind(v.clone());
        }
    }
    if let Some(s) = f.since {
        w.and(qb).push("timestamp >= ").push_bind(s);
    }
    if let Some(u) = f.until {
        w.and(qb).push("timestamp <= ").push_bind(u);
    }
    if let Some(s) = f.status {
        w.and(qb).push("status = ").push_bind(s.as_str());
    }
    if let Some(scopes) = &f.scopes {
        push_scopes(
            qb,
            &mut w,
            scopes
                .iter()
                .map(|s| (s.domain.as_str(), s.project.as_deref())),
        );
    }
}

fn push_provider_filter(qb: &mut Qb, f: &ProviderFilter) {
    let mut w = Where::new();
    if let Some(r) = &f.region {
        w.and(qb).push("region = ").push_bind(r.clone());
    }
    if let Some(z) = &f.availability_zone {
        w.and(qb).push("availability_zone = ").push_bind(z.clone());
    }
    if let Some(a) = f.is_active {
        w.and(qb).push("is_active = ").push_bind(a);
    }
    if let Some(d) = &f.domain {
        w.and(qb).push("domain = ").push_bind(d.clone());
    }
}

fn push_names(qb: &mut Qb, w: &mut Where, col: &str, names: &[String]) {
    if names.is_empty() {
        w.and(qb).push("1 = 0");
        return;
    }
    w.and(qb).push(col).push(" IN (");
    let mut sep = qb.separated(", ");
    for n in names {
        sep.push_bind(n.clone());
    }
    qb.push(")");
}

impl SqlStore {
    /// How many rows `filter` selects from `from`, and the page's LIMIT and OFFSET unless the
    /// page lies past the end.
    async fn page_window(
        &self,
        from: &'static str,
        filter: &impl Fn(&mut Qb),
        page: PageRequest,
    ) -> Result<(i64, Option<(i64, i64)>)> {
        let mut count = Qb::new("SELECT COUNT(*) FROM ");
        count.push(from);
        filter(&mut count);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.r)
            .await
            .map_err(db_err)?;
        let (limit, offset) = limits(page);
        Ok((total, (offset < total).then_some((limit, offset))))
    }

    /// Runs a filtered count and, when the page is not past the end, the page itself.
    async fn paged<T>(
        &self,
        select: &'static str,
        from: &'static str,
        filter: impl Fn(&mut Qb),
        order: &'static str,
        page: PageRequest,
        map: fn(&DbRow) -> Result<T>,
    ) -> Result<Page<T>> {
        let (total, window) = self.page_window(from, &filter, page).await?;
        let Some((limit, offset)) = window else {
            return Ok(page_of(Vec::new(), total, page));
        };
        let mut q = Qb::new(select);
        q.push(" FROM ").push(from);
        filter(&mut q);
        q.push(order)
            .push(" LIMIT ")
            .push_bind(limit)
            .push(" OFFSET ")
            .push_bind(offset);
        let rs = q.build().fetch_all(&self.r).await.map_err(db_err)?;
        Ok(page_of(rows(&rs, map)?, total, page))
    }
}

// ---------------------------------------------------------------- audit pages

/// How long a counted audit `total` may answer later pages. A write through this store retires it
/// at once (it bumps the write generation); the window only bounds how late another replica's (or
/// process's) writes show in `total`.
const AUDIT_COUNT_TTL: Duration = Duration::from_secs(1);
/// Distinct filters remembered at most; past that the cache starts over.
const AUDIT_COUNT_MAX: usize = 1024;

/// Recent counts of matching audit entries per filter: recounting the whole log for every page
/// was most of a page's cost. A count taken under an older write generation is never served.
#[derive(Default)]
struct AuditCounts {
    counts: Mutex<HashMap<String, CachedCount>>,
}

struct CachedCount {
    /// The store's write generation when the count started.
    generation: u64,
    /// When the count started (not ended), so its age is never understated.
    taken: Instant,
    total: i64,
}

impl CachedCount {
    fn live(&self, generation: u64) -> bool {
        self.generation == generation && self.taken.elapsed() < AUDIT_COUNT_TTL
    }
}

impl AuditCounts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedCount>> {
        // The map holds plain numbers: a panic elsewhere cannot leave it half-updated.
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &str, generation: u64) -> Option<i64> {
        self.lock()
            .get(key)
            .filter(|c| c.live(generation))
            .map(|c| c.total)
    }

    fn put(&self, key: String, count: CachedCount, generation: u64) {
        let mut counts = self.lock();
        if counts.len() >= AUDIT_COUNT_MAX && !counts.contains_key(&key) {
            counts.retain(|_, c| c.live(generation));
            if counts.len() >= AUDIT_COUNT_MAX {
                counts.clear();
            }
        }
        counts.insert(key, count);
    }
}

/// The cache key of a filter: its debug form names every field and quotes every value, so two
/// filters share a key only when they select the same entries.
fn audit_count_key(f: &AuditFilter) -> String {
    format!("{f:?}")
}

/// SQLite builds the page as one JSON array, each object with the fields, order and encoding of
/// `AuditEntry`'s serde form. Timestamps are stored as `…+00:00` (sqlx's encoding of
/// `DateTime<Utc>`); serde writes the same digits with `Z`.
const SQLITE_AUDIT_JSON: &str = "SELECT json_group_array(json_object('id', id, 'action', action, \
     'resource_type', resource_type, 'resource_id', resource_id, 'domain', domain, \
     'project', project, 'user_id', user_id, 'user_email', user_email, \
     'ip_address', ip_address, 'user_agent', user_agent, 'request_method', request_method, \
     'request_path', request_path, 'status', status, 'status_code', status_code, \
     'details', json(details), 'timestamp', \
     CASE WHEN substr(timestamp, -6) = '+00:00' \
     THEN substr(timestamp, 1, length(timestamp) - 6) || 'Z' ELSE timestamp END) \
     ORDER BY timestamp DESC, id DESC) \
     FROM (SELECT * FROM audit_logs";

impl SqlStore {
    /// How many entries match: a recent count when no write came in between, else a new count.
    async fn audit_total(&self, filter: &AuditFilter) -> Result<i64> {
        let key = audit_count_key(filter);
        if let Some(total) = self.audit_counts.get(&key, self.write_generation()) {
            return Ok(total);
        }
        // Read before counting: a write that lands during the count retires this entry.
        let generation = self.write_generation();
        let taken = Instant::now();
        let mut count = Qb::new("SELECT COUNT(*) FROM audit_logs");
        push_audit_filter(&mut count, filter);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.r)
            .await
            .map_err(db_err)?;
        self.audit_counts.put(
            key,
            CachedCount {
                generation,
                taken,
                total,
            },
            self.write_generation(),
        );
        Ok(total)
    }

    /// The page's entries as one JSON array built by SQLite: sqlx-sqlite hands each row across a
    /// thread channel, so one value per page is much cheaper than a hundred rows.
    async fn audit_entries_sqlite_json(
        &self,
        filter: &AuditFilter,
        limit: i64,
        offset: i64,
    ) -> Result<String> {
        let mut q = Qb::new(SQLITE_AUDIT_JSON);
        push_audit_filter(&mut q, filter);
        q.push(" ORDER BY timestamp DESC, id DESC LIMIT ")
            .push_bind(limit)
            .push(" OFFSET ")
            .push_bind(offset)
            .push(")");
        q.build_query_scalar()
            .fetch_one(&self.r)
            .await
            .map_err(db_err)
    }

    /// The page's entries read row by row (PostgreSQL streams rows cheaply).
    async fn audit_entries_rows(
        &self,
        filter: &AuditFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<AuditEntry>> {
        let mut q = Qb::new(concat!("SELECT ", audit_cols!(), " FROM audit_logs"));
        push_audit_filter(&mut q, filter);
        q.push(" ORDER BY timestamp DESC, id DESC LIMIT ")
            .push_bind(limit)
            .push(" OFFSET ")
            .push_bind(offset);
        let rs = q.build().fetch_all(&self.r).await.map_err(db_err)?;
        rows(&rs, audit_row)
    }
}

// ---------------------------------------------------------------- the trait

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn databases_generation(&self) -> Option<u64> {
        self.sees_every_write
            .load(Ordering::SeqCst)
            .then(|| self.database_writes.load(Ordering::SeqCst))
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.r)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    // ---- users and bindings

    async fn create_user(&self, user: &User, bindings: &[Binding]) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_user(&mut tx, user).await?;
        for b in bindings {
            insert_binding(&mut tx, &user.id, b).await?;
        }
        self.commit(tx).await
    }

    async fn get_user(&self, id: &str) -> Result<Option<UserWithBindings>> {
        let rs = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            ", b.role AS b_role, b.domain AS b_domain, b.project AS b_project FROM users u \
             LEFT JOIN bindings b ON b.user_id = u.id WHERE u.id = $1 ORDER BY b.id"
        ))
        .bind(id)
        .fetch_all(&self.r)
        .await
        .map_err(db_err)?;
        Ok(group_users(&rs)?.pop())
    }

    async fn get_user_by_email(&self, email: &str) -> Result<Option<UserWithBindings>> {
        let rs = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            ", b.role AS b_role, b.domain AS b_domain, b.project AS b_project FROM users u \
             LEFT JOIN bindings b ON b.user_id = u.id WHERE lower(u.email) = lower($1) ORDER BY b.id"
        ))
        .bind(email)
        .fetch_all(&self.r)
        .await
        .map_err(db_err)?;
        Ok(group_users(&rs)?.pop())
    }

    async fn list_users(&self, page: PageRequest) -> Result<Page<UserWithBindings>> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.r)
            .await
            .map_err(db_err)?;
        let (limit, offset) = limits(page);
        if offset >= total {
            return Ok(page_of(Vec::new(), total, page));
        }
        // One query for the page and its bindings (no query per user).
        let rs = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            ", b.role AS b_role, b.domain AS b_domain, b.project AS b_project \
             FROM (SELECT * FROM users ORDER BY id DESC LIMIT $1 OFFSET $2) u \
             LEFT JOIN bindings b ON b.user_id = u.id ORDER BY u.id DESC, b.id"
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.r)
        .await
        .map_err(db_err)?;
        Ok(page_of(group_users(&rs)?, total, page))
    }

    async fn update_user(&self, user: &User) -> Result<()> {
        let n = sqlx::query(
            "UPDATE users SET email = $2, full_name = $3, password_hash = $4, is_active = $5, updated_at = $6 \
             WHERE id = $1",
        )
        .bind(&user.id)
        .bind(&user.email)
        .bind(&user.full_name)
        .bind(&user.password_hash)
        .bind(user.is_active)
        .bind(user.updated_at)
        .execute(&*self.writing())
        .await
        .map_err(|e| unique_or(e, || "email already registered".into()))?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("user '{}'", user.id)));
        }
        Ok(())
    }

    async fn record_login(&self, user_id: &str, at: DateTime<Utc>) -> Result<()> {
        let n = sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
            .bind(user_id)
            .bind(at)
            .execute(&*self.writing_outside_databases())
            .await
            .map_err(db_err)?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("user '{user_id}'")));
        }
        Ok(())
    }

    async fn count_platform_admins(&self) -> Result<i64> {
        // Only active accounts count: a deactivated admin cannot administer anything.
        sqlx::query_scalar(
            "SELECT COUNT(DISTINCT b.user_id) FROM bindings b JOIN users u ON u.id = b.user_id \
             WHERE b.role = 'platform_admin' AND u.is_active",
        )
        .fetch_one(&self.r)
        .await
        .map_err(db_err)
    }

    async fn add_binding(&self, user_id: &str, binding: &Binding) -> Result<()> {
        let writing = self.writing();
        let mut c = writing.acquire().await.map_err(db_err)?;
        insert_binding(&mut c, user_id, binding).await
    }

    async fn remove_binding(
        &self,
        user_id: &str,
        domain: &str,
        project: Option<&str>,
    ) -> Result<bool> {
        let n = sqlx::query(
            "DELETE FROM bindings WHERE user_id = $1 AND domain = $2 \
             AND ((project IS NULL AND $3 IS NULL) OR project = $3)",
        )
        .bind(user_id)
        .bind(domain)
        .bind(project)
        .execute(&*self.writing())
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n > 0)
    }

    async fn list_members(
        &self,
        domain: &str,
        project: Option<&str>,
    ) -> Result<Vec<(User, Binding)>> {
        let rs = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            ", b.role AS b_role, b.domain AS b_domain, b.project AS b_project FROM bindings b \
             JOIN users u ON u.id = b.user_id WHERE b.domain = $1 \
             AND ((b.project IS NULL AND $2 IS NULL) OR b.project = $2) ORDER BY lower(u.email), b.id"
        ))
        .bind(domain)
        .bind(project)
        .fetch_all(&self.r)
        .await
        .map_err(db_err)?;
        rs.iter()
            .map(|r| {
                let b = binding_row(r)?
                    .ok_or_else(|| StoreError::Corrupt("binding without a role".into()))?;
                Ok((user_row(r)?, b))
            })
            .collect()
    }

    async fn register(
        &self,
        user: &User,
        tenant: &Tenant,
        project: &Project,
        binding: &Binding,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_user(&mut tx, user).await?;
        insert_tenant(&mut tx, tenant).await?;
        insert_project(&mut tx, project).await?;
        insert_binding(&mut tx, &user.id, binding).await?;
        self.commit(tx).await
    }

    // ---- API keys

    async fn create_api_key(&self, key: &ApiKey) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO api_keys (",
            key_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&key.id)
        .bind(&key.user_id)
        .bind(&key.name)
        .bind(&key.description)
        .bind(&key.prefix)
        .bind(&key.key_hash)
        .bind(Json(&key.scopes))
        .bind(key.created_at)
        .bind(key.expires_at)
        .bind(key.last_used_at)
        .bind(key.revoked_at)
        .execute(&*self.writing())
        .await
        .map_err(|e| {
            if is_fk_violation(&e) {
                StoreError::NotFound(format!("user '{}'", key.user_id))
            } else {
                unique_or(e, || "an API key with that prefix already exists".into())
            }
        })?;
        Ok(())
    }

    async fn find_api_key(&self, prefix: &str) -> Result<Option<ApiKey>> {
        let r = sqlx::query(concat!(
            "SELECT ",
            key_cols!(),
            " FROM api_keys WHERE prefix = $1"
        ))
        .bind(prefix)
        .fetch_optional(&self.r)
        .await
        .map_err(db_err)?;
        r.as_ref().map(key_row).transpose()
    }

    async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKey>> {
        let rs = sqlx::query(concat!(
            "SELECT ",
            key_cols!(),
            " FROM api_keys WHERE user_id = $1 ORDER BY id DESC"
        ))
        .bind(user_id)
        .fetch_all(&self.r)
        .await
        .map_err(db_err)?;
        rows(&rs, key_row)
    }

    async fn revoke_api_key(&self, user_id: &str, key_id: &str, at: DateTime<Utc>) -> Result<bool> {
        let n = sqlx::query("UPDATE api_keys SET revoked_at = $3 WHERE id = $2 AND user_id = $1 AND revoked_at IS NULL")
            .bind(user_id)
            .bind(key_id)
            .bind(at)
            .execute(&*self.writing())
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn touch_api_key(&self, key_id: &str, at: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
            .bind(key_id)
            .bind(at)
            .execute(&*self.writing_outside_databases())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    // ---- refresh tokens

    async fn create_refresh_token(&self, token: &RefreshToken) -> Result<()> {
        let writing = self.writing_outside_databases();
        let mut c = writing.acquire().await.map_err(db_err)?;
        insert_refresh(&mut c, token).await
    }

    async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>> {
        let r = sqlx::query(concat!(
            "SELECT ",
            refresh_cols!(),
            " FROM refresh_tokens WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.r)
        .await
        .map_err(db_err)?;
        r.as_ref().map(refresh_row).transpose()
    }

    async fn rotate_refresh_token(
        &self,
        old_id: &str,
        new: &RefreshToken,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2, replaced_by = $3 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(old_id)
        .bind(at)
        .bind(&new.id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            // Already used (or never existed): write nothing; the caller treats it as reuse.
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        insert_refresh(&mut tx, new).await?;
        self.commit_outside_databases(tx).await?;
        Ok(true)
    }

    async fn revoke_refresh_family(&self, family_id: &str, at: DateTime<Utc>) -> Result<u64> {
        let n = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .bind(family_id)
        .bind(at)
        .execute(&*self.writing_outside_databases())
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n)
    }

    // ---- tenants and projects

    async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        let writing = self.writing();
        let mut c = writing.acquire().await.map_err(db_err)?;
        insert_tenant(&mut c, tenant).await
    }

    async fn get_tenant(&self, name: &str) -> Result<Option<Tenant>> {
        let r = sqlx::query(concat!(
            "SELECT ",
            tenant_cols!(),
            " FROM tenants WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.r)
        .await
        .map_err(db_err)?;
        r.as_ref().map(tenant_row).transpose()
    }

    async fn list_tenants(
        &self,
        only: Option<&[String]>,
        page: PageRequest,
    ) -> Result<Page<Tenant>> {
        let only = only.map(|o| o.to_vec());
        self.paged(
            concat!("SELECT ", tenant_cols!()),
            "tenants",
            |qb| {
                if let Some(names) = &only {
                    push_names(qb, &mut Where::new(), "name", names);
                }
            },
            " ORDER BY created_at DESC, name",
            page,
            tenant_row,
        )
        .await
    }

    async fn update_tenant(&self, t: &Tenant) -> Result<()> {
        let n = sqlx::query(
            "UPDATE tenants SET display_name = $2, plan = $3, contact_email = $4, q_cpu = $5, q_memory = $6, \
             q_storage = $7, q_databases = $8, q_backups = $9, metadata = $10, is_active = $11, updated_at = $12 \
             WHERE name = $1",
        )
        .bind(&t.name)
        .bind(&t.display_name)
        .bind(t.plan.as_str())
        .bind(&t.contact_email)
        .bind(t.quota.max_cpu_cores)
        .bind(t.quota.max_memory_gb)
        .bind(t.quota.max_storage_gb)
        .bind(t.quota.max_databases)
        .bind(t.quota.max_backups)
        .bind(Json(&t.metadata))
        .bind(t.is_active)
        .bind(t.updated_at)
        .execute(&*self.writing())
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("domain '{}'", t.name)));
        }
        Ok(())
    }

    async fn create_project(&self, project: &Project) -> Result<()> {
        let writing = self.writing();
        let mut c = writing.acquire().await.map_err(db_err)?;
        insert_project(&mut c, project).await
    }

    async fn get_project(&self, domain: &str, name: &str) -> Result<Option<Project>> {
        let r = sqlx::query(concat!(
            "SELECT ",
            project_cols!(),
            " FROM projects WHERE domain = $1 AND name = $2"
        ))
        .bind(domain)
        .bind(name)
        .fetch_optional(&self.r)
        .await
        .map_err(db_err)?;
        r.as_ref().map(project_row).transpose()
    }

    async fn list_projects(
        &self,
        domain: &str,
        only: Option<&[String]>,
        page: PageRequest,
    ) -> Result<Page<Project>> {
        let only = only.map(|o| o.to_vec());
        let domain = domain.to_string();
        self.paged(
            concat!("SELECT ", project_cols!()),
            "projects",
            |qb| {
                let mut w = Where::new();
                w.and(qb).push("domain = ").push_bind(domain.clone());
                if let Some(names) = &only {
                    push_names(qb, &mut w, "name", names);
                }
            },
            " ORDER BY created_at DESC, name",
            page,
            project_row,
        )
        .await
    }

    async fn update_project(&self, p: &Project) -> Result<()> {
        let n = sqlx::query(
            "UPDATE projects SET display_name = $3, description = $4, q_cpu = $5, q_memory = $6, q_storage = $7, \
             q_databases = $8, q_backups = $9, metadata = $10, updated_at = $11, is_active = $12 \
             WHERE domain = $1 AND name = $2",
        )
        .bind(&p.domain)
        .bind(&p.name)
        .bind(&p.display_name)
        .bind(&p.description)
        .bind(p.quota.max_cpu_cores)
        .bind(p.quota.max_memory_gb)
        .bind(p.quota.max_storage_gb)
        .bind(p.quota.max_databases)
        .bind(p.quota.max_backups)
        .bind(Json(&p.metadata))
        .bind(p.updated_at)
        .bind(p.is_active)
        .execute(&*self.writing())
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "project '{}' in domain '{}'",
                p.name, p.domain
            )));
        }
        Ok(())
    }

    async fn delete_project(&self, domain: &str, name: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        // Lock the project so no database is created in it while we decide.
        let exists = sqlx::query(concat!(
            "SELECT name FROM projects WHERE domain = $1 AND name = $2",
            for_update!()
        ))
        .bind(domain)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if exists.is_none() {
            return Ok(false);
        }
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM databases WHERE domain = $1 AND project = $2 AND status <> 'deleted'",
        )
        .bind(domain)
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if live > 0 {
            return Err(StoreError::Conflict(format!(
                "project '{name}' still has {live} database(s); delete them first"
            )));
        }
        sqlx::query("DELETE FROM bindings WHERE domain = $1 AND project = $2")
            .bind(domain)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM projects WHERE domain = $1 AND name = $2")
            .bind(domain)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn project_usage(&self, domain: &str, project: &str) -> Result<Usage> {
        let mut c = self.r.acquire().await.map_err(db_err)?;
        project_usage_in(&mut c, domain, project).await
    }

    async fn domain_usage(&self, domain: &str) -> Result<Usage> {
        let mut c = self.r.acquire().await.map_err(db_err)?;
        domain_usage_in(&mut c, domain).await
    }

    // ---- providers

    async fn create_provider(
        &self,
        p: &Provider,
        kubeconfig: &str,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let sealed = self.cipher.encrypt(kubeconfig);
        let mut tx = self.begin().await?;
        sqlx::query(concat!(
            "INSERT INTO providers (",
            provider_cols!(),
            ", kubeconfig_enc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)"
        ))
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.region)
        .bind(&p.availability_zone)
        .bind(&p.cloud_provider)
        .bind(&p.domain)
        .bind(p.capacity.cpu_total_cores)
        .bind(p.capacity.memory_total_gb)
        .bind(p.capacity.storage_total_gb)
        .bind(p.capacity.cpu_reservation_percent)
        .bind(p.capacity.memory_reservation_percent)
        .bind(p.capacity.storage_reservation_percent)
        .bind(p.allocated.cpu_cores)
        .bind(p.allocated.memory_gb)
        .bind(p.allocated.storage_gb)
        .bind(p.allocated.databases)
        .bind(p.allocated.backups)
        .bind(p.verify_ssl)
        .bind(p.enable_loadbalancer)
        .bind(p.is_active)
        .bind(p.is_maintenance)
        .bind(p.priority)
        .bind(Json(&p.tags))
        .bind(Json(&p.metadata))
        .bind(Json(&p.kubedb))
        .bind(Json(&p.connection))
        .bind(p.created_at)
        .bind(p.updated_at)
        .bind(sealed)
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_or(e, || format!("provider '{}' already exists", p.name)))?;
        insert_audits(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn get_provider(&self, id: &str) -> Result<Option<Provider>> {
        let r = sqlx::query(concat!(
            "SELECT ",
            provider_cols!(),
            " FROM providers WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.r)
        .await
        .map_err(db_err)?;
        r.as_ref().map(provider_row).transpose()
    }

    async fn list_providers(&self, filter: &ProviderFilter) -> Result<Vec<Provider>> {
        let mut q = Qb::new(concat!("SELECT ", provider_cols!(), " FROM providers"));
        push_provider_filter(&mut q, filter);
        q.push(" ORDER BY priority DESC, name");
        let rs = q.build().fetch_all(&self.r).await.map_err(db_err)?;
        rows(&rs, provider_row)
    }

    async fn update_provider(
        &self,
        p: &Provider,
        kubeconfig: Option<&str>,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let sealed = kubeconfig.map(|k| self.cipher.encrypt(k));
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE providers SET name = $2, region = $3, availability_zone = $4, cloud_provider = $5, domain = $6, \
             cpu_total = $7, memory_total = $8, storage_total = $9, cpu_pct = $10, memory_pct = $11, \
             storage_pct = $12, verify_ssl = $13, enable_loadbalancer = $14, is_active = $15, is_maintenance = $16, \
             priority = $17, tags = $18, metadata = $19, kubedb = $20, connection = $21, updated_at = $22, \
             kubeconfig_enc = COALESCE($23, kubeconfig_enc) WHERE id = $1",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.region)
        .bind(&p.availability_zone)
        .bind(&p.cloud_provider)
        .bind(&p.domain)
        .bind(p.capacity.cpu_total_cores)
        .bind(p.capacity.memory_total_gb)
        .bind(p.capacity.storage_total_gb)
        .bind(p.capacity.cpu_reservation_percent)
        .bind(p.capacity.memory_reservation_percent)
        .bind(p.capacity.storage_reservation_percent)
        .bind(p.verify_ssl)
        .bind(p.enable_loadbalancer)
        .bind(p.is_active)
        .bind(p.is_maintenance)
        .bind(p.priority)
        .bind(Json(&p.tags))
        .bind(Json(&p.metadata))
        .bind(Json(&p.kubedb))
        .bind(Json(&p.connection))
        .bind(p.updated_at)
        .bind(sealed)
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_or(e, || format!("provider '{}' already exists", p.name)))?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("provider '{}'", p.id)));
        }
        insert_audits(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn delete_provider(&self, id: &str, audit: &[AuditEntry]) -> Result<bool> {
        let mut tx = self.begin().await?;
        if lock_provider(&mut tx, id).await?.is_none() {
            return Ok(false);
        }
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM databases WHERE provider_id = $1 AND status <> 'deleted'",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if live > 0 {
            return Err(StoreError::Conflict(format!(
                "provider still hosts {live} database(s)"
            )));
        }
        sqlx::query("DELETE FROM providers WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        insert_audits(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn provider_kubeconfig(&self, id: &str) -> Result<Option<String>> {
        let sealed: Option<String> =
            sqlx::query_scalar("SELECT kubeconfig_enc FROM providers WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.r)
                .await
                .map_err(db_err)?;
        sealed.map(|s| self.cipher.decrypt(&s)).transpose()
    }

    async fn set_provider_health(
        &self,
        id: &str,
        kubedb: &serde_json::Value,
        connection: &serde_json::Value,
        fence: Option<&Fence>,
    ) -> Result<bool> {
        let mut qb = Qb::new("UPDATE providers SET kubedb = ");
        qb.push_bind(Json(kubedb.clone()))
            .push(", connection = ")
            .push_bind(Json(connection.clone()))
            .push(" WHERE id = ")
            .push_bind(id.to_string());
        if let Some(f) = fence {
            qb.push(" AND ");
            push_fence(&mut qb, f, Utc::now());
        }
        let n = qb
            .build()
            .execute(&*self.writing_outside_databases())
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(n > 0)
    }

    // ---- databases

    async fn create_database(
        &self,
        db: &Database,
        op: &Operation,
        choose: Option<ProviderChooser<'_>>,
        audit: &[AuditEntry],
    ) -> Result<Database> {
        let mut tx = self.begin().await?;
        check_quotas(&mut tx, &db.domain, &db.project, db.reserved).await?;

        let mut stored = db.clone();
        if let Some(choose) = choose {
            // Providers dedicated to another tenant can never host this database: not candidates.
            let rs = sqlx::query(concat!(
                "SELECT ",
                provider_cols!(),
                " FROM providers WHERE is_active AND NOT is_maintenance AND (domain IS NULL OR domain = $1) \
                 ORDER BY priority DESC, name",
                for_update!()
            ))
            .bind(&db.domain)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
            let candidates = rows(&rs, provider_row)?;
            let placed = choose(&candidates)?;
            let p = candidates
                .iter()
                .find(|p| p.id == placed.provider_id)
                .ok_or_else(|| {
                    StoreError::Domain(DomainError::NoCapacity(format!(
                        "provider '{}' cannot take new databases",
                        placed.provider_id
                    )))
                })?;
            allocate(&mut tx, p, db.reserved).await?;
            stored.provider_id = Some(placed.provider_id);
            stored.version = placed.version.name;
        } else if let Some(pid) = &db.provider_id {
            // Placed by the caller: the provider's allocation must still count this database.
            let p = lock_provider(&mut tx, pid)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("provider '{pid}'")))?;
            if !p.is_active || p.is_maintenance {
                return Err(StoreError::Domain(DomainError::NoCapacity(format!(
                    "provider '{}' is not accepting new databases",
                    p.name
                ))));
            }
            allocate(&mut tx, &p, db.reserved).await?;
        }

        bind_database(sqlx::query(INSERT_DATABASE), &stored)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                unique_or(e, || {
                    format!(
                        "database '{}' already exists in project '{}'",
                        stored.name, stored.project
                    )
                })
            })?;
        bind_operation(sqlx::query(INSERT_OPERATION), op)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_or(e, || format!("operation '{}' already exists", op.id)))?;
        let mut audit = audit.to_vec();
        for e in &mut audit {
            if let serde_json::Value::Object(d) = &mut e.details {
                d.insert("provider_id".into(), stored.provider_id.clone().into());
                d.insert("version".into(), stored.version.clone().into());
            }
        }
        insert_audits(&mut tx, &audit).await?;
        self.commit(tx).await?;
        Ok(stored)
    }

    async fn get_database(&self, id: &str) -> Result<Option<Database>> {
        let r = sqlx::query(concat!(
            "SELECT ",
            database_cols!(),
            " FROM databases WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.r)
        .await
        .map_err(db_err)?;
        r.as_ref().map(database_row).transpose()
    }

    async fn list_databases(
        &self,
        domain: &str,
        project: &str,
        filter: &DatabaseFilter,
        page: PageRequest,
    ) -> Result<Page<Database>> {
        if !JSON_PAGES {
            return self
                .paged(
                    concat!("SELECT ", database_cols!()),
                    "databases",
                    |qb| push_database_filter(qb, domain, project, filter),
                    " ORDER BY id DESC",
                    page,
                    database_row,
                )
                .await;
        }
        let filter = |qb: &mut Qb| push_database_filter(qb, domain, project, filter);
        let (total, window) = self.page_window("databases", &filter, page).await?;
        let Some((limit, offset)) = window else {
            return Ok(page_of(Vec::new(), total, page));
        };
        let mut q = Qb::new(sqlite_databases_json("id DESC"));
        filter(&mut q);
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(limit)
            .push(" OFFSET ")
            .push_bind(offset)
            .push(")");
        let text: String = q
            .build_query_scalar()
            .fetch_one(&self.r)
            .await
            .map_err(db_err)?;
        Ok(page_of(databases_from_json(&text)?, total, page))
    }

    async fn update_database(&self, d: &Database) -> Result<()> {
        // Name, placement, tenancy and reservation are not "mutable fields": they change only
        // through create/resize/release, which keep quotas and allocations consistent.
        let n = sqlx::query(
            "UPDATE databases SET version = $2, size = $3, storage_gb = $4, replicas = $5, ready_replicas = $6, \
             status = $7, health_status = $8, kubedb_phase = $9, backup_enabled = $10, backup_schedule = $11, \
             backup_retention_days = $12, high_availability = $13, monitoring_enabled = $14, \
             deletion_protection = $15, endpoint = $16, port = $17, service_type = $18, loadbalancer_ip = $19, \
             labels = $20, annotations = $21, namespace = $22, kubedb_resource_name = $23, current_state = $24, \
             upgrade_policy = $25, conditions = $26, updated_at = $27 WHERE id = $1",
        )
        .bind(&d.id)
        .bind(&d.version)
        .bind(d.size.as_str())
        .bind(d.storage_gb)
        .bind(d.replicas)
        .bind(d.ready_replicas)
        .bind(d.status.as_str())
        .bind(&d.health_status)
        .bind(&d.kubedb_phase)
        .bind(d.backup_enabled)
        .bind(&d.backup_schedule)
        .bind(d.backup_retention_days)
        .bind(d.high_availability)
        .bind(d.monitoring_enabled)
        .bind(d.deletion_protection)
        .bind(&d.endpoint)
        .bind(d.port)
        .bind(&d.service_type)
        .bind(&d.loadbalancer_ip)
        .bind(Json(&d.labels))
        .bind(Json(&d.annotations))
        .bind(&d.namespace)
        .bind(&d.kubedb_resource_name)
        .bind(Json(&d.current))
        .bind(d.upgrade_policy.as_ref().map(Json))
        .bind(Json(&d.conditions))
        .bind(d.updated_at)
        .execute(&*self.writing())
        .await
        .map_err(|e| unique_or(e, || format!("database '{}' already exists in project '{}'", d.name, d.project)))?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("database '{}'", d.id)));
        }
        Ok(())
    }

    async fn patch_database(
        &self,
        id: &str,
        p: &DatabasePatch,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = patch_statement(id, p, now)
            .build()
            .execute(&*self.writing())
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn apply_change(
        &self,
        id: &str,
        change: &DatabaseChange,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let head = sqlx::query("SELECT domain, project FROM databases WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| StoreError::NotFound(format!("database '{id}'")))?;
        let (domain, project): (String, String) = (get(&head, "domain")?, get(&head, "project")?);
        // Same lock order as create and resize: tenant, project, then the database and provider.
        if matches!(change.reserve, Some(Reservation::Cover { .. })) {
            lock_quotas(&mut tx, &domain, &project).await?;
        }
        let moved = patch_statement(id, &change.patch, now)
            .build()
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if moved == 0 {
            // The status moved on meanwhile: nothing of the change applies.
            return Ok(false);
        }
        if let Some(mut qb) = settings_statement(id, &change.settings) {
            qb.build().execute(&mut *tx).await.map_err(db_err)?;
        }
        if let Some(r) = change.reserve {
            let row = sqlx::query(concat!(
                "SELECT provider_id, engine, high_availability, size, storage_gb, replicas, current_state, \
                 res_cpu, res_memory, res_storage, res_databases, res_backups FROM databases WHERE id = $1",
                for_update!()
            ))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            let held = reserved_row(&row)?;
            let engine = parse(&get::<String>(&row, "engine")?, Engine::parse, "engine")?;
            let ha: bool = get(&row, "high_availability")?;
            let desired = Shape {
                size: parse(&get::<String>(&row, "size")?, Size::parse, "size")?,
                storage_gb: get(&row, "storage_gb")?,
                replicas: get(&row, "replicas")?,
            };
            let current: CurrentState = json(&row, "current_state")?;
            let now_running = Shape {
                size: current.size.unwrap_or(desired.size),
                storage_gb: current.storage_gb.unwrap_or(desired.storage_gb),
                replicas: current.replicas.unwrap_or(desired.replicas),
            };
            let (next, checked) = match r {
                Reservation::Cover { storage_only } => (
                    covering(held, desired.usage(engine, ha, storage_only)),
                    true,
                ),
                Reservation::Settle { storage_only } => (
                    covering(
                        desired.usage(engine, ha, storage_only),
                        now_running.usage(engine, ha, storage_only),
                    ),
                    false,
                ),
            };
            let next = Usage {
                databases: held.databases,
                backups: held.backups,
                ..next
            };
            let delta = next.minus(held);
            if checked {
                check_quotas(&mut tx, &domain, &project, growth_of(delta)).await?;
            }
            let provider_id: Option<String> = get(&row, "provider_id")?;
            if let Some(pid) = provider_id {
                if let Some(p) = lock_provider(&mut tx, &pid).await? {
                    if checked {
                        allocate(&mut tx, &p, delta).await?;
                    } else {
                        set_allocation(&mut tx, &p, delta).await?;
                    }
                }
            }
            set_reserved(&mut tx, id, non_negative(next)).await?;
        }
        for op in &change.enqueue {
            bind_operation(sqlx::query(INSERT_OPERATION), op)
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_or(e, || format!("operation '{}' already exists", op.id)))?;
        }
        insert_audits(&mut tx, &change.audit).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn status_events(&self, database_id: &str, limit: i64) -> Result<Vec<StatusEvent>> {
        let rs = sqlx::query(
            "SELECT at, from_status, to_status FROM database_events WHERE database_id = $1 \
             ORDER BY seq DESC LIMIT $2",
        )
        .bind(database_id)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.r)
        .await
        .map_err(db_err)?;
        let mut out = rs
            .iter()
            .map(|r| {
                let from: Option<String> = get(r, "from_status")?;
                Ok(StatusEvent {
                    at: get(r, "at")?,
                    from: from
                        .map(|f| parse(&f, DatabaseStatus::parse, "status"))
                        .transpose()?,
                    to: parse(
                        &get::<String>(r, "to_status")?,
                        DatabaseStatus::parse,
                        "status",
                    )?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    async fn list_policy_databases(&self) -> Result<Vec<Database>> {
        let rs = sqlx::query(concat!(
            "SELECT ",
            database_cols!(),
            " FROM databases WHERE upgrade_policy IS NOT NULL AND status NOT IN ('deleted', 'deleting') \
             ORDER BY id"
        ))
        .fetch_all(&self.r)
        .await
        .map_err(db_err)?;
        rows(&rs, database_row)
    }

    async fn list_provider_databases(&self, provider_id: &str) -> Result<Vec<Database>> {
        if JSON_PAGES {
            let text: String = Qb::new(sqlite_databases_json("id"))
                .push(" WHERE provider_id = ")
                .push_bind(provider_id.to_string())
                .push(" AND status <> 'deleted' ORDER BY id)")
                .build_query_scalar()
                .fetch_one(&self.r)
                .await
                .map_err(db_err)?;
            return databases_from_json(&text);
        }
        let rs = sqlx::query(concat!(
            "SELECT ",
            database_cols!(),
            " FROM databases WHERE provider_id = $1 AND status <> 'deleted' ORDER BY id"
        ))
        .bind(provider_id)
        .fetch_all(&self.r)
        .await
        .map_err(db_err)?;
        rows(&rs, database_row)
    }

    async fn resize_reservation(&self, db_id: &str, new_reserved: Usage) -> Result<()> {
        let mut tx = self.begin().await?;
        let head = sqlx::query("SELECT domain, project FROM databases WHERE id = $1")
            .bind(db_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| StoreError::NotFound(format!("database '{db_id}'")))?;
        let (domain, project): (String, String) = (get(&head, "domain")?, get(&head, "project")?);
        // Same lock order as create (tenant, project), then the database and its provider.
        let (tenant_q, project_q) = lock_quotas(&mut tx, &domain, &project).await?;
        let r = sqlx::query(concat!(
            "SELECT status, provider_id, res_cpu, res_memory, res_storage, res_databases, res_backups \
             FROM databases WHERE id = $1",
            for_update!()
        ))
        .bind(db_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let status: String = get(&r, "status")?;
        if status == DatabaseStatus::Deleted.as_str() {
            return Err(StoreError::Domain(DomainError::InvalidState(
                "the database is deleted".into(),
            )));
        }
        let delta = new_reserved.minus(reserved_row(&r)?);
        let used_p = project_usage_in(&mut tx, &domain, &project).await?;
        quota::check(&project_q, used_p, delta, "project")?;
        let used_d = domain_usage_in(&mut tx, &domain).await?;
        quota::check(&tenant_q, used_d, delta, "domain")?;
        let provider_id: Option<String> = get(&r, "provider_id")?;
        if let Some(pid) = provider_id {
            if let Some(p) = lock_provider(&mut tx, &pid).await? {
                allocate(&mut tx, &p, delta).await?;
            }
        }
        set_reserved(&mut tx, db_id, new_reserved).await?;
        self.commit(tx).await
    }

    async fn release_reservation(&self, db_id: &str, fence: Option<&Fence>) -> Result<()> {
        let mut tx = self.begin().await?;
        if !fence_holds(&mut tx, fence).await? {
            return Ok(());
        }
        let r = sqlx::query(concat!(
            "SELECT provider_id, res_cpu, res_memory, res_storage, res_databases, res_backups FROM databases \
             WHERE id = $1",
            for_update!()
        ))
        .bind(db_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("database '{db_id}'")))?;
        let held = reserved_row(&r)?;
        if held == Usage::default() {
            // Released before: nothing to give back twice.
            return Ok(());
        }
        let provider_id: Option<String> = get(&r, "provider_id")?;
        if let Some(pid) = provider_id {
            if let Some(p) = lock_provider(&mut tx, &pid).await? {
                allocate(&mut tx, &p, Usage::default().minus(held)).await?;
            }
        }
        set_reserved(&mut tx, db_id, Usage::default()).await?;
        self.commit(tx).await
    }

    // ---- the operation queue

    async fn enqueue_operation(&self, op: &Operation) -> Result<()> {
        bind_operation(sqlx::query(INSERT_OPERATION), op)
            .execute(&*self.writing_outside_databases())
            .await
            .map_err(|e| unique_or(e, || format!("operation '{}' already exists", op.id)))?;
        // The database's parked operation (if any) gets to see that another one waits behind it
        // (a delete of a database still provisioning must not wait for it to turn Ready).
        sqlx::query(
            "UPDATE operations SET run_after = $2 WHERE database_id = $1 AND status = 'in_progress' \
             AND lease_owner IS NULL AND run_after > $2",
        )
        .bind(&op.database_id)
        .bind(op.created_at)
        .execute(&*self.writing_outside_databases())
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn get_operation(&self, id: &str) -> Result<Option<Operation>> {
        let r = sqlx::query(concat!(
            "SELECT ",
            operation_cols!(),
            " FROM operations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.r)
        .await
        .map_err(db_err)?;
        r.as_ref().map(operation_row).transpose()
    }

    async fn list_operations(
        &self,
        filter: &OperationFilter,
        page: PageRequest,
    ) -> Result<Page<Operation>> {
        self.paged(
            concat!("SELECT ", operation_cols!()),
            "operations",
            |qb| push_operation_filter(qb, filter),
            " ORDER BY id DESC",
            page,
            operation_row,
        )
        .await
    }

    async fn claim_operation(
        &self,
        worker: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Operation>> {
        let until = lease_end(now, lease)?;
        let mut tx = self.begin().await?;
        // Each backend lists its claim queries (see `CLAIM_QUERIES`): the first that finds an
        // operation wins. All share one order: expired leases first, then the domain with the
        // fewest operations held by live leases (fairness), then the operation due first.
        let mut id: Option<String> = None;
        for query in CLAIM_QUERIES {
            id = sqlx::query_scalar(query)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
            if id.is_some() {
                break;
            }
        }
        let Some(id) = id else {
            tx.rollback().await.map_err(db_err)?;
            return Ok(None);
        };
        // A start never precedes the finish of the operation before it in its database (which
        // the query saw finished): `now` was read before this claim waited for its connection,
        // and that operation may have finished in between. A resumed operation keeps its start,
        // so only a first claim looks.
        let before: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT MAX(p.completed_at) FROM operations p, operations o \
             WHERE o.id = $1 AND o.started_at IS NULL AND p.database_id = o.database_id \
               AND p.id < o.id",
        )
        .bind(&id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let started = before.map_or(now, |b| b.max(now));
        let r = sqlx::query(concat!(
            "UPDATE operations SET status = 'in_progress', lease_owner = $2, lease_expires_at = $3, \
             started_at = COALESCE(started_at, $4), waiting_for = NULL, woken = FALSE WHERE id = $1 RETURNING ",
            operation_cols!()
        ))
        .bind(&id)
        .bind(worker)
        .bind(until)
        .bind(started)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let op = operation_row(&r)?;
        self.commit_outside_databases(tx).await?;
        Ok(Some(op))
    }

    async fn renew_lease(
        &self,
        op_id: &str,
        worker: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let until = lease_end(now, lease)?;
        let n = sqlx::query(
            "UPDATE operations SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'in_progress'",
        )
        .bind(op_id)
        .bind(worker)
        .bind(until)
        .execute(&*self.writing_outside_databases())
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n > 0)
    }

    async fn save_progress(&self, op: &Operation, worker: &str) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE operations SET progress = $3, message = $4, ops_request_name = $5, ops_request_phase = $6, \
             estimated_completion_at = $7 WHERE id = $1 AND lease_owner = $2 AND status = 'in_progress'",
        )
        .bind(&op.id)
        .bind(worker)
        .bind(op.progress)
        .bind(&op.message)
        .bind(&op.ops_request_name)
        .bind(&op.ops_request_phase)
        .bind(op.estimated_completion_at)
        .execute(&*self.writing_outside_databases())
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n > 0)
    }

    async fn complete_operation(
        &self,
        op_id: &str,
        worker: &str,
        outcome: &OperationOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        if !outcome.status.is_terminal() {
            return Err(StoreError::Domain(DomainError::InvalidState(format!(
                "an operation cannot end as '{}'",
                outcome.status
            ))));
        }
        let progress_done = outcome.status == OperationStatus::Completed;
        let n = sqlx::query(
            "UPDATE operations SET status = $3, message = COALESCE($4, message), error_message = $5, \
             completed_at = $6, lease_owner = NULL, lease_expires_at = NULL, waiting_for = NULL, \
             progress = CASE WHEN $7 THEN 100 ELSE progress END \
             WHERE id = $1 AND lease_owner = $2 AND status = 'in_progress'",
        )
        .bind(op_id)
        .bind(worker)
        .bind(outcome.status.as_str())
        .bind(&outcome.message)
        .bind(&outcome.error_message)
        .bind(now)
        .bind(progress_done)
        .execute(&*self.writing_outside_databases())
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n > 0)
    }

    async fn retry_operation(
        &self,
        op_id: &str,
        worker: &str,
        run_after: DateTime<Utc>,
        error: &str,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE operations SET status = 'queued', retry_count = retry_count + 1, run_after = $3, \
             error_message = $4, lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND lease_owner = $2 AND status = 'in_progress'",
        )
        .bind(op_id)
        .bind(worker)
        .bind(run_after)
        .bind(error)
        .execute(&*self.writing_outside_databases())
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n > 0)
    }

    async fn park_operation(
        &self,
        op_id: &str,
        worker: &str,
        wake_at: DateTime<Utc>,
        waiting_for: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE operations SET lease_owner = NULL, lease_expires_at = NULL, waiting_for = $3, \
             run_after = CASE WHEN woken THEN $5 ELSE $4 END, woken = FALSE \
             WHERE id = $1 AND lease_owner = $2 AND status = 'in_progress'",
        )
        .bind(op_id)
        .bind(worker)
        .bind(waiting_for)
        .bind(wake_at)
        .bind(now)
        .execute(&*self.writing_outside_databases())
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n > 0)
    }

    async fn wake_parked(&self, database_id: &str, now: DateTime<Utc>) -> Result<bool> {
        // One statement: parked → due now; held → remember the wake-up for its park.
        let due: Vec<bool> = sqlx::query_scalar(
            "UPDATE operations SET \
               run_after = CASE WHEN lease_owner IS NULL AND run_after > $2 THEN $2 ELSE run_after END, \
               woken = (lease_owner IS NOT NULL) \
             WHERE database_id = $1 AND status = 'in_progress' \
             RETURNING (lease_owner IS NULL)",
        )
        .bind(database_id)
        .bind(now)
        .fetch_all(&*self.writing_outside_databases())
        .await
        .map_err(db_err)?;
        Ok(due.into_iter().any(|parked| parked))
    }

    async fn parked_waiting_for(&self, op_id: &str) -> Result<Option<String>> {
        let w: Option<Option<String>> = sqlx::query_scalar(
            "SELECT waiting_for FROM operations WHERE id = $1 AND status = 'in_progress' AND lease_owner IS NULL",
        )
        .bind(op_id)
        .fetch_optional(&self.r)
        .await
        .map_err(db_err)?;
        Ok(w.flatten())
    }

    async fn cancel_operation(&self, op_id: &str, now: DateTime<Utc>) -> Result<bool> {
        let n =
            sqlx::query("UPDATE operations SET status = 'cancelled', completed_at = $2 WHERE id = $1 AND status = 'queued'")
                .bind(op_id)
                .bind(now)
                .execute(&*self.writing_outside_databases())
                .await
                .map_err(db_err)?
                .rows_affected();
        Ok(n > 0)
    }

    async fn notify_queue(&self) -> Result<()> {
        super::notify_queue(&self.w).await
    }

    async fn replica_notices(&self) -> Result<Option<futures::stream::BoxStream<'static, Notice>>> {
        Ok(super::replica_notices(&self.notices))
    }

    async fn queue_stats(&self, now: DateTime<Utc>) -> Result<QueueStats> {
        let rs = sqlx::query(
            "SELECT status, op_type, COUNT(*) AS n FROM operations WHERE status IN ('queued', 'in_progress') \
             GROUP BY status, op_type",
        )
        .fetch_all(&self.r)
        .await
        .map_err(db_err)?;
        let mut stats = QueueStats::default();
        let mut by_type: Vec<(OperationType, i64)> = Vec::new();
        for r in &rs {
            let status: String = get(r, "status")?;
            let t: String = get(r, "op_type")?;
            let n: i64 = get(r, "n")?;
            if status == "queued" {
                stats.queued += n;
            } else {
                stats.processing += n;
            }
            let t = parse(&t, OperationType::parse, "operation type")?;
            match by_type.iter_mut().find(|(k, _)| *k == t) {
                Some((_, c)) => *c += n,
                None => by_type.push((t, n)),
            }
        }
        by_type.sort_by_key(|(t, _)| OperationType::ALL.iter().position(|x| x == t));
        stats.by_type = by_type;
        let oldest: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT MIN(created_at) FROM operations WHERE status = 'queued'")
                .fetch_one(&self.r)
                .await
                .map_err(db_err)?;
        stats.oldest_queued_age_seconds =
            oldest.map(|t| ((now - t).num_milliseconds() as f64 / 1000.0).max(0.0));
        Ok(stats)
    }

    // ---- audit

    async fn insert_audit(&self, e: &AuditEntry) -> Result<()> {
        let r = bind_audit(sqlx::query(INSERT_AUDIT), e)
            .execute(&*self.writing_outside_databases())
            .await;
        r.map_err(|err| unique_or(err, || format!("audit entry '{}' already exists", e.id)))?;
        Ok(())
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>> {
        let total = self.audit_total(filter).await?;
        let (limit, offset) = limits(page);
        if offset >= total {
            return Ok(page_of(Vec::new(), total, page));
        }
        let items = if JSON_PAGES {
            let text = self
                .audit_entries_sqlite_json(filter, limit, offset)
                .await?;
            serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("audit page: {e}")))?
        } else {
            self.audit_entries_rows(filter, limit, offset).await?
        };
        Ok(page_of(items, total, page))
    }

    async fn list_audit_json(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<AuditPageJson> {
        let total = self.audit_total(filter).await?;
        let (limit, offset) = limits(page);
        let entries = if offset >= total {
            "[]".to_string()
        } else if JSON_PAGES {
            self.audit_entries_sqlite_json(filter, limit, offset)
                .await?
        } else {
            let items = self.audit_entries_rows(filter, limit, offset).await?;
            serde_json::to_string(&items)
                .map_err(|e| StoreError::Corrupt(format!("audit page: {e}")))?
        };
        Ok(AuditPageJson {
            entries,
            total,
            page: page.page,
            page_size: page.page_size,
        })
    }

    async fn purge_audit_before(
        &self,
        before: DateTime<Utc>,
        fence: Option<&Fence>,
    ) -> Result<u64> {
        let mut qb = Qb::new("DELETE FROM audit_logs WHERE timestamp < ");
        qb.push_bind(before);
        if let Some(f) = fence {
            qb.push(" AND ");
            push_fence(&mut qb, f, Utc::now());
        }
        let r = qb.build().execute(&*self.writing_outside_databases()).await;
        Ok(r.map_err(db_err)?.rows_affected())
    }

    // ---- leases

    async fn fence_holds(&self, fence: &Fence) -> Result<bool> {
        fence_holds_on(&self.r, fence).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Lease> {
        let until = lease_end(now, ttl)?;
        // Every SET expression sees the row as it was: the term moves only with the holder.
        sqlx::query(
            "INSERT INTO leases (name, holder, term, expires_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (name) DO UPDATE SET \
             term = CASE WHEN leases.holder = excluded.holder THEN leases.term ELSE leases.term + 1 END, \
             holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= $4",
        )
        .bind(name)
        .bind(holder)
        .bind(until)
        .bind(now)
        .execute(&*self.writing_outside_databases())
        .await
        .map_err(db_err)?;
        let r = sqlx::query("SELECT holder, term, expires_at FROM leases WHERE name = $1")
            .bind(name)
            .fetch_one(&*self.writing_outside_databases())
            .await
            .map_err(db_err)?;
        Ok(Lease {
            holder: get(&r, "holder")?,
            term: get(&r, "term")?,
            expires_at: get(&r, "expires_at")?,
        })
    }

    async fn release_lease(&self, name: &str, holder: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE leases SET expires_at = $3 WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .bind(now)
            .execute(&*self.writing_outside_databases())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    // ---- orphans

    async fn sync_orphans(
        &self,
        provider_id: &str,
        found: &[domain::drift::Orphan],
        checked_at: DateTime<Utc>,
        fence: Option<&Fence>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        if !fence_holds(&mut tx, fence).await? {
            return Ok(());
        }
        let known: Vec<(String, String, String)> =
            sqlx::query_as("SELECT kind, namespace, name FROM orphans WHERE provider_id = $1")
                .bind(provider_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        for (kind, namespace, name) in known {
            let still = found
                .iter()
                .any(|o| o.kind == kind && o.namespace == namespace && o.name == name);
            if !still {
                sqlx::query(
                    "DELETE FROM orphans WHERE provider_id = $1 AND kind = $2 AND namespace = $3 AND name = $4",
                )
                .bind(provider_id)
                .bind(&kind)
                .bind(&namespace)
                .bind(&name)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        }
        for o in found {
            sqlx::query(
                "INSERT INTO orphans (provider_id, kind, namespace, name, database_id, domain, project, reason, first_seen_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (provider_id, kind, namespace, name) DO UPDATE SET \
                 database_id = excluded.database_id, domain = excluded.domain, \
                 project = excluded.project, reason = excluded.reason",
            )
            .bind(provider_id)
            .bind(&o.kind)
            .bind(&o.namespace)
            .bind(&o.name)
            .bind(&o.database_id)
            .bind(&o.domain)
            .bind(&o.project)
            .bind(&o.reason)
            .bind(o.first_seen_at)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        sqlx::query(
            "INSERT INTO orphan_checks (provider_id, checked_at) VALUES ($1, $2) \
             ON CONFLICT (provider_id) DO UPDATE SET checked_at = excluded.checked_at",
        )
        .bind(provider_id)
        .bind(checked_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        self.commit_outside_databases(tx).await
    }

    async fn list_orphans(
        &self,
    ) -> Result<(Vec<domain::drift::Orphan>, Vec<(String, DateTime<Utc>)>)> {
        let rows = sqlx::query(
            "SELECT provider_id, kind, namespace, name, database_id, domain, project, reason, first_seen_at \
             FROM orphans ORDER BY provider_id, kind, namespace, name",
        )
        .fetch_all(&self.r)
        .await
        .map_err(db_err)?;
        let orphans = rows
            .iter()
            .map(|r| {
                Ok(domain::drift::Orphan {
                    provider_id: get(r, "provider_id")?,
                    kind: get(r, "kind")?,
                    namespace: get(r, "namespace")?,
                    name: get(r, "name")?,
                    database_id: get(r, "database_id")?,
                    domain: get(r, "domain")?,
                    project: get(r, "project")?,
                    reason: get(r, "reason")?,
                    first_seen_at: get(r, "first_seen_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let checks = sqlx::query("SELECT provider_id, checked_at FROM orphan_checks")
            .fetch_all(&self.r)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| Ok((get(r, "provider_id")?, get(r, "checked_at")?)))
            .collect::<Result<Vec<_>>>()?;
        Ok((orphans, checks))
    }

    // ---- backups

    async fn put_backup_storage(&self, st: &BackupStorage, secret_access_key: &str) -> Result<()> {
        let sealed = self.cipher.encrypt(secret_access_key);
        sqlx::query(
            "INSERT INTO backup_storages (scope, endpoint, bucket, prefix, region, access_key_id, \
             secret_sealed, insecure_tls, created_at, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (scope) DO UPDATE SET endpoint = excluded.endpoint, bucket = excluded.bucket, \
             prefix = excluded.prefix, region = excluded.region, access_key_id = excluded.access_key_id, \
             secret_sealed = excluded.secret_sealed, insecure_tls = excluded.insecure_tls, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(st.scope.key())
        .bind(&st.endpoint)
        .bind(&st.bucket)
        .bind(&st.prefix)
        .bind(&st.region)
        .bind(&st.access_key_id)
        .bind(&sealed)
        .bind(st.insecure_tls)
        .bind(st.created_at)
        .bind(st.updated_at)
        .bind(&st.updated_by)
        .execute(&*self.writing_outside_databases())
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn get_backup_storage(&self, scope: &BackupScope) -> Result<Option<BackupStorage>> {
        let r = sqlx::query(
            "SELECT endpoint, bucket, prefix, region, access_key_id, insecure_tls, created_at, \
             updated_at, updated_by FROM backup_storages WHERE scope = $1",
        )
        .bind(scope.key())
        .fetch_optional(&self.r)
        .await
        .map_err(db_err)?;
        r.as_ref().map(|r| backup_storage_row(scope, r)).transpose()
    }

    async fn backup_storage_secret(&self, scope: &BackupScope) -> Result<Option<String>> {
        let sealed: Option<String> =
            sqlx::query_scalar("SELECT secret_sealed FROM backup_storages WHERE scope = $1")
                .bind(scope.key())
                .fetch_optional(&self.r)
                .await
                .map_err(db_err)?;
        sealed.map(|s| self.cipher.decrypt(&s)).transpose()
    }

    async fn upsert_backup(&self, backup: &Backup, fence: Option<&Fence>) -> Result<bool> {
        let mut tx = self.begin().await?;
        if !fence_holds(&mut tx, fence).await? {
            return Ok(false);
        }
        upsert_backup_in(&mut tx, backup).await?;
        self.commit_outside_databases(tx).await?;
        Ok(true)
    }

    async fn sync_backups(
        &self,
        provider_id: &str,
        found: &[Backup],
        fence: Option<&Fence>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        if !fence_holds(&mut tx, fence).await? {
            return Ok(false);
        }
        let known: Vec<String> =
            sqlx::query_scalar("SELECT id FROM backups WHERE provider_id = $1")
                .bind(provider_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        let keep: std::collections::HashSet<&str> = found.iter().map(|b| b.id.as_str()).collect();
        for id in known.iter().filter(|id| !keep.contains(id.as_str())) {
            sqlx::query("DELETE FROM backups WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        for b in found {
            upsert_backup_in(&mut tx, b).await?;
        }
        self.commit_outside_databases(tx).await?;
        Ok(true)
    }

    async fn remove_backup(&self, id: &str, fence: Option<&Fence>) -> Result<bool> {
        let mut tx = self.begin().await?;
        if !fence_holds(&mut tx, fence).await? {
            return Ok(false);
        }
        sqlx::query("DELETE FROM backups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        self.commit_outside_databases(tx).await?;
        Ok(true)
    }

    async fn get_backup(&self, database_id: &str, id: &str) -> Result<Option<Backup>> {
        let r = sqlx::query(concat!(
            "SELECT ",
            backup_cols!(),
            " FROM backups WHERE database_id = $1 AND id = $2"
        ))
        .bind(database_id)
        .bind(id)
        .fetch_optional(&self.r)
        .await
        .map_err(db_err)?;
        r.as_ref().map(backup_row).transpose()
    }

    async fn latest_backup(&self, database_id: &str) -> Result<Option<Backup>> {
        let r = sqlx::query(concat!(
            "SELECT ",
            backup_cols!(),
            " FROM backups WHERE database_id = $1 AND status = 'succeeded' \
              ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(database_id)
        .fetch_optional(&self.r)
        .await
        .map_err(db_err)?;
        r.as_ref().map(backup_row).transpose()
    }

    async fn list_backups(&self, database_id: &str, page: PageRequest) -> Result<Page<Backup>> {
        let database_id = database_id.to_string();
        self.paged(
            concat!("SELECT ", backup_cols!()),
            "backups",
            move |qb| {
                qb.push(" WHERE database_id = ")
                    .push_bind(database_id.clone());
            },
            " ORDER BY created_at DESC, id DESC",
            page,
            backup_row,
        )
        .await
    }

    async fn count_backups(&self, domain: &str, project: &str) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM backups WHERE domain = $1 AND project = $2 AND status = 'succeeded'",
        )
        .bind(domain)
        .bind(project)
        .fetch_one(&self.r)
        .await
        .map_err(db_err)
    }

    // ---- accounts: suspensions, revocation, tenant deletion, invitations

    async fn suspensions(&self, domains: &[String]) -> Result<Suspensions> {
        if domains.is_empty() {
            return Ok(Suspensions::default());
        }
        let mut q = Qb::new("SELECT name FROM tenants");
        let mut w = Where::new();
        push_names(&mut q, &mut w, "name", domains);
        w.and(&mut q).push("NOT is_active");
        let suspended_domains: Vec<String> = q
            .build_query_scalar()
            .fetch_all(&self.r)
            .await
            .map_err(db_err)?;
        let mut q = Qb::new("SELECT domain, name FROM projects");
        let mut w = Where::new();
        push_names(&mut q, &mut w, "domain", domains);
        w.and(&mut q).push("NOT is_active");
        let rs = q.build().fetch_all(&self.r).await.map_err(db_err)?;
        let projects = rs
            .iter()
            .map(|r| Ok((get(r, "domain")?, get(r, "name")?)))
            .collect::<Result<Vec<(String, String)>>>()?;
        Ok(Suspensions {
            domains: suspended_domains,
            projects,
        })
    }

    async fn revoke_user_credentials(
        &self,
        user_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let prefixes: Vec<String> = sqlx::query_scalar(
            "SELECT prefix FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        self.commit_outside_databases(tx).await?;
        Ok(prefixes)
    }

    async fn delete_tenant(&self, name: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        // Lock the tenant so no database or dedication lands while we decide.
        let exists = sqlx::query(concat!(
            "SELECT name FROM tenants WHERE name = $1",
            for_update!()
        ))
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if exists.is_none() {
            return Ok(false);
        }
        let dedicated: Vec<String> =
            sqlx::query_scalar("SELECT name FROM providers WHERE domain = $1 ORDER BY name")
                .bind(name)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        if !dedicated.is_empty() {
            return Err(StoreError::Conflict(format!(
                "tenant '{name}' has dedicated provider(s) {}: re-dedicate or share them first",
                dedicated.join(", ")
            )));
        }
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM databases WHERE domain = $1 AND status <> 'deleted'",
        )
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if live > 0 {
            return Err(StoreError::Conflict(format!(
                "tenant '{name}' still has {live} database(s); delete them first"
            )));
        }
        // Projects, bindings and invitations go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM tenants WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("INSERT INTO retired_tenant_names (name, retired_at) VALUES ($1, $2)")
            .bind(name)
            .bind(Utc::now())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn create_invitation(&self, inv: &Invitation) -> Result<()> {
        let domain = inv
            .binding
            .domain
            .clone()
            .ok_or_else(|| StoreError::Corrupt("an invitation needs a domain".into()))?;
        let mut tx = self.begin().await?;
        // A lapsed invitation no longer blocks a new one to the same person and scope.
        sqlx::query(
            "DELETE FROM invitations WHERE email = $1 AND domain = $2 \
             AND ((project IS NULL AND $3 IS NULL) OR project = $3) AND status = 'pending' AND expires_at <= $4",
        )
        .bind(&inv.email)
        .bind(&domain)
        .bind(&inv.binding.project)
        .bind(inv.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(concat!(
            "INSERT INTO invitations (",
            invitation_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&inv.id)
        .bind(&inv.email)
        .bind(inv.binding.role.as_str())
        .bind(&domain)
        .bind(&inv.binding.project)
        .bind(&inv.code_hash)
        .bind(&inv.invited_by)
        .bind(&inv.invited_by_email)
        .bind(inv.status.as_str())
        .bind(inv.created_at)
        .bind(inv.expires_at)
        .bind(inv.decided_at)
        .bind(&inv.accepted_by)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_fk_violation(&e) {
                StoreError::NotFound(scope_text(&inv.binding))
            } else {
                unique_or(e, || {
                    format!(
                        "'{}' already has an open invitation to {}",
                        inv.email,
                        scope_text(&inv.binding)
                    )
                })
            }
        })?;
        self.commit_outside_databases(tx).await
    }

    async fn get_invitation(&self, id: &str) -> Result<Option<Invitation>> {
        let r = sqlx::query(concat!(
            "SELECT ",
            invitation_cols!(),
            " FROM invitations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.r)
        .await
        .map_err(db_err)?;
        r.as_ref().map(invitation_row).transpose()
    }

    async fn open_invitations_for(
        &self,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Invitation>> {
        let rs = sqlx::query(concat!(
            "SELECT ",
            invitation_cols!(),
            " FROM invitations WHERE email = $1 AND status = 'pending' AND expires_at > $2 ORDER BY id DESC"
        ))
        .bind(email.to_lowercase())
        .bind(now)
        .fetch_all(&self.r)
        .await
        .map_err(db_err)?;
        rows(&rs, invitation_row)
    }

    async fn list_invitations(
        &self,
        domain: &str,
        project: Option<&str>,
    ) -> Result<Vec<Invitation>> {
        let rs = sqlx::query(concat!(
            "SELECT ",
            invitation_cols!(),
            " FROM invitations WHERE domain = $1 AND ($2 IS NULL OR project = $2) ORDER BY id DESC"
        ))
        .bind(domain)
        .bind(project)
        .fetch_all(&self.r)
        .await
        .map_err(db_err)?;
        rows(&rs, invitation_row)
    }

    async fn accept_invitation(
        &self,
        id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Invitation> {
        let mut tx = self.begin().await?;
        let r = sqlx::query(concat!(
            "SELECT ",
            invitation_cols!(),
            " FROM invitations WHERE id = $1",
            for_update!()
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("invitation '{id}'")))?;
        let mut inv = invitation_row(&r)?;
        let status = inv.status_at(now);
        if status != InvitationStatus::Pending {
            return Err(StoreError::Conflict(format!(
                "the invitation is {}",
                status.as_str()
            )));
        }
        insert_binding(&mut tx, user_id, &inv.binding).await?;
        sqlx::query(
            "UPDATE invitations SET status = 'accepted', decided_at = $2, accepted_by = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        self.commit(tx).await?;
        inv.status = InvitationStatus::Accepted;
        inv.decided_at = Some(now);
        inv.accepted_by = Some(user_id.to_string());
        Ok(inv)
    }

    async fn close_invitation(
        &self,
        id: &str,
        status: InvitationStatus,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        if !matches!(
            status,
            InvitationStatus::Declined | InvitationStatus::Revoked
        ) {
            return Err(StoreError::Corrupt(format!(
                "an invitation cannot be closed as {}",
                status.as_str()
            )));
        }
        let n = sqlx::query(
            "UPDATE invitations SET status = $2, decided_at = $3 WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(now)
        .execute(&*self.writing_outside_databases())
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n > 0)
    }
}

async fn insert_refresh(c: &mut Conn, t: &RefreshToken) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO refresh_tokens (",
        refresh_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&t.id)
    .bind(&t.user_id)
    .bind(&t.family_id)
    .bind(&t.token_hash)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.revoked_at)
    .bind(&t.replaced_by)
    .execute(c)
    .await
    .map_err(|e| {
        if is_fk_violation(&e) {
            StoreError::NotFound(format!("user '{}'", t.user_id))
        } else {
            unique_or(e, || "refresh token already exists".into())
        }
    })?;
    Ok(())
}

async fn set_reserved(c: &mut Conn, db_id: &str, u: Usage) -> Result<()> {
    sqlx::query(
        "UPDATE databases SET res_cpu = $2, res_memory = $3, res_storage = $4, res_databases = $5, res_backups = $6 \
         WHERE id = $1",
    )
    .bind(db_id)
    .bind(u.cpu_cores)
    .bind(u.memory_gb)
    .bind(u.storage_gb)
    .bind(u.databases)
    .bind(u.backups)
    .execute(c)
    .await
    .map_err(db_err)?;
    Ok(())
}
