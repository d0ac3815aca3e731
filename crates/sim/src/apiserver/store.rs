//! The object store: one `ResourceStore` per served resource (keyed by group + plural), objects kept
//! as `Arc<Value>` in a BTreeMap ordered by (namespace, name), a bounded history of recent events for
//! watch resume, and a broadcast channel per resource for live watchers. A single global counter
//! hands out resourceVersions, so every write in the cluster is totally ordered. Each resource also
//! indexes its objects by label, so a list by label selector costs what it returns, not what the
//! namespace holds.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, Notify};

/// How many recent events each resource keeps for watches that resume from a resourceVersion.
pub const DEFAULT_HISTORY: usize = 8192;
/// Live watchers that fall this far behind are cut (they resume from their last resourceVersion).
const BROADCAST_CAPACITY: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "ADDED")]
    Added,
    #[serde(rename = "MODIFIED")]
    Modified,
    #[serde(rename = "DELETED")]
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change to one object. `object` carries the object's new resourceVersion.
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub namespace: String,
    pub name: String,
    pub object: Arc<Value>,
    /// The watch-stream line for this event in the storage version, encoded once on first use.
    pub line: OnceLock<Bytes>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("already exists")]
    AlreadyExists,
    #[error("not found")]
    NotFound,
    #[error("the object has been modified; please apply your changes to the latest version and try again")]
    Conflict,
    #[error("too old resource version: {requested} ({oldest})")]
    Expired { requested: u64, oldest: u64 },
}

/// (namespace, name); cluster-scoped objects have an empty namespace.
pub type ObjKey = (String, String);

/// A watch's start: the backlog to replay, the live receiver, and the resourceVersion then.
pub type WatchStart = (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>, u64);

/// A stored object and its JSON encoding, made once on first need (lists reuse it).
#[derive(Clone)]
pub struct Entry {
    pub obj: Arc<Value>,
    json: Arc<OnceLock<Bytes>>,
}

impl Entry {
    fn new(obj: Arc<Value>) -> Self {
        Self {
            obj,
            json: Arc::new(OnceLock::new()),
        }
    }

    /// The object serialised as JSON (cached).
    pub fn json(&self) -> &Bytes {
        self.json
            .get_or_init(|| Bytes::from(serde_json::to_vec(&*self.obj).unwrap_or_default()))
    }
}

/// Label key → label value → the objects carrying that label, in (namespace, name) order. Only
/// string values are indexed (selectors treat anything else as an absent label).
#[derive(Default)]
struct LabelIndex(HashMap<String, HashMap<String, BTreeSet<Arc<ObjKey>>>>);

fn labels_of(obj: &Value) -> Option<&serde_json::Map<String, Value>> {
    obj.pointer("/metadata/labels").and_then(Value::as_object)
}

impl LabelIndex {
    fn add(&mut self, key: &ObjKey, obj: &Value) {
        let Some(labels) = labels_of(obj) else { return };
        let key = Arc::new(key.clone());
        for (k, v) in labels {
            if let Some(v) = v.as_str() {
                self.0
                    .entry(k.clone())
                    .or_default()
                    .entry(v.to_string())
                    .or_default()
                    .insert(key.clone());
            }
        }
    }

    fn remove(&mut self, key: &ObjKey, obj: &Value) {
        let Some(labels) = labels_of(obj) else { return };
        for (k, v) in labels {
            let Some(v) = v.as_str() else { continue };
            let Some(values) = self.0.get_mut(k.as_str()) else {
                continue;
            };
            if let Some(set) = values.get_mut(v) {
                set.remove(key);
                if set.is_empty() {
                    values.remove(v);
                }
            }
            if values.is_empty() {
                self.0.remove(k.as_str());
            }
        }
    }

