//! Encoded answers to hot reads (a page of databases, one database), kept while the store has
//! taken no write since they were read.
//!
//! A key names everything an answer depends on except the caller: routes authorize before they
//! look here. A value carries the store's write generation from before its read; every write
//! through the store moves the generation, so an answer is served again only while the data it
//! was read from is unchanged. On PostgreSQL other replicas' writes move it too, as their
//! notifications arrive; while the store cannot hear them nothing is kept and every request reads.

use std::future::Future;
use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use prometheus::{IntCounter, IntCounterVec};
use serde::Serialize;
use store::Store;

use crate::error::{ApiError, ApiResult};

/// An answer and the write generation it was read under.
struct Encoded {
    generation: u64,
    body: Bytes,
}

pub struct ReadCache {
    /// `None` when configured off.
    entries: Option<moka::sync::Cache<String, Arc<Encoded>>>,
    // Lookups by result, resolved once: `bypass` = off, or the store offers no generation.
    hits: IntCounter,
    misses: IntCounter,
    bypasses: IntCounter,
}

impl ReadCache {
    /// Holds at most `max_bytes` of encoded answers (least recently used go first); 0 = off.
    pub fn new(max_bytes: u64, lookups: IntCounterVec) -> Self {
        let entries = (max_bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|key: &String, v: &Arc<Encoded>| {
                    u32::try_from(key.len() + v.body.len()).unwrap_or(u32::MAX)
                })
                .build()
        });
        let count = |result: &str| lookups.with_label_values(&[result]);
        ReadCache {
            entries,
            hits: count("hit"),
            misses: count("miss"),
            bypasses: count("bypass"),
        }
    }

    /// The JSON answer for `key`: the one kept from an earlier read when the store has not been
    /// written since, else what `load` reads now (kept for the next caller).
    pub async fn json<T, F>(&self, store: &dyn Store, key: String, load: F) -> ApiResult<Response>
    where
        T: Serialize,
        F: Future<Output = ApiResult<T>>,
    {
        // Taken before the read: a write landing during it leaves this entry already stale.
        let (Some(entries), Some(generation)) = (&self.entries, store.databases_generation())
        else {
            self.bypasses.inc();
            return Ok(json_response(encode(&load.await?)?));
        };
        if let Some(hit) = entries.get(&key).filter(|e| e.generation == generation) {
            self.hits.inc();
            return Ok(json_response(hit.body.clone()));
        }
        self.misses.inc();
        let body = encode(&load.await?)?;
        entries.insert(
            key,
            Arc::new(Encoded {
                generation,
                body: body.clone(),
            }),
        );
        Ok(json_response(body))
    }
}

fn encode<T: Serialize>(value: &T) -> ApiResult<Bytes> {
    serde_json::to_vec(value).map(Bytes::from).map_err(|e| {
        tracing::error!(error = %e, "encoding a response failed");
        ApiError::internal()
    })
}

fn json_response(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use domain::model::{Plan, Tenant};
    use domain::quota::QuotaLimits;
    use serde_json::Value;

    fn tenant(name: &str) -> Tenant {
        let now = chrono::Utc::now();
        Tenant {
            name: name.into(),
            display_name: name.into(),
            plan: Plan::Free,
            contact_email: None,
            quota: QuotaLimits::default(),
            metadata: serde_json::json!({}),
            is_active: true,
            created_at: now,
            updated_at: now,
        }
    }

    fn cache(max_bytes: u64) -> ReadCache {
        let lookups = IntCounterVec::new(prometheus::Opts::new("t", "t"), &["result"]).unwrap();
        ReadCache::new(max_bytes, lookups)
    }

    /// A fresh SQLite store; keep the directory for as long as the store.
    async fn sqlite_store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let url = store::testing::fresh_sqlite_url(dir.path());
        let s = store::connect(&url, store::Cipher::new([1; 32]))
            .await
            .unwrap();
        (dir, s)
    }

    /// The answers to two lookups of one key whose reads would answer 1, then 2.
    async fn two_lookups(c: &ReadCache, s: &dyn Store) -> (String, String) {
        let a = c.json(s, "k".into(), async { Ok(1) }).await.unwrap();
        let b = c.json(s, "k".into(), async { Ok(2) }).await.unwrap();
        (body(a).await, body(b).await)
    }

    async fn body(r: Response) -> String {
        let b = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn reads_again_only_after_a_write() {
        let (_dir, s) = sqlite_store().await;
        let c = cache(1 << 20);
        let loads = AtomicUsize::new(0);
        let read = |n: usize| {
            let loads = &loads;
            async move {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok(serde_json::json!({ "n": n }))
            }
        };
        let first = c.json(s.as_ref(), "k".into(), read(1)).await.unwrap();
        assert_eq!(body(first).await, r#"{"n":1}"#);
        // Unchanged store: the kept answer, without reading.
        let again = c.json(s.as_ref(), "k".into(), read(2)).await.unwrap();
        assert_eq!(body(again).await, r#"{"n":1}"#);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        // Another key reads for itself.
        let other = c.json(s.as_ref(), "k2".into(), read(3)).await.unwrap();
        assert_eq!(body(other).await, r#"{"n":3}"#);
        // Any write retires what was kept.
        s.create_tenant(&tenant("t1")).await.unwrap();
        let fresh = c.json(s.as_ref(), "k".into(), read(4)).await.unwrap();
        assert_eq!(body(fresh).await, r#"{"n":4}"#);
        assert_eq!(loads.load(Ordering::SeqCst), 3);
        // A failed read is not kept.
        let failed = c
            .json(s.as_ref(), "gone".into(), async {
                Err::<Value, _>(ApiError::not_found("Database", "x"))
            })
            .await;
        assert!(failed.is_err());
        let later = c.json(s.as_ref(), "gone".into(), read(5)).await.unwrap();
        assert_eq!(body(later).await, r#"{"n":5}"#);
    }

    #[tokio::test]
    async fn off_reads_every_time() {
        let (_dir, s) = sqlite_store().await;
        let answers = two_lookups(&cache(0), s.as_ref()).await;
        assert_eq!(answers, ("1".into(), "2".into()));
    }

    #[tokio::test]
    async fn postgres_caches_only_while_it_hears_every_write() {
        let url = store::testing::fresh_postgres_url().await;
        let s = store::connect(&url, store::Cipher::new([1; 32]))
            .await
            .unwrap();
        let c = cache(1 << 20);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while s.databases_generation().is_none() {
            // Not listening yet: every lookup reads.
            assert!(std::time::Instant::now() < deadline, "never listening");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let answers = two_lookups(&c, s.as_ref()).await;
        assert_eq!(answers, ("1".into(), "1".into()));
        assert_eq!(c.hits.get(), 1);
    }
}
