//! Onboarding and health checks: what a cluster runs and what it offers.

use domain::engine::Engine;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde::Serialize;
use serde_json::Value;

use crate::connect::Cluster;
use crate::error::ProviderError;
use crate::kubedb::names::{CATALOG_GROUP, CATALOG_VERSION, DB_API_VERSION, DB_GROUP};
use crate::kubedb::quantity::parse_quantity;
use crate::translate::meta;

const GIB: f64 = 1073741824.0;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    /// e.g. "v1.31.0" from /version
    pub server_version: String,
    /// All six kubedb.com/v1 database CRDs present.
    pub kubedb_installed: bool,
    /// Best effort, from the catalog's Helm labels; None when they do not say.
    pub kubedb_version: Option<String>,
    /// Engines whose DB CRD *and* version CRD exist.
    pub engines: Vec<Engine>,
    /// `<plural>.<group>` of every missing database or catalog CRD.
    pub missing_crds: Vec<String>,
    /// Every *Version object of the six engines.
    pub catalog: Vec<CatalogEntry>,
    /// Sum of the nodes' allocatable.
    pub nodes: NodeCapacity,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogEntry {
    pub engine: Engine,
    /// Object name, e.g. "16.10" or "xpack-8.15.0" (what goes into spec.version).
    pub name: String,
    /// spec.version
    pub version: String,
    pub distribution: Option<String>,
    pub deprecated: bool,
    /// `spec.updateConstraints.allowlist`: Masterminds semver constraints a target version must
    /// match one of (empty = any). MySQL keeps one list per topology: this is its `standalone`
    /// list, [`CatalogEntry::update_allowlist_ha`] its `groupReplication` list.
    pub update_allowlist: Vec<String>,
    /// `spec.updateConstraints.denylist`: constraints no target version may match (MySQL:
    /// `standalone`).
    pub update_denylist: Vec<String>,
    /// MySQL only: `updateConstraints.allowlist.groupReplication`; None for other engines.
    pub update_allowlist_ha: Option<Vec<String>>,
    /// MySQL only: `updateConstraints.denylist.groupReplication`; None for other engines.
    pub update_denylist_ha: Option<Vec<String>>,
}

/// The strings of a constraint list (anything else in it is skipped).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// `(standalone-or-only list, groupReplication list)` of one `updateConstraints` list: a plain
/// array for most engines, `{standalone, groupReplication}` for MySQL.
fn constraint_list(v: &Value) -> (Vec<String>, Option<Vec<String>>) {
    match v {
        Value::Object(m) => (
            m.get("standalone").map(strings).unwrap_or_default(),
            Some(m.get("groupReplication").map(strings).unwrap_or_default()),
        ),
        other => (strings(other), None),
    }
}

