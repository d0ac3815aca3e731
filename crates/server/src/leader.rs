//! Leader election: replicas on one store hold one lease (`leases` row `leader`, see the store);
//! the holder runs what must run once per platform – the status watchers, the provider health
//! checks, the maintenance scheduler, audit retention and the drift reconciler – while workers
//! run on every replica.
//! The lease lives in the store rather than in Redis because the store is always there (Redis is
//! optional) and its term can fence the leader's writes in the same transaction. On SQLite the
//! one serving process always wins it.

use std::time::Duration;

use chrono::Utc;
use store::Fence;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::signals::LeaderView;
use crate::state::AppState;

const LEASE: &str = "leader";

/// The loops of one term; stopped when the term ends.
struct Term {
    term: i64,
    stop: watch::Sender<bool>,
}

impl Term {
    fn begin(state: &AppState, term: i64) -> Term {
        let (stop, _) = watch::channel(false);
        // Every write of the term's loops carries it: it applies only while the term lasts.
        let fence = Fence {
            lease: LEASE.into(),
            holder: state.ops.replica_id.clone(),
            term,
        };
        crate::watchers::spawn_supervisor(state, fence.clone(), stop.subscribe());
        crate::health_check::spawn(state, fence.clone(), stop.subscribe());
        crate::workflows::maintenance::spawn(
            state,
            Duration::from_secs(state.config.maintenance_tick_secs.max(1)),
            fence.clone(),
            stop.subscribe(),
        );
        crate::reconciler::spawn(state, fence.clone(), stop.subscribe());
        spawn_audit_retention(state, fence, stop.subscribe());
        tracing::info!(term, replica = %state.ops.replica_id, "leading");
        Term { term, stop }
    }

    fn end(self, state: &AppState, why: &str) {
        let _ = self.stop.send(true);
        tracing::info!(term = self.term, replica = %state.ops.replica_id, "stopped leading: {why}");
    }
}

/// Campaigns for the lease until `stop`, renewing every third of its length; on stop, ends the
/// loops and hands the lease over at once.
pub fn spawn(state: &AppState, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let ttl = Duration::from_secs(state.config.leader_lease_secs.max(1));
        let me = state.ops.replica_id.clone();
        let mut leading: Option<Term> = None;
        let mut released = state.ops.lease_releases();
        // Until when the last successful renewal holds: past it, a replica that cannot reach the
        // store must assume another took over.
        let mut held_until = tokio::time::Instant::now();
        if state.store.backend() == "sqlite" {
            // One process serves a SQLite file: a lease left by its previous run (killed before
            // it could hand over) is stale, so take it over at once.
            match state.store.acquire_lease(LEASE, &me, ttl, Utc::now()).await {
                Ok(lease) if lease.holder != me => {
                    let _ = state
                        .store
                        .release_lease(LEASE, &lease.holder, Utc::now())
                        .await;
                }
                _ => {}
            }
        }
        loop {
            let asked = tokio::time::Instant::now();
            match state.store.acquire_lease(LEASE, &me, ttl, Utc::now()).await {
                Ok(lease) => {
                    let mine = lease.holder == me;
                    // Renewed only after the lease ran out: writes of the loops were refused
                    // meanwhile (their fence had expired), so they start again and re-read all.
                    let lapsed = mine && asked >= held_until;
                    if mine {
                        held_until = asked + ttl;
                    }
                    match (&leading, mine) {
                        (Some(t), true) if t.term == lease.term && !lapsed => {}
                        (_, true) => {
                            if let Some(old) = leading.take() {
                                old.end(&state, "a new term began");
                            }
                            leading = Some(Term::begin(&state, lease.term));
                        }
                        (Some(_), false) => {
                            if let Some(old) = leading.take() {
                                old.end(&state, &format!("{} holds the lease", lease.holder));
                            }
                        }
                        (None, false) => {}
                    }
                    state.metrics.leader.set(i64::from(mine));
                    state.metrics.leader_term.set(lease.term);
                    state.ops.set_leader(Some(LeaderView {
                        holder: lease.holder,
                        term: lease.term,
                        this_replica: mine,
                    }));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "renewing the leader lease failed");
                    if leading.is_some() && tokio::time::Instant::now() >= held_until {
                        if let Some(old) = leading.take() {
                            old.end(&state, "the lease could not be renewed in time");
                        }
                        state.metrics.leader.set(0);
                        if let Some(mut v) = state.ops.leader() {
                            v.this_replica = false;
                            state.ops.set_leader(Some(v));
                        }
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(ttl / 3) => {}
                // The leader handed the lease over (it is shutting down): take it now.
                _ = released.changed() => {}
                _ = stop.changed() => break,
            }
        }
        if let Some(t) = leading.take() {
            t.end(&state, "shutting down");
            if let Err(e) = state.store.release_lease(LEASE, &me, Utc::now()).await {
                tracing::warn!(error = %e, "handing the leader lease over failed");
            }
        }
        state.metrics.leader.set(0);
    })
}

/// Removes audit entries older than the retention period, hourly, while this replica leads.
fn spawn_audit_retention(state: &AppState, fence: Fence, mut stop: watch::Receiver<bool>) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let before = Utc::now()
                        - chrono::Duration::days(state.config.audit_retention_days as i64);
                    match state.store.purge_audit_before(before, Some(&fence)).await {
                        Ok(n) => {
                            state.metrics.audit_purged.set(n as i64);
                            if n > 0 {
                                tracing::info!(purged = n, "audit retention");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "audit retention failed"),
                    }
                }
                _ = stop.changed() => break,
            }
        }
    });
}
