//! One merged event stream per cluster: the six database kinds the platform manages, their
//! OpsRequests, the Services KubeDB creates for them, and the NetworkPolicies and Secrets the
//! platform makes (so that drift in them is seen without reading per database). One watch per
//! kind in steady state, no polling.

use std::collections::{BTreeMap, HashMap, HashSet};

use domain::engine::Engine;
use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt};
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;

use crate::connect::Cluster;
use crate::kubedb::names::LABEL_INSTANCE;
use crate::observe::{observe_database, ObservedDatabase};
use crate::translate::{
    meta, LABEL_DATABASE_ID, LABEL_MANAGED_BY, LABEL_MANAGED_BY_VALUE, LABEL_OPERATION_ID,
};

#[derive(Debug, Clone, PartialEq)]
pub enum ClusterEvent {
    /// Applied/modified (also each object of an initial list or relist).
    Database(ObservedDatabase),
    DatabaseGone {
        engine: Engine,
        namespace: String,
        name: String,
        database_id: Option<String>,
    },
    Service {
        namespace: String,
        name: String,
        /// app.kubernetes.io/instance: the database the Service belongs to.
        instance: Option<String>,
    },
    /// One of the platform's OpsRequests was listed, or its phase changed (reported once per
    /// phase, and again for every object of a relist).
    OpsRequest {
        engine: Engine,
        namespace: String,
        name: String,
        /// Our `dbaas.io/database-id` label.
        database_id: Option<String>,
        /// Our `dbaas.io/operation-id` label.
        operation_id: Option<String>,
        /// status.phase
        phase: Option<String>,
    },
    /// A (re)list finished for that stream (`None` = the Services stream). Deletions that
    /// happened while disconnected have already been reported as `DatabaseGone`.
    Resynced { engine: Option<Engine> },
    /// One of the platform's NetworkPolicies or Secrets appeared (`present`) or went away
    /// (also what vanished while disconnected, reported after a relist).
    Child {
        kind: ChildKind,
        namespace: String,
        name: String,
        /// Our `dbaas.io/database-id` label.
        database_id: Option<String>,
        present: bool,
    },
    /// A (re)list of that child kind finished: from now on, what was not reported present is
    /// not there.
    ChildrenResynced { kind: ChildKind },
}

/// The children of a database the platform creates and watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChildKind {
    NetworkPolicy,
    Secret,
}

impl ChildKind {
    pub const ALL: [ChildKind; 2] = [ChildKind::NetworkPolicy, ChildKind::Secret];

    fn resource(self) -> kube::api::ApiResource {
        let (group, version, kind, plural) = match self {
            ChildKind::NetworkPolicy => (
                "networking.k8s.io",
                "v1",
                "NetworkPolicy",
                "networkpolicies",
            ),
            ChildKind::Secret => ("", "v1", "Secret", "secrets"),
        };
        kube::api::ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: if group.is_empty() {
                version.into()
            } else {
                format!("{group}/{version}")
            },
            kind: kind.into(),
            plural: plural.into(),
        }
    }
}

/// Label selector of the database watches.
pub fn database_selector() -> String {
    format!("{LABEL_MANAGED_BY}={LABEL_MANAGED_BY_VALUE}")
}

/// Label selector of the Services watch: KubeDB labels every Service it creates with
/// `app.kubernetes.io/name=<plural>.kubedb.com`. Matching on that rather than on
/// `managed-by=kubedb.com` keeps working if KubeDB copies the database's own labels (ours
/// included) onto its Services.
pub fn service_selector() -> String {
    let names: Vec<String> = Engine::ALL
        .iter()
        .map(|e| meta(*e).resource_label())
        .collect();
    format!(
        "{} in ({})",
        crate::kubedb::names::LABEL_NAME,
        names.join(",")
    )
}

type Key = (String, String);

/// Per-kind bookkeeping: what the stream has reported as present, so a relist can report what
/// vanished while the watch was down.
#[derive(Default)]
struct Seen {
    /// (namespace, name) → database id
    live: BTreeMap<Key, Option<String>>,
    /// Keys seen during the current relist (between Init and InitDone).
    relisting: Option<HashSet<Key>>,
}

impl Seen {
    fn relist_started(&mut self) {
        self.relisting = Some(HashSet::new());
    }

