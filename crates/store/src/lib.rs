//! Persistence for kubedb-dbaas on SQLite (embedded default) and PostgreSQL (scale-out), behind
//! one interface: [`Store`]. Also owns the durable operation queue and encryption of secrets at rest.

pub mod cipher;
mod repo;
pub mod testing;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::access::{Binding, Suspensions};
use domain::audit::{AuditEntry, AuditFilter};
use domain::backup::{Backup, BackupScope, BackupStorage};
use domain::engine::Engine;
use domain::invitation::{Invitation, InvitationStatus};
use domain::model::{
    ApiKey, Database, Operation, Page, PageRequest, Project, Provider, RefreshToken, Tenant, User,
    UserWithBindings,
};
use domain::placement::Placement;
use domain::quota::Usage;
use domain::status::{DatabaseStatus, OperationStatus, OperationType};
use domain::DomainError;

pub use cipher::Cipher;
pub use repo::{connect, run_migrations};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (duplicate e-mail, name, …); the text says which.
    #[error("{0}")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    /// A domain rule refused the write (quota exceeded, no capacity, …).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The store could not be reached or answered with an error.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Default)]
pub struct DatabaseFilter {
    pub engine: Option<Engine>,
    pub status: Option<DatabaseStatus>,
    /// Substring match on the name.
    pub name: Option<String>,
    pub include_deleted: bool,
}

/// Which domains/projects a caller may see in a cross-project listing; `None` = all.
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    pub scopes: Option<Vec<(String, Option<String>)>>,
}

#[derive(Debug, Clone, Default)]
pub struct OperationFilter {
    pub database_id: Option<String>,
    pub status: Option<OperationStatus>,
    pub op_type: Option<OperationType>,
    pub visibility: Visibility,
}

#[derive(Debug, Clone, Default)]
pub struct ProviderFilter {
    pub region: Option<String>,
    pub availability_zone: Option<String>,
    pub is_active: Option<bool>,
    pub domain: Option<String>,
}

/// One page of the audit log as JSON (see [`Store::list_audit_json`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPageJson {
    /// A JSON array of the entries, newest first, each encoded exactly as `AuditEntry` serializes.
    pub entries: String,
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueStats {
    pub queued: i64,
    pub processing: i64,
    pub by_type: Vec<(OperationType, i64)>,
    pub oldest_queued_age_seconds: Option<f64>,
}

/// Places a new database among the candidates (locked for the transaction): the provider and the
/// catalog entry it runs there. Placement rules live in the domain; the store only makes them atomic.
pub type ProviderChooser<'a> =
    &'a (dyn Fn(&[Provider]) -> Result<Placement, DomainError> + Send + Sync);

/// A partial update of a database record: only the fields that are `Some` are written, so a
/// watcher and a worker updating different fields never undo each other's writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatabasePatch {
    pub status: Option<DatabaseStatus>,
    /// Compare-and-set: write only while the status is one of these (empty = any status).
    pub expect_status: Vec<DatabaseStatus>,
    pub ready_replicas: Option<i64>,
    pub health_status: Option<Option<String>>,
    pub kubedb_phase: Option<Option<String>>,
    pub endpoint: Option<Option<String>>,
    pub port: Option<Option<i64>>,
    pub service_type: Option<Option<String>>,
    pub loadbalancer_ip: Option<Option<String>>,
    pub namespace: Option<Option<String>>,
    pub kubedb_resource_name: Option<Option<String>>,
    pub current: Option<domain::model::CurrentState>,
    pub conditions: Option<serde_json::Value>,
    /// Written by the leader's loops: applies only while their term lasts.
    pub fence: Option<Fence>,
}

impl DatabasePatch {
    /// Whether the patch writes nothing (its conditions – expected status, fence – aside).
    pub fn is_empty(&self) -> bool {
        let only_conditions = DatabasePatch {
            expect_status: self.expect_status.clone(),
            fence: self.fence.clone(),
            ..Default::default()
        };
        *self == only_conditions
    }
}

