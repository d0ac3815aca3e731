//! argon2id password hashing, off the async threads, through a bounded gate.
//!
//! One argon2id hash or verification holds ~19 MiB (m = 19456 KiB) while it runs, so a burst of
//! sign-ups or logins with no bound turns into hundreds of MB. Every hash and verification goes
//! through the process's [`Passwords`] (in `AppState`): at most `permits` run at once, the rest
//! wait up to `max_wait` for a turn and then get 503 `unavailable` with `Retry-After`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::http::{header, HeaderValue};
use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// An argon2id PHC string of `password`, computed when the gate gives it a turn (503 otherwise).
/// The one way to hash a password: pass `&state.passwords`.
pub async fn hash(gate: &Passwords, password: String) -> Result<String, ApiError> {
    gate.hash(password).await
}

/// Whether `password` matches the PHC string `hash`, checked when the gate gives it a turn (503
/// otherwise). With `hash = None` it still does the work of a verification, so that "no such
/// user" takes as long as "wrong password".
pub async fn verify(
    gate: &Passwords,
    password: String,
    hash: Option<String>,
) -> Result<bool, ApiError> {
    gate.verify(password, hash).await
}

/// The gate every password hash and verification passes, with its metrics.
pub struct Passwords {
    permits: Arc<Semaphore>,
    size: usize,
    max_wait: Duration,
    /// Work running now, and the most that ever ran at once (kept here: a gauge has no max).
    running: Arc<AtomicI64>,
    peak: Arc<AtomicI64>,
    registry: Registry,
    in_flight: IntGauge,
    in_flight_max: IntGauge,
    done: IntCounterVec,
    rejected: IntCounter,
}

/// Counts one piece of work as running until it is dropped (inside the blocking task, so that a
/// request given up by its client still counts until the hash really ends).
struct Running {
    running: Arc<AtomicI64>,
    gauge: IntGauge,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.gauge.dec();
    }
}

impl Passwords {
    /// A gate letting `permits` (at least one) hashes run at once; the rest wait up to `max_wait`.
    pub fn new(permits: usize, max_wait: Duration) -> Self {
        let size = permits.max(1);
        let registry =
            Registry::new_custom(Some("dbaas".into()), None).expect("static prefix is valid");
        let in_flight = IntGauge::new(
            "password_hashes_in_flight",
            "Password hashes and verifications running now",
        )
        .expect("static metric");
        let in_flight_max = IntGauge::new(
            "password_hashes_in_flight_max",
            "The most password hashes and verifications that ran at once since start",
        )
        .expect("static metric");
        let permits_gauge = IntGauge::new(
            "password_hash_permits",
            "Password hashes and verifications allowed to run at once",
        )
        .expect("static metric");
        permits_gauge.set(size as i64);
        let done = IntCounterVec::new(
            Opts::new(
                "password_hashes_total",
                "Password hashes (op=hash) and verifications (op=verify) run",
            ),
            &["op"],
        )
        .expect("static metric");
        let rejected = IntCounter::new(
            "password_hashes_rejected_total",
            "Password checks refused with 503 after waiting too long for a turn",
        )
        .expect("static metric");
        for c in [
            Box::new(in_flight.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(in_flight_max.clone()),
            Box::new(permits_gauge),
            Box::new(done.clone()),
            Box::new(rejected.clone()),
        ] {
            registry.register(c).expect("metrics are registered once");
        }
        // Both series exist from the start, so a scrape shows 0 rather than nothing.
        done.with_label_values(&["hash"]);
        done.with_label_values(&["verify"]);
        Passwords {
            permits: Arc::new(Semaphore::new(size)),
            size,
            max_wait,
            running: Arc::new(AtomicI64::new(0)),
            peak: Arc::new(AtomicI64::new(0)),
            registry,
            in_flight,
            in_flight_max,
            done,
            rejected,
        }
    }

    /// How many may run at once.
    pub fn permits(&self) -> usize {
        self.size
    }

    /// The most that ran at once so far.
    pub fn peak(&self) -> i64 {
        self.peak.load(Ordering::SeqCst)
    }

    async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.run("hash", move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
        })
        .await?
        .map_err(|_| ApiError::internal())
    }

    async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        self.run("verify", move || {
            let target = hash.unwrap_or_else(|| DUMMY_HASH.to_string());
            match PasswordHash::new(&target) {
                Ok(parsed) => {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                        && target != DUMMY_HASH
                }
                Err(_) => false,
            }
        })
        .await
    }

    /// Runs `work` on the blocking pool once a permit is free; 503 when none frees up in time.
    async fn run<T: Send + 'static>(
        &self,
        op: &'static str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit =
            match tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned()).await {
                Ok(Ok(p)) => p,
                // Timed out (or the semaphore closed, which it never is).
                _ => {
                    self.rejected.inc();
                    return Err(busy());
                }
            };
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.in_flight.inc();
        let running = Running {
            running: self.running.clone(),
            gauge: self.in_flight.clone(),
        };
        let done = self.done.with_label_values(&[op]);
        tokio::task::spawn_blocking(move || {
            // The permit and the count go with the work: they end when the hash ends, even if the
            // request that started it is gone.
            let _permit = permit;
            let _running = running;
            let out = work();
            done.inc();
            out
        })
        .await
        .map_err(|_| ApiError::internal())
    }

    /// The gate's metrics in Prometheus text format.
    pub fn render(&self) -> String {
        self.in_flight_max.set(self.peak());
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding of gathered metrics");
        String::from_utf8(buf).unwrap_or_default()
    }
}