    /// Records `key` as present (and as listed, during a relist).
    fn present(&mut self, key: &Key, database_id: Option<String>) {
        if let Some(r) = self.relisting.as_mut() {
            r.insert(key.clone());
        }
        self.live.insert(key.clone(), database_id);
    }

    /// Ends a relist: what was present before but not listed again vanished meanwhile; those
    /// keys (with their database ids) are forgotten and returned.
    fn relist_done(&mut self) -> Vec<(Key, Option<String>)> {
        let listed = self.relisting.take().unwrap_or_default();
        let gone: Vec<Key> = self
            .live
            .keys()
            .filter(|k| !listed.contains(*k))
            .cloned()
            .collect();
        gone.into_iter()
            .map(|k| {
                let id = self.live.remove(&k).flatten();
                (k, id)
            })
            .collect()
    }
}

fn key_of(obj: &DynamicObject) -> Key {
    (
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone().unwrap_or_default(),
    )
}

fn database_events(engine: Engine, seen: &mut Seen, ev: Event<DynamicObject>) -> Vec<ClusterEvent> {
    match ev {
        Event::Init => {
            seen.relist_started();
            vec![]
        }
        Event::InitApply(obj) | Event::Apply(obj) => {
            let o = observe_database(engine, &obj);
            seen.present(&key_of(&obj), o.database_id.clone());
            vec![ClusterEvent::Database(o)]
        }
        Event::Delete(obj) => {
            let key = key_of(&obj);
            seen.live.remove(&key);
            let id = label(&obj, LABEL_DATABASE_ID);
            vec![ClusterEvent::DatabaseGone {
                engine,
                namespace: key.0,
                name: key.1,
                database_id: id,
            }]
        }
        Event::InitDone => {
            let mut out: Vec<ClusterEvent> = seen
                .relist_done()
                .into_iter()
                .map(|(k, id)| ClusterEvent::DatabaseGone {
                    engine,
                    namespace: k.0,
                    name: k.1,
                    database_id: id,
                })
                .collect();
            out.push(ClusterEvent::Resynced {
                engine: Some(engine),
            });
            out
        }
    }
}

fn child_events(kind: ChildKind, seen: &mut Seen, ev: Event<DynamicObject>) -> Vec<ClusterEvent> {
    let event = |key: Key, database_id, present| ClusterEvent::Child {
        kind,
        namespace: key.0,
        name: key.1,
        database_id,
        present,
    };
    match ev {
        Event::Init => {
            seen.relist_started();
            vec![]
        }
        Event::InitApply(obj) | Event::Apply(obj) => {
            let key = key_of(&obj);
            let id = label(&obj, LABEL_DATABASE_ID);
            seen.present(&key, id.clone());
            vec![event(key, id, true)]
        }
        Event::Delete(obj) => {
            let key = key_of(&obj);
            seen.live.remove(&key);
            vec![event(key, label(&obj, LABEL_DATABASE_ID), false)]
        }
        Event::InitDone => {
            let mut out: Vec<ClusterEvent> = seen
                .relist_done()
                .into_iter()
                .map(|(k, id)| event(k, id, false))
                .collect();
            out.push(ClusterEvent::ChildrenResynced { kind });
            out
        }
    }
}

fn label(obj: &DynamicObject, key: &str) -> Option<String> {
    obj.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .cloned()
}

/// Per-kind bookkeeping of the OpsRequest streams: the phase last reported per object, so
/// progress-only status updates (conditions of each step) are not reported again.
#[derive(Default)]
struct OpsSeen {
    phase: HashMap<Key, Option<String>>,
}

fn ops_events(engine: Engine, seen: &mut OpsSeen, ev: Event<DynamicObject>) -> Vec<ClusterEvent> {
    let (obj, always) = match ev {
        // a relist reports everything again: phases may have changed while disconnected
        Event::Init => {
            seen.phase.clear();
            return vec![];
        }
        Event::InitDone => return vec![],
        Event::Delete(obj) => {
            seen.phase.remove(&key_of(&obj));
            return vec![];
        }
        Event::InitApply(obj) => (obj, true),
        Event::Apply(obj) => (obj, false),
    };
    let key = key_of(&obj);
    let phase = obj.data["status"]["phase"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if !always && seen.phase.get(&key) == Some(&phase) {
        return vec![];
    }
    seen.phase.insert(key.clone(), phase.clone());
    vec![ClusterEvent::OpsRequest {
        engine,
        namespace: key.0,
        name: key.1,
        database_id: label(&obj, LABEL_DATABASE_ID),
        operation_id: label(&obj, LABEL_OPERATION_ID),
        phase,
    }]
}

fn service_events(ev: Event<DynamicObject>) -> Vec<ClusterEvent> {
    match ev {
        Event::Init => vec![],
        Event::InitApply(obj) | Event::Apply(obj) | Event::Delete(obj) => {
            let (namespace, name) = key_of(&obj);
            let instance = obj
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_INSTANCE))
                .cloned();
            vec![ClusterEvent::Service {
                namespace,
                name,
                instance,
            }]
        }
        Event::InitDone => vec![ClusterEvent::Resynced { engine: None }],
    }
}