/// Desired settings a day-2 request changes (`None` = unchanged). Shape and version are what the
/// user asked for; `Database::current` follows what KubeDB reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatabaseSettings {
    pub version: Option<String>,
    pub size: Option<domain::engine::Size>,
    pub storage_gb: Option<i64>,
    pub replicas: Option<i64>,
    pub backup_enabled: Option<bool>,
    pub backup_schedule: Option<String>,
    pub backup_retention_days: Option<i64>,
    pub monitoring_enabled: Option<bool>,
    pub deletion_protection: Option<bool>,
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
    pub upgrade_policy: Option<Option<serde_json::Value>>,
}

impl DatabaseSettings {
    pub fn is_empty(&self) -> bool {
        *self == DatabaseSettings::default()
    }
}

/// How a change moves what a database holds against its quotas and its provider. Computed from
/// the record inside the transaction (after the change's settings), so concurrent changes of one
/// database never undo each other's reservations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Grow to cover the desired shape as well as what is held now (a change about to run: both
    /// shapes may exist while it rolls). The growth must fit the quotas and the provider.
    Cover { storage_only: bool },
    /// Hold what the desired and the current shape need, no more (a change finished, failed or
    /// was cancelled). Not checked: it records what runs.
    Settle { storage_only: bool },
}

/// Everything one change of a database writes, committed together: the status move (a
/// compare-and-set) and observed fields, the desired settings, the reservation, the operations it
/// queues and the audit entries that record it. Nothing is written when the status moved on.
#[derive(Debug, Clone, Default)]
pub struct DatabaseChange {
    pub patch: DatabasePatch,
    pub settings: DatabaseSettings,
    pub reserve: Option<Reservation>,
    pub enqueue: Vec<Operation>,
    pub audit: Vec<AuditEntry>,
}

/// An announcement from another replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// An operation was queued.
    Queued,
    /// A provider was added, removed or reconfigured.
    ProvidersChanged,
    /// A lease was handed over (its holder shut down): campaign now.
    LeaseReleased,
    /// The channel was lost and is back: anything may have been missed meanwhile.
    Reconnected,
}

/// A platform-wide lease as it stands: who holds it, in which term, until when.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub holder: String,
    /// Grows by one whenever the holder changes: the fencing token of the holder's work.
    pub term: i64,
    pub expires_at: DateTime<Utc>,
}

/// A fencing token: a write that carries it applies only while `holder` still holds the lease
/// `lease` in `term` and it has not expired, checked in the write's own statement – so a leader
/// that was paused past its lease and wakes up late changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub lease: String,
    pub holder: String,
    pub term: i64,
}

/// A status a database moved into (recorded by the store itself on every status write).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusEvent {
    pub at: DateTime<Utc>,
    pub from: Option<DatabaseStatus>,
    pub to: DatabaseStatus,
}

