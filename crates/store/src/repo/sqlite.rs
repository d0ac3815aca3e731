//! SQLite backend: one writer connection (SQLite admits one writer at a time, so writes queue in
//! the pool instead of spinning on SQLITE_BUSY) and a few reader connections (WAL lets readers run
//! beside the writer). Write transactions start with `BEGIN IMMEDIATE` so they take the write lock
//! up front, which makes read-then-write sequences (quota checks, claims) atomic.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Transaction};

use super::{db_err, migrate_err};
use crate::{Cipher, Result, StoreError};

pub(crate) type Db = sqlx::Sqlite;
const BACKEND: &str = "sqlite";

/// The one writer is this process: its own writes are all there are to count.
fn follow_notifications(
    _: &Pool<Db>,
    _: std::sync::Arc<std::sync::atomic::AtomicU64>,
    _: std::sync::Arc<std::sync::atomic::AtomicBool>,
    _: tokio::sync::broadcast::Sender<crate::Notice>,
) -> Option<tokio::task::JoinHandle<()>> {
    None
}

// SQLite has no row locks: the write transaction itself serialises.
macro_rules! for_update {
    () => {
        ""
    };
}
macro_rules! for_share {
    () => {
        ""
    };
}
// How a worker finds its next operation. One process writes SQLite, so a claim needs no row
// locks: expired leases first, then the least busy domain (fairness), then the operation due first.
const CLAIM_QUERIES: &[&str] = &[
    "SELECT o.id FROM operations o \
     LEFT JOIN (SELECT domain, COUNT(*) AS busy FROM operations \
                WHERE status = 'in_progress' AND lease_expires_at > $1 GROUP BY domain) b \
       ON b.domain = o.domain \
     WHERE ((o.status = 'queued' AND o.run_after <= $1) \
         OR (o.status = 'in_progress' AND o.lease_owner IS NOT NULL AND o.lease_expires_at <= $1) \
         OR (o.status = 'in_progress' AND o.lease_owner IS NULL AND o.run_after <= $1)) \
       AND NOT EXISTS (SELECT 1 FROM operations p WHERE p.database_id = o.database_id AND p.id < o.id \
                       AND p.status IN ('queued', 'in_progress')) \
     ORDER BY o.lease_owner IS NULL, COALESCE(b.busy, 0), o.run_after, o.id LIMIT 1",
];

// sqlx-sqlite hands each row across a thread channel: a page comes back cheaper as one JSON value.
const JSON_PAGES: bool = true;

// The serving process owns the file: every write goes through its one store.
const SOLE_WRITER: bool = true;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

async fn begin_write(pool: &Pool<Db>) -> Result<Transaction<'static, Db>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

// Deliberately included once per backend: same SQL, different `Db` type and lock clauses.
#[allow(clippy::duplicate_mod)]
#[path = "sql.rs"]
mod sql;
pub(crate) use sql::SqlStore;

const READERS: u32 = 4;

// One process owns a SQLite file: its workers are woken in memory, not through the store.
async fn notify_queue(_pool: &Pool<Db>) -> Result<()> {
    Ok(())
}

fn replica_notices(
    _: &tokio::sync::broadcast::Sender<crate::Notice>,
) -> Option<futures::stream::BoxStream<'static, crate::Notice>> {
    None
}

fn options(url: &str) -> Result<(SqliteConnectOptions, bool)> {
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL: {e}")))?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .pragma("temp_store", "memory")
        // Reads come from memory, not a read() copy per page: SQLite's default page cache is 2 MB
        // per connection, far smaller than a store with thousands of databases.
        .pragma("cache_size", "-32768")
        .pragma("mmap_size", "268435456");
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if in_memory {
        return Ok((opts, true));
    }
    if let Some(dir) = opts.get_filename().parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            private_dir(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
    }
    private_files(opts.get_filename()).map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot restrict {}: {e}",
            opts.get_filename().display()
        ))
    })?;
    Ok((
        opts.journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal),
        false,
    ))
}

/// A new directory for the store is the owner's alone.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// The database file is created 0600 before SQLite opens it (SQLite gives its `-wal` and `-shm`
/// files the main file's mode), and existing files others can read are restricted to 0600.
fn private_files(db: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(db)?;
        let mut name = db.as_os_str().to_owned();
        let base = name.clone();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            name.clone_from(&base);
            name.push(suffix);
            let path = Path::new(&name);
            let Ok(meta) = std::fs::metadata(path) else {
                continue;
            };
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                tracing::warn!(path = %path.display(), was = format!("{mode:o}"), "restricted a store file others could read to 0600");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = db;
    Ok(())
}

pub(super) async fn open(url: &str, cipher: Cipher) -> Result<SqlStore> {
    let (opts, in_memory) = options(url)?;
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(opts.clone())
        .await
        .map_err(db_err)?;
    MIGRATOR.run(&writer).await.map_err(migrate_err)?;
    // An in-memory database lives in its one connection: readers must share it.
    let reader = if in_memory {
        writer.clone()
    } else {
        SqlitePoolOptions::new()
            .max_connections(READERS)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await
            .map_err(db_err)?
    };
    Ok(SqlStore::new(reader, writer, cipher))
}

pub(super) async fn migrate_only(url: &str) -> Result<()> {
    let (opts, _) = options(url)?;
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .map_err(db_err)?;
    let r = MIGRATOR.run(&pool).await.map_err(migrate_err);
    pool.close().await;
    r
}