fn database_stream(cluster: &Cluster, engine: Engine) -> BoxStream<'static, ClusterEvent> {
    let api: Api<DynamicObject> = Api::all_with(
        cluster.watch_client().clone(),
        &crate::cluster::database_resource(engine),
    );
    let config = watcher::Config::default().labels(&database_selector());
    let mut seen = Seen::default();
    watcher::watcher(api, config)
        .default_backoff()
        .filter_map(move |r| {
            let out = match r {
                Ok(ev) => database_events(engine, &mut seen, ev),
                Err(e) => {
                    tracing::warn!(engine = %engine, error = %e, "database watch failed; retrying");
                    vec![]
                }
            };
            futures::future::ready(Some(stream::iter(out)))
        })
        .flatten()
        .boxed()
}

/// The platform's OpsRequests of one engine. A cluster without that ops CRD only yields watch
/// errors, which are logged and retried with backoff like any other (the database streams
/// behave the same), so the other streams go on.
fn ops_stream(cluster: &Cluster, engine: Engine) -> BoxStream<'static, ClusterEvent> {
    let api: Api<DynamicObject> = Api::all_with(
        cluster.watch_client().clone(),
        &crate::cluster::ops_request_resource(engine),
    );
    let config = watcher::Config::default().labels(&database_selector());
    let mut seen = OpsSeen::default();
    watcher::watcher(api, config)
        .default_backoff()
        .filter_map(move |r| {
            let out = match r {
                Ok(ev) => ops_events(engine, &mut seen, ev),
                Err(e) => {
                    tracing::warn!(engine = %engine, error = %e, "OpsRequest watch failed; retrying");
                    vec![]
                }
            };
            futures::future::ready(Some(stream::iter(out)))
        })
        .flatten()
        .boxed()
}

fn service_stream(cluster: &Cluster) -> BoxStream<'static, ClusterEvent> {
    let ar = kube::api::ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "Service".into(),
        plural: "services".into(),
    };
    let api: Api<DynamicObject> = Api::all_with(cluster.watch_client().clone(), &ar);
    let config = watcher::Config::default().labels(&service_selector());
    watcher::watcher(api, config)
        .default_backoff()
        .filter_map(|r| {
            let out = match r {
                Ok(ev) => service_events(ev),
                Err(e) => {
                    tracing::warn!(error = %e, "service watch failed; retrying");
                    vec![]
                }
            };
            futures::future::ready(Some(stream::iter(out)))
        })
        .flatten()
        .boxed()
}

/// The platform's NetworkPolicies or Secrets (label-selected like the databases: Secrets of
/// others are never listed).
fn child_stream(cluster: &Cluster, kind: ChildKind) -> BoxStream<'static, ClusterEvent> {
    let api: Api<DynamicObject> = Api::all_with(cluster.watch_client().clone(), &kind.resource());
    let config = watcher::Config::default().labels(&database_selector());
    let mut seen = Seen::default();
    watcher::watcher(api, config)
        .default_backoff()
        .filter_map(move |r| {
            let out = match r {
                Ok(ev) => child_events(kind, &mut seen, ev),
                Err(e) => {
                    tracing::warn!(kind = ?kind, error = %e, "child watch failed; retrying");
                    vec![]
                }
            };
            futures::future::ready(Some(stream::iter(out)))
        })
        .flatten()
        .boxed()
}