/// The catalog entry of one `*Version` object.
pub fn catalog_entry(engine: Engine, obj: &DynamicObject) -> CatalogEntry {
    let spec = &obj.data["spec"];
    let name = obj.metadata.name.clone().unwrap_or_default();
    let (allow, allow_ha) = constraint_list(&spec["updateConstraints"]["allowlist"]);
    let (deny, deny_ha) = constraint_list(&spec["updateConstraints"]["denylist"]);
    let mysql = engine == Engine::Mysql;
    CatalogEntry {
        engine,
        version: spec["version"].as_str().unwrap_or(&name).to_string(),
        name,
        distribution: spec["distribution"].as_str().map(str::to_string),
        deprecated: spec["deprecated"] == true,
        update_allowlist: allow,
        update_denylist: deny,
        update_allowlist_ha: if mysql {
            Some(allow_ha.unwrap_or_default())
        } else {
            None
        },
        update_denylist_ha: if mysql {
            Some(deny_ha.unwrap_or_default())
        } else {
            None
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct NodeCapacity {
    pub nodes: u32,
    pub cpu_cores: f64,
    pub memory_gb: f64,
    pub ephemeral_storage_gb: f64,
}

impl ProbeReport {
    /// Onboarding's requirement: all six database CRDs.
    pub fn require_kubedb(&self) -> Result<(), ProviderError> {
        if self.kubedb_installed {
            return Ok(());
        }
        let db_missing: Vec<&str> = self
            .missing_crds
            .iter()
            .filter(|c| is_db_crd(c))
            .map(String::as_str)
            .collect();
        Err(ProviderError::Permanent(format!(
            "KubeDB is not installed: missing CRDs {}; install the KubeDB operator (helm chart kubedb/kubedb) and try again",
            db_missing.join(", ")
        )))
    }
}

/// `<plural>.kubedb.com`, not `<plural>.catalog.kubedb.com`.
fn is_db_crd(name: &str) -> bool {
    name.strip_suffix(DB_GROUP)
        .and_then(|p| p.strip_suffix('.'))
        .is_some_and(|plural| !plural.contains('.'))
}

/// Plurals a group/version serves; empty when the group is not there at all.
async fn served(cluster: &Cluster, group_version: &str) -> Result<Vec<String>, ProviderError> {
    match cluster
        .client()
        .list_api_group_resources(group_version)
        .await
    {
        Ok(list) => Ok(list.resources.into_iter().map(|r| r.name).collect()),
        Err(e) => match ProviderError::from(e) {
            ProviderError::NotFound(_) => Ok(vec![]),
            other => Err(other.context(&format!("discovering {group_version}"))),
        },
    }
}

fn catalog_ar(engine: Engine) -> ApiResource {
    let m = meta(engine);
    ApiResource {
        group: CATALOG_GROUP.into(),
        version: CATALOG_VERSION.into(),
        api_version: format!("{CATALOG_GROUP}/{CATALOG_VERSION}"),
        kind: m.version_kind.into(),
        plural: m.version_plural.into(),
    }
}

/// `kubedb-catalog-v2026.7.10` → `v2026.7.10`, or `app.kubernetes.io/version`.
fn version_from_labels(obj: &DynamicObject) -> Option<String> {
    let labels = obj.metadata.labels.as_ref()?;
    if let Some(v) = labels
        .get("app.kubernetes.io/version")
        .filter(|v| !v.is_empty())
    {
        return Some(v.clone());
    }
    labels
        .get("helm.sh/chart")
        .and_then(|c| c.strip_prefix("kubedb-catalog-"))
        .map(str::to_string)
}

impl Cluster {
    /// Connects, reads the version, CRDs, catalog and nodes. Err with a human reason when the
    /// cluster cannot be reached, refuses the credentials, or lacks KubeDB's database CRDs.
    pub async fn probe(&self) -> Result<ProbeReport, ProviderError> {
        let report = self.inspect().await?;
        report.require_kubedb()?;
        Ok(report)
    }

    /// Like [`Cluster::probe`] but reports a cluster without KubeDB instead of failing (for
    /// periodic health checks of an onboarded provider).
    pub async fn inspect(&self) -> Result<ProbeReport, ProviderError> {
        let version =
            self.client()
                .apiserver_version()
                .await
                .map_err(|e| match ProviderError::from(e) {
                    ProviderError::Transient(m) => {
                        ProviderError::Transient(format!("cannot reach {}: {m}", self.url()))
                    }
                    ProviderError::Permanent(m) if m.starts_with("TLS") => {
                        ProviderError::Permanent(format!("cannot reach {}: {m}", self.url()))
                    }
                    other => other,
                })?;
        let db_served = served(self, DB_API_VERSION).await?;
        let catalog_served = served(self, &format!("{CATALOG_GROUP}/{CATALOG_VERSION}")).await?;

        let mut missing = Vec::new();
        let mut engines = Vec::new();
        for engine in Engine::ALL {
            let m = meta(engine);
            let db_ok = db_served.iter().any(|p| p == m.plural);
            let cat_ok = catalog_served.iter().any(|p| p == m.version_plural);
            if !db_ok {
                missing.push(format!("{}.{DB_GROUP}", m.plural));
            }
            if !cat_ok {
                missing.push(format!("{}.{CATALOG_GROUP}", m.version_plural));
            }
            if db_ok && cat_ok {
                engines.push(engine);
            }
        }
        let kubedb_installed = !missing.iter().any(|c| is_db_crd(c));

        let mut catalog = Vec::new();
        let mut kubedb_version = None;
        for engine in &engines {
            let api: Api<DynamicObject> =
                Api::all_with(self.client().clone(), &catalog_ar(*engine));
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(|e| ProviderError::from(e).context("listing the KubeDB catalog"))?;
            for obj in list.items {
                if kubedb_version.is_none() {
                    kubedb_version = version_from_labels(&obj);
                }
                catalog.push(catalog_entry(*engine, &obj));
            }
        }

        let nodes: Api<Node> = Api::all(self.client().clone());
        let list = nodes
            .list(&ListParams::default())
            .await
            .map_err(|e| ProviderError::from(e).context("listing nodes"))?;
        let mut cap = NodeCapacity::default();
        for n in &list.items {
            cap.nodes += 1;
            let Some(alloc) = n.status.as_ref().and_then(|s| s.allocatable.as_ref()) else {
                continue;
            };
            let q = |k: &str| {
                alloc
                    .get(k)
                    .and_then(|v| parse_quantity(&v.0))
                    .unwrap_or(0.0)
            };
            cap.cpu_cores += q("cpu");
            cap.memory_gb += q("memory") / GIB;
            cap.ephemeral_storage_gb += q("ephemeral-storage") / GIB;
        }

        Ok(ProbeReport {
            server_version: version.git_version,
            kubedb_installed,
            kubedb_version,
            engines,
            missing_crds: missing,
            catalog,
            nodes: cap,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(missing: &[&str]) -> ProbeReport {
        ProbeReport {
            server_version: "v1.31.0".into(),
            kubedb_installed: !missing.iter().any(|c| is_db_crd(c)),
            kubedb_version: None,
            engines: vec![],
            missing_crds: missing.iter().map(|s| s.to_string()).collect(),
            catalog: vec![],
            nodes: NodeCapacity::default(),
        }
    }

    #[test]
    fn missing_database_crds_fail_onboarding_with_their_names() {
        let r = report(&["postgreses.kubedb.com", "redisversions.catalog.kubedb.com"]);
        let e = r.require_kubedb().expect_err("not installed");
        assert!(!e.is_transient());
        let msg = e.to_string();
        assert!(
            msg.starts_with("KubeDB is not installed: missing CRDs postgreses.kubedb.com"),
            "{msg}"
        );
        assert!(!msg.contains("redisversions"), "{msg}");
        // a missing catalog kind only drops that engine
        report(&["redisversions.catalog.kubedb.com"])
            .require_kubedb()
            .expect("installed");
    }

    #[test]
    fn update_constraints_are_read_per_engine() {
        let obj = |kind: &str, constraints: Value| -> DynamicObject {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "catalog.kubedb.com/v1alpha1", "kind": kind,
                "metadata": { "name": "8.4.8" },
                "spec": { "version": "8.4.8", "updateConstraints": constraints },
            }))
            .expect("object")
        };
        let my = catalog_entry(
            Engine::Mysql,
            &obj(
                "MySQLVersion",
                serde_json::json!({
                    "allowlist": { "groupReplication": [">= 8.4.8, <= 9.1.0"], "standalone": [">= 8.4.8"] },
                    "denylist": { "groupReplication": ["< 8.4.8"] },
                }),
            ),
        );
        assert_eq!(my.update_allowlist, vec![">= 8.4.8".to_string()]);
        assert!(my.update_denylist.is_empty());
        assert_eq!(
            my.update_allowlist_ha,
            Some(vec![">= 8.4.8, <= 9.1.0".to_string()])
        );
        assert_eq!(my.update_denylist_ha, Some(vec!["< 8.4.8".to_string()]));
        let pg = catalog_entry(
            Engine::Postgres,
            &obj(
                "PostgresVersion",
                serde_json::json!({ "allowlist": [">= 17.9"], "denylist": ["< 17.0", 3] }),
            ),
        );
        assert_eq!(pg.update_allowlist, vec![">= 17.9".to_string()]);
        assert_eq!(pg.update_denylist, vec!["< 17.0".to_string()]);
        assert_eq!(
            (pg.update_allowlist_ha, pg.update_denylist_ha),
            (None, None)
        );
        let bare = catalog_entry(Engine::Mysql, &obj("MySQLVersion", Value::Null));
        assert!(bare.update_allowlist.is_empty());
        assert_eq!(bare.update_allowlist_ha, Some(vec![]));
    }
}
