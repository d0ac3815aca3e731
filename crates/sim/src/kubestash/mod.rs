//! The simulated KubeStash (kubedb-api §7): controllers on `DynamicObject` over a `kube::Client`,
//! like the simulated KubeDB operator, for `storage.kubestash.com` and `core.kubestash.com`.
//!
//! - BackupStorage: checks its S3 bucket with the backend secret's keys → Ready/NotReady;
//! - BackupConfiguration: validates target, backends and addon, creates the Repositories and
//!   schedules BackupSessions by cron on the [`SimClock`];
//! - BackupSession: one Snapshot per repository, whose data (the database's content marker) is
//!   written to the real bucket, then the retention policy;
//! - RestoreSession: reads a Snapshot's object back, checks it and writes the content marker
//!   onto the target database (`DataRestored`).
//!
//! All progress lives in object status, so a restarted controller resumes. Timestamps come from
//! the [`SimClock`], so tests move time forward to fire schedules and age snapshots.

mod backup;
mod clock;
mod config;
mod restore;
mod storage;
mod util;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use tokio::sync::mpsc;

use crate::faults::Faults;
use crate::operator::OperatorError;

pub use clock::SimClock;
pub use util::{dump_key, format_duration, human_size, parse_retention_period};

/// The annotation that holds a simulated database's data: backups capture it, restores set it.
pub const CONTENT_ANNOTATION: &str = "sim.kubedb.dev/content";
/// On a RestoreSession: the uid of the database it restored (so a later database of the same
/// name is not mistaken for it).
const TARGET_UID_ANNOTATION: &str = "sim.kubedb.dev/restored-target-uid";

pub const STORAGE_GROUP: &str = "storage.kubestash.com";
pub const CORE_GROUP: &str = "core.kubestash.com";
pub const VERSION: &str = "v1alpha1";

/// Timings and options of the simulated KubeStash.
#[derive(Debug, Clone)]
pub struct KubeStashConfig {
    /// Run it (when the API server serves the KubeStash CRDs and the operator runs).
    pub enabled: bool,
    /// How long each step of a backup or restore takes (zero in tests and benchmarks).
    pub backup_step_delay: Duration,
    /// Trigger one backup right after a BackupConfiguration becomes Ready (KubeStash v2026.7.10).
    pub backup_on_ready: bool,
    /// How often a BackupStorage's bucket is checked again.
    pub storage_recheck: Duration,
}

impl Default for KubeStashConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            backup_step_delay: Duration::from_secs(1),
            backup_on_ready: false,
            storage_recheck: Duration::from_secs(30),
        }
    }
}

pub(crate) fn storage_ar(kind: &str, plural: &str) -> ApiResource {
    crate::operator::children::ar(&format!("{STORAGE_GROUP}/{VERSION}"), kind, plural)
}
pub(crate) fn core_ar(kind: &str, plural: &str) -> ApiResource {
    crate::operator::children::ar(&format!("{CORE_GROUP}/{VERSION}"), kind, plural)
}
pub(crate) fn backupstorages() -> ApiResource {
    storage_ar("BackupStorage", "backupstorages")
}
pub(crate) fn retentionpolicies() -> ApiResource {
    storage_ar("RetentionPolicy", "retentionpolicies")
}
pub(crate) fn repositories() -> ApiResource {
    storage_ar("Repository", "repositories")
}
pub(crate) fn snapshots() -> ApiResource {
    storage_ar("Snapshot", "snapshots")
}
pub(crate) fn backupconfigurations() -> ApiResource {
    core_ar("BackupConfiguration", "backupconfigurations")
}
pub(crate) fn backupsessions() -> ApiResource {
    core_ar("BackupSession", "backupsessions")
}
pub(crate) fn restoresessions() -> ApiResource {
    core_ar("RestoreSession", "restoresessions")
}

/// Shared by all KubeStash reconciles.
pub(crate) struct Ctx {
    pub client: kube::Client,
    pub config: KubeStashConfig,
    pub faults: Arc<Faults>,
    pub clock: SimClock,
    /// Asks every BackupConfiguration to reconcile (a storage changed, a backup ended).
    pub kick_configs: mpsc::UnboundedSender<()>,
    /// `namespace/bc/session` → the fire time already handled, so a reconcile that runs from a
    /// cached object without the last status write does not fire the same slot twice.
    pub fired: parking_lot::Mutex<std::collections::HashMap<String, chrono::DateTime<chrono::Utc>>>,
}

impl Ctx {
    pub fn api(&self, ns: &str, ar: &ApiResource) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), ns, ar)
    }
}