    /// The objects carrying label `key` with one of `values` (every namespace).
    fn sets<'a>(&'a self, term: &LabelTerm<'_>) -> Vec<&'a BTreeSet<Arc<ObjKey>>> {
        let Some(values) = self.0.get(term.key) else {
            return Vec::new();
        };
        term.values.iter().filter_map(|v| values.get(*v)).collect()
    }
}

/// A label requirement a list can be narrowed by before its selectors are applied: the object
/// carries label `key` with one of `values` (`key=v`, `key==v`, `key in (v1,v2)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelTerm<'a> {
    pub key: &'a str,
    pub values: Vec<&'a str>,
}

#[derive(Default)]
struct Inner {
    objects: BTreeMap<ObjKey, Entry>,
    labels: LabelIndex,
    history: VecDeque<Arc<Event>>,
    /// Highest resourceVersion dropped from `history`; watches must start at or after it.
    compacted: u64,
}

/// Where a list starts: the namespace's first key, or just after a continue key.
fn lower_bound(namespace: Option<&str>, after: Option<&ObjKey>) -> Bound<ObjKey> {
    let ns_start = namespace.map(|ns| (ns.to_string(), String::new()));
    match (ns_start, after) {
        (None, None) => Bound::Unbounded,
        (Some(s), None) => Bound::Included(s),
        (None, Some(a)) => Bound::Excluded(a.clone()),
        (Some(s), Some(a)) if *a >= s => Bound::Excluded(a.clone()),
        (Some(s), Some(_)) => Bound::Included(s),
    }
}

pub struct ResourceStore {
    pub group: String,
    pub plural: String,
    inner: RwLock<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
    history_cap: usize,
    store: Arc<StoreShared>,
}

/// Where an object lives: (group, plural, namespace, name).
pub type ObjRef = (String, String, String, String);

/// uid → object, and owner uid → dependents, kept in step with every write so garbage
/// collection does not scan the whole store.
#[derive(Default)]
pub struct OwnerIndex {
    by_uid: HashMap<String, ObjRef>,
    dependents: HashMap<String, HashSet<ObjRef>>,
}