/// How a finished operation ends.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationOutcome {
    pub status: OperationStatus,
    pub message: Option<String>,
    pub error_message: Option<String>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is: "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
    /// Cheap liveness query, for `/health/ready`.
    async fn ping(&self) -> Result<()>;
    /// A number that changes after every write that may change a database record, whoever makes
    /// it: this process (at once) or, on PostgreSQL, another replica (when its commit's
    /// notification arrives). Two reads of database records taken under the same value saw the
    /// same data, so a caller may cache what it read under it. `None` while other writers'
    /// writes cannot be seen (PostgreSQL notifications not being heard).
    fn databases_generation(&self) -> Option<u64>;

    // ---- users and bindings
    /// Conflict if the e-mail (case-insensitive) is taken.
    async fn create_user(&self, user: &User, bindings: &[Binding]) -> Result<()>;
    async fn get_user(&self, id: &str) -> Result<Option<UserWithBindings>>;
    async fn get_user_by_email(&self, email: &str) -> Result<Option<UserWithBindings>>;
    async fn list_users(&self, page: PageRequest) -> Result<Page<UserWithBindings>>;
    /// Updates email, full_name, password_hash, is_active, updated_at. Conflict on e-mail clash.
    async fn update_user(&self, user: &User) -> Result<()>;
    async fn record_login(&self, user_id: &str, at: DateTime<Utc>) -> Result<()>;
    async fn count_platform_admins(&self) -> Result<i64>;
    /// Conflict if the user already holds a role on exactly that scope.
    async fn add_binding(&self, user_id: &str, binding: &Binding) -> Result<()>;
    /// Removes the user's bindings on exactly that scope (domain-level when `project` is None).
    async fn remove_binding(
        &self,
        user_id: &str,
        domain: &str,
        project: Option<&str>,
    ) -> Result<bool>;
    /// Users holding a binding on exactly that scope, with that binding.
    async fn list_members(
        &self,
        domain: &str,
        project: Option<&str>,
    ) -> Result<Vec<(User, Binding)>>;
    /// Self-service sign-up in one transaction: user, tenant, its default project, the user's binding.
    async fn register(
        &self,
        user: &User,
        tenant: &Tenant,
        project: &Project,
        binding: &Binding,
    ) -> Result<()>;

    // ---- API keys
    async fn create_api_key(&self, key: &ApiKey) -> Result<()>;
    async fn find_api_key(&self, prefix: &str) -> Result<Option<ApiKey>>;
    async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKey>>;
    /// False if no such live key of that user.
    async fn revoke_api_key(&self, user_id: &str, key_id: &str, at: DateTime<Utc>) -> Result<bool>;
    async fn touch_api_key(&self, key_id: &str, at: DateTime<Utc>) -> Result<()>;

    // ---- refresh tokens
    async fn create_refresh_token(&self, token: &RefreshToken) -> Result<()>;
    async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>>;
    /// Atomically revokes `old_id` (marking it replaced by `new.id`) and inserts `new`, but only if
    /// `old_id` was still live: returns false (and writes nothing) if it had been revoked already.
    async fn rotate_refresh_token(
        &self,
        old_id: &str,
        new: &RefreshToken,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    async fn revoke_refresh_family(&self, family_id: &str, at: DateTime<Utc>) -> Result<u64>;

    // ---- tenants and projects
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()>;
    async fn get_tenant(&self, name: &str) -> Result<Option<Tenant>>;
    /// `only`: restrict to these names (a caller's visible domains); `None` = all.
    async fn list_tenants(
        &self,
        only: Option<&[String]>,
        page: PageRequest,
    ) -> Result<Page<Tenant>>;
    async fn update_tenant(&self, tenant: &Tenant) -> Result<()>;
    /// Conflict if the name is taken in the domain; NotFound if the domain does not exist.
    async fn create_project(&self, project: &Project) -> Result<()>;
    async fn get_project(&self, domain: &str, name: &str) -> Result<Option<Project>>;
    async fn list_projects(
        &self,
        domain: &str,
        only: Option<&[String]>,
        page: PageRequest,
    ) -> Result<Page<Project>>;
    async fn update_project(&self, project: &Project) -> Result<()>;
    /// Conflict while the project holds databases that are not deleted; also drops its bindings.
    async fn delete_project(&self, domain: &str, name: &str) -> Result<bool>;
    /// What the project's live databases hold (sum of their reservations).
    async fn project_usage(&self, domain: &str, project: &str) -> Result<Usage>;
    async fn domain_usage(&self, domain: &str) -> Result<Usage>;

    // ---- providers (kubeconfig encrypted with the store's cipher)
    /// Inserts the provider and the audit entries that record it, in one transaction.
    async fn create_provider(
        &self,
        provider: &Provider,
        kubeconfig: &str,
        audit: &[AuditEntry],
    ) -> Result<()>;
    async fn get_provider(&self, id: &str) -> Result<Option<Provider>>;
    /// Sorted by priority desc, then name.
    async fn list_providers(&self, filter: &ProviderFilter) -> Result<Vec<Provider>>;
    /// Updates every field but `allocated`; replaces the kubeconfig when given; writes the audit
    /// entries in the same transaction.
    async fn update_provider(
        &self,
        provider: &Provider,
        kubeconfig: Option<&str>,
        audit: &[AuditEntry],
    ) -> Result<()>;
    /// Conflict while databases that are not deleted live on it; audit entries commit with it.
    async fn delete_provider(&self, id: &str, audit: &[AuditEntry]) -> Result<bool>;
    async fn provider_kubeconfig(&self, id: &str) -> Result<Option<String>>;
    /// Stores what the last health check found (touches nothing else, so it never races a PATCH);
    /// false when `fence` no longer holds.
    async fn set_provider_health(
        &self,
        id: &str,
        kubedb: &serde_json::Value,
        connection: &serde_json::Value,
        fence: Option<&Fence>,
    ) -> Result<bool>;

    // ---- databases, with quota and capacity reservation
    /// In one transaction: checks the project's and the domain's quota against `db.reserved`
    /// (counting every replica), places it with `choose` when given (adding `db.reserved` to the
    /// chosen provider's allocation, setting `db.provider_id` and `db.version` to the catalog
    /// entry), inserts the database, its queued operation and the audit entries that record the
    /// create (their object `details` gain the placement: `provider_id`, `version`). Concurrent
    /// calls never over-commit a quota or a provider. Conflict on a duplicate live name in the
    /// project. Returns the database as stored.
    async fn create_database(
        &self,
        db: &Database,
        op: &Operation,
        choose: Option<ProviderChooser<'_>>,
        audit: &[AuditEntry],
    ) -> Result<Database>;
    async fn get_database(&self, id: &str) -> Result<Option<Database>>;
    async fn list_databases(
        &self,
        domain: &str,
        project: &str,
        filter: &DatabaseFilter,
        page: PageRequest,
    ) -> Result<Page<Database>>;
    /// Writes every mutable field (status, observed state, endpoint, …) but not `reserved`.
    async fn update_database(&self, db: &Database) -> Result<()>;
    /// Writes the fields set in `patch` (and `updated_at`); false when the database does not exist,
    /// its status is not one of `patch.expect_status`, or the patch moves it into a status that
    /// requires a reservation ([`DatabaseStatus::requires_reservation`]) while it holds none.
    async fn patch_database(
        &self,
        id: &str,
        patch: &DatabasePatch,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Databases placed on a provider that are not `deleted` (what its watcher follows).
    /// Applies a [`DatabaseChange`] in one transaction; false (and nothing written) when the
    /// database's status is not one the patch expects. QuotaExceeded/NoCapacity when a checked
    /// reservation does not fit.
    async fn apply_change(
        &self,
        id: &str,
        change: &DatabaseChange,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// The statuses a database went through, oldest first (at most `limit`, the newest ones).
    async fn status_events(&self, database_id: &str, limit: i64) -> Result<Vec<StatusEvent>>;
    /// Live databases that carry an upgrade policy (what the maintenance scheduler looks at).
    async fn list_policy_databases(&self) -> Result<Vec<Database>>;
    async fn list_provider_databases(&self, provider_id: &str) -> Result<Vec<Database>>;
    /// Changes what a database holds (grow/shrink) under the same quota and capacity checks as create.
    async fn resize_reservation(&self, db_id: &str, new_reserved: Usage) -> Result<()>;
    /// Gives back everything the database holds to its project, domain and provider (idempotent;
    /// nothing when `fence` no longer holds).
    async fn release_reservation(&self, db_id: &str, fence: Option<&Fence>) -> Result<()>;

    // ---- the durable operation queue
    /// Inserts a queued operation; a parked operation of the same database becomes due, so that
    /// it sees the new one waiting behind it.
    async fn enqueue_operation(&self, op: &Operation) -> Result<()>;
    async fn get_operation(&self, id: &str) -> Result<Option<Operation>>;
    async fn list_operations(
        &self,
        filter: &OperationFilter,
        page: PageRequest,
    ) -> Result<Page<Operation>>;
    /// Claims a runnable operation: `queued` with `run_after <= now`, `in_progress` whose lease
    /// expired (its worker died), or parked (`in_progress`, no lease) with `run_after <= now`; and
    /// only if no older unfinished operation exists for the same database (one at a time per
    /// database, in order). Among those it prefers the domain whose operations workers hold fewest
    /// right now (one tenant cannot fill every worker), then the oldest. Sets status `in_progress`,
    /// lease owner and expiry, `started_at` if unset; clears the park. PostgreSQL:
    /// `FOR UPDATE SKIP LOCKED`; SQLite: a write transaction.
    async fn claim_operation(
        &self,
        worker: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Operation>>;
    /// Extends the lease; false if the worker no longer owns the operation.
    async fn renew_lease(
        &self,
        op_id: &str,
        worker: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Saves progress/message/ops_request_* fields while owning the lease; false if not the owner.
    async fn save_progress(&self, op: &Operation, worker: &str) -> Result<bool>;
    /// Ends the operation (terminal status, completed_at, lease cleared); false if not the owner.
    async fn complete_operation(
        &self,
        op_id: &str,
        worker: &str,
        outcome: &OperationOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Puts the operation back as `queued` with `retry_count + 1` and `run_after`; false if not the owner.
    async fn retry_operation(
        &self,
        op_id: &str,
        worker: &str,
        run_after: DateTime<Utc>,
        error: &str,
    ) -> Result<bool>;
    /// Parks an operation that waits on the cluster: it stays `in_progress` with its progress, but
    /// the lease is released and `waiting_for` noted, until `wake_at` or [`Store::wake_parked`].
    /// A wake-up that came while the worker held it makes it due at once (`now`), so none is lost.
    /// False if the worker no longer owns the operation. Parking does not count as a retry.
    async fn park_operation(
        &self,
        op_id: &str,
        worker: &str,
        wake_at: DateTime<Utc>,
        waiting_for: &str,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Something the database's in-progress operation may wait for happened: a parked one becomes
    /// due now, a held one is marked woken (its next park is cut short). True when a parked
    /// operation became due (the caller wakes the workers).
    async fn wake_parked(&self, database_id: &str, now: DateTime<Utc>) -> Result<bool>;
    /// What a parked operation waits for; None when it is not parked (or does not exist).
    async fn parked_waiting_for(&self, op_id: &str) -> Result<Option<String>>;
    /// queued → cancelled; false (nothing written) from any other status.
    async fn cancel_operation(&self, op_id: &str, now: DateTime<Utc>) -> Result<bool>;
    async fn queue_stats(&self, now: DateTime<Utc>) -> Result<QueueStats>;
    /// Tells workers on every replica that an operation is queued (PostgreSQL `NOTIFY`; a no-op on
    /// SQLite, whose single process is woken in memory).
    async fn notify_queue(&self) -> Result<()>;
    /// What other replicas announce (PostgreSQL `LISTEN`): operations queued by `notify_queue`,
    /// providers changed; `None` when the backend has no such channel (one process).
    async fn replica_notices(&self) -> Result<Option<futures::stream::BoxStream<'static, Notice>>>;

    // ---- audit
    async fn insert_audit(&self, entry: &AuditEntry) -> Result<()>;
    /// Newest first. `total` may come from a count cached for up to a second, except that every
    /// write through this store (insert, purge) shows in the next call.
    async fn list_audit(&self, filter: &AuditFilter, page: PageRequest)
        -> Result<Page<AuditEntry>>;
    /// The page `list_audit` returns, already encoded for the wire: what the HTTP route sends
    /// without decoding and re-encoding every entry.
    async fn list_audit_json(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<AuditPageJson>;
    /// Removes entries older than `before` (none when `fence` no longer holds).
    async fn purge_audit_before(&self, before: DateTime<Utc>, fence: Option<&Fence>)
        -> Result<u64>;

    // ---- leases (leader election)
    /// Takes the lease `name` for `holder` until `now + ttl` when it is free, expired or already
    /// `holder`'s (a renewal); the term grows by one whenever the holder changes. Returns the lease
    /// as it now stands, whoever holds it. Atomic across replicas.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Lease>;
    /// Ends `holder`'s lease `name` at once (a graceful shutdown hands it over); no-op otherwise.
    async fn release_lease(&self, name: &str, holder: &str, now: DateTime<Utc>) -> Result<()>;
    /// Whether `fence` still holds: for what cannot be fenced in the store's own statement (a
    /// write to a cluster), checked just before it.
    async fn fence_holds(&self, fence: &Fence) -> Result<bool>;

    // ---- orphans (the drift reconciler's findings)
    /// Replaces what is recorded as orphaned on the provider with `found`, in one transaction:
    /// an orphan already recorded keeps its `first_seen_at`; the provider counts as checked at
    /// `checked_at`.
    async fn sync_orphans(
        &self,
        provider_id: &str,
        found: &[domain::drift::Orphan],
        checked_at: DateTime<Utc>,
        fence: Option<&Fence>,
    ) -> Result<()>;
    /// Every recorded orphan (by provider, kind, namespace, name) and when each provider was
    /// last checked.
    async fn list_orphans(
        &self,
    ) -> Result<(Vec<domain::drift::Orphan>, Vec<(String, DateTime<Utc>)>)>;

    // ---- backups
    /// Saves the scope's storage (replacing what was there); the secret is sealed here.
    async fn put_backup_storage(
        &self,
        storage: &BackupStorage,
        secret_access_key: &str,
    ) -> Result<()>;
    async fn get_backup_storage(&self, scope: &BackupScope) -> Result<Option<BackupStorage>>;
    /// The scope's secret access key, unsealed.
    async fn backup_storage_secret(&self, scope: &BackupScope) -> Result<Option<String>>;
    /// Records one Snapshot as seen (insert or update by id). With a fence, only in its term.
    async fn upsert_backup(&self, backup: &Backup, fence: Option<&Fence>) -> Result<bool>;
    /// Replaces what is recorded for the provider's Snapshots with `found` (a full relist):
    /// rows whose Snapshot is gone (retention, deletion) are removed. With a fence, only in its term.
    async fn sync_backups(
        &self,
        provider_id: &str,
        found: &[Backup],
        fence: Option<&Fence>,
    ) -> Result<bool>;
    /// Removes one backup row (its Snapshot was deleted).
    async fn remove_backup(&self, id: &str, fence: Option<&Fence>) -> Result<bool>;
    async fn get_backup(&self, database_id: &str, id: &str) -> Result<Option<Backup>>;
    /// The database's newest succeeded backup.
    async fn latest_backup(&self, database_id: &str) -> Result<Option<Backup>>;
    /// The database's backups, newest first.
    async fn list_backups(&self, database_id: &str, page: PageRequest) -> Result<Page<Backup>>;
    /// Retained (succeeded) backups of a project: what `max_backups` limits.
    async fn count_backups(&self, domain: &str, project: &str) -> Result<i64>;

    // ---- accounts: suspensions, revocation, tenant deletion, invitations
    /// Suspended tenants among `domains`, and the suspended projects of those domains.
    async fn suspensions(&self, domains: &[String]) -> Result<Suspensions>;
    /// Revokes every live refresh token and API key of the user (after a password reset or a
    /// deactivation); returns the revoked keys' prefixes, for evicting cached keys.
    async fn revoke_user_credentials(
        &self,
        user_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<String>>;
    /// Deletes a tenant with its projects, bindings and invitations. Conflict while a provider is
    /// dedicated to it or it holds databases that are not deleted; false if it does not exist.
    async fn delete_tenant(&self, name: &str) -> Result<bool>;
    /// Conflict while an open invitation for the same e-mail and exact scope exists; NotFound if
    /// the scope does not.
    async fn create_invitation(&self, invitation: &Invitation) -> Result<()>;
    async fn get_invitation(&self, id: &str) -> Result<Option<Invitation>>;
    /// Open (pending, unexpired at `now`) invitations addressed to `email`, newest first.
    async fn open_invitations_for(
        &self,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Invitation>>;
    /// Every invitation of a domain (`project` None) or of one of its projects, newest first.
    async fn list_invitations(
        &self,
        domain: &str,
        project: Option<&str>,
    ) -> Result<Vec<Invitation>>;
    /// In one transaction: the invitation must still be open at `now`; grants its binding to
    /// `user_id` and marks it accepted. NotFound if missing; Conflict if no longer open (the text
    /// says why) or the user already holds a role on that scope.
    async fn accept_invitation(
        &self,
        id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Invitation>;
    /// pending → `status` (declined or revoked); false (nothing written) from any other status.
    async fn close_invitation(
        &self,
        id: &str,
        status: InvitationStatus,
        now: DateTime<Utc>,
    ) -> Result<bool>;
}