/// One merged stream over the six database kinds and their OpsRequest kinds (both
/// `app.kubernetes.io/managed-by=kubedb-dbaas`) and KubeDB's Services, on kube-runtime's watcher (resume from the last resourceVersion,
/// default backoff), and the platform's NetworkPolicies and Secrets. Never ends; watch errors are
/// logged and retried. After every relist the stream itself reports databases that vanished
/// meanwhile as `DatabaseGone`, then `Resynced` (children: `Child` not present, then
/// `ChildrenResynced`).
pub fn watch_cluster(cluster: &Cluster) -> impl Stream<Item = ClusterEvent> + Send + 'static {
    let mut streams: Vec<BoxStream<'static, ClusterEvent>> = Engine::ALL
        .iter()
        .map(|e| database_stream(cluster, *e))
        .collect();
    streams.extend(Engine::ALL.iter().map(|e| ops_stream(cluster, *e)));
    streams.push(service_stream(cluster));
    streams.extend(ChildKind::ALL.iter().map(|k| child_stream(cluster, *k)));
    stream::select_all(streams)
}

/// What the backup watch sees of KubeStash's Snapshots.
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotEvent {
    /// A (re)list begins: what follows as `Listed` is everything there is.
    Relisting,
    Listed(crate::backup::ObservedSnapshot),
    /// The (re)list is complete.
    RelistDone,
    Changed(crate::backup::ObservedSnapshot),
    Gone(crate::backup::ObservedSnapshot),
}

/// Every Snapshot in the cluster (KubeStash makes them without the platform's labels; which
/// database one belongs to is told by its namespace and repository). Never ends; errors are
/// retried with backoff (a cluster without KubeStash just yields nothing).
pub fn watch_snapshots(cluster: &Cluster) -> impl Stream<Item = SnapshotEvent> + Send + 'static {
    let api: Api<DynamicObject> = Api::all_with(
        cluster.client().clone(),
        &crate::backup::snapshot_resource(),
    );
    watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .filter_map(|e| async move {
            use crate::backup::observe_snapshot;
            match e {
                Ok(Event::Init) => Some(SnapshotEvent::Relisting),
                Ok(Event::InitApply(o)) => Some(SnapshotEvent::Listed(observe_snapshot(&o))),
                Ok(Event::InitDone) => Some(SnapshotEvent::RelistDone),
                Ok(Event::Apply(o)) => Some(SnapshotEvent::Changed(observe_snapshot(&o))),
                Ok(Event::Delete(o)) => Some(SnapshotEvent::Gone(observe_snapshot(&o))),
                Err(e) => {
                    tracing::debug!(error = %e, "watching Snapshots");
                    None
                }
            }
        })
}

