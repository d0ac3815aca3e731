//! The simulated cluster's clock for backup schedules and snapshot ages: real time plus an
//! offset that tests move forward, so a nightly schedule or a 30-day retention runs in seconds.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// Shared: every clone sees the same offset.
#[derive(Clone)]
pub struct SimClock {
    inner: Arc<Inner>,
}

struct Inner {
    offset_ms: AtomicI64,
    /// Counts advances; watchers wake on each.
    advanced: watch::Sender<u64>,
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for SimClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimClock")
            .field("offset", &self.offset())
            .finish()
    }
}

impl SimClock {
    /// A clock at real time (offset zero).
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                offset_ms: AtomicI64::new(0),
                advanced: watch::channel(0).0,
            }),
        }
    }

    /// Real time plus the offset.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.inner.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves the clock forward (it never goes back); schedules due in between fire once.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.inner.offset_ms.fetch_add(ms, Ordering::SeqCst);
        self.inner.advanced.send_modify(|n| *n += 1);
    }

    /// How far ahead of real time the clock is.
    pub fn offset(&self) -> Duration {
        Duration::from_millis(
            u64::try_from(self.inner.offset_ms.load(Ordering::SeqCst)).unwrap_or_default(),
        )
    }

    /// Changes on every [`advance`](Self::advance).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.advanced.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_are_shared_and_seen() {
        let c = SimClock::new();
        let other = c.clone();
        let rx = c.subscribe();
        let before = c.now();
        other.advance(Duration::from_secs(3600));
        assert!(c.now() - before >= chrono::Duration::seconds(3600));
        assert_eq!(c.offset(), Duration::from_secs(3600));
        assert!(rx.has_changed().expect("sender alive"));
    }
}
