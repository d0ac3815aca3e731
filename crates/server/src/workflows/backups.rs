//! Backups: where a database's backups go, and keeping what KubeStash needs in its cluster as the
//! record says.
//!
//! A database backs up to its tenant's own storage when the tenant has one, else to its provider's.
//! Before anything is kept, the storage is checked for real (a probe object written, listed and
//! deleted). In the cluster the platform keeps, idempotently: the storage's credentials Secret and
//! `BackupStorage` and the retention's `RetentionPolicy` (platform namespace), the database's
//! encryption Secret (made once, never changed: without it the backups are unreadable) and its
//! `BackupConfiguration` (schedule, retention, paused while backups are off or the database is
//! paused).

use chrono::Utc;
use domain::backup::{schedule_cron, BackupScope, BackupStorage, BackupStorageRequest};
use domain::model::Database;
use domain::status::DatabaseStatus;
use provider::backup as kubestash;
use provider::s3::S3Location;
use provider::{Cluster, ProviderError};
use rand::distributions::{Alphanumeric, DistString};
use store::StoreError;

use super::Ctx;

/// Why the storage could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Invalid(#[from] domain::DomainError),
    /// The bucket check failed: what S3 said.
    #[error("the bucket check failed: {0}")]
    Check(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks the bucket with the given credentials, then saves the scope's storage (the secret
/// sealed). Databases pick the change up at their next configuration push.
pub async fn save_storage(
    ctx: &Ctx<'_>,
    scope: BackupScope,
    req: &BackupStorageRequest,
    by: &str,
) -> Result<BackupStorage, StorageError> {
    req.validate()?;
    let location = S3Location {
        endpoint: req.endpoint.trim().to_string(),
        bucket: req.bucket.clone(),
        prefix: req.normalized_prefix(),
        region: req.region.clone(),
        access_key_id: req.access_key_id.clone(),
        secret_access_key: req.secret_access_key.clone(),
        insecure_tls: req.insecure_tls,
    };
    location
        .check()
        .await
        .map_err(|e| StorageError::Check(e.to_string()))?;
    let now = Utc::now();
    let created_at = ctx
        .store
        .get_backup_storage(&scope)
        .await?
        .map_or(now, |s| s.created_at);
    let storage = BackupStorage {
        scope,
        endpoint: location.endpoint,
        bucket: location.bucket,
        prefix: location.prefix,
        region: location.region,
        access_key_id: location.access_key_id,
        insecure_tls: location.insecure_tls,
        created_at,
        updated_at: now,
        updated_by: Some(by.to_string()),
    };
    ctx.store
        .put_backup_storage(&storage, &req.secret_access_key)
        .await?;
    Ok(storage)
}

/// Puts a provider's storage (credentials Secret and BackupStorage) into its cluster now, so
/// that the databases already there back up to the new bucket at their next run.
pub async fn publish_provider_storage(
    ctx: &Ctx<'_>,
    provider_id: &str,
) -> Result<(), ConfigureError> {
    let scope = BackupScope::Provider(provider_id.to_string());
    let (Some(storage), Some(secret), Some(p)) = (
        ctx.store.get_backup_storage(&scope).await?,
        ctx.store.backup_storage_secret(&scope).await?,
        ctx.store.get_provider(provider_id).await?,
    ) else {
        return Ok(());
    };
    let cluster = ctx.cluster(&p).await?;
    cluster
        .ensure_namespace(&kubestash::platform_namespace())
        .await?;
    cluster
        .apply_object(&kubestash::storage_secret(
            &scope,
            &storage.access_key_id,
            &secret,
        ))
        .await?;
    cluster
        .apply_object(&kubestash::backup_storage(&storage))
        .await?;
    Ok(())
}

/// The storage a database backs up to: its tenant's own, else its provider's; None when neither
/// is configured.
pub async fn storage_for(
    ctx: &Ctx<'_>,
    db: &Database,
) -> Result<Option<BackupStorage>, StoreError> {
    if let Some(s) = ctx
        .store
        .get_backup_storage(&BackupScope::Tenant(db.domain.clone()))
        .await?
    {
        return Ok(Some(s));
    }
    match &db.provider_id {
        Some(pid) => {
            ctx.store
                .get_backup_storage(&BackupScope::Provider(pid.clone()))
                .await
        }
        None => Ok(None),
    }
}

/// The S3 location of a configured storage, secret included (for reading what backups wrote).
pub async fn location_of(
    ctx: &Ctx<'_>,
    storage: &BackupStorage,
) -> Result<Option<S3Location>, StoreError> {
    Ok(ctx
        .store
        .backup_storage_secret(&storage.scope)
        .await?
        .map(|secret| S3Location {
            endpoint: storage.endpoint.clone(),
            bucket: storage.bucket.clone(),
            prefix: storage.prefix.clone(),
            region: storage.region.clone(),
            access_key_id: storage.access_key_id.clone(),
            secret_access_key: secret,
            insecure_tls: storage.insecure_tls,
        }))
}

/// What keeping a database's backup configuration came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Configured {
    /// The BackupConfiguration reads as the record says.
    Applied,
    /// Neither the tenant nor the provider has backup storage: nothing to back up to.
    NoStorage,
}

