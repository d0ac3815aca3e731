//! Fixed-window rate limits: in process by default, shared through Redis across replicas.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use dashmap::DashMap;

/// One minute: the window of the per-IP limit on unauthenticated requests.
pub const MINUTE: Duration = Duration::from_secs(60);
/// One hour: the window of the per-IP sign-up limit.
pub const HOUR: Duration = Duration::from_secs(3600);

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
    /// Counts one hit against each `(key, limit)` in turn, stopping at the first over its limit
    /// (the keys after it are not counted): that key's decision, or the last key's when all are
    /// within. `hits` is not empty.
    async fn hit_in_turn(&self, hits: &[(&str, u64)], window: Duration) -> RateDecision {
        one_by_one(self, hits, window).await
    }
}

/// [`RateLimiter::hit_in_turn`] as separate hits.
async fn one_by_one<L: RateLimiter + ?Sized>(
    limiter: &L,
    hits: &[(&str, u64)],
    window: Duration,
) -> RateDecision {
    let mut last = None;
    for (key, limit) in hits {
        let d = limiter.hit(key, *limit, window).await;
        if !d.allowed {
            return d;
        }
        last = Some(d);
    }
    last.expect("at least one limit")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A sliding window over two fixed ones: the previous window's count weighs in by the part of
/// it still inside the last `window`. Unlike a plain fixed window, a client cannot double its
/// rate across a boundary, and a limit never lifts just because the clock passed a round minute.
fn decide(count: u64, previous: u64, limit: u64, window_ms: u64, now: u64) -> RateDecision {
    let elapsed = now % window_ms;
    // In units of 1/window_ms hits, so the arithmetic stays exact.
    let weighted = previous * (window_ms - elapsed) + count * window_ms;
    let used = weighted.div_ceil(window_ms);
    RateDecision {
        allowed: weighted <= limit * window_ms,
        limit,
        remaining: limit.saturating_sub(used),
        reset_secs: (window_ms - elapsed).div_ceil(1000).max(1),
    }
}

/// One key's counts in process.
#[derive(Clone, Copy)]
struct Counts {
    window_ms: u64,
    index: u64,
    count: u64,
    previous: u64,
}

/// Counts in this process only.
#[derive(Default)]
pub struct LocalLimiter {
    windows: DashMap<String, Counts>,
}

impl LocalLimiter {
    /// Drops counts that no longer weigh in (run periodically so memory stays bounded).
    pub fn sweep(&self) {
        let now = now_ms();
        self.windows.retain(|_, c| c.index + 1 >= now / c.window_ms);
    }
}

#[async_trait]
impl RateLimiter for LocalLimiter {
    async fn hit(&self, key: &str, limit: u64, window: Duration) -> RateDecision {
        let window_ms = window.as_millis().max(1) as u64;
        let now = now_ms();
        let index = now / window_ms;
        let fresh = Counts {
            window_ms,
            index,
            count: 0,
            previous: 0,
        };
        let c = {
            let mut e = self.windows.entry(key.to_string()).or_insert(fresh);
            if e.window_ms != window_ms || e.index + 1 < index {
                *e = fresh;
            } else if e.index + 1 == index {
                *e = Counts {
                    previous: e.count,
                    ..fresh
                };
            }
            e.count += 1;
            *e
        };
        decide(c.count, c.previous, limit, window_ms, now)
    }

    async fn reset(&self, key: &str, _window: Duration) {
        self.windows.remove(key);
    }
}

/// Counts in Redis so every replica sees the same numbers; falls back to `fallback` (in process)
/// while Redis is unreachable, so an outage neither blocks everyone nor lifts the limits.
pub struct RedisLimiter {
    conn: redis::aio::ConnectionManager,
    /// Counts hits of one or more keys in one round trip (see `hit_in_turn`).
    in_turn: redis::Script,
    fallback: Arc<LocalLimiter>,
    /// After a failure Redis is left alone until then (ms since the epoch): during an outage a
    /// request pays no timeout and the log says it once, not per request.
    skip_until_ms: AtomicU64,
}

/// How long an unreachable Redis is left alone before it is asked again.
const REDIS_RETRY_MS: u64 = 2_000;

impl RedisLimiter {
    pub fn new(conn: redis::aio::ConnectionManager, fallback: Arc<LocalLimiter>) -> Self {
        // For each key in turn, atomically: count in this window (expiring once it no longer
        // weighs in) and read the previous one; stop after the first key over its limit, weighing
        // the previous window as `decide` does (ARGV: expiry, window, elapsed, then the limits).
        let in_turn = redis::Script::new(
            "local out = {} \
             local w = tonumber(ARGV[2]) local e = tonumber(ARGV[3]) \
             for i = 1, #KEYS / 2 do \
               local c = redis.call('INCR', KEYS[2 * i - 1]) \
               if c == 1 then redis.call('PEXPIRE', KEYS[2 * i - 1], ARGV[1]) end \
               local p = tonumber(redis.call('GET', KEYS[2 * i]) or '0') \
               out[#out + 1] = c out[#out + 1] = p \
               if p * (w - e) + c * w > tonumber(ARGV[3 + i]) * w then break end \
             end \
             return out",
        );
        RedisLimiter {
            conn,
            in_turn,
            fallback,
            skip_until_ms: AtomicU64::new(0),
        }
    }

    /// Redis failed: left alone for a while (said once, not per request).
    fn unavailable(&self, e: &redis::RedisError, now: u64) {
        let was = self
            .skip_until_ms
            .swap(now + REDIS_RETRY_MS, Ordering::Relaxed);
        if was == 0 {
            tracing::warn!(error = %e, "redis rate limiter unavailable; counting in process until it is back");
        }
    }

    /// Redis answered: asked again from now on.
    fn answered(&self) {
        if self.skip_until_ms.swap(0, Ordering::Relaxed) != 0 {
            tracing::info!("redis rate limiter is back");
        }
    }

    /// The key of one window; the hash tag keeps a key's windows on one cluster slot.
    fn key(key: &str, index: u64) -> String {
        format!("dbaas:rl:{{{key}}}:{index}")
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn hit(&self, key: &str, limit: u64, window: Duration) -> RateDecision {
        self.hit_in_turn(&[(key, limit)], window).await
    }

    async fn hit_in_turn(&self, hits: &[(&str, u64)], window: Duration) -> RateDecision {
        let window_ms = window.as_millis().max(1) as u64;
        let now = now_ms();
        if now < self.skip_until_ms.load(Ordering::Relaxed) {
            return one_by_one(self.fallback.as_ref(), hits, window).await;
        }
        let index = now / window_ms;
        let mut call = self.in_turn.prepare_invoke();
        for (key, _) in hits {
            call.key(Self::key(key, index))
                .key(Self::key(key, index.saturating_sub(1)));
        }
        call.arg(window_ms * 2).arg(window_ms).arg(now % window_ms);
        for (_, limit) in hits {
            call.arg(*limit);
        }
        let mut conn = self.conn.clone();
        let res: redis::RedisResult<Vec<u64>> = call.invoke_async(&mut conn).await;
        match res {
            Ok(counts) if !counts.is_empty() => {
                self.answered();
                let mut last = None;
                for (pair, (_, limit)) in counts.chunks(2).zip(hits) {
                    let d = decide(
                        pair[0],
                        pair.get(1).copied().unwrap_or(0),
                        *limit,
                        window_ms,
                        now,
                    );
                    if !d.allowed {
                        return d;
                    }
                    last = Some(d);
                }
                last.expect("at least one limit")
            }
            Ok(_) => one_by_one(self.fallback.as_ref(), hits, window).await,
            Err(e) => {
                self.unavailable(&e, now);
                one_by_one(self.fallback.as_ref(), hits, window).await
            }
        }
    }

    async fn reset(&self, key: &str, window: Duration) {
        let window_ms = window.as_millis().max(1) as u64;
        let index = now_ms() / window_ms;
        let mut conn = self.conn.clone();
        let _: redis::RedisResult<()> = redis::cmd("DEL")
            .arg(Self::key(key, index))
            .arg(Self::key(key, index.saturating_sub(1)))
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

    #[test]
    fn a_window_boundary_does_not_lift_the_limit() {
        let w = 60_000;
        // 6 hits late in one window, then the next window starts: still limited at once...
        let just_after = 10 * w + 500;
        assert!(!decide(1, 6, 6, w, just_after).allowed);
        // ...and free again once the previous window has slid out far enough.
        assert!(decide(1, 6, 6, w, 10 * w + w / 2).allowed);
        // within one window it is the plain count
        assert!(decide(6, 0, 6, w, 5 * w + 10).allowed);
        assert!(!decide(7, 0, 6, w, 5 * w + 10).allowed);
        assert_eq!(decide(3, 0, 6, w, 5 * w).remaining, 3);
    }
}
