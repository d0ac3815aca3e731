//! In-process signals between request handlers, workers and watchers on one replica.

use std::time::Duration;

use tokio::sync::{broadcast, watch};

pub struct Signals {
    /// Names this replica's workers (lease owners), so a lease shows who holds it.
    pub replica_id: String,
    /// Bumped whenever an operation may have become runnable.
    wake: watch::Sender<u64>,
    /// Ids of databases whose observed state changed (a watcher wrote it) or whose operation ended.
    changed: broadcast::Sender<String>,
    /// Bumped when a provider is added, changed or removed on this replica (watchers restart).
    providers: watch::Sender<u64>,
    /// True once the server shuts down: long-lived responses (event streams) end so that the
    /// graceful shutdown, which waits for open requests, can finish.
    shutting_down: watch::Sender<bool>,
    /// The leader lease as this replica last saw it (None before the first look).
    leader: watch::Sender<Option<LeaderView>>,
    /// Bumped when another replica handed a lease over: campaign at once.
    lease_released: watch::Sender<u64>,
}

/// Who leads the platform, as one replica sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct LeaderView {
    /// The replica holding the lease.
    pub holder: String,
    /// Grows by one whenever the leader changes.
    pub term: i64,
    /// Whether this replica is the leader.
    pub this_replica: bool,
}

impl Default for Signals {
    fn default() -> Self {
        Self::new()
    }
}

impl Signals {
    pub fn new() -> Self {
        let (wake, _) = watch::channel(0);
        let (changed, _) = broadcast::channel(4096);
        let (providers, _) = watch::channel(0);
        let (shutting_down, _) = watch::channel(false);
        let (leader, _) = watch::channel(None);
        let (lease_released, _) = watch::channel(0);
        Signals {
            replica_id: format!("r{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            wake,
            changed,
            providers,
            shutting_down,
            leader,
            lease_released,
        }
    }

    pub fn set_leader(&self, view: Option<LeaderView>) {
        self.leader.send_replace(view);
    }

    pub fn leader(&self) -> Option<LeaderView> {
        self.leader.borrow().clone()
    }

    /// Ends the event streams (the server is shutting down).
    pub fn shut_down(&self) {
        self.shutting_down.send_replace(true);
    }

    pub fn shutting_down(&self) -> watch::Receiver<bool> {
        self.shutting_down.subscribe()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.wake.subscribe()
    }

    pub fn lease_released(&self) {
        self.lease_released.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn lease_releases(&self) -> watch::Receiver<u64> {
        self.lease_released.subscribe()
    }

    pub fn providers_changed(&self) -> watch::Receiver<u64> {
        self.providers.subscribe()
    }

    /// Call after writing a provider, so watchers follow the change at once.
    pub fn provider_changed(&self) {
        self.providers.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn wake_local(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A watcher saw something new about this database.
    pub fn database_changed(&self, id: &str) {
        let _ = self.changed.send(id.to_string());
    }

    pub fn operation_finished(&self, database_id: &str) {
        self.database_changed(database_id);
    }

    /// Subscribe before looking at the state, then `wait_for_change`: nothing is missed between.
    pub fn changes(&self) -> broadcast::Receiver<String> {
        self.changed.subscribe()
    }
}

/// Waits until database `id` changes or `max` passes (whichever first). A lagging receiver returns
/// early, which only makes the caller look again sooner.
pub async fn wait_for_change(rx: &mut broadcast::Receiver<String>, id: &str, max: Duration) {
    let _ = tokio::time::timeout(max, async {
        loop {
            match rx.recv().await {
                Ok(changed) if changed == id => return,
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    })
    .await;
}
