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
///
/// A round trip per hit would make Redis the tail of every request, so a busy key is counted
/// locally first: while this replica's copy of the key's shared count is fresh (read within
/// [`FRESH_MS`]) and the count, with what this replica has not sent yet, stays below nine tenths
/// of the limit, a hit is decided in process and sent with others in one batch
/// ([`FLUSH_MS`] later). Near the limit, for a key not read lately, and for small limits (login
/// and sign-up throttles, below [`LOCAL_MIN_LIMIT`]) every hit is one round trip, so the limit
/// itself is exact. What another replica counted in its last batch interval is the only part a
/// decision can miss, and the tenth of headroom covers it.
pub struct RedisLimiter {
    conn: redis::aio::ConnectionManager,
    /// Adds to one or more keys and reads their counts in one round trip.
    count: redis::Script,
    fallback: Arc<LocalLimiter>,
    /// After a failure Redis is left alone until then (ms since the epoch): during an outage a
    /// request pays no timeout and the log says it once, not per request.
    skip_until_ms: AtomicU64,
    /// This replica's view of each busy key.
    keys: DashMap<String, Shared>,
    /// Keys with hits not yet sent.
    dirty: std::sync::Mutex<Vec<String>>,
    /// Hits counted locally in a window that has since ended, still to be sent.
    leftovers: std::sync::Mutex<Vec<Batch>>,
    /// Wakes the batch sender.
    wake: tokio::sync::Notify,
    /// Round trips made (one per hit decided by Redis, one per batch).
    round_trips: AtomicU64,
}

/// How long an unreachable Redis is left alone before it is asked again.
const REDIS_RETRY_MS: u64 = 2_000;
/// How long a key's shared count, as last read, may decide hits in process.
const FRESH_MS: u64 = 250;
/// How long locally counted hits wait to be sent together.
const FLUSH_MS: u64 = 20;
/// Limits below this are always decided by Redis, one round trip per hit (login and sign-up
/// throttles are small and must be exact).
const LOCAL_MIN_LIMIT: u64 = 100;

/// One key's shared count as this replica knows it.
#[derive(Clone, Copy)]
struct Shared {
    window_ms: u64,
    index: u64,
    /// This window's count in Redis when last read (every replica's hits up to then).
    synced: u64,
    /// The previous window's count in Redis when last read.
    previous: u64,
    synced_at_ms: u64,
    /// Hits counted here and not sent yet.
    pending: u64,
    /// Hits sent and not answered yet.
    inflight: u64,
}

impl Shared {
    fn new(window_ms: u64, index: u64) -> Self {
        Shared {
            window_ms,
            index,
            synced: 0,
            previous: 0,
            synced_at_ms: 0,
            pending: 0,
            inflight: 0,
        }
    }
}

/// Hits to add to one key's window.
struct Batch {
    key: String,
    window_ms: u64,
    index: u64,
    add: u64,
}

/// What a hit needs from Redis: the hits to add (this one plus any pending) and the limit.
struct Ask<'a> {
    key: &'a str,
    add: u64,
    limit: Option<u64>,
}

