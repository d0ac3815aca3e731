//! In-process read access to the cluster's objects for the other half of the simulator
//! (admission webhooks, exporters). Objects come back as JSON in the requested apiVersion.

use std::sync::Arc;

use serde_json::Value;

use super::store::Store;

/// Cheap to clone; reads go straight to the live store.
#[derive(Clone)]
pub struct ClusterState {
    store: Arc<Store>,
}

/// Splits `"group/version"` (or `"v1"` for the core group) into (group, version).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

fn in_version(obj: &Value, api_version: &str) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        if m.get("apiVersion").and_then(Value::as_str) != Some(api_version) {
            m.insert("apiVersion".into(), Value::String(api_version.to_string()));
        }
    }
    v
}

impl ClusterState {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// One object; `namespace` is `None` for cluster-scoped kinds.
    pub fn get(
        &self,
        api_version: &str,
        kind_plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let (group, _) = split_api_version(api_version);
        let res = self.store.resource(group, kind_plural)?;
        res.get(namespace.unwrap_or(""), name)
            .map(|o| in_version(&o, api_version))
    }

    /// All objects of a kind, in one namespace when given, else across all namespaces.
    pub fn list(
        &self,
        api_version: &str,
        kind_plural: &str,
        namespace: Option<&str>,
    ) -> Vec<Value> {
        let (group, _) = split_api_version(api_version);
        match self.store.resource(group, kind_plural) {
            Some(res) => res
                .list(namespace)
                .0
                .iter()
                .map(|o| in_version(o, api_version))
                .collect(),
            None => Vec::new(),
        }
    }

    /// How many objects of a kind are stored.
    pub fn count(&self, api_version: &str, kind_plural: &str) -> usize {
        let (group, _) = split_api_version(api_version);
        self.store
            .resource(group, kind_plural)
            .map(|r| r.len())
            .unwrap_or(0)
    }
}