/// A failure of [`configure`]: the store or the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ConfigureError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cluster(#[from] ProviderError),
}

/// Whether the database's scheduled backups run now: on, and the database serving.
pub fn schedule_paused(db: &Database) -> bool {
    use DatabaseStatus::*;
    !db.backup_enabled || matches!(db.status, Pausing | Paused | Resuming | Deleting | Deleted)
}

/// Whether `existing` (the database's BackupConfiguration in the cluster) already holds everything
/// [`configure`] would write into it, for the storage that serves the database now: then its
/// storage objects are in place too and a backup need not write them again.
pub async fn configuration_current(
    ctx: &Ctx<'_>,
    db: &Database,
    namespace: &str,
    name: &str,
    existing: &serde_json::Value,
) -> Result<bool, StoreError> {
    let Some(storage) = storage_for(ctx, db).await? else {
        return Ok(false);
    };
    let wanted = configuration(db, namespace, name, &storage.scope, schedule_paused(db));
    Ok(provider::cluster::holds(&existing["spec"], &wanted["spec"]))
}

/// The database's BackupConfiguration as the record asks for it.
fn configuration(
    db: &Database,
    namespace: &str,
    name: &str,
    scope: &BackupScope,
    paused: bool,
) -> serde_json::Value {
    let cron = schedule_cron(&db.backup_schedule, &db.id);
    kubestash::backup_configuration(db, namespace, name, scope, &cron, paused)
}

/// Brings the cluster to what the database's backups need (see the module doc). `paused`
/// overrides [`schedule_paused`] (a restore in place holds the schedule).
pub async fn configure(
    ctx: &Ctx<'_>,
    cluster: &Cluster,
    db: &Database,
    namespace: &str,
    name: &str,
    paused: Option<bool>,
) -> Result<Configured, ConfigureError> {
    let Some(storage) = storage_for(ctx, db).await? else {
        return Ok(Configured::NoStorage);
    };
    let Some(secret) = ctx.store.backup_storage_secret(&storage.scope).await? else {
        return Ok(Configured::NoStorage);
    };
    cluster
        .ensure_namespace(&kubestash::platform_namespace())
        .await?;
    cluster
        .apply_object(&kubestash::storage_secret(
            &storage.scope,
            &storage.access_key_id,
            &secret,
        ))
        .await?;
    cluster
        .apply_object(&kubestash::backup_storage(&storage))
        .await?;
    cluster
        .apply_object(&kubestash::retention_policy(db.backup_retention_days))
        .await?;
    let password = Alphanumeric.sample_string(&mut rand::thread_rng(), 40);
    cluster
        .ensure_object(&kubestash::encryption_secret(
            db, namespace, name, &password,
        ))
        .await?;
    let paused = paused.unwrap_or_else(|| schedule_paused(db));
    cluster
        .apply_object(&configuration(db, namespace, name, &storage.scope, paused))
        .await?;
    Ok(Configured::Applied)
}
