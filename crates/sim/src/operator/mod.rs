//! The simulated KubeDB operator: an ordinary controller over a `kube::Client`, so it runs
//! in-process against the simulated API server or on its own against any cluster.
//!
//! One `kube::runtime::Controller` per database kind. OpsRequests trigger the reconcile of the
//! database they point at, so each database's requests are handled by that database's
//! reconcile, one at a time and in creation order. All progress lives in the objects'
//! status (condition timestamps), so a restarted operator picks up where it stopped.
//! Transitions (a database's phase, an OpsRequest's phase and steps) are told as core/v1 Events,
//! one per transition, best effort.

pub(crate) mod children;
pub(crate) mod conditions;
mod database;
mod events;
mod ops;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use provider::kubedb::names::{self, EngineMeta, DB_GROUP, DB_VERSION, OPS_GROUP, OPS_VERSION};

use crate::faults::Faults;

/// Timings of the simulated operator.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// From `ProvisioningStarted` (or resume) until the database turns Ready.
    pub provisioning_delay: Duration,
    /// Length of each step of an OpsRequest.
    pub step_delay: Duration,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            provisioning_delay: Duration::from_secs(3),
            step_delay: Duration::from_secs(2),
        }
    }
}

/// Steady-state resync of a settled database (its drift, e.g. a deleted pod, is repaired then).
/// Changes of the database, its OpsRequests and fault settings trigger a reconcile at once; the
/// resync costs six API requests per database, so at 10,000 databases every 30 s took most of
/// a core.
const RESYNC: Duration = Duration::from_secs(300);
/// How often fault settings are checked for forced-phase changes.
const FAULT_POLL: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("object {0} has no name")]
    Unnamed(String),
    #[error("encoding object: {0}")]
    Json(#[from] serde_json::Error),
}

/// Shared by all reconciles of one database kind.
pub(crate) struct Ctx {
    pub client: kube::Client,
    pub config: OperatorConfig,
    pub faults: Arc<Faults>,
    pub meta: &'static EngineMeta,
    pub db_ar: ApiResource,
    pub ops_ar: ApiResource,
    /// Shared by all kinds: which transitions have had their Event.
    pub events: Arc<events::Recorder>,
}

pub(crate) fn db_resource(meta: &EngineMeta) -> ApiResource {
    ApiResource {
        group: DB_GROUP.into(),
        version: DB_VERSION.into(),
        api_version: format!("{DB_GROUP}/{DB_VERSION}"),
        kind: meta.kind.into(),
        plural: meta.plural.into(),
    }
}

pub(crate) fn ops_resource(meta: &EngineMeta) -> ApiResource {
    ApiResource {
        group: OPS_GROUP.into(),
        version: OPS_VERSION.into(),
        api_version: format!("{OPS_GROUP}/{OPS_VERSION}"),
        kind: meta.ops_kind.into(),
        plural: meta.ops_plural.into(),
    }
}

/// Runs the operator until the client's server goes away for good (never returns otherwise).
pub async fn run(
    client: kube::Client,
    config: OperatorConfig,
    faults: Arc<Faults>,
) -> anyhow::Result<()> {
    let mut contexts = Vec::new();
    let mut controllers = Vec::new();
    let recorder = Arc::new(events::Recorder::default());
    for meta in names::ALL_DB_KINDS.iter() {
        let db_ar = db_resource(meta);
        let ops_ar = ops_resource(meta);
        let ctx = Arc::new(Ctx {
            client: client.clone(),
            config: config.clone(),
            faults: faults.clone(),
            meta,
            db_ar: db_ar.clone(),
            ops_ar: ops_ar.clone(),
            events: recorder.clone(),
        });
        contexts.push(ctx.clone());
        let dbs: Api<DynamicObject> = Api::all_with(client.clone(), &db_ar);
        let opses: Api<DynamicObject> = Api::all_with(client.clone(), &ops_ar);
        let map_ar = db_ar.clone();
        let controller = Controller::new_with(dbs, watcher::Config::default(), db_ar)
            .watches_with(
                opses,
                ops_ar,
                watcher::Config::default(),
                move |op: DynamicObject| {
                    let ns = op.metadata.namespace.clone().unwrap_or_default();
                    let db = op.data["spec"]["databaseRef"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    (!db.is_empty()).then(|| ObjectRef::new_with(&db, map_ar.clone()).within(&ns))
                },
            )
            .run(database::reconcile, error_policy, ctx)
            .for_each(|res| async move {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "simulated operator reconcile error");
                }
            });
        controllers.push(controller);
    }
    tokio::select! {
        _ = futures::future::join_all(controllers) => {}
        _ = watch_faults(faults, contexts) => {}
    }
    Ok(())
}

fn error_policy(_obj: Arc<DynamicObject>, err: &OperatorError, _ctx: Arc<Ctx>) -> Action {
    tracing::debug!(error = %err, "reconcile failed; retrying");
    Action::requeue(Duration::from_millis(500))
}

/// Re-reconciles databases whose forced phase changed, so fault injection takes effect at once
/// (a reconcile is idempotent, so running one beside the controller's is harmless).
async fn watch_faults(faults: Arc<Faults>, contexts: Vec<Arc<Ctx>>) {
    let mut last: HashMap<String, String> = HashMap::new();
    loop {
        let now = faults.get().force_db_phase;
        let changed: Vec<String> = now
            .iter()
            .filter(|(k, v)| last.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .chain(last.keys().filter(|k| !now.contains_key(*k)).cloned())
            .collect();
        for key in changed {
            let Some((ns, name)) = key.split_once('/') else {
                continue;
            };
            for ctx in &contexts {
                let api: Api<DynamicObject> =
                    Api::namespaced_with(ctx.client.clone(), ns, &ctx.db_ar);
                if let Ok(Some(db)) = api.get_opt(name).await {
                    if let Err(e) = database::reconcile(Arc::new(db), ctx.clone()).await {
                        tracing::debug!(error = %e, "fault-triggered reconcile failed");
                    }
                }
            }
        }
        last = now;
        tokio::time::sleep(FAULT_POLL).await;
    }
}
