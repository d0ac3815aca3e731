//! PostgreSQL backend: one pool for reads and writes; read-then-write sequences lock the rows they
//! depend on (`FOR UPDATE`), and queue claims skip rows another worker holds (`SKIP LOCKED`).

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Transaction};

use super::{db_err, migrate_err};
use crate::{Cipher, Notice, Result, StoreError};

pub(crate) type Db = sqlx::Postgres;
const BACKEND: &str = "postgres";

macro_rules! for_update {
    () => {
        " FOR UPDATE"
    };
}
macro_rules! for_share {
    () => {
        " FOR SHARE"
    };
}
// How a worker finds its next operation (tried in order, the first hit wins). Both queries walk
// partial indexes (migration 0010) and lock the row they pick, skipping rows other claims hold, so
// a claim costs the same with 10 or 10,000 operations queued or parked: counting every candidate's
// domain load and sorting them all took 48 ms per claim with 10,000 queued.
const CLAIM_QUERIES: &[&str] = &[
    // A worker that died mid-operation: its lease ran out.
    "SELECT o.id FROM operations o \
     WHERE o.status = 'in_progress' AND o.lease_owner IS NOT NULL AND o.lease_expires_at <= $1 \
       AND NOT EXISTS (SELECT 1 FROM operations p WHERE p.database_id = o.database_id AND p.id < o.id \
                       AND p.status IN ('queued', 'in_progress')) \
     ORDER BY o.lease_expires_at LIMIT 1 FOR UPDATE SKIP LOCKED",
    // Each domain's operation due first (queued, or parked and due), one index probe per domain;
    // the least busy domain's wins, so one tenant's many operations never hold every worker.
    "SELECT c.id FROM tenants t \
     LEFT JOIN (SELECT domain, COUNT(*) AS busy FROM operations \
                WHERE status = 'in_progress' AND lease_expires_at > $1 GROUP BY domain) b \
       ON b.domain = t.name \
     CROSS JOIN LATERAL ( \
       SELECT o.id, o.run_after FROM operations o \
       WHERE o.domain = t.name AND o.lease_owner IS NULL AND o.status IN ('queued', 'in_progress') \
         AND o.run_after <= $1 \
         AND NOT EXISTS (SELECT 1 FROM operations p WHERE p.database_id = o.database_id AND p.id < o.id \
                         AND p.status IN ('queued', 'in_progress')) \
       ORDER BY o.run_after, o.id LIMIT 1 FOR UPDATE SKIP LOCKED) c \
     ORDER BY COALESCE(b.busy, 0), c.run_after, c.id LIMIT 1",
];

// Rows stream cheaply off the wire: pages are read row by row.
const JSON_PAGES: bool = false;

// Several replicas may write the same database.
const SOLE_WRITER: bool = false;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

async fn begin_write(pool: &Pool<Db>) -> Result<Transaction<'static, Db>, sqlx::Error> {
    pool.begin().await
}

// Deliberately included once per backend: same SQL, different `Db` type and lock clauses.
#[allow(clippy::duplicate_mod)]
#[path = "sql.rs"]
mod sql;
pub(crate) use sql::SqlStore;

const POOL_SIZE: u32 = 10;

/// The channel operation wake-ups travel on between replicas.
const QUEUE_CHANNEL: &str = "dbaas_operations";

/// The channel every committed change of database records is announced on (a trigger, see
/// migration 0008).
const DATABASES_CHANNEL: &str = "dbaas_databases";

/// The one `LISTEN` connection of a replica: counts every replica's database writes into
/// `writes` and passes the other channels' notices to `notices`. `following` is true only while
/// listening, since a write made while the connection was down went unheard (the reconnect counts
/// as one, which retires whatever was read before it, and is announced as `Reconnected`).
fn follow_notifications(
    pool: &Pool<Db>,
    writes: Arc<AtomicU64>,
    following: Arc<AtomicBool>,
    notices: tokio::sync::broadcast::Sender<Notice>,
) -> Option<tokio::task::JoinHandle<()>> {
    let pool = pool.clone();
    Some(tokio::spawn(async move {
        loop {
            let listener = async {
                let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
                l.listen_all([
                    DATABASES_CHANNEL,
                    QUEUE_CHANNEL,
                    PROVIDERS_CHANNEL,
                    LEASES_CHANNEL,
                ])
                .await?;
                Ok::<_, sqlx::Error>(l)
            };
            match listener.await {
                Ok(mut l) => {
                    writes.fetch_add(1, Ordering::SeqCst);
                    following.store(true, Ordering::SeqCst);
                    let _ = notices.send(Notice::Reconnected);
                    // `None`: the connection dropped; listen again on a new one.
                    while let Ok(Some(n)) = l.try_recv().await {
                        let notice = match n.channel() {
                            DATABASES_CHANNEL => {
                                writes.fetch_add(1, Ordering::SeqCst);
                                continue;
                            }
                            PROVIDERS_CHANNEL => Notice::ProvidersChanged,
                            LEASES_CHANNEL => Notice::LeaseReleased,
                            _ => Notice::Queued,
                        };
                        let _ = notices.send(notice);
                    }
                    following.store(false, Ordering::SeqCst);
                    tracing::warn!(
                        "lost the store's notifications; cached reads are off until they are back"
                    );
                }
                Err(e) => {
                    following.store(false, Ordering::SeqCst);
                    tracing::warn!(error = %e, "cannot listen to the store's notifications");
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }))
}

async fn notify_queue(pool: &Pool<Db>) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(QUEUE_CHANNEL)
        .execute(pool)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The channels provider changes and handed-over leases are announced on (triggers, see
/// migration 0009).
const PROVIDERS_CHANNEL: &str = "dbaas_providers";
const LEASES_CHANNEL: &str = "dbaas_leases";

/// What the replica's notification connection hears besides database writes; a receiver that
/// fell behind hears `Reconnected` (it may have missed anything).
fn replica_notices(
    notices: &tokio::sync::broadcast::Sender<Notice>,
) -> Option<futures::stream::BoxStream<'static, Notice>> {
    use futures::StreamExt;
    use tokio::sync::broadcast::error::RecvError;
    let stream = futures::stream::unfold(notices.subscribe(), |mut rx| async move {
        let notice = match rx.recv().await {
            Ok(n) => n,
            Err(RecvError::Lagged(_)) => Notice::Reconnected,
            Err(RecvError::Closed) => return None,
        };
        Some((notice, rx))
    });
    Some(stream.boxed())
}

fn options(url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL: {e}")))
}

pub(super) async fn open(url: &str, cipher: Cipher) -> Result<SqlStore> {
    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options(url)?)
        .await
        .map_err(db_err)?;
    MIGRATOR.run(&pool).await.map_err(migrate_err)?;
    Ok(SqlStore::new(pool.clone(), pool, cipher))
}

pub(super) async fn migrate_only(url: &str) -> Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options(url)?)
        .await
        .map_err(db_err)?;
    let r = MIGRATOR.run(&pool).await.map_err(migrate_err);
    pool.close().await;
    r
}
