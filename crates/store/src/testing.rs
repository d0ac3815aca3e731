//! Fresh, isolated databases for tests of this crate and of the crates above it.
//!
//! PostgreSQL is required, not optional: when it is unreachable these helpers panic with a message
//! saying how to start it, so a CI run fails instead of silently skipping half the suite.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use sqlx::{Connection, Executor, PgConnection};

/// Environment variable naming the admin URL used to create per-test databases.
pub const POSTGRES_URL_ENV: &str = "DBAAS_TEST_POSTGRES_URL";
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Test databases older than this are dropped by later runs (crashed runs leave theirs behind).
const STALE_AFTER_SECS: u64 = 3600;

static SWEPT: AtomicBool = AtomicBool::new(false);

pub fn admin_postgres_url() -> String {
    std::env::var(POSTGRES_URL_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_string())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn suffix() -> String {
    format!("{:08x}", rand::thread_rng().gen::<u32>())
}

/// Creates a brand-new PostgreSQL database `t_<unix time>_<random>` and returns its URL.
/// Panics (failing the test) when PostgreSQL cannot be reached.
pub async fn fresh_postgres_url() -> String {
    let admin = admin_postgres_url();
    let mut conn = match PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL is required by the store tests but {admin} is unreachable: {e}. Start it \
             (`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) or point \
             {POSTGRES_URL_ENV} at a server where this user may CREATE DATABASE."
        ),
    };
    if !SWEPT.swap(true, Ordering::SeqCst) {
        drop_stale(&mut conn).await;
    }
    let name = format!("t_{}_{}", unix_now(), suffix());
    if let Err(e) = conn
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
    {
        panic!("cannot create test database {name} via {admin}: {e}");
    }
    let _ = conn.close().await;
    with_database(&admin, &name)
}

/// Best effort: drops `t_<time>_…` databases left behind more than an hour ago.
async fn drop_stale(conn: &mut PgConnection) {
    let names: Vec<String> =
        match sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'")
            .fetch_all(&mut *conn)
            .await
        {
            Ok(n) => n,
            Err(_) => return,
        };
    let now = unix_now();
    for name in names {
        let created = name.split('_').nth(1).and_then(|t| t.parse::<u64>().ok());
        let valid = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if let (Some(created), true) = (created, valid) {
            if now.saturating_sub(created) > STALE_AFTER_SECS {
                let _ = conn
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await;
            }
        }
    }
}

/// `url` with its database name replaced by `db` (query parameters kept).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

/// A URL for a new SQLite database file inside `dir` (created on connect).
pub fn fresh_sqlite_url(dir: &Path) -> String {
    format!(
        "sqlite://{}",
        dir.join(format!("dbaas-{}.db", suffix())).display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "t_1"),
            "postgres://u@h:5432/t_1"
        );
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "t_1"),
            "postgres://u@h/t_1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "t_1"), "postgres://u@h/t_1");
    }

    #[test]
    fn sqlite_urls_are_unique_files() {
        let d = Path::new("/tmp/x");
        let a = fresh_sqlite_url(d);
        assert!(a.starts_with("sqlite:///tmp/x/dbaas-"));
        assert_ne!(a, fresh_sqlite_url(d));
    }
}
