//! What the server serves: built-in kinds plus one entry per established CRD, with everything
//! discovery, routing, validation and table printing need.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use serde_json::{json, Value};

use super::schema::{Compiler, Schema};

#[derive(Debug, Clone)]
pub struct PrinterColumn {
    pub name: String,
    pub ty: String,
    pub json_path: String,
    pub priority: i64,
    pub description: String,
}

pub struct VersionInfo {
    pub name: String,
    /// Compiled on first use from the stored CRD: most served versions of the big upstream
    /// CRDs are never written to, and compiling them all would cost start-up time and memory.
    pub schema: OnceLock<Option<Schema>>,
    pub has_schema: bool,
    pub status_subresource: bool,
    pub printer_columns: Vec<PrinterColumn>,
}

pub struct ResourceInfo {
    pub group: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Served versions; the storage version first.
    pub versions: Vec<VersionInfo>,
    /// Built-ins have no CRD behind them.
    pub crd: bool,
    /// `metadata.name` of the CRD serving this resource (empty for built-ins).
    pub crd_name: String,
}

impl ResourceInfo {
    pub fn storage_version(&self) -> &str {
        self.versions
            .first()
            .map(|v| v.name.as_str())
            .unwrap_or("v1")
    }
    pub fn version(&self, name: &str) -> Option<&VersionInfo> {
        self.versions.iter().find(|v| v.name == name)
    }
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }
    pub fn has_status(&self, version: &str) -> bool {
        self.version(version).is_some_and(|v| v.status_subresource)
    }
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// (group, plural) → info.
#[derive(Default)]
pub struct Registry {
    resources: RwLock<BTreeMap<(String, String), Arc<ResourceInfo>>>,
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    status: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        group: "",
        version: "v1",
        plural: "namespaces",
        kind: "Namespace",
        namespaced: false,
        status: true,
        short: &["ns"],
        categories: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "secrets",
        kind: "Secret",
        namespaced: true,
        status: false,
        short: &[],
        categories: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "services",
        kind: "Service",
        namespaced: true,
        status: true,
        short: &["svc"],
        categories: &["all"],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "configmaps",
        kind: "ConfigMap",
        namespaced: true,
        status: false,
        short: &["cm"],
        categories: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "events",
        kind: "Event",
        namespaced: true,
        status: false,
        short: &["ev"],
        categories: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "pods",
        kind: "Pod",
        namespaced: true,
        status: true,
        short: &["po"],
        categories: &["all"],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "persistentvolumeclaims",
        kind: "PersistentVolumeClaim",
        namespaced: true,
        status: true,
        short: &["pvc"],
        categories: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "persistentvolumes",
        kind: "PersistentVolume",
        namespaced: false,
        status: true,
        short: &["pv"],
        categories: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "nodes",
        kind: "Node",
        namespaced: false,
        status: true,
        short: &["no"],
        categories: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "serviceaccounts",
        kind: "ServiceAccount",
        namespaced: true,
        status: false,
        short: &["sa"],
        categories: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "endpoints",
        kind: "Endpoints",
        namespaced: true,
        status: false,
        short: &["ep"],
        categories: &[],
    },
    Builtin {
        group: "apps",
        version: "v1",
        plural: "statefulsets",
        kind: "StatefulSet",
        namespaced: true,
        status: true,
        short: &["sts"],
        categories: &["all"],
    },
    Builtin {
        group: "apps",
        version: "v1",
        plural: "deployments",
        kind: "Deployment",
        namespaced: true,
        status: true,
        short: &["deploy"],
        categories: &["all"],
    },
    Builtin {
        group: "networking.k8s.io",
        version: "v1",
        plural: "networkpolicies",
        kind: "NetworkPolicy",
        namespaced: true,
        status: false,
        short: &["netpol"],
        categories: &[],
    },
    Builtin {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        kind: "Lease",
        namespaced: true,
        status: false,
        short: &[],
        categories: &[],
    },
    Builtin {
        group: "storage.k8s.io",
        version: "v1",
        plural: "storageclasses",
        kind: "StorageClass",
        namespaced: false,
        status: false,
        short: &["sc"],
        categories: &[],
    },
    Builtin {
        group: "appcatalog.appscode.com",
        version: "v1alpha1",
        plural: "appbindings",
        kind: "AppBinding",
        namespaced: true,
        status: false,
        short: &["app"],
        categories: &["catalog", "appscode", "all"],
    },
    Builtin {
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        kind: "CustomResourceDefinition",
        namespaced: false,
        status: true,
        short: &["crd", "crds"],
        categories: &["api-extensions"],
    },
];