impl RedisLimiter {
    /// The limiter and its batch sender (which ends when the limiter is dropped).
    pub fn new(conn: redis::aio::ConnectionManager, fallback: Arc<LocalLimiter>) -> Arc<Self> {
        // For each key in turn, atomically: add to this window's count (expiring once it no
        // longer weighs in) and read the previous window's; with a limit (-1: none), stop after
        // the first key over it, weighing the previous window as `decide` does.
        // ARGV per key: add, limit, expiry, window, elapsed.
        let count = redis::Script::new(
            "local out = {} \
             for i = 1, #KEYS / 2 do \
               local a = 5 * i - 4 \
               local add = tonumber(ARGV[a]) local limit = tonumber(ARGV[a + 1]) \
               local w = tonumber(ARGV[a + 3]) local e = tonumber(ARGV[a + 4]) \
               local c = redis.call('INCRBY', KEYS[2 * i - 1], add) \
               redis.call('PEXPIRE', KEYS[2 * i - 1], ARGV[a + 2], 'NX') \
               local p = tonumber(redis.call('GET', KEYS[2 * i]) or '0') \
               out[#out + 1] = c out[#out + 1] = p \
               if limit >= 0 and p * (w - e) + c * w > limit * w then break end \
             end \
             return out",
        );
        let limiter = Arc::new(RedisLimiter {
            conn,
            count,
            fallback,
            skip_until_ms: AtomicU64::new(0),
            keys: DashMap::new(),
            dirty: Default::default(),
            leftovers: Default::default(),
            wake: tokio::sync::Notify::new(),
            round_trips: AtomicU64::new(0),
        });
        tokio::spawn(send_batches(Arc::downgrade(&limiter)));
        limiter
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

    /// One key's part of a `count` script call: its window `index` and the one before, then
    /// (ARGV) what to add, the limit (-1: none), the expiry, the window and the time into it.
    fn count_key(
        call: &mut redis::ScriptInvocation<'_>,
        key: &str,
        index: u64,
        add: u64,
        limit: i64,
        window_ms: u64,
        now: u64,
    ) {
        call.key(Self::key(key, index))
            .key(Self::key(key, index.saturating_sub(1)))
            .arg(add)
            .arg(limit)
            .arg(window_ms * 2)
            .arg(window_ms)
            .arg(now % window_ms);
    }

    /// This replica's view of `key` in the current window (a new window starts from nothing; its
    /// predecessor's unsent hits are kept to be sent).
    fn view<'a>(
        &'a self,
        key: &str,
        window_ms: u64,
        index: u64,
    ) -> dashmap::mapref::one::RefMut<'a, String, Shared> {
        // A known key (the busy case) is found without allocating its name.
        let mut e = match self.keys.get_mut(key) {
            Some(e) => e,
            None => self
                .keys
                .entry(key.to_string())
                .or_insert_with(|| Shared::new(window_ms, index)),
        };
        if e.window_ms != window_ms || e.index != index {
            if e.pending > 0 {
                self.leftovers.lock().unwrap().push(Batch {
                    key: key.to_string(),
                    window_ms: e.window_ms,
                    index: e.index,
                    add: e.pending,
                });
            }
            *e = Shared::new(window_ms, index);
        }
        e
    }

    /// Every hit decided in process, or `None` when one of them must ask Redis. Decided hits
    /// are counted as pending.
    fn decide_locally(
        &self,
        hits: &[(&str, u64)],
        window_ms: u64,
        now: u64,
    ) -> Option<RateDecision> {
        let index = now / window_ms;
        let mut last = None;
        for (key, limit) in hits {
            if *limit < LOCAL_MIN_LIMIT {
                return None;
            }
            let v = self.view(key, window_ms, index);
            // Unsent hits are what the other replicas cannot see: a twentieth of the limit at
            // most, so two replicas together stay within the tenth of headroom.
            if now.saturating_sub(v.synced_at_ms) > FRESH_MS || v.pending + v.inflight >= limit / 20
            {
                return None;
            }
            let count = v.synced + v.inflight + v.pending + 1;
            let d = decide(count, v.previous, limit - limit / 10, window_ms, now);
            if !d.allowed {
                return None;
            }
            last = Some(decide(count, v.previous, *limit, window_ms, now));
        }
        // All within: count them (a hit racing in between at worst moves a count by one).
        for (key, _) in hits {
            let mut v = self.view(key, window_ms, index);
            v.pending += 1;
            if v.pending == 1 {
                self.dirty.lock().unwrap().push(key.to_string());
            }
        }
        self.wake.notify_one();
        last
    }

    /// Adds to the keys' counts in Redis and reads them back, stopping after the first key over
    /// its limit; each key's pending hits go along. `None` when Redis failed (the pending hits
    /// are kept). Updates this replica's view of the keys Redis counted.
    async fn ask(&self, asks: &[Ask<'_>], window_ms: u64, now: u64) -> Option<Vec<(u64, u64)>> {
        let index = now / window_ms;
        let mut taken = Vec::with_capacity(asks.len());
        let mut call = self.count.prepare_invoke();
        for ask in asks {
            let pending = {
                let mut v = self.view(ask.key, window_ms, index);
                let p = std::mem::take(&mut v.pending);
                v.inflight += p;
                p
            };
            taken.push(pending);
            let limit = ask.limit.map_or(-1, |l| l as i64);
            let add = ask.add + pending;
            Self::count_key(&mut call, ask.key, index, add, limit, window_ms, now);
        }
        let mut conn = self.conn.clone();
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let res: redis::RedisResult<Vec<u64>> = call.invoke_async(&mut conn).await;
        let counted = match &res {
            Ok(out) => out.len() / 2,
            Err(_) => 0,
        };
        let read_at = now_ms();
        for (i, (ask, pending)) in asks.iter().zip(taken).enumerate() {
            let Some(mut v) = self.keys.get_mut(ask.key) else {
                continue;
            };
            if v.index != index || v.window_ms != window_ms {
                continue;
            }
            v.inflight = v.inflight.saturating_sub(pending);
            match &res {
                Ok(out) if i < counted => {
                    v.synced = v.synced.max(out[2 * i]);
                    v.previous = out[2 * i + 1];
                    v.synced_at_ms = read_at;
                }
                // Not counted by Redis: still to be sent.
                _ if pending > 0 => {
                    if v.pending == 0 {
                        self.dirty.lock().unwrap().push(ask.key.to_string());
                    }
                    v.pending += pending;
                }
                _ => {}
            }
        }
        match res {
            Ok(out) => {
                self.answered();
                Some(out.chunks(2).map(|p| (p[0], p[1])).collect())
            }
            Err(e) => {
                self.unavailable(&e, now);
                None
            }
        }
    }

    /// Sends the hits counted in process since the last batch, in one round trip.
    async fn send_pending(&self) {
        let keys = std::mem::take(&mut *self.dirty.lock().unwrap());
        let leftovers = std::mem::take(&mut *self.leftovers.lock().unwrap());
        let now = now_ms();
        if now < self.skip_until_ms.load(Ordering::Relaxed) {
            // Redis is down: what was counted here stays with the in-process fallback's view.
            return;
        }
        // Keys of one window length go together (their window index is the same).
        let mut by_window: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
        for key in keys {
            if let Some(v) = self.keys.get(&key) {
                if v.pending > 0 {
                    by_window.entry(v.window_ms).or_default().push(key);
                }
            }
        }
        for (window_ms, keys) in by_window {
            let asks: Vec<Ask> = keys
                .iter()
                .map(|key| Ask {
                    key,
                    add: 0,
                    limit: None,
                })
                .collect();
            // On failure the hits stay pending, to go with a later batch.
            self.ask(&asks, window_ms, now).await;
        }
        if !leftovers.is_empty() {
            let mut call = self.count.prepare_invoke();
            for b in &leftovers {
                // Its window is over: no limit to weigh, any instant of it will do.
                let at = b.index * b.window_ms;
                Self::count_key(&mut call, &b.key, b.index, b.add, -1, b.window_ms, at);
            }
            let mut conn = self.conn.clone();
            let res: redis::RedisResult<Vec<u64>> = call.invoke_async(&mut conn).await;
            if let Err(e) = res {
                self.unavailable(&e, now);
            }
        }
    }

    /// Forgets views that no longer weigh in.
    fn sweep(&self) {
        let now = now_ms();
        self.keys
            .retain(|_, v| v.pending > 0 || v.inflight > 0 || v.index + 1 >= now / v.window_ms);
    }
}