fn busy() -> ApiError {
    ApiError::unavailable("Too many password checks in progress; retry in 1 s")
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
}

/// An argon2id hash of a random string nobody knows, verified against when the user does not exist.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG0BeD7ja9GbM";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let p = Passwords::new(2, Duration::from_secs(60));
        let h = p.hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(p
            .verify("correct horse battery".into(), Some(h.clone()))
            .await
            .unwrap());
        assert!(!p
            .verify("wrong horse battery".into(), Some(h))
            .await
            .unwrap());
        assert!(!p.verify("anything".into(), None).await.unwrap());
        let text = p.render();
        assert!(
            text.contains("dbaas_password_hashes_total{op=\"hash\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("dbaas_password_hashes_total{op=\"verify\"} 3"),
            "{text}"
        );
        assert!(text.contains("dbaas_password_hash_permits 2"), "{text}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_gate_bounds_concurrency() {
        let p = Arc::new(Passwords::new(2, Duration::from_secs(600)));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let p = p.clone();
                tokio::spawn(async move { p.hash(format!("password-{i}")).await })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        // Eight hashes ran, never more than two at once.
        assert!((1..=2).contains(&p.peak()), "peak {}", p.peak());
        assert_eq!(p.done.with_label_values(&["hash"]).get(), 8);
        assert_eq!(p.in_flight.get(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn excess_waits_then_gets_503_with_retry_after() {
        let p = Arc::new(Passwords::new(1, Duration::from_millis(50)));
        // Hold the only permit, as a long hash would.
        let held = p.permits.clone().acquire_owned().await.unwrap();
        let err = p.hash("password-123".into()).await.unwrap_err();
        let resp = axum::response::IntoResponse::into_response(err);
        assert_eq!(resp.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        assert_eq!(p.rejected.get(), 1);
        assert_eq!(p.done.with_label_values(&["hash"]).get(), 0);
        drop(held);
        assert!(p.hash("password-123".into()).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_request_keeps_its_permit_until_the_hash_ends() {
        let p = Arc::new(Passwords::new(1, Duration::from_secs(600)));
        let first = {
            let p = p.clone();
            tokio::spawn(async move { p.hash("password-123".into()).await })
        };
        // Wait (with a generous deadline) until the hash is running, then give up on it.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while p.in_flight.get() == 0 {
            assert!(std::time::Instant::now() < deadline, "hash never started");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        first.abort();
        let _ = first.await;
        // The blocking hash still runs; the next one must wait for it, so never two at once.
        assert!(p.hash("password-456".into()).await.is_ok());
        assert_eq!(p.peak(), 1);
    }
}