fn singular_of(kind: &str) -> String {
    kind.to_lowercase()
}

impl Registry {
    pub fn with_builtins() -> Self {
        let r = Self::default();
        for b in BUILTINS {
            r.insert(ResourceInfo {
                group: b.group.into(),
                plural: b.plural.into(),
                singular: singular_of(b.kind),
                kind: b.kind.into(),
                namespaced: b.namespaced,
                short_names: b.short.iter().map(|s| s.to_string()).collect(),
                categories: b.categories.iter().map(|s| s.to_string()).collect(),
                versions: vec![VersionInfo {
                    name: b.version.into(),
                    schema: OnceLock::new(),
                    has_schema: false,
                    status_subresource: b.status,
                    printer_columns: Vec::new(),
                }],
                crd: false,
                crd_name: String::new(),
            });
        }
        r
    }

    pub fn insert(&self, info: ResourceInfo) {
        self.resources
            .write()
            .insert((info.group.clone(), info.plural.clone()), Arc::new(info));
    }

    pub fn remove(&self, group: &str, plural: &str) {
        self.resources
            .write()
            .remove(&(group.to_string(), plural.to_string()));
    }

    pub fn get(&self, group: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.resources
            .read()
            .get(&(group.to_string(), plural.to_string()))
            .cloned()
    }

    /// The resource serving `version` of `group` under `plural`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.get(group, plural)
            .filter(|r| r.version(version).is_some())
    }

    pub fn all(&self) -> Vec<Arc<ResourceInfo>> {
        self.resources.read().values().cloned().collect()
    }

    /// group → served versions (preferred first), in a stable order with the core group omitted.
    pub fn groups(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in self.resources.read().values() {
            if r.group.is_empty() {
                continue;
            }
            let entry = out.entry(r.group.clone()).or_default();
            for v in &r.versions {
                if !entry.contains(&v.name) {
                    entry.push(v.name.clone());
                }
            }
        }
        for versions in out.values_mut() {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out
    }
}

