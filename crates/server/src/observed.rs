//! The watch cache: what the leader's status watchers last saw, per provider, of every KubeDB
//! object carrying the platform's labels and of the NetworkPolicies and Secrets the platform made.
//! The drift reconciler reads it instead of the cluster, so its Kubernetes traffic is the watches
//! alone, whatever the number of databases. Changes that matter to drift mark their database for
//! a prompt look.

use std::collections::{HashMap, HashSet};

use domain::engine::Engine;
use parking_lot::Mutex;
use provider::observe::ObservedDatabase;
use provider::watch::{ChildKind, ClusterEvent};
use tokio::sync::Notify;

/// A KubeDB object: its kind's engine, namespace and name.
pub type ObjectKey = (Engine, String, String);

/// What one provider's watcher has seen.
#[derive(Debug, Default)]
pub struct ProviderView {
    /// Every object as last seen, its conditions dropped (drift does not read them).
    pub objects: HashMap<ObjectKey, ObservedDatabase>,
    /// The database kinds whose list has completed since the watch (re)started.
    pub listed: HashSet<Engine>,
    pub network_policies: Children,
    pub secrets: Children,
}

impl ProviderView {
    /// Whether every database kind has been listed: only then is the view whole.
    pub fn complete(&self) -> bool {
        Engine::ALL.iter().all(|e| self.listed.contains(e))
    }

    fn children(&mut self, kind: ChildKind) -> &mut Children {
        match kind {
            ChildKind::NetworkPolicy => &mut self.network_policies,
            ChildKind::Secret => &mut self.secrets,
        }
    }
}

/// The platform's objects of one child kind.
#[derive(Debug, Default)]
pub struct Children {
    /// Listed since the watch (re)started: what is absent is really not there.
    pub listed: bool,
    /// (namespace, name) → the `dbaas.io/database-id` label.
    pub present: HashMap<(String, String), Option<String>>,
}

impl Children {
    /// Whether `namespace/name` exists labelled for `database_id`; `None` while not listed.
    pub fn has(&self, namespace: &str, name: &str, database_id: &str) -> Option<bool> {
        self.listed.then(|| {
            self.present
                .get(&(namespace.to_string(), name.to_string()))
                .is_some_and(|id| id.as_deref() == Some(database_id))
        })
    }
}

/// The fields a difference in which is drift (a phase or condition change is not).
fn drift_fields(o: &ObservedDatabase) -> impl PartialEq + '_ {
    (
        (o.replicas, o.size, o.storage_gb, &o.version),
        (
            o.halted,
            &o.deletion_policy,
            &o.auth_secret,
            o.being_deleted,
        ),
        &o.owner_labels,
    )
}

#[derive(Default)]
pub struct WatchCache {
    providers: Mutex<HashMap<String, ProviderView>>,
    dirty: Mutex<HashSet<String>>,
    wake: Notify,
}

impl WatchCache {
    /// A provider's watch (re)starts: it lists everything again, so forget what it saw.
    pub fn reset(&self, provider_id: &str) {
        self.providers
            .lock()
            .insert(provider_id.to_string(), ProviderView::default());
    }

    /// Records one watch event of a provider.
    pub fn apply(&self, provider_id: &str, event: &ClusterEvent) {
        let mut marked = None;
        {
            let mut providers = self.providers.lock();
            let view = providers.entry(provider_id.to_string()).or_default();
            match event {
                ClusterEvent::Database(o) => {
                    let key = (o.engine, o.namespace.clone(), o.name.clone());
                    let mut slim = o.clone();
                    slim.conditions = serde_json::Value::Null;
                    let changed = view
                        .objects
                        .get(&key)
                        .is_some_and(|old| drift_fields(old) != drift_fields(&slim));
                    if changed {
                        marked = o.database_id.clone();
                    }
                    view.objects.insert(key, slim);
                }
                ClusterEvent::DatabaseGone {
                    engine,
                    namespace,
                    name,
                    ..
                } => {
                    view.objects
                        .remove(&(*engine, namespace.clone(), name.clone()));
                }
                ClusterEvent::Resynced {
                    engine: Some(engine),
                } => {
                    view.listed.insert(*engine);
                }
                ClusterEvent::Child {
                    kind,
                    namespace,
                    name,
                    database_id,
                    present,
                } => {
                    let children = view.children(*kind);
                    let key = (namespace.clone(), name.clone());
                    if *present {
                        children.present.insert(key, database_id.clone());
                    } else {
                        children.present.remove(&key);
                    }
                    marked = database_id.clone();
                }
                ClusterEvent::ChildrenResynced { kind } => view.children(*kind).listed = true,
                ClusterEvent::Resynced { engine: None }
                | ClusterEvent::Service { .. }
                | ClusterEvent::OpsRequest { .. } => {}
            }
        }
        if let Some(id) = marked {
            self.dirty.lock().insert(id);
            self.wake.notify_one();
        }
    }

