//! Fixed-window rate limits: in process by default, shared through Redis across replicas.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dashmap::DashMap;

use crate::auth::client_ip::limit_key;
use crate::auth::rate_limited;
use crate::error::ApiError;
use crate::state::{AppState, RequestCtx};

/// One minute: the window of the per-IP limit on unauthenticated requests.
pub const MINUTE: Duration = Duration::from_secs(60);
/// One hour: the window of the per-IP sign-up limit.
pub const HOUR: Duration = Duration::from_secs(3600);

/// Counts one unauthenticated request (an open route, or a failed authentication) against its
/// client IP; `Some(429)` when the IP is over `DBAAS_UNAUTHENTICATED_PER_MINUTE_PER_IP`.
pub async fn unauthenticated_hit(state: &AppState, ctx: &RequestCtx) -> Option<ApiError> {
    let key = format!("anon:ip:{}", limit_key(ctx.ip.as_deref()));
    let d = state
        .limiter
        .hit(&key, state.config.unauthenticated_per_minute_per_ip, MINUTE)
        .await;
    (!d.allowed).then(|| rate_limited(&d))
}

/// Middleware of the routes that answer without a credential: per client IP, shared through Redis
/// when configured, before the handler does any work.
pub async fn limit_unauthenticated(
    State(state): State<AppState>,
    ctx: RequestCtx,
    req: Request,
    next: Next,
) -> Response {
    match unauthenticated_hit(&state, &ctx).await {
        Some(limited) => limited.into_response(),
        None => next.run(req).await,
    }
}

/// The outcome of counting one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the window resets.
    pub reset_secs: u64,
}

#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one hit against `key` and says whether it is within `limit` per `window`.
    async fn hit(&self, key: &str, limit: u64, window: Duration) -> RateDecision;
    /// Forgets the key's count (e.g. a successful login clears the account's failures).
    async fn reset(&self, key: &str, window: Duration);
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn decide(count: u64, limit: u64, window_ms: u64, now: u64) -> RateDecision {
    let reset_ms = window_ms - (now % window_ms);
    RateDecision {
        allowed: count <= limit,
        limit,
        remaining: limit.saturating_sub(count),
        reset_secs: reset_ms.div_ceil(1000),
    }
}

/// Counts in this process only.
#[derive(Default)]
pub struct LocalLimiter {
    /// key → (window length in ms, window index, count)
    windows: DashMap<String, (u64, u64, u64)>,
}

impl LocalLimiter {
    /// Drops counts of windows that have ended (run periodically so memory stays bounded).
    pub fn sweep(&self) {
        let now = now_ms();
        self.windows
            .retain(|_, (len, index, _)| *index >= now / *len);
    }
}

#[async_trait]
impl RateLimiter for LocalLimiter {
    async fn hit(&self, key: &str, limit: u64, window: Duration) -> RateDecision {
        let window_ms = window.as_millis().max(1) as u64;
        let now = now_ms();
        let index = now / window_ms;
        let count = {
            let mut e = self
                .windows
                .entry(key.to_string())
                .or_insert((window_ms, index, 0));
            if e.1 != index || e.0 != window_ms {
                *e = (window_ms, index, 0);
            }
            e.2 += 1;
            e.2
        };
        decide(count, limit, window_ms, now)
    }

    async fn reset(&self, key: &str, _window: Duration) {
        self.windows.remove(key);
    }
}

/// Counts in Redis so every replica sees the same numbers; falls back to `fallback` (in process)
/// while Redis is unreachable, so an outage neither blocks everyone nor lifts the limits.
pub struct RedisLimiter {
    conn: redis::aio::ConnectionManager,
    script: redis::Script,
    fallback: Arc<LocalLimiter>,
}

impl RedisLimiter {
    pub fn new(conn: redis::aio::ConnectionManager, fallback: Arc<LocalLimiter>) -> Self {
        // INCR then set the expiry on the first hit, atomically.
        let script = redis::Script::new(
            "local c = redis.call('INCR', KEYS[1]) if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return c",
        );
        RedisLimiter {
            conn,
            script,
            fallback,
        }
    }

    fn key(key: &str, window_ms: u64, now: u64) -> String {
        format!("dbaas:rl:{key}:{}", now / window_ms)
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn hit(&self, key: &str, limit: u64, window: Duration) -> RateDecision {
        let window_ms = window.as_millis().max(1) as u64;
        let now = now_ms();
        let mut conn = self.conn.clone();
        let res: redis::RedisResult<u64> = self
            .script
            .key(Self::key(key, window_ms, now))
            .arg(window_ms)
            .invoke_async(&mut conn)
            .await;
        match res {
            Ok(count) => decide(count, limit, window_ms, now),
            Err(e) => {
                tracing::warn!(error = %e, "redis rate limiter unavailable; counting in process");
                self.fallback.hit(key, limit, window).await
            }
        }
    }

    async fn reset(&self, key: &str, window: Duration) {
        let window_ms = window.as_millis().max(1) as u64;
        let mut conn = self.conn.clone();
        let _: redis::RedisResult<()> = redis::cmd("DEL")
            .arg(Self::key(key, window_ms, now_ms()))
            .query_async(&mut conn)
            .await;
        self.fallback.reset(key, window).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_limits_and_resets() {
        let l = LocalLimiter::default();
        let w = Duration::from_secs(60);
        for i in 1..=3 {
            let d = l.hit("k", 3, w).await;
            assert!(d.allowed);
            assert_eq!(d.remaining, 3 - i);
        }
        let d = l.hit("k", 3, w).await;
        assert!(!d.allowed);
        assert!(d.reset_secs >= 1 && d.reset_secs <= 60);
        l.reset("k", w).await;
        assert!(l.hit("k", 3, w).await.allowed);
        assert!(l.hit("other", 3, w).await.allowed);
    }
}