/// Kubernetes version ordering: GA > beta > alpha, then by number.
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        (3, major, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, major, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, major, n.parse().unwrap_or(0))
    } else {
        (0, major, 0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("spec.{0}: Required value")]
    Missing(&'static str),
    #[error("spec.versions: Invalid value: must have exactly one storage version")]
    StorageVersion,
}

/// (group, plural) of a CRD, with the structural checks that need no schema compilation.
pub fn crd_identity(crd: &Value) -> Result<(String, String), CrdError> {
    let spec = crd.get("spec").ok_or(CrdError::Missing("spec"))?;
    let s = |p: &str| spec.pointer(p).and_then(Value::as_str).map(String::from);
    let group = s("/group").ok_or(CrdError::Missing("group"))?;
    let plural = s("/names/plural").ok_or(CrdError::Missing("names.plural"))?;
    s("/names/kind").ok_or(CrdError::Missing("names.kind"))?;
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or(CrdError::Missing("versions"))?;
    if versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count()
        != 1
    {
        return Err(CrdError::StorageVersion);
    }
    Ok((group, plural))
}

/// Builds the serving info (with compiled schemas) for a CRD object.
pub fn resource_from_crd(crd: &Value) -> Result<ResourceInfo, CrdError> {
    let spec = crd.get("spec").ok_or(CrdError::Missing("spec"))?;
    let s = |p: &str| spec.pointer(p).and_then(Value::as_str).map(String::from);
    let group = s("/group").ok_or(CrdError::Missing("group"))?;
    let plural = s("/names/plural").ok_or(CrdError::Missing("names.plural"))?;
    let kind = s("/names/kind").ok_or(CrdError::Missing("names.kind"))?;
    let singular = s("/names/singular").unwrap_or_else(|| singular_of(&kind));
    let strs = |p: &str| -> Vec<String> {
        spec.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let versions_json = spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or(CrdError::Missing("versions"))?;
    let mut versions = Vec::new();
    let mut storage_count = 0;
    for v in versions_json {
        let Some(name) = v.get("name").and_then(Value::as_str) else {
            continue;
        };
        let storage = v.get("storage").and_then(Value::as_bool).unwrap_or(false);
        if storage {
            storage_count += 1;
        }
        if !v.get("served").and_then(Value::as_bool).unwrap_or(true) && !storage {
            continue;
        }
        let has_schema = v.pointer("/schema/openAPIV3Schema").is_some();
        let printer_columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .filter_map(|c| {
                        Some(PrinterColumn {
                            name: c.get("name")?.as_str()?.to_string(),
                            ty: c
                                .get("type")
                                .and_then(Value::as_str)
                                .unwrap_or("string")
                                .to_string(),
                            json_path: c.get("jsonPath")?.as_str()?.to_string(),
                            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                            description: c
                                .get("description")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let info = VersionInfo {
            name: name.to_string(),
            schema: OnceLock::new(),
            has_schema,
            status_subresource: v.pointer("/subresources/status").is_some(),
            printer_columns,
        };
        if storage {
            versions.insert(0, info);
        } else {
            versions.push(info);
        }
    }
    if storage_count != 1 {
        return Err(CrdError::StorageVersion);
    }
    Ok(ResourceInfo {
        group,
        plural,
        singular,
        kind,
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
        short_names: strs("/names/shortNames"),
        categories: strs("/names/categories"),
        versions,
        crd: true,
        crd_name: crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// Compiles the `openAPIV3Schema` of one version of a CRD.
pub fn compile_version_schema(crd: &Value, version: &str) -> Option<Schema> {
    let versions = crd.pointer("/spec/versions")?.as_array()?;
    let v = versions
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(version))?;
    let raw = v.pointer("/schema/openAPIV3Schema")?;
    Some(Compiler::default().compile(raw))
}

/// The status a CRD gets once its names are accepted and it is served.
pub fn crd_status(crd: &Value, now: &str) -> Value {
    let spec = crd.get("spec").cloned().unwrap_or(Value::Null);
    let stored: Vec<Value> = spec
        .get("versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let mut names = spec.get("names").cloned().unwrap_or(json!({}));
    if let Some(m) = names.as_object_mut() {
        if !m.contains_key("singular") {
            if let Some(k) = m.get("kind").and_then(Value::as_str) {
                m.insert("singular".into(), Value::String(k.to_lowercase()));
            }
        }
        if !m.contains_key("listKind") {
            if let Some(k) = m.get("kind").and_then(Value::as_str) {
                m.insert("listKind".into(), Value::String(format!("{k}List")));
            }
        }
    }
    json!({
        "acceptedNames": names,
        "storedVersions": stored,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now}
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_order() {
        let mut v = vec!["v1alpha2", "v1", "v2beta1", "v1beta1"];
        v.sort_by_key(|x| std::cmp::Reverse(version_priority(x)));
        assert_eq!(v, vec!["v1", "v2beta1", "v1beta1", "v1alpha2"]);
    }

    #[test]
    fn crd_to_resource() {
        let crd = json!({"spec": {"group": "kubedb.com", "scope": "Namespaced",
        "names": {"plural": "postgreses", "kind": "Postgres", "shortNames": ["pg"], "categories": ["datastore"]},
        "versions": [
            {"name": "v1alpha2", "served": true, "storage": false},
            {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
             "schema": {"openAPIV3Schema": {"type": "object"}}}
        ]}});
        let r = resource_from_crd(&crd).unwrap();
        assert_eq!(r.storage_version(), "v1");
        assert!(r.has_status("v1"));
        assert!(!r.has_status("v1alpha2"));
        assert_eq!(r.singular, "postgres");
        assert!(r.namespaced);
    }
}
