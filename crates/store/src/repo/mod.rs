//! The SQL repositories. One implementation (`sql.rs`) is compiled twice, once per backend
//! (`sqlite.rs`, `postgres.rs`), each of which supplies the database type and the few clauses
//! that differ (row locks, how a write transaction begins). The SQL text is otherwise shared:
//! both backends bind `$1`-style parameters.

mod postgres;
mod sqlite;

use std::sync::Arc;

use domain::model::ProviderCapacity;
use domain::quota::Usage;
use domain::DomainError;

use crate::{Cipher, Result, Store, StoreError};

/// Opens the store at `url` (`sqlite:…`, `postgres://…` or `postgresql://…`) and runs its
/// migrations. SQLite files (and their directory) are created when missing.
pub async fn connect(url: &str, cipher: Cipher) -> Result<Arc<dyn Store>> {
    match Backend::of(url)? {
        Backend::Sqlite => Ok(Arc::new(sqlite::open(url, cipher).await?)),
        Backend::Postgres => Ok(Arc::new(postgres::open(url, cipher).await?)),
    }
}

/// Brings the schema at `url` up to date (what `dbaas migrate` runs); `connect` does it too.
pub async fn run_migrations(url: &str) -> Result<()> {
    match Backend::of(url)? {
        Backend::Sqlite => sqlite::migrate_only(url).await,
        Backend::Postgres => postgres::migrate_only(url).await,
    }
}

enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn of(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Unavailable(
                "database URL must start with sqlite:, postgres:// or postgresql://".into(),
            ))
        }
    }
}

/// Maps a driver error: bad stored data is Corrupt, everything else means the store failed us.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt(e.to_string()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

pub(crate) fn migrate_err(e: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Unavailable(format!("migration failed: {e}"))
}

/// A unique violation becomes Conflict with `msg`; anything else goes through [`db_err`].
pub(crate) fn unique_or(e: sqlx::Error, msg: impl FnOnce() -> String) -> StoreError {
    if let sqlx::Error::Database(d) = &e {
        if d.is_unique_violation() {
            return StoreError::Conflict(msg());
        }
    }
    db_err(e)
}

pub(crate) fn is_fk_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

/// Parses a stored enum text, or says which column held garbage.
pub(crate) fn parse<T>(s: &str, f: impl Fn(&str) -> Option<T>, what: &str) -> Result<T> {
    f(s).ok_or_else(|| StoreError::Corrupt(format!("unknown {what} '{s}'")))
}

/// Whether `request` fits in what the provider still has (total × reservation% − allocated);
/// NoCapacity names the first resource that does not.
pub(crate) fn check_capacity(
    name: &str,
    cap: &ProviderCapacity,
    allocated: Usage,
    request: Usage,
) -> Result<()> {
    const EPS: f64 = 1e-9;
    let free = domain::placement::available(cap, &allocated);
    let dims = [
        ("cpu", free.cpu_cores, request.cpu_cores),
        ("memory", free.memory_gb, request.memory_gb),
        ("storage", free.storage_gb, request.storage_gb),
    ];
    for (what, free, want) in dims {
        if want > 0.0 && want > free + EPS {
            return Err(StoreError::Domain(DomainError::NoCapacity(format!(
                "provider '{name}' has not enough {what} left: {:.2} available, {want} requested",
                free.max(0.0)
            ))));
        }
    }
    Ok(())
}

/// Float sums drift; never store a negative allocation.
pub(crate) fn non_negative(u: Usage) -> Usage {
    let f = |x: f64| if x < 1e-9 { 0.0 } else { x };
    Usage {
        cpu_cores: f(u.cpu_cores),
        memory_gb: f(u.memory_gb),
        storage_gb: f(u.storage_gb),
        databases: u.databases.max(0),
        backups: u.backups.max(0),
    }
}

/// `%text%` for LIKE, with the wildcards in `text` escaped (pairs with `ESCAPE '\'`).
pub(crate) fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Limit and offset from a page request, kept sane whatever the caller passed.
pub(crate) fn limits(page: domain::model::PageRequest) -> (i64, i64) {
    let size = page.page_size.clamp(1, 1000);
    let offset = (page.page.max(1) - 1).saturating_mul(size);
    (size, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_escapes_wildcards() {
        assert_eq!(like_pattern("A_b%"), "%a\\_b\\%%");
    }

    #[test]
    fn capacity_counts_reservation_percent() {
        let cap = ProviderCapacity {
            cpu_total_cores: 10.0,
            memory_total_gb: 10.0,
            storage_total_gb: 100.0,
            cpu_reservation_percent: 80.0,
            memory_reservation_percent: 100.0,
            storage_reservation_percent: 100.0,
        };
        let one = Usage {
            cpu_cores: 4.0,
            memory_gb: 1.0,
            storage_gb: 1.0,
            databases: 1,
            backups: 0,
        };
        assert!(check_capacity("p", &cap, Usage::default(), one).is_ok());
        assert!(check_capacity("p", &cap, one, one).is_ok());
        let two = one.plus(one);
        assert!(matches!(
            check_capacity("p", &cap, two, one),
            Err(StoreError::Domain(DomainError::NoCapacity(ref m))) if m.contains("cpu")
        ));
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(Backend::of("mysql://x").is_err());
        assert!(Backend::of("sqlite::memory:").is_ok());
    }
}