const SERVED: [(&str, &[&str]); 2] = [
    (
        STORAGE_GROUP,
        &[
            "backupstorages",
            "retentionpolicies",
            "repositories",
            "snapshots",
        ],
    ),
    (
        CORE_GROUP,
        &["backupconfigurations", "backupsessions", "restoresessions"],
    ),
];

/// Whether the API server serves every KubeStash resource the controllers use.
pub async fn crds_served(client: &kube::Client) -> bool {
    for (group, plurals) in SERVED {
        let Ok(list) = client
            .list_api_group_resources(&format!("{group}/{VERSION}"))
            .await
        else {
            return false;
        };
        if !plurals
            .iter()
            .all(|p| list.resources.iter().any(|r| r.name == *p))
        {
            return false;
        }
    }
    true
}

/// Runs the controllers until the client's server goes away for good. Waits (quietly) while
/// the KubeStash CRDs are not served, so a cluster without them simply has no KubeStash.
pub async fn run(
    client: kube::Client,
    config: KubeStashConfig,
    faults: Arc<Faults>,
    clock: SimClock,
) -> anyhow::Result<()> {
    let mut logged = false;
    while !crds_served(&client).await {
        if !logged {
            tracing::info!("KubeStash CRDs not served; the simulated KubeStash waits for them");
            logged = true;
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    tracing::info!("simulated KubeStash running");
    let (kick_configs, configs_rx) = mpsc::unbounded_channel::<()>();
    let (kick_storages, storages_rx) = mpsc::unbounded_channel::<()>();
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        config,
        faults: faults.clone(),
        clock: clock.clone(),
        kick_configs: kick_configs.clone(),
        fired: Default::default(),
    });

    let all = |ar: &ApiResource| Api::<DynamicObject>::all_with(client.clone(), ar);

    let storages = Controller::new_with(
        all(&backupstorages()),
        watcher::Config::default(),
        backupstorages(),
    )
    .reconcile_all_on(tokio_stream::wrappers::UnboundedReceiverStream::new(
        storages_rx,
    ))
    .run(storage::reconcile, error_policy, ctx.clone())
    .for_each(|r| log_result("BackupStorage", r));

    // Clock jumps and kicks make every BackupConfiguration look at its schedule again.
    let clock_ticks = tokio_stream::wrappers::WatchStream::new(clock.subscribe()).map(|_| ());
    let configs_trigger = futures::stream::select(
        tokio_stream::wrappers::UnboundedReceiverStream::new(configs_rx),
        clock_ticks,
    );
    let configs = Controller::new_with(
        all(&backupconfigurations()),
        watcher::Config::default(),
        backupconfigurations(),
    )
    .reconcile_all_on(configs_trigger)
    .run(config::reconcile, error_policy, ctx.clone())
    .for_each(|r| log_result("BackupConfiguration", r));

    let sessions = Controller::new_with(
        all(&backupsessions()),
        watcher::Config::default(),
        backupsessions(),
    )
    .run(backup::reconcile, error_policy, ctx.clone())
    .for_each(|r| log_result("BackupSession", r));

    let restores = Controller::new_with(
        all(&restoresessions()),
        watcher::Config::default(),
        restoresessions(),
    )
    .run(restore::reconcile, error_policy, ctx.clone())
    .for_each(|r| log_result("RestoreSession", r));

    tokio::select! {
        _ = futures::future::join4(storages, configs, sessions, restores) => {}
        _ = watch_faults(faults, kick_storages, kick_configs) => {}
    }
    Ok(())
}

async fn log_result<T, E: std::fmt::Display>(what: &'static str, res: Result<T, E>) {
    if let Err(e) = res {
        tracing::debug!(error = %e, "simulated KubeStash {what} reconcile error");
    }
}

fn error_policy(_obj: Arc<DynamicObject>, err: &OperatorError, _ctx: Arc<Ctx>) -> Action {
    tracing::debug!(error = %err, "KubeStash reconcile failed; retrying");
    Action::requeue(Duration::from_millis(500))
}

/// Rechecks every BackupStorage (and so every BackupConfiguration) at once when the S3 fault
/// flips, instead of at the next periodic check.
async fn watch_faults(
    faults: Arc<Faults>,
    kick_storages: mpsc::UnboundedSender<()>,
    kick_configs: mpsc::UnboundedSender<()>,
) {
    let mut last = faults.s3_unavailable();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = faults.s3_unavailable();
        if now != last {
            let _ = kick_storages.send(());
            let _ = kick_configs.send(());
            last = now;
        }
    }
}