    /// The databases marked since the last call.
    pub fn take_dirty(&self) -> Vec<String> {
        self.dirty.lock().drain().collect()
    }

    /// Resolves once a database was marked (at once if one was marked since the last wait).
    pub async fn marked(&self) {
        self.wake.notified().await
    }

    /// Runs `f` over a provider's view (under the lock: keep it short and synchronous).
    pub fn with_view<R>(&self, provider_id: &str, f: impl FnOnce(&ProviderView) -> R) -> Option<R> {
        self.providers.lock().get(provider_id).map(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obs(replicas: i64, phase: &str) -> ObservedDatabase {
        ObservedDatabase {
            engine: Engine::Postgres,
            namespace: "ns".into(),
            name: "pg".into(),
            database_id: Some("db-1".into()),
            phase: Some(phase.into()),
            conditions: json!([{"type": "Ready"}]),
            replicas: Some(replicas),
            version: Some("16.10".into()),
            storage_gb: Some(10),
            size: None,
            auth_secret: None,
            auth_secret_external: false,
            owner_labels: Default::default(),
            deletion_policy: Some("Delete".into()),
            halted: false,
            being_deleted: false,
            resource_version: None,
        }
    }

    #[test]
    fn only_changes_that_matter_to_drift_mark_a_database() {
        let c = WatchCache::default();
        c.reset("p");
        c.apply("p", &ClusterEvent::Database(obs(3, "Provisioning")));
        assert!(
            c.take_dirty().is_empty(),
            "first sight is for the full pass"
        );
        c.apply("p", &ClusterEvent::Database(obs(3, "Ready")));
        assert!(c.take_dirty().is_empty(), "a phase change is not drift");
        c.apply("p", &ClusterEvent::Database(obs(5, "Ready")));
        assert_eq!(c.take_dirty(), vec!["db-1".to_string()]);
        let kept = c
            .with_view("p", |v| v.objects.values().next().unwrap().clone())
            .unwrap();
        assert_eq!(kept.replicas, Some(5));
        assert!(kept.conditions.is_null(), "conditions are not kept");
    }

    #[test]
    fn children_are_known_only_once_listed() {
        let c = WatchCache::default();
        let np = |present| ClusterEvent::Child {
            kind: ChildKind::NetworkPolicy,
            namespace: "ns".into(),
            name: "pg-dbaas-ingress".into(),
            database_id: Some("db-1".into()),
            present,
        };
        c.apply("p", &np(true));
        let has = |c: &WatchCache| {
            c.with_view("p", |v| {
                v.network_policies.has("ns", "pg-dbaas-ingress", "db-1")
            })
            .unwrap()
        };
        assert_eq!(has(&c), None);
        c.apply(
            "p",
            &ClusterEvent::ChildrenResynced {
                kind: ChildKind::NetworkPolicy,
            },
        );
        assert_eq!(has(&c), Some(true));
        assert_eq!(
            c.with_view("p", |v| v.network_policies.has(
                "ns",
                "pg-dbaas-ingress",
                "db-2"
            ))
            .unwrap(),
            Some(false),
            "another database's policy is not this one's"
        );
        c.apply("p", &np(false));
        assert_eq!(has(&c), Some(false));
        assert_eq!(c.take_dirty(), vec!["db-1".to_string()]);
        c.reset("p");
        assert_eq!(has(&c), None);
    }
}