impl OwnerIndex {
    fn owner_uids(obj: &Value) -> Vec<String> {
        obj.pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .map(|refs| {
                refs.iter()
                    .filter_map(|r| r.get("uid").and_then(Value::as_str).map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn uid(obj: &Value) -> Option<&str> {
        obj.pointer("/metadata/uid").and_then(Value::as_str)
    }

    fn remove(&mut self, at: &ObjRef, obj: &Value) {
        if let Some(uid) = Self::uid(obj) {
            self.by_uid.remove(uid);
        }
        for owner in Self::owner_uids(obj) {
            if let Some(set) = self.dependents.get_mut(&owner) {
                set.remove(at);
                if set.is_empty() {
                    self.dependents.remove(&owner);
                }
            }
        }
    }

    fn add(&mut self, at: &ObjRef, obj: &Value) {
        if let Some(uid) = Self::uid(obj) {
            self.by_uid.insert(uid.to_string(), at.clone());
        }
        for owner in Self::owner_uids(obj) {
            self.dependents.entry(owner).or_default().insert(at.clone());
        }
    }

    pub fn exists(&self, uid: &str) -> bool {
        self.by_uid.contains_key(uid)
    }

    pub fn dependents_of(&self, uid: &str) -> Vec<ObjRef> {
        self.dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Parts shared by every resource: the resourceVersion counter, the change notification
/// (persistence listens to it) and the owner index.
pub struct StoreShared {
    rv: AtomicU64,
    pub changed: Notify,
    pub owners: parking_lot::Mutex<OwnerIndex>,
}

impl StoreShared {
    fn next_rv(&self) -> u64 {
        self.rv.fetch_add(1, Ordering::SeqCst) + 1
    }
}

pub fn rv_of(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

impl ResourceStore {
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.inner
            .read()
            .objects
            .get(&(namespace.to_string(), name.to_string()))
            .map(|e| e.obj.clone())
    }

    /// All objects (in one namespace when given), in (namespace, name) order, with the current
    /// global resourceVersion.
    pub fn list(&self, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let (entries, rv) = self.list_entries(namespace);
        (entries.into_iter().map(|e| e.obj).collect(), rv)
    }

    /// Like `list`, with each object's cached JSON encoding.
    pub fn list_entries(&self, namespace: Option<&str>) -> (Vec<Entry>, u64) {
        self.list_from(namespace, None, &[])
    }

    /// The objects (in one namespace when given) after the `after` key, in (namespace, name)
    /// order, with the current global resourceVersion. With `terms`, narrowed through the label
    /// index to the objects carrying the most selective term: a superset of those that satisfy
    /// every term, so callers still apply their selectors.
    pub fn list_from(
        &self,
        namespace: Option<&str>,
        after: Option<&ObjKey>,
        terms: &[LabelTerm<'_>],
    ) -> (Vec<Entry>, u64) {
        let inner = self.inner.read();
        let rv = self.store.rv.load(Ordering::SeqCst);
        let in_ns = |k: &ObjKey| namespace.is_none_or(|ns| k.0 == ns);
        let range = (lower_bound(namespace, after), Bound::Unbounded);
        let narrowest = terms
            .iter()
            .map(|t| inner.labels.sets(t))
            .min_by_key(|sets| sets.iter().map(|s| s.len()).sum::<usize>());
        let items = match narrowest {
            None => inner
                .objects
                .range::<ObjKey, _>(range)
                .take_while(|(k, _)| in_ns(k))
                .map(|(_, v)| v.clone())
                .collect(),
            Some(sets) => {
                let mut keys: Vec<&ObjKey> = Vec::new();
                for set in sets {
                    keys.extend(
                        set.range::<ObjKey, _>(range.clone())
                            .map(|k| &**k)
                            .take_while(|k| in_ns(k)),
                    );
                }
                if keys.len() > 1 {
                    keys.sort_unstable();
                    keys.dedup();
                }
                keys.into_iter()
                    .filter_map(|k| inner.objects.get(k).cloned())
                    .collect()
            }
        };
        (items, rv)
    }

    /// The global resourceVersion read while no write to this resource is in flight: every event
    /// of this resource at or below it has already been broadcast.
    pub fn rv_snapshot(&self) -> u64 {
        let _guard = self.inner.read();
        self.store.rv.load(Ordering::SeqCst)
    }

    pub fn len(&self) -> usize {
        self.inner.read().objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn record(&self, inner: &mut Inner, ev: Event) {
        let ev = Arc::new(ev);
        if inner.history.len() >= self.history_cap {
            if let Some(old) = inner.history.pop_front() {
                inner.compacted = old.rv;
            }
        }
        inner.history.push_back(ev.clone());
        // No receivers is fine.
        let _ = self.tx.send(ev);
        self.store.changed.notify_one();
    }

    /// Stores a new object, assigning its resourceVersion.
    pub fn create(
        &self,
        namespace: &str,
        name: &str,
        mut obj: Value,
    ) -> Result<Arc<Value>, StoreError> {
        let mut inner = self.inner.write();
        let key = (namespace.to_string(), name.to_string());
        if inner.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        let rv = self.store.next_rv();
        set_rv(&mut obj, rv);
        let obj = Arc::new(obj);
        self.store
            .owners
            .lock()
            .add(&self.obj_ref(namespace, name), &obj);
        inner.labels.add(&key, &obj);
        inner.objects.insert(key, Entry::new(obj.clone()));
        let ev = Event {
            rv,
            kind: EventType::Added,
            namespace: namespace.into(),
            name: name.into(),
            object: obj.clone(),
            line: OnceLock::new(),
        };
        self.record(&mut inner, ev);
        Ok(obj)
    }

    /// Replaces an object if its stored resourceVersion is still `expected_rv`.
    pub fn update(
        &self,
        namespace: &str,
        name: &str,
        expected_rv: u64,
        mut obj: Value,
    ) -> Result<Arc<Value>, StoreError> {
        let mut inner = self.inner.write();
        let key = (namespace.to_string(), name.to_string());
        let current = &inner.objects.get(&key).ok_or(StoreError::NotFound)?.obj;
        if rv_of(current) != expected_rv {
            return Err(StoreError::Conflict);
        }
        let rv = self.store.next_rv();
        set_rv(&mut obj, rv);
        let obj = Arc::new(obj);
        {
            let at = self.obj_ref(namespace, name);
            let mut owners = self.store.owners.lock();
            if let Some(old) = inner.objects.get(&key) {
                owners.remove(&at, &old.obj);
            }
            owners.add(&at, &obj);
        }
        if let Some(old) = inner.objects.get(&key).map(|e| e.obj.clone()) {
            if labels_of(&old) != labels_of(&obj) {
                inner.labels.remove(&key, &old);
                inner.labels.add(&key, &obj);
            }
        }
        inner.objects.insert(key, Entry::new(obj.clone()));
        let ev = Event {
            rv,
            kind: EventType::Modified,
            namespace: namespace.into(),
            name: name.into(),
            object: obj.clone(),
            line: OnceLock::new(),
        };
        self.record(&mut inner, ev);
        Ok(obj)
    }

    /// Removes an object (if its resourceVersion is still `expected_rv`, when given). The returned
    /// object carries the resourceVersion of the deletion.
    pub fn delete(
        &self,
        namespace: &str,
        name: &str,
        expected_rv: Option<u64>,
    ) -> Result<Arc<Value>, StoreError> {
        let mut inner = self.inner.write();
        let key = (namespace.to_string(), name.to_string());
        let current = &inner.objects.get(&key).ok_or(StoreError::NotFound)?.obj;
        if let Some(expected) = expected_rv {
            if rv_of(current) != expected {
                return Err(StoreError::Conflict);
            }
        }
        let mut obj = inner
            .objects
            .remove(&key)
            .map(|e| (*e.obj).clone())
            .unwrap_or(Value::Null);
        inner.labels.remove(&key, &obj);
        self.store
            .owners
            .lock()
            .remove(&self.obj_ref(namespace, name), &obj);
        let rv = self.store.next_rv();
        set_rv(&mut obj, rv);
        let obj = Arc::new(obj);
        let ev = Event {
            rv,
            kind: EventType::Deleted,
            namespace: namespace.into(),
            name: name.into(),
            object: obj.clone(),
            line: OnceLock::new(),
        };
        self.record(&mut inner, ev);
        Ok(obj)
    }

    /// Starts a watch. With `from = None` the caller gets the current objects as synthetic ADDED
    /// events first; with `Some(rv)` every retained event after `rv`, or `Expired` when the history
    /// no longer reaches back that far. Subscribing happens under the lock, so nothing is missed.
    pub fn watch(&self, from: Option<u64>) -> Result<WatchStart, StoreError> {
        let inner = self.inner.read();
        let rx = self.tx.subscribe();
        let now = self.store.rv.load(Ordering::SeqCst);
        let backlog = match from {
            None => inner
                .objects
                .iter()
                .map(|((ns, name), entry)| {
                    let obj = &entry.obj;
                    Arc::new(Event {
                        rv: rv_of(obj),
                        kind: EventType::Added,
                        namespace: ns.clone(),
                        name: name.clone(),
                        object: obj.clone(),
                        line: OnceLock::new(),
                    })
                })
                .collect(),
            Some(rv) => {
                if rv < inner.compacted {
                    return Err(StoreError::Expired {
                        requested: rv,
                        oldest: inner.compacted,
                    });
                }
                let start = inner.history.partition_point(|e| e.rv <= rv);
                inner.history.iter().skip(start).cloned().collect()
            }
        };
        Ok((backlog, rx, now))
    }

    /// Inserts an object as loaded from a state file, keeping its resourceVersion.
    pub fn restore(&self, namespace: &str, name: &str, obj: Value) {
        self.store
            .owners
            .lock()
            .add(&self.obj_ref(namespace, name), &obj);
        let key = (namespace.to_string(), name.to_string());
        let mut inner = self.inner.write();
        if let Some(old) = inner.objects.get(&key).map(|e| e.obj.clone()) {
            inner.labels.remove(&key, &old);
        }
        inner.labels.add(&key, &obj);
        inner.objects.insert(key, Entry::new(Arc::new(obj)));
    }

    fn obj_ref(&self, namespace: &str, name: &str) -> ObjRef {
        (
            self.group.clone(),
            self.plural.clone(),
            namespace.to_string(),
            name.to_string(),
        )
    }
}

/// All resource stores.
pub struct Store {
    shared: Arc<StoreShared>,
    resources: RwLock<HashMap<(String, String), Arc<ResourceStore>>>,
    history_cap: usize,
}

impl Default for Store {
    fn default() -> Self {
        Self::new(DEFAULT_HISTORY)
    }
}

impl Store {
    pub fn new(history_cap: usize) -> Self {
        Self {
            shared: Arc::new(StoreShared {
                rv: AtomicU64::new(1),
                changed: Notify::new(),
                owners: Default::default(),
            }),
            resources: RwLock::new(HashMap::new()),
            history_cap: history_cap.max(1),
        }
    }

    pub fn shared(&self) -> &Arc<StoreShared> {
        &self.shared
    }

    pub fn current_rv(&self) -> u64 {
        self.shared.rv.load(Ordering::SeqCst)
    }

    /// Raises the counter to at least `rv` (after loading a state file).
    pub fn bump_rv(&self, rv: u64) {
        self.shared.rv.fetch_max(rv, Ordering::SeqCst);
    }

    pub fn resource(&self, group: &str, plural: &str) -> Option<Arc<ResourceStore>> {
        self.resources
            .read()
            .get(&(group.to_string(), plural.to_string()))
            .cloned()
    }

    /// The store for a resource, created empty on first use.
    pub fn ensure(&self, group: &str, plural: &str) -> Arc<ResourceStore> {
        if let Some(r) = self.resource(group, plural) {
            return r;
        }
        let mut map = self.resources.write();
        map.entry((group.to_string(), plural.to_string()))
            .or_insert_with(|| {
                let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
                Arc::new(ResourceStore {
                    group: group.to_string(),
                    plural: plural.to_string(),
                    inner: RwLock::new(Inner::default()),
                    tx,
                    history_cap: self.history_cap,
                    store: self.shared.clone(),
                })
            })
            .clone()
    }

    pub fn all(&self) -> Vec<Arc<ResourceStore>> {
        self.resources.read().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}})
    }

    #[test]
    fn create_update_delete_and_watch_history() {
        let store = Store::new(3);
        let r = store.ensure("", "configmaps");
        let a = r.create("default", "a", obj("a")).unwrap();
        assert_eq!(
            r.create("default", "a", obj("a")).unwrap_err(),
            StoreError::AlreadyExists
        );
        let rv_a = rv_of(&a);
        assert_eq!(
            r.update("default", "a", rv_a + 100, obj("a")).unwrap_err(),
            StoreError::Conflict
        );
        let a2 = r.update("default", "a", rv_a, obj("a")).unwrap();
        assert!(rv_of(&a2) > rv_a);
        let (backlog, _, _) = r.watch(Some(rv_a)).unwrap();
        assert_eq!(backlog.len(), 1);
        assert_eq!(backlog[0].kind, EventType::Modified);
        for n in ["b", "c", "d"] {
            r.create("default", n, obj(n)).unwrap();
        }
        assert!(matches!(
            r.watch(Some(rv_a)),
            Err(StoreError::Expired { .. })
        ));
        let d = r.delete("default", "a", None).unwrap();
        assert!(rv_of(&d) > rv_of(&a2));
        assert_eq!(r.list(Some("default")).0.len(), 3);
        assert_eq!(r.list(Some("other")).0.len(), 0);
    }

    fn labelled(ns: &str, name: &str, labels: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": ns, "labels": labels}})
    }

    fn names(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| {
                format!(
                    "{}/{}",
                    e.obj["metadata"]["namespace"].as_str().unwrap_or(""),
                    e.obj["metadata"]["name"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    #[test]
    fn label_index_follows_writes() {
        let store = Store::default();
        let r = store.ensure("", "configmaps");
        r.create(
            "a",
            "x",
            labelled("a", "x", json!({"app": "db", "tier": "1"})),
        )
        .unwrap();
        r.create("a", "y", labelled("a", "y", json!({"app": "web"})))
            .unwrap();
        r.create("b", "x", labelled("b", "x", json!({"app": "db", "n": 7})))
            .unwrap();
        r.create("b", "z", labelled("b", "z", json!({}))).unwrap();
        let term = |k: &'static str, vs: &[&'static str]| LabelTerm {
            key: k,
            values: vs.to_vec(),
        };
        let list = |ns: Option<&str>, after: Option<&ObjKey>, terms: &[LabelTerm<'_>]| {
            names(&r.list_from(ns, after, terms).0)
        };
        assert_eq!(list(None, None, &[term("app", &["db"])]), ["a/x", "b/x"]);
        assert_eq!(list(Some("b"), None, &[term("app", &["db"])]), ["b/x"]);
        assert_eq!(
            list(None, None, &[term("app", &["web", "db"])]),
            ["a/x", "a/y", "b/x"]
        );
        // the narrowest term is used; the others are the caller's to check
        assert_eq!(
            list(None, None, &[term("app", &["db"]), term("tier", &["1"])]),
            ["a/x"]
        );
        assert!(list(None, None, &[term("app", &[])]).is_empty());
        // non-string values are not labels a selector can match
        assert!(list(None, None, &[term("n", &["7"])]).is_empty());
        // continue keys and namespaces bound the range
        let ax = ("a".to_string(), "x".to_string());
        assert_eq!(list(None, Some(&ax), &[term("app", &["db"])]), ["b/x"]);
        assert_eq!(list(Some("a"), Some(&ax), &[]), ["a/y"]);
        assert_eq!(list(Some("b"), Some(&ax), &[]), ["b/x", "b/z"]);
        assert!(list(Some("a"), Some(&("b".into(), String::new())), &[]).is_empty());
        assert_eq!(list(None, Some(&ax), &[]), ["a/y", "b/x", "b/z"]);
        // relabelled, unlabelled, deleted, restored
        let cur = r.get("a", "x").unwrap();
        r.update(
            "a",
            "x",
            rv_of(&cur),
            labelled("a", "x", json!({"app": "web"})),
        )
        .unwrap();
        assert_eq!(list(None, None, &[term("app", &["db"])]), ["b/x"]);
        assert_eq!(list(None, None, &[term("app", &["web"])]), ["a/x", "a/y"]);
        assert!(list(None, None, &[term("tier", &["1"])]).is_empty());
        let cur = r.get("a", "y").unwrap();
        r.update("a", "y", rv_of(&cur), labelled("a", "y", json!({})))
            .unwrap();
        assert_eq!(list(None, None, &[term("app", &["web"])]), ["a/x"]);
        r.delete("b", "x", None).unwrap();
        assert!(list(None, None, &[term("app", &["db"])]).is_empty());
        r.restore("b", "x", labelled("b", "x", json!({"app": "db"})));
        r.restore("b", "x", labelled("b", "x", json!({"app": "cache"})));
        assert!(list(None, None, &[term("app", &["db"])]).is_empty());
        assert_eq!(list(None, None, &[term("app", &["cache"])]), ["b/x"]);
        assert_eq!(r.inner.read().labels.0.get("tier"), None);
    }
}