/// Sends locally counted hits [`FLUSH_MS`] after the first of a batch, until the limiter is gone.
async fn send_batches(limiter: std::sync::Weak<RedisLimiter>) {
    let mut last_sweep = now_ms();
    loop {
        let Some(l) = limiter.upgrade() else { return };
        // Woken by a local hit, or now and then to sweep.
        let woken = tokio::time::timeout(Duration::from_secs(60), l.wake.notified())
            .await
            .is_ok();
        if woken {
            tokio::time::sleep(Duration::from_millis(FLUSH_MS)).await;
            l.send_pending().await;
        }
        if now_ms().saturating_sub(last_sweep) > 60_000 {
            l.sweep();
            last_sweep = now_ms();
        }
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
        if let Some(d) = self.decide_locally(hits, window_ms, now) {
            return d;
        }
        let asks: Vec<Ask> = hits
            .iter()
            .map(|(key, limit)| Ask {
                key,
                add: 1,
                limit: Some(*limit),
            })
            .collect();
        match self.ask(&asks, window_ms, now).await {
            Some(counts) if !counts.is_empty() => {
                let mut last = None;
                for ((c, p), (_, limit)) in counts.into_iter().zip(hits) {
                    let d = decide(c, p, *limit, window_ms, now);
                    if !d.allowed {
                        return d;
                    }
                    last = Some(d);
                }
                last.expect("at least one limit")
            }
            _ => one_by_one(self.fallback.as_ref(), hits, window).await,
        }
    }

    async fn reset(&self, key: &str, window: Duration) {
        let window_ms = window.as_millis().max(1) as u64;
        let index = now_ms() / window_ms;
        self.keys.remove(key);
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

    async fn redis_limiters(n: usize) -> Vec<Arc<RedisLimiter>> {
        let url = std::env::var("DBAAS_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let mut out = Vec::new();
        for _ in 0..n {
            let client = redis::Client::open(url.as_str()).unwrap();
            let conn = redis::aio::ConnectionManager::new(client)
                .await
                .expect("Redis on DBAAS_TEST_REDIS_URL (default 127.0.0.1:6379)");
            out.push(RedisLimiter::new(conn, Arc::new(LocalLimiter::default())));
        }
        out
    }

    fn unique_key(name: &str) -> String {
        format!("test:{name}:{}", uuid::Uuid::new_v4())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_limits_are_exact_across_replicas() {
        let replicas = redis_limiters(2).await;
        let key = unique_key("small");
        let mut allowed = 0;
        for i in 0..12 {
            if replicas[i % 2].hit(&key, 5, MINUTE).await.allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 5);
        // every hit asked Redis
        let trips: u64 = replicas
            .iter()
            .map(|r| r.round_trips.load(Ordering::Relaxed))
            .sum();
        assert!(trips >= 12, "{trips} round trips for 12 hits");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn busy_keys_are_counted_in_process_and_the_limit_holds_across_replicas() {
        let replicas = redis_limiters(2).await;
        let key = unique_key("busy");
        let limit = 1_000;
        let mut allowed = 0;
        // An hour's window: a test of a second or two almost never spans two of them (and the
        // count below adds both when it does).
        let first = now_ms() / HOUR.as_millis() as u64;
        for i in 0..1_500 {
            if replicas[i % 2].hit(&key, limit, HOUR).await.allowed {
                allowed += 1;
            }
        }
        // Near the limit every hit asks Redis, with what the replica had not sent yet.
        assert!(
            (limit - limit / 10..=limit).contains(&allowed),
            "{allowed} of 1,500 hits allowed at a limit of {limit}"
        );
        let trips: u64 = replicas
            .iter()
            .map(|r| r.round_trips.load(Ordering::Relaxed))
            .sum();
        assert!(trips < 1_000, "{trips} round trips for 1,500 hits");
        // What was counted in process reaches Redis: the shared count covers every hit counted
        // (a refused hit that asked Redis is counted too).
        let last = now_ms() / HOUR.as_millis() as u64;
        let mut conn = replicas[0].conn.clone();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mut n = 0;
            for index in first..=last {
                let c: Option<u64> = redis::cmd("GET")
                    .arg(RedisLimiter::key(&key, index))
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                n += c.unwrap_or(0);
            }
            if n >= allowed || std::time::Instant::now() > deadline {
                assert!(n >= allowed, "Redis holds {n}, {allowed} were allowed");
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