/// The database ids of BackupConfigurations, BackupSessions and RestoreSessions the platform made,
/// as they change: what wakes an operation parked on one.
pub fn watch_backup_sessions(cluster: &Cluster) -> impl Stream<Item = String> + Send + 'static {
    let selector = format!("{LABEL_MANAGED_BY}={LABEL_MANAGED_BY_VALUE}");
    let streams = [
        crate::backup::backup_configuration_resource(),
        crate::backup::backup_session_resource(),
        crate::backup::restore_session_resource(),
    ]
    .map(|ar| {
        let api: Api<DynamicObject> = Api::all_with(cluster.client().clone(), &ar);
        watcher::watcher(api, watcher::Config::default().labels(&selector))
            .default_backoff()
            .applied_objects()
            .filter_map(|o| async move { o.ok()?.metadata.labels?.get(LABEL_DATABASE_ID).cloned() })
            .boxed()
    });
    stream::select_all(streams)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn db(name: &str, id: &str) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "kubedb.com/v1", "kind": "Postgres",
            "metadata": { "name": name, "namespace": "ns", "labels": { LABEL_DATABASE_ID: id } },
            "spec": { "version": "17.9" },
        }))
        .expect("object")
    }

    #[test]
    fn relist_reports_what_vanished() {
        let mut seen = Seen::default();
        let e = Engine::Postgres;
        assert!(database_events(e, &mut seen, Event::Init).is_empty());
        database_events(e, &mut seen, Event::InitApply(db("a", "1")));
        database_events(e, &mut seen, Event::InitApply(db("b", "2")));
        let done = database_events(e, &mut seen, Event::InitDone);
        assert_eq!(done, vec![ClusterEvent::Resynced { engine: Some(e) }]);
        // disconnected; "a" deleted meanwhile; relist only has "b" and a new "c"
        database_events(e, &mut seen, Event::Init);
        database_events(e, &mut seen, Event::InitApply(db("b", "2")));
        database_events(e, &mut seen, Event::InitApply(db("c", "3")));
        let done = database_events(e, &mut seen, Event::InitDone);
        assert_eq!(
            done,
            vec![
                ClusterEvent::DatabaseGone {
                    engine: e,
                    namespace: "ns".into(),
                    name: "a".into(),
                    database_id: Some("1".into())
                },
                ClusterEvent::Resynced { engine: Some(e) },
            ]
        );
        let gone = database_events(e, &mut seen, Event::Delete(db("b", "2")));
        assert!(matches!(&gone[0], ClusterEvent::DatabaseGone { name, .. } if name == "b"));
        assert_eq!(seen.live.len(), 1);
    }

    fn op(name: &str, phase: Option<&str>) -> DynamicObject {
        let mut v = json!({
            "apiVersion": "ops.kubedb.com/v1alpha1", "kind": "PostgresOpsRequest",
            "metadata": { "name": name, "namespace": "ns",
                          "labels": { LABEL_DATABASE_ID: "db-1", LABEL_OPERATION_ID: name } },
            "spec": { "type": "Restart", "databaseRef": { "name": "pg" } },
        });
        if let Some(p) = phase {
            v["status"] = json!({ "phase": p });
        }
        serde_json::from_value(v).expect("object")
    }

    #[test]
    fn ops_requests_are_reported_once_per_phase() {
        let mut seen = OpsSeen::default();
        let e = Engine::Postgres;
        let phases = |evs: Vec<ClusterEvent>| -> Vec<Option<String>> {
            evs.into_iter()
                .map(|ev| match ev {
                    ClusterEvent::OpsRequest {
                        phase,
                        database_id,
                        operation_id,
                        ..
                    } => {
                        assert_eq!(database_id.as_deref(), Some("db-1"));
                        assert_eq!(operation_id.as_deref(), Some("op-a"));
                        phase
                    }
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        assert!(ops_events(e, &mut seen, Event::Init).is_empty());
        assert_eq!(
            phases(ops_events(e, &mut seen, Event::InitApply(op("op-a", None)))),
            vec![None]
        );
        assert!(ops_events(e, &mut seen, Event::InitDone).is_empty());
        assert!(ops_events(e, &mut seen, Event::Apply(op("op-a", None))).is_empty());
        assert_eq!(
            phases(ops_events(
                e,
                &mut seen,
                Event::Apply(op("op-a", Some("Progressing")))
            )),
            vec![Some("Progressing".into())]
        );
        assert!(ops_events(e, &mut seen, Event::Apply(op("op-a", Some("Progressing")))).is_empty());
        // a relist reports again
        ops_events(e, &mut seen, Event::Init);
        assert_eq!(
            phases(ops_events(
                e,
                &mut seen,
                Event::InitApply(op("op-a", Some("Progressing")))
            )),
            vec![Some("Progressing".into())]
        );
        assert!(ops_events(e, &mut seen, Event::Delete(op("op-a", None))).is_empty());
        assert!(seen.phase.is_empty());
    }

    #[test]
    fn children_relist_reports_what_vanished() {
        let mut seen = Seen::default();
        let k = ChildKind::NetworkPolicy;
        let np = |name: &str| db(name, "7");
        child_events(k, &mut seen, Event::Init);
        let ev = child_events(k, &mut seen, Event::InitApply(np("a")));
        assert!(
            matches!(&ev[0], ClusterEvent::Child { present: true, database_id: Some(id), .. } if id == "7")
        );
        child_events(k, &mut seen, Event::InitApply(np("b")));
        assert_eq!(
            child_events(k, &mut seen, Event::InitDone),
            vec![ClusterEvent::ChildrenResynced { kind: k }]
        );
        let ev = child_events(k, &mut seen, Event::Delete(np("a")));
        assert!(matches!(&ev[0], ClusterEvent::Child { present: false, name, .. } if name == "a"));
        // disconnected; "b" deleted meanwhile
        child_events(k, &mut seen, Event::Init);
        let ev = child_events(k, &mut seen, Event::InitDone);
        assert!(matches!(&ev[0], ClusterEvent::Child { present: false, name, .. } if name == "b"));
        assert_eq!(ev[1], ClusterEvent::ChildrenResynced { kind: k });
        assert!(seen.live.is_empty());
    }

    #[test]
    fn selectors() {
        assert_eq!(
            database_selector(),
            "app.kubernetes.io/managed-by=kubedb-dbaas"
        );
        assert!(service_selector().starts_with("app.kubernetes.io/name in (postgreses.kubedb.com,"));
    }
}
